import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emulatorVoiceFor, startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { pcm16Samples, rmsLevel } from '@app/audio';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import { decodeMp3, joinAudioChunks, startsLikeMp3, type VoiceTestClient } from '@app/testing';
import { useElevenLabsStack } from './utils/elevenlabs-stack.js';
import { connectConfigured, startTestApp } from './utils/test-app.js';

const CANARY_KEY = 'xi-canary-tts-5d1e';
const VOICE_ID = 'JBFqnCBsd6RMkjVDRZzb';
const PROMPT = 'Tell me something about sound. Keep it short, please.';
const LONG_PROMPT = Array.from({ length: 12 }, (_, i) => `This is sentence number ${i + 1} of a long reply.`).join(' ');

type ErrorEvent = ServerEvent & { type: 'error' };

describe('ElevenLabs TTS against the emulator', () => {
  const stack = useElevenLabsStack(CANARY_KEY, { ELEVENLABS_VOICE_ID: VOICE_ID });
  /** Every event every client received in this suite, checked for secrets at the end. */
  const seen: ServerEvent[] = [];

  async function turn(configure: Record<string, unknown>, prompt: string, done: (e: ServerEvent) => boolean): Promise<{ client: VoiceTestClient; events: ServerEvent[] }> {
    const client = await connectConfigured(stack.testApp, configure);
    client.send({ type: 'text.prompt', text: prompt });
    const events = await client.until(done, { timeoutMs: 20_000 });
    seen.push(...client.events);
    return { client, events };
  }

  async function fliteSamples(text: string, sampleRate: number): Promise<number> {
    let bytes = 0;
    for await (const pcm of stack.flite.speak(text, { voice: emulatorVoiceFor(VOICE_ID), sampleRate, speed: 1 }, new AbortController().signal)) bytes += pcm.length;
    return bytes / 2;
  }

  it('GET /v1/voice/config shows ElevenLabs available, the default, with its formats', async () => {
    const body = (await (await fetch(`${stack.testApp.httpUrl}/v1/voice/config`)).json()) as {
      tts: { default_provider: string; providers: Array<{ id: string; available: boolean; output_formats: string[]; default_voice_id: string; default_model_id: string }> };
    };
    assert.equal(body.tts.default_provider, 'elevenlabs');
    const elevenlabs = body.tts.providers.find((p) => p.id === 'elevenlabs');
    assert.equal(elevenlabs?.available, true);
    assert.equal(elevenlabs?.default_voice_id, VOICE_ID);
    assert.equal(elevenlabs?.default_model_id, 'eleven_flash_v2_5');
    for (const format of ['pcm_24000', 'pcm_44100', 'ulaw_8000', 'mp3_44100_128', 'mp3_22050_32']) assert.ok(elevenlabs?.output_formats.includes(format), format);
  });

  it('streams pcm_24000 as audio.start/chunk/end with the speech stack.flite renders', async () => {
    const settings = { stability: 0.4, similarity_boost: 0.8, style: 0, use_speaker_boost: true, speed: 1 };
    const { events } = await turn({ tts: { output_format: 'pcm_24000', voice_settings: settings } }, PROMPT, (e) => e.type === 'assistant.audio.end' || failed(e));
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ['assistant.started', 'assistant.message', 'assistant.audio.start']);
    assert.equal(types.at(-1), 'assistant.audio.end');
    const start = events[2] as ServerEvent & { type: 'assistant.audio.start' };
    assert.equal(start.content_type, 'application/octet-stream');
    assert.equal(start.output_format, 'pcm_24000');

    const samples = pcm16Samples(joinAudioChunks(events));
    const expected = await fliteSamples(localReply(PROMPT), 24000);
    assert.ok(Math.abs(samples.length - expected) / expected < 0.02, `${samples.length} samples vs ${expected}`);
    assert.ok(rmsLevel(samples) > 0.02, 'audible');
    assert.ok(types.filter((t) => t === 'assistant.audio.chunk').length > 1, 'several chunks');

    const [request] = stack.emulator.requests;
    assert.equal(stack.emulator.requests.length, 1);
    assert.equal(request!.path, `/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps`);
    assert.deepEqual(request!.query, { output_format: 'pcm_24000' });
    assert.deepEqual(request!.body, { text: localReply(PROMPT), model_id: 'eleven_flash_v2_5', voice_settings: settings });
    assert.equal(request!.apiKey, CANARY_KEY);
  });

  it('delivers mp3_44100_128 as one assistant.audio blob of real MPEG audio', async () => {
    const { events } = await turn({ tts: { output_format: 'mp3_44100_128' } }, PROMPT, (e) => e.type === 'assistant.audio' || failed(e));
    assert.deepEqual(events.map((e) => e.type), ['assistant.started', 'assistant.message', 'assistant.audio']);
    const blob = events[2] as ServerEvent & { type: 'assistant.audio' };
    assert.equal(blob.content_type, 'audio/mpeg');
    assert.equal(blob.output_format, 'mp3_44100_128');
    const mp3 = Buffer.from(blob.audio, 'base64');
    assert.ok(startsLikeMp3(mp3));
    const decoded = await decodeMp3(mp3);
    const expected = await fliteSamples(localReply(PROMPT), 44100);
    assert.equal(decoded.sampleRate, 44100);
    assert.equal(decoded.errors, 0);
    assert.ok(Math.abs(decoded.samples - expected) / expected < 0.1, `${decoded.samples} samples vs ${expected}`);
    const seconds = expected / 44100;
    assert.ok(Math.abs(mp3.length - 16_000 * seconds) / (16_000 * seconds) < 0.15, `${mp3.length} bytes for ${seconds.toFixed(2)} s at 128 kbps`);
  });

  it('maps local voice and model ids to the ElevenLabs defaults', async () => {
    await turn({ tts: { voice_id: 'slt', model_id: 'flite', output_format: 'ulaw_8000' } }, 'hello', (e) => e.type === 'assistant.audio.end' || failed(e));
    const [request] = stack.emulator.requests;
    assert.equal(request!.path, `/v1/text-to-speech/${VOICE_ID}/stream/with-timestamps`);
    assert.equal((request!.body as { model_id: string }).model_id, 'eleven_flash_v2_5');
  });

  it('retries a 429 after its Retry-After and delivers the audio', async () => {
    Object.assign(stack.emulator.faults, { rateLimited: 1, retryAfterSeconds: 1 });
    const { events } = await turn({}, 'hello', (e) => e.type === 'assistant.audio.end' || failed(e));
    assert.equal(events.at(-1)!.type, 'assistant.audio.end');
    assert.ok(joinAudioChunks(events).length > 0);
    assert.deepEqual(stack.emulator.requests.map((r) => r.status), [429, 200]);
    const waited = stack.emulator.requests[1]!.receivedAt - stack.emulator.requests[0]!.receivedAt;
    assert.ok(waited >= 1000 && waited < 2000, `retried after ${Math.round(waited)} ms`);
  });

  it('gives up on 500s within the retry budget: reply text, then tts_failed', async () => {
    stack.emulator.faults.serverErrors = Infinity;
    const { events } = await turn({}, 'hello', failed);
    const types = events.map((e) => e.type);
    assert.deepEqual(types, ['assistant.started', 'assistant.message', 'assistant.audio.start', 'assistant.audio.end', 'error']);
    assert.equal((events[3] as { chunk_count: number }).chunk_count, 0);
    const error = events.at(-1) as ErrorEvent;
    assert.equal(error.code, 'tts_failed');
    assert.match(error.message, /ElevenLabs is unavailable \(HTTP 500\)/);
    assert.equal(stack.emulator.requests.length, 3, 'two retries');
    const spent = stack.emulator.requests[2]!.receivedAt - stack.emulator.requests[0]!.receivedAt;
    assert.ok(spent < 5000, `retries took ${Math.round(spent)} ms`);
  });

  it('does not retry a 401', async () => {
    stack.emulator.faults.rejectAuth = true;
    const { events } = await turn({ tts: { output_format: 'mp3_44100_128' } }, 'hello', failed);
    assert.deepEqual(events.map((e) => e.type), ['assistant.started', 'assistant.message', 'error']);
    const error = events.at(-1) as ErrorEvent;
    assert.equal(error.code, 'tts_failed');
    assert.match(error.message, /refused the server's API key \(invalid_api_key\)/);
    assert.equal(stack.emulator.requests.length, 1);
  });

  it('does not retry a quota error', async () => {
    stack.emulator.faults.quotaExceeded = true;
    const { events } = await turn({}, 'hello', failed);
    const error = events.at(-1) as ErrorEvent;
    assert.equal(error.code, 'tts_failed');
    assert.match(error.message, /quota is used up \(quota_exceeded\)/);
    assert.equal(stack.emulator.requests.length, 1);
  });

  it('aborts the upstream request when the client closes mid-stream', async () => {
    stack.emulator.faults.chunkDelayMs = 300;
    const client = await connectConfigured(stack.testApp);
    client.send({ type: 'text.prompt', text: LONG_PROMPT });
    await client.nextOf('assistant.audio.chunk', { timeoutMs: 20_000 });
    seen.push(...client.events);
    const closed = performance.now();
    await client.close();
    const [request] = stack.emulator.requests;
    assert.equal(await request!.settled, 'aborted');
    assert.ok(performance.now() - closed < 1000, 'upstream closed at once');
  });

  it('never shows the API key or the upstream URL in events or logs', async () => {
    stack.emulator.faults.serverErrors = 1;
    await turn({}, 'hello', (e) => e.type === 'assistant.audio.end' || failed(e));
    stack.emulator.faults.rejectAuth = true;
    await turn({}, 'hello', failed);
    const upstream = new URL(stack.emulator.baseUrl).host;
    const events = JSON.stringify(seen);
    assert.match(stack.output.text, /ElevenLabs TTS attempt 1 failed: HTTP 500 internal_error; retrying/, 'the capture sees the log lines');
    assert.match(stack.output.text, /ElevenLabs TTS failed after 1 attempt\(s\): HTTP 401 invalid_api_key/);
    for (const secret of [CANARY_KEY, upstream]) {
      assert.ok(!events.includes(secret), `an event shows ${secret}`);
      assert.ok(!stack.output.text.includes(secret), `a log line shows ${secret}`);
    }
    assert.ok(seen.some((e) => e.type === 'error'), 'failures were checked too');
  });
});

describe('ElevenLabs TTS against a stalled upstream', () => {
  it('times out each silent attempt, retries, then reports tts_failed', async () => {
    const emulator = await startElevenLabsEmulator({ faults: { stall: true } });
    const testApp = await startTestApp({ ELEVENLABS_API_KEY: 'k', ELEVENLABS_BASE_URL: emulator.baseUrl, ELEVENLABS_TTS_TIMEOUT_MS: '500' });
    try {
      const client = await connectConfigured(testApp);
      client.send({ type: 'text.prompt', text: 'hello' });
      const error = (await client.until(failed, { timeoutMs: 10_000 })).at(-1) as ErrorEvent;
      assert.equal(error.code, 'tts_failed');
      assert.match(error.message, /ElevenLabs sent no audio in time/);
      assert.equal(emulator.requests.length, 3);
      assert.deepEqual(await Promise.all(emulator.requests.map((r) => r.settled)), ['aborted', 'aborted', 'aborted']);
    } finally {
      await testApp.close();
      await emulator.close();
    }
  });
});

function failed(e: ServerEvent): boolean {
  return e.type === 'error';
}
