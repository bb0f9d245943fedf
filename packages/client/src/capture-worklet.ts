/**
 * AudioWorklet processor `pcm-capture`: downmixes the microphone to mono, resamples it to the
 * session rate and posts fixed-size chunks of PCM16LE (or mu-law) to the page, with the input level.
 *
 * Messages to the page:
 *   { kind: 'level', rms, peak }            about every 50 ms
 *   { kind: 'flushed' }                     after a `flush` request has posted what was buffered
 *   { kind: 'chunk', audio, rms, voicedUntil, seconds }  every `chunkMs`; `audio` is transferred;
 *     `voicedUntil` is where the last 10 ms frame above the speech level ends, in seconds from the
 *     chunk start (-1 if none), so the page can tell when the user stopped speaking.
 */
import { floatToMulaw, floatToPcm16, rms, StreamResampler } from './pcm.js';

export interface CaptureOptions {
  targetRate: number;
  chunkMs: number;
  encoding: 'pcm' | 'ulaw';
  /** RMS above which a 10 ms frame counts as voiced. */
  speechLevel: number;
}

interface AudioWorkletScope {
  sampleRate: number;
  AudioWorkletProcessor: new () => { readonly port: MessagePort };
  registerProcessor(name: string, processor: new (options: { processorOptions: CaptureOptions }) => object): void;
}
const scope = globalThis as unknown as AudioWorkletScope;

class CaptureProcessor extends scope.AudioWorkletProcessor {
  private readonly options: CaptureOptions;
  private readonly resampler: StreamResampler;
  private readonly chunk: Float32Array;
  private filled = 0;
  private levelSum = 0;
  private levelPeak = 0;
  private levelFrames = 0;
  private readonly levelEvery: number;

  constructor({ processorOptions }: { processorOptions: CaptureOptions }) {
    super();
    this.options = processorOptions;
    this.resampler = new StreamResampler(scope.sampleRate, processorOptions.targetRate);
    this.chunk = new Float32Array(Math.round((processorOptions.targetRate * processorOptions.chunkMs) / 1000));
    this.levelEvery = Math.round(scope.sampleRate * 0.05);
    this.port.onmessage = (event: MessageEvent<{ kind: 'flush' }>) => {
      if (event.data.kind !== 'flush') return;
      this.flush();
      this.port.postMessage({ kind: 'flushed' });
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const mono = new Float32Array(channels[0]!.length);
    for (const channel of channels) for (let i = 0; i < mono.length; i++) mono[i]! += channel[i]! / channels.length;
    this.meter(mono);
    const resampled = this.resampler.process(mono);
    for (let offset = 0; offset < resampled.length; ) {
      const take = Math.min(resampled.length - offset, this.chunk.length - this.filled);
      this.chunk.set(resampled.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.chunk.length) this.flush();
    }
    return true;
  }

  /** Posts what is buffered as a chunk (also on Stop, so the tail of speech is not lost). */
  private flush(): void {
    if (this.filled === 0) return;
    const samples = this.chunk.slice(0, this.filled);
    const frame = Math.round(this.options.targetRate / 100);
    let voicedUntil = -1;
    for (let start = 0; start < samples.length; start += frame) {
      if (rms(samples.subarray(start, start + frame)) >= this.options.speechLevel) voicedUntil = Math.min(samples.length, start + frame) / this.options.targetRate;
    }
    const audio = this.options.encoding === 'ulaw' ? floatToMulaw(samples) : floatToPcm16(samples);
    this.port.postMessage({ kind: 'chunk', audio, rms: rms(samples), voicedUntil, seconds: samples.length / this.options.targetRate }, [audio]);
    this.filled = 0;
  }

  private meter(samples: Float32Array): void {
    for (const s of samples) {
      this.levelSum += s * s;
      this.levelPeak = Math.max(this.levelPeak, Math.abs(s));
    }
    this.levelFrames += samples.length;
    if (this.levelFrames < this.levelEvery) return;
    this.port.postMessage({ kind: 'level', rms: Math.sqrt(this.levelSum / this.levelFrames), peak: this.levelPeak });
    this.levelSum = 0;
    this.levelPeak = 0;
    this.levelFrames = 0;
  }
}

scope.registerProcessor('pcm-capture', CaptureProcessor);
