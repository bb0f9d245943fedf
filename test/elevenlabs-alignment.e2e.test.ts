import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import { joinAudioChunks, type VoiceTestClient } from '@app/testing';
import { heardText } from '../src/voice/session/heard-text.js';
import { useElevenLabsStack } from './utils/elevenlabs-stack.js';
import { connectConfigured, startTestApp } from './utils/test-app.js';

const KEY = 'xi-canary-align-41f0';
const VOICE_ID = 'JBFqnCBsd6RMkjVDRZzb';
/** Echoed by the local responder; its second sentence has commas, where the emulator pauses. */
const PROMPT =
  'Tell me about the old roads. Well, the builders, who were patient, laid stones carefully across the wide valley floor. ' +
  'Then, slowly, travellers came from distant towns to trade their goods.';
const REPLY = localReply(PROMPT);
const FORMAT = 'pcm_16000';
const BYTES_PER_MS = 32;

interface Word {
  text: string;
  endMs: number;
  unit: number;
  lastOfUnit: boolean;
}

interface Expected {
  words: Word[];
  /** Each request's text and its span on the reply's audio timeline (what a mark per request covered). */
  units: Array<{ text: string; startMs: number; endMs: number }>;
}

/**
 * Asks the emulator itself for the timings of each request text (flite is deterministic, so the same
 * audio and alignment as the turn got) and reads them here, independently of the service's parser:
 * words with the end time of their last character, placed after the audio of the requests before.
 */
