import type { IncomingMessage } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { filter, type Observable } from 'rxjs';
import { WebSocket, type RawData } from 'ws';
import { CLIENT_MESSAGES, isClientMessageType, MAX_AUDIO_CHUNK_BYTES } from '@app/protocol';
import { BEARER_SUBPROTOCOL_PREFIX, VOICE_SUBPROTOCOL } from './auth/ws-auth.service.js';
import type { HandshakeGate } from './handshake-gate.js';
import { HandshakePacer } from './handshake-pacer.js';

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
  } catch (error) {
    return invalid('invalid_json', `JSON syntax error: ${describeSyntaxError(error, data)}. Text frames must be JSON objects with a "type" field.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`;
    return invalid('invalid_json', `The frame is valid JSON but ${kind}; text frames must be JSON objects with a "type" field.`);
  }
  const type = (parsed as Record<string, unknown>)['type'];
  if (!isClientMessageType(type)) {
    const shown = typeof type === 'string' ? `"${type.slice(0, 64)}"` : 'missing';
    return invalid('unknown_type', `Unknown message type (${shown}); expected one of ${Object.keys(CLIENT_MESSAGES).join(', ')}.`);
  }
  return { event: type, data: parsed };
}

/** Where JSON.parse stopped, as `line L column C` (never quoting more than a few characters of the frame). */
export function describeSyntaxError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message);
  if (!position) {
    if (/Unexpected end/i.test(message) || text.trim() === '') return 'the frame ended early (unfinished JSON)';
    return `the frame is not JSON (it starts with ${JSON.stringify(text.trimStart().slice(0, 12))})`;
  }
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  const near = JSON.stringify(text.slice(offset, offset + 12));
  const hint = /^\s*[}\]]/.test(text.slice(offset)) && /,\s*$/.test(before) ? ' (a trailing comma?)' : '';
  return `unexpected input at line ${line} column ${column} near ${near}${hint}`;
}

function invalid(code: InvalidFrame['code'], message: string): { event: string; data: InvalidFrame } {
  return { event: INVALID_FRAME_EVENT, data: { code, message } };
}

export interface VoiceWsLimits {
  maxPayloadBytes: number;
  /** Browser origins allowed besides the service's own; empty = any origin. */
  allowedOrigins?: readonly string[];
  /** Session count, per-address and token checks at the handshake. */
  gate?: Pick<HandshakeGate, 'admit'>;
}

/** Close code and reason when a frame exceeds WS_MAX_PAYLOAD_BYTES (ws itself would send an empty reason). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
export function oversizeCloseReason(maxPayloadBytes: number): string {
  // Close reasons are limited to 123 bytes.
  return `frame over WS_MAX_PAYLOAD_BYTES=${maxPayloadBytes}; send audio chunks of <= ${MAX_AUDIO_CHUNK_BYTES} bytes`.slice(0, 123);
}

/**
 * The subprotocol the server selects: `voice-layer.v1` when offered, else the first offered entry
 * that does not carry a token; never a `bearer.` entry (the response would echo the token).
 */
