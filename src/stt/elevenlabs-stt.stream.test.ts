import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapWordTimes } from './elevenlabs-stt.stream.js';

describe('mapWordTimes', () => {
  const word = (text: string, start: number, end: number, type = 'word') => ({ text, start, end, type, logprob: -0.1 });

  it('keeps words, drops spacing and audio events, and shifts by where the socket audio started', () => {
    const words = [word('hello', 0.2, 0.5), word(' ', 0.5, 0.6, 'spacing'), word('(laughs)', 0.6, 0.9, 'audio_event'), word('world', 0.6, 1.0)];
    assert.deepEqual(mapWordTimes(words, 12.5, []), [
      { text: 'hello', start: 12.7, end: 13 },
      { text: 'world', start: 13.1, end: 13.5 },
    ]);
  });

  it('takes out the keep-alive silence inserted before a word, and clamps inside one', () => {
    // 100 ms of keep-alive at 1.0 s and at 2.0 s of the socket's audio.
    const insertions = [
      { at: 1.0, secs: 0.1 },
      { at: 2.0, secs: 0.1 },
    ];
    assert.deepEqual(mapWordTimes([word('a', 0.5, 0.9), word('b', 1.2, 1.5), word('c', 2.3, 2.6)], 0, insertions), [
      { text: 'a', start: 0.5, end: 0.9 },
      { text: 'b', start: 1.1, end: 1.4 },
      { text: 'c', start: 2.1, end: 2.4 },
    ]);
    assert.deepEqual(mapWordTimes([word('d', 1.05, 1.3)], 0, insertions), [{ text: 'd', start: 1, end: 1.2 }]);
  });

  it('accepts words without a type (older shape) and drops malformed ones', () => {
    assert.deepEqual(mapWordTimes([{ text: 'ok', start: 1, end: 2 }, { text: 'bad', start: 2, end: 1 }, { text: '', start: 0, end: 1 }, null, { text: 'x', start: '1', end: 2 }], 0, []), [
      { text: 'ok', start: 1, end: 2 },
    ]);
  });

  it('gives nothing for a missing or null words field', () => {
    assert.equal(mapWordTimes(null, 0, []), undefined);
    assert.equal(mapWordTimes(undefined, 0, []), undefined);
  });
});
