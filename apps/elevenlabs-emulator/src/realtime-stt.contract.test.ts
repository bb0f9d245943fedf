import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AudioFormat, CommitStrategy, ElevenLabsClient, RealtimeEvents, type RealtimeConnection } from '@elevenlabs/elevenlabs-js';
import { WebSocket } from 'ws';
import { FliteSynthesizer } from '@app/engines';
import { readSharedRecording, SHARED_RECORDINGS, silence, speechSpan, synthesizeSpeech, wordErrorRate } from '@app/testing';
import { REALTIME_PATH, startElevenLabsEmulator, type ElevenLabsEmulator } from './index.js';

const KEY = 'xi-contract-key';
const PROMPT = 'what is the weather like in paris today';
/** The shared recording PocketSphinx does best on, and the word error rate bound the voice-input suite measured for it. */
const RECORDING = 'librivox-austen-0870.wav';
const MAX_WER = 0.6;

type Message = { message_type: string } & Record<string, unknown>;

/** Collects an SDK connection's messages in arrival order. */
function record(connection: RealtimeConnection): { messages: Message[]; closed: Promise<void> } {
  const messages: Message[] = [];
  for (const event of [
    RealtimeEvents.SESSION_STARTED,
    RealtimeEvents.PARTIAL_TRANSCRIPT,
    RealtimeEvents.COMMITTED_TRANSCRIPT,
    RealtimeEvents.COMMITTED_TRANSCRIPT_WITH_TIMESTAMPS,
    RealtimeEvents.AUTH_ERROR,
    RealtimeEvents.QUOTA_EXCEEDED,
    RealtimeEvents.RATE_LIMITED,
    RealtimeEvents.INPUT_ERROR,
    RealtimeEvents.INVALID_REQUEST,
  ]) {
    connection.on(event, (message: unknown) => messages.push(message as Message));
  }
  // The SDK re-emits every error message as `error` too, which must have a listener.
  connection.on(RealtimeEvents.ERROR, () => undefined);
  return { messages, closed: new Promise((resolve) => connection.on(RealtimeEvents.CLOSE, () => resolve())) };
}

async function until(messages: Message[], type: string, timeoutMs = 20_000): Promise<Message> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = messages.find((m) => m.message_type === type);
    if (found) return found;
    if (performance.now() > deadline) throw new Error(`no ${type} in ${timeoutMs} ms; got ${messages.map((m) => m.message_type).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sends 16 kHz PCM as 100 ms chunks, `speed` times faster than real time. */
async function stream(connection: RealtimeConnection, pcm: Buffer, speed: number): Promise<void> {
  for (let offset = 0; offset < pcm.length; offset += 3200) {
    connection.send({ audioBase64: pcm.subarray(offset, offset + 3200).toString('base64') });
    await new Promise((resolve) => setTimeout(resolve, 100 / speed));
  }
}

/** A raw socket for what the SDK cannot send (token auth, out-of-range values, bad messages). */
async function raw(emulator: ElevenLabsEmulator, query: string, headers: Record<string, string> = { 'xi-api-key': KEY }): Promise<{ ws: WebSocket; messages: Message[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${emulator.baseUrl.replace('http', 'ws')}${REALTIME_PATH}?${query}`, { headers });
  const messages: Message[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Message));
  const closed = once(ws, 'close').then(([code]) => code as number);
  await once(ws, 'open');
  return { ws, messages, closed };
}

