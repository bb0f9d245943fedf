import { Emitter } from './emitter.js';
import { base64ToBytes } from './pcm.js';
import type { AudioOutput } from './player.js';
import type {
  ClientMessage,
  ServerEvent,
  ServerEventOf,
  ServerEventType,
  SessionConfigureMessage,
  SessionConfiguredEvent,
  SessionReadyEvent,
  SttSessionConfig,
} from './protocol.js';
import { backoffDelay, closeDecision, type ReconnectOptions } from './reconnect.js';
import { initialState, nextState, type StateInput, type StateMachine, type VoiceState } from './state.js';

/** `session.configure` without its `type`: every section optional. */
export type SessionConfig = Omit<SessionConfigureMessage, 'type'>;

/** The part of a WebSocket the client uses (the browser's WebSocket and Node's `ws` both fit). */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string, protocols?: string[]) => SocketLike;

/** The WebSocket subprotocol of this protocol version; a token travels beside it as `bearer.<token>`. */
export const VOICE_SUBPROTOCOL = 'voice-layer.v1';

/** Every event a VoiceClient emits: each server event by its `type`, and the client's own. */
export type VoiceClientEvents = { [K in ServerEventType]: ServerEventOf<K> } & {
  /** Every server event, in order (after its own typed event). */
  event: ServerEvent;
  /** The conversation state changed (see `VoiceState`). */
  state: { state: VoiceState; previous: VoiceState };
  /** The socket opened (`attempt` 0 for `connect`, then 1, 2... for reconnects). */
  open: { url: string; attempt: number };
  /** The socket closed; `reconnecting` says whether the client will try again. */
  close: { code: number; reason: string; reconnecting: boolean; handshake_status?: number };
  /** A reconnect is scheduled after `delay_ms`. */
  reconnecting: { attempt: number; delay_ms: number; code: number };
  /** The reconnect succeeded and the last `session.configure` was accepted again. */
  reconnected: { attempt: number; session_id?: string };
  /** The reconnect attempts ran out. */
  reconnect_failed: { attempts: number };
  /** Every frame the client sends (audio frames by size), for logs. */
  sent: { message: ClientMessage } | { binary_bytes: number };
};

export interface ConnectOptions {
  /**
   * A bearer token for the handshake, sent as the WebSocket subprotocol `bearer.<token>` beside
   * `voice-layer.v1` (browsers cannot set headers). A function is called before every (re)connect,
   * so an expired token can be refreshed.
   */
  token?: string | (() => string | Promise<string>) | undefined;
}

export interface VoiceClientOptions {
  /** Plays reply audio and reports `assistant.audio.played` (browser: `new Player()`). */
  player?: AudioOutput;
  /** Reconnect on abnormal and drain closes (default on); `false` turns it off. */
  reconnect?: ReconnectOptions | false;
  /** Makes sockets; default: the global `WebSocket` (the Node entry passes `ws`). */
  createSocket?: SocketFactory;
}

/** An error the client raises for a failed connect, configure or send. */
export class VoiceClientError extends Error {
  constructor(
    message: string,
    readonly code?: string | number,
  ) {
    super(message);
    this.name = 'VoiceClientError';
  }
}

const OPEN = 1;
/** Error codes that answer a `session.configure` (others belong to turns or audio). */
const CONFIGURE_ERRORS = new Set<string>([
  'invalid_json',
  'invalid_message',
  'already_configured',
  'frontend_backend_auth_forbidden',
  'backend_not_configured',
  'registration_failed',
  'unknown_registration',
  'backend_unavailable',
  'backend_timeout',
  'unsupported_output_format',
  'unsupported_language',
  'provider_unavailable',
  'stt_unavailable',
  'internal_error',
]);

/**
 * A Voice Layer session over one WebSocket: typed events in, typed messages out, the conversation
 * state, reply audio handed to a player, and reconnection.
 *
 * ```ts
 * const client = new VoiceClient({ player: new Player() });
 * client.on('assistant.message', (e) => show(e.text));
 * await client.connect('wss://voice.example.com/v1/voice/ws', { token });
 * await client.configure({ tts: { output_format: 'pcm_24000' } });
 * client.prompt('hello');
 * ```
 */
export class VoiceClient extends Emitter<VoiceClientEvents> {
  private socket?: SocketLike;
  private machine: StateMachine;
  private url?: string;
  private token?: ConnectOptions['token'];
  private lastConfigure?: SessionConfigureMessage;
  private configured?: { sessionId: string; stt?: SttSessionConfig };
  private reconnectAttempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private closedByUser = false;
  /** A `session.ready` came on this connect (so later losses are worth reconnecting). */
  private hadReady = false;
  private currentTurn?: number;
  private pendingConfigure?: { resolve(event: SessionConfiguredEvent): void; reject(error: Error): void };
  private readonly player?: AudioOutput;
  private readonly reconnectOptions: ReconnectOptions | false;
  private readonly createSocket: SocketFactory;

