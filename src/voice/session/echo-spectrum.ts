import FFT from 'fft.js';

/**
 * Spectral echo check (issue 10, reverberant echo): is the microphone's short-time spectrum
 * explained by the spectra the reply had in the last few hundred ms?
 *
 * A room smears the reply in time but adds no frequency the reply did not have shortly before, and a
 * loudspeaker's clipping adds harmonics of the same pitch; a user talking over it puts harmonics of
 * their own pitch where the reply had none. The loudness envelope alone cannot tell reverberant echo
 * from a user (its one-lag prediction leaves the room's tail unexplained), the spectrum can.
 *
 * Per 10 ms frame (32 ms Hann window or the next power of two, on a grid of 31.25 Hz from 150 to
 * 3400 Hz): the echo bound of a microphone frame is, per grid point, the loudest reply frame heard
 * at the current lag (up to LOOKAHEAD frames early) or before it, decaying DECAY_DB per frame (60 dB
 * over 600 ms, a living room's reverberation), widened to the neighbouring points. The echo path's
 * gain per band (eight log-spaced bands) is learned as a high percentile of microphone / bound power
 * over frames where the reply clearly comes back. A frame's unexplained share is the part of its
 * power above KAPPA x gain x bound; a user is talking when the mean share over the last 300 ms
 * passes USER_SHARE.
 *
 * Offline (bench/echo-spectral.ts, 20 echoed replies in four flite voices, 3 users over each):
 * worst 300 ms echo-only share 0.02 plain / 0.11 room / 0.20 speakerphone against USER_SHARE 0.3.
 * Cost: one FFT per 10 ms frame of reply and of microphone audio while a reply plays (512 points at
 * 16 kHz, a few microseconds) and about 64 x 104 comparisons per microphone frame.
 */

const MIN_HZ = 150;
const MAX_HZ = 3400;
const GRID_STEP_HZ = 31.25;
export const GRID = Math.floor((MAX_HZ - MIN_HZ) / GRID_STEP_HZ);
const BANDS = 8;
/** Reply frames after the lag (heard a little early) and before it (the room's tail). */
const LOOKAHEAD = 3;
export const HOLD_FRAMES = 60;
const DECAY_DB = 1;
/** Power above the bound (times the learned gain) that still counts as echo: 3 dB. */
const KAPPA = 10 ** (3 / 10);
/** Percentile of microphone / bound power per band that is the echo path's gain. */
const GAIN_PERCENTILE = 0.8;
/** Learned frames before the check gives a verdict. */
export const READY_FRAMES = 20;
/** Share of the recent microphone power the echo cannot explain that means the user. */
export const USER_SHARE = 0.3;
const WINDOW = 30;
const MIN_WINDOW_FRAMES = 8;
/** Quantised reply spectra: 0.5 dB steps from 0 dB (power of 1 in FFT units). */
const DB_STEP = 0.5;
/** The decay per frame in those steps (a whole number, so held levels stay table indices). */
const DECAY_STEPS = DECAY_DB / DB_STEP;
/** Power of each quantised level. */
const LEVEL_POWER = Float64Array.from({ length: 256 }, (_, q) => 10 ** ((q * DB_STEP) / 10));
/** The gain histogram: 1 dB buckets from -60 to +40 dB; halved once it holds this many frames. */
const HISTOGRAM_MIN_DB = -60;
const HISTOGRAM_BUCKETS = 100;
const HISTOGRAM_LIMIT = 6000;

export const ULAW_TABLE = (() => {
  const table = new Int16Array(256);
  for (let i = 0; i < 256; i++) {
    const u = ~i & 0xff;
    const exponent = (u >> 4) & 7;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
    table[i] = u & 0x80 ? -magnitude : magnitude;
  }
  return table;
})();

const BAND_OF = (() => {
  const bands = new Uint8Array(GRID);
  const lo = Math.log(MIN_HZ);
  const span = Math.log(MIN_HZ + GRID * GRID_STEP_HZ) - lo;
  for (let j = 0; j < GRID; j++) bands[j] = Math.min(BANDS - 1, Math.floor(((Math.log(MIN_HZ + j * GRID_STEP_HZ) - lo) / span) * BANDS));
  return bands;
})();
/** Reply frames either side of the lag the fine-structure match tries. */
const FINE_SLACK = 1;
/** Grid points per band. */
const BAND_WIDTH = (() => {
  const widths = new Uint8Array(BANDS);
  for (const band of BAND_OF) widths[band] = widths[band]! + 1;
  return widths;
})();

