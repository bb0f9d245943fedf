import { WebSocket } from 'ws';
import type { ServerEvent } from '@app/protocol';

/**
 * Where a session's events go, in call order. The WebSocket writer below is one; a telephony
 * transport can be another.
 */
export interface EventSink {
  /** False once the peer is gone (events are then dropped). */
  readonly open: boolean;
  send(event: ServerEvent): void;
  /** For bulk (audio): resolves once the transport can take more. */
  sendPaced(event: ServerEvent): Promise<void>;
}

/** Close code for a client that stops reading (its send buffer stayed over the limit). */
export const CLOSE_SLOW_CONSUMER = 4008;
/** Identical `error` events within this window are sent once, then once more with a count. */
export const ERROR_REPEAT_WINDOW_MS = 1000;
const MAX_TRACKED_ERRORS = 32;

export interface SocketWriterOptions {
  /** Longest time the send buffer may stay over the high-water mark before the client is closed. */
  slowClientTimeoutMs?: number;
  /** Called once when the writer gives up on a client that does not read (its turns should stop). */
  onStalled?: () => void;
}

/**
 * The only way events leave a session: JSON frames written in call order, every one of them through
 * the send-buffer limit. `sendPaced` (bulk audio) waits while more than `highWaterBytes` are queued
 * on the socket, so a slow client slows synthesis down. A client whose buffer stays over the mark
 * for `slowClientTimeoutMs`, or grows past 4x the mark, is closed with 4008 and a reason. Identical
 * `error` events are coalesced (one, then one with a count per second), so a client that repeats a
 * mistake cannot make the server repeat itself thousands of times.
 */
export class SocketWriter implements EventSink {
  private waiters: Array<() => void> = [];
  private stallTimer?: NodeJS.Timeout;
  private stalled = false;
  private readonly repeats = new Map<string, { count: number; timer: NodeJS.Timeout; event: ServerEvent & { type: 'error' } }>();
  private readonly slowClientTimeoutMs: number;

  constructor(
    private readonly socket: WebSocket,
    private readonly highWaterBytes: number,
    private readonly options: SocketWriterOptions = {},
  ) {
    this.slowClientTimeoutMs = options.slowClientTimeoutMs ?? 10_000;
    socket.once('close', () => {
      clearTimeout(this.stallTimer);
      for (const entry of this.repeats.values()) clearTimeout(entry.timer);
      this.repeats.clear();
      this.release();
    });
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN && !this.stalled;
  }

  send(event: ServerEvent): void {
    if (!this.open) return;
    if (event.type === 'error' && this.coalesced(event)) return;
    this.write(event);
  }

  async sendPaced(event: ServerEvent): Promise<void> {
    this.send(event);
    while (this.open && this.socket.bufferedAmount > this.highWaterBytes) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private write(event: ServerEvent): void {
    // Checked before this event is added, so one large event (a whole reply's audio) never trips it alone.
    const before = this.socket.bufferedAmount;
    if (before > 4 * this.highWaterBytes) {
      this.giveUp(`client not reading: over ${4 * this.highWaterBytes} bytes unsent (4x WS_SEND_HIGH_WATER_BYTES)`);
      return;
    }
    this.socket.send(JSON.stringify(event), this.onWritten);
    const buffered = this.socket.bufferedAmount;
    if (buffered > this.highWaterBytes && !this.stallTimer) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = undefined;
        if (this.socket.bufferedAmount > this.highWaterBytes) {
          this.giveUp(`client not reading: send buffer over WS_SEND_HIGH_WATER_BYTES for ${this.slowClientTimeoutMs} ms`);
        }
      }, this.slowClientTimeoutMs);
      this.stallTimer.unref();
    }
  }

  /** True when this error repeats one sent within the window (it is counted, not sent). */
  private coalesced(event: ServerEvent & { type: 'error' }): boolean {
    const key = `${event.code}\u0000${event.message}`;
    const entry = this.repeats.get(key);
    if (entry) {
      entry.count++;
      return true;
    }
    if (this.repeats.size >= MAX_TRACKED_ERRORS) return false;
    const track = (): void => {
      const timer = setTimeout(() => {
        const current = this.repeats.get(key);
        this.repeats.delete(key);
        if (!current || current.count === 0 || !this.open) return;
        const count = current.count;
        this.write({ ...event, message: `${event.message} (repeated ${count} more time${count === 1 ? '' : 's'} in the last ${ERROR_REPEAT_WINDOW_MS} ms)` });
        track();
      }, ERROR_REPEAT_WINDOW_MS);
      timer.unref();
      this.repeats.set(key, { count: 0, timer, event });
    };
    track();
    return false;
  }

  private giveUp(reason: string): void {
    if (this.stalled) return;
    this.stalled = true;
    clearTimeout(this.stallTimer);
    this.release();
    this.options.onStalled?.();
    // The close frame queues behind the unread data: a client that reads again gets the code and the
    // reason; one that never does is cut off by ws's 30 s closing timeout.
    this.socket.close(CLOSE_SLOW_CONSUMER, reason.slice(0, 123));
  }

  private readonly onWritten = (): void => {
    const buffered = this.socket.bufferedAmount;
    if (buffered <= this.highWaterBytes && this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
    if (!this.open || buffered <= this.highWaterBytes / 2) this.release();
  };

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