async function emulatorWords(baseUrl: string, texts: string[]): Promise<Expected> {
  const out: Expected = { words: [], units: [] };
  let offsetMs = 0;
  for (const [unit, text] of texts.entries()) {
    const response = await fetch(`${baseUrl}/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps?output_format=${FORMAT}`, {
      method: 'POST',
      headers: { 'xi-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    assert.equal(response.status, 200);
    let bytes = 0;
    let current: Word | undefined;
    const words: Word[] = [];
    for (const line of (await response.text()).split('\n').filter(Boolean)) {
      const { audio_base64, alignment } = JSON.parse(line) as { audio_base64: string; alignment: { characters: string[]; character_end_times_seconds: number[] } };
      bytes += Buffer.from(audio_base64, 'base64').length;
      alignment.characters.forEach((char, i) => {
        if (/\s/.test(char)) current = undefined;
        else if (current) {
          current.text += char;
          current.endMs = offsetMs + alignment.character_end_times_seconds[i]! * 1000;
        } else words.push((current = { text: char, endMs: offsetMs + alignment.character_end_times_seconds[i]! * 1000, unit, lastOfUnit: false }));
      });
    }
    words.at(-1)!.lastOfUnit = true;
    out.words.push(...words);
    out.units.push({ text, startMs: offsetMs, endMs: offsetMs + bytes / BYTES_PER_MS });
    offsetMs += bytes / BYTES_PER_MS;
  }
  return out;
}

/**
 * A played_ms inside the second sentence (after a word that does not end it) where the alignment
 * and an even share of each request's characters disagree on the words heard (the one where they
 * disagree by most words), and those words.
 */
function discriminatingPoint(expected: Expected, sentence: string): { playedMs: number; heard: string; evenShare: string } {
  const marks = expected.units;
  const first = expected.words.findIndex((w) => w.text === sentence.split(' ')[0]);
  const count = (text: string) => text.split(' ').length;
  let best: { playedMs: number; heard: string; evenShare: string } | undefined;
  for (let i = first; i < expected.words.length - 1; i++) {
    const word = expected.words[i]!;
    if (!sentence.includes(word.text) || word.text.endsWith('.')) break;
    const playedMs = Math.ceil((word.endMs + expected.words[i + 1]!.endMs) / 2);
    if (playedMs >= expected.words[i + 1]!.endMs) continue;
    const heard = expected.words.slice(0, i + 1).map((w) => w.text).join(' ');
    const evenShare = heardText(marks, playedMs);
    if (evenShare !== heard && (!best || Math.abs(count(evenShare) - count(heard)) >= Math.abs(count(best.evenShare) - count(best.heard)))) best = { playedMs, heard, evenShare };
  }
  if (!best) throw new Error('no point in the sentence where the alignment and an even share disagree');
  return best;
}

const SECOND_SENTENCE = 'Well, the builders, who were patient, laid stones carefully across the wide valley floor.';

async function interruptAt(client: VoiceTestClient, playedMs: number): Promise<ServerEvent & { type: 'assistant.interrupted' }> {
  client.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: playedMs });
  client.send({ type: 'assistant.cancel' });
  return client.nextOf('assistant.interrupted', { timeoutMs: 10_000 });
}

describe('heard text from ElevenLabs character timings (emulator, with-timestamps)', () => {
  const stack = useElevenLabsStack(KEY, { ELEVENLABS_VOICE_ID: VOICE_ID });
  const ttsRequests = () => stack.emulator.requests.filter((r) => r.path.endsWith('/stream/with-timestamps'));

  it('a reply in one request: heard_text for a played_ms mid-sentence ends at the word the alignment reached', async () => {
    const client = await connectConfigured(stack.testApp, { tts: { output_format: FORMAT } });
    client.send({ type: 'text.prompt', text: PROMPT });
    await client.nextOf('assistant.audio.end', { timeoutMs: 30_000 });
    const texts = ttsRequests().map((r) => (r.body as { text: string }).text);
    assert.deepEqual(texts, [REPLY]);
    const expected = await emulatorWords(stack.emulator.baseUrl, texts);
    const point = discriminatingPoint(expected, SECOND_SENTENCE);
    const interrupted = await interruptAt(client, point.playedMs);
    assert.equal(interrupted.played_ms, point.playedMs);
    assert.equal(interrupted.heard_text, point.heard, `alignment says "${point.heard}"; an even share would say "${point.evenShare}"`);
    assert.ok(REPLY.startsWith(point.heard), 'a prefix of the reply');
    const lastWord = point.heard.split(' ').at(-1)!;
    assert.ok(SECOND_SENTENCE.includes(lastWord) && !lastWord.endsWith('.'), `cut inside the sentence, after "${lastWord}"`);
  });
});

describe('heard text from ElevenLabs character timings, one request per unit of a streamed reply', () => {
  const stack = useElevenLabsStack(KEY, { ELEVENLABS_VOICE_ID: VOICE_ID, LOCAL_RESPONDER_STREAM_MS_PER_WORD: '10' });
  const ttsRequests = () => stack.emulator.requests.filter((r) => r.path.endsWith('/stream/with-timestamps'));

  it('word marks of each unit are placed after the audio of the units before it', async () => {
    const client = await connectConfigured(stack.testApp, { tts: { output_format: FORMAT } });
    client.send({ type: 'text.prompt', text: PROMPT });
    await client.nextOf('assistant.audio.end', { timeoutMs: 30_000 });
    const texts = ttsRequests().map((r) => (r.body as { text: string }).text);
    assert.ok(texts.length >= 3, `${texts.length} requests`);
    assert.equal(texts.join(' '), REPLY);
    const expected = await emulatorWords(stack.emulator.baseUrl, texts);
    assert.equal(Math.round(expected.units.at(-1)!.endMs), Math.round(joinAudioChunks(client.events).length / BYTES_PER_MS), 'the same audio as the turn');
    const point = discriminatingPoint(expected, SECOND_SENTENCE);
    const interrupted = await interruptAt(client, point.playedMs);
    assert.equal(interrupted.heard_text, point.heard, `alignment says "${point.heard}"; an even share would say "${point.evenShare}"`);
  });
});

describe('ELEVENLABS_TTS_TIMESTAMPS', () => {
  const stack = useElevenLabsStack(KEY, { ELEVENLABS_VOICE_ID: VOICE_ID });

  it('false uses /stream; the client gets exactly the same audio chunks either way', async () => {
    const plain = await startTestApp({ ELEVENLABS_API_KEY: KEY, ELEVENLABS_BASE_URL: stack.emulator.baseUrl, ELEVENLABS_VOICE_ID: VOICE_ID, ELEVENLABS_TTS_TIMESTAMPS: 'false' });
    try {
      const chunks = async (app: typeof plain, format: string) => {
        const client = await connectConfigured(app, { tts: { output_format: format } });
        client.send({ type: 'text.prompt', text: PROMPT });
        const events = await client.until((e) => e.type === 'assistant.audio.end' || e.type === 'assistant.audio' || e.type === 'error', { timeoutMs: 30_000 });
        await client.close();
        return events.filter((e) => e.type === 'assistant.audio.chunk' || e.type === 'assistant.audio').map((e) => (e as { audio: string }).audio);
      };
      for (const format of ['pcm_24000', 'ulaw_8000', 'mp3_22050_32']) {
        stack.emulator.reset();
        const withTimestamps = await chunks(stack.testApp, format);
        const withoutTimestamps = await chunks(plain, format);
        assert.deepEqual(stack.emulator.requests.map((r) => r.path), [`/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps`, `/v1/text-to-speech/${VOICE_ID}/stream`]);
        assert.ok(withTimestamps.length > 0);
        assert.deepEqual(withTimestamps, withoutTimestamps, `${format}: same chunks, same bytes`);
      }
    } finally {
      await plain.close();
    }
  });

  it('is validated at boot', async () => {
    await assert.rejects(startTestApp({ ELEVENLABS_TTS_TIMESTAMPS: 'sometimes' }), /ELEVENLABS_TTS_TIMESTAMPS/);
  });
});

/** An upstream on loopback that answers with-timestamps with the given body lines. */
async function startUpstream(body: (res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => body(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a with-timestamps body the service cannot read', () => {
  it('a malformed line after some audio: that audio is delivered, then tts_failed naming the line, no retry', async () => {
    let requests = 0;
    const audio = Buffer.alloc(15_360, 1).toString('base64'); // three 160 ms chunks: none held back
    const upstream = await startUpstream((res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      const alignment = { characters: ['H', 'i'], character_start_times_seconds: [0, 0.2], character_end_times_seconds: [0.2, 0.4] };
      res.write(`${JSON.stringify({ audio_base64: audio, alignment, normalized_alignment: alignment })}\n`);
      res.end('{"audio_base64": "AAAA", "alignment": {oops\n');
    });
    const app = await startTestApp({ ELEVENLABS_API_KEY: KEY, ELEVENLABS_BASE_URL: upstream.url });
    try {
      const client = await connectConfigured(app, { stt: { provider: 'local' }, tts: { output_format: FORMAT } });
      client.send({ type: 'text.prompt', text: 'Say something.' });
      const events = await client.until((e) => e.type === 'error', { timeoutMs: 10_000 });
      const error = events.at(-1) as ServerEvent & { type: 'error' };
      assert.equal(error.code, 'tts_failed');
      assert.match(error.message, /ElevenLabs sent a response this server cannot read \(line 2 is not JSON\)/);
      assert.ok(!error.message.includes('oops'), 'the upstream body is not echoed');
      assert.equal(joinAudioChunks(events).length, 15_360, 'the audio before the bad line was delivered');
      assert.equal(requests, 1, 'not retried');
    } finally {
      await app.close();
      await upstream.close();
    }
  });
});
