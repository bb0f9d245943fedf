/**
 * Decodes canonical (RFC 4648, padded, no whitespace) base64, or returns undefined.
 * Node's decoder silently skips bad characters and accepts non-zero padding bits, so a
 * corrupted chunk would become shifted noise instead of an error.
 *
 * Checked without a regex pass or a re-encoding of the whole input: each character the decoder
 * skips (outside the alphabet, whitespace, a misplaced `=`) leaves fewer bytes than the length and
 * padding promise, so a byte count check finds them; the URL-safe `-` and `_`, which Node's decoder
 * also takes, are looked for directly; and only the last quantum can hold padding bits, so only it is
 * re-encoded. A 100 ms 16 kHz chunk (4268 characters) costs 8 us instead of 38-45 us (the regex and
 * full round trip), measured with 20 000 calls on the 2-core machine; that is 0.15 s of CPU per second
 * at 500 sessions sending audio.append. `base64.test.ts` checks it against the regex definition.
 */
export function decodeBase64Strict(input: string): Buffer | undefined {
  const length = input.length;
  if (length % 4 !== 0) return undefined;
  if (length === 0) return Buffer.alloc(0);
  if (input.includes('-') || input.includes('_')) return undefined;
  const padding = input.charCodeAt(length - 1) !== EQUALS ? 0 : input.charCodeAt(length - 2) === EQUALS ? 2 : 1;
  const bytes = Buffer.from(input, 'base64');
  if (bytes.length !== (length / 4) * 3 - padding) return undefined;
  if (bytes.subarray(bytes.length - (3 - padding)).toString('base64') !== input.slice(length - 4)) return undefined;
  return bytes;
}

const EQUALS = 0x3d;
