import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitSentences } from './sentences.js';

describe('splitSentences', () => {
  it('splits on sentence ends but keeps abbreviations and decimals whole', () => {
    assert.deepEqual(splitSentences('Hello there! Dr. Smith paid 3.5 dollars to Mr. J. Jones. Is that right?'), [
      'Hello there!',
      'Dr. Smith paid 3.5 dollars to Mr. J. Jones.',
      'Is that right?',
    ]);
  });

  it('drops pieces with nothing to say', () => {
    assert.deepEqual(splitSentences(' ... !! '), []);
  });

  it('cuts long sentences at clauses, then words, never losing text', () => {
    const long = Array.from({ length: 30 }, (_, i) => `clause number ${i}`).join(', ') + '.';
    const pieces = splitSentences(long);
    assert.ok(pieces.length > 1);
    assert.ok(pieces.every((p) => p.length <= 440));
    assert.equal(pieces.join(' '), long);
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    assert.equal(splitSentences(words).join(' '), words);
  });
});
