import { WebSocket, type ClientOptions } from 'ws';

export interface HandshakeResult {
  /** HTTP status of a refused upgrade. */
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  /** The first event of an accepted connection. */
  first?: { type: string };
  /** The subprotocol the server selected. */
  protocol?: string;
  socket?: WebSocket;
}

/**
 * Opens the voice socket with the real `ws` client and resolves with either the refusal (status,
 * headers) or the first event. With `keep`, the open socket is returned (the caller closes it).
 */
export function handshake(url: string, options: { protocols?: string[]; headers?: Record<string, string>; keep?: boolean } = {}): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const clientOptions: ClientOptions = { perMessageDeflate: false, ...(options.headers ? { headers: options.headers } : {}) };
    const ws = options.protocols ? new WebSocket(url, options.protocols, clientOptions) : new WebSocket(url, clientOptions);
    const timer = setTimeout(() => reject(new Error('handshake timed out')), 10_000);
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode, headers: res.headers });
      res.resume();
      ws.terminate();
    });
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve({ first: JSON.parse(data.toString()) as { type: string }, protocol: ws.protocol, ...(options.keep ? { socket: ws } : {}) });
      if (!options.keep) ws.close();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
