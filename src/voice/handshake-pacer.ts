/**
 * Handshakes are verified and completed a few per event-loop turn, so a storm of new connections
 * cannot starve the sessions already open. Each batch runs from `setImmediate`, after the poll phase
 * in which live sockets' frames and the workers' audio are handled: between two batches every open
 * session gets its turn. Without it, 1,000 connections opened at once held the loop for about a
 * second, and a live session's text turn waited behind them (hostile suite: first audio 588, 139, 195
 * ms during the storm against a 47 ms median). The wait is bounded: more than `maxQueued` waiting
 * handshakes are refused at once (HTTP 503 from the caller).
 */
export class HandshakePacer {
  private readonly queue: Array<() => void> = [];
  private scheduled = false;

  constructor(
    private readonly perTurn = HANDSHAKES_PER_TURN,
    private readonly maxQueued = MAX_QUEUED_HANDSHAKES,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `task` in a later batch; false (and `task` never runs) when `maxQueued` handshakes already wait. */
  enqueue(task: () => void): boolean {
    if (this.queue.length >= this.maxQueued) return false;
    this.queue.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
    return true;
  }

  private drain(): void {
    for (const task of this.queue.splice(0, this.perTurn)) task();
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else this.scheduled = false;
  }
}

/** Handshakes started per event-loop turn (each about 1 ms of the main thread with token auth). */
export const HANDSHAKES_PER_TURN = 8;
/** Handshakes that may wait; beyond it the handshake gets HTTP 503 with Retry-After. */
export const MAX_QUEUED_HANDSHAKES = 2048;
