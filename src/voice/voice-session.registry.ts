import type { Server } from 'node:http';
import { setMaxListeners } from 'node:events';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { WebSocket } from 'ws';
import { BackendChatService } from '../backend-chat/backend-chat.service.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AppLogger } from '../logging/app-logger.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TracingService } from '../tracing/tracing.service.js';
import { SttService } from '../stt/stt.service.js';
import { TtsService } from '../tts/tts.service.js';
import { EchoJudgesService } from './echo-judges.service.js';
import type { ConnectionContext, HandshakeGate } from './handshake-gate.js';
import { SocketWriter } from './session/socket-writer.js';
import { VoiceSession } from './session/voice-session.js';

/** Close code sent to sessions when the server shuts down (RFC 6455 "going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code for connections that raced the start of a drain ("try again later"); later handshakes get HTTP 503. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * Creates a VoiceSession per socket and finds it again for that socket. On shutdown (SIGTERM or
 * app.close) it drains: readiness turns down, new WebSocket handshakes are refused with HTTP 503 (so a
 * load balancer retries another replica; one that raced the drain is closed with 1013), and each open
 * session is closed with 1001 once its turns are answered, or at DRAIN_TIMEOUT_MS.
 */
@Injectable()
export class VoiceSessionRegistry implements BeforeApplicationShutdown {
  private readonly sessions = new Map<WebSocket, VoiceSession>();
  private readonly logger = new Logger(VoiceSession.name);
  private draining = false;

  constructor(
    private readonly chat: BackendChatService,
    private readonly tts: TtsService,
    private readonly stt: SttService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly appLogger: AppLogger,
    private readonly tracing: TracingService,
    private readonly echo: EchoJudgesService,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  get openSessions(): number {
    return this.sessions.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    this.refuseNewHandshakes();
    if (this.sessions.size === 0) return;
    this.logger.log(`draining ${this.sessions.size} session(s), at most ${this.config.session.drainTimeoutMs} ms`);
    const deadline = AbortSignal.timeout(this.config.session.drainTimeoutMs);
    // One abort listener per busy session, each removed when its session goes idle (whenIdle); so
    // more than 10 at once is expected here, not a leak (it was the MaxListenersExceededWarning of
    // the load harness, most likely: it stops the service with hundreds of sessions mid-turn).
    setMaxListeners(this.sessions.size + 10, deadline);
    await Promise.all(
      [...this.sessions].map(async ([socket, session]) => {
        await session.whenIdle(deadline);
        socket.close(CLOSE_GOING_AWAY, 'server shutting down; reconnect');
        await new Promise((resolve) => (socket.readyState === socket.CLOSED ? resolve(undefined) : socket.once('close', resolve)));
      }),
    );
  }

  /**
   * From now on WebSocket handshakes get `503 Service Unavailable` (Retry-After: 1) instead of an
   * upgrade. Open-source nginx has no active health checks, but with `proxy_next_upstream http_503`
   * it passes the handshake to another replica (and counts a failure towards max_fails), so no
   * client lands on a draining replica. Plain HTTP (health, metrics) is served until the end.
   */
  private refuseNewHandshakes(): void {
    const server = this.adapterHost?.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server || typeof server.on !== 'function') return;
    server.removeAllListeners('upgrade');
    server.on('upgrade', (_request: unknown, socket: Duplex) => {
      const body = 'server draining; reconnect\n';
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
  }

  create(socket: WebSocket, context?: ConnectionContext, gate?: Pick<HandshakeGate, 'admitConfigure'>): VoiceSession {
    const auth = context?.auth;
    // A client that stops reading loses its session (and its running turn) at once, not at TCP timeout.
    let stalled = (): void => undefined;
    const session = new VoiceSession({
      writer: new SocketWriter(socket, this.config.ws.sendHighWaterBytes, {
        slowClientTimeoutMs: this.config.limits.slowClientTimeoutMs,
        onStalled: () => stalled(),
      }),
      chat: this.chat,
      tts: this.tts,
      stt: this.stt,
      logger: this.appLogger.child({ context: VoiceSession.name }),
      maxQueuedTurns: this.config.session.maxQueuedTurns,
      maxReplyChars: this.config.backend.maxReplyChars,
      maxPendingInbound: this.config.limits.maxPendingInbound,
      maxSttBacklogSeconds: this.config.stt.maxBacklogSeconds,
      flow: { pause: () => socket.pause(), resume: () => socket.resume() },
      ...(auth ? { binding: { registrationId: auth.registrationId, sessionId: auth.sessionId }, principal: auth.sub } : {}),
      ...(gate && context ? { admitConfigure: () => gate.admitConfigure(context.ip) } : {}),
      metrics: this.metrics,
      tracing: this.tracing,
      echo: this.echo,
    });
    stalled = () => {
      this.metrics.sendBufferHighWaterClose();
      this.logger.warn(`closing a session whose client stopped reading (send buffer over WS_SEND_HIGH_WATER_BYTES)`);
      session.close();
    };
    this.sessions.set(socket, session);
    socket.once('close', this.metrics.connectionOpened());
    return session;
  }

  get(socket: WebSocket): VoiceSession | undefined {
    return this.sessions.get(socket);
  }

  remove(socket: WebSocket): void {
    const session = this.sessions.get(socket);
    if (!session) return;
    this.sessions.delete(socket);
    session.close();
  }
}
