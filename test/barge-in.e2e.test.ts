import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { FliteSynthesizer, splitSentences } from '@app/engines';
import type { ServerEvent } from '@app/protocol';
import { FakeOpenAi, normalizeWords, playWithEcho, silence, streamAudio, synthesizeSpeech, type VoiceTestClient } from '@app/testing';
import { createReferenceBackend } from '@apps/reference-backend';
import { heardText, type TextMark } from '../src/voice/session/heard-text.js';
import { useElevenLabsStack } from './utils/elevenlabs-stack.js';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';

const REPLY =
  'Rome was founded in the eighth century before our era. It grew from a small town into a great empire. ' +
  'Its roads reached every corner of Europe. Many of them are still in use today. Its laws shaped the legal systems of many countries.';
const QUESTION = 'what time is it now';
const VAD = { commit_strategy: 'vad', vad_silence_threshold_secs: 0.8 };
// turn.metrics (the turn's timing record, sent when it ends) is not part of the turn's output.
const turnOf = (e: ServerEvent): number | undefined => (e.type !== 'turn.metrics' && 'turn_id' in e ? e.turn_id : undefined);

interface ChatCall {
  message: string;
  interrupted?: { turn_id: number; message: string; reply: string; heard: string };
  aborted: boolean;
}

/** A chat backend on loopback: answers REPLY (after 4 s for messages containing "slowly") and records each call. */
async function startFakeBackend(): Promise<{ url: string; calls: ChatCall[]; close(): Promise<void> }> {
  const calls: ChatCall[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      if (req.url !== '/v1/chat') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"registration_id":"reg_fake"}');
        return;
      }
      const body = JSON.parse(Buffer.concat(parts).toString()) as ChatCall;
      const call: ChatCall = { message: body.message, ...(body.interrupted ? { interrupted: body.interrupted } : {}), aborted: false };
      calls.push(call);
      res.on('close', () => {
        if (!res.writableEnded) call.aborted = true;
      });
      const answer = () => res.writableEnded || res.destroyed || res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: REPLY }));
      if (body.message.includes('slowly')) setTimeout(answer, 4000).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Where the service's flite puts each sentence of `text`: the same synthesis, timed by its audio length. */
async function fliteMarks(flite: FliteSynthesizer, text: string, sampleRate: number): Promise<TextMark[]> {
  const marks: TextMark[] = [];
  let at = 0;
  for (const sentence of splitSentences(text)) {
    const { pcm } = await flite.synthesize({ text: sentence, voice: 'slt', sampleRate, speed: 1 });
    const ms = (pcm.byteLength / 2 / sampleRate) * 1000;
    marks.push({ text: sentence, startMs: at, endMs: at + ms });
    at += ms;
  }
  return marks;
}

async function waitForChunks(client: VoiceTestClient, turnId: number, count: number): Promise<void> {
  await client.until((e) => e.type === 'assistant.audio.chunk' && e.turn_id === turnId && e.chunk_index >= count, { timeoutMs: 20_000 });
}

