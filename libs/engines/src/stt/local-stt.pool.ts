import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DEBIAN_PACKAGES } from './errors.js';
import type { CommitReason, FromWorker, LocalSttStreamConfig, TimedWord, ToWorker } from './local-stt.protocol.js';
import type { LocalSttWorkerData } from './local-stt.worker.js';
import { leastLoaded, StreamLoad } from './local-stt.placement.js';

export interface LocalSttListener {
  speechStart(): void;
  /** Milliseconds of the ongoing speech, after each chunk processed while speech goes on. */
  speechProgress?(ms: number): void;
  partial(text: string): void;
  /** `words` only for streams opened with `words: true`. */
  committed(text: string, reason: CommitReason, words?: TimedWord[]): void;
  failed(message: string): void;
}

export interface LocalSttStream {
  /** Index of the worker the stream was placed on (see local-stt.placement.ts). */
  readonly worker?: number;
  /** Input bytes in the stream's codec and rate; copied, so the caller may reuse the buffer. */
  push(bytes: Uint8Array): void;
  /**
   * Milliseconds of audio pushed that the worker has not processed yet (known to within
   * CONSUMED_REPORT_MS): grows when audio comes faster than the worker recognises it.
   */
  backlogMs(): number;
  /** Calls `callback` once the backlog is at most `ms` (at once if it already is); replaces an earlier wait. */
  whenBacklogAtMost(ms: number, callback: () => void): void;
  commit(): void;
  close(): void;
}

export interface LocalSttPoolOptions {
  threads?: number;
  partialIntervalMs?: number;
  maxIdleDecoders?: number;
  /** Directory of the en-US model (Debian layout); default /usr/share/pocketsphinx/model/en-us. */
  modelDir?: string;
}

/** Thrown by LocalSttPool.start when the engine cannot run here; the message names the packages to install. */
export class LocalSttUnavailableError extends Error {
  constructor(detail: string) {
    super(`Local speech recognition is unavailable: ${detail}. Install the Debian packages ${DEBIAN_PACKAGES.join(' ')}.`);
    this.name = 'LocalSttUnavailableError';
  }
}

interface StreamEntry {
  listener: LocalSttListener;
  load: StreamLoad;
  manual: boolean;
  /** Audio pushed, and audio the worker reported processed (ms). */
  pushedMs: number;
  consumedMs: number;
  drained?: { atMostMs: number; callback: () => void };
}

interface WorkerSlot {
  worker: Worker;
  streams: Map<number, StreamEntry>;
  /** Set when the worker exited; a dead slot takes no new stream while its replacement starts. */
  dead?: boolean;
}

/**
 * A worker with the process's Node flags, minus those workers refuse (V8 flags such as
 * `--expose-gc` or `--max-old-space-size`, which Worker rejects with ERR_WORKER_INVALID_EXEC_ARGV),
 * so a service started with extra flags still runs its workers.
 */
export function spawnWorker(url: URL, options: ConstructorParameters<typeof Worker>[1], extra: string[] = []): Worker {
  let execArgv = [...process.execArgv, ...extra];
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return new Worker(url, { ...options, execArgv });
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      const refused = new Set(((error as Error).message.split(':').pop() ?? '').split(',').map((flag) => flag.trim()));
      const kept = execArgv.filter((arg) => !refused.has(arg));
      execArgv = kept.length < execArgv.length ? kept : extra;
    }
  }
  return new Worker(url, { ...options, execArgv: extra });
}

/**
 * Fills `slots` with `count` slots started one after another; if one fails to start, `close` stops
 * those already started and the error is thrown (worker pools' start).
 */
