/**
 * Telephone-band (8 kHz) input for the 16 kHz en-US acoustic model.
 *
 * The model's 25 mel filters span 130-6800 Hz; audio sampled at 8 kHz has nothing above 4 kHz, so the
 * top six filters (19-24) are empty and every cepstral coefficient is off. A noise floor in that band
 * hides the empty band but carries no speech (measured: WER 0.39 on 100 utterances, against 0.09 at
 * 16 kHz); putting the true 16 kHz values in those six filters gives back 0.11, so the loss is all in
 * them. This front end estimates them instead: a linear map from the 19 filters below 3.8 kHz of
 * five consecutive frames (+-20 ms) to the six upper ones, fitted by least squares on synthetic
 * speech rendered at 16 kHz and as 8 kHz mu-law (bench/narrowband-train.ts), then computes the
 * cepstra as the model's front end does (DCT-II, sinusoidal lifter) for ps_process_cep.
 */
import { NARROWBAND_MODEL, type NarrowbandModel } from './narrowband-model.js';
import type { LogMelFrontEnd } from './pocketsphinx.ffi.js';

/** The front-end parameters the map was fitted for (Debian's en-US model, feat.params). */
export const NARROWBAND_FEATURE_PARAMS: Readonly<Record<string, string>> = { lowerf: '130', upperf: '6800', nfilt: '25', transform: 'dct', lifter: '22' };
const CEPSTRA = 13;

/** True when the model's feature parameters are the ones the narrowband map was fitted for. */
export function supportsNarrowband(featureParams: Readonly<Record<string, string>>): boolean {
  return Object.entries(NARROWBAND_FEATURE_PARAMS).every(([key, value]) => Number(featureParams[key]) === Number(value) || featureParams[key] === value);
}

/**
 * One stream's narrowband front end: upsampled 16 kHz audio in, cepstra with estimated upper
 * filters out, CONTEXT frames (20 ms) behind the input. One utterance at a time.
 */
export class NarrowbandFrontEnd {
  private readonly cosines: Float64Array[];
  private readonly lifter: Float64Array;
  /** Log mel frames not yet needed by any output frame are dropped; `first` is the index of frames[0]. */
  private frames: Float32Array[] = [];
  private first = 0;
  private received = 0;
  private emitted = 0;

  constructor(
    private readonly logMel: LogMelFrontEnd,
    private readonly model: NarrowbandModel = NARROWBAND_MODEL,
  ) {
    const n = logMel.bands;
    this.cosines = Array.from({ length: CEPSTRA }, (_, i) => Float64Array.from({ length: n }, (_, j) => Math.cos((Math.PI / n) * i * (j + 0.5))));
    const lifter = Number(NARROWBAND_FEATURE_PARAMS['lifter']);
    this.lifter = Float64Array.from({ length: CEPSTRA }, (_, i) => 1 + (lifter / 2) * Math.sin((i * Math.PI) / lifter));
  }

  start(): void {
    this.logMel.start();
    this.frames = [];
    this.first = this.received = this.emitted = 0;
  }

  /** 16 kHz samples in, the cepstral frames now complete (with their right context) out. */
  process(pcm: Int16Array): Float32Array[] {
    for (const frame of this.logMel.process(pcm)) this.frames.push(frame);
    this.received = this.first + this.frames.length;
    return this.drain(this.received - this.model.context);
  }

  /** Ends the utterance: the remaining frames, the missing right context repeating the last frame. */
  end(): Float32Array[] {
    for (const frame of this.logMel.end()) this.frames.push(frame);
    this.received = this.first + this.frames.length;
    return this.drain(this.received);
  }

  free(): void {
    this.logMel.free();
  }

  private drain(until: number): Float32Array[] {
    const out: Float32Array[] = [];
    for (; this.emitted < until; this.emitted++) out.push(this.cepstra(this.extend(this.emitted)));
    const keepFrom = Math.max(0, this.emitted - this.model.context);
    if (keepFrom > this.first) {
      this.frames.splice(0, keepFrom - this.first);
      this.first = keepFrom;
    }
    return out;
  }

  /** Frame t with its upper filters replaced by the estimate from frames t-C..t+C (edges repeated). */
  private extend(t: number): Float32Array {
    const { context, lowBands, outBands, weights } = this.model;
    const frame = (i: number) => this.frames[Math.min(this.received - 1, Math.max(0, i)) - this.first]!;
    const out = Float32Array.from(frame(t));
    for (let r = 0; r < outBands.length; r++) {
      const w = weights[r]!;
      let sum = w[w.length - 1]!;
      let k = 0;
      for (let d = -context; d <= context; d++) {
        const f = frame(t + d);
        for (let b = 0; b < lowBands; b++) sum += w[k++]! * f[b]!;
      }
      out[outBands[r]!] = sum;
    }
    return out;
  }

  /** The model front end's cepstra of a log mel frame: DCT-II (orthonormal scaling), then the lifter. */
  private cepstra(logMel: Float32Array): Float32Array {
    const n = logMel.length;
    const cep = new Float32Array(CEPSTRA);
    for (let i = 0; i < CEPSTRA; i++) {
      let sum = 0;
      const cos = this.cosines[i]!;
      for (let j = 0; j < n; j++) sum += logMel[j]! * cos[j]!;
      cep[i] = sum * Math.sqrt((i === 0 ? 1 : 2) / n) * this.lifter[i]!;
    }
    return cep;
  }
}
