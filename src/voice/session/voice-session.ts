import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { decodeBase64Strict } from '@app/audio';
import {
  isVoiceError,
  VoiceError,
  type AudioAppendMessage,
  type ServerEvent,
  type SessionConfigureMessage,
  type TextPromptMessage,
} from '@app/protocol';
import type { BackendChatService, SessionRegistration } from '../../backend-chat/backend-chat.service.js';
import { SerialQueue } from '../../common/serial-queue.js';
import type { EffectiveSttConfig, SttStream, SttStreamListener } from '../../stt/stt-provider.js';
import type { SttService } from '../../stt/stt.service.js';
import type { EffectiveTtsConfig } from '../../tts/tts-provider.js';
import type { TtsService } from '../../tts/tts.service.js';
import type { SocketWriter } from './socket-writer.js';
import { Turn, type TurnPhaseListener } from './turn.js';

export interface VoiceSessionDeps {
  writer: SocketWriter;
  chat: BackendChatService;
  tts: TtsService;
  stt: SttService;
  logger: Logger;
  maxQueuedTurns: number;
  /** MAX_REPLY_CHARS: longest reply text taken from a streaming backend. */
  maxReplyChars: number;
  /** Told of every turn's phase changes (metrics, barge-in). */
  onTurnPhase?: TurnPhaseListener;
}

type SessionState = 'awaiting_configure' | 'ready' | 'closed';

interface ReadySession {
  sessionId: string;
  registration: SessionRegistration;
  tts: EffectiveTtsConfig;
  stt?: EffectiveSttConfig;
}

/**
 * One WebSocket connection's conversation. Inbound messages run through a serial queue, so they
 * take effect in arrival order even when one (configure) waits on the network. Assistant turns run
 * one at a time on their own queue (see Turn: its own AbortController reaches the chat backend, TTS
 * and sending, and its phase is observable); closing the session cancels them all. Every failure
 * becomes an `error` event and the session carries on.
 */
export class VoiceSession {
  private state: SessionState = 'awaiting_configure';
  private ready?: ReadySession;
  private stt?: SttStream;
  private readonly inbound = new SerialQueue((error) => this.reportError(error));
  private readonly pendingTurns: Turn[] = [];
  private runningTurn?: Turn;
  private turnCount = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly lifetime = new AbortController();

  constructor(private readonly deps: VoiceSessionDeps) {}

  get sessionId(): string | undefined {
    return this.ready?.sessionId;
  }

  /** The turn being run, if any. */
  get activeTurn(): Turn | undefined {
    return this.runningTurn;
  }

  /** Turns waiting behind the active one, oldest first. */
  get queuedTurns(): readonly Turn[] {
    return this.pendingTurns;
  }

  start(): void {
    this.emit({ type: 'session.ready', message: 'Connected. Send session.configure to begin.' });
  }

  configure(message: SessionConfigureMessage): void {
    this.inbound.run(() => this.applyConfigure(message));
  }

  prompt(message: TextPromptMessage): void {
    this.inbound.run(() => this.enqueueTurn(this.requireReady(), message.text));
  }

  appendAudio(message: AudioAppendMessage): void {
    this.inbound.run(() => {
      const ready = this.requireReady();
      const audio = decodeBase64Strict(message.audio);
      if (!audio) throw new VoiceError('invalid_audio', 'audio.append: `audio` is not canonical base64 (RFC 4648 with padding, no whitespace).');
      this.pushAudio(ready, audio, message.sample_rate, message.previous_text);
    });
  }

  appendBinaryAudio(audio: Buffer): void {
    this.inbound.run(() => this.pushAudio(this.requireReady(), audio));
  }

  commitAudio(): void {
    this.inbound.run(() => this.requireStt(this.requireReady()).commit());
  }

  /** Reports a problem with an inbound frame, in order with the other events. */
  rejectInput(error: unknown): void {
    this.inbound.run(() => {
      throw error;
    });
  }

