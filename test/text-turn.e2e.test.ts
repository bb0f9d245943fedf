import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pcm16Samples, rmsLevel } from '@app/audio';
import { FliteSynthesizer } from '@app/engines';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import { joinAudioChunks } from '@app/testing';
import { connectConfigured, connectReady, startTestApp, type TestApp } from './utils/test-app.js';

const EXAMPLE_CONFIGURE = {
  type: 'session.configure',
  session_id: 'demo-session-1',
  backend: { registration_id: 'reg_demo' },
  stt: { sample_rate: 16000, audio_format: 'pcm_16000', language_code: 'en', commit_strategy: 'vad', vad_threshold: 0.4, vad_silence_threshold_secs: 1.0 },
  tts: { voice_id: 'slt', output_format: 'pcm_24000', voice_settings: { stability: 0.5, similarity_boost: 0.75, speed: 1.0 } },
};

describe('text turn on embedded defaults', () => {
  let testApp: TestApp;
  let reference: FliteSynthesizer;

  before(async () => {
    testApp = await startTestApp();
    reference = new FliteSynthesizer({ threads: 1 });
  });
  after(async () => {
    await testApp.close();
    await reference.close();
  });

  it('answers text.prompt with the contract events in order', async () => {
    const client = await testApp.connect();
    const ready = await client.expect('session.ready');
    assert.equal(typeof ready.message, 'string');
    client.send(EXAMPLE_CONFIGURE);
    const configured = await client.expect('session.configured');
    assert.equal(configured.session_id, 'demo-session-1');
    const sttStarted = await client.expect('stt.session_started');
    assert.equal(sttStarted.config['commit_strategy'], 'vad');
    assert.equal(sttStarted.config['vad_silence_threshold_secs'], 1.0);

    client.send({ type: 'text.prompt', text: 'What is the weather like in Paris today?' });
    const events = await client.until((e) => e.type === 'assistant.audio.end' || e.type === 'error', { timeoutMs: 20_000 });
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ['assistant.started', 'assistant.message', 'assistant.audio.start']);
    assert.equal(types.at(-1), 'assistant.audio.end');
    assert.ok(types.filter((t) => t === 'assistant.audio.chunk').length >= 1);

    const [started, message, audioStart] = events as [ServerEvent & { type: 'assistant.started' }, ServerEvent & { type: 'assistant.message' }, ServerEvent & { type: 'assistant.audio.start' }];
    assert.equal(started.text, 'What is the weather like in Paris today?');
    assert.equal(message.text, localReply('What is the weather like in Paris today?'));
    assert.equal(typeof message.metadata, 'object');
    assert.deepEqual(audioStart, { type: 'assistant.audio.start', turn_id: 1, content_type: 'application/octet-stream', output_format: 'pcm_24000' });
    const end = events.at(-1) as ServerEvent & { type: 'assistant.audio.end' };
    assert.equal(end.chunk_count, types.filter((t) => t === 'assistant.audio.chunk').length);
    assert.equal(end.turn_id, 1);
  });

  for (const format of ['pcm_16000', 'pcm_22050', 'pcm_24000', 'pcm_44100']) {
    it(`streams ${format} speech at the requested rate in ~160 ms chunks`, async () => {
      const rate = Number(format.split('_')[1]);
      const client = await connectConfigured(testApp, { tts: { output_format: format } });
      const prompt = 'Tell me something about sound.';
      client.send({ type: 'text.prompt', text: prompt });
      const events = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 });
      const chunks = events.filter((e) => e.type === 'assistant.audio.chunk');
      for (const chunk of chunks) assert.equal(chunk.output_format, format);
      const pcm = joinAudioChunks(events);
      const chunkBytes = Buffer.from(chunks[0]!.audio, 'base64').length;
      assert.equal(chunkBytes, Math.round(rate * 0.16) * 2, 'a full chunk holds 160 ms');

      // Same speech as flite renders it directly at this rate: same duration (so the rate is right).
      const reply = localReply(prompt);
      const direct = await reference.synthesize({ text: reply, voice: 'slt', sampleRate: rate, speed: 1 });
      const expectedSamples = direct.pcm.byteLength / 2;
      const samples = pcm16Samples(pcm);
      assert.ok(Math.abs(samples.length - expectedSamples) / expectedSamples < 0.02, `${samples.length} samples vs ${expectedSamples}`);
      assert.ok(samples.length / rate > 1, 'at least a second of speech');
      assert.ok(rmsLevel(samples) > 0.02, 'audible, not silence');
    });
  }

  it('numbers turns per session and answers queued prompts in order', async () => {
    const client = await connectConfigured(testApp);
    client.send({ type: 'text.prompt', text: 'hello' });
    client.send({ type: 'text.prompt', text: 'thank you' });
    const first = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 });
    const second = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 });
    // The first turn's turn.metrics comes between the two turns.
    const startedText = (events: ServerEvent[]) => (events.find((e) => e.type === 'assistant.started') as { text: string }).text;
    assert.equal(startedText(first), 'hello');
    assert.equal(startedText(second), 'thank you');
    assert.deepEqual(
      [first.at(-1), second.at(-1)].map((e) => (e as { turn_id: number }).turn_id),
      [1, 2],
    );
  });

  it('rejects prompts beyond the turn queue and keeps the session', async () => {
    const limited = await startTestApp({ MAX_QUEUED_TURNS: '1' });
    try {
      const client = await connectConfigured(limited);
      for (const text of ['one', 'two', 'three']) client.send({ type: 'text.prompt', text });
      const events = await client.until((e) => e.type === 'error', { timeoutMs: 20_000 });
      assert.equal((events.at(-1) as { code: string }).code, 'turn_queue_full');
      const rest = await client.until((e) => e.type === 'assistant.audio.end' && e.turn_id === 2, { timeoutMs: 20_000 });
      const started = [...events, ...rest].filter((e) => e.type === 'assistant.started').map((e) => (e as { text: string }).text);
      assert.deepEqual(started, ['one', 'two']);
    } finally {
      await limited.close();
    }
  });

  it('generates a session_id when none is given', async () => {
    const client = await connectReady(testApp);
    client.send({ type: 'session.configure' });
    const configured = await client.expect('session.configured');
    assert.match(configured.session_id, /^[0-9a-f-]{36}$/);
    assert.equal((await client.expect('stt.session_started')).session_id, configured.session_id);
  });

  it('delivers ulaw_8000 as 8-bit samples', async () => {
    const client = await connectConfigured(testApp, { tts: { output_format: 'ulaw_8000' } });
    client.send({ type: 'text.prompt', text: 'hello' });
    const events = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 });
    const chunk = events.find((e) => e.type === 'assistant.audio.chunk');
    assert.equal(Buffer.from((chunk as { audio: string }).audio, 'base64').length, 8000 * 0.16);
  });
});
