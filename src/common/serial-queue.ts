type Task = () => void | PromiseLike<void>;

/**
 * Runs tasks one at a time in the order they were added. A failing task (throwing or rejecting) is
 * reported to `onError` and does not stop the ones after it.
 *
 * When nothing is queued or running, a task runs synchronously inside `run()`; only while an
 * asynchronous task is pending are later tasks chained on a promise. Audio chunks (10 a second per
 * session) therefore cost no promise each; before this, the queue allocated two promises and two
 * microtasks per chunk (the load harness's profile at 500 sessions showed the chained
 * then/catch among the top allocation sites). A task that calls `run()` while it runs (re-entrant)
 * gets its task queued after itself, as before.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  /** True from the moment a task starts until the last queued one has settled. */
  private busy = false;
  /** Tasks added (re-entrantly) while a task runs synchronously; they follow it. */
  private deferred?: Task[];

  constructor(private readonly onError: (error: unknown) => void) {}

  run(task: Task): void {
    if (this.busy) {
      if (this.deferred) this.deferred.push(task);
      else this.chain(task);
      return;
    }
    this.busy = true;
    this.deferred = [];
    let pending: PromiseLike<void> | undefined;
    try {
      const result = task();
      if (isThenable(result)) pending = result;
    } catch (error) {
      this.onError(error);
    }
    const deferred = this.deferred;
    this.deferred = undefined;
    if (!pending && deferred.length === 0) {
      this.busy = false;
      return;
    }
    if (pending) this.track(Promise.resolve(pending).catch(this.onError));
    for (const next of deferred) this.chain(next);
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  private chain(task: Task): void {
    this.track(this.tail.then(task).catch(this.onError));
  }

  /** Makes `tail` the last promise; the queue is idle again once it settles with nothing chained after. */
  private track(tail: Promise<void>): void {
    this.tail = tail;
    void tail.then(() => {
      if (this.tail === tail) this.busy = false;
    });
  }
}

function isThenable(value: unknown): value is PromiseLike<void> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
