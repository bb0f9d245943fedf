/**
 * Feasibility probe (issue 10, reverberant echo): does the microphone's pitch track tell the
 * reply's echo from a user talking over it, where the 10 ms loudness envelope does not?
 * For each voiced microphone frame (32 ms, 10 ms hop, normalised autocorrelation, F0 70-400 Hz),
 * "explained" means the reply had a voiced frame with an F0 within 6 % (or an octave of it) in
 * [t - lag - 300 ms, t - lag + 30 ms] (reverberation keeps a pitch ringing after the reply moved on).
 * Prints, per condition, the largest share of unexplained voiced frames in any 300 ms window of
 * echo alone (want low) and, with a user mixed in 2.5 s into the reply, how soon after the user's
 * onset that share first passes the threshold.
 *   node dist/bench/pitch-probe.js [replies=20] [threshold=0.5]
 *
 * Findings (3 December 2026, 20 echoed replies in four flite voices at speaking level, 100 ms late,
 * the lag known; 6 users, flite awb and espeak-ng, 2.5 s into the reply):
 * - threshold 0.5: echo alone plain 0/20, room 0/20 (worst 300 ms window 0.05 median, 0.44 max),
 *   speakerphone 5/20 (0.25 median: the 300 Hz high-pass removes most voices' fundamental and the
 *   clipping adds harmonics, so the autocorrelation pitch wanders); users 5/6, 2/6, 5/6, 110-1420 ms
 *   after their onset (the echo at speaking level is as loud as the user and often wins the frame).
 * - threshold 0.3: echo alone 0/20, 4/20, 6/20; users 5/6 in every condition.
 * - (Those user figures are off: the espeak-ng user was its PCM bytes, not its samples, until this was
 *   fixed later the same day. bench/echo-spectral.ts, the spectrum rather than one pitch, follows on.)
 * - So pitch separates reverberant echo from a user where the loudness envelope cannot (the
 *   envelope detector: room 40/40, speakerphone 40/40 false), but one pitch per frame is not enough:
 *   next steps are a pitch estimate that works without the fundamental (subharmonic summation)
 *   and a second pitch per frame (the user under a louder echo), combined with the envelope
 *   detector's verdict rather than replacing it. Cost here: about 40 ms of CPU per second of audio
 *   (this run: 33 s for about 830 s of tracks; brute-force autocorrelation over 200 lags every 10
 *   ms); an FFT or a coarser hop cuts that several-fold, and it belongs in the recognition worker.
 */
import { ECHO_CONDITIONS, echoProbeTracks, echoedMic } from './echo-fixtures.js';

const replyCount = Number(process.argv[2] ?? 20);
const THRESHOLD = Number(process.argv[3] ?? 0.5);
const RATE = 16000;
const HOP = 160;
const WIN = 512;

/** F0 per 10 ms frame (0 = unvoiced). */
function pitchTrack(x: Float32Array): Float32Array {
  const frames = Math.max(0, Math.floor((x.length - WIN) / HOP));
  const out = new Float32Array(frames);
  const minLag = Math.floor(RATE / 400);
  const maxLag = Math.ceil(RATE / 70);
  for (let f = 0; f < frames; f++) {
    const o = f * HOP;
    let energy = 0;
    for (let i = 0; i < WIN; i++) energy += x[o + i]! * x[o + i]!;
    if (energy / WIN < 100 * 100) continue; // quiet (about -50 dBFS)
    let best = 0;
    let bestLag = 0;
    for (let lag = minLag; lag <= maxLag; lag++) {
      let c = 0;
      let e1 = 0;
      let e2 = 0;
      for (let i = 0; i + lag < WIN; i++) {
        c += x[o + i]! * x[o + i + lag]!;
        e1 += x[o + i]! * x[o + i]!;
        e2 += x[o + i + lag]! * x[o + i + lag]!;
      }
      const r = c / Math.sqrt(e1 * e2 + 1e-9);
      if (r > best) {
        best = r;
        bestLag = lag;
      }
    }
    if (best > 0.6) out[f] = RATE / bestLag;
  }
  return out;
}

const close = (a: number, b: number) => Math.abs(a - b) / b < 0.06;
const related = (a: number, b: number) => close(a, b) || close(a, 2 * b) || close(2 * a, b);

/** Share of unexplained voiced mic frames per 300 ms window ending at each frame. */
function unexplainedShare(mic: Float32Array, reply: Float32Array, lagFrames: number): Float32Array {
  const flags = new Int8Array(mic.length); // 0 unvoiced, 1 explained, 2 unexplained
  for (let t = 0; t < mic.length; t++) {
    if (mic[t] === 0) continue;
    let explained = false;
    for (let r = t - lagFrames - 30; r <= t - lagFrames + 3 && !explained; r++) if (r >= 0 && r < reply.length && reply[r]! > 0 && related(mic[t]!, reply[r]!)) explained = true;
    flags[t] = explained ? 1 : 2;
  }
  const share = new Float32Array(mic.length);
  for (let t = 0; t < mic.length; t++) {
    let voiced = 0;
    let bad = 0;
    for (let k = Math.max(0, t - 29); k <= t; k++) {
      if (flags[k]! > 0) voiced++;
      if (flags[k] === 2) bad++;
    }
    share[t] = voiced >= 8 ? bad / voiced : 0;
  }
  return share;
}

const { replies, users: allUsers } = await echoProbeTracks(replyCount);
// The first two users (the third came with bench/echo-spectral.ts).
const users = allUsers.slice(0, 2);

const delayMs = 100;
for (const [name, room] of Object.entries(ECHO_CONDITIONS)) {
  const falseMax: number[] = [];
  let falseCount = 0;
  const reactions: number[] = [];
  let detected = 0;
  let userTrials = 0;
  for (let i = 0; i < replies.length; i++) {
    const reply = replies[i]!;
    const mic = echoedMic(reply, room, delayMs);
    const replyPitch = pitchTrack(reply);
    const lagFrames = delayMs / 10;
    const share = unexplainedShare(pitchTrack(mic), replyPitch, lagFrames);
    const worst = Math.max(...share);
    falseMax.push(worst);
    if (worst > THRESHOLD) falseCount++;
    if (i < 6) {
      const user = users[i % users.length]!;
      const at = 2.5 * RATE;
      const mixed = mic.slice();
      for (let k = 0; k < user.length && at + k < mixed.length; k++) mixed[at + k] = mixed[at + k]! + user[k]!;
      const s = unexplainedShare(pitchTrack(mixed), replyPitch, lagFrames);
      userTrials++;
      const onsetFrame = Math.floor(at / HOP);
      const hit = Array.from(s).findIndex((v, t) => t >= onsetFrame && v > THRESHOLD);
      if (hit >= 0) {
        detected++;
        reactions.push((hit - onsetFrame) * 10);
      }
    }
  }
  falseMax.sort((a, b) => a - b);
  reactions.sort((a, b) => a - b);
  console.log(
    `${name}: echo alone over ${THRESHOLD}: ${falseCount}/${replies.length} (worst window share median ${falseMax[Math.floor(falseMax.length / 2)]!.toFixed(2)}, max ${falseMax.at(-1)!.toFixed(2)}); users detected ${detected}/${userTrials}, ms after onset ${reactions.join(' ')}`,
  );
}