describe('barge-in on the embedded engines', () => {
  let testApp: TestApp;
  let backend: Awaited<ReturnType<typeof startFakeBackend>>;
  let flite: FliteSynthesizer;
  let question: Buffer;
  let marks24k: TextMark[];

  before(async () => {
    backend = await startFakeBackend();
    testApp = await startTestApp({ BACKEND_BASE_URL: backend.url, DEFAULT_REGISTRATION_ID: 'reg_fake', STT_WORKERS: '1' });
    flite = new FliteSynthesizer({ threads: 1 });
    question = Buffer.concat([silence(0.2), await synthesizeSpeech(flite, QUESTION), silence(1.2)]);
    marks24k = await fliteMarks(flite, REPLY, 24000);
  });
  after(async () => {
    await testApp.close();
    await backend.close();
    await flite.close();
  });

  it('user speech while the assistant speaks stops its audio at once, reports what was heard, answers the new question and tells the backend', async () => {
    const client = await connectConfigured(testApp, { stt: VAD });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 40); // 6.4 s of audio sent
    client.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: 5000 });
    const speaking = streamAudio(client, question, { bytesPerSecond: 32000 });
    const before = await client.until((e) => e.type === 'assistant.interrupted', { timeoutMs: 15_000 });
    assert.ok(before.some((e) => e.type === 'user.speech_started'), 'user.speech_started came first');
    const interrupted = before.at(-1) as ServerEvent & { type: 'assistant.interrupted' };
    const expected = heardText(marks24k, 5000);
    assert.deepEqual(interrupted, { type: 'assistant.interrupted', turn_id: 1, reason: 'user_speech', played_ms: 5000, heard_text: expected });
    assert.ok(expected.length > 20 && REPLY.startsWith(expected) && REPLY.length > expected.length, `heard "${expected}"`);
    assert.match(REPLY.slice(expected.length), /^[\s.,]/, 'cut at a word boundary');
    await speaking;
    const rest = await client.until((e) => e.type === 'assistant.audio.end' && e.turn_id === 2, { timeoutMs: 20_000 });
    // After assistant.interrupted only the turn's timings (turn.metrics, outcome interrupted) follow.
    const after = rest.filter((e) => turnOf(e) === 1 && e.type !== 'turn.metrics');
    assert.deepEqual(after, [], 'nothing more of turn 1 but its timings, not even its audio.end');
    const metrics = client.events.find((e) => e.type === 'turn.metrics' && e.turn_id === 1);
    assert.equal(metrics?.type === 'turn.metrics' && metrics.outcome, 'interrupted');
    assert.equal(normalizeWords((rest.find((e) => e.type === 'assistant.started') as { text: string }).text), QUESTION);
    const call = backend.calls.at(-1)!;
    assert.equal(normalizeWords(call.message), QUESTION);
    assert.deepEqual(call.interrupted, { turn_id: 1, message: 'tell me about rome', reply: REPLY, heard: expected });
    client.send({ type: 'assistant.cancel' });
  });

  it('user speech while the assistant is still thinking drops the pending reply and answers both texts as one turn', async () => {
    const client = await connectConfigured(testApp, { stt: VAD });
    client.send({ type: 'text.prompt', text: 'tell me about rome slowly' });
    await client.nextOf('assistant.started');
    await streamAudio(client, question, { bytesPerSecond: 32000 });
    const events = await client.until((e) => e.type === 'assistant.started', { timeoutMs: 15_000 });
    const interrupted = events.find((e) => e.type === 'assistant.interrupted');
    assert.deepEqual(interrupted, { type: 'assistant.interrupted', turn_id: 1, reason: 'user_speech', played_ms: 0, heard_text: '' });
    assert.ok(!events.some((e) => e.type === 'assistant.message' || e.type === 'assistant.audio.start'), 'the dropped reply never arrives');
    const started = events.at(-1) as { text: string; turn_id: number };
    assert.equal(started.turn_id, 2);
    assert.equal(normalizeWords(started.text), `tell me about rome slowly ${QUESTION}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(backend.calls.find((c) => c.message === 'tell me about rome slowly')?.aborted, true, 'the slow backend call was aborted');
    await client.close();
  });

  // With the default min_words: 0, local STT interrupts on speech the echo detector calls the user,
  // before any words are known: a backchannel is only recognised as one with min_words >= 1.
  it('a backchannel while the assistant speaks (min_words: 1) neither interrupts nor starts a turn', async () => {
    const client = await connectConfigured(testApp, { stt: VAD, interruption: { min_words: 1 } });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 5);
    const yeah = Buffer.concat([silence(0.2), await synthesizeSpeech(flite, 'yeah'), silence(1.2)]);
    await streamAudio(client, yeah, { bytesPerSecond: 32000 });
    const events = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 10_000 });
    assert.equal(normalizeWords((events.at(-1) as { text: string }).text), 'yeah');
    assert.ok(events.some((e) => e.type === 'user.speech_started'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(!client.events.some((e) => e.type === 'assistant.interrupted' || (e.type === 'assistant.started' && e.turn_id === 2)));
    client.send({ type: 'assistant.cancel' });
    await client.nextOf('assistant.interrupted');
    assert.ok(await client.quietFor(1500), 'no turn for the backchannel after the cancel either');
    assert.ok(!client.events.some((e) => e.type === 'assistant.started' && e.turn_id === 2));
  });

  // A short "yeah" may or may not stop the reply on sound alone (the documented trade-off of
  // min_words: 0); either way it must start no turn.
  it('with the default min_words: 0 a backchannel starts no turn, whether or not it stopped the reply', async () => {
    const client = await connectConfigured(testApp, { stt: VAD });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 5);
    const yeah = Buffer.concat([silence(0.2), await synthesizeSpeech(flite, 'yeah'), silence(1.2)]);
    await streamAudio(client, yeah, { bytesPerSecond: 32000 });
    const events = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 10_000 });
    const committed = events.at(-1) as { text: string; turn_id?: number };
    assert.equal(normalizeWords(committed.text), 'yeah');
    assert.equal(committed.turn_id, undefined, 'the backchannel starts no turn');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(!client.events.some((e) => e.type === 'assistant.started' && e.turn_id === 2));
  });

  it('min_words: shorter speech does not interrupt (it waits its turn), speech with enough words does', async () => {
    const client = await connectConfigured(testApp, { stt: VAD, interruption: { min_words: 3 } });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 5);
    const yes = Buffer.concat([silence(0.2), await synthesizeSpeech(flite, 'yes'), silence(1.2)]);
    await streamAudio(client, yes, { bytesPerSecond: 32000 });
    const first = await client.until((e) => e.type === 'transcript.committed', { timeoutMs: 10_000 });
    assert.ok(!first.some((e) => e.type === 'assistant.interrupted'), 'one word does not interrupt');
    await streamAudio(client, question, { bytesPerSecond: 32000 });
    const second = await client.until((e) => e.type === 'assistant.interrupted' || (e.type === 'transcript.committed'), { timeoutMs: 10_000 });
    assert.equal(second.at(-1)?.type, 'assistant.interrupted', 'five words interrupt before their commit');
    // The queued one-word turn is answered (cancelled here), then the question.
    await client.until((e) => e.type === 'assistant.audio.chunk' && e.turn_id === 2, { timeoutMs: 20_000 });
    client.send({ type: 'assistant.cancel' });
    const rest = await client.until((e) => e.type === 'assistant.started' && e.turn_id === 3, { timeoutMs: 20_000 });
    assert.equal(normalizeWords((rest.at(-1) as { text: string }).text), QUESTION);
    client.send({ type: 'assistant.cancel' });
  });

  it('assistant.cancel stops the turn with client_cancel and the reported played_ms; the next call carries what was heard', async () => {
    const client = await connectConfigured(testApp);
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 20);
    client.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: 2100 });
    client.send({ type: 'assistant.cancel' });
    const interrupted = await client.nextOf('assistant.interrupted');
    const heard = heardText(marks24k, 2100);
    assert.deepEqual(interrupted, { type: 'assistant.interrupted', turn_id: 1, reason: 'client_cancel', played_ms: 2100, heard_text: heard });
    const metrics = await client.nextOf('turn.metrics');
    assert.equal(metrics.outcome, 'interrupted');
    assert.ok(await client.quietFor(400), 'no more events of the cancelled turn after its timings');
    client.send({ type: 'assistant.cancel' }); // nothing active: no event
    assert.ok(await client.quietFor(300));
    client.send({ type: 'text.prompt', text: 'go on' });
    await client.nextOf('assistant.message');
    assert.deepEqual(backend.calls.at(-1)!.interrupted, { turn_id: 1, message: 'tell me about rome', reply: REPLY, heard });
    client.send({ type: 'assistant.cancel' });
  });

  it('a turn is active until the client reports its audio played: then cancel does nothing', async () => {
    const client = await connectConfigured(testApp, { tts: { output_format: 'pcm_16000' } });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    const end = await client.nextOf('assistant.audio.end', { timeoutMs: 20_000 });
    const chunks = client.events.filter((e) => e.type === 'assistant.audio.chunk' && e.turn_id === 1) as Array<{ audio: string }>;
    const totalMs = Math.round(chunks.reduce((n, c) => n + Buffer.from(c.audio, 'base64').length, 0) / 32);
    assert.equal(end.chunk_count, chunks.length);
    // All audio was sent, but it is still playing: cancel interrupts, estimated from the first chunk's time.
    client.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: totalMs });
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.send({ type: 'assistant.cancel' });
    assert.ok(await client.quietFor(500), 'played to the end: the turn is over');
    client.send({ type: 'text.prompt', text: 'go on' });
    await client.nextOf('assistant.audio.chunk');
    client.send({ type: 'assistant.cancel' });
    const interrupted = await client.nextOf('assistant.interrupted');
    assert.equal(interrupted.turn_id, 2);
    assert.ok(interrupted.played_ms < 2000, `estimated ${interrupted.played_ms} ms played right after the first chunk`);
  });

  it('enabled: false keeps the assistant talking and queues the user turn', async () => {
    const client = await connectConfigured(testApp, { stt: VAD, interruption: { enabled: false } });
    const arrived = new Map<string, number>();
    client.socket.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString('utf8')) as { type: string; turn_id?: number };
      arrived.set(event.type === 'transcript.committed' ? event.type : `${event.type}:${event.turn_id ?? ''}`, performance.now());
    });
    client.send({ type: 'text.prompt', text: 'tell me about rome' });
    await waitForChunks(client, 1, 3);
    await streamAudio(client, question, { bytesPerSecond: 32000 });
    const events = await client.until((e) => e.type === 'assistant.started' && e.turn_id === 2, { timeoutMs: 30_000 });
    assert.ok(!events.some((e) => e.type === 'assistant.interrupted'));
    const end = client.events.find((e) => e.type === 'assistant.audio.end' && e.turn_id === 1) as { chunk_count: number } | undefined;
    const chunks = client.events.filter((e) => e.type === 'assistant.audio.chunk' && e.turn_id === 1).length;
    assert.equal(end?.chunk_count, chunks, 'turn 1 sent all its audio');
    assert.ok(chunks > 60, `${chunks} chunks: the whole reply`);
    // Without barge-in the next turn does not wait for playback: it starts as soon as the commit is in
    // and turn 1's audio is sent (the embedded TTS paces a session to 2x real time, so turn 1 may still
    // be sending when the user's turn commits), not after turn 1's chunks would have played.
    assert.ok(events.some((e) => e.type === 'transcript.committed'));
    const ready = Math.max(arrived.get('transcript.committed')!, arrived.get('assistant.audio.end:1')!);
    const gap = arrived.get('assistant.started:2')! - ready;
    assert.ok(gap < 3000 && gap < (chunks * 160) / 2, `turn 2 started ${gap.toFixed(0)} ms after the commit and turn 1's last audio`);
    assert.equal(normalizeWords((events.at(-1) as { text: string }).text), QUESTION);
    await client.close();
  });

  it('with VAD commits, speech followed by no audio at all commits after the silence window', async () => {
    const client = await connectConfigured(testApp, { stt: VAD });
    const speech = await synthesizeSpeech(flite, QUESTION);
    await streamAudio(client, Buffer.concat([silence(0.2), speech]), { bytesPerSecond: 32000 });
    const stopped = performance.now();
    const committed = await client.nextOf('transcript.committed', { timeoutMs: 5000 });
    const waited = performance.now() - stopped;
    assert.equal(normalizeWords(committed.text), QUESTION);
    // The silence window (0.8 s) plus recognition, which is slower on a loaded machine.
    assert.ok(waited >= 800 && waited < 6000, `committed ${Math.round(waited)} ms after the audio stopped`);
    await client.close();
  });
});

