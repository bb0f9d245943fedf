/**
 * Barge-in: how fast user speech stops the assistant, and how often the assistant's own voice
 * (a speakerphone without echo cancellation) stops it by mistake.
 *
 * - Reaction time: a session asks for a reply that a chat backend streams (bench/streaming-backend.ts,
 *   its own process: 4 sentences at 40 tokens/s, so the reply's later sentences are still being
 *   synthesised and sent when the user speaks); once its audio plays, the client streams a spoken
 *   question (flite) in real time. Measured from the moment the speech starts in the input audio
 *   (its first loud 10 ms, sent in real time) to `assistant.interrupted`, and to the last audio event
 *   of the interrupted turn received (negative: the turn's audio had stopped before the speech
 *   started, e.g. fully sent). Local STT (Silero VAD + PocketSphinx), and the ElevenLabs emulator
 *   (its `local` transcriber), where it is also measured from the emulator's first partial of the
 *   utterance (sent by the emulator; same wall clock), with which partial it happened.
 * - Echo: replies (varied texts, four flite voices) played back into the microphone at speaking
 *   level, 100 ms late, in three acoustic conditions: `plain` (delay and gain), `room` (reverberation:
 *   early reflections and a 500 ms velvet-noise tail, as much reverberant as direct energy) and
 *   `speakerphone` (the room plus a 300-3400 Hz band limit and soft clipping; libs/testing room.ts).
 *   Any `assistant.interrupted` is a false interruption (2 sessions at a time, one per recogniser thread). Then the same with a user question mixed in
 *   2.5 s into the reply (flite `awb` and espeak-ng, a second engine): it must interrupt.
 *
 * The service and the chat backend run as their own processes; the emulator and clients run here.
 *   node dist/bench/barge-in.js [trials=10] [echoReplies=20] [userTrials=6] [conditions=plain,room,speakerphone]
 * BARGE_IN_DEBUG=1 prints each echo run's outcome and its last partial/committed transcripts;
 * BARGE_IN_DEBUG=log also prints the service's debug log (its echo checks).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { FliteSynthesizer } from '@app/engines';
import { INTERRUPTION_DEFAULTS } from '@app/protocol';
import { playWithEcho, silence, speechSpan, streamAudio, synthesizeEspeak, synthesizeSpeech, VoiceTestClient, type RoomOptions } from '@app/testing';
import { ECHO_CONDITIONS, ECHO_REPLIES, ECHO_VOICES } from './echo-fixtures.js';
import { formatMs, freePort, startService, summarize } from './lib.js';

const trials = Number(process.argv[2] ?? 10);
const echoReplies = Number(process.argv[3] ?? 20);
const userTrials = Number(process.argv[4] ?? 6);
const conditionNames = (process.argv[5] ?? 'plain,room,speakerphone').split(',');
const now = () => performance.timeOrigin + performance.now();
const QUESTIONS = ['what time is it now', 'tell me about the weather in london instead', 'wait stop please', 'how far is the moon from here'];
const ECHO_PARALLEL = 2;

const backendPort = await freePort();
const backend = spawn(process.execPath, [fileURLToPath(new URL('./streaming-backend.js', import.meta.url))], {
  env: { PATH: process.env['PATH'] ?? '', PORT: String(backendPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve) => backend.stdout.once('data', () => resolve()));
const flite = new FliteSynthesizer({ threads: 1 });
let firstPartialAt: number | undefined;
const emulator = await startElevenLabsEmulator({
  transcriber: 'local',
  onSttEmit: (message, at) => {
    if (message.message_type === 'partial_transcript' && firstPartialAt === undefined && String(message.text).trim()) firstPartialAt = at;
  },
});
const service = await startService({
  ELEVENLABS_API_KEY: 'bench',
  ELEVENLABS_BASE_URL: emulator.baseUrl,
  BACKEND_BASE_URL: `http://127.0.0.1:${backendPort}`,
  STT_WORKERS: '2',
  TTS_WORKERS: '1',
  ...(process.env['BARGE_IN_DEBUG'] === 'log' ? { LOG_LEVEL: 'debug' } : {}),
});

async function configured(registration: string, stt: Record<string, unknown>, tts: Record<string, unknown> = {}): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(service.wsUrl);
  await client.expect('session.ready', { timeoutMs: 30_000 });
  client.send({
    type: 'session.configure',
    backend: { registration_id: registration },
    stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 0.8, ...stt },
    tts: { provider: 'local', ...tts },
  });
  await client.expect('session.configured', { timeoutMs: 30_000 });
  await client.expect('stt.session_started', { timeoutMs: 30_000 });
  return client;
}

interface Reaction {
  toInterrupted: number;
  toLastAudio: number;
  fromFirstPartial?: number;
  /** Partials of the utterance the client had received when the interruption came (the service emits the partial first). */
  partialsBefore: number;
  audioStillSending: boolean;
  /** Audio events of the turn received after its assistant.interrupted (must be 0). */
  audioAfter: number;
}

