import { performance } from 'node:perf_hooks';

/**
 * Handshakes are verified and completed a few per event-loop turn, within a share of the main
 * thread's time, so a storm of new connections cannot starve the sessions already open.
 *
 * - Each batch runs from `setImmediate` (or a timer), after the poll phase in which live sockets'
 *   frames and the workers' audio are handled: between two batches every open session gets its turn.
 *   Without it, 1,000 connections opened at once held the loop for about a second, and a live
 *   session's text turn waited behind them (hostile suite: first audio 588, 139, 195 ms during the
 *   storm against a 47 ms median).
 * - While handshakes wait, the main thread may be busy at most `share` of the time (event-loop
 *   utilisation: everything it runs, the handshakes' HTTP parsing, token checks, upgrades and
 *   sessions as well as the live sessions' work), with a `burstMs` reserve. Once that is spent, the
 *   next batch waits for a timer and the main thread idles, so the machine's other threads
 *   (synthesis and recognition workers) get the CPU back. With batches alone the main thread stayed
 *   busy through the whole storm (about 1.3 ms per connection with token auth: 1.3 s for 1,000), and
 *   on two cores a live session's synthesis competed with it: its first audio went over twice its
 *   unloaded median in a third to half of the hostile suite's runs. Charging only the handshakes'
 *   own batches (about a third of their cost) still failed 2 of 4 runs.
 * - Handshakes always progress: after `maxWaitMs` a batch runs whatever the load (at least
 *   `perTurn` per `maxWaitMs`: 200 a second by default).
 * - The wait is bounded: more than `maxQueued` waiting handshakes are refused at once (HTTP 503 from
 *   the caller).
 */
export class HandshakePacer {
  private queue: Array<() => void> = [];
  private head = 0;
  private scheduled = false;
  private budget: number;
  private checkedAt: number;
  private activeAt: number;

  constructor(
    private readonly perTurn = HANDSHAKES_PER_TURN,
    private readonly maxQueued = MAX_QUEUED_HANDSHAKES,
    private readonly share = HANDSHAKE_CPU_SHARE,
    private readonly burstMs = HANDSHAKE_BURST_MS,
    private readonly maxWaitMs = HANDSHAKE_MAX_WAIT_MS,
  ) {
    this.budget = burstMs;
    this.checkedAt = performance.now();
    this.activeAt = performance.eventLoopUtilization().active;
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Runs `task` in a later batch; false (and `task` never runs) when `maxQueued` handshakes already wait. */
  enqueue(task: () => void): boolean {
    if (this.waiting >= this.maxQueued) return false;
    this.queue.push(task);
    this.schedule();
    return true;
  }

  private schedule(): void {
    if (this.scheduled || this.waiting === 0) return;
    this.scheduled = true;
    this.refill();
    if (this.budget > 0) setImmediate(() => this.drain(false));
    else setTimeout(() => this.drain(true), Math.min(this.maxWaitMs, Math.ceil(-this.budget / this.share)));
  }

  private drain(waited: boolean): void {
    this.scheduled = false;
    this.refill();
    // After a timer the batch runs even if the loop stayed busy (live sessions above the share).
    const run = waited || this.budget > 0 ? Math.min(this.perTurn, this.waiting) : 0;
    for (let n = 0; n < run; n++) this.queue[this.head++]!();
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  }

  /** The budget grows by `share` of the wall time passed and shrinks by the main thread's busy time in it. */
  private refill(): void {
    const now = performance.now();
    const active = performance.eventLoopUtilization().active;
    this.budget = Math.max(-MAX_DEBT_MS, Math.min(this.burstMs, this.budget + (now - this.checkedAt) * this.share - (active - this.activeAt)));
    this.checkedAt = now;
    this.activeAt = active;
  }
}

/** Handshakes started per event-loop turn (each about 1 to 1.5 ms of the main thread with token auth, its completion included): a live session waits behind at most one batch. */
export const HANDSHAKES_PER_TURN = 4;
/** Handshakes that may wait; beyond it the handshake gets HTTP 503 with Retry-After. */
export const MAX_QUEUED_HANDSHAKES = 2048;
/** Share of the time the main thread may be busy while handshakes wait. */
export const HANDSHAKE_CPU_SHARE = 0.5;
/** Main-thread ms that may run back to back before the share applies (a small burst has no wait). */
export const HANDSHAKE_BURST_MS = 10;
/** Busy time beyond the share that is remembered (after a long overload, handshakes do not owe more). */
const MAX_DEBT_MS = 100;
/** Longest wait between two batches, however busy the main thread is. */
export const HANDSHAKE_MAX_WAIT_MS = 20;