describe('ElevenLabs emulator: realtime STT through the official SDK (contract)', () => {
  let emulator: ElevenLabsEmulator;
  let client: ElevenLabsClient;
  let flite: FliteSynthesizer;
  let prompt: Buffer;

  before(async () => {
    emulator = await startElevenLabsEmulator({ apiKey: KEY });
    client = new ElevenLabsClient({ apiKey: KEY, baseUrl: emulator.baseUrl });
    flite = new FliteSynthesizer({ threads: 1 });
    prompt = await synthesizeSpeech(flite, PROMPT, 16000);
  });
  beforeEach(() => emulator.reset());
  after(async () => {
    await emulator.close();
    await flite.close();
  });

  async function connect(options: Partial<Parameters<typeof client.speechToText.realtime.connect>[0]> = {}): Promise<{ connection: RealtimeConnection; messages: Message[]; closed: Promise<void> }> {
    const connection = await client.speechToText.realtime.connect({ modelId: 'scribe_v2_realtime', audioFormat: AudioFormat.PCM_16000, sampleRate: 16000, ...options } as Parameters<typeof client.speechToText.realtime.connect>[0]);
    const recorded = record(connection);
    await until(recorded.messages, 'session_started', 10_000);
    return { connection, ...recorded };
  }

  it('starts a session with the effective config, defaults filled in', async () => {
    const { connection, messages } = await connect({ includeTimestamps: true, languageCode: 'en' });
    const started = messages[0]!;
    assert.match(String(started['session_id']), /^[0-9a-f]{32}$/);
    assert.deepEqual(
      { ...(started['config'] as object) },
      {
        sample_rate: 16000,
        audio_format: 'pcm_16000',
        language_code: 'en',
        commit_strategy: 'manual',
        vad_commit_strategy: 'manual',
        vad_silence_threshold_secs: 1.5,
        vad_threshold: 0.4,
        min_speech_duration_ms: 100,
        min_silence_duration_ms: 100,
        model_id: 'scribe_v2_realtime',
        enable_logging: true,
        include_timestamps: true,
        include_language_detection: false,
        keyterms: [],
        no_verbatim: false,
      },
    );
    connection.close();
  });

  it('transcribes a shared recording on manual commit, with partials and word timestamps', async () => {
    const { connection, messages } = await connect({ commitStrategy: CommitStrategy.MANUAL, includeTimestamps: true });
    const audio = Buffer.concat([readSharedRecording(RECORDING), silence(0.3)]);
    await stream(connection, audio, 4);
    connection.commit();
    const committed = await until(messages, 'committed_transcript');
    const timed = await until(messages, 'committed_transcript_with_timestamps');
    assert.ok(messages.some((m) => m.message_type === 'partial_transcript'), 'partials before the commit');
    assert.ok(messages.findIndex((m) => m === committed) < messages.findIndex((m) => m === timed), 'committed first, then with timestamps');
    const wer = wordErrorRate(SHARED_RECORDINGS[RECORDING]!, String(committed['text']));
    assert.ok(wer <= MAX_WER, `WER ${wer.toFixed(2)}: ${String(committed['text'])}`);
    const all = timed['words'] as Array<{ text: string; start: number; end: number; type: string }>;
    const words = all.filter((w) => w.type === 'word');
    assert.equal(words.map((w) => w.text).join(' '), committed['text']);
    assert.deepEqual([...new Set(all.map((w) => w.type))].sort(), ['spacing', 'word'], 'spacing between words, as the API sends');
    assert.ok(all.every((w, i) => w.start <= w.end && (i === 0 || w.start >= all[i - 1]!.end - 1e-6)), 'ordered timings');
    // The recogniser's own timings: the words sit where the sound is (a human recording trails off softly).
    const span = speechSpan(audio);
    assert.ok(Math.abs(words[0]!.start - span.start) < 0.5, `starts with the speech: ${words[0]!.start} vs ${span.start}`);
    assert.ok(Math.abs(words.at(-1)!.end - span.end) < 0.5, `ends with the speech: ${words.at(-1)!.end} vs ${span.end}`);
    connection.close();
  });

  it('commits by VAD after the configured silence, without a commit message', async () => {
    const { connection, messages } = await connect({ commitStrategy: CommitStrategy.VAD, vadSilenceThresholdSecs: 0.3, minSilenceDurationMs: 50 });
    const started = performance.now();
    await stream(connection, Buffer.concat([silence(0.3), prompt, silence(1.2)]), 2);
    const committed = await until(messages, 'committed_transcript');
    assert.equal(committed['text'], PROMPT);
    assert.ok(performance.now() - started < 10_000);
    connection.close();
  });

  it('answers a bad key, and the sttRejectAuth fault, with auth_error then a close', async () => {
    const bad = new ElevenLabsClient({ apiKey: 'wrong', baseUrl: emulator.baseUrl });
    const connection = await bad.speechToText.realtime.connect({ modelId: 'scribe_v2_realtime', audioFormat: AudioFormat.PCM_16000, sampleRate: 16000 });
    const { messages, closed } = record(connection);
    await closed;
    assert.deepEqual(messages.map((m) => m.message_type), ['auth_error']);
    emulator.faults.sttRejectAuth = true;
    const faulty = record(await client.speechToText.realtime.connect({ modelId: 'scribe_v2_realtime', audioFormat: AudioFormat.PCM_16000, sampleRate: 16000 }));
    await faulty.closed;
    assert.deepEqual(faulty.messages.map((m) => m.message_type), ['auth_error']);
  });

  it('answers sttQuotaExceeded with quota_exceeded, sttRateLimited with rate_limited (N times), then a close', async () => {
    const open = () => client.speechToText.realtime.connect({ modelId: 'scribe_v2_realtime', audioFormat: AudioFormat.PCM_16000, sampleRate: 16000 });
    emulator.faults.sttQuotaExceeded = true;
    const quota = record(await open());
    await quota.closed;
    assert.deepEqual(quota.messages.map((m) => m.message_type), ['quota_exceeded']);
    Object.assign(emulator.faults, { sttQuotaExceeded: false, sttRateLimited: 1 });
    const limited = record(await open());
    await limited.closed;
    assert.deepEqual(limited.messages.map((m) => m.message_type), ['rate_limited']);
    const next = await connect();
    next.connection.close();
  });

  it('refuses out-of-range parameters with invalid_request, accepts the inclusive bounds and token auth', async () => {
    for (const query of ['model_id=scribe_v2_realtime&vad_threshold=0.95', 'model_id=scribe_v2_realtime&min_speech_duration_ms=49', 'audio_format=pcm_16000', 'model_id=scribe_v2_realtime&audio_format=mp3']) {
      const { messages, closed } = await raw(emulator, query);
      assert.equal(await closed, 1008, query);
      assert.deepEqual(messages.map((m) => m.message_type), ['invalid_request'], query);
    }
    const bounds = 'model_id=scribe_v2_realtime&audio_format=pcm_8000&audio_format=pcm_16000&commit_strategy=vad&vad_silence_threshold_secs=0.3&min_speech_duration_ms=50&min_silence_duration_ms=50';
    const { ws, messages } = await raw(emulator, `${bounds}&token=sutkn_abc`, {});
    await until(messages, 'session_started');
    assert.equal((messages[0]!['config'] as { sample_rate: number }).sample_rate, 8000, 'first audio_format wins');
    ws.close();
  });

  it('refuses previous_text after the first chunk with input_error', async () => {
    const { ws, messages, closed } = await raw(emulator, 'model_id=scribe_v2_realtime');
    const chunk = { message_type: 'input_audio_chunk', audio_base_64: silence(0.1).toString('base64'), commit: false, sample_rate: 16000 };
    ws.send(JSON.stringify({ ...chunk, previous_text: 'hello' }));
    ws.send(JSON.stringify({ ...chunk, previous_text: null }));
    ws.send(JSON.stringify({ ...chunk, previous_text: 'again' }));
    await closed;
    assert.deepEqual(messages.map((m) => m.message_type), ['session_started', 'input_error']);
  });

  it('closes the socket mid-utterance after N chunks (1011 or reset), once by default', async () => {
    for (const mode of ['close_1011', 'terminate'] as const) {
      Object.assign(emulator.faults, { sttDropAfterChunks: 5, sttDropCount: 1, sttDropMode: mode });
      const { ws, closed } = await raw(emulator, 'model_id=scribe_v2_realtime');
      ws.on('error', () => undefined);
      for (let i = 0; i < 8 && ws.readyState === WebSocket.OPEN; i++) ws.send(JSON.stringify({ message_type: 'input_audio_chunk', audio_base_64: prompt.subarray(i * 3200, (i + 1) * 3200).toString('base64'), commit: false }));
      assert.equal(await closed, mode === 'terminate' ? 1006 : 1011, mode);
      const next = await connect();
      next.connection.close();
    }
  });

  it('freezes (no messages, no pongs) or mutes (pongs, no messages) a socket after N chunks, keeping it open', async () => {
    for (const mode of ['freeze', 'mute'] as const) {
      Object.assign(emulator.faults, { sttDropAfterChunks: 3, sttDropCount: 1, sttDropMode: mode });
      const { ws, messages } = await raw(emulator, 'model_id=scribe_v2_realtime');
      await until(messages, 'session_started');
      const pongs: number[] = [];
      ws.on('pong', () => pongs.push(performance.now()));
      ws.ping();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(pongs.length, 1, `${mode}: answers pings before`);
      for (let i = 0; i < 6; i++) ws.send(JSON.stringify({ message_type: 'input_audio_chunk', audio_base_64: prompt.subarray(i * 3200, (i + 1) * 3200).toString('base64'), commit: i === 5 }));
      const seen = messages.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      ws.ping();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(messages.length, seen, `${mode}: no message after the fault (not even for the commit)`);
      assert.equal(ws.readyState, WebSocket.OPEN, `${mode}: still open`);
      assert.equal(pongs.length, mode === 'mute' ? 2 : 1, `${mode}: pongs after the fault`);
      ws.terminate();
    }
  });

  it('stalls (no session_started) and delays messages by the latency knob', async () => {
    emulator.faults.sttStall = true;
    const stalled = await raw(emulator, 'model_id=scribe_v2_realtime');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(stalled.messages, []);
    stalled.ws.close();
    Object.assign(emulator.faults, { sttStall: false, sttLatencyMs: 400 });
    const opened = performance.now();
    const { messages } = await raw(emulator, 'model_id=scribe_v2_realtime');
    await until(messages, 'session_started');
    assert.ok(performance.now() - opened >= 380, `session_started after ${Math.round(performance.now() - opened)} ms`);
  });
});
