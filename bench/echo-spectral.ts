/**
 * Probe (issue 10, reverberant echo): is the microphone's short-time spectrum explained by the
 * reply's recent spectra? A room smears the reply in time but adds no frequencies the reply did not
 * have in the last few hundred ms (a loudspeaker's clipping adds harmonics of the same pitch); a user
 * talking over it puts harmonics of their own pitch where the reply had none.
 *   node dist/bench/echo-spectral.js [replies=20] [threshold=0.3] [kappaDb=3] [rt60Ms=600]
 *   env: ONLINE=0 (gains from the first 2 s of each trial instead of learned as it goes),
 *        QUANTILE=0.8 (gain percentile), MIN_FRAMES=50 (learned frames before a verdict),
 *        BROADBAND=1 (one gain for all bands), DEBUG=1|2 (per-trial detail)
 *
 * Model: 32 ms Hann frames every 10 ms, power from 150 to 3400 Hz (31.25 Hz bins). The echo bound of
 * a microphone frame is the reply's spectrum at the (known, 100 ms) lag, up to 3 frames early, or
 * before it decaying 60 dB per rt60 (a peak hold), widened to the neighbouring bins. Per band (eight
 * log-spaced), the echo path's gain is the QUANTILE of mic / bound power over the loud frames so far
 * (the user's included). A frame's share is its power above kappa x gain x bound; a user is talking
 * when the mean share over the last 300 ms passes the threshold.
 *
 * Findings (3 December 2026, 20 echoed replies in four flite voices at speaking level, 100 ms late;
 * 3 users over each reply 2.5 s in: flite awb, espeak-ng, flite slt):
 * - Defaults (online gains, percentile 0.8, kappa 3 dB, threshold 0.3): echo alone 0/20 in every
 *   condition (worst 300 ms share: plain 0.02, room 0.11, speakerphone 0.20); users detected plain
 *   56/60, room 49/60, speakerphone 60/60, median 310-330 ms after their onset. The users missed are
 *   mostly the slt user over slt replies (the same voice) and awb over awb.
 * - Median gain (percentile 0.5, kappa 6 dB): room 0/20, speakerphone 0/20, plain 2/20; users
 *   57/50/60 of 60. Gains fixed from the first 2 s per trial: room 0/20, speakerphone 0/20, plain 1/20.
 * - Versus the loudness envelope (the service's detector): room 40/40 and speakerphone 39-40/40 false
 *   (bench/echo-reverb.ts). The spectrum separates reverberant echo from a user; the envelope does not.
 * - In the service (src/voice/session/echo-spectrum.ts): the first wiring took the lag from the
 *   envelope's per-window search, which a user over reverberant echo pulls to wrong lags (seen
 *   jumping 60 -> 620 -> 970 -> 1240 ms); the service now uses the peak of the correlation averaged
 *   over the reply. Figures with the session's rules: README "Barge-in".
 * - Cost here: 512-point FFTs (fft.js) of reply and microphone per 10 ms, about 64 x 104 comparisons per
 *   microphone frame; the whole run (about 2,500 s of audio, each mic track three or four times) takes
 *   about 14 s on one core.
 * (An earlier version of this bench and bench/pitch-probe.ts fed espeak-ng's PCM bytes, not its
 * samples, as the second user; fixed here.)
 */
import FFT from 'fft.js';
import { ECHO_CONDITIONS, ECHO_VOICES, echoProbeTracks, echoedMic } from './echo-fixtures.js';

const replyCount = Number(process.argv[2] ?? 20);
const THRESHOLD = Number(process.argv[3] ?? 0.3);
const KAPPA = 10 ** (Number(process.argv[4] ?? 3) / 10);
const RT60 = Number(process.argv[5] ?? 600);
const RATE = 16000;
const HOP = 160;
const WIN = 512;
const LO = Math.round(150 / (RATE / WIN));
const HI = Math.round(3400 / (RATE / WIN));
const BINS = HI - LO;

const fft = new FFT(WIN);
const hann = Float32Array.from({ length: WIN }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / WIN));
const frameIn = new Array<number>(WIN).fill(0);
const out = fft.createComplexArray() as number[];

/** Power per bin (LO..HI) per 10 ms frame; a frame quieter than about -55 dBFS is null. */
function spectra(x: Float32Array, keepQuiet = false): Array<Float32Array | null> {
  const frames = Math.max(0, Math.floor((x.length - WIN) / HOP));
  const result: Array<Float32Array | null> = [];
  for (let f = 0; f < frames; f++) {
    const o = f * HOP;
    let energy = 0;
    for (let i = 0; i < WIN; i++) {
      const v = x[o + i]!;
      energy += v * v;
      frameIn[i] = v * hann[i]!;
    }
    fft.realTransform(out, frameIn);
    const p = new Float32Array(BINS);
    for (let b = 0; b < BINS; b++) {
      const re = out[2 * (LO + b)]!;
      const im = out[2 * (LO + b) + 1]!;
      p[b] = re * re + im * im;
    }
    result.push(!keepQuiet && energy / WIN < 60 * 60 ? null : p);
  }
  return result;
}

