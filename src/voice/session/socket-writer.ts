import { WebSocket } from 'ws';
import type { ServerEvent } from '@app/protocol';

/**
 * The only way events leave a session: JSON frames written in call order. `sendPaced` is for bulk
 * (audio) and waits while more than `highWaterBytes` are queued on the socket, so a slow client
 * slows synthesis down instead of growing server memory.
 */
export class SocketWriter {
  private waiters: Array<() => void> = [];

  constructor(
    private readonly socket: WebSocket,
    private readonly highWaterBytes: number,
  ) {
    socket.once('close', () => this.release());
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(event: ServerEvent): void {
    if (!this.open) return;
    this.socket.send(JSON.stringify(event), this.onWritten);
  }

  async sendPaced(event: ServerEvent): Promise<void> {
    this.send(event);
    while (this.open && this.socket.bufferedAmount > this.highWaterBytes) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private readonly onWritten = (): void => {
    if (!this.open || this.socket.bufferedAmount <= this.highWaterBytes / 2) this.release();
  };

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