describe('barge-in with the reference backend and an LLM', () => {
  it("the reference backend's next LLM request carries the history as heard", async () => {
    const openai = await FakeOpenAi.start();
    const reference: INestApplication = await createReferenceBackend({}, false);
    await reference.listen(0, '127.0.0.1');
    const app = await startTestApp({
      BACKEND_BASE_URL: (await reference.getUrl()).replace('[::1]', '127.0.0.1'),
      LLM_API_KEY: 'sk-test',
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: openai.baseUrl,
    });
    try {
      const client = await connectConfigured(app);
      const long = 'please tell me everything about the history of rome and its roads and its laws and its emperors';
      client.send({ type: 'text.prompt', text: long });
      await waitForChunks(client, 1, 15);
      client.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: 1800 });
      client.send({ type: 'assistant.cancel' });
      const { heard_text } = await client.nextOf('assistant.interrupted');
      assert.ok(heard_text.startsWith('The model heard:') && heard_text.length < `The model heard: ${long}`.length, heard_text);
      client.send({ type: 'text.prompt', text: 'and then' });
      await client.nextOf('assistant.message');
      assert.deepEqual(openai.requests.at(-1)!.body.messages, [
        { role: 'user', content: long },
        { role: 'assistant', content: heard_text },
        { role: 'user', content: 'and then' },
      ]);
    } finally {
      await app.close();
      await reference.close();
      await openai.close();
    }
  });
});

