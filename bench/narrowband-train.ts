/**
 * Fits the narrowband map of libs/engines/src/stt/narrowband.ts and writes narrowband-model.ts.
 *
 * Data: 480 utterances of random dictionary words (seeded) spoken by Debian flite's rms, awb and
 * kal16 voices, half of them also pitch- and formant-shifted up 250-450 cents with a random gain
 * (sox), so the fit sees higher voices and other levels. The slt voice of the tests and the shared
 * human recordings are left out, to measure on. Each utterance is rendered at 16 kHz and as the
 * service receives 8 kHz mu-law (downsampled, mu-law round trip, streamed back up to 16 kHz); the
 * fit is ridge regression from the 8 kHz side's log mel filters [0, 19) of frames t-2..t+2 to the
 * 16 kHz side's filters 19-24 of frame t.
 *   apt-get install flite sox && npm run build && node dist/bench/narrowband-train.js [outFile]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import alawmulaw from 'alawmulaw';
import { createStreamResampler, resamplePcm16 } from '@app/audio';
import { PocketSphinxEngine } from '../libs/engines/src/stt/pocketsphinx.ffi.js';
import { DEBIAN_EN_US_MODEL } from '../libs/engines/src/stt/model.js';

const out = process.argv[2] ?? new URL('../../libs/engines/src/stt/narrowband-model.ts', import.meta.url).pathname;
const VOICES = ['rms', 'awb', 'kal16'];
const UTTERANCES_PER_VOICE = 160;
const LOW_BANDS = 19;
const OUT_BANDS = [19, 20, 21, 22, 23, 24];
const CONTEXT = 2;
/** Ridge penalty per frame of data (on every weight but the bias). */
const RIDGE = 1e-3;

/** mulberry32: small seeded PRNG, so the data (and the fit) are the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(20240611);
const words = readFileSync(DEBIAN_EN_US_MODEL.dict, 'utf8')
  .split('\n')
  .map((line) => line.split(' ', 1)[0]!)
  .filter((w) => /^[a-z]{2,10}$/.test(w));
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const dir = mkdtempSync(join(tmpdir(), 'narrowband-'));
const raw = ['-t', 'raw', '-r', '16000', '-b', '16', '-c', '1', '-e', 'signed'];
function render(voice: string, text: string, shift?: { cents: number; gainDb: number }): Int16Array {
  const wav = join(dir, 'u.wav');
  const pcm = join(dir, 'u.raw');
  execFileSync('flite', ['-voice', voice, '-t', text, '-o', wav]);
  execFileSync('sox', [wav, ...raw, pcm, ...(shift ? ['pitch', String(shift.cents), 'gain', shift.gainDb.toFixed(1)] : [])], { stdio: 'ignore' });
  const bytes = readFileSync(pcm);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).slice();
}

const engine = PocketSphinxEngine.load();
const frontEnd = engine.createLogMelFrontEnd();
function logMel(pcm: Int16Array): Float32Array[] {
  frontEnd.start();
  return [...frontEnd.process(pcm), ...frontEnd.end()];
}

/** The 16 kHz audio as the service hears it from an 8 kHz mu-law client. */
async function telephone(pcm: Int16Array): Promise<Int16Array> {
  const ulaw = alawmulaw.mulaw.decode(alawmulaw.mulaw.encode(await resamplePcm16(pcm, 16000, 8000)));
  const resampler = await createStreamResampler(8000, 16000);
  const parts: Int16Array[] = [];
  for (let i = 0; i < ulaw.length; i += 1600) parts.push(resampler.process(ulaw.subarray(i, i + 1600)));
  resampler.destroy();
  const joined = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (joined.set(p, offset), offset + p.length), 0);
  return joined;
}

const dim = LOW_BANDS * (2 * CONTEXT + 1) + 1;
const xtx = new Float64Array(dim * dim);
const xty = OUT_BANDS.map(() => new Float64Array(dim));
let frames = 0;
try {
  for (const voice of VOICES) {
    for (let i = 0; i < UTTERANCES_PER_VOICE; i++) {
      const text = Array.from({ length: 6 + Math.floor(random() * 7) }, () => pick(words)).join(' ');
      const renders = [render(voice, text)];
      if (i % 2 === 0) renders.push(render(voice, text, { cents: pick([250, 350, 450]), gainDb: -12 + 14 * random() }));
      for (const speech of renders) {
        const padded = new Int16Array(speech.length + 0.8 * 16000);
        padded.set(speech, 0.3 * 16000);
        const wide = logMel(padded);
        const narrow = logMel(await telephone(padded));
        const n = Math.min(wide.length, narrow.length);
        const x = new Float64Array(dim);
        for (let t = 0; t < n; t++) {
          let k = 0;
          for (let d = -CONTEXT; d <= CONTEXT; d++) {
            const frame = narrow[Math.min(n - 1, Math.max(0, t + d))]!;
            for (let b = 0; b < LOW_BANDS; b++) x[k++] = frame[b]!;
          }
          x[k] = 1;
          for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) xtx[a * dim + b]! += x[a]! * x[b]!;
          OUT_BANDS.forEach((band, r) => {
            for (let a = 0; a < dim; a++) xty[r]![a]! += x[a]! * wide[t]![band]!;
          });
          frames++;
        }
      }
    }
    console.log(`${voice}: ${frames} frames so far`);
  }
} finally {
  frontEnd.free();
  engine.dispose();
  rmSync(dir, { recursive: true, force: true });
}

for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) xtx[a * dim + b] = xtx[b * dim + a]!;
for (let a = 0; a < dim - 1; a++) xtx[a * dim + a]! += RIDGE * frames;
// Cholesky factor L of the normal matrix, then two triangular solves per output band.
const l = new Float64Array(dim * dim);
for (let a = 0; a < dim; a++) {
  for (let b = 0; b <= a; b++) {
    let s = xtx[a * dim + b]!;
    for (let k = 0; k < b; k++) s -= l[a * dim + k]! * l[b * dim + k]!;
    l[a * dim + b] = a === b ? Math.sqrt(s) : s / l[b * dim + b]!;
  }
}
function solve(rhs: Float64Array): number[] {
  const y = new Float64Array(dim);
  for (let a = 0; a < dim; a++) {
    let s = rhs[a]!;
    for (let k = 0; k < a; k++) s -= l[a * dim + k]! * y[k]!;
    y[a] = s / l[a * dim + a]!;
  }
  const w = new Float64Array(dim);
  for (let a = dim - 1; a >= 0; a--) {
    let s = y[a]!;
    for (let k = a + 1; k < dim; k++) s -= l[k * dim + a]! * w[k]!;
    w[a] = s / l[a * dim + a]!;
  }
  return Array.from(w, (v) => Number(v.toPrecision(6)));
}
const weights = xty.map(solve);

writeFileSync(
  out,
  `/** Generated by bench/narrowband-train.ts (${frames} frames): do not edit by hand. */
export interface NarrowbandModel {
  /** Input: log mel filters [0, lowBands) of frames t-context..t+context. */
  readonly lowBands: number;
  readonly context: number;
  /** Filters estimated, one weight row each: lowBands weights per frame from t-context to t+context, then the bias. */
  readonly outBands: readonly number[];
  readonly weights: readonly (readonly number[])[];
}

export const NARROWBAND_MODEL: NarrowbandModel = {
  lowBands: ${LOW_BANDS},
  context: ${CONTEXT},
  outBands: [${OUT_BANDS.join(', ')}],
  weights: [
${weights.map((row) => `    [${row.join(', ')}],`).join('\n')}
  ],
};
`,
);
console.log(`${frames} frames; wrote ${out}`);
