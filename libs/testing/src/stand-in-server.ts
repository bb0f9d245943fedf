import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { validateServerEvent, VOICE_WS_PATH } from '@app/protocol';

/** A client message the stand-in received, and when (Date.now()). */
export interface StandInReceived {
  message: Record<string, unknown>;
  at: number;
}

export interface StandInConnection {
  socket: WebSocket;
  /** Sends a server event; throws unless it passes the contract (validateServerEvent). */
  send: (event: Record<string, unknown>) => void;
}

export interface StandInOptions {
  /** Refuse every handshake with this HTTP status (e.g. 401). */
  refuse?: number;
  /** `session.configured.session_id`; default: the `session_id` sent, else `generated-<n>`. */
  sessionId?: string;
  /** Sees every client message, after a `session.configure` was answered. */
  onMessage?: (message: Record<string, unknown>, connection: StandInConnection) => void;
}

export interface StandInServer {
  /** ws://127.0.0.1:<port>/v1/voice/ws */
  url: string;
  /** Every accepted socket, in order (a test may close or terminate them). */
  sockets: WebSocket[];
  /** Every client message, from every socket, in arrival order. */
  received: StandInReceived[];
  /** The `Sec-WebSocket-Protocol` header of each handshake. */
  protocols: Array<string | undefined>;
  close(): Promise<void>;
}

/**
 * A stand-in voice server on loopback for client tests (the SDK, the /test console): it greets with
 * `session.ready`, answers `session.configure` with `session.configured`, records what clients send,
 * and leaves the rest to `onMessage`. Every event it sends must pass the protocol's own validation,
 * so a stand-in can only send what the real service may.
 */
export async function startStandInServer(options: StandInOptions = {}): Promise<StandInServer> {
  const { refuse } = options;
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: refuse ? (_info: unknown, done: (ok: boolean, code?: number) => void) => done(false, refuse) : undefined,
  });
  const sockets: WebSocket[] = [];
  const received: StandInReceived[] = [];
  const protocols: Array<string | undefined> = [];
  let sessions = 0;
  server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    sockets.push(socket);
    protocols.push(request.headers['sec-websocket-protocol']);
    const connection: StandInConnection = { socket, send: (event) => socket.send(JSON.stringify(validateServerEvent(event))) };
    connection.send({ type: 'session.ready', message: 'stand-in' });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      received.push({ message, at: Date.now() });
      if (message['type'] === 'session.configure') {
        connection.send({ type: 'session.configured', session_id: options.sessionId ?? message['session_id'] ?? `generated-${++sessions}` });
      }
      options.onMessage?.(message, connection);
    });
  });
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}${VOICE_WS_PATH}`,
    sockets,
    received,
    protocols,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
