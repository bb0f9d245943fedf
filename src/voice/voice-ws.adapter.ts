import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { CLIENT_MESSAGES, isClientMessageType } from '@app/protocol';

/** Internal event names the parser produces besides the client message types. */
export const BINARY_AUDIO_EVENT = 'audio.binary';
export const INVALID_FRAME_EVENT = 'protocol.invalid';

export interface InvalidFrame {
  code: 'invalid_json' | 'unknown_type';
  message: string;
}

type WsData = string | Buffer | ArrayBuffer | Buffer[];

/**
 * Routes frames on the JSON field `type` (not Nest's `{event, data}`) and never drops one silently:
 * binary frames become BINARY_AUDIO_EVENT, and anything unusable becomes INVALID_FRAME_EVENT so the
 * gateway can answer with an `error` event.
 */
export function parseVoiceFrame(data: WsData): { event: string; data: unknown } {
  if (typeof data !== 'string') {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    return { event: BINARY_AUDIO_EVENT, data: bytes };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return invalid('invalid_json', 'Text frames must be JSON objects with a "type" field.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return invalid('invalid_json', 'Text frames must be JSON objects with a "type" field.');
  }
  const type = (parsed as Record<string, unknown>)['type'];
  if (!isClientMessageType(type)) {
    const shown = typeof type === 'string' ? `"${type.slice(0, 64)}"` : 'missing';
    return invalid('unknown_type', `Unknown message type (${shown}); expected one of ${Object.keys(CLIENT_MESSAGES).join(', ')}.`);
  }
  return { event: type, data: parsed };
}

function invalid(code: InvalidFrame['code'], message: string): { event: string; data: InvalidFrame } {
  return { event: INVALID_FRAME_EVENT, data: { code, message } };
}

export interface VoiceWsLimits {
  maxPayloadBytes: number;
  /** Browser origins allowed besides the service's own; empty = any origin. */
  allowedOrigins?: readonly string[];
}

/**
 * Whether a handshake may proceed: with an allow-list, a browser (which always sends `Origin`) must
 * come from a listed origin or from this service's own host (the /test console); clients that send
 * no `Origin` (mobile apps, servers) are not browsers, so cross-site WebSocket hijacking does not
 * apply to them.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.includes(parsed.origin)) return true;
  return host !== undefined && parsed.host === host.toLowerCase();
}

/**
 * `ws` server options Nest does not set: a payload cap (oversize frames close with 1009), low
 * fragment limits, and no permessage-deflate (PCM compresses badly and deflate costs memory).
 */
export class VoiceWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly limits: VoiceWsLimits,
  ) {
    super(app, { messageParser: parseVoiceFrame });
  }

  /** Client-side socket errors (oversize frames, bad framing) are the peer's fault: one line, no stack. */
  override bindErrorHandler(server: { on(event: string, listener: (...args: never[]) => void): unknown }): unknown {
    server.on('connection', (socket: { on(event: 'error', listener: (error: Error) => void): void }) =>
      socket.on('error', (error: Error) => this.logger.warn(`client connection error: ${error.message}`)),
    );
    server.on('error', (error: Error) => this.logger.error(error));
    return server;
  }

  override create(port: number, options: Record<string, unknown> & { namespace?: string; server?: unknown; path?: string } = {}): unknown {
    const allowed = this.limits.allowedOrigins ?? [];
    return super.create(port, {
      ...options,
      ...(allowed.length > 0
        ? {
            verifyClient: (info: { origin?: string; req: { headers: { host?: string } } }, done: (ok: boolean, code?: number, message?: string) => void) => {
              if (originAllowed(info.origin, info.req.headers.host, allowed)) return done(true);
              this.logger.warn(`refused a WebSocket handshake from origin ${JSON.stringify(String(info.origin).slice(0, 100))} (not in WS_ALLOWED_ORIGINS)`);
              done(false, 403, 'Origin not allowed');
            },
          }
        : {}),
      maxPayload: this.limits.maxPayloadBytes,
      perMessageDeflate: false,
      maxFragments: 64,
      maxBufferedChunks: 1024,
    });
  }
}