async function reaction(provider: 'local' | 'elevenlabs', question: string): Promise<Reaction | undefined> {
  const client = await configured('stream', { provider });
  try {
    const speech = await synthesizeSpeech(flite, question);
    const input = Buffer.concat([silence(0.3), speech, silence(1.2)]);
    const onsetMs = 300 + speechSpan(speech).start * 1000;
    client.send({ type: 'text.prompt', text: 'plan a weekend trip to the coast' });
    await client.until((e) => e.type === 'assistant.audio.chunk' && e.turn_id === 1, { timeoutMs: 20_000 });
    let interruptedAt: number | undefined;
    let lastAudioAt = 0;
    let audioEnded = false;
    let partials = 0;
    let partialsBefore = 0;
    let audioAfter = 0;
    client.socket.on('message', (data) => {
      const event = JSON.parse(data.toString()) as { type: string; turn_id?: number };
      if (event.type === 'transcript.partial') partials++;
      if (event.turn_id !== 1) return;
      if (event.type === 'assistant.interrupted' && interruptedAt === undefined) {
        interruptedAt = now();
        partialsBefore = partials;
      } else if (event.type.startsWith('assistant.audio')) {
        lastAudioAt = now();
        if (interruptedAt !== undefined) audioAfter++;
      }
      if (event.type === 'assistant.audio.end') audioEnded = true;
    });
    firstPartialAt = undefined;
    const sendStart = now();
    const speechAt = sendStart + onsetMs;
    await streamAudio(client, input, { bytesPerSecond: 32000, chunkMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (interruptedAt === undefined) return undefined;
    return {
      toInterrupted: interruptedAt - speechAt,
      toLastAudio: lastAudioAt - speechAt,
      ...(provider === 'elevenlabs' && firstPartialAt !== undefined ? { fromFirstPartial: interruptedAt - firstPartialAt } : {}),
      partialsBefore,
      audioAfter,
      audioStillSending: !audioEnded && lastAudioAt > speechAt - 100,
    };
  } finally {
    await client.close();
  }
}

/**
 * One echoed reply per session, ECHO_PARALLEL sessions at a time; `user` mixes a question in 2.5 s
 * after playback starts. Echo at speaking level keeps each session's recogniser decoding all along,
 * so more sessions than recogniser threads would lag the VAD behind real time and hide both false
 * interruptions and missed users.
 */
async function echoRuns(count: number, room: RoomOptions | undefined, user?: (i: number) => Buffer): Promise<{ interrupted: number; playedMs: number; afterUserMs: number[] }> {
  let interrupted = 0;
  let playedMs = 0;
  const afterUserMs: number[] = [];
  const runs = Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < runs.length; i += ECHO_PARALLEL) {
    await Promise.all(
      runs.slice(i, i + ECHO_PARALLEL).map(async (n) => {
        const client = await configured('parrot', { provider: 'local' }, { output_format: 'pcm_16000', voice_id: ECHO_VOICES[n % ECHO_VOICES.length] });
        try {
          client.send({ type: 'text.prompt', text: ECHO_REPLIES[n % ECHO_REPLIES.length]! });
          const pcm = user?.(n);
          const atMs = 2500;
          const result = await playWithEcho(client, { turnId: 1, report: true, delayMs: 100, ...(room ? { room } : {}), ...(pcm ? { user: { pcm, atMs } } : {}) });
          playedMs += result.playedMs;
          if (process.env['BARGE_IN_DEBUG']) {
            const texts = client.events.filter((e) => e.type === 'transcript.partial' || e.type === 'transcript.committed').map((e) => `${e.type === 'transcript.committed' ? 'C' : 'P'}:${(e as { text: string }).text}`);
            console.log(`    [${n}] interrupted ${result.interruptedAtMs ?? '-'} ms; ${texts.slice(-4).join(' | ')}`);
          }
          if (result.interruptedAtMs !== undefined) {
            interrupted++;
            if (pcm) afterUserMs.push(result.interruptedAtMs - (atMs + speechSpan(pcm).start * 1000));
          }
        } finally {
          await client.close();
        }
      }),
    );
  }
  return { interrupted, playedMs, afterUserMs };
}

try {
  const { min_speech_ms } = INTERRUPTION_DEFAULTS;
  for (const provider of ['local', 'elevenlabs'] as const) {
    if (trials === 0) break;
    const results: Reaction[] = [];
    let missed = 0;
    for (let i = 0; i < trials; i++) {
      const question = QUESTIONS[i % QUESTIONS.length]!;
      const result = await reaction(provider, question);
      if (process.env['BARGE_IN_DEBUG']) console.log(`  ${provider} "${question}": ${result ? `interrupted ${result.toInterrupted.toFixed(0)} ms after speech start` : 'missed'}`);
      if (result) results.push(result);
      else missed++;
    }
    const label = provider === 'local' ? 'local STT' : 'ElevenLabs emulator';
    console.log(`${label}: ${results.length}/${trials} interrupted (${missed} missed)`);
    console.log(`  speech start -> assistant.interrupted: ${formatMs(summarize(results.map((r) => r.toInterrupted)))}`);
    const sending = results.filter((r) => r.audioStillSending);
    console.log(`  speech start -> last audio event of the turn: ${formatMs(summarize(results.map((r) => r.toLastAudio)))} (audio still being sent at speech start in ${sending.length}/${results.length}; audio events after assistant.interrupted: ${results.reduce((n, r) => n + r.audioAfter, 0)})`);
    if (provider === 'local') console.log(`  goal: interrupted within min_speech_ms + 150 = ${min_speech_ms + 150} ms`);
    else {
      console.log(`  first partial -> assistant.interrupted: ${formatMs(summarize(results.flatMap((r) => (r.fromFirstPartial === undefined ? [] : [r.fromFirstPartial]))))}`);
      const onFirst = results.filter((r) => r.partialsBefore === 1).length;
      console.log(`  interrupted with the first partial in ${onFirst}/${results.length} (partials received before it: ${results.map((r) => r.partialsBefore).join(' ')})`);
      console.log('  goal: within 50 ms of the first partial (the partial must pass the backchannel and echo checks)');
    }
  }

  const espeakUser = await synthesizeEspeak('wait a moment, what time is it now', 'en-us');
  const fliteUser = Buffer.from((await flite.synthesize({ text: 'tell me about the weather in london instead', voice: 'awb', sampleRate: 16000, speed: 1 })).pcm);
  for (const name of conditionNames) {
    const room = ECHO_CONDITIONS[name];
    if (!(name in ECHO_CONDITIONS)) throw new Error(`unknown echo condition ${name}`);
    if (echoReplies > 0) {
      const echo = await echoRuns(echoReplies, room);
      console.log(`echo (${name}): ${echo.interrupted} false interruptions over ${echoReplies} echoed replies (${(echo.playedMs / 1000).toFixed(0)} s of reply audio fed back at speaking level); goal: 0`);
    }
    for (const [voice, pcm] of [['flite awb', fliteUser], ['espeak-ng', espeakUser]] as const) {
      if (userTrials === 0) break;
      const mixed = await echoRuns(userTrials, room, () => pcm);
      console.log(`  user (${voice}) over the echo (${name}): interrupted ${mixed.interrupted}/${userTrials}; speech start -> interrupted: ${formatMs(summarize(mixed.afterUserMs))}`);
    }
  }
} finally {
  await service.stop();
  await emulator.close();
  await flite.close();
  backend.kill('SIGTERM');
}
