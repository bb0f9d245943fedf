import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AudioAppendMessage, isPlainAudioAppend, validateClientMessage } from './client-messages.js';
import { MAX_AUDIO_BASE64_CHARS, MAX_PREVIOUS_TEXT_CHARS } from './limits.js';
import { checkContract } from './validation.js';

/** The verdict of the full class-validator path alone (what validateClientMessage did before the fast path). */
function slowVerdict(raw: unknown): string {
  try {
    const { problems } = checkContract(AudioAppendMessage, raw);
    return problems ? `invalid_message: audio.append: ${problems}` : 'ok';
  } catch (error) {
    // class-validator throws a TypeError on null (the gateway never passes one); both paths must agree on that too.
    return `undefined: ${(error as Error).message}`;
  }
}

function verdict(raw: unknown): string {
  try {
    validateClientMessage('audio.append', raw);
    return 'ok';
  } catch (error) {
    return `${(error as { code?: string }).code}: ${(error as Error).message}`;
  }
}

const near = (limit: number) => fc.integer({ min: Math.max(0, limit - 2), max: limit + 2 });
const audio = fc.oneof(
  fc.base64String({ minLength: 0, maxLength: 64 }),
  near(MAX_AUDIO_BASE64_CHARS).map((n) => 'A'.repeat(n)),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('', '\uFE0F', '\uFE0FA', '\uD83D\uDE00', '\uD83D\uDE00\uFE0F', ' ', 'A\uFE0F'),
  near(MAX_AUDIO_BASE64_CHARS).map((n) => '\uD83D\uDE00' + 'A'.repeat(n - 1)),
  fc.constantFrom(null, 0, 1, true, [], {}, ['AAAA']),
);
const sampleRate = fc.oneof(fc.constantFrom(8000, 16000, 22050, 24000, 44100, 48000), fc.constantFrom(16001, 0, -16000, 16000.5, '16000', null, NaN, [16000]), fc.integer());
const previousText = fc.oneof(
  fc.string({ maxLength: 20 }),
  near(MAX_PREVIOUS_TEXT_CHARS).map((n) => 'x'.repeat(n)),
  near(MAX_PREVIOUS_TEXT_CHARS).map((n) => '\uD83D\uDE00'.repeat(Math.ceil(n / 2))),
  fc.constantFrom(null, 1, '', [], {}),
);
const frame = fc.record(
  {
    type: fc.oneof(fc.constant('audio.append'), fc.constantFrom('audio.commit', 'Audio.append', 'audio.append ', null, 1)),
    audio,
    sample_rate: sampleRate,
    previous_text: previousText,
    extra: fc.constantFrom('sampleRate', 'previousText', 'data', 'constructor', '__proto__'),
  },
  { requiredKeys: [] },
).map(({ extra, ...rest }) => {
  // An unknown field (a near-miss spelling or a dangerous name), set as an own property as JSON.parse would.
  if (extra === undefined) return rest;
  return JSON.parse(JSON.stringify({ ...rest, [extra === '__proto__' ? 'x' : extra]: 1 }).replace('"x":1', '"__proto__":1')) as object;
});

describe('audio.append fast path', () => {
  it('accepts and rejects exactly what class-validator does, with the same error text', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 8, arbitrary: frame }, { weight: 1, arbitrary: fc.anything() }), (raw) => {
        assert.equal(verdict(raw), slowVerdict(raw));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees on undefined-valued fields, non-plain objects and non-objects', () => {
    class Frame {
      type = 'audio.append';
      audio = 'AAAA';
    }
    for (const raw of [
      { type: 'audio.append', audio: 'AAAA', sample_rate: undefined },
      { type: 'audio.append', audio: 'AAAA', previous_text: undefined },
      Object.assign(Object.create(null) as object, { type: 'audio.append', audio: 'AAAA' }),
      new Frame(),
      null,
      'audio.append',
      [{ type: 'audio.append', audio: 'AAAA' }],
    ]) {
      assert.equal(verdict(raw), slowVerdict(raw), JSON.stringify(raw));
    }
  });

  it('takes the fast path for ordinary frames (so the shortcut is actually used)', () => {
    const chunk = Buffer.alloc(3200).toString('base64');
    assert.equal(isPlainAudioAppend({ type: 'audio.append', audio: chunk }), true);
    assert.equal(isPlainAudioAppend({ type: 'audio.append', audio: chunk, sample_rate: 16000, previous_text: 'hello' }), true);
    assert.equal(isPlainAudioAppend({ type: 'audio.append', audio: 'A'.repeat(MAX_AUDIO_BASE64_CHARS) }), true);
    assert.equal(isPlainAudioAppend({ type: 'audio.append', audio: 'A'.repeat(MAX_AUDIO_BASE64_CHARS + 1) }), false);
    assert.equal(isPlainAudioAppend({ type: 'audio.append', audio: chunk, sampleRate: 16000 }), false);
    const message = validateClientMessage('audio.append', { type: 'audio.append', audio: chunk, sample_rate: 16000 });
    assert.equal(message.audio, chunk);
    assert.equal(message.sample_rate, 16000);
  });
});
