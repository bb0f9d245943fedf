import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type VoiceTestClient } from '@app/testing';
import { connectConfigured, connectReady, startTestApp, type TestApp } from './utils/test-app.js';

/** Every bad-input class gets an `error` with its own code, and the session still answers afterwards. */
describe('bad input', () => {
  let testApp: TestApp;

  before(async () => {
    testApp = await startTestApp({ WS_MAX_PAYLOAD_BYTES: '65536' });
  });
  after(() => testApp.close());

  async function expectError(client: VoiceTestClient, code: string, messagePattern?: RegExp): Promise<void> {
    const error = await client.expect('error');
    assert.equal(error.code, code, error.message);
    assert.ok(error.message.length > 10, 'a readable message');
    if (messagePattern) assert.match(error.message, messagePattern);
  }

  async function assertStillWorks(client: VoiceTestClient): Promise<void> {
    client.send({ type: 'text.prompt', text: 'hello' });
    const events = await client.until((e) => e.type === 'assistant.message' || e.type === 'error', { timeoutMs: 10_000 });
    assert.equal(events.at(-1)?.type, 'assistant.message', JSON.stringify(events.at(-1)));
  }

  const cases: Array<{ name: string; frame: string | Buffer; code: string; pattern?: RegExp; configured?: boolean }> = [
    { name: 'not JSON', frame: 'hello there', code: 'invalid_json' },
    { name: 'a JSON array', frame: '[1,2,3]', code: 'invalid_json' },
    { name: 'a JSON string', frame: '"text.prompt"', code: 'invalid_json' },
    { name: 'no type', frame: '{"text":"hi"}', code: 'unknown_type', pattern: /missing/ },
    { name: 'an unknown type', frame: '{"type":"session.update"}', code: 'unknown_type', pattern: /session\.update/ },
    { name: 'an internal event name', frame: '{"type":"protocol.invalid"}', code: 'unknown_type' },
    { name: 'a non-string type', frame: '{"type":42}', code: 'unknown_type' },
    { name: 'text.prompt without text', frame: '{"type":"text.prompt"}', code: 'invalid_message', pattern: /text/, configured: true },
    { name: 'a blank text.prompt', frame: '{"type":"text.prompt","text":"   "}', code: 'invalid_message', pattern: /blank/, configured: true },
    { name: 'text.prompt with a number', frame: '{"type":"text.prompt","text":5}', code: 'invalid_message', configured: true },
    { name: 'an unknown field', frame: '{"type":"text.prompt","text":"hi","extra":1}', code: 'invalid_message', pattern: /extra/, configured: true },
    { name: 'audio.append without audio', frame: '{"type":"audio.append"}', code: 'invalid_message', pattern: /audio/, configured: true },
    { name: 'audio.append with an unsupported rate', frame: '{"type":"audio.append","audio":"AAAA","sample_rate":11025}', code: 'invalid_message', pattern: /sample_rate/, configured: true },
    { name: 'invalid base64', frame: '{"type":"audio.append","audio":"AAAA!!!!BBBB"}', code: 'invalid_audio', pattern: /base64/, configured: true },
    { name: 'non-canonical base64 padding', frame: '{"type":"audio.append","audio":"AAB="}', code: 'invalid_audio', configured: true },
    { name: 'audio.commit with a field', frame: '{"type":"audio.commit","now":true}', code: 'invalid_message', configured: true },
  ];

  for (const testCase of cases) {
    it(`answers ${testCase.name} with ${testCase.code}`, async () => {
      const client = testCase.configured ? await connectConfigured(testApp) : await connectReady(testApp);
      client.sendRaw(testCase.frame);
      await expectError(client, testCase.code, testCase.pattern);
      if (!testCase.configured) {
        client.send({ type: 'session.configure' });
        await client.expect('session.configured');
      }
      await assertStillWorks(client);
    });
  }

  const configureCases: Array<{ name: string; body: Record<string, unknown>; pattern: RegExp }> = [
    { name: 'vad_threshold above 0.9', body: { stt: { vad_threshold: 0.95 } }, pattern: /stt\.vad_threshold/ },
    { name: 'vad_threshold below 0.1', body: { stt: { vad_threshold: 0.05 } }, pattern: /stt\.vad_threshold/ },
    { name: 'vad_silence_threshold_secs above 3', body: { stt: { vad_silence_threshold_secs: 3.5 } }, pattern: /vad_silence_threshold_secs/ },
    { name: 'min_speech_duration_ms below 50', body: { stt: { min_speech_duration_ms: 10 } }, pattern: /min_speech_duration_ms/ },
    { name: 'min_silence_duration_ms above 2000', body: { stt: { min_silence_duration_ms: 2500 } }, pattern: /min_silence_duration_ms/ },
    { name: 'an unknown commit_strategy', body: { stt: { commit_strategy: 'auto' } }, pattern: /commit_strategy/ },
    { name: 'an unknown audio_format', body: { stt: { audio_format: 'opus_48000' } }, pattern: /audio_format/ },
    { name: 'a string sample_rate', body: { stt: { sample_rate: '16000' } }, pattern: /sample_rate/ },
    { name: 'voice speed out of range', body: { tts: { voice_settings: { speed: 2 } } }, pattern: /tts\.voice_settings\.speed/ },
    { name: 'an unknown tts field', body: { tts: { pitch: 3 } }, pattern: /pitch/ },
    { name: 'backend as a string', body: { backend: 'reg_1' }, pattern: /backend/ },
    { name: 'a session_id with spaces', body: { session_id: 'a b' }, pattern: /session_id/ },
    { name: 'an unknown provider', body: { tts: { provider: 'acme' } }, pattern: /provider/ },
  ];

  for (const testCase of configureCases) {
    it(`rejects session.configure with ${testCase.name} and accepts a fixed one`, async () => {
      const client = await connectReady(testApp);
      client.send({ type: 'session.configure', ...testCase.body });
      await expectError(client, 'invalid_message', testCase.pattern);
      client.send({ type: 'session.configure' });
      await client.expect('session.configured');
      await assertStillWorks(client);
    });
  }

  it('rejects an output_format the TTS cannot produce with unsupported_output_format', async () => {
    const client = await connectReady(testApp);
    client.send({ type: 'session.configure', tts: { output_format: 'mp3_44100_128' } });
    await expectError(client, 'unsupported_output_format', /pcm_24000/);
    client.send({ type: 'session.configure', tts: { output_format: 'pcm_16000' } });
    await client.expect('session.configured');
  });

  for (const frame of ['{"type":"text.prompt","text":"hi"}', '{"type":"audio.append","audio":"AAAA"}', '{"type":"audio.commit"}', Buffer.alloc(3200)]) {
    const name = Buffer.isBuffer(frame) ? 'a binary audio frame' : JSON.parse(frame).type;
    it(`answers ${name} before session.configure with not_configured`, async () => {
      const client = await connectReady(testApp);
      client.sendRaw(frame);
      await expectError(client, 'not_configured', /session\.configure/);
      client.send({ type: 'session.configure' });
      await client.expect('session.configured');
      await assertStillWorks(client);
    });
  }

  it('answers a second session.configure with already_configured', async () => {
    const client = await connectConfigured(testApp, { session_id: 'first' });
    client.send({ type: 'session.configure', session_id: 'second' });
    await expectError(client, 'already_configured');
    await assertStillWorks(client);
  });

  it('keeps errors in order with the messages that caused them', async () => {
    const client = await connectReady(testApp);
    client.send({ type: 'session.configure' });
    client.sendRaw('oops');
    client.send({ type: 'text.prompt', text: 'hello' });
    const events = await client.until((e) => e.type === 'assistant.message', { timeoutMs: 10_000 });
    assert.deepEqual(
      events.map((e) => e.type),
      ['session.configured', 'stt.session_started', 'error', 'assistant.started', 'assistant.message'],
    );
  });

  it('closes the connection with 1009 when a frame exceeds WS_MAX_PAYLOAD_BYTES', async () => {
    const client = await connectConfigured(testApp);
    client.sendRaw(Buffer.alloc(70_000));
    const closed = await client.whenClosed();
    assert.equal(closed.code, 1009);
  });
});
