/**
 * Echo under reverberation, offline (no service; issue 10 "Echo"): the local STT's acoustic barge-in
 * (voice-session.ts considerInterrupting: Silero VAD speech >= min_speech_ms and 3 consecutive "user"
 * verdicts of the session's echo detector, judged every 20 ms) on a reply's echo alone, and on the
 * echo with a user question mixed in.
 *
 * Conditions as bench/barge-in.ts: `plain` (delay and gain), `room` (500 ms reverberation tail, as
 * much reverberant as direct energy), `speakerphone` (the room + 300-3400 Hz + soft clipping). For
 * each condition, delay (100, 300 ms) and reply (5 texts x 4 flite voices), the microphone hears the
 * reply at speaking level; the detector of one session hears the replies one after another (it keeps
 * what it learned about the echo path across turns, as in the service). Users: flite awb and
 * espeak-ng, 2.5 s into each of 6 replies (each after 2 echo-only replies in the same session), for
 * 12 trials per condition; reaction = from the user's speech onset to the barge-in.
 * Variants: `fixed` (one lag and gain: the detector before the reverberation model) and `learned`
 * (the default: the per-session reverberation tail, echo-detector.ts).
 * Goal: 0 false per condition (>= 20 replies), users 12/12 with median reaction <= min_speech_ms + 150 ms.
 *
 *   node dist/bench/echo-reverb.js [replies=20] [variants=fixed,learned] [delays=100,300] [conditions=plain,room,speakerphone]
 */
import { FliteSynthesizer } from '@app/engines';
import { INTERRUPTION_DEFAULTS } from '@app/protocol';
import { roomEcho, speechSpan, synthesizeEspeak, type RoomOptions } from '@app/testing';
import { SileroVad } from '../libs/engines/src/vad/silero-vad.js';
import { VadStream } from '../libs/engines/src/vad/vad-stream.js';
import { EchoDetector, type EchoDetectorOptions, type EchoJudgement } from '../src/voice/session/echo-detector.js';
import { summarize } from './lib.js';

const replyCount = Number(process.argv[2] ?? 20);
const variantNames = (process.argv[3] ?? 'fixed,learned').split(',');
const delays = (process.argv[4] ?? '100,300').split(',').map(Number);
const conditionNames = (process.argv[5] ?? 'plain,room,speakerphone').split(',');
const RATE = 16000;
const FRAME = 320;
const MIN_SPEECH_MS = INTERRUPTION_DEFAULTS.min_speech_ms;
const USER_AT_MS = 2500;
const TEXTS = [
  'Rome was founded in the eighth century before Christ, and its roads reached every corner of the empire.',
  'The drive takes about two and a half hours, so leaving early on Saturday morning means you arrive before lunch.',
  'There is a family hotel near the harbour that costs one hundred and thirty dollars a night, with breakfast.',
  'Pack a warm jacket, because the wind off the sea gets cold after sunset, even in the middle of summer.',
  'The museum opens at nine, and the guided tour of the old town leaves from the square every hour.',
];
const VOICES = ['slt', 'kal16', 'rms', 'awb'];
const CONDITIONS: Record<string, RoomOptions | undefined> = {
  plain: undefined,
  room: { rt60Ms: 500, wet: 1, seed: 5 },
  speakerphone: { rt60Ms: 500, wet: 1, speakerphone: true, seed: 9 },
};
const VARIANTS: Record<string, EchoDetectorOptions> = {
  fixed: { reverberation: false, tail: false },
  learned: { reverberation: true, tail: false },
  chain: { reverberation: false, tail: true },
  both: { reverberation: true, tail: true },
};

const flite = new FliteSynthesizer({ threads: 1 });
const toInt16 = (b: Buffer | Uint8Array) => new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const replies: Int16Array[] = [];
for (let i = 0; i < replyCount; i++) {
  replies.push(toInt16(Buffer.from((await flite.synthesize({ text: TEXTS[i % TEXTS.length]!, voice: VOICES[i % VOICES.length] as 'slt', sampleRate: RATE, speed: 1 })).pcm)));
}
const users: Array<[string, Int16Array]> = [
  ['flite awb', toInt16(Buffer.from((await flite.synthesize({ text: 'tell me about the weather in london instead', voice: 'awb', sampleRate: RATE, speed: 1 })).pcm))],
  ['espeak-ng', toInt16(await synthesizeEspeak('wait a moment, what time is it now', 'en-us'))],
];
await flite.close();
const silero = await SileroVad.load();

/** What the microphone hears: the reply `delayMs` late through the room, plus the user at `userAtMs`. */
function microphone(reply: Int16Array, room: RoomOptions | undefined, delayMs: number, user?: Int16Array): Int16Array {
  const delay = Math.round((delayMs * RATE) / 1000);
  const length = Math.ceil((reply.length + delay + RATE) / FRAME) * FRAME;
  const played = new Int16Array(length);
  played.set(reply, delay);
  const echo = room ? roomEcho(played, room) : Float32Array.from(played);
  const mic = new Int16Array(length);
  const userStart = Math.round((USER_AT_MS * RATE) / 1000);
  for (let i = 0; i < length; i++) {
    let s = echo[i]!;
    if (user && i >= userStart && i - userStart < user.length) s += user[i - userStart]!;
    mic[i] = Math.max(-32768, Math.min(32767, Math.round(s)));
  }
  return mic;
}

/** The VAD's speech duration after each 20 ms chunk. */
async function vadSpeech(x: Int16Array): Promise<Float32Array> {
  const vad = new VadStream(silero.createScorer(512));
  const out = new Float32Array(Math.floor(x.length / FRAME));
  for (let f = 0; f < out.length; f++) {
    await vad.push(x.subarray(f * FRAME, (f + 1) * FRAME));
    out[f] = vad.segmenter.speechMs;
  }
  await vad.end();
  return out;
}