/** Subtracts each band's mean from a log spectrum on the grid (`sums`: scratch, BANDS long). */
function centreBands(values: Float64Array, sums: Float64Array): void {
  sums.fill(0);
  for (let j = 0; j < GRID; j++) sums[BAND_OF[j]!] = sums[BAND_OF[j]!]! + values[j]!;
  for (let j = 0; j < GRID; j++) values[j] = values[j]! - sums[BAND_OF[j]!]! / BAND_WIDTH[BAND_OF[j]!]!;
}

/**
 * Turns one stream's audio (PCM16 or u-law at any rate) into power spectra on the shared grid, one
 * per 10 ms hop, each over the window ending at that hop (the same frame boundaries as the
 * detector's loudness envelope).
 */
export class SpectrumFramer {
  private readonly size: number;
  private readonly hop: number;
  private readonly ring: Float32Array;
  private readonly window: Float32Array;
  private readonly input: number[];
  private readonly output: number[];
  private readonly fft: FFT;
  /** Per grid point: the FFT bin below it and the weight of the one above. */
  private readonly lower: Int32Array;
  private readonly weight: Float32Array;
  private readonly out = new Float32Array(GRID);
  private position = 0;
  private sinceHop = 0;
  private zeroRun = 0;
  /** Whether the last frame was digital silence (all zeros). */
  silent = false;
  private odd?: number;

  constructor(
    private readonly codec: 'pcm' | 'ulaw',
    sampleRate: number,
  ) {
    this.hop = Math.max(1, Math.round(sampleRate / 100));
    let size = 64;
    while (size < 0.032 * sampleRate) size *= 2;
    this.size = size;
    this.ring = new Float32Array(size);
    this.window = Float32Array.from({ length: size }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size));
    this.fft = new FFT(size);
    this.input = new Array<number>(size).fill(0);
    this.output = this.fft.createComplexArray() as number[];
    this.lower = new Int32Array(GRID);
    this.weight = new Float32Array(GRID);
    for (let j = 0; j < GRID; j++) {
      const bin = Math.min(size / 2 - 1, ((MIN_HZ + j * GRID_STEP_HZ) * size) / sampleRate);
      this.lower[j] = Math.floor(bin);
      this.weight[j] = bin - Math.floor(bin);
    }
  }

  /**
   * Calls `frame` with each completed frame's grid powers (a reused array: copy what you keep), or
   * with undefined for a frame `wanted(k)` (k: the frame's index within this chunk) declines.
   * Without `frame` the audio only moves the window on (no transform: nothing to judge). A window of
   * digital silence (silent TTS, a muted microphone) is all zeros without a transform.
   */
  push(chunk: Buffer, frame?: (power: Float32Array | undefined) => void, wanted?: (k: number) => boolean): void {
    const out = this.out;
    let k = 0;
    const sample = (value: number) => {
      this.ring[this.position] = value;
      this.position = (this.position + 1) % this.size;
      this.zeroRun = value === 0 ? this.zeroRun + 1 : 0;
      if (++this.sinceHop === this.hop) {
        this.sinceHop = 0;
        if (!frame) return;
        if (wanted && !wanted(k++)) {
          frame(undefined);
          return;
        }
        this.silent = this.zeroRun >= this.size;
        if (this.silent) out.fill(0);
        else this.transform(out);
        frame(out);
      }
    };
    if (this.codec === 'ulaw') {
      for (let i = 0; i < chunk.length; i++) sample(ULAW_TABLE[chunk[i]!]!);
      return;
    }
    let i = 0;
    if (this.odd !== undefined && chunk.length > 0) {
      sample((((chunk[0]! << 8) | this.odd) << 16) >> 16);
      this.odd = undefined;
      i = 1;
    }
    for (; i + 1 < chunk.length; i += 2) sample((((chunk[i + 1]! << 8) | chunk[i]!) << 16) >> 16);
    if (i < chunk.length) this.odd = chunk[i];
  }

  private transform(out: Float32Array): void {
    const { size, ring, window, input, output } = this;
    for (let k = 0; k < size; k++) input[k] = ring[(this.position + k) % size]! * window[k]!;
    this.fft.realTransform(output, input);
    for (let j = 0; j < GRID; j++) {
      const b = this.lower[j]!;
      const w = this.weight[j]!;
      const p0 = output[2 * b]! ** 2 + output[2 * b + 1]! ** 2;
      const p1 = output[2 * b + 2]! ** 2 + output[2 * b + 3]! ** 2;
      out[j] = p0 + w * (p1 - p0);
    }
  }
}

