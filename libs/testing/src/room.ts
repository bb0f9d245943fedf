/**
 * A room and a loudspeaker for echo tests: what a microphone hears of audio played through a
 * speakerphone, beyond a plain delay and gain.
 *
 * - Speakerphone (optional): a small loudspeaker and a phone's microphone path pass about
 *   300-3400 Hz (4th-order high- and low-pass biquads) and a loud loudspeaker distorts (soft
 *   clipping).
 * - Room: early reflections (a few discrete taps 3-30 ms late) and a diffuse tail (velvet noise:
 *   sparse random +-1 taps, ~1500 a second, decaying 60 dB over `rt60Ms`), scaled so the reverberant
 *   energy is `wet` times the direct sound's (1 = 0 dB direct-to-reverberant ratio, a phone on a desk
 *   a metre away). Sparse taps keep it cheap enough to run in real time per session (~600 taps).
 * Streaming: `process` takes consecutive blocks and carries its state; deterministic for a seed.
 */
export interface RoomOptions {
  /** Reverberation time (60 dB decay) in ms; 0 for none. */
  rt60Ms?: number;
  /** Reverberant energy relative to the direct sound. */
  wet?: number;
  /** Band-limit to 300-3400 Hz and clip softly, as a speakerphone does. */
  speakerphone?: boolean;
  seed?: number;
  sampleRate?: number;
}

interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
  x1: number;
  x2: number;
  y1: number;
  y2: number;
}

/** RBJ cookbook low/high-pass, Q = 1/sqrt(2). */
function biquad(kind: 'low' | 'high', frequency: number, sampleRate: number): Biquad {
  const w = (2 * Math.PI * frequency) / sampleRate;
  const alpha = Math.sin(w) / Math.SQRT2;
  const cos = Math.cos(w);
  const a0 = 1 + alpha;
  const b1 = kind === 'low' ? 1 - cos : -(1 + cos);
  const b0 = kind === 'low' ? (1 - cos) / 2 : (1 + cos) / 2;
  return { b0: b0 / a0, b1: b1 / a0, b2: b0 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0, x1: 0, x2: 0, y1: 0, y2: 0 };
}

function runBiquad(f: Biquad, x: number): number {
  const y = f.b0 * x + f.b1 * f.x1 + f.b2 * f.x2 - f.a1 * f.y1 - f.a2 * f.y2;
  f.x2 = f.x1;
  f.x1 = x;
  f.y2 = f.y1;
  f.y1 = y;
  return y;
}

export class RoomSimulator {
  private readonly delays: Int32Array;
  private readonly gains: Float32Array;
  private readonly history: Float32Array;
  private position = 0;
  private readonly filters: Biquad[];
  private readonly speakerphone: boolean;

  constructor(options: RoomOptions = {}) {
    const rate = options.sampleRate ?? 16000;
    const rt60 = (options.rt60Ms ?? 400) / 1000;
    const wet = options.wet ?? 1;
    this.speakerphone = options.speakerphone ?? false;
    this.filters = this.speakerphone
      ? [biquad('high', 300, rate), biquad('high', 300, rate), biquad('low', 3400, rate), biquad('low', 3400, rate)]
      : [];
    let seed = (options.seed ?? 1) >>> 0 || 1;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const taps: Array<[number, number]> = [];
    if (rt60 > 0 && wet > 0) {
      // Early reflections: floor, desk, near walls.
      for (const ms of [3.1, 7.4, 12.9, 19.7, 28.3]) taps.push([Math.round((ms / 1000) * rate), (random() < 0.5 ? -1 : 1) * (0.6 - ms / 100)]);
      // Diffuse tail: one tap per ~0.67 ms cell at a random place in it, decaying 60 dB over rt60.
      const cell = rate / 1500;
      for (let start = (0.005 * rate); start < rt60 * rate; start += cell) {
        const at = Math.round(start + random() * cell);
        taps.push([at, (random() < 0.5 ? -1 : 1) * 10 ** ((-3 * at) / (rt60 * rate))]);
      }
      const energy = taps.reduce((sum, [, gain]) => sum + gain * gain, 0);
      const scale = Math.sqrt(wet / energy);
      for (const tap of taps) tap[1] *= scale;
    }
    this.delays = Int32Array.from(taps.map(([delay]) => delay));
    this.gains = Float32Array.from(taps.map(([, gain]) => gain));
    this.history = new Float32Array(Math.max(1, ...taps.map(([delay]) => delay + 1)));
  }

  /** Consecutive blocks of the loudspeaker's signal (PCM16 sample values) in, the microphone's out. */
  process(input: ArrayLike<number>): Float32Array {
    const out = new Float32Array(input.length);
    const size = this.history.length;
    for (let n = 0; n < input.length; n++) {
      let x = input[n]!;
      if (this.speakerphone) {
        for (const filter of this.filters) x = runBiquad(filter, x);
        // A small loudspeaker driven hard: soft clipping from about -6 dBFS.
        x = 16384 * Math.tanh(x / 16384);
      }
      this.position = (this.position + 1) % size;
      this.history[this.position] = x;
      let y = x;
      for (let k = 0; k < this.delays.length; k++) y += this.gains[k]! * this.history[(this.position - this.delays[k]! + size) % size]!;
      out[n] = y;
    }
    return out;
  }
}

/** A whole signal through a fresh room (see RoomSimulator). */
export function roomEcho(pcm: Int16Array, options: RoomOptions = {}): Float32Array {
  return new RoomSimulator(options).process(pcm);
}
