import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FliteSynthesizer } from '@app/engines';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import {
  joinAudioChunks,
  normalizeWords,
  readSharedRecording,
  resamplePcmBuffer,
  SHARED_RECORDINGS,
  silence,
  streamAudio,
  speechSpan,
  synthesizeSpeech,
  toMulaw,
  whiteNoise,
  wordErrorRate,
  type VoiceTestClient,
} from '@app/testing';
import { connectConfigured, connectReady, startTestApp, type TestApp } from './utils/test-app.js';
import { VoiceSession } from '../src/voice/session/voice-session.js';

const PROMPT = 'what is the weather like in paris today';
const VAD = { commit_strategy: 'vad', vad_silence_threshold_secs: 1.0 };
const committedOf = (events: ServerEvent[]) => events.filter((e) => e.type === 'transcript.committed').map((e) => (e as { text: string }).text);

describe('voice input on the embedded engines', () => {
  let testApp: TestApp;
  let flite: FliteSynthesizer;
  let prompt16k: Buffer;

  before(async () => {
    testApp = await startTestApp({ STT_WORKERS: '2' });
    flite = new FliteSynthesizer({ threads: 1 });
    prompt16k = await synthesizeSpeech(flite, PROMPT, 16000);
  });
  after(async () => {
    await testApp.close();
    await flite.close();
  });

  async function configured(stt: Record<string, unknown>, tts: Record<string, unknown> = {}): Promise<VoiceTestClient> {
    const client = await connectConfigured(testApp, { stt, tts });
    assert.equal(client.events.at(-1)?.type, 'stt.session_started');
    return client;
  }

  for (const mode of ['binary', 'base64'] as const) {
    it(`transcribes a spoken prompt streamed in real time as ${mode} and answers it`, async () => {
      const client = await configured({ ...VAD, sample_rate: 16000 });
      const sending = streamAudio(client, Buffer.concat([silence(0.3), prompt16k, silence(1.6)]), { bytesPerSecond: 32000, mode, sampleRate: 16000 });
      const events = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 15_000 });
      await sending;
      const partials = events.filter((e) => e.type === 'transcript.partial');
      assert.ok(partials.length >= 2, `partials during speech: ${partials.length}`);
      assert.equal(normalizeWords(committedOf(events)[0]!), PROMPT);
      const turn = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 15_000 });
      assert.equal((turn.find((e) => e.type === 'assistant.started') as { text: string }).text, committedOf(events)[0]);
      // The commit that starts a turn names it.
      const committedTurn = (events.findLast((e) => e.type === 'transcript.committed') as { turn_id?: number }).turn_id;
      assert.equal(committedTurn, (turn.find((e) => e.type === 'assistant.started') as { turn_id: number }).turn_id);
      assert.equal((turn.find((e) => e.type === 'assistant.message') as { text: string }).text, localReply(committedOf(events)[0]!));
      assert.ok(turn.some((e) => e.type === 'assistant.audio.chunk'));
    });
  }

  it('reports the effective STT configuration in stt.session_started', async () => {
    const client = await connectReady(testApp);
    client.send({ type: 'session.configure', session_id: 'stt-config-1', stt: { sample_rate: 24000, vad_threshold: 0.6, commit_strategy: 'manual' } });
    await client.expect('session.configured');
    const started = await client.expect('stt.session_started');
    assert.equal(started.session_id, 'stt-config-1');
    assert.deepEqual(started.config, {
      provider: 'local',
      model_id: 'pocketsphinx-en-us',
      audio_format: 'pcm_24000',
      sample_rate: 24000,
      language_code: 'en',
      commit_strategy: 'manual',
      vad_threshold: 0.6,
      vad_silence_threshold_secs: 1.5,
      min_speech_duration_ms: 100,
      min_silence_duration_ms: 100,
      include_timestamps: false,
    });
  });

  const formats: Array<{ audio_format: string; rate: number; encode: (pcm: Buffer) => Buffer; bytesPerSecond: number }> = [
    { audio_format: 'ulaw_8000', rate: 8000, encode: toMulaw, bytesPerSecond: 8000 },
    { audio_format: 'pcm_16000', rate: 16000, encode: (b) => b, bytesPerSecond: 32000 },
    { audio_format: 'pcm_24000', rate: 24000, encode: (b) => b, bytesPerSecond: 48000 },
    { audio_format: 'pcm_48000', rate: 48000, encode: (b) => b, bytesPerSecond: 96000 },
  ];
  it('transcribes the same prompt from 8k mu-law, 16k, 24k and 48k input, sent faster than real time', async () => {
    await Promise.all(
      formats.map(async (format) => {
        const client = await configured({ ...VAD, audio_format: format.audio_format });
        const pcm = await resamplePcmBuffer(Buffer.concat([silence(0.3), prompt16k, silence(1.5)]), 16000, format.rate);
        await streamAudio(client, format.encode(pcm), { bytesPerSecond: format.bytesPerSecond, speed: 4, chunkMs: 200 });
        const committed = await client.nextOf('transcript.committed', { timeoutMs: 20_000 });
        assert.equal(normalizeWords(committed.text), PROMPT, format.audio_format);
      }),
    );
  });

  it('accepts chunks from 20 ms to 1 s, all at once like a file upload', async () => {
    for (const chunkMs of [20, 1000]) {
      const client = await configured({ ...VAD });
      await streamAudio(client, Buffer.concat([prompt16k, silence(1.5)]), { bytesPerSecond: 32000, chunkMs, speed: 0 });
      assert.equal(normalizeWords((await client.nextOf('transcript.committed', { timeoutMs: 20_000 })).text), PROMPT, `${chunkMs} ms chunks`);
    }
  });

  it('gives two answered turns for two utterances apart by more than the silence window, one for a shorter pause', async () => {
    const second = await synthesizeSpeech(flite, 'thank you very much', 16000);
    const twoTurns = await configured({ ...VAD, vad_silence_threshold_secs: 0.8 });
    await streamAudio(twoTurns, Buffer.concat([prompt16k, silence(1.6), second, silence(1.4)]), { bytesPerSecond: 32000, speed: 4 });
    const events = await twoTurns.until((e) => e.type === 'assistant.audio.end' && e.turn_id === 2, { timeoutMs: 30_000 });
    assert.deepEqual(committedOf(events).map(normalizeWords), [PROMPT, 'thank you very much']);
    assert.equal(events.filter((e) => e.type === 'assistant.message').length, 2);

    const oneTurn = await configured({ ...VAD, vad_silence_threshold_secs: 1.5 });
    await streamAudio(oneTurn, Buffer.concat([prompt16k, silence(0.6), second, silence(2)]), { bytesPerSecond: 32000, speed: 4 });
    const single = await oneTurn.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 30_000 });
    assert.deepEqual(committedOf(single).map(normalizeWords), [`${PROMPT} thank you very much`]);
    assert.ok(await oneTurn.quietFor(1000), 'no second turn');
  });

  it('include_timestamps: words with their times on the session audio timeline, in VAD and manual mode', async () => {
    type Words = Array<{ text: string; start: number; end: number }>;
    const second = await synthesizeSpeech(flite, 'thank you very much', 16000);
    const span = speechSpan(prompt16k);
    const secs = (b: Buffer) => b.length / 32000;
    const check = (committed: { text: string; words?: Words }, offset: number, spoken: { start: number; end: number }, label: string) => {
      const words = committed.words ?? [];
      assert.deepEqual(words.map((w) => w.text), committed.text.split(' '), `${label}: the words of the text`);
      for (const [i, w] of words.entries()) {
        assert.ok(w.end > w.start && (i === 0 || w.start >= words[i - 1]!.end), `${label}: ordered ${JSON.stringify(w)}`);
      }
      // Within 0.15 s of where the sound is in the audio the client sent.
      assert.ok(Math.abs(words[0]!.start - (offset + spoken.start)) <= 0.15, `${label}: starts at ${words[0]!.start}, sound at ${offset + spoken.start}`);
      assert.ok(Math.abs(words.at(-1)!.end - (offset + spoken.end)) <= 0.2, `${label}: ends at ${words.at(-1)!.end}, sound at ${offset + spoken.end}`);
    };

    const vad = await configured({ ...VAD, vad_silence_threshold_secs: 0.8, include_timestamps: true });
    const lead = silence(0.5);
    const gap = silence(1.6);
    await streamAudio(vad, Buffer.concat([lead, prompt16k, gap, second, silence(1.4)]), { bytesPerSecond: 32000, speed: 4 });
    const events = await vad.until((e) => e.type === 'assistant.audio.end' && e.turn_id === 2, { timeoutMs: 30_000 });
    const [one, two] = events.filter((e) => e.type === 'transcript.committed') as Array<{ text: string; words?: Words }>;
    assert.equal(normalizeWords(one!.text), PROMPT);
    check(one!, secs(lead), span, 'vad, first');
    check(two!, secs(lead) + secs(prompt16k) + secs(gap), speechSpan(second), 'vad, second');

    const manual = await configured({ commit_strategy: 'manual', include_timestamps: true });
    await streamAudio(manual, Buffer.concat([lead, prompt16k]), { bytesPerSecond: 32000, speed: 4 });
    manual.send({ type: 'audio.commit' });
    check(await manual.nextOf('transcript.committed', { timeoutMs: 10_000 }), secs(lead), span, 'manual, first');
    await streamAudio(manual, second, { bytesPerSecond: 32000, speed: 4 });
    manual.send({ type: 'audio.commit' });
    check(await manual.nextOf('transcript.committed', { timeoutMs: 10_000 }), secs(lead) + secs(prompt16k), speechSpan(second), 'manual, second');

    const off = await configured({ commit_strategy: 'manual' });
    await streamAudio(off, prompt16k, { bytesPerSecond: 32000, speed: 4 });
    off.send({ type: 'audio.commit' });
    assert.ok(!('words' in (await off.nextOf('transcript.committed', { timeoutMs: 10_000 }))), 'no words unless asked');
  });

  it('commits only on audio.commit in manual mode', async () => {
    const client = await configured({ commit_strategy: 'manual' });
    await streamAudio(client, Buffer.concat([prompt16k, silence(2)]), { bytesPerSecond: 32000, speed: 4 });
    const beforeCommit = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 1500 }).catch(() => undefined);
    assert.equal(beforeCommit, undefined, 'no commit before audio.commit');
    client.send({ type: 'audio.commit' });
    assert.equal(normalizeWords((await client.nextOf('transcript.committed', { timeoutMs: 10_000 })).text), PROMPT);
    await client.nextOf('assistant.audio.end', { timeoutMs: 15_000 });
    client.send({ type: 'audio.commit' });
    const empty = await client.nextOf('transcript.committed', { timeoutMs: 10_000 });
    assert.equal(empty.text, '', 'an empty commit is answered with empty text');
    assert.ok(await client.quietFor(800), 'and starts no turn');
  });

  it('commits no turn for noise and clicks', async () => {
    const client = await configured({ ...VAD, vad_silence_threshold_secs: 0.5 });
    const rate = 16000;
    const noise = whiteNoise(3, 600);
    for (const at of [0.5, 1.2, 2.0]) for (let i = 0; i < 40; i++) noise.writeInt16LE(i % 2 ? 20000 : -20000, (Math.round(at * rate) + i) * 2);
    await streamAudio(client, noise, { bytesPerSecond: 32000, speed: 4 });
    assert.ok(await client.quietFor(1500), `no events, got ${client.events.slice(-3).map((e) => e.type).join(', ')}`);
  });

  it('transcribes the shared human recordings streamed in real time: partials, one commit each, WER within the measured bound', async () => {
    const rates: Record<string, number> = {};
    await Promise.all(
      Object.entries(SHARED_RECORDINGS).map(async ([name, reference], i) => {
        const client = await configured({ ...VAD, vad_silence_threshold_secs: 1.5 });
        await new Promise((resolve) => setTimeout(resolve, i * 250));
        const sending = streamAudio(client, Buffer.concat([readSharedRecording(name), silence(2.5)]), { bytesPerSecond: 32000, mode: i % 2 ? 'base64' : 'binary' });
        const events = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 40_000 });
        await sending;
        assert.ok(events.some((e) => e.type === 'transcript.partial'), `${name}: partials during speech`);
        rates[name] = wordErrorRate(reference, (events.at(-1) as { text: string }).text);
        await client.nextOf('assistant.audio.end', { timeoutMs: 30_000 });
        assert.ok(!client.events.slice(client.events.indexOf(events.at(-1)!) + 1).some((e) => e.type === 'transcript.committed'), `${name}: one commit`);
      }),
    );
    const mean = Object.values(rates).reduce((a, b) => a + b, 0) / Object.values(rates).length;
    console.log(`shared recordings WER: mean ${mean.toFixed(2)} ${JSON.stringify(rates)}`);
    assert.ok(mean <= MAX_MEAN_WER, `mean WER ${mean.toFixed(2)} (${JSON.stringify(rates)})`);
  });

  it('speaks replies intelligibly: the reply audio transcribes back to the reply text', async () => {
    const speaker = await connectConfigured(testApp, { tts: { output_format: 'pcm_16000' } });
    speaker.send({ type: 'text.prompt', text: 'hello' });
    const turn = await speaker.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 15_000 });
    const reply = (turn.find((e) => e.type === 'assistant.message') as { text: string }).text;
    const listener = await configured({ commit_strategy: 'manual' });
    await streamAudio(listener, joinAudioChunks(turn), { bytesPerSecond: 32000, speed: 0 });
    listener.send({ type: 'audio.commit' });
    const heard = (await listener.nextOf('transcript.committed', { timeoutMs: 20_000 })).text;
    assert.ok(wordErrorRate(reply, heard) <= MAX_ROUND_TRIP_WER, `"${heard}" vs "${reply}"`);
  });

  it('rejects a mismatched sample_rate and an odd PCM16 byte count, and keeps listening', async () => {
    const client = await configured({ sample_rate: 16000 });
    client.send({ type: 'audio.append', audio: Buffer.alloc(320).toString('base64'), sample_rate: 24000 });
    assert.equal((await client.expect('error')).code, 'sample_rate_mismatch');
    client.sendRaw(Buffer.alloc(321));
    assert.equal((await client.expect('error')).code, 'invalid_audio');
    client.send({ type: 'audio.append', audio: Buffer.alloc(321).toString('base64') });
    assert.equal((await client.expect('error')).code, 'invalid_audio');
    await streamAudio(client, Buffer.concat([prompt16k, silence(1.6)]), { bytesPerSecond: 32000, speed: 4 });
    assert.equal(normalizeWords((await client.nextOf('transcript.committed', { timeoutMs: 20_000 })).text), PROMPT);
  });

  it('refuses a language the local recogniser does not speak', async () => {
    const client = await connectReady(testApp);
    client.send({ type: 'session.configure', stt: { language_code: 'fr' } });
    assert.equal((await client.expect('error')).code, 'unsupported_language');
  });
});