/**
 * One session's spectral check. The reply's spectra are kept quantised (one byte per grid point
 * per frame, up to `maxReplyFrames`); the microphone's are judged as they arrive and only their
 * shares are kept (the last 300 ms). Gains persist across turns (same room, same loudspeaker).
 */
export class SpectralEcho {
  private reply?: { framer: SpectrumFramer; levels: Uint8Array; length: number };
  private mic?: { framer: SpectrumFramer; format: string };
  private readonly histogram = new Float64Array(BANDS * HISTOGRAM_BUCKETS);
  private histogramFrames = 0;
  private readonly gains = new Float64Array(BANDS).fill(1);
  private learned = 0;
  private readonly shares = new Float32Array(WINDOW).fill(Number.NaN);
  private shareCount = 0;
  private readonly bound = new Float64Array(GRID);
  private readonly maxQ = new Float64Array(GRID);
  private readonly hold = new Float64Array(GRID).fill(-Infinity);
  /** The reply frame `hold` was last computed for. */
  private holdIndex = Number.NaN;
  private readonly bandMic = new Float64Array(BANDS);
  /** Fine-structure match of the last frames (see fineMatch), NaN where not computed. */
  private readonly fines = new Float32Array(WINDOW).fill(Number.NaN);
  private readonly fineMic = new Float64Array(GRID);
  private readonly fineReply = new Float64Array(GRID);
  private readonly fineSums = new Float64Array(BANDS);
  private readonly bandBound = new Float64Array(BANDS);

  constructor(private readonly maxReplyFrames: number) {}

  startReply(format: { codec: 'pcm' | 'ulaw'; sampleRate: number } | undefined): void {
    this.reply = format ? { framer: new SpectrumFramer(format.codec, format.sampleRate), levels: new Uint8Array(GRID * 256), length: 0 } : undefined;
    this.shares.fill(Number.NaN);
    this.fines.fill(Number.NaN);
    this.holdIndex = Number.NaN;
  }

  /** Reply audio, in order from the reply's first byte. */
  addReply(chunk: Buffer): void {
    const reply = this.reply;
    if (!reply) return;
    reply.framer.push(chunk, (power) => {
      if (!power || reply.length >= this.maxReplyFrames) return;
      if ((reply.length + 1) * GRID > reply.levels.length) {
        const grown = new Uint8Array(Math.min(this.maxReplyFrames * GRID, reply.levels.length * 2));
        grown.set(reply.levels);
        reply.levels = grown;
      }
      const offset = reply.length * GRID;
      // Digital silence: the levels stay 0 (the array starts zeroed and only grows).
      if (reply.framer.silent) {
        reply.length++;
        return;
      }
      for (let j = 0; j < GRID; j++) reply.levels[offset + j] = Math.max(0, Math.min(255, Math.round((10 * Math.log10(power[j]! + 1e-9)) / DB_STEP)));
      reply.length++;
    });
  }

  /** Reply frames held (bounded by maxReplyFrames). */
  get replyFrames(): number {
    return this.reply?.length ?? 0;
  }

  /** Frames the echo path's gains were learned from. */
  get learnedFrames(): number {
    return this.learned;
  }