/** Peak hold of the reply's spectra with a release of 60 dB per RT60, `lag` frames later, looking `ahead` frames early. */
function echoBound(reply: Array<Float32Array | null>, frames: number, lag: number, ahead = 3): Float32Array[] {
  const decay = 10 ** ((-6 * 10) / RT60);
  const hold = new Float32Array(BINS);
  const bounds: Float32Array[] = [];
  for (let t = 0; t < frames; t++) {
    for (let b = 0; b < BINS; b++) hold[b] = hold[b]! * decay;
    const r = reply[t - lag];
    if (r) for (let b = 0; b < BINS; b++) if (r[b]! > hold[b]!) hold[b] = r[b]!;
    const bound = hold.slice();
    for (let k = 1; k <= ahead; k++) {
      const early = reply[t - lag + k];
      if (early) for (let b = 0; b < BINS; b++) if (early[b]! > bound[b]!) bound[b] = early[b]!;
    }
    bounds.push(bound);
  }
  return bounds;
}

/** Per mic frame: share of its power above KAPPA x gain x the echo bound (NaN where the mic is quiet). */
function unexplained(mic: Array<Float32Array | null>, bounds: Float32Array[], gain: Float32Array): Float32Array {
  const share = new Float32Array(mic.length).fill(Number.NaN);
  for (let t = 0; t < mic.length; t++) {
    const m = mic[t];
    if (!m) continue;
    const bound = bounds[t]!;
    let total = 0;
    let over = 0;
    for (let b = 0; b < BINS; b++) {
      total += m[b]!;
      const excess = m[b]! - KAPPA * gain[b]! * bound[b]!;
      // Smear: a bin is explained by its neighbours' bound too (windowing, small pitch shifts).
      const nb = Math.max(bound[b]!, b > 0 ? bound[b - 1]! : 0, b + 1 < BINS ? bound[b + 1]! : 0);
      const excess2 = m[b]! - KAPPA * gain[b]! * nb;
      if (excess > 0 && excess2 > 0) over += excess2;
    }
    share[t] = total > 0 ? over / total : 0;
  }
  return share;
}

const BANDS = 8;
const bandOf = Int32Array.from({ length: BINS }, (_, b) => Math.min(BANDS - 1, Math.floor((Math.log(LO + b) - Math.log(LO)) / ((Math.log(HI) - Math.log(LO)) / BANDS))));

/** Echo path gain per band: median of mic power / bound power over the loud frames before `until`. */
function learnGain(mic: Array<Float32Array | null>, bounds: Float32Array[], until: number): Float32Array {
  const ratios: number[][] = Array.from({ length: BANDS }, () => []);
  for (let t = 0; t < Math.min(until, mic.length); t++) {
    const m = mic[t];
    if (!m) continue;
    const pm = new Float64Array(BANDS);
    const pb = new Float64Array(BANDS);
    for (let b = 0; b < BINS; b++) {
      pm[bandOf[b]!] = pm[bandOf[b]!]! + m[b]!;
      pb[bandOf[b]!] = pb[bandOf[b]!]! + bounds[t]![b]!;
    }
    for (let k = 0; k < BANDS; k++) if (pb[k]! > 0) ratios[k]!.push(pm[k]! / pb[k]!);
  }
  const gains = new Float32Array(BINS);
  const perBand = ratios.map((r) => (r.sort((a, b) => a - b), r.length ? r[Math.floor(r.length * QUANTILE)]! : 1));
  for (let b = 0; b < BINS; b++) gains[b] = process.env.BROADBAND ? perBand.reduce((a, v) => a + v, 0) / BANDS : perBand[bandOf[b]!]!;
  return gains;
}
const QUANTILE = Number(process.env.QUANTILE ?? 0.8);

const MIN_FRAMES = Number(process.env.MIN_FRAMES ?? 50);

/**
 * As `unexplained`, with the gains learned as it goes: per band, the QUANTILE of mic/bound power
 * over every loud frame so far (the user's frames included); a loud frame before MIN_FRAMES is 1
 * (no verdict yet: the envelope detector alone decides, so count it as the user).
 */
