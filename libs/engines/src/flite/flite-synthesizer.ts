import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { FairScheduler } from '../fair-scheduler.js';
import { splitSentences } from '../sentences.js';
import type { SynthesisPacer } from '../synthesis-pacer.js';
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
  /**
   * Units one reply may have in synthesis at once (default 1, so with two or more workers one reply
   * never holds them all: a unit is synthesised far faster than it plays).
   */
  perReplyJobs?: number;
  /** Units that may wait for a worker over all replies (default 500); one more fails its reply. */
  maxQueuedJobs?: number;
}

/** A reply's first unit waits for the session's pacer only while it owes more audio than this (seconds). */
export const FIRST_UNIT_CREDIT_SECONDS = 60;

/** Default of FliteSynthesizerOptions.maxQueuedJobs. */
export const DEFAULT_MAX_QUEUED_SYNTHESIS_JOBS = 500;

/**
 * The embedded speech synthesiser: a pool of worker threads running flite (WASI), shared fairly
 * between replies by a FairScheduler in front of it (Piscina's own queue is FIFO, where one reply's
 * look-ahead could hold every worker while another reply's first sentence waits).
 * A job whose signal aborts is not started, or its result is discarded: the signal is not
 * handed to Piscina, which would terminate a running worker and cost a module recompile.
 * Callers keep their look-ahead small, so little work is wasted. A worker that dies fails the job
 * it was running (its reply fails); Piscina replaces it and the next jobs run on live workers.
 */
export class FliteSynthesizer {
  private readonly pool: Piscina<FliteJob, FliteResult>;
  private readonly scheduler: FairScheduler;

  constructor(options: FliteSynthesizerOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    this.pool = new Piscina({
      filename: new URL('./flite.worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Number.MAX_SAFE_INTEGER,
    });
    this.scheduler = new FairScheduler({
      concurrency: threads,
      perKeyLimit: Math.min(threads, options.perReplyJobs ?? 1),
      maxQueued: options.maxQueuedJobs ?? DEFAULT_MAX_QUEUED_SYNTHESIS_JOBS,
    });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  /** Synthesis jobs waiting for a free worker (for metrics). */
  get queueSize(): number {
    return this.scheduler.queued + this.pool.queueSize;
  }

  /** Compiles the WASM module in every worker so the first real request is fast. */
  async warmUp(): Promise<void> {
    const jobs = Array.from({ length: this.pool.options.maxThreads }, () =>
      this.pool.run({ text: 'ready', voice: 'slt', sampleRate: 16000, speed: 1 }),
    );
    await Promise.all(jobs);
  }

  /**
   * Synthesises one unit. Units of the same `reply` (any value identifying it; default: a reply of
   * its own) take turns with other replies' units (see FairScheduler). Rejects with
   * SchedulerQueueFullError when too many units wait.
   */
  async synthesize(job: FliteJob, signal?: AbortSignal, reply: unknown = Symbol('reply')): Promise<FliteResult> {
    signal?.throwIfAborted();
    const result = await this.scheduler.run(reply, () => this.pool.run(job), signal);
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
   * digits are skipped. With a `pacer` (the session's), each synthesised unit's audio is counted
   * against it and every unit but the first waits until the pacer has room; the first waits only
   * while the session owes more than FIRST_UNIT_CREDIT_SECONDS, so a reply starts at once unless its
   * session asked for far more audio than it could have played.
   */
  async *speakUnits(
    units: Iterable<string> | AsyncIterable<string>,
    voice: Omit<FliteJob, 'text'>,
    signal: AbortSignal,
    options: { pacer?: SynthesisPacer } = {},
  ): AsyncGenerator<SpokenUnit> {
    const { pacer } = options;
    const source = toAsyncIterator(units);
    const reply = Symbol('reply');
    let launched = 0;
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
          if (pacer) {
            await pacer.ready(signal, launched === 0 ? FIRST_UNIT_CREDIT_SECONDS : 0);
            if (stopped) return;
          }
          launched++;
          const text = next.value;
          const result = this.synthesize({ ...voice, text }, signal, reply).then((r) => ({ text, pcm: Buffer.from(r.pcm) }));
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
        pacer?.spend(unit.pcm.length / 2 / voice.sampleRate);
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