  constructor(options: VoiceClientOptions = {}) {
    super();
    this.player = options.player;
    this.reconnectOptions = options.reconnect ?? {};
    this.createSocket = options.createSocket ?? defaultSocket;
    this.machine = initialState(this.player !== undefined);
    if (this.player) {
      this.player.listener = {
        played: (turnId, playedMs) => this.sendIfOpen({ type: 'assistant.audio.played', turn_id: turnId, played_ms: Math.max(0, Math.round(playedMs)) }),
        ended: (turnId) => this.feed({ type: 'playback.ended', turn_id: turnId }),
      };
    }
  }

  /** The conversation state (see `VoiceState`). */
  get state(): VoiceState {
    return this.machine.state;
  }

  get connected(): boolean {
    return this.socket?.readyState === OPEN;
  }

  /** The session id, once configured. */
  get sessionId(): string | undefined {
    return this.configured?.sessionId;
  }

  /** The effective speech input settings (`stt.session_started`), once known: the microphone needs its rate. */
  get stt(): SttSessionConfig | undefined {
    return this.configured?.stt;
  }

  /** Opens the socket; resolves with `session.ready`, rejects if the first connection fails. */
  async connect(url: string, options: ConnectOptions = {}): Promise<SessionReadyEvent> {
    this.close();
    if (this.socket) {
      // A new session replaces the old one at once: its audio and state go with it.
      this.socket = undefined;
      this.player?.stop();
      this.feed({ type: 'socket.closed' });
    }
    this.closedByUser = false;
    this.url = url;
    this.token = options.token;
    this.lastConfigure = undefined;
    this.configured = undefined;
    this.hadReady = false;
    this.reconnectAttempt = 0;
    const ready = new Promise<SessionReadyEvent>((resolve, reject) => {
      const offReady = this.once('session.ready', (event) => {
        offClose();
        resolve(event);
      });
      const offClose = this.once('close', (event) => {
        offReady();
        const status = event.handshake_status;
        reject(new VoiceClientError(status ? `the server refused the connection (HTTP ${status})` : `the connection failed (close ${event.code}${event.reason ? `: ${event.reason}` : ''})`, status ?? event.code));
      });
    });
    await this.open(false);
    return ready;
  }

  /**
   * Sends `session.configure`; resolves with `session.configured`, rejects with the server's `error`.
   * The configuration is kept and sent again after a reconnect (with the session id the server gave,
   * so the chat backend keeps the conversation).
   */
  configure(config: SessionConfig = {}): Promise<SessionConfiguredEvent> {
    const message: SessionConfigureMessage = { ...config, type: 'session.configure' };
    this.lastConfigure = message;
    this.pendingConfigure?.reject(new VoiceClientError('superseded by another configure()'));
    const result = new Promise<SessionConfiguredEvent>((resolve, reject) => {
      this.pendingConfigure = { resolve, reject };
    });
    this.send(message);
    return result;
  }

  /** A typed user turn. */
  prompt(text: string): void {
    this.send({ type: 'text.prompt', text });
    this.feed({ type: 'prompt.sent' });
  }

  /** Microphone audio in the session's `stt.audio_format`, as a binary frame (dropped while disconnected). */
  sendAudio(audio: ArrayBuffer | ArrayBufferView): void {
    if (!this.socket || !this.connected) return;
    this.socket.send(audio);
    this.emit('sent', { binary_bytes: audio.byteLength });
  }

  /** Ends the user's turn now (`audio.commit`). */
  commit(): void {
    this.send({ type: 'audio.commit' });
  }

  /** Stops the assistant's reply (`assistant.cancel`): local playback stops at once. */
  cancel(): void {
    if (this.machine.speakingTurn !== undefined) this.player?.stop(this.machine.speakingTurn);
    this.sendIfOpen({ type: 'assistant.cancel' });
  }

  /** Sends any client message (it must be valid: the server answers bad ones with `error`). */
  send(message: ClientMessage): void {
    if (!this.socket || !this.connected) throw new VoiceClientError(`not connected: cannot send ${message.type}`, 'not_connected');
    this.socket.send(JSON.stringify(message));
    this.emit('sent', { message });
  }

  /** Closes the session for good (no reconnect) and stops playback. */
  close(): void {
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    if (socket && socket.readyState <= OPEN) socket.close(1000, 'closed by the client');
  }

  private sendIfOpen(message: ClientMessage): void {
    if (this.connected) this.send(message);
  }

