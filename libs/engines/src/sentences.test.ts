import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SentenceStream, splitSentences } from './sentences.js';

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

describe('SentenceStream', () => {
  /** Feeds `text` in pieces of `size` characters; returns each unit with the text fed when it came out. */
  const stream = (text: string, size: number) => {
    const splitter = new SentenceStream();
    const out: Array<{ unit: string; fedChars: number }> = [];
    for (let at = 0; at < text.length; at += size) {
      for (const unit of splitter.push(text.slice(at, at + size))) out.push({ unit, fedChars: Math.min(text.length, at + size) });
    }
    for (const unit of splitter.end()) out.push({ unit, fedChars: text.length });
    return out;
  };

  it('gives the same sentences as splitSentences however the text is cut: decimals, prices, Dr., URLs, lists, newlines', () => {
    const text =
      'It costs $29.99 today. Dr. Smith will see you at 3.30 pm. Visit https://example.com/a.b?c=1 for more. ' +
      'Steps:\n1. Open the app.\n2. Tap "Start".\nThat is all! Is 2.5 more than 2.45?';
    for (const size of [1, 2, 3, 7, 13, 1000]) {
      assert.deepEqual(stream(text, size).map((u) => u.unit), splitSentences(text), `pieces of ${size}`);
    }
    assert.ok(splitSentences(text).includes('It costs $29.99 today.'));
    assert.ok(splitSentences(text).includes('Dr. Smith will see you at 3.30 pm.'));
  });

  it('holds a sentence until the next one starts, and releases the last at the end', () => {
    const splitter = new SentenceStream();
    assert.deepEqual(splitter.push('Hello there.'), []);
    assert.deepEqual(splitter.push(' It costs $29.'), ['Hello there.']);
    assert.deepEqual(splitter.push('99 now'), []);
    assert.deepEqual(splitter.end(), ['It costs $29.99 now']);
  });

  it('lets the first unit be a clause of a long sentence, only the first', () => {
    const text =
      'Well, thinking about your question for a moment longer, the honest answer is that it depends, and a second clause, and a third one follows here.';
    const units = stream(text, 4);
    assert.equal(units[0]!.unit, 'Well, thinking about your question for a moment longer,');
    assert.ok(units[0]!.fedChars < 80, `first unit after ${units[0]!.fedChars} chars`);
    assert.equal(units.map((u) => u.unit).join(' '), text);
    assert.equal(units.length, 2);
  });

  it('never holds more than a bounded run of text without a sentence end, and loses no words', () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const units = stream(words, 5);
    assert.ok(units.length > 3);
    assert.equal(units.map((u) => u.unit).join(' '), words);
    for (const { unit } of units) assert.ok(unit.length <= 440, `${unit.length} chars`);
  });
});
