const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes canonical (RFC 4648, padded, no whitespace) base64, or returns undefined.
 * Node's decoder silently skips bad characters and accepts non-zero padding bits, so a
 * corrupted chunk would become shifted noise instead of an error.
 */
export function decodeBase64Strict(input: string): Buffer | undefined {
  if (input.length % 4 !== 0 || !BASE64_PATTERN.test(input)) return undefined;
  const bytes = Buffer.from(input, 'base64');
  if (bytes.toString('base64') !== input) return undefined;
  return bytes;
}
