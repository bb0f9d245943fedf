import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heardText } from '../voice/session/heard-text.js';
import { AlignedMarks, NdjsonLineSplitter, parseTimestampsLine, timestampedChunks, TimestampsFormatError, type CharacterAlignment } from './elevenlabs-timestamps.js';
import type { TextMark } from './tts-provider.js';

/** Alignment of `text` from `fromS`, each character lasting `perChar` seconds (or as `times` says). */
function aligned(text: string, fromS: number, perChar = 0.1): CharacterAlignment {
  const characters = [...text];
  return {
    characters,
    startSeconds: characters.map((_, i) => fromS + i * perChar),
    endSeconds: characters.map((_, i) => fromS + (i + 1) * perChar),
  };
}

function line(audio: Buffer, alignment?: CharacterAlignment | null): string {
  const wire = alignment
    ? { characters: alignment.characters, character_start_times_seconds: alignment.startSeconds, character_end_times_seconds: alignment.endSeconds }
    : alignment;
  return JSON.stringify({ audio_base64: audio.toString('base64'), alignment: wire, normalized_alignment: wire });
}

async function* pieces(...parts: Array<string | Buffer>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe('NdjsonLineSplitter', () => {
  it('joins lines cut across reads, drops \\r, and returns a last line without a newline at the end', () => {
    const splitter = new NdjsonLineSplitter(100);
    assert.deepEqual(splitter.push(Buffer.from('{"a"')), []);
    assert.deepEqual(splitter.push(Buffer.from(':1}\r\n{"b":2}\n{"c"')), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(splitter.push(Buffer.from(':3}')), []);
    assert.equal(splitter.end(), '{"c":3}');
    assert.equal(splitter.end(), undefined);
  });

  it('keeps a multi-byte character cut between reads whole', () => {
    const bytes = Buffer.from('{"t":"café"}\n');
    const splitter = new NdjsonLineSplitter();
    const cut = bytes.indexOf(0xa9); // second byte of "é"
    assert.deepEqual([...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut))], ['{"t":"café"}']);
  });

  it('refuses a line longer than its limit, however it arrives', () => {
    const splitter = new NdjsonLineSplitter(10);
    assert.deepEqual(splitter.push(Buffer.from('0123456789\n')), ['0123456789'], 'exactly the limit is fine');
    splitter.push(Buffer.from('01234'));
    assert.throws(() => splitter.push(Buffer.from('567890')), (error: unknown) => error instanceof TimestampsFormatError && /line 2 is longer than 10 bytes/.test(error.message));
  });
});

describe('parseTimestampsLine', () => {
  it('decodes audio and alignment; a null alignment or audio and a blank line are fine', () => {
    const chunk = parseTimestampsLine(line(Buffer.from([1, 2, 3, 4]), aligned('Hi', 0.5)), 1);
    assert.deepEqual(chunk?.audio, Buffer.from([1, 2, 3, 4]));
    assert.deepEqual(chunk?.alignment, { characters: ['H', 'i'], startSeconds: [0.5, 0.6], endSeconds: [0.6, 0.7] });
    assert.equal(parseTimestampsLine(line(Buffer.from([9]), null), 2)?.alignment, undefined);
    assert.equal(parseTimestampsLine('{"audio_base64":null,"alignment":null}', 3)?.audio.length, 0);
    assert.equal(parseTimestampsLine('  ', 4), undefined);
  });

  it('names what is wrong with a malformed line, never echoing it', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"audio_base64": "AAAA", secret', /^line 7 is not JSON$/],
      ['[1,2]', /line 7 is not a JSON object/],
      ['{"audio_base64":"not base64!"}', /audio_base64 that is not base64/],
      ['{"audio_base64":42}', /audio_base64 that is not base64/],
      ['{"audio_base64":"AAAA","alignment":{"characters":["a"]}}', /malformed alignment: .* must be arrays/],
      ['{"audio_base64":"AAAA","alignment":{"characters":["a","b"],"character_start_times_seconds":[0],"character_end_times_seconds":[0,1]}}', /differ in length/],
      ['{"audio_base64":"AAAA","alignment":{"characters":[1],"character_start_times_seconds":[0],"character_end_times_seconds":[1]}}', /a character is not a string/],
      ['{"audio_base64":"AAAA","alignment":{"characters":["a"],"character_start_times_seconds":[-1],"character_end_times_seconds":[1]}}', /not a finite number/],
      ['{"audio_base64":"AAAA","alignment":"x"}', /not an object/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseTimestampsLine(text, 7), (error: unknown) => error instanceof TimestampsFormatError && message.test(error.message) && !error.message.includes('secret'), text);
    }
  });

  it('timestampedChunks reads a body cut anywhere, and fails on its first malformed line', async () => {
    const body = `${line(Buffer.from('abcd'), aligned('ab', 0))}\n\n${line(Buffer.from('efgh'), aligned('cd', 0.2))}`;
    for (const cut of [1, 17, body.length - 3]) {
      const chunks = await collect(timestampedChunks(pieces(body.slice(0, cut), body.slice(cut))));
      assert.deepEqual(chunks.map((c) => c.audio.toString()), ['abcd', 'efgh'], `cut at ${cut}`);
    }
    await assert.rejects(collect(timestampedChunks(pieces(`${line(Buffer.from('abcd'))}\n`, 'oops\n'))), /line 2 is not JSON/);
    await assert.rejects(collect(timestampedChunks(pieces('x'.repeat(64)), 32)), /line 1 is longer than 32 bytes/);
  });
});