/** Bounds set from measurements (PocketSphinx en-US, Debian 0.8+5prealpha) with a margin; see README. */
const MAX_MEAN_WER = 0.6;
const MAX_ROUND_TRIP_WER = 0.45;

describe('voice input without the local STT packages', () => {
  let testApp: TestApp;
  before(async () => {
    testApp = await startTestApp({ LOCAL_STT_MODEL_DIR: '/nonexistent/pocketsphinx' });
  });
  after(() => testApp.close());

  it('starts, says why in /v1/voice/config and /health/ready, and answers speech with the packages to install', async () => {
    const config = (await (await fetch(`${testApp.httpUrl}/v1/voice/config`)).json()) as { stt: { providers: Array<{ id: string; available: boolean; reason: string }>; default_provider: null } };
    const local = config.stt.providers.find((p) => p.id === 'local')!;
    assert.equal(local.available, false);
    assert.match(local.reason, /libpocketsphinx3 pocketsphinx-en-us/);
    assert.equal(config.stt.default_provider, null);
    const ready = await fetch(`${testApp.httpUrl}/health/ready`);
    assert.equal(ready.status, 200, 'text turns still work');
    assert.match(JSON.stringify(await ready.json()), /unavailable: local speech recognition needs/);

    const explicit = await connectReady(testApp);
    explicit.send({ type: 'session.configure', stt: { provider: 'local' } });
    const refused = await explicit.expect('error');
    assert.equal(refused.code, 'provider_unavailable');
    assert.match(refused.message, /pocketsphinx-en-us/);

    const client = await connectConfigured(testApp);
    client.sendRaw(Buffer.alloc(3200));
    const error = await client.expect('error');
    assert.equal(error.code, 'stt_unavailable');
    assert.match(error.message, /apt-get install -y libpocketsphinx3 pocketsphinx-en-us/);
  });

  it('says once that speech input is stopped, then drops audio without an error per chunk, with a counted reminder', async () => {
    const client = await connectConfigured(testApp);
    client.sendRaw(Buffer.alloc(3200));
    const first = await client.expect('error');
    assert.equal(first.code, 'stt_unavailable');
    assert.match(first.message, /Further audio is dropped; .*reminder with the count follows every 60 s/);
    // 40 more chunks (binary and base64) get no error each (well under MAX_MESSAGES_PER_SECOND).
    for (let i = 0; i < 20; i++) {
      client.sendRaw(Buffer.alloc(3200));
      client.send({ type: 'audio.append', audio: Buffer.alloc(3200).toString('base64') });
    }
    assert.ok(await client.quietFor(800), 'no error per dropped chunk');
    VoiceSession.speechStoppedReminderMs = 300;
    try {
      client.sendRaw(Buffer.alloc(3200));
      const reminder = await client.expect('error');
      assert.equal(reminder.code, 'stt_unavailable');
      assert.match(reminder.message, /41 audio chunks in the last \d+ s were dropped/);
      client.sendRaw(Buffer.alloc(3200));
      assert.ok(await client.quietFor(150), 'the count restarts after a reminder');
    } finally {
      VoiceSession.speechStoppedReminderMs = 60_000;
    }
    client.send({ type: 'text.prompt', text: 'hello' });
    assert.equal((await client.nextOf('assistant.message', { timeoutMs: 15_000 })).type, 'assistant.message', 'the session still answers text');
    await client.close();
  });
});
