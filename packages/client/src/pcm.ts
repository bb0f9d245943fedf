/**
 * Audio sample helpers shared by the capture worklet and the page: a streaming resampler, PCM16 and
 * mu-law coding, base64. No DOM, so they run in an AudioWorklet too.
 */

/**
 * Resamples a mono stream block by block. Downsampling first low-passes with a windowed-sinc FIR
 * (cut-off at 0.45 x the output rate, so nothing folds back into the speech band), then reads the
 * filtered stream at fractional positions with linear interpolation. State carries across blocks,
 * so block sizes do not change the output.
 */
export class StreamResampler {
  private readonly step: number;
  private readonly taps: Float32Array;
  private history: Float32Array;
  private pending: number[] = [];
  private position = 0;

  constructor(
    readonly inputRate: number,
    readonly outputRate: number,
  ) {
    this.step = inputRate / outputRate;
    this.taps = inputRate > outputRate ? lowPass(0.45 * outputRate, inputRate, 0.1 * outputRate) : Float32Array.of(1);
    this.history = new Float32Array(this.taps.length - 1);
  }

  process(input: Float32Array): Float32Array {
    if (this.inputRate === this.outputRate) return input.slice();
    const taps = this.taps;
    const order = taps.length - 1;
    const window = new Float32Array(order + input.length);
    window.set(this.history);
    window.set(input, order);
    for (let n = 0; n < input.length; n++) {
      let sum = 0;
      for (let k = 0; k <= order; k++) sum += taps[k]! * window[n + order - k]!;
      this.pending.push(sum);
    }
    this.history = window.slice(window.length - order);

    const output: number[] = [];
    while (this.position + 1 < this.pending.length) {
      const index = Math.floor(this.position);
      const fraction = this.position - index;
      output.push(this.pending[index]! * (1 - fraction) + this.pending[index + 1]! * fraction);
      this.position += this.step;
    }
    const consumed = Math.min(Math.floor(this.position), this.pending.length - 1);
    this.pending = this.pending.slice(consumed);
    this.position -= consumed;
    return Float32Array.from(output);
  }
}

/** Blackman-windowed sinc low-pass: `cutoff` and `transition` width in Hz at `rate`. */
function lowPass(cutoff: number, rate: number, transition: number): Float32Array {
  const length = Math.min(255, 2 * Math.ceil((5.5 * rate) / transition / 2) + 1);
  const middle = (length - 1) / 2;
  const fc = cutoff / rate;
  const taps = new Float32Array(length);
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const x = i - middle;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const blackman = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (length - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (length - 1));
    taps[i] = sinc * blackman;
    sum += taps[i]!;
  }
  return taps.map((tap) => tap / sum);
}

/** Float samples (-1..1) as PCM16 little-endian bytes. */
export function floatToPcm16(samples: Float32Array): ArrayBuffer {
  const bytes = new ArrayBuffer(samples.length * 2);
  const view = new DataView(bytes);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    view.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return bytes;
}

/** PCM16 little-endian bytes as float samples. */
export function pcm16ToFloat(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const samples = new Float32Array(bytes.byteLength >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 0x8000;
  return samples;
}

const MULAW_BIAS = 0x84;

/** Float samples as 8-bit G.711 mu-law. */
export function floatToMulaw(samples: Float32Array): ArrayBuffer {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    let pcm = Math.round(Math.max(-1, Math.min(1, samples[i]!)) * 32767);
    const sign = pcm < 0 ? 0x80 : 0;
    if (pcm < 0) pcm = -pcm;
    pcm = Math.min(pcm, 32635) + MULAW_BIAS;
    let exponent = 7;
    for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
    const mantissa = (pcm >> (exponent + 3)) & 0x0f;
    out[i] = ~(sign | (exponent << 4) | mantissa) & 0xff;
  }
  return out.buffer;
}

/** 8-bit G.711 mu-law bytes as float samples. */
export function mulawToFloat(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const samples = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const value = ~bytes[i]! & 0xff;
    const exponent = (value >> 4) & 0x07;
    const magnitude = ((((value & 0x0f) << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    samples[i] = (value & 0x80 ? -magnitude : magnitude) / 32768;
  }
  return samples;
}

export function bytesToBase64(bytes: ArrayBuffer): string {
  const view = new Uint8Array(bytes);
  let binary = '';
  for (let i = 0; i < view.length; i += 0x8000) binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Root mean square of float samples. */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}