export function selectSubprotocol(protocols: Set<string>): string | false {
  if (protocols.has(VOICE_SUBPROTOCOL)) return VOICE_SUBPROTOCOL;
  for (const protocol of protocols) if (!protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return protocol;
  return false;
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
 * Note on `bufferutil` (a dependency nothing imports): `ws` loads it when present to mask and unmask
 * frames natively. Every client frame is masked, and so is every frame the service sends upstream
 * (to ElevenLabs); in JavaScript, unmasking a 100 ms audio chunk (4.3 KB) takes 16.5 us, natively
 * 0.4 us (100 000 calls on the 2-core machine): 32 us less per audio chunk, 0.16 s of CPU per second
 * at 500 streaming sessions.
 *
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
    const reason = oversizeCloseReason(this.limits.maxPayloadBytes);
    server.on('connection', (socket: { on(event: 'error', listener: (error: Error) => void): void; close(code?: number, reason?: string): void }) => {
      // ws closes an oversize frame with 1009 and no reason; say which limit and what to do.
      const close = socket.close.bind(socket);
      socket.close = (code?: number, text?: string) => close(code, code === CLOSE_MESSAGE_TOO_BIG && !text ? reason : text);
      socket.on('error', (error: Error) => this.logger.warn(`client connection error: ${error.message}`));
    });
    server.on('error', (error: Error) => this.logger.error(error));
    return server;
  }

  /**
   * Dispatches each frame straight to its handler. Nest's version builds an rxjs pipeline per frame
   * (a MessageEvent from `addEventListener`, `mergeMap`, a `from(promise)` observable, `filter`,
   * `catchError`, a subscription) to send back what a handler returns; our handlers return nothing,
   * so that was pure overhead on every audio chunk: 12 % of the service's main-thread time at 200
   * streaming sessions (@nestjs/platform-ws 8.5 %, rxjs 2.8 %, in a `bench/load.ts` CPU profile).
   * Semantics are Nest's: the handler runs synchronously as the frame arrives (wire order), a handler
   * that throws synchronously is ignored (Nest's exception filters run inside the callback), a
   * rejection is logged, and a non-nil result still goes through Nest's `transform` and is sent as JSON.
   */
  override bindMessageHandlers(client: WebSocket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    const byEvent = new Map(handlers.map((handler) => [String(handler.message), handler]));
    client.on('message', (data: RawData, isBinary: boolean) => {
      const message = parseVoiceFrame(isBinary ? data : data.toString());
      const handler = byEvent.get(message.event);
      if (!handler) return;
      let result: unknown;
      try {
        result = handler.callback(message.data, message.event);
      } catch {
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (value) => {
            if (value !== undefined && value !== null) this.reply(client, transform(result));
          },
          (error: unknown) => this.logger.error(error),
        );
      } else if (result !== undefined && result !== null) this.reply(client, transform(result));
    });
  }

  private reply(client: WebSocket, responses: Observable<unknown>): void {
    responses.pipe(filter((response) => response !== undefined && response !== null)).subscribe({
      next: (response) => {
        if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(response));
      },
      error: (error: unknown) => this.logger.error(error),
    });
  }

  override create(port: number, options: Record<string, unknown> & { namespace?: string; server?: unknown; path?: string } = {}): unknown {
    const allowed = this.limits.allowedOrigins ?? [];
    const gate = this.limits.gate;
    type Done = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;
    const pacer = new HandshakePacer();
    const verify = (info: { origin?: string; req: IncomingMessage }, done: Done): void => {
      if (!pacer.enqueue(() => this.verifyClient(info, done, allowed, gate))) done(false, 503, 'Too many handshakes waiting; retry shortly', { 'Retry-After': '1' });
    };
    return super.create(port, {
      ...options,
      verifyClient: verify,
      handleProtocols: selectSubprotocol,
      maxPayload: this.limits.maxPayloadBytes,
      perMessageDeflate: false,
      maxFragments: 64,
      maxBufferedChunks: 1024,
    });
  }

  private verifyClient(
    info: { origin?: string; req: IncomingMessage },
    done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
    allowed: readonly string[],
    gate: Pick<HandshakeGate, 'admit'> | undefined,
  ): void {
    if (allowed.length > 0 && !originAllowed(info.origin, info.req.headers.host, allowed)) {
      this.logger.warn(`refused a WebSocket handshake from origin ${JSON.stringify(String(info.origin).slice(0, 100))} (not in WS_ALLOWED_ORIGINS)`);
      return done(false, 403, 'Origin not allowed');
    }
    if (!gate) return done(true);
    gate.admit(info.req).then(
      (refusal) => (refusal ? done(false, refusal.status, refusal.message, refusal.headers) : done(true)),
      (error: unknown) => {
        this.logger.error(error instanceof Error ? error.message : String(error));
        done(false, 500, 'Handshake failed');
      },
    );
  }
}
