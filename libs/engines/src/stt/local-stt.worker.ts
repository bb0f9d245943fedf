/**
 * Worker thread of the embedded speech recogniser. Per stream: decode mu-law, resample to 16 kHz,
 * Silero VAD + turn segmentation (commit_strategy "vad"), and PocketSphinx decoding of the speech
 * only, with ~300 ms of pre-roll. 8 kHz streams reach the decoder as cepstra from the narrowband
 * front end (estimated 4-7 kHz filters, see narrowband.ts). Models load once per worker; decoders (~58 MB each) are lent to
 * a stream for one utterance and reused, so memory follows concurrent speakers, not sessions.
 */
import { parentPort, workerData } from 'node:worker_threads';
import alawmulaw from 'alawmulaw';
import { createStreamResampler, type StreamResampler } from '@app/audio';
import { SileroVad } from '../vad/silero-vad.js';
import { VadStream } from '../vad/vad-stream.js';
import type { TurnEvent } from '../vad/turn-segmenter.js';
import { FRAME_RATE, PocketSphinxEngine, type PocketSphinxDecoder } from './pocketsphinx.ffi.js';
import { NarrowbandFrontEnd, supportsNarrowband } from './narrowband.js';
import { enUsModel, SAMPLE_RATE } from './model.js';
import { CONSUMED_REPORT_MS, type CommitReason, type FromWorker, type LocalSttStreamConfig, type TimedWord, type ToWorker } from './local-stt.protocol.js';
import { VirtualClockQueue, type VirtualClockLane } from './virtual-clock-queue.js';

export interface LocalSttWorkerData {
  partialIntervalMs: number;
  maxIdleDecoders: number;
  modelDir?: string;
}

const PRE_ROLL_MS = 300;
/** Input at this rate or below goes through the narrowband front end. */
const NARROWBAND_RATE = 8000;
/**
 * Fallback for narrowband input when the acoustic model's filterbank is not the one the narrowband
 * map was fitted for: a noise floor at about -54 dBFS fills the empty 4-8 kHz band, whose log mel
 * energies would otherwise be far outside what the 16 kHz model was trained on.
 */
const NARROWBAND_NOISE_AMPLITUDE = 64;
const RING_MS = 3000;
const EARLY_PARTIAL_SECONDS = 1.3;
const EARLY_PARTIAL_INTERVAL_MS = 100;
const port = parentPort!;
const options = workerData as LocalSttWorkerData;
const post = (message: FromWorker): void => port.postMessage(message);

/** The last few seconds of a stream's 16 kHz audio, addressed by absolute sample index. */
class AudioRing {
  private chunks: Array<{ start: number; samples: Int16Array }> = [];
  private end = 0;

  push(samples: Int16Array): void {
    this.chunks.push({ start: this.end, samples });
    this.end += samples.length;
    const keepFrom = this.end - (RING_MS * SAMPLE_RATE) / 1000;
    while (this.chunks.length > 1 && this.chunks[0]!.start + this.chunks[0]!.samples.length < keepFrom) this.chunks.shift();
  }

  /** Audio from `ms` (stream time) to now, and the sample index it starts at. */
  since(ms: number): { samples: Int16Array; start: number } {
    const from = Math.max(0, Math.floor((ms * SAMPLE_RATE) / 1000), this.chunks[0]?.start ?? 0);
    const parts = this.chunks.filter((c) => c.start + c.samples.length > from).map((c) => c.samples.subarray(Math.max(0, from - c.start)));
    const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return { samples: out, start: from };
  }
}

/**
 * Decoders lent per utterance. 8 kHz streams get their own: the live cepstral mean a decoder carries
 * from one utterance to the next differs between estimated-band and full-band features, and a
 * decoder adapted to one would misdecode the first words of the other.
 */
class Recognizers {
  private readonly idle = { wide: [] as PocketSphinxDecoder[], narrow: [] as PocketSphinxDecoder[] };
  private readonly narrowband: boolean;
  constructor(private readonly engine: PocketSphinxEngine) {
    this.narrowband = supportsNarrowband(engine.featureParams);
  }

  /** A narrowband front end for an 8 kHz stream, or undefined if the model's filterbank does not fit it. */
  narrowbandFrontEnd(): NarrowbandFrontEnd | undefined {
    return this.narrowband ? new NarrowbandFrontEnd(this.engine.createLogMelFrontEnd()) : undefined;
  }