  /**
   * Resolves once no turn is running or waiting (a reply in progress is finished, not cut), or when
   * `signal` aborts. Used to drain sessions before shutdown.
   */
  async whenIdle(signal: AbortSignal): Promise<void> {
    await this.inbound.idle();
    if ((!this.runningTurn && this.pendingTurns.length === 0) || signal.aborted) return;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  close(): void {
    if (this.state === 'closed') return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.state = 'closed';
    this.lifetime.abort(new VoiceError('internal_error', 'session closed'));
    for (const turn of [...this.pendingTurns.splice(0), ...(this.runningTurn ? [this.runningTurn] : [])]) turn.cancel('session_closed');
    this.stt?.close();
  }

  private async applyConfigure(message: SessionConfigureMessage): Promise<void> {
    if (this.state !== 'awaiting_configure') {
      throw new VoiceError('already_configured', 'session.configure was already accepted for this connection; open a new connection to change settings.');
    }
    const { chat, tts, stt } = this.deps;
    chat.assertClientBackendAllowed(message.backend);
    const ttsConfig = tts.resolveConfig(message.tts);
    const sttConfig = stt.resolveConfig(message.stt);
    const registration = await chat.resolveRegistration(message.backend, this.lifetime.signal);
    if (this.state !== 'awaiting_configure') return;
    const sessionId = message.session_id ?? randomUUID();
    this.ready = { sessionId, registration, tts: ttsConfig, stt: sttConfig };
    this.state = 'ready';
    this.deps.logger.log(`session ${sessionId} configured (backend: ${registration.source}, tts: ${ttsConfig.provider}, stt: ${sttConfig?.provider ?? 'none'})`);
    this.emit({ type: 'session.configured', session_id: sessionId });
    if (sttConfig) this.stt = stt.open(sessionId, sttConfig, this.sttListener());
  }

  /** Recognition results become transcript events; a non-empty commit starts an assistant turn. */
  private sttListener(): SttStreamListener {
    return {
      started: (info) => this.emit({ type: 'stt.session_started', session_id: info.session_id, config: info.config }),
      partial: (text) => this.emit({ type: 'transcript.partial', text }),
      speechStarted: () => undefined,
      committed: (text, trigger, words) => {
        if (this.state !== 'ready' || !this.ready) return;
        // VAD commits of noise carry no words: no event, no turn. A client's commit is always answered.
        if (!text && trigger === 'vad') return;
        let turn: Turn | undefined;
        let refused: unknown;
        if (text) {
          try {
            turn = this.createTurn(text);
          } catch (error) {
            refused = error;
          }
        }
        this.emit({ type: 'transcript.committed', text, ...(words ? { words } : {}), ...(turn ? { turn_id: turn.id } : {}) });
        if (turn) this.startTurn(this.ready, turn);
        if (refused) this.reportError(refused);
      },
      failed: (error) => {
        this.stt?.close();
        this.stt = undefined;
        this.reportError(error);
      },
    };
  }

  private requireReady(): ReadySession {
    if (this.state !== 'ready' || !this.ready) throw new VoiceError('not_configured', 'Send session.configure before this message.');
    return this.ready;
  }

  private requireStt(ready: ReadySession): SttStream {
    if (!ready.stt) {
      throw new VoiceError('stt_unavailable', `Speech input is not available on this server (${this.deps.stt.unavailableReason()}); use text.prompt.`);
    }
    if (!this.stt) throw new VoiceError('stt_unavailable', 'Speech recognition stopped for this session; reconnect to use speech input again.');
    return this.stt;
  }

  private pushAudio(ready: ReadySession, audio: Buffer, sampleRate?: number, previousText?: string): void {
    const stream = this.requireStt(ready);
    const config = ready.stt!;
    if (sampleRate !== undefined && sampleRate !== config.sample_rate) {
      throw new VoiceError('sample_rate_mismatch', `audio.append sample_rate ${sampleRate} differs from the session's ${config.sample_rate} Hz; chunk dropped.`);
    }
    if (config.audio_format.startsWith('pcm') && audio.length % 2 !== 0) {
      throw new VoiceError('invalid_audio', `PCM16 audio needs an even number of bytes; got ${audio.length}. Chunk dropped.`);
    }
    if (audio.length === 0) return;
    stream.push(audio, previousText);
  }

  private enqueueTurn(ready: ReadySession, text: string): void {
    this.startTurn(ready, this.createTurn(text));
  }

  /** A new turn with the next id; throws turn_queue_full (using no id) when the queue is full. */
  private createTurn(text: string): Turn {
    if (this.pendingTurns.length >= this.deps.maxQueuedTurns) {
      throw new VoiceError('turn_queue_full', `${this.pendingTurns.length} turns are already waiting; this one was dropped: "${text.slice(0, 80)}"`);
    }
    const turn = new Turn(++this.turnCount, text);
    const { onTurnPhase } = this.deps;
    if (onTurnPhase) turn.onPhase(onTurnPhase);
    return turn;
  }

  private startTurn(ready: ReadySession, turn: Turn): void {
    this.pendingTurns.push(turn);
    if (!this.runningTurn) void this.runPendingTurns(ready);
  }

  private async runPendingTurns(ready: ReadySession): Promise<void> {
    for (let turn = this.pendingTurns.shift(); turn && this.state === 'ready'; turn = this.pendingTurns.shift()) {
      this.runningTurn = turn;
      try {
        await turn.run({
          sessionId: ready.sessionId,
          registration: ready.registration,
          ttsConfig: ready.tts,
          chat: this.deps.chat,
          tts: this.deps.tts,
          writer: this.deps.writer,
          logger: this.deps.logger,
          maxReplyChars: this.deps.maxReplyChars,
        });
      } catch (error) {
        this.reportError(error);
      } finally {
        this.runningTurn = undefined;
      }
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private emit(event: ServerEvent): void {
    this.deps.writer.send(event);
  }

  private reportError(error: unknown): void {
    if (this.state === 'closed') return;
    if (isVoiceError(error)) {
      if (error.code === 'internal_error') this.deps.logger.error(error.stack ?? error.message);
      this.emit({ type: 'error', code: error.code, message: error.message });
      return;
    }
    this.deps.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    this.emit({ type: 'error', code: 'internal_error', message: 'Unexpected server error; the session is still usable.' });
  }
}
