/**
 * Worker-thread side of the emulator's MP3 output: LAME (pure JS, @breezystack/lamejs) encodes one
 * piece of PCM into a self-contained run of MPEG frames. At about 20x real time on one core, a
 * sentence would hold the event loop for tens of milliseconds, hence the worker.
 */
import { Mp3Encoder } from '@breezystack/lamejs';

export interface Mp3Job {
  /** PCM16LE mono. */
  pcm: Uint8Array;
  sampleRate: number;
  kbps: number;
}

export default function encodeMp3(job: Mp3Job): Uint8Array {
  const samples = new Int16Array(job.pcm.buffer, job.pcm.byteOffset, job.pcm.byteLength / 2);
  const encoder = new Mp3Encoder(1, job.sampleRate, job.kbps);
  // lamejs returns Int8Array views despite its typings; copy them into one byte array.
  return Buffer.concat([encoder.encodeBuffer(samples), encoder.flush()].map((part) => new Uint8Array(part.buffer, part.byteOffset, part.byteLength)));
}