export async function startSlots<T>(slots: T[], count: number, start: () => Promise<T>, close: () => Promise<void>): Promise<void> {
  try {
    for (let i = 0; i < count; i++) slots.push(await start());
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Main-thread side of the embedded speech recogniser: worker threads (one per core by default),
 * each serving many streams. A new stream goes to the worker with the least recent work (speaking
 * streams weigh far more than listening ones; see local-stt.placement.ts) and stays there; a worker
 * that dies fails its streams and is replaced.
 */
export class LocalSttPool {
  private readonly slots: WorkerSlot[] = [];
  private nextStreamId = 1;
  private closing = false;

  private constructor(private readonly data: LocalSttWorkerData) {}

  static async start(options: LocalSttPoolOptions = {}): Promise<LocalSttPool> {
    const pool = new LocalSttPool({
      partialIntervalMs: options.partialIntervalMs ?? 300,
      maxIdleDecoders: options.maxIdleDecoders ?? 2,
      modelDir: options.modelDir,
    });
    await startSlots(pool.slots, options.threads ?? availableParallelism(), () => pool.spawn(), () => pool.close());
    return pool;
  }

  get threads(): number {
    return this.slots.length;
  }

  get openStreams(): number {
    return this.slots.reduce((n, slot) => n + slot.streams.size, 0);
  }

  /** Audio waiting in the workers, over all streams: the largest backlog of one stream and the sum (ms). */
  backlog(): { maxMs: number; totalMs: number } {
    let maxMs = 0;
    let totalMs = 0;
    for (const slot of this.slots) {
      for (const stream of slot.streams.values()) {
        const ms = Math.max(0, stream.pushedMs - stream.consumedMs);
        maxMs = Math.max(maxMs, ms);
        totalMs += ms;
      }
    }
    return { maxMs, totalMs };
  }

  /** Per worker: open streams and their recent work (the placement's measure; dead workers have Infinity). */
  workerLoads(now = performance.now()): Array<{ streams: number; load: number }> {
    return this.slots.map((slot) => ({
      streams: slot.streams.size,
      load: slot.dead ? Infinity : [...slot.streams.values()].reduce((sum, stream) => sum + stream.load.load(now), 0),
    }));
  }

  openStream(config: LocalSttStreamConfig, listener: LocalSttListener): LocalSttStream {
    const now = performance.now();
    const loads = this.workerLoads(now);
    if (loads.every((w) => w.load === Infinity)) throw new LocalSttUnavailableError('every recognition worker stopped and none has restarted yet');
    const index = leastLoaded(loads);
    const slot = this.slots[index]!;
    const streamId = this.nextStreamId++;
    const manual = config.commitStrategy === 'manual';
    // Without VAD every byte goes to the decoder: the stream always weighs as speech.
    const entry: StreamEntry = { listener, load: new StreamLoad(manual, now), manual, pushedMs: 0, consumedMs: 0 };
    slot.streams.set(streamId, entry);
    const bytesPerSecond = config.sampleRate * (config.codec === 'ulaw' ? 1 : 2);
    const send = (message: ToWorker, transfer: ArrayBuffer[] = []) => {
      if (slot.streams.has(streamId)) slot.worker.postMessage(message, transfer);
    };
    send({ type: 'open', streamId, config });
    return {
      worker: index,
      push: (bytes) => {
        entry.load.audio(bytes.length / bytesPerSecond, performance.now());
        entry.pushedMs += (bytes.length / bytesPerSecond) * 1000;
        // A copy of exactly these bytes (Buffer#slice would share, and transferring would detach, the caller's memory).
        const copy = new Uint8Array(bytes).buffer;
        send({ type: 'audio', streamId, bytes: copy }, [copy]);
      },
      backlogMs: () => Math.max(0, entry.pushedMs - entry.consumedMs),
      whenBacklogAtMost: (ms, callback) => {
        entry.drained = undefined;
        if (entry.pushedMs - entry.consumedMs <= ms) callback();
        else entry.drained = { atMostMs: ms, callback };
      },
      commit: () => send({ type: 'commit', streamId }),
      close: () => {
        send({ type: 'close', streamId });
        slot.streams.delete(streamId);
      },
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.splice(0).map((slot) => stopWorker(slot.worker)));
  }

  private spawn(): Promise<WorkerSlot> {
    const worker = spawnWorker(new URL('./local-stt.worker.js', import.meta.url), { workerData: this.data }, ['--disable-warning=ExperimentalWarning']);
    const slot: WorkerSlot = { worker, streams: new Map() };
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          ready = true;
          resolve(slot);
        } else if (message.type === 'stopped') {
          return;
        } else if (message.type === 'fatal') {
          reject(new LocalSttUnavailableError(message.message));
          void worker.terminate();
        } else {
          this.dispatch(slot, message);
        }
      });
      worker.on('error', (error) => {
        if (!ready) reject(new LocalSttUnavailableError(error.message));
      });
      worker.on('exit', () => {
        if (!ready || this.closing) return;
        slot.dead = true;
        for (const stream of slot.streams.values()) {
          releaseWait(stream);
          stream.listener.failed('the speech recognition worker stopped');
        }
        slot.streams.clear();
        const index = this.slots.indexOf(slot);
        if (index >= 0) {
          this.spawn().then(
            (replacement) => (this.slots[index] = replacement),
            () => this.slots.splice(this.slots.indexOf(slot), 1),
          );
        }
      });
    });
  }

  private dispatch(slot: WorkerSlot, message: Exclude<FromWorker, { type: 'ready' | 'fatal' | 'stopped' }>): void {
    const stream = slot.streams.get(message.streamId);
    if (!stream) return;
    const { listener } = stream;
    switch (message.type) {
      case 'speech_start':
        stream.load.setSpeaking(true, performance.now());
        listener.speechStart();
        return;
      case 'speech_progress':
        listener.speechProgress?.(message.ms);
        return;
      case 'partial':
        listener.partial(message.text);
        return;
      case 'committed':
        stream.load.setSpeaking(stream.manual, performance.now());
        listener.committed(message.text, message.reason, message.words);
        return;
      case 'error':
        releaseWait(stream);
        listener.failed(message.message);
        return;
      case 'consumed': {
        stream.consumedMs = message.ms;
        const { drained } = stream;
        if (drained && stream.pushedMs - stream.consumedMs <= drained.atMostMs) {
          stream.drained = undefined;
          drained.callback();
        }
        return;
      }
    }
  }
}

/** A stream that failed will process nothing more: whoever waits for its backlog to drain stops waiting. */
function releaseWait(stream: StreamEntry): void {
  const { drained } = stream;
  stream.drained = undefined;
  drained?.callback();
}

/** Lets a worker finish the step it is running (at most 2 s), then terminates it. */
async function stopWorker(worker: Worker): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    worker.on('message', (message: FromWorker) => {
      if (message.type !== 'stopped') return;
      clearTimeout(timer);
      resolve();
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
  });
  await worker.terminate();
}