  acquire(kind: 'wide' | 'narrow'): PocketSphinxDecoder {
    const decoder = this.idle[kind].pop() ?? this.engine.createDecoder();
    decoder.startUtterance();
    return decoder;
  }

  release(decoder: PocketSphinxDecoder, kind: 'wide' | 'narrow'): void {
    try {
      decoder.reset();
      if (this.idle[kind].length < options.maxIdleDecoders) {
        this.idle[kind].push(decoder);
        return;
      }
    } catch {
      // a decoder that cannot be reset is not reused
    }
    decoder.free();
  }
}

class Stream {
  private readonly lane: VirtualClockLane;
  /** Input bytes per millisecond of audio. */
  private readonly bytesPerMs: number;
  private resampler?: StreamResampler;
  private vad?: VadStream;
  private decoder?: PocketSphinxDecoder;
  private narrowband?: NarrowbandFrontEnd;
  private readonly ring = new AudioRing();
  private lastPartial = '';
  private lastPartialAt = 0;
  private closed = false;
  /** 16 kHz samples processed so far, and the index of the first one the current utterance was given. */
  private samplesIn = 0;
  private utteranceStart = 0;
  /** Input audio processed, and the amount last reported to the pool (`consumed`). */
  private processedMs = 0;
  private reportedMs = 0;

  constructor(
    private readonly id: number,
    private readonly config: LocalSttStreamConfig,
    private readonly recognizers: Recognizers,
    private readonly silero: SileroVad,
    queue: VirtualClockQueue,
  ) {
    this.lane = queue.lane((error) => post({ type: 'error', streamId: this.id, message: error instanceof Error ? error.message : String(error) }));
    this.bytesPerMs = (config.sampleRate * (config.codec === 'ulaw' ? 1 : 2)) / 1000;
    this.enqueue(async () => {
      if (config.sampleRate !== SAMPLE_RATE) this.resampler = await createStreamResampler(config.sampleRate, SAMPLE_RATE);
      if (config.sampleRate <= NARROWBAND_RATE) this.narrowband = recognizers.narrowbandFrontEnd();
      if (config.commitStrategy === 'vad') this.vad = new VadStream(silero.createScorer(512), config.vad);
    });
  }

  audio(bytes: ArrayBuffer): void {
    const ms = bytes.byteLength / this.bytesPerMs;
    this.enqueue(async () => {
      await this.process(this.decode(bytes));
      this.processedMs += ms;
      if (this.processedMs - this.reportedMs >= CONSUMED_REPORT_MS) {
        this.reportedMs = this.processedMs;
        post({ type: 'consumed', streamId: this.id, ms: this.processedMs });
      }
    }, ms);
  }

  commit(): void {
    this.enqueue(async () => {
      // Audio queued before the commit is already processed (same chain); close the VAD's turn too.
      await this.vad?.flush();
      this.finish('manual');
    });
  }

  close(): void {
    this.enqueue(() => {
      this.closed = true;
      if (this.decoder) this.recognizers.release(this.decoder, this.kind);
      this.decoder = undefined;
      this.resampler?.destroy();
      this.narrowband?.free();
    });
  }

  private enqueue(step: () => void | Promise<void>, audioMs = 0): void {
    this.lane.push(async () => {
      if (!this.closed) await step();
    }, audioMs);
  }

  private decode(bytes: ArrayBuffer): Int16Array {
    const pcm = this.config.codec === 'ulaw' ? alawmulaw.mulaw.decode(new Uint8Array(bytes)) : new Int16Array(bytes);
    const resampled = this.resampler ? this.resampler.process(pcm) : pcm;
    if (this.config.sampleRate < SAMPLE_RATE && !this.narrowband) this.addNoiseFloor(resampled);
    return resampled;
  }

  private noiseSeed = 0x2545f491;

