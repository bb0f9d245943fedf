import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { splitSentences } from '../sentences.js';
import type { FliteJob, FliteResult } from './flite.types.js';

export interface FliteSynthesizerOptions {
  /** Worker threads (default: one per core). */
  threads?: number;
}

/**
 * The embedded speech synthesiser: a pool of worker threads running flite (WASI).
 * A job whose signal aborts is not started, or its result is discarded: the signal is not
 * handed to Piscina, which would terminate a running worker and cost a module recompile.
 * Callers keep their look-ahead small, so little work is wasted.
 */
export class FliteSynthesizer {
  private readonly pool: Piscina<FliteJob, FliteResult>;

  constructor(options: FliteSynthesizerOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    this.pool = new Piscina({
      filename: new URL('./flite.worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.MAX_SAFE_INTEGER,
    });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  /** Synthesis jobs waiting for a free worker (for metrics). */
  get queueSize(): number {
    return this.pool.queueSize;
  }

  /** Compiles the WASM module in every worker so the first real request is fast. */
  async warmUp(): Promise<void> {
    const jobs = Array.from({ length: this.pool.options.maxThreads }, () =>
      this.pool.run({ text: 'ready', voice: 'slt', sampleRate: 16000, speed: 1 }),
    );
    await Promise.all(jobs);
  }

  async synthesize(job: FliteJob, signal?: AbortSignal): Promise<FliteResult> {
    signal?.throwIfAborted();
    const result = await this.pool.run(job);
    signal?.throwIfAborted();
    return result;
  }

  /**
   * Speaks a whole reply sentence by sentence: yields each sentence's PCM16LE (at `voice.sampleRate`)
   * as soon as it is ready, with one sentence of look-ahead, so the first audio is out after the
   * first sentence rather than the whole text.
   */
  async *speak(text: string, voice: Omit<FliteJob, 'text'>, signal: AbortSignal): AsyncGenerator<Buffer> {
    const sentences = splitSentences(text);
    const pending: Array<Promise<Buffer>> = [];
    let next = 0;
    const launch = () => {
      if (next >= sentences.length || signal.aborted) return;
      const result = this.synthesize({ ...voice, text: sentences[next++]! }, signal).then((r) => Buffer.from(r.pcm));
      result.catch(() => undefined); // awaited below; this only keeps an abandoned one from being "unhandled"
      pending.push(result);
    };
    launch();
    launch();
    while (pending.length > 0) {
      const pcm = await pending.shift()!;
      signal.throwIfAborted();
      launch();
      yield pcm;
    }
  }

  async close(): Promise<void> {
    await this.pool.close({ force: true });
  }
}
