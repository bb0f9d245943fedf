import { Inject, Logger, UseFilters } from '@nestjs/common';
import {
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer as WsServer } from 'ws';
import { MAX_AUDIO_CHUNK_BYTES, validateClientMessage, VOICE_WS_PATH, VoiceError } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { HandshakeGate } from './handshake-gate.js';
import { BINARY_AUDIO_EVENT, INVALID_FRAME_EVENT, type InvalidFrame } from './voice-ws.adapter.js';
import type { VoiceSession } from './session/voice-session.js';
import { CLOSE_TRY_AGAIN_LATER, VoiceSessionRegistry } from './voice-session.registry.js';
import { VoiceWsExceptionFilter } from './voice-ws-exception.filter.js';

/**
 * The WebSocket edge: validates each message and hands it to the connection's VoiceSession;
 * anything that escapes (no session) reaches VoiceWsExceptionFilter.
 *
 * Handlers take the raw `(socket, message)` arguments on purpose: without parameter decorators,
 * pipes or guards, Nest calls them synchronously as each frame arrives, so the session sees
 * messages in wire order (validation is synchronous for the same reason).
 */
@WebSocketGateway({ path: VOICE_WS_PATH })
@UseFilters(VoiceWsExceptionFilter)
export class VoiceGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(VoiceGateway.name);
  private readonly alive = new WeakSet<WebSocket>();
  /** Per-connection message budget (MAX_MESSAGES_PER_SECOND), refilled continuously. */
  private readonly budgets = new WeakMap<WebSocket, { tokens: number; at: number }>();
  private heartbeat?: NodeJS.Timeout;

  @WebSocketServer() private server?: WsServer;

  constructor(
    private readonly sessions: VoiceSessionRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly gate: HandshakeGate,
  ) {}

  afterInit(server: WsServer): void {
    // Pings keep load balancer idle timers from cutting quiet sessions and find dead peers.
    this.heartbeat = setInterval(() => {
      for (const socket of server.clients) {
        if (!this.alive.has(socket)) {
          socket.terminate();
          continue;
        }
        this.alive.delete(socket);
        socket.ping();
      }
    }, this.config.ws.pingIntervalMs);
    this.heartbeat.unref();
    server.once('close', () => clearInterval(this.heartbeat));
  }

  handleConnection(socket: WebSocket, request?: IncomingMessage): void {
    if (this.sessions.isDraining) {
      socket.close(CLOSE_TRY_AGAIN_LATER, 'server draining; reconnect');
      return;
    }
    this.alive.add(socket);
    socket.on('pong', () => this.alive.add(socket));
    const context = this.gate.contextOf(request);
    this.sessions.create(socket, context, this.gate).start();
    const sub = context.auth?.sub ? ` for sub ${JSON.stringify(context.auth.sub)}` : '';
    this.logger.debug(`connection opened${sub} (${this.sessions.openSessions} open)`);
  }

  handleDisconnect(socket: WebSocket): void {
    this.sessions.remove(socket);
    this.logger.debug(`connection closed (${this.sessions.openSessions} open)`);
  }

  @SubscribeMessage('session.configure')
  onConfigure(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => session.configure(validateClientMessage('session.configure', message)));
  }

  @SubscribeMessage('audio.append')
  onAudioAppend(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => session.appendAudio(validateClientMessage('audio.append', message)));
  }

  @SubscribeMessage(BINARY_AUDIO_EVENT)
  onBinaryAudio(socket: WebSocket, audio: Buffer): void {
    this.dispatch(socket, (session) => {
      // The same limit as base64 audio.append (whose schema caps the encoded length).
      if (audio.length > MAX_AUDIO_CHUNK_BYTES) {
        throw new VoiceError('audio_chunk_too_large', `A binary audio frame of ${audio.length} bytes is over max_audio_chunk_bytes (${MAX_AUDIO_CHUNK_BYTES}, 1 s of 48 kHz PCM16); send chunks of 20-1000 ms. Chunk dropped.`);
      }
      session.appendBinaryAudio(audio);
    });
  }

  @SubscribeMessage('audio.commit')
  onAudioCommit(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => {
      validateClientMessage('audio.commit', message);
      session.commitAudio();
    });
  }

  @SubscribeMessage('text.prompt')
  onTextPrompt(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => session.prompt(validateClientMessage('text.prompt', message)));
  }

  @SubscribeMessage('assistant.audio.played')
  onAudioPlayed(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => session.audioPlayed(validateClientMessage('assistant.audio.played', message)));
  }

  @SubscribeMessage('assistant.cancel')
  onCancel(socket: WebSocket, message: unknown): void {
    this.dispatch(socket, (session) => {
      validateClientMessage('assistant.cancel', message);
      session.cancel();
    });
  }

  @SubscribeMessage(INVALID_FRAME_EVENT)
  onInvalidFrame(socket: WebSocket, frame: InvalidFrame): void {
    this.dispatch(socket, () => {
      throw new VoiceError(frame.code, frame.message);
    });
  }

  /** Token bucket: MAX_MESSAGES_PER_SECOND sustained, bursts of twice that; over it a frame is dropped with `rate_limited`. */
  private spendBudget(socket: WebSocket): void {
    const rate = this.config.limits.maxMessagesPerSecond;
    const now = performance.now();
    const budget = this.budgets.get(socket) ?? { tokens: 2 * rate, at: now };
    budget.tokens = Math.min(2 * rate, budget.tokens + ((now - budget.at) / 1000) * rate);
    budget.at = now;
    this.budgets.set(socket, budget);
    if (budget.tokens < 1) {
      throw new VoiceError('rate_limited', `More than ${rate} messages per second (MAX_MESSAGES_PER_SECOND); this one was dropped. Send audio in chunks of 20 ms or more.`);
    }
    budget.tokens -= 1;
  }

  /**
   * Runs a handler against the socket's session. Input errors go into the session's ordered queue
   * right away, so the `error` lands between the events of the frames before and after it (a thrown
   * error would reach the exception filter only after later frames in the same read were handled).
   */
  private dispatch(socket: WebSocket, handle: (session: VoiceSession) => void): void {
    const session = this.sessions.get(socket);
    if (!session) throw new VoiceError('internal_error', 'No session for this connection.');
    try {
      this.spendBudget(socket);
      handle(session);
    } catch (error) {
      session.rejectInput(error);
    }
  }
}