  /**
   * Microphone audio; without `judging` (no reply playing) the frames are not transformed. `replyIndexOf(k)` maps the k-th completed frame of this chunk to the reply
   * frame heard then at the current lag (undefined: no reply, or the lag not known yet); `loud(k)`
   * says whether the frame is loud; `learn` whether the reply clearly comes back now (frames teach
   * the gains).
   */
  addMic(chunk: Buffer, formatName: string, format: { codec: 'pcm' | 'ulaw'; sampleRate: number }, judging: { replyIndexOf: (k: number) => number | undefined; loud: (k: number) => boolean; learn: boolean; fine?: boolean } | undefined): void {
    if (this.mic?.format !== formatName) this.mic = { framer: new SpectrumFramer(format.codec, format.sampleRate), format: formatName };
    if (!judging) {
      this.mic.framer.push(chunk);
      return;
    }
    const { replyIndexOf, loud, learn, fine = false } = judging;
    let k = 0;
    // Quiet frames are not transformed: only loud ones are judged.
    this.mic.framer.push(
      chunk,
      (power) => {
        const index = replyIndexOf(k++);
        this.judgeFrame(power, power ? index : undefined, learn, fine);
      },
      loud,
    );
  }

  private judgeFrame(power: Float32Array | undefined, index: number | undefined, learn: boolean, fine: boolean): void {
    const slot = this.shareCount++ % WINDOW;
    this.shares[slot] = Number.NaN;
    this.fines[slot] = Number.NaN;
    const reply = this.reply;
    if (!power || index === undefined || !reply || index < -LOOKAHEAD || index - HOLD_FRAMES >= reply.length) return;
    const { bound, maxQ, hold } = this;
    const levels = reply.levels;
    // Peak hold of the reply's levels with the room's decay, in quantised dB steps, carried from one
    // microphone frame to the next (they are consecutive reply frames at a steady lag); from scratch
    // when the lag moved. Recomputing the 60-frame hold per frame cost about 6 ms of CPU per second
    // of microphone audio; carried, about 1 ms (both measured on the 2-core dev box).
    if (index === this.holdIndex + 1) {
      const offset = index * GRID;
      const inReply = index >= 0 && index < reply.length;
      for (let j = 0; j < GRID; j++) {
        const decayed = hold[j]! - DECAY_STEPS;
        const level = inReply ? levels[offset + j]! : -Infinity;
        hold[j] = level > decayed ? level : decayed;
      }
    } else if (index !== this.holdIndex) {
      hold.fill(-Infinity);
      const from = Math.max(0, index - HOLD_FRAMES);
      const to = Math.min(reply.length - 1, index);
      for (let r = from; r <= to; r++) {
        const decaySteps = (index - r) * DECAY_STEPS;
        const offset = r * GRID;
        for (let j = 0; j < GRID; j++) {
          const q = levels[offset + j]! - decaySteps;
          if (q > hold[j]!) hold[j] = q;
        }
      }
    }
    this.holdIndex = index;
    maxQ.set(hold);
    for (let r = Math.max(0, index + 1); r <= Math.min(reply.length - 1, index + LOOKAHEAD); r++) {
      const offset = r * GRID;
      for (let j = 0; j < GRID; j++) if (levels[offset + j]! > maxQ[j]!) maxQ[j] = levels[offset + j]!;
    }
    if (maxQ[0] === -Infinity) return;
    for (let j = 0; j < GRID; j++) bound[j] = LEVEL_POWER[Math.max(0, Math.min(255, maxQ[j]!))]!;
    let total = 0;
    let over = 0;
    this.bandMic.fill(0);
    this.bandBound.fill(0);
    for (let j = 0; j < GRID; j++) {
      const m = power[j]!;
      total += m;
      const band = BAND_OF[j]!;
      this.bandMic[band] = this.bandMic[band]! + m;
      this.bandBound[band] = this.bandBound[band]! + bound[j]!;
      const widened = Math.max(bound[j]!, j > 0 ? bound[j - 1]! : 0, j + 1 < GRID ? bound[j + 1]! : 0);
      const excess = m - KAPPA * this.gains[band]! * widened;
      if (excess > 0) over += excess;
    }
    const share = total > 0 ? over / total : 0;
    if (fine) this.fines[slot] = this.fineStructure(power, index, reply);
    if (this.learned >= READY_FRAMES) this.shares[slot] = share;
    // Once the gains are known, frames that look like the user do not teach them.
    if (learn && (this.learned < READY_FRAMES || share < USER_SHARE)) this.learn();
  }

