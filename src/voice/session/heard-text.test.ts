import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heardText, isEcho, isEchoSoFar, normalizePhrase, wordsBetween, type TextMark } from './heard-text.js';

// Two units as flite times them: 40 characters over 2000 ms, then 20 over 1000 ms.
const marks: TextMark[] = [
  { text: 'The quick brown fox jumps over the dog.', startMs: 0, endMs: 2000 },
  { text: 'It was a sunny day.', startMs: 2000, endMs: 3000 },
];

describe('heardText', () => {
  it('is empty before any audio played and the whole reply after it all played', () => {
    assert.equal(heardText(marks, 0), '');
    assert.equal(heardText(marks, 3000), 'The quick brown fox jumps over the dog. It was a sunny day.');
    assert.equal(heardText(marks, 99_999), 'The quick brown fox jumps over the dog. It was a sunny day.');
  });

  it('cuts inside a unit by characters, at a word boundary', () => {
    // 500 ms of 2000 = 9.75 of 39 characters: "The quick" ends at 9, the space after it.
    assert.equal(heardText(marks, 500), 'The quick');
    // 400 ms = 7.8 characters: "quick" not finished.
    assert.equal(heardText(marks, 400), 'The');
    assert.equal(heardText(marks, 50), '');
  });

  it('keeps whole earlier units and part of the one playing', () => {
    // 2500 ms: first unit whole, 500/1000 of "It was a sunny day." (19 chars) = 9 -> "It was a".
    assert.equal(heardText(marks, 2500), 'The quick brown fox jumps over the dog. It was a');
  });

  it('never returns more at an earlier time (monotone)', () => {
    let previous = '';
    for (let ms = 0; ms <= 3000; ms += 37) {
      const now = heardText(marks, ms);
      assert.ok(now.startsWith(previous), `${ms}: "${now}" extends "${previous}"`);
      previous = now;
    }
  });
});

describe('echo detection', () => {
  it('finds the words spoken in a window', () => {
    assert.deepEqual(wordsBetween(marks, 2100, 2600), ['it', 'was', 'a', 'sunny']);
    assert.deepEqual(wordsBetween(marks, 5000, 6000), []);
  });

  it('takes the assistant words with recogniser errors as echo, and other speech as the user', () => {
    const window = wordsBetween(marks, 0, 2000);
    assert.equal(isEcho('the quick brown fox', window), true);
    assert.equal(isEcho('a quack brown box jumps', window), true, 'close spellings and one foreign word');
    assert.equal(isEcho('stop please tell me the time', window), false);
    assert.equal(isEcho('', window), false);
    assert.equal(isEcho('yes', window), false, 'one foreign word is the user');
    assert.equal(isEcho('jumps', window), true);
  });

  it('judges a live partial on its latest words and waits while it has too few', () => {
    const window = wordsBetween(marks, 0, 3000);
    assert.equal(isEchoSoFar('best found', window), true, 'undecided: two words');
    // What PocketSphinx made of this echo: a bad start, then the assistant's words.
    assert.equal(isEchoSoFar('best found that a quick brown fox jumps over', window), true);
    assert.equal(isEchoSoFar('that is found in a headset', wordsBetween([{ text: 'Rome was founded in the eighth century.', startMs: 0, endMs: 2000 }], 0, 2000)), true);
    assert.equal(isEchoSoFar('the quick brown fox what time is it now', window), false, 'the user talking over it');
  });

  it('normalises case and punctuation', () => {
    assert.equal(normalizePhrase('  Uh-Huh!  '), 'uh huh');
    assert.equal(normalizePhrase("Okay, it's RIGHT."), "okay it's right");
  });
});
