import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { splitSentences } from '../sentences.js';
import type { FliteJob, FliteResult } from './flite.types.js';

/** One synthesised unit of text and its PCM16LE audio. */
export interface SpokenUnit {
  text: string;
  pcm: Buffer;
}

function toAsyncIterator<T>(source: Iterable<T> | AsyncIterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  const iterator = source[Symbol.iterator]();
  return { next: async () => iterator.next() };
}

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
    for await (const unit of this.speakUnits(splitSentences(text), voice, signal)) yield unit.pcm;
  }

  /**
   * Speaks text units (sentences or clauses) as they come, possibly from a reply still being
   * written: each unit is synthesised once known, with at most one unit of look-ahead beyond the
   * one being awaited, and results are yielded in order with their text. Units without letters or
   * digits are skipped.
   */
  async *speakUnits(units: Iterable<string> | AsyncIterable<string>, voice: Omit<FliteJob, 'text'>, signal: AbortSignal): AsyncGenerator<SpokenUnit> {
    const source = toAsyncIterator(units);
    const pending: Array<Promise<SpokenUnit>> = [];
    let ended = false;
    let stopped = false;
    let waiters: Array<() => void> = [];
    const wait = () => new Promise<void>((resolve) => waiters.push(resolve));
    const notify = () => {
      const woken = waiters;
      waiters = [];
      for (const resolve of woken) resolve();
    };
    let sourceError: { error: unknown } | undefined;
    // Reads units and launches their synthesis while the consumer below waits for results.
    const pump = async () => {
      try {
        for (;;) {
          while (pending.length >= 2 && !signal.aborted && !stopped) await wait();
          if (signal.aborted || stopped) return;
          const next = await source.next();
          if (next.done || signal.aborted || stopped) return;
          if (!/[\p{L}\p{N}]/u.test(next.value)) continue;
          const text = next.value;
          const result = this.synthesize({ ...voice, text }, signal).then((r) => ({ text, pcm: Buffer.from(r.pcm) }));
          result.catch(() => undefined); // awaited below; this only keeps an abandoned one from being "unhandled"
          pending.push(result);
          notify();
        }
      } catch (error) {
        sourceError = { error };
      } finally {
        ended = true;
        notify();
      }
    };
    const onAbort = () => notify();
    signal.addEventListener('abort', onAbort, { once: true });
    void pump();
    try {
      for (;;) {
        while (pending.length === 0 && !ended && !signal.aborted) await wait();
        signal.throwIfAborted();
        const head = pending[0];
        if (!head) break;
        const unit = await head;
        signal.throwIfAborted();
        void pending.shift();
        notify();
        yield unit;
      }
      if (sourceError) throw sourceError.error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      stopped = true;
      notify();
      if (!ended) void source.return?.();
    }
  }

  async close(): Promise<void> {
    await this.pool.close({ force: true });
  }
}