  /**
   * How well the microphone frame's spectral fine structure (harmonics, formant detail: the log
   * spectrum less its mean in each band, so no gain needs to be known) matches the reply frame heard
   * at this lag (the loudest of it and its neighbours per grid point): the correlation over the
   * grid. The echo of the reply's first sounds matches it at 0.5-0.97 (plain, room, speakerphone);
   * a user who starts talking as the reply starts, whose loudness envelope may follow the reply's as
   * closely, at -0.4 to 0.4 (bench/echo-reverb.ts ECHO_FIRST=1, ECHO_USER_AT=0).
   */
  private fineStructure(power: Float32Array, index: number, reply: { levels: Uint8Array; length: number }): number {
    const { fineMic: x, fineReply: y, fineSums: sums } = this;
    if (index < 0 || index >= reply.length) return Number.NaN;
    for (let j = 0; j < GRID; j++) {
      let q = 0;
      for (let r = Math.max(0, index - FINE_SLACK); r <= Math.min(reply.length - 1, index + FINE_SLACK); r++) q = Math.max(q, reply.levels[r * GRID + j]!);
      x[j] = 10 * Math.log10(power[j]! + 1e-9);
      y[j] = q * DB_STEP;
    }
    centreBands(x, sums);
    centreBands(y, sums);
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let j = 0; j < GRID; j++) {
      xy += x[j]! * y[j]!;
      xx += x[j]! * x[j]!;
      yy += y[j]! * y[j]!;
    }
    return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : Number.NaN;
  }

  /** Mean fine-structure match (fineStructure) of the last `frames` judged frames it was asked for (undefined: fewer than 3). */
  fineMatch(frames = 10): number | undefined {
    const { n, mean } = recentMean(this.fines, this.shareCount, frames);
    return n >= 3 ? mean : undefined;
  }

  private learn(): void {
    for (let band = 0; band < BANDS; band++) {
      const b = this.bandBound[band]!;
      const m = this.bandMic[band]!;
      if (b <= 0 || m <= 0) continue;
      const bucket = Math.max(0, Math.min(HISTOGRAM_BUCKETS - 1, Math.round(10 * Math.log10(m / b) - HISTOGRAM_MIN_DB)));
      this.histogram[band * HISTOGRAM_BUCKETS + bucket] = this.histogram[band * HISTOGRAM_BUCKETS + bucket]! + 1;
    }
    this.learned++;
    if (++this.histogramFrames > HISTOGRAM_LIMIT) {
      for (let i = 0; i < this.histogram.length; i++) this.histogram[i] = this.histogram[i]! / 2;
      this.histogramFrames /= 2;
    }
    if (this.learned === READY_FRAMES || this.learned % 10 === 0) this.updateGains();
  }

  private updateGains(): void {
    for (let band = 0; band < BANDS; band++) {
      let total = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) total += this.histogram[band * HISTOGRAM_BUCKETS + i]!;
      if (total === 0) continue;
      let seen = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += this.histogram[band * HISTOGRAM_BUCKETS + i]!;
        if (seen >= GAIN_PERCENTILE * total) {
          this.gains[band] = 10 ** ((i + HISTOGRAM_MIN_DB) / 10);
          break;
        }
      }
    }
  }

  /**
   * Mean unexplained share over the last `frames` (at most 300 ms) of loud, judged microphone frames
   * (undefined: the gains are not learned yet, or fewer than a quarter of them were loud and judged).
   */
  recentShare(frames = WINDOW): number | undefined {
    if (this.learned < READY_FRAMES) return undefined;
    const { n, mean } = recentMean(this.shares, this.shareCount, frames);
    return n >= Math.max(3, Math.round((MIN_WINDOW_FRAMES * frames) / WINDOW)) ? mean : undefined;
  }
}

/** Mean of the values (NaN: none) in the last `frames` (at most WINDOW) slots of a ring written `count` times, and how many there were. */
function recentMean(ring: Float32Array, count: number, frames: number): { n: number; mean: number } {
  let n = 0;
  let sum = 0;
  for (let k = 1; k <= Math.min(frames, WINDOW); k++) {
    const value = ring[(count - k + WINDOW * 2) % WINDOW]!;
    if (Number.isNaN(value)) continue;
    n++;
    sum += value;
  }
  return { n, mean: n > 0 ? sum / n : Number.NaN };
}
