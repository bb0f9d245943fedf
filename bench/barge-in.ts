/**
 * Barge-in: how fast user speech stops the assistant, and how often the assistant's own voice
 * (a speakerphone without echo cancellation) stops it by mistake.
 *
 * - Reaction time: a session asks a question with a long reply; once its audio plays, the client
 *   streams a spoken question (flite) in real time. Measured from the moment the speech starts in
 *   the input audio (its first loud 10 ms, sent in real time) to `assistant.interrupted`, and to the
 *   last audio event of the interrupted turn received. Local STT (Silero VAD + PocketSphinx), and
 *   the ElevenLabs emulator (its `local` transcriber), where it is also measured from the emulator's
 *   first partial of the utterance.
 * - Echo: replies played back into the microphone at speaking level, 100 ms late; any
 *   `assistant.interrupted` is a false interruption.
 *
 * The service runs as its own process; the emulator and clients run here (same wall clock).
 *   node dist/bench/barge-in.js [trials=10] [echoReplies=20]
 */
import { startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { FliteSynthesizer } from '@app/engines';
import { INTERRUPTION_DEFAULTS } from '@app/protocol';
import { playWithEcho, silence, speechSpan, streamAudio, synthesizeSpeech, VoiceTestClient } from '@app/testing';
import { formatMs, startService, summarize } from './lib.js';

const trials = Number(process.argv[2] ?? 10);
const echoReplies = Number(process.argv[3] ?? 20);
const now = () => performance.timeOrigin + performance.now();
const LONG = 'please tell me a long story about the roads and the laws and the emperors of ancient rome and what became of them';
const QUESTIONS = ['what time is it now', 'tell me about the weather in london instead', 'wait stop please', 'how far is the moon from here'];

const flite = new FliteSynthesizer({ threads: 1 });
let firstPartialAt: number | undefined;
const emulator = await startElevenLabsEmulator({
  transcriber: 'local',
  onSttEmit: (message, at) => {
    if (message.message_type === 'partial_transcript' && firstPartialAt === undefined && String(message.text).trim()) firstPartialAt = at;
  },
});
const service = await startService({ ELEVENLABS_API_KEY: 'bench', ELEVENLABS_BASE_URL: emulator.baseUrl, STT_WORKERS: '1', TTS_WORKERS: '1' });

async function configured(stt: Record<string, unknown>, tts: Record<string, unknown> = {}): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(service.wsUrl);
  await client.expect('session.ready', { timeoutMs: 30_000 });
  client.send({ type: 'session.configure', stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 0.8, ...stt }, tts: { provider: 'local', ...tts } });
  await client.expect('session.configured', { timeoutMs: 30_000 });
  await client.expect('stt.session_started', { timeoutMs: 30_000 });
  return client;
}

interface Reaction {
  toInterrupted: number;
  toLastAudio: number;
  fromFirstPartial?: number;
  audioStillSending: boolean;
}

async function reaction(provider: 'local' | 'elevenlabs', question: string): Promise<Reaction | undefined> {
  const client = await configured({ provider });
  try {
    const speech = await synthesizeSpeech(flite, question);
    const input = Buffer.concat([silence(0.3), speech, silence(1.2)]);
    const onsetMs = 300 + speechSpan(speech).start * 1000;
    client.send({ type: 'text.prompt', text: LONG });
    await client.until((e) => e.type === 'assistant.audio.chunk' && e.turn_id === 1 && e.chunk_index >= 5, { timeoutMs: 20_000 });
    let interruptedAt: number | undefined;
    let lastAudioAt = 0;
    let audioEnded = false;
    client.socket.on('message', (data) => {
      const event = JSON.parse(data.toString()) as { type: string; turn_id?: number };
      if (event.turn_id !== 1) return;
      if (event.type === 'assistant.interrupted') interruptedAt ??= now();
      else if (event.type.startsWith('assistant.audio')) lastAudioAt = now();
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
      audioStillSending: !audioEnded || lastAudioAt > speechAt,
    };
  } finally {
    await client.close();
  }
}

try {
  const { min_speech_ms } = INTERRUPTION_DEFAULTS;
  for (const provider of ['local', 'elevenlabs'] as const) {
    const results: Reaction[] = [];
    let missed = 0;
    for (let i = 0; i < trials; i++) {
      const result = await reaction(provider, QUESTIONS[i % QUESTIONS.length]!);
      if (result) results.push(result);
      else missed++;
    }
    const label = provider === 'local' ? 'local STT' : 'ElevenLabs emulator';
    console.log(`${label}: ${results.length}/${trials} interrupted (${missed} missed)`);
    console.log(`  speech start -> assistant.interrupted: ${formatMs(summarize(results.map((r) => r.toInterrupted)))}`);
    const sending = results.filter((r) => r.audioStillSending);
    console.log(`  speech start -> last audio event of the turn: ${formatMs(summarize(results.map((r) => r.toLastAudio)))} (audio still being sent at speech start in ${sending.length}/${results.length})`);
    if (provider === 'local') console.log(`  goal: within min_speech_ms + 150 = ${min_speech_ms + 150} ms`);
    else {
      console.log(`  first partial -> assistant.interrupted: ${formatMs(summarize(results.flatMap((r) => (r.fromFirstPartial === undefined ? [] : [r.fromFirstPartial]))))}`);
      console.log('  goal: within 50 ms of the first partial (the partial must pass the backchannel and echo checks)');
    }
  }

  // Echo: replies fed back into the microphone; 4 sessions at a time.
  let false_ = 0;
  let played = 0;
  const prompts = Array.from({ length: echoReplies }, (_, i) => `tell me something about topic number ${i + 1} and the weather in the mountains today`);
  for (let i = 0; i < prompts.length; i += 4) {
    await Promise.all(
      prompts.slice(i, i + 4).map(async (prompt) => {
        const client = await configured({ provider: 'local' }, { output_format: 'pcm_16000' });
        try {
          client.send({ type: 'text.prompt', text: prompt });
          const result = await playWithEcho(client, { turnId: 1, report: true, delayMs: 100 });
          played += result.playedMs;
          if (result.interruptedAtMs !== undefined) false_++;
        } finally {
          await client.close();
        }
      }),
    );
  }
  console.log(`echo: ${false_} false interruptions over ${echoReplies} echoed replies (${(played / 1000).toFixed(0)} s of reply audio fed back at speaking level); goal: 0`);
} finally {
  await service.stop();
  await emulator.close();
  await flite.close();
}
