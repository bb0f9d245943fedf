/** Thrown (as the job's rejection) when more jobs wait than the scheduler may hold. */
export class SchedulerQueueFullError extends Error {
  override readonly name = 'SchedulerQueueFullError';
  readonly code = 'queue_full';

  constructor(readonly limit: number) {
    super(`${limit} jobs are already waiting for a worker; this one was refused`);
  }
}

export interface FairSchedulerOptions {
  /** Jobs running at once over all keys (the pool's workers). */
  concurrency: number;
  /** Jobs one key (a session's reply) may run at once; its further jobs wait even if a worker is free. */
  perKeyLimit: number;
  /** Jobs that may wait over all keys; one more is refused with SchedulerQueueFullError. */
  maxQueued: number;
}

interface Job {
  readonly lane: Lane;
  readonly start: () => void;
  readonly drop: (reason: unknown) => void;
}

interface Lane {
  readonly key: unknown;
  readonly waiting: Job[];
  running: number;
  /** Sequence number of the lane's last started job (0: never served). */
  lastServed: number;
}

/**
 * Shares a pool of workers fairly between keys (one key per reply being spoken): instead of one
 * FIFO, each key has its own queue, and a free worker takes the next job of the key that runs the
 * fewest jobs and, among those, was served longest ago. So a new reply's first unit starts ahead of
 * another reply's backlog, and with `perKeyLimit` below `concurrency` one reply can never hold every
 * worker. A waiting job whose signal aborts is dropped at once (it never runs); a running one keeps
 * its worker until it ends (its caller is rejected at once). The total wait is bounded (`maxQueued`).
 */
export class FairScheduler {
  private readonly lanes = new Map<unknown, Lane>();
  private running = 0;
  private waiting = 0;
  private served = 0;

  constructor(private readonly options: FairSchedulerOptions) {
    if (options.concurrency < 1 || options.perKeyLimit < 1 || options.maxQueued < 0) throw new RangeError('FairScheduler needs concurrency >= 1, perKeyLimit >= 1, maxQueued >= 0');
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.waiting;
  }

  /** Jobs running now. */
  get active(): number {
    return this.running;
  }

  /**
   * Runs `task` when a worker is free and `key` has had its turn. Rejects with `signal.reason` when
   * the signal aborts first (the task is then never started) or while it runs (its result is discarded).
   */
  run<T>(key: unknown, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(asError(signal.reason));
    return new Promise<T>((resolve, reject) => {
      let lane = this.lanes.get(key);
      if (!lane) {
        lane = { key, waiting: [], running: 0, lastServed: 0 };
        this.lanes.set(key, lane);
      }
      const onAbort = () => job.drop(signal?.reason);
      const job: Job = {
        lane,
        start: () => {
          let promise: Promise<T>;
          try {
            promise = task();
          } catch (error) {
            promise = Promise.reject(asError(error));
          }
          promise.then(resolve, reject).finally(() => {
            signal?.removeEventListener('abort', onAbort);
            this.finish(job.lane);
          });
        },
        drop: (reason) => {
          // Waiting: leaves the queue and never runs. Running: only its caller stops waiting.
          const index = job.lane.waiting.indexOf(job);
          if (index >= 0) {
            job.lane.waiting.splice(index, 1);
            this.waiting--;
            this.forget(job.lane);
          }
          reject(asError(reason));
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      lane.waiting.push(job);
      this.waiting++;
      this.dispatch();
      if (lane.waiting.includes(job) && this.waiting > this.options.maxQueued) {
        signal?.removeEventListener('abort', onAbort);
        job.drop(new SchedulerQueueFullError(this.options.maxQueued));
      }
    });
  }

  private finish(lane: Lane): void {
    lane.running--;
    this.running--;
    this.forget(lane);
    this.dispatch();
  }

  private forget(lane: Lane): void {
    if (lane.running === 0 && lane.waiting.length === 0) this.lanes.delete(lane.key);
  }

  private dispatch(): void {
    while (this.running < this.options.concurrency) {
      let best: Lane | undefined;
      for (const lane of this.lanes.values()) {
        if (lane.waiting.length === 0 || lane.running >= this.options.perKeyLimit) continue;
        if (!best || lane.running < best.running || (lane.running === best.running && lane.lastServed < best.lastServed)) best = lane;
      }
      const job = best?.waiting.shift();
      if (!best || !job) return;
      this.waiting--;
      best.running++;
      this.running++;
      best.lastServed = ++this.served;
      job.start();
    }
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
