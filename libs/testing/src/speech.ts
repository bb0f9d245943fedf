import { readFileSync, writeFileSync } from 'node:fs';
import alawmulaw from 'alawmulaw';
import { decodeWav, encodeWav, pcm16Samples, resamplePcm16, rmsLevel, samplesToBuffer } from '@app/audio';
import type { FliteSynthesizer } from '@app/engines';
import type { VoiceTestClient } from './voice-test-client.js';

/**
 * The human speech recordings (16 kHz mono) with their reference transcripts: `test/fixtures/speech`
 * in the repository (sources and licences in its README), or VOICE_LAYER_SPEECH_DIR.
 */
export const SHARED_SPEECH_DIR = process.env['VOICE_LAYER_SPEECH_DIR']
  ? new URL(`file://${process.env['VOICE_LAYER_SPEECH_DIR'].replace(/\/?$/, '/')}`)
  : new URL('../../../../test/fixtures/speech/', import.meta.url);
export const SHARED_RECORDINGS: Record<string, string> = {
  'jfk.wav': 'and so my fellow americans ask not what your country can do for you ask what you can do for your country',
  'librivox-austen-0870.wav': 'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  'librivox-austen-0880.wav': 'he was not an ill disposed young man',
  'librivox-austen-0890.wav': 'unless to be rather cold hearted and rather selfish is to be ill disposed',
};

export function readSharedRecording(name: string): Buffer {
  const audio = decodeWav(readFileSync(new URL(name, SHARED_SPEECH_DIR)));
  if (audio.sampleRate !== 16000) throw new Error(`${name} is not 16 kHz`);
  return samplesToBuffer(audio.samples);
}

/** Synthesises `text` with flite (voice slt) as PCM16 at `sampleRate`. */
export async function synthesizeSpeech(synthesizer: FliteSynthesizer, text: string, sampleRate = 16000): Promise<Buffer> {
  const result = await synthesizer.synthesize({ text, voice: 'slt', sampleRate, speed: 1 });
  return Buffer.from(result.pcm);
}

export function silence(seconds: number, sampleRate = 16000): Buffer {
  return Buffer.alloc(Math.round(seconds * sampleRate) * 2);
}

/**
 * Writes `pcm` (PCM16 at `sampleRate`) as a mono 16-bit WAV file with `lead` and `tail` seconds of
 * silence around it (e.g. for Chromium's fake microphone, which plays the file once); returns `path`.
 */
export function writeSpeechWav(path: string, pcm: Buffer, sampleRate = 16000, lead = 1, tail = 3): string {
  writeFileSync(path, encodeWav({ sampleRate, samples: pcm16Samples(Buffer.concat([silence(lead, sampleRate), pcm, silence(tail, sampleRate)])) }));
  return path;
}

/** Uniform white noise in PCM16LE, peaking at `amplitude`, the same for the same seed. */
export function whiteNoise(seconds: number, amplitude: number, seed = 7, sampleRate = 16000): Buffer {
  const noise = silence(seconds, sampleRate);
  for (let i = 0; i < noise.length / 2; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    noise.writeInt16LE(Math.round(((seed / 0x7fffffff) * 2 - 1) * amplitude), i * 2);
  }
  return noise;
}

export async function resamplePcmBuffer(pcm: Buffer, fromRate: number, toRate: number): Promise<Buffer> {
  const samples = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
  return samplesToBuffer(await resamplePcm16(samples, fromRate, toRate));
}

export function toMulaw(pcm: Buffer): Buffer {
  const samples = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
  return Buffer.from(alawmulaw.mulaw.encode(samples));
}

export interface StreamOptions {
  /** Bytes per second of the encoded audio (rate x 2 for PCM16, rate for mu-law). */
  bytesPerSecond: number;
  chunkMs?: number;
  /** 1 = real time; 4 = four times faster; 0 = as fast as possible. */
  speed?: number;
  mode?: 'binary' | 'base64';
  sampleRate?: number;
  /** Called right after chunk `index` (from 0) is sent. */
  onChunk?: (index: number) => void;
}

/** Streams audio the way a client would: fixed-duration chunks, paced against the wall clock. */
export async function streamAudio(client: VoiceTestClient, audio: Buffer, options: StreamOptions): Promise<void> {
  const chunkMs = options.chunkMs ?? 100;
  const speed = options.speed ?? 1;
  let chunkBytes = Math.round((options.bytesPerSecond * chunkMs) / 1000);
  chunkBytes -= chunkBytes % 2;
  const started = performance.now();
  for (let offset = 0, i = 0; offset < audio.length; offset += chunkBytes, i++) {
    const chunk = audio.subarray(offset, offset + chunkBytes);
    if (options.mode === 'base64') {
      client.send({ type: 'audio.append', audio: chunk.toString('base64'), ...(options.sampleRate ? { sample_rate: options.sampleRate } : {}) });
    } else {
      client.sendRaw(chunk);
    }
    options.onChunk?.(i);
    if (speed > 0) {
      const due = started + ((i + 1) * chunkMs) / speed;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    }
  }
}

/** Word error rate of a hypothesis against a reference (both lower-cased, punctuation dropped). */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const words = (s: string) => s.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean);
  const ref = words(reference);
  const hyp = words(hypothesis);
  let previous = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const current = [i];
    for (let j = 1; j <= hyp.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return ref.length === 0 ? (hyp.length === 0 ? 0 : 1) : previous[hyp.length]! / ref.length;
}

export function normalizeWords(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Where the sound is in 16 kHz PCM16: the first and last 10 ms frame above -40 dBFS, in seconds. */
export function speechSpan(pcm: Buffer, sampleRate = 16000): { start: number; end: number } {
  const samples = pcm16Samples(pcm.subarray(0, pcm.length - (pcm.length % 2)));
  const frame = sampleRate / 100;
  let first = -1;
  let last = -1;
  for (let i = 0; i + frame <= samples.length; i += frame) {
    if (rmsLevel(samples.subarray(i, i + frame)) < 0.01) continue;
    if (first < 0) first = i;
    last = i + frame;
  }
  return first < 0 ? { start: 0, end: 0 } : { start: first / sampleRate, end: last / sampleRate };
}

/**
 * Synthesises `text` with the Debian `espeak-ng` (a second, formant-synthesis voice: another
 * engine than flite) as 16 kHz PCM16. `voice` is an espeak-ng voice, e.g. `en-us` or `en+f3`.
 */
export async function synthesizeEspeak(text: string, voice = 'en-us', sampleRate = 16000): Promise<Buffer> {
  const { execFile } = await import('node:child_process');
  const wav = await new Promise<Buffer>((resolve, reject) => {
    execFile('espeak-ng', ['--stdout', '-v', voice, '-s', '160', text], { encoding: 'buffer', maxBuffer: 32 * 1024 * 1024, timeout: 30_000 }, (error, stdout) => {
      if (error) reject(new Error(`espeak-ng failed (apt-get install -y espeak-ng): ${error.message}`));
      else resolve(stdout);
    });
  });
  // espeak-ng streams its WAV to a pipe with unknown sizes in the header: fix them up before decoding.
  const fixed = Buffer.from(wav);
  fixed.writeUInt32LE(fixed.length - 8, 4);
  const data = fixed.indexOf('data', 12);
  if (data < 0) throw new Error('espeak-ng gave no WAV data');
  fixed.writeUInt32LE(fixed.length - data - 8, data + 4);
  const audio = decodeWav(fixed);
  return resamplePcmBuffer(samplesToBuffer(audio.samples), audio.sampleRate, sampleRate);
}