  private addNoiseFloor(samples: Int16Array): void {
    for (let i = 0; i < samples.length; i++) {
      // xorshift32: cheap, deterministic white noise
      this.noiseSeed ^= this.noiseSeed << 13;
      this.noiseSeed ^= this.noiseSeed >>> 17;
      this.noiseSeed ^= this.noiseSeed << 5;
      const noise = ((this.noiseSeed >>> 0) / 0xffffffff - 0.5) * 2 * NARROWBAND_NOISE_AMPLITUDE;
      samples[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! + noise)));
    }
  }

  private async process(pcm: Int16Array): Promise<void> {
    const at = this.samplesIn;
    this.samplesIn += pcm.length;
    if (!this.vad) {
      if (!this.decoder) {
        this.startUtterance();
        this.utteranceStart = at;
      }
      this.feed(pcm);
      return;
    }
    this.ring.push(pcm);
    const events: TurnEvent[] = await this.vad.push(pcm);
    if (this.decoder) this.feed(pcm);
    for (const event of events) {
      if (event.type === 'speech_start' && !this.decoder) {
        this.startUtterance();
        post({ type: 'speech_start', streamId: this.id });
        const { samples, start } = this.ring.since(event.startMs - PRE_ROLL_MS);
        this.utteranceStart = start;
        this.feed(samples);
      } else if (event.type === 'commit') {
        this.finish('vad');
      }
    }
    const speechMs = this.vad.segmenter.speechMs;
    if (this.decoder && speechMs > 0) post({ type: 'speech_progress', streamId: this.id, ms: speechMs });
  }

  private get kind(): 'wide' | 'narrow' {
    return this.narrowband ? 'narrow' : 'wide';
  }

  private startUtterance(): void {
    this.decoder = this.recognizers.acquire(this.kind);
    this.narrowband?.start();
  }

  private feed(pcm: Int16Array): void {
    if (this.narrowband) this.decoder!.processCepstra(this.narrowband.process(pcm));
    else this.decoder!.process(pcm);
    const now = performance.now();
    // Early in an utterance partials come more often: the first words decide barge-in.
    const early = this.samplesIn - this.utteranceStart < SAMPLE_RATE * EARLY_PARTIAL_SECONDS;
    if (now - this.lastPartialAt < (early ? Math.min(EARLY_PARTIAL_INTERVAL_MS, options.partialIntervalMs) : options.partialIntervalMs)) return;
    this.lastPartialAt = now;
    const text = this.decoder!.hypothesis();
    if (text && text !== this.lastPartial) {
      this.lastPartial = text;
      post({ type: 'partial', streamId: this.id, text });
    }
  }

  private finish(reason: CommitReason): void {
    if (this.decoder && this.narrowband) this.decoder.processCepstra(this.narrowband.end());
    const text = this.decoder ? this.decoder.endUtterance() : '';
    const words = this.config.words ? this.words() : undefined;
    if (this.decoder) this.recognizers.release(this.decoder, this.kind);
    this.decoder = undefined;
    this.lastPartial = '';
    post({ type: 'committed', streamId: this.id, text, reason, ...(words ? { words } : {}) });
  }

  /** The final hypothesis' words in seconds of the stream (frames count from the utterance's first sample). */
  private words(): TimedWord[] {
    if (!this.decoder) return [];
    const offset = this.utteranceStart / SAMPLE_RATE;
    const seconds = (frames: number) => Math.round((offset + frames / FRAME_RATE) * 1000) / 1000;
    return this.decoder.words().map((w) => ({ text: w.word, start: seconds(w.startFrame), end: seconds(w.endFrame + 1) }));
  }
}

async function main(): Promise<void> {
  let engine: PocketSphinxEngine;
  let silero: SileroVad;
  try {
    engine = PocketSphinxEngine.load({ model: enUsModel(options.modelDir) });
    silero = await SileroVad.load();
  } catch (error) {
    post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const recognizers = new Recognizers(engine);
  const streams = new Map<number, Stream>();
  const queue = new VirtualClockQueue();
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'open':
        streams.set(message.streamId, new Stream(message.streamId, message.config, recognizers, silero, queue));
        return;
      case 'audio':
        streams.get(message.streamId)?.audio(message.bytes);
        return;
      case 'commit':
        streams.get(message.streamId)?.commit();
        return;
      case 'close':
        streams.get(message.streamId)?.close();
        streams.delete(message.streamId);
        return;
      case 'shutdown':
        void queue.stop().then(() => post({ type: 'stopped' }));
        return;
    }
  });
  post({ type: 'ready' });
}

void main();
