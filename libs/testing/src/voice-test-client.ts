import { WebSocket, type ClientOptions } from 'ws';
import { validateServerEvent, type ServerEvent, type ServerEventOf, type ServerEventType } from '@app/protocol';

export interface WaitOptions {
  timeoutMs?: number;
}

/**
 * A real `ws` client that buffers every event from the moment the socket is created, so tests
 * never miss one by attaching too late. Events are consumed in order with `next`/`nextOf`. Every
 * event is checked against the protocol's event classes: a test reading past an event that breaks
 * the contract fails.
 */
export class VoiceTestClient {
  readonly events: ServerEvent[] = [];
  private readonly violations: string[] = [];
  private cursor = 0;
  private waiter?: () => void;
  private closeInfo?: { code: number; reason: string };
  private readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('server sent an unexpected binary frame');
      const event = JSON.parse(data.toString()) as ServerEvent;
      try {
        validateServerEvent(event);
      } catch (error) {
        this.violations.push((error as Error).message);
      }
      this.events.push(event);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.waiter?.();
        resolve(this.closeInfo);
      });
    });
  }

  static async connect(url: string, timeoutMs = 5000, options: ClientOptions & { protocols?: string[] } = {}): Promise<VoiceTestClient> {
    const { protocols, ...rest } = options;
    const socket = new WebSocket(url, protocols ?? [], { perMessageDeflate: false, ...rest });
    const client = new VoiceTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connect to ${url} timed out`)), timeoutMs);
      socket.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    return client;
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** The next unread event, whatever its type. */
  async next(options: WaitOptions = {}): Promise<ServerEvent> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    while (this.cursor >= this.events.length) {
      if (this.closeInfo) throw new Error(`socket closed (${this.closeInfo.code}) while waiting; events so far: ${this.describe()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no event within ${options.timeoutMs ?? 10_000} ms; events so far: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    if (this.violations.length > 0) throw new Error(`the server broke the contract: ${this.violations.join('; ')}`);
    return this.events[this.cursor++]!;
  }

  /** The next unread event, which must be of `type`. */
  async expect<T extends ServerEventType>(type: T, options: WaitOptions = {}): Promise<ServerEventOf<T>> {
    const event = await this.next(options);
    if (event.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(truncate(event))}`);
    return event as ServerEventOf<T>;
  }

  /** Skips ahead to the next event of `type`, returning it and the events skipped. */
  async nextOf<T extends ServerEventType>(type: T, options: WaitOptions = {}): Promise<ServerEventOf<T>> {
    for (;;) {
      const event = await this.next(options);
      if (event.type === type) return event as ServerEventOf<T>;
    }
  }

  /** Reads events until one matches, returning all read (the match last). */
  async until(predicate: (event: ServerEvent) => boolean, options: WaitOptions = {}): Promise<ServerEvent[]> {
    const read: ServerEvent[] = [];
    for (;;) {
      const event = await this.next(options);
      read.push(event);
      if (predicate(event)) return read;
    }
  }

  /** Resolves true if no new event arrives within `ms`. */
  async quietFor(ms: number): Promise<boolean> {
    const before = this.events.length;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.events.length === before;
  }

  whenClosed(): Promise<{ code: number; reason: string }> {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }

  private describe(): string {
    return this.events.map((e) => e.type).join(', ') || '(none)';
  }
}

function truncate(event: ServerEvent): unknown {
  return 'audio' in event ? { ...event, audio: `<${event.audio.length} chars>` } : event;
}