// PocketSphinx recognises the echoed reply poorly (e.g. "Rome was founded in the eighth century" as
// "that has found that a center a hub for our area"), so words cannot tell echo from the user: the
// session's acoustic echo detector (reply audio against microphone audio) does.
it("echo of the assistant's own reply at speaking level does not interrupt; a user utterance mixed in does", async () => {
  const testApp = await startTestApp({ STT_WORKERS: '1' });
  const flite = new FliteSynthesizer({ threads: 1 });
  try {
    const client = await connectConfigured(testApp, { stt: VAD, tts: { output_format: 'pcm_16000' } });
    client.send({ type: 'text.prompt', text: 'tell me a story about the history of rome and its roads and its laws and its emperors' });
    const echoOnly = await playWithEcho(client, { turnId: 1, report: true });
    const heard = client.events.filter((e) => e.type === 'transcript.partial').map((e) => (e as { text: string }).text);
    assert.equal(echoOnly.interruptedAtMs, undefined, `the echo interrupted; partials: ${heard.join(' | ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(!client.events.some((e) => e.type === 'assistant.started' && e.turn_id === 2), 'and started no turn');

    const user = await flite.synthesize({ text: QUESTION, voice: 'awb', sampleRate: 16000, speed: 1 });
    client.send({ type: 'text.prompt', text: 'tell me a story about the history of rome and its roads and its laws and its emperors' });
    const mixed = await playWithEcho(client, { turnId: 2, report: true, user: { pcm: Buffer.from(user.pcm), atMs: 3000 } });
    assert.ok(mixed.interruptedAtMs !== undefined && mixed.interruptedAtMs > 3000, `interrupted at ${mixed.interruptedAtMs} ms`);
  } finally {
    await testApp.close();
    await flite.close();
  }
});

// Through a reverberant room (500 ms tail, as much reverberant as direct energy) the envelope's
// one-lag prediction cannot explain the echo in the reply's pauses; the spectral check does, once it
// has learned the session's echo path, and a session's first reply locks on to its echo from its
// first sounds (loudness and spectral fine structure, echo-detector.ts followOnset).
const REPLY_PROMPT = 'tell me a story about the history of rome and its roads and its laws and its emperors';
const ROOM = { rt60Ms: 500, wet: 1, seed: 5 };

it("echo of the reply through a reverberant room interrupts neither a session's first reply nor its second (detectors on the event loop)", async () => {
  // ECHO_WORKERS=0: this test covers the detectors on the event loop (verdicts delivered at once);
  // the others run them in the default worker thread.
  const testApp = await startTestApp({ STT_WORKERS: '1', ECHO_WORKERS: '0' });
  try {
    const client = await connectConfigured(testApp, { stt: VAD, tts: { output_format: 'pcm_16000' } });
    for (const turnId of [1, 2]) {
      client.send({ type: 'text.prompt', text: REPLY_PROMPT });
      const echoOnly = await playWithEcho(client, { turnId, report: true, room: ROOM });
      assert.equal(echoOnly.interruptedAtMs, undefined, `turn ${turnId}: the reverberant echo interrupted at ${echoOnly.interruptedAtMs} ms`);
    }
  } finally {
    await testApp.close();
  }
});

// Issue 10 (open): a user over that room's echo. The spectral check explains most of this question
// (flite awb over the slt reply's reverberant echo: its unexplained share stays at 0.05-0.17 against
// the 0.3 that means the user), and the envelope follows the echo, so the user is not heard over it.
// Kept as a todo so the gap stays visible and a fix shows up as this test passing.
it('a user utterance over the echo of the reply through a reverberant room interrupts it', { todo: 'issue 10: a user over a reverberant echo is not told apart from it (README "Barge-in")' }, async () => {
  const testApp = await startTestApp({ STT_WORKERS: '1' });
  const flite = new FliteSynthesizer({ threads: 1 });
  try {
    const client = await connectConfigured(testApp, { stt: VAD, tts: { output_format: 'pcm_16000' } });
    client.send({ type: 'text.prompt', text: REPLY_PROMPT });
    await playWithEcho(client, { turnId: 1, report: true, room: ROOM });
    const user = await flite.synthesize({ text: QUESTION, voice: 'awb', sampleRate: 16000, speed: 1 });
    client.send({ type: 'text.prompt', text: REPLY_PROMPT });
    const mixed = await playWithEcho(client, { turnId: 2, report: true, room: ROOM, user: { pcm: Buffer.from(user.pcm), atMs: 3000 } });
    assert.ok(mixed.interruptedAtMs !== undefined && mixed.interruptedAtMs > 3000, `interrupted at ${mixed.interruptedAtMs} ms`);
  } finally {
    await testApp.close();
    await flite.close();
  }
});

describe('barge-in with ElevenLabs STT (the emulator)', () => {
  const stack = useElevenLabsStack('xi-barge-in-key', { STT_WORKERS: '1' });

  // Scribe sends no speech-start event: the first partial is the first sign of the user. The echo
  // detector has judged the microphone audio as it arrived, so the partial that brings the first
  // word interrupts in the same tick (the event right after it), not on a later partial.
  it('the first partial with a word interrupts at once when the detector already heard the user', async () => {
    const client = await stack.testApp.connect();
    await client.expect('session.ready');
    client.send({ type: 'session.configure', stt: { provider: 'elevenlabs', ...VAD }, tts: { provider: 'local', output_format: 'pcm_16000' } });
    await client.expect('session.configured');
    await client.expect('stt.session_started', { timeoutMs: 20_000 });
    client.send({ type: 'text.prompt', text: 'tell me a story about the history of rome and its roads and its laws and its emperors' });
    await waitForChunks(client, 1, 3);
    const question = Buffer.concat([silence(0.2), await synthesizeSpeech(stack.flite, QUESTION), silence(1.2)]);
    await streamAudio(client, question, { bytesPerSecond: 32000, chunkMs: 20 });
    await client.until((e) => e.type === 'assistant.interrupted' && e.turn_id === 1, { timeoutMs: 10_000 });
    const events = client.events;
    const interrupted = events.findIndex((e) => e.type === 'assistant.interrupted');
    const firstPartial = events.findIndex((e) => e.type === 'transcript.partial' && e.text.trim() !== '');
    const partials = events.filter((e) => e.type === 'transcript.partial').map((e) => (e as { text: string }).text);
    assert.ok(firstPartial >= 0 && firstPartial < interrupted, 'a partial came first');
    assert.equal(interrupted, firstPartial + 1, `interrupted right after the first partial; partials: ${partials.join(' | ')}`);
    assert.ok(!events.slice(interrupted + 1).some((e) => turnOf(e) === 1 && e.type.startsWith('assistant.audio')), 'no audio of the turn after it');
    await client.close();
  });
});
