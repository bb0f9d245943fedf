/** A server event as it arrives: a JSON object with `type` (see /asyncapi.json for every field). */
export interface ServerEvent {
  type: string;
  [field: string]: unknown;
}

export interface SocketListener {
  opened(): void;
  event(event: ServerEvent, at: number): void;
  /** Every frame the console sends, for the log. */
  sent(message: Record<string, unknown> | ArrayBuffer, at: number): void;
  closed(code: number, reason: string): void;
}

/** The voice WebSocket: JSON text frames both ways, binary frames for microphone audio. */
export class VoiceSocket {
  private socket?: WebSocket;

  constructor(private readonly listener: SocketListener) {}

  get open(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  connect(url: string): void {
    this.disconnect();
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => this.listener.opened();
    socket.onmessage = (frame: MessageEvent) => {
      const at = performance.now();
      if (typeof frame.data !== 'string') return;
      this.listener.event(JSON.parse(frame.data) as ServerEvent, at);
    };
    socket.onclose = (close) => {
      if (this.socket === socket) this.socket = undefined;
      this.listener.closed(close.code, close.reason);
    };
    this.socket = socket;
  }

  disconnect(): void {
    const socket = this.socket;
    if (!socket) return;
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000, 'closed by the console');
  }

  send(message: Record<string, unknown>): void {
    if (!this.socket || !this.open) return;
    this.socket.send(JSON.stringify(message));
    this.listener.sent(message, performance.now());
  }

  sendBinary(audio: ArrayBuffer): void {
    if (!this.socket || !this.open) return;
    this.socket.send(audio);
    this.listener.sent(audio, performance.now());
  }
}
