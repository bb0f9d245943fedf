import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBase64Strict } from './base64.js';

/** The definition decodeBase64Strict implements faster: the RFC 4648 grammar, and a lossless round trip. */
const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function reference(input: string): Buffer | undefined {
  if (input.length % 4 !== 0 || !CANONICAL.test(input)) return undefined;
  const bytes = Buffer.from(input, 'base64');
  return bytes.toString('base64') === input ? bytes : undefined;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Characters that break canonical base64 in the ways clients get it wrong. */
const HOSTILE = ['=', '-', '_', ' ', '\n', '\t', '!', '.', '\u00e9', '\u0000'];

describe('decodeBase64Strict agrees with the canonical grammar', () => {
  it('on valid encodings of any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const encoded = Buffer.from(bytes).toString('base64');
        assert.deepEqual(decodeBase64Strict(encoded), Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('on encodings with characters changed, inserted or removed', () => {
    const mutated = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.nat(), fc.constantFrom(...HOSTILE, ...ALPHABET.split('')), fc.constantFrom('replace', 'insert', 'delete', 'append4'))
      .map(([bytes, at, ch, how]) => {
        const s = Buffer.from(bytes).toString('base64');
        const i = at % s.length;
        if (how === 'replace') return s.slice(0, i) + ch + s.slice(i + 1);
        if (how === 'insert') return s.slice(0, i) + ch + s.slice(i);
        if (how === 'delete') return s.slice(0, i) + s.slice(i + 1);
        return s + ch.repeat(4);
      });
    fc.assert(
      fc.property(mutated, (input) => {
        assert.deepEqual(decodeBase64Strict(input), reference(input), JSON.stringify(input));
      }),
      { numRuns: 5000 },
    );
  });

  it('on arbitrary strings over the alphabet and the hostile characters', () => {
    const chars = fc.constantFrom(...ALPHABET.split(''), ...HOSTILE);
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 16 }).map((a) => a.join('')), (input) => {
        assert.deepEqual(decodeBase64Strict(input), reference(input), JSON.stringify(input));
      }),
      { numRuns: 20000 },
    );
  });
});