/** One session's detector judging every 20 ms, one reply after another (1 s of quiet between). */
class Session {
  readonly detector: EchoDetector;
  private clock = 0;
  judgeUs: number[] = [];
  last: EchoJudgement[] = [];
  constructor(options: EchoDetectorOptions) {
    this.detector = new EchoDetector(undefined, options);
  }
  /** Per 20 ms: consecutive "user" verdicts. */
  play(mic: Int16Array, reply: Int16Array): Int32Array {
    const detector = this.detector;
    const start = this.clock;
    detector.startReply({ codec: 'pcm', sampleRate: RATE });
    detector.addReply(Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength), start);
    const streaks = new Int32Array(Math.floor(mic.length / FRAME));
    this.last = [];
    let streak = 0;
    for (let f = 0; f < streaks.length; f++) {
      const chunk = mic.subarray(f * FRAME, (f + 1) * FRAME);
      detector.addMic(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), 'pcm_16000', start + (f + 1) * 20);
      const t = performance.now();
      const judgement = detector.judge();
      this.last[f] = judgement;
      const verdict = judgement.verdict;
      this.judgeUs.push((performance.now() - t) * 1000);
      streak = verdict === 'user' && judgement.correlation < doubt ? streak + 1 : 0;
      streaks[f] = streak;
    }
    this.clock = start + streaks.length * 20 + 1000;
    return streaks;
  }
}

let checks = 3;
let doubt = 2;
function acousticInterruption(speech: Float32Array, streaks: Int32Array, from = 0): number | undefined {
  for (let f = from; f < Math.min(speech.length, streaks.length); f++) if (speech[f]! >= MIN_SPEECH_MS && streaks[f]! >= checks) return f;
  return undefined;
}

console.log(`Echo under reverberation (offline): ${replyCount} replies per condition and delay (${delays.join('/')} ms), echo at speaking level; barge-in = VAD >= ${MIN_SPEECH_MS} ms + 3 "user" verdicts`);
console.log(`goal: 0 false per condition; users 12/12, median onset -> barge-in <= ${MIN_SPEECH_MS + 150} ms`);
const vadCache = new Map<string, Float32Array>();
async function cachedVad(key: string, mic: Int16Array): Promise<Float32Array> {
  let speech = vadCache.get(key);
  if (!speech) {
    speech = await vadSpeech(mic);
    vadCache.set(key, speech);
  }
  return speech;
}
for (const name of conditionNames) {
  if (!(name in CONDITIONS)) throw new Error(`unknown condition ${name}`);
  const room = CONDITIONS[name];
  for (const variantName of variantNames) {
    const [baseName, checksText, doubtText] = variantName.split('@');
    checks = Number(checksText ?? 3);
    doubt = Number(doubtText ?? 2);
    const options = VARIANTS[baseName!];
    if (!options) throw new Error(`unknown variant ${variantName}`);
    let falseOnes = 0;
    const falseAt: string[] = [];
    const judgeUs: number[] = [];
    for (const delayMs of delays) {
      const session = new Session(options);
      for (const [index, reply] of replies.entries()) {
        const mic = microphone(reply, room, delayMs);
        const speech = await cachedVad(`${name}/${delayMs}/${index}`, mic);
        const frame = acousticInterruption(speech, session.play(mic, reply));
        if (frame !== undefined) {
          falseOnes++;
          const why = [0, 1, 2].map((k) => session.last[frame - k]!).map((j) => `${j.correlation.toFixed(2)}/${j.share?.toFixed(2)}/${j.powerShare?.toFixed(2)}`);
          falseAt.push(`#${index}@${(((frame + 1) * 20 - delayMs) / 1000).toFixed(1)}s(${why.join(',')})`);
        }
      }
      judgeUs.push(...session.judgeUs);
    }
    const reactions: number[] = [];
    let missed = 0;
    for (const [userIndex, [, user]] of users.entries()) {
      const onsetMs = USER_AT_MS + speechSpan(Buffer.from(user.buffer, user.byteOffset, user.byteLength)).start * 1000;
      for (let trial = 0; trial < Math.min(6, replies.length); trial++) {
        const session = new Session(options);
        // Two echo-only replies first: the session has heard the room before the user talks.
        for (let k = 1; k <= 2; k++) {
          const index = (trial + k) % replies.length;
          const warm = replies[index]!;
          session.play(microphone(warm, room, delays[0]!), warm);
        }
        const reply = replies[trial]!;
        const mic = microphone(reply, room, delays[0]!, user);
        const speech = await cachedVad(`${name}/${delays[0]}/user${userIndex}/${trial}`, mic);
        const frame = acousticInterruption(speech, session.play(mic, reply), Math.floor((onsetMs - 100) / 20));
        if (frame === undefined) missed++;
        else reactions.push((frame + 1) * 20 - onsetMs);
      }
    }
    const r = summarize(reactions);
    const j = summarize(judgeUs);
    const runs = delays.length * replies.length;
    console.log(
      `${name.padEnd(12)} ${variantName.padEnd(8)} false ${falseOnes}/${runs} (goal 0)${falseAt.length ? ` [${falseAt.slice(0, 8).join(" ")}]` : ""}; users ${reactions.length}/${reactions.length + missed} (goal all), onset -> barge-in median ${r.median.toFixed(0)} ms, max ${r.max.toFixed(0)} ms (goal median <= ${MIN_SPEECH_MS + 150}); judge() median ${j.median.toFixed(1)} us, p99 ${j.p99.toFixed(1)} us`,
    );
  }
}
await silero.release();
