/**
 * The worker's one queue of work, served by virtual clock, so one fast uploader cannot slow the
 * other streams of its worker. Each stream's steps keep their order; across streams the step with
 * the earliest due time runs next. A step is due when its audio would have arrived had the stream
 * been sent in real time: `due = max(arrival, the stream's previous due + previous audio length)`.
 * For a real-time stream that is its arrival time; a stream sending faster (a 50 s burst, then 8x
 * real time, as the session's audio budget allows) runs ahead of the wall clock, so its steps wait
 * behind every real-time stream's that arrived before they were due, and use only the time left
 * over. Nothing idles while work is queued. Steps run one at a time (the worker has one thread; the
 * VAD's await is only a setImmediate), so a real-time step waits for the step running and the steps
 * due before it, never for another stream's backlog.
 * Measured with `npm run bench:load-embedded` (fairness level): see README "Load".
 */
export class VirtualClockQueue {
  private readonly waiting = new Set<VirtualClockLane>();
  private running = false;
  private stopped = false;
  private readonly stopWaiters: Array<() => void> = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  lane(onError: (error: unknown) => void): VirtualClockLane {
    return new VirtualClockLane(this, this.now, onError);
  }

  /** @internal A lane got work. */
  wake(lane: VirtualClockLane): void {
    if (this.stopped) return;
    this.waiting.add(lane);
    if (!this.running) void this.serve();
  }

  private async serve(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.waiting.size > 0) {
        let next: VirtualClockLane | undefined;
        for (const lane of this.waiting) if (!next || lane.headDue < next.headDue) next = lane;
        await next!.runHead();
        if (next!.idle) this.waiting.delete(next!);
      }
    } finally {
      this.running = false;
      for (const resolve of this.stopWaiters.splice(0)) resolve();
    }
  }

  /**
   * Runs no more steps; resolves once the step running (if any) has finished. A worker thread
   * terminated in the middle of an ONNX Runtime inference aborts the whole process
   * ("terminate called after throwing an instance of 'Napi::Error'"), so the pool stops the queue first.
   */
  stop(): Promise<void> {
    this.stopped = true;
    this.waiting.clear();
    return this.running ? new Promise((resolve) => this.stopWaiters.push(resolve)) : Promise.resolve();
  }
}

/** One stream's steps in a {@link VirtualClockQueue}, in order. */
export class VirtualClockLane {
  private readonly steps: Array<{ due: number; run: () => void | Promise<void> }> = [];
  /** When this stream's next audio would arrive, sent in real time. */
  private clock = -Infinity;

  constructor(
    private readonly queue: VirtualClockQueue,
    private readonly now: () => number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a step carrying `audioMs` of audio (0 for control steps). */
  push(run: () => void | Promise<void>, audioMs = 0): void {
    const due = Math.max(this.now(), this.clock);
    this.clock = due + audioMs;
    this.steps.push({ due, run });
    this.queue.wake(this);
  }

  get idle(): boolean {
    return this.steps.length === 0;
  }

  get headDue(): number {
    return this.steps[0]?.due ?? Infinity;
  }

  /** @internal */
  async runHead(): Promise<void> {
    const step = this.steps.shift();
    if (!step) return;
    try {
      await step.run();
    } catch (error) {
      this.onError(error);
    }
  }
}
