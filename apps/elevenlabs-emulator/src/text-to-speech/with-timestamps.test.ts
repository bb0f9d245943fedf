import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ElevenLabsClient } from '@elevenlabs/elevenlabs-js';
import { startElevenLabsEmulator, type ElevenLabsEmulator } from '../index.js';
import { AlignmentTimeline, characterWeight, silentEdges, timedPieces, truncatePiece, type SpokenUnit } from './alignment.js';

const VOICE_ID = 'JBFqnCBsd6RMkjVDRZzb';
const TEXT = 'Well, hello there. This is the emulator, speaking with timestamps. It ends here.';

interface Line {
  audio_base64: string;
  alignment: { characters: string[]; character_start_times_seconds: number[]; character_end_times_seconds: number[] } | null;
  normalized_alignment: unknown;
}

describe('ElevenLabs emulator: POST /v1/text-to-speech/{voice_id}/stream/with-timestamps', () => {
  let emulator: ElevenLabsEmulator;

  before(async () => {
    emulator = await startElevenLabsEmulator();
  });
  beforeEach(() => emulator.reset());
  after(async () => {
    await emulator.close();
  });

  async function post(path: string, query: string, body: unknown): Promise<Response> {
    return fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/${path}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
      body: JSON.stringify(body),
    });
  }

  async function lines(response: Response): Promise<Line[]> {
    const text = await response.text();
    assert.ok(text.endsWith('\n'), 'every line ends with a newline');
    return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line);
  }

  it('the same audio as /stream, in several lines, with a timing for every character of the text', async () => {
    const plain = Buffer.from(await (await post('stream', '?output_format=pcm_16000', { text: TEXT })).arrayBuffer());
    const response = await post('stream/with-timestamps', '?output_format=pcm_16000', { text: TEXT });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const body = await lines(response);
    assert.ok(body.length > 3, `${body.length} lines`);
    const audio = Buffer.concat(body.map((l) => Buffer.from(l.audio_base64, 'base64')));
    assert.ok(audio.equals(plain), 'byte for byte the /stream audio');

    const chars = body.flatMap((l) => l.alignment?.characters ?? []);
    const starts = body.flatMap((l) => l.alignment?.character_start_times_seconds ?? []);
    const ends = body.flatMap((l) => l.alignment?.character_end_times_seconds ?? []);
    assert.equal(chars.join(''), TEXT);
    assert.deepEqual(body[0]!.normalized_alignment, body[0]!.alignment);
    const durationS = audio.length / 32000;
    for (let i = 0; i < chars.length; i++) {
      assert.ok(starts[i]! <= ends[i]! && ends[i]! <= durationS + 0.001, `character ${i} inside the audio`);
      if (i > 0) assert.ok(starts[i]! >= ends[i - 1]! - 0.001, `character ${i} after the one before`);
    }
    // Speech starts after flite's leading silence and the comma pauses: not an even share.
    assert.ok(starts[0]! > 0.02, `first character at ${starts[0]} s`);
    const comma = TEXT.indexOf(',');
    const letter = TEXT.indexOf('e');
    assert.ok(ends[comma]! - starts[comma]! > 2 * (ends[letter]! - starts[letter]!), 'a comma lasts longer than a letter');
    // Each line's characters start within that line's audio.
    let at = 0;
    for (const line of body) {
      const lineS = Buffer.from(line.audio_base64, 'base64').length / 32000;
      for (const start of line.alignment?.character_start_times_seconds ?? []) assert.ok(start >= at - 0.001 && start <= at + lineS + 0.001, `${start} s in line ${at}-${at + lineS} s`);
      at += lineS;
    }
  });

  it('mp3: one line per sentence of MPEG audio with its characters', async () => {
    const body = await lines(await post('stream/with-timestamps', '?output_format=mp3_22050_32', { text: TEXT }));
    assert.equal(body.length, 3);
    assert.equal(body.map((l) => l.alignment!.characters.join('')).join(''), TEXT);
    assert.equal(Buffer.from(body[0]!.audio_base64, 'base64')[0], 0xff, 'MPEG frame sync');
  });

  it('answers the same faults as /stream: 429, quota, a drop after N audio bytes, a stall', async () => {
    Object.assign(emulator.faults, { rateLimited: 1, retryAfterSeconds: 2 });
    const limited = await post('stream/with-timestamps', '', { text: 'Hi.' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.equal(((await limited.json()) as { detail: { status: string } }).detail.status, 'system_busy');

    emulator.faults.quotaExceeded = true;
    assert.equal((await post('stream/with-timestamps', '', { text: 'Hi.' })).status, 401);
    emulator.faults.quotaExceeded = false;

    emulator.faults.dropAfterBytes = 10_000;
    const dropped = await post('stream/with-timestamps', '?output_format=pcm_16000', { text: TEXT });
    const reader = dropped.body!.getReader();
    const parts: Buffer[] = [];
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parts.push(Buffer.from(value));
      }
    });
    const got = Buffer.concat(parts).toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
    assert.equal(got.reduce((n, l) => n + Buffer.from(l.audio_base64, 'base64').length, 0), 10_000, 'audio up to the cut');
    const lastStart = got.at(-1)!.alignment!.character_start_times_seconds.at(-1)!;
    assert.ok(lastStart < 10_000 / 32000, 'no character after the cut');
    emulator.faults.dropAfterBytes = 0;

    emulator.faults.stall = true;
    const stalled = await fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
      body: JSON.stringify({ text: 'Hi.' }),
      signal: AbortSignal.timeout(400),
    });
    assert.equal(stalled.status, 200);
    await assert.rejects(stalled.arrayBuffer(), /aborted|timeout/i);
  });

  it('serves the official SDK (textToSpeech.streamWithTimestamps)', async () => {
    const client = new ElevenLabsClient({ apiKey: 'sdk-key', baseUrl: emulator.baseUrl, maxRetries: 0 });
    const stream = await client.textToSpeech.streamWithTimestamps(VOICE_ID, { text: TEXT, outputFormat: 'pcm_16000' });
    let chars = '';
    let bytes = 0;
    for await (const chunk of stream) {
      chars += chunk.alignment?.characters?.join('') ?? '';
      bytes += Buffer.from(chunk.audioBase64 ?? '', 'base64').length;
    }
    assert.equal(chars, TEXT);
    assert.ok(bytes > 32000, `${bytes} bytes of audio`);
    assert.equal(emulator.requests[0]!.path, `/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps`);
  });
});