  private async open(reconnecting: boolean): Promise<void> {
    const url = this.url!;
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    if (this.closedByUser && reconnecting) return;
    const socket = this.createSocket(url, token ? [VOICE_SUBPROTOCOL, `bearer.${token}`] : undefined);
    this.socket = socket;
    socket.binaryType = 'arraybuffer';
    let handshakeStatus: number | undefined;
    const attempt = this.reconnectAttempt;
    socket.onerror = (event) => {
      // Node's `ws` names the HTTP status of a refused handshake; browsers tell nothing.
      const message = (event as { message?: unknown }).message;
      const match = typeof message === 'string' ? /server response: (\d{3})/.exec(message) : null;
      if (match) handshakeStatus = Number(match[1]);
    };
    socket.onopen = () => {
      this.emit('open', { url, attempt });
      if (reconnecting && this.lastConfigure) {
        const again: SessionConfigureMessage = { ...this.lastConfigure, ...(this.configured ? { session_id: this.configured.sessionId } : {}) };
        this.send(again);
      } else if (reconnecting) {
        this.reconnectAttempt = 0;
        this.emit('reconnected', { attempt });
      }
    };
    socket.onmessage = (frame) => {
      if (typeof frame.data !== 'string') return;
      let event: ServerEvent;
      try {
        event = JSON.parse(frame.data) as ServerEvent;
      } catch {
        return;
      }
      this.handle(event, reconnecting ? attempt : undefined);
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.player?.stop();
      this.feed({ type: 'socket.closed' });
      this.pendingConfigure?.reject(new VoiceClientError(`the connection closed (${close.code})`, close.code));
      this.pendingConfigure = undefined;
      const everReady = reconnecting || this.hadReady;
      const decision = closeDecision({ code: close.code, byUser: this.closedByUser, ...(handshakeStatus !== undefined ? { handshakeStatus } : {}) });
      const limits = this.reconnectOptions;
      const canRetry = limits !== false && everReady && decision === 'reconnect';
      const attemptsLeft = limits !== false && this.reconnectAttempt < (limits.maxAttempts ?? 8);
      this.emit('close', { code: close.code, reason: close.reason, reconnecting: canRetry && attemptsLeft, ...(handshakeStatus !== undefined ? { handshake_status: handshakeStatus } : {}) });
      if (!canRetry) return;
      if (!attemptsLeft) {
        this.emit('reconnect_failed', { attempts: this.reconnectAttempt });
        return;
      }
      this.reconnectAttempt++;
      const delay = backoffDelay(this.reconnectAttempt, limits);
      this.emit('reconnecting', { attempt: this.reconnectAttempt, delay_ms: delay, code: close.code });
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        void this.open(true);
      }, delay);
    };
  }

  private handle(event: ServerEvent, reconnectAttempt: number | undefined): void {
    switch (event.type) {
      case 'session.ready':
        this.hadReady = true;
        break;
      case 'session.configured':
        this.configured = { sessionId: event.session_id };
        this.pendingConfigure?.resolve(event);
        this.pendingConfigure = undefined;
        if (reconnectAttempt !== undefined && this.reconnectAttempt > 0) {
          this.reconnectAttempt = 0;
          this.emit('reconnected', { attempt: reconnectAttempt, session_id: event.session_id });
        }
        break;
      case 'stt.session_started':
        if (this.configured) this.configured.stt = event.config;
        break;
      case 'assistant.started':
        this.currentTurn = event.turn_id;
        break;
      case 'assistant.audio.chunk':
        this.player?.chunk(event.turn_id, base64ToBytes(event.audio), event.output_format, event.chunk_index === 1);
        break;
      case 'assistant.audio.end':
        this.player?.end(event.turn_id);
        break;
      case 'assistant.audio':
        if (this.player) {
          const turnId = this.currentTurn ?? 0;
          this.player.blob(turnId, base64ToBytes(event.audio), event.output_format).catch(() => this.feed({ type: 'playback.ended', turn_id: turnId }));
        }
        break;
      case 'assistant.interrupted':
        this.player?.stop(event.turn_id);
        break;
      case 'error':
        if (this.pendingConfigure && CONFIGURE_ERRORS.has(event.code)) {
          this.pendingConfigure.reject(new VoiceClientError(`${event.code}: ${event.message}`, event.code));
          this.pendingConfigure = undefined;
        }
        break;
      default:
        break;
    }
    this.feed(event);
    (this.emit as (type: string, event: ServerEvent) => void)(event.type, event);
    this.emit('event', event);
  }

  private feed(input: StateInput): void {
    const previous = this.machine.state;
    this.machine = nextState(this.machine, input);
    if (this.machine.state !== previous) this.emit('state', { state: this.machine.state, previous });
  }
}

function defaultSocket(url: string, protocols?: string[]): SocketLike {
  const WebSocketClass = (globalThis as { WebSocket?: new (url: string, protocols?: string[]) => SocketLike }).WebSocket;
  if (!WebSocketClass) throw new VoiceClientError('no global WebSocket here: in Node, import { VoiceClient } from "@voice-layer/client/node"');
  return new WebSocketClass(url, protocols);
}