describe('AlignedMarks', () => {
  const collectMarks = () => {
    const marks: TextMark[] = [];
    return { marks, listener: (mark: TextMark) => marks.push(mark) };
  };

  it('marks each word at its aligned time plus the offset, once its audio has arrived', () => {
    const { marks, listener } = collectMarks();
    const text = 'Go on, please.';
    const aligner = new AlignedMarks(text, 1000, listener);
    aligner.add(aligned(text, 0), 0); // "Go" 0-200 ms, "on," 300-600, "please." 700-1400
    aligner.release(250);
    assert.deepEqual(marks, [{ text: 'Go', startMs: 1000, endMs: 1200 }]);
    aligner.release(650);
    assert.equal(marks.length, 2, '"please." is not complete yet: nothing follows it');
    aligner.finish(1500);
    assert.deepEqual(marks.slice(1), [
      { text: 'on,', startMs: 1300, endMs: 1600 },
      { text: 'please.', startMs: 1700, endMs: 2400 },
    ]);
  });

  it('joins a word split across lines and clamps marks to the audio that came', () => {
    const { marks, listener } = collectMarks();
    const aligner = new AlignedMarks('Hello world', 0, listener);
    aligner.add(aligned('Hello wo', 0), 0);
    aligner.add({ characters: ['r', 'l', 'd'], startSeconds: [0.8, 0.9, 1.0], endSeconds: [0.9, 1.0, 1.3] }, 800);
    aligner.finish(1200);
    assert.deepEqual(marks, [
      { text: 'Hello', startMs: 0, endMs: 500 },
      { text: 'world', startMs: 600, endMs: 1200 },
    ]);
  });

  it('places lines whose times restart at zero after the audio before them', () => {
    const { marks, listener } = collectMarks();
    const aligner = new AlignedMarks('one two', 0, listener);
    aligner.add(aligned('one ', 0), 0);
    aligner.add(aligned('two', 0), 1000);
    aligner.finish(2000);
    assert.deepEqual(marks.map((m) => [m.text, m.startMs, m.endMs]), [['one', 0, 300], ['two', 1000, 1300]]);
  });

  it('without alignment: one mark for the whole text over its audio, as before', () => {
    const { marks, listener } = collectMarks();
    const aligner = new AlignedMarks('A whole sentence.', 500, listener);
    aligner.release(900);
    assert.deepEqual(marks, []);
    aligner.finish(900);
    assert.deepEqual(marks, [{ text: 'A whole sentence.', startMs: 500, endMs: 1400 }]);
  });

  it('an alignment that is not the text (normalised, cut short) hands the rest to one mark: heard text stays a prefix', () => {
    const { marks, listener } = collectMarks();
    const text = 'It costs $5 today.';
    const aligner = new AlignedMarks(text, 0, listener);
    aligner.add(aligned('It costs five dollars today.', 0), 0);
    aligner.finish(3000);
    assert.deepEqual(marks, [
      { text: 'It', startMs: 0, endMs: 200 },
      { text: 'costs', startMs: 300, endMs: 800 },
      { text: '$5 today.', startMs: 800, endMs: 3000 },
    ]);
    assert.ok(text.startsWith(heardText(marks, 2000)));
  });

  it('heard text ends at the word the alignment says was reached, not where an even share of characters would', () => {
    const { marks, listener } = collectMarks();
    const text = 'Well, this sentence has a long pause.';
    // A slow "Well," with a pause (1.5 s), then 50 ms per character.
    const rest = aligned(text.slice(5), 1.5, 0.05);
    const alignment: CharacterAlignment = {
      characters: [...'Well,', ...rest.characters],
      startSeconds: [0, 0.3, 0.6, 0.9, 1.2, ...rest.startSeconds],
      endSeconds: [0.3, 0.6, 0.9, 1.2, 1.5, ...rest.endSeconds],
    };
    const aligner = new AlignedMarks(text, 0, listener);
    aligner.add(alignment, 0);
    const endMs = 1500 + rest.characters.length * 50;
    aligner.finish(endMs);
    assert.equal(heardText(marks, 1400), '');
    assert.equal(heardText(marks, 1500), 'Well,');
    assert.equal(heardText(marks, 1500 + 13 * 50), 'Well, this');
    assert.equal(heardText(marks, 1500 + 14 * 50), 'Well, this sentence');
    assert.equal(heardText(marks, endMs), text);
    // The old single mark would share the time evenly: at 1.5 s it is well into the sentence.
    assert.equal(heardText([{ text, startMs: 0, endMs }], 1500), 'Well, this');
  });
});