function unexplainedOnline(mic: Array<Float32Array | null>, bounds: Float32Array[]): Float32Array {
  const share = new Float32Array(mic.length).fill(Number.NaN);
  const ratios: number[][] = Array.from({ length: BANDS }, () => []);
  const gain = new Float32Array(BINS);
  let seen = 0;
  for (let t = 0; t < mic.length; t++) {
    const m = mic[t];
    if (!m) continue;
    const bound = bounds[t]!;
    if (seen >= MIN_FRAMES) {
      if (seen % 5 === 0 || seen === MIN_FRAMES) {
        const perBand = ratios.map((r) => { const sorted = r.slice().sort((a, b) => a - b); return sorted.length ? sorted[Math.floor(sorted.length * QUANTILE)]! : 1; });
        for (let b = 0; b < BINS; b++) gain[b] = perBand[bandOf[b]!]!;
      }
      let total = 0;
      let over = 0;
      for (let b = 0; b < BINS; b++) {
        total += m[b]!;
        const nb = Math.max(bound[b]!, b > 0 ? bound[b - 1]! : 0, b + 1 < BINS ? bound[b + 1]! : 0);
        const excess = m[b]! - KAPPA * gain[b]! * nb;
        if (excess > 0) over += excess;
      }
      share[t] = total > 0 ? over / total : 0;
    }
    const pm = new Float64Array(BANDS);
    const pb = new Float64Array(BANDS);
    for (let b = 0; b < BINS; b++) {
      pm[bandOf[b]!] = pm[bandOf[b]!]! + m[b]!;
      pb[bandOf[b]!] = pb[bandOf[b]!]! + bound[b]!;
    }
    for (let k = 0; k < BANDS; k++) if (pb[k]! > 0) ratios[k]!.push(pm[k]! / pb[k]!);
    seen++;
  }
  return share;
}

/** Mean share over the voiced frames of each 300 ms window (0 where fewer than 8 are voiced). */
function windowed(share: Float32Array): Float32Array {
  const result = new Float32Array(share.length);
  for (let t = 0; t < share.length; t++) {
    let n = 0;
    let sum = 0;
    for (let k = Math.max(0, t - 29); k <= t; k++) {
      if (Number.isNaN(share[k]!)) continue;
      n++;
      sum += share[k]!;
    }
    result[t] = n >= 8 ? sum / n : 0;
  }
  return result;
}

const { replies, users: allUsers } = await echoProbeTracks(replyCount);
const users = allUsers;

const delayMs = 100;
const started = performance.now();
for (const [name, room] of Object.entries(ECHO_CONDITIONS)) {
  const falseMax: number[] = [];
  let falseCount = 0;
  const reactions: number[] = [];
  let detected = 0;
  let userTrials = 0;
  const userMax: number[] = [];
  for (let i = 0; i < replies.length; i++) {
    const reply = replies[i]!;
    const mic = echoedMic(reply, room, delayMs);
    const replySpectra = spectra(reply, true);
    const lag = delayMs / 10;
    const micSpectra = spectra(mic);
    const bounds = echoBound(replySpectra, micSpectra.length + 400, lag);
    const gain = learnGain(micSpectra, bounds, 200);
    const score = (spectraOfMic: Array<Float32Array | null>) => windowed(process.env.ONLINE !== '0' ? unexplainedOnline(spectraOfMic, bounds) : unexplained(spectraOfMic, bounds, gain));
    const w = score(micSpectra);
    const worst = Math.max(...w);
    falseMax.push(worst);
    if (worst > THRESHOLD) falseCount++;
    if (process.env.DEBUG && worst > THRESHOLD) console.log(`  ${name} reply ${i}: worst ${worst.toFixed(2)} at ${w.indexOf(worst) * 10} ms of ${w.length * 10}, gains ${Array.from(new Set(gain)).map((g) => g.toExponential(1)).join(' ')}`);
    for (const [u, user] of users.entries()) {
      const at = 2.5 * RATE;
      const mixed = mic.slice();
      for (let k = 0; k < user.length && at + k < mixed.length; k++) mixed[at + k] = mixed[at + k]! + user[k]!;
      const s = score(spectra(mixed));
      userTrials++;
      const onsetFrame = Math.floor(at / HOP);
      const hit = Array.from(s).findIndex((v, t) => t >= onsetFrame && v > THRESHOLD);
      if (process.env.DEBUG) userMax.push(Math.max(...s.slice(Math.floor(at / HOP))));
      if (process.env.DEBUG === '2') console.log(`    user ${u} over reply ${i} (${ECHO_VOICES[i % ECHO_VOICES.length]}): max ${Math.max(...s.slice(Math.floor(at / HOP))).toFixed(2)}`);
      if (hit >= 0) {
        detected++;
        reactions.push((hit - onsetFrame) * 10);
      }
    }
  }
  falseMax.sort((a, b) => a - b);
  if (process.env.DEBUG) console.log('  user window max', userMax.sort((a, b) => a - b).map((v) => v.toFixed(2)).join(' '));
  reactions.sort((a, b) => a - b);
  console.log(
    `${name}: echo alone over ${THRESHOLD}: ${falseCount}/${replies.length} (worst window median ${falseMax[Math.floor(falseMax.length / 2)]!.toFixed(2)}, max ${falseMax.at(-1)!.toFixed(2)}); users ${detected}/${userTrials}, ms after onset median ${reactions[Math.floor(reactions.length / 2)] ?? '-'} (${reactions.join(' ')})`,
  );
}
console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