describe('emulator alignment', () => {
  it('weights: pauses at punctuation, vowels longer than consonants, spaces short', () => {
    assert.ok(characterWeight(',') > characterWeight('a'));
    assert.ok(characterWeight('a') > characterWeight('t'));
    assert.ok(characterWeight(' ') < characterWeight('t'));
  });

  it('silentEdges finds the quiet start and end of 16-bit audio', () => {
    const pcm = Buffer.alloc(200);
    for (let i = 30; i < 80; i++) pcm.writeInt16LE(i % 2 ? 5000 : -5000, i * 2);
    assert.deepEqual(silentEdges(pcm), { leadSamples: 30, trailSamples: 20 });
    assert.deepEqual(silentEdges(Buffer.alloc(100)), { leadSamples: 0, trailSamples: 0 });
  });

  it('places units found in the text by their letters; characters between units take no time', () => {
    const text = 'One two.  — Three!';
    const timeline = new AlignmentTimeline(text, 1000);
    const first = timeline.place({ text: 'One two.', audio: Buffer.alloc(0), samples: 1000, leadSamples: 100, trailSamples: 100 });
    assert.equal(first.map((c) => c.char).join(''), 'One two.');
    assert.equal(first[0]!.startMs, 100);
    assert.equal(Math.round(first.at(-1)!.endMs), 900);
    const second = timeline.place({ text: 'Three!', audio: Buffer.alloc(0), samples: 500, leadSamples: 0, trailSamples: 0 });
    assert.equal(second.map((c) => c.char).join(''), '  — Three!');
    assert.ok(second.slice(0, 4).every((c) => c.startMs === 1000 && c.endMs === 1000), 'the gap sits at the next unit start');
    assert.equal(Math.round(second.at(-1)!.endMs), 1500);
    assert.deepEqual(timeline.rest(), []);
  });

  it('timedPieces cuts raw audio into lines, each with the characters that start in it; truncatePiece keeps those before the cut', async () => {
    async function* units(): AsyncGenerator<SpokenUnit> {
      yield { text: 'A long sentence here.', audio: Buffer.alloc(32000), samples: 16000, leadSamples: 0, trailSamples: 0 };
    }
    const pieces = [];
    for await (const piece of timedPieces(units(), 'A long sentence here.', { codec: 'pcm', sampleRate: 16000, contentType: 'audio/pcm' })) pieces.push(piece);
    assert.equal(pieces.length, 2, 'two lines of 500 ms');
    assert.equal(pieces.map((p) => p.alignment.characters.join('')).join(''), 'A long sentence here.');
    assert.ok(pieces[1]!.alignment.character_start_times_seconds.every((s) => s >= 0.5));
    const cut = truncatePiece(pieces[0]!, 8000);
    assert.equal(cut.audio.length, 8000);
    assert.ok(cut.alignment.characters.length > 0 && cut.alignment.characters.length < pieces[0]!.alignment.characters.length);
  });
});
