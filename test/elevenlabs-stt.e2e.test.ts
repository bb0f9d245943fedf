import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import { joinAudioChunks, readSharedRecording, SHARED_RECORDINGS, silence, speechSpan, streamAudio, synthesizeSpeech, whiteNoise, wordErrorRate, type VoiceTestClient } from '@app/testing';
import { useElevenLabsStack } from './utils/elevenlabs-stack.js';

const CANARY_KEY = 'xi-canary-stt-7c2a';
const PROMPT = 'what is the weather like in paris today';
/** The shared recording PocketSphinx does best on, and the word error rate bound the voice-input suite measured. */
const RECORDING = 'librivox-austen-0870.wav';
const MAX_WER = 0.6;
const PCM16K = { bytesPerSecond: 32000, mode: 'binary', sampleRate: 16000 } as const;
const text = (event: ServerEvent | undefined) => (event as { text: string } | undefined)?.text ?? '';
const isError = (e: ServerEvent) => e.type === 'error';

describe('ElevenLabs realtime STT (and TTS) against the emulator', () => {
  const stack = useElevenLabsStack(CANARY_KEY);
  let prompt: Buffer;
  before(async () => {
    prompt = await synthesizeSpeech(stack.flite, PROMPT, 16000);
  });
  const clients: VoiceTestClient[] = [];

  async function configured(stt: Record<string, unknown>, wait = true): Promise<VoiceTestClient> {
    const client = await stack.testApp.connect();
    clients.push(client);
    await client.expect('session.ready');
    client.send({ type: 'session.configure', stt, tts: { output_format: 'pcm_16000' } });
    await client.expect('session.configured');
    if (wait) await client.expect('stt.session_started');
    return client;
  }

  it('lists ElevenLabs as the default STT provider in /v1/voice/config', async () => {
    const body = (await (await fetch(`${stack.testApp.httpUrl}/v1/voice/config`)).json()) as { stt: { default_provider: string; providers: Array<{ id: string; available: boolean; models: string[] }> } };
    assert.equal(body.stt.default_provider, 'elevenlabs');
    assert.deepEqual(body.stt.providers.find((p) => p.id === 'elevenlabs')?.models, ['scribe_v2_realtime']);
  });

  it('reports the upstream session id and the effective config in stt.session_started', async () => {
    const client = await stack.testApp.connect();
    clients.push(client);
    await client.expect('session.ready');
    const stt = { commit_strategy: 'vad', audio_format: 'pcm_24000', vad_threshold: 0.3, vad_silence_threshold_secs: 0.3, min_speech_duration_ms: 50, min_silence_duration_ms: 60, include_timestamps: true };
    client.send({ type: 'session.configure', stt });
    await client.expect('session.configured');
    const started = await client.expect('stt.session_started');
    assert.match(started.session_id, /^[0-9a-f]{32}$/, 'the upstream session id');
    assert.deepEqual(started.config, { provider: 'elevenlabs', model_id: 'scribe_v2_realtime', language_code: 'en', sample_rate: 24000, ...stt });
  });

  it('manual commit: streams a shared recording in real time, partials, committed transcript, reply and streamed TTS', async () => {
    const client = await configured({ commit_strategy: 'manual' });
    await streamAudio(client, Buffer.concat([readSharedRecording(RECORDING), silence(0.3)]), PCM16K);
    client.send({ type: 'audio.commit' });
    const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 });
    const committed = text(events.at(-1));
    assert.equal(events.at(-1)?.type, 'transcript.committed');
    assert.ok(events.filter((e) => e.type === 'transcript.partial').length >= 2, 'partials while speaking');
    assert.ok(wordErrorRate(SHARED_RECORDINGS[RECORDING]!, committed) <= MAX_WER, committed);
    const turn = await client.until((e) => e.type === 'assistant.audio.end' || isError(e), { timeoutMs: 20_000 });
    assert.equal(text(turn.find((e) => e.type === 'assistant.message')), localReply(committed));
    assert.ok(turn.filter((e) => e.type === 'assistant.audio.chunk').length > 1, 'streamed TTS chunks');
    assert.ok(joinAudioChunks(turn).length > 16000, 'audible reply');
  });

  it('VAD commit: a stack.flite prompt in real time is committed after the silence and answered', async () => {
    const client = await configured({ commit_strategy: 'vad', vad_silence_threshold_secs: 0.5 });
    const sending = streamAudio(client, Buffer.concat([silence(0.3), prompt, silence(1.2)]), PCM16K);
    const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 });
    await sending;
    assert.equal(text(events.at(-1)), PROMPT);
    assert.ok(events.some((e) => e.type === 'transcript.partial'));
    const turn = await client.until((e) => e.type === 'assistant.audio.end' || isError(e), { timeoutMs: 20_000 });
    assert.equal(text(turn.find((e) => e.type === 'assistant.started')), PROMPT);
    assert.ok(turn.some((e) => e.type === 'assistant.audio.chunk'));
  });

  for (const mode of ['close_1011', 'terminate'] as const) {
    it(`survives an upstream drop mid-utterance (${mode}): reconnects, replays the audio, the turn is kept`, async () => {
      Object.assign(stack.emulator.faults, { sttDropAfterChunks: 12, sttDropCount: 1, sttDropMode: mode });
      const client = await configured({ commit_strategy: 'manual' });
      await streamAudio(client, Buffer.concat([prompt, silence(0.3)]), PCM16K);
      client.send({ type: 'audio.commit' });
      const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 });
      assert.equal(text(events.at(-1)), PROMPT);
      assert.equal(stack.emulator.sttConnections, 2, 'one reconnect');
      assert.equal(events.filter((e) => e.type === 'stt.session_started').length, 0, 'no second session_started');
    });
  }

  it('reports stt_unavailable within 10 s when every reconnect is dropped too', async () => {
    Object.assign(stack.emulator.faults, { sttDropAfterChunks: 3, sttDropCount: Infinity });
    const client = await configured({ commit_strategy: 'manual' });
    const started = performance.now();
    const sending = streamAudio(client, Buffer.concat([prompt, silence(0.3)]), PCM16K);
    const events = await client.until(isError, { timeoutMs: 15_000 });
    await sending.catch(() => undefined);
    const elapsed = performance.now() - started;
    assert.equal((events.at(-1) as { code: string }).code, 'stt_unavailable');
    assert.ok(elapsed < 10_000, `${Math.round(elapsed)} ms`);
    assert.ok(stack.emulator.sttConnections >= 3, `retried: ${stack.emulator.sttConnections} connections`);
  });

  it('reports stt_unavailable within 10 s of configure when the upstream never starts a session', async () => {
    stack.emulator.faults.sttStall = true;
    const started = performance.now();
    const client = await configured({ commit_strategy: 'manual' }, false);
    const events = await client.until(isError, { timeoutMs: 15_000 });
    const elapsed = performance.now() - started;
    assert.equal((events.at(-1) as { code: string }).code, 'stt_unavailable');
    assert.ok(!events.some((e) => e.type === 'stt.session_started'));
    assert.ok(elapsed < 10_000, `${Math.round(elapsed)} ms`);
    assert.ok(stack.emulator.sttConnections >= 2, `retried: ${stack.emulator.sttConnections} connections`);
  });

  for (const [mode, what] of [
    ['freeze', 'a frozen socket (no reads, no pongs)'],
    ['mute', 'a hung transcriber behind a live socket (pongs, no transcripts)'],
  ] as const) {
    it(`VAD mode: detects ${what} while the user speaks, reconnects and keeps the turn`, async () => {
      Object.assign(stack.emulator.faults, { sttDropAfterChunks: 12, sttDropCount: 1, sttDropMode: mode });
      const client = await configured({ commit_strategy: 'vad', vad_silence_threshold_secs: 0.5 });
      const sending = streamAudio(client, Buffer.concat([silence(0.3), prompt, silence(1.5)]), PCM16K);
      const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 20_000 });
      await sending;
      assert.equal(events.at(-1)?.type, 'transcript.committed', JSON.stringify(events.at(-1)));
      assert.equal(text(events.at(-1)), PROMPT);
      assert.equal(stack.emulator.sttConnections, 2, 'one reconnect');
      const turn = await client.until((e) => e.type === 'assistant.audio.end' || isError(e), { timeoutMs: 20_000 });
      assert.equal(text(turn.find((e) => e.type === 'assistant.started')), PROMPT);
    });
  }

  it('loud noise that is not speech reconnects once at most, not every 6 s', async () => {
    // White noise at -29 dBFS RMS counts as speech-like for the hang check, but the VAD hears no speech, so nothing comes back.
    const client = await configured({ commit_strategy: 'vad' });
    await streamAudio(client, whiteNoise(14, 2000), PCM16K);
    assert.equal(stack.emulator.sttConnections, 2, 'one reconnect for the first 6 s without an answer, then none');
    assert.ok(!client.events.some(isError), JSON.stringify(client.events.filter(isError)));
  });

  it('reports stt_unavailable within 10 s when every socket freezes mid-utterance', async () => {
    Object.assign(stack.emulator.faults, { sttDropAfterChunks: 5, sttDropCount: Infinity, sttDropMode: 'freeze' });
    const client = await configured({ commit_strategy: 'vad' });
    let frozenAt = 0;
    // The fifth chunk freezes the first socket: time the outage from there.
    const sending = streamAudio(client, Buffer.concat([prompt, silence(8)]), { ...PCM16K, onChunk: (i) => { if (i === 4) frozenAt = performance.now(); } });
    const events = await client.until(isError, { timeoutMs: 20_000 });
    const elapsed = performance.now() - frozenAt;
    await sending.catch(() => undefined);
    assert.equal((events.at(-1) as { code: string }).code, 'stt_unavailable');
    assert.ok(elapsed < 10_000, `${Math.round(elapsed)} ms after the freeze`);
    assert.ok(stack.emulator.sttConnections >= 2, `retried: ${stack.emulator.sttConnections} connections`);
  });

  it('include_timestamps: transcript.committed carries the words with times on the session audio timeline, across a reconnect', async () => {
    const first = Buffer.concat([silence(0.3), prompt, silence(0.3)]);
    // The second utterance is cut by a drop 5 chunks in (the first utterance's chunks and its commit come before).
    Object.assign(stack.emulator.faults, { sttDropAfterChunks: Math.ceil(first.length / 3200) + 1 + 5, sttDropCount: 1, sttDropMode: 'close_1011' });
    const client = await configured({ commit_strategy: 'manual', include_timestamps: true });
    await streamAudio(client, first, { ...PCM16K, speed: 4 });
    client.send({ type: 'audio.commit' });
    const one = (await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 })).at(-1) as { text: string; words?: Array<{ text: string; start: number; end: number }> };
    assert.equal(one.text, PROMPT);
    assert.deepEqual(one.words?.map((w) => w.text), PROMPT.split(' '));
    const firstSecs = first.length / 32000;
    for (const [i, word] of one.words.entries()) {
      assert.ok(word.start >= 0 && word.end >= word.start && word.end <= firstSecs + 0.01, JSON.stringify(word));
      if (i > 0) assert.ok(word.start >= one.words[i - 1]!.end - 0.001, 'in order');
    }
    // After the drop the new socket's times restart at 0; the client's timeline does not.
    await streamAudio(client, Buffer.concat([prompt, silence(0.3)]), { ...PCM16K, speed: 4 });
    client.send({ type: 'audio.commit' });
    const two = (await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 })).at(-1) as typeof one;
    assert.equal(two.text, PROMPT);
    assert.equal(stack.emulator.sttConnections, 2, 'the reconnect happened');
    // The emulator times words with the recogniser, so they must sit where the sound is in what the client sent.
    const span = speechSpan(prompt);
    assert.ok(Math.abs(one.words[0]!.start - (0.3 + span.start)) <= 0.15, `first utterance starts at ${one.words[0]!.start}`);
    assert.equal(two.words!.length, 8);
    assert.ok(Math.abs(two.words![0]!.start - (firstSecs + span.start)) <= 0.15, `second utterance starts at ${two.words![0]!.start}, sound at ${firstSecs + span.start}`);
    assert.ok(Math.abs(two.words!.at(-1)!.end - (firstSecs + span.end)) <= 0.2, `second utterance ends at ${two.words!.at(-1)!.end}`);
  });

  it('include_timestamps off: no words field', async () => {
    const client = await configured({ commit_strategy: 'manual' });
    await streamAudio(client, Buffer.concat([prompt, silence(0.3)]), { ...PCM16K, speed: 4 });
    client.send({ type: 'audio.commit' });
    const committed = (await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 })).at(-1)!;
    assert.equal(text(committed), PROMPT);
    assert.ok(!('words' in committed));
  });

  for (const [fault, upstream] of [
    ['sttRejectAuth', 'auth_error'],
    ['sttQuotaExceeded', 'quota_exceeded'],
  ] as const) {
    it(`reports ${upstream} once, readably, and does not retry`, async () => {
      stack.emulator.faults[fault] = true;
      const client = await configured({}, false);
      const events = await client.until(isError, { timeoutMs: 5000 });
      const error = events.at(-1) as { code: string; message: string };
      assert.equal(error.code, 'stt_unavailable');
      assert.match(error.message, new RegExp(upstream));
      assert.ok(await client.quietFor(1500), 'a single error');
      assert.equal(stack.emulator.sttConnections, 1, 'no retry');
      client.send({ type: 'audio.append', audio: silence(0.1).toString('base64') });
      assert.equal(((await client.expect('error')) as { code: string }).code, 'stt_unavailable');
    });
  }

  it('still transcribes with upstream latency', async () => {
    stack.emulator.faults.sttLatencyMs = 300;
    const client = await configured({ commit_strategy: 'manual' });
    await streamAudio(client, Buffer.concat([prompt, silence(0.3)]), { ...PCM16K, speed: 4 });
    client.send({ type: 'audio.commit' });
    const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 });
    assert.equal(text(events.at(-1)), PROMPT);
  });

  it('keeps a silent session alive with keep-alive audio (the upstream closes sockets idle for 7 s)', async () => {
    stack.emulator.faults.sttIdleCloseMs = 7000;
    const client = await configured({ commit_strategy: 'manual' });
    await new Promise((resolve) => setTimeout(resolve, 9000));
    await streamAudio(client, Buffer.concat([prompt, silence(0.3)]), { ...PCM16K, speed: 4 });
    client.send({ type: 'audio.commit' });
    const events = await client.until((e) => e.type === 'transcript.committed' || isError(e), { timeoutMs: 15_000 });
    assert.equal(text(events.at(-1)), PROMPT);
    assert.equal(stack.emulator.sttConnections, 1);
  });

  it('never shows the key, the upstream URL or a stack trace to clients or in logs', () => {
    const events = JSON.stringify(clients.flatMap((c) => c.events));
    const logs = stack.output.text;
    for (const secret of [CANARY_KEY, stack.emulator.baseUrl, stack.emulator.baseUrl.replace('http', 'ws'), new URL(stack.emulator.baseUrl).host]) {
      assert.ok(!events.includes(secret), `client events leak ${secret}`);
      assert.ok(!logs.includes(secret), `logs leak ${secret}`);
    }
    assert.match(logs, /ElevenLabs STT socket lost \(closed with code 1011\); reconnect attempt 1/, 'the capture sees the log lines');
    assert.ok(clients.some((c) => c.events.some((e) => e.type === 'error')), 'failures were checked too');
    const stackFrame = /\bat .+\.[cm]?[jt]s:\d+:\d+/;
    assert.ok(!stackFrame.test(events), 'a stack trace in client events');
    assert.ok(!stackFrame.test(logs), `a stack trace in the logs: ${stackFrame.exec(logs)?.[0]}`);
  });
});
