import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { decodeBase64Strict } from '@app/audio';
import {
  isVoiceError,
  VoiceError,
  BackendConfigDto,
  type AudioAppendMessage,
  type ServerEvent,
  type SessionConfigureMessage,
  type TextPromptMessage,
} from '@app/protocol';
import { truncatedReply, type BackendChatService, type SessionRegistration } from '../../backend-chat/backend-chat.service.js';
import { SerialQueue } from '../../common/serial-queue.js';
import type { EffectiveSttConfig, SttStream, SttStreamListener } from '../../stt/stt-provider.js';
import type { SttService } from '../../stt/stt.service.js';
import type { EffectiveTtsConfig } from '../../tts/tts-provider.js';
import type { TtsService } from '../../tts/tts.service.js';
import type { EventSink } from './socket-writer.js';

/** What a verified access token binds a session to (README "Security"). */
export interface SessionBinding {
  registrationId?: string;
  sessionId?: string;
}

/**
 * Audio a session may send ahead of real time (a file-upload burst), and the sustained speed beyond
 * which chunks are dropped with `rate_limited`: recognition runs near real time, so a client that
 * floods audio would otherwise grow the recogniser's backlog without limit.
 */
export const AUDIO_BURST_SECONDS = 60;
export const AUDIO_MAX_SPEED = 8;

/** Largest total size of frames held behind a pending message before reading pauses. */
export const MAX_PENDING_INBOUND_BYTES = 2 * 1024 * 1024;

export interface VoiceSessionDeps {
  writer: EventSink;
  chat: BackendChatService;
  tts: TtsService;
  stt: SttService;
  logger: Logger;
  maxQueuedTurns: number;
  /** Token claims the session must honour. */
  binding?: SessionBinding;
  /** Throws `rate_limited` when the client's address has configured too often. */
  admitConfigure?: () => void;
  /** Pauses/resumes reading the transport while too many inbound frames wait (backpressure). */
  flow?: { pause(): void; resume(): void };
  /** Frames held behind a pending message (configure) before reading pauses; 4x that are dropped. */
  maxPendingInbound?: number;
  /** Who the token says the user is, for log lines. */
  principal?: string;
}

type SessionState = 'awaiting_configure' | 'ready' | 'closed';

interface Turn {
  id: number;
  text: string;
  controller: AbortController;
}

interface ReadySession {
  /** The id the client sees in session.configured. */
  sessionId: string;
  /** The conversation id the chat backend sees. */
  conversationId: string;
  registration: SessionRegistration;
  tts: EffectiveTtsConfig;
  stt?: EffectiveSttConfig;
}

/**
 * One WebSocket connection's conversation. Inbound messages run through a serial queue, so they
 * take effect in arrival order even when one (configure) waits on the network. Assistant turns run
 * one at a time on their own queue, each with an AbortController that reaches the chat backend and
 * TTS; closing the session aborts them all. Every failure becomes an `error` event and the session
 * carries on.
 */
export class VoiceSession {
  private state: SessionState = 'awaiting_configure';
  private ready?: ReadySession;
  private stt?: SttStream;
  private readonly inbound = new SerialQueue((error) => this.reportError(error));
  private readonly pendingTurns: Turn[] = [];
  private activeTurn?: Turn;
  private turnCount = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly lifetime = new AbortController();
  private pendingInbound = 0;
  private pendingInboundBytes = 0;
  private inputPaused = false;
  /** Why reading the transport is paused (queue full, audio ahead of real time); it resumes when none is left. */
  private readonly pauses = new Set<'queue' | 'audio'>();
  private audioResume?: NodeJS.Timeout;
  /** session.configure messages queued or running (the only inbound work that waits on the network). */
  private configuring = 0;
  private audioBudget?: { seconds: number; at: number };

  constructor(private readonly deps: VoiceSessionDeps) {}

  get sessionId(): string | undefined {
    return this.ready?.sessionId;
  }

  start(): void {
    this.emit({ type: 'session.ready', message: 'Connected. Send session.configure to begin.' });
  }

  configure(message: SessionConfigureMessage): void {
    this.configuring++;
    this.accept(async () => {
      try {
        await this.applyConfigure(message);
      } finally {
        this.configuring--;
      }
    });
  }

  prompt(message: TextPromptMessage): void {
    this.accept(() => this.enqueueTurn(this.requireReady(), message.text), message.text.length);
  }

  appendAudio(message: AudioAppendMessage): void {
    this.accept(() => {
      const ready = this.requireReady();
      const audio = decodeBase64Strict(message.audio);
      if (!audio) throw new VoiceError('invalid_audio', 'audio.append: `audio` is not canonical base64 (RFC 4648 with padding, no whitespace).');
      this.pushAudio(ready, audio, message.sample_rate, message.previous_text);
    }, message.audio.length);
  }

  appendBinaryAudio(audio: Buffer): void {
    this.accept(() => this.pushAudio(this.requireReady(), audio), audio.length);
  }

  commitAudio(): void {
    this.accept(() => this.requireStt(this.requireReady()).commit());
  }

  /** Reports a problem with an inbound frame, in order with the other events. */
  rejectInput(error: unknown): void {
    this.accept(() => {
      throw error;
    });
  }

  /**
   * Queues an inbound frame's work in arrival order. While a message is pending (configure waits on
   * the network), frames pile up here: past `maxPendingInbound` frames or MAX_PENDING_INBOUND_BYTES
   * the transport stops reading (TCP backpressure reaches the client); frames the transport had
   * already read past 4x the limit while a configure is in flight are dropped with one
   * `input_overflow` error (the transport's own frame and read limits bound the rest).
   */
  private accept(task: () => void | Promise<void>, bytes = 0): void {
    const limit = this.deps.maxPendingInbound ?? Number.POSITIVE_INFINITY;
    // Without a configure in flight the queue drains within the same tick, so a burst is never dropped.
    const overflowing = this.pendingInbound >= 4 * limit || this.pendingInboundBytes + bytes > 4 * MAX_PENDING_INBOUND_BYTES;
    if (overflowing && this.configuring > 0) {
      this.reportError(
        new VoiceError('input_overflow', `More than ${limit} messages arrived while session.configure was pending; later ones were dropped. Wait for session.configured before streaming.`),
      );
      return;
    }
    this.pendingInbound++;
    this.pendingInboundBytes += bytes;
    if (!this.inputPaused && (this.pendingInbound >= limit || this.pendingInboundBytes >= MAX_PENDING_INBOUND_BYTES)) {
      this.inputPaused = true;
      this.pauseInput('queue');
    }
    this.inbound.run(async () => {
      try {
        await task();
      } finally {
        this.pendingInbound--;
        this.pendingInboundBytes -= bytes;
        if (this.inputPaused && this.pendingInbound <= limit / 2 && this.pendingInboundBytes <= MAX_PENDING_INBOUND_BYTES / 2) {
          this.inputPaused = false;
          this.resumeInput('queue');
        }
      }
    });
  }

  /**
   * Resolves once no turn is running or waiting (a reply in progress is finished, not cut), or when
   * `signal` aborts. Used to drain sessions before shutdown.
   */
  async whenIdle(signal: AbortSignal): Promise<void> {
    await this.inbound.idle();
    if ((!this.activeTurn && this.pendingTurns.length === 0) || signal.aborted) return;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  close(): void {
    if (this.state === 'closed') return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.state = 'closed';
    clearTimeout(this.audioResume);
    this.lifetime.abort(new VoiceError('internal_error', 'session closed'));
    for (const turn of [...this.pendingTurns.splice(0), ...(this.activeTurn ? [this.activeTurn] : [])]) turn.controller.abort();
    this.stt?.close();
  }

  private pauseInput(reason: 'queue' | 'audio'): void {
    if (this.pauses.size === 0) this.deps.flow?.pause();
    this.pauses.add(reason);
  }

  private resumeInput(reason: 'queue' | 'audio'): void {
    if (!this.pauses.delete(reason) || this.pauses.size > 0 || this.state === 'closed') return;
    this.deps.flow?.resume();
  }

  private async applyConfigure(message: SessionConfigureMessage): Promise<void> {
    if (this.state !== 'awaiting_configure') {
      throw new VoiceError('already_configured', 'session.configure was already accepted for this connection; open a new connection to change settings.');
    }
    const { chat, tts, stt } = this.deps;
    this.deps.admitConfigure?.();
    const binding = this.deps.binding ?? {};
    const backend = bindBackend(message.backend, binding.registrationId);
    if (binding.sessionId && message.session_id !== undefined && message.session_id !== binding.sessionId) {
      throw new VoiceError('session_binding_mismatch', 'session_id differs from the one your access token is bound to; omit session_id or send the bound value.');
    }
    chat.assertClientBackendAllowed(backend);
    const ttsConfig = tts.resolveConfig(message.tts);
    const sttConfig = stt.resolveConfig(message.stt);
    await chat.assertClientBaseUrlAllowed(backend);
    const registration = await chat.resolveRegistration(backend, this.lifetime.signal);
    if (this.state !== 'awaiting_configure') return;
    // The id the client sees (its own label, or a generated one) and the conversation id the chat
    // backend sees: the token-bound id, else one unique to this connection, so copying or guessing a
    // session_id can never join someone else's conversation (README "Private conversations").
    const conversationId = binding.sessionId ?? randomUUID();
    const sessionId = binding.sessionId ?? message.session_id ?? conversationId;
    this.ready = { sessionId, conversationId, registration, tts: ttsConfig, stt: sttConfig };
    this.state = 'ready';
    const principal = this.deps.principal ? `, sub: ${JSON.stringify(this.deps.principal)}` : '';
    this.deps.logger.log(`session ${sessionId} configured (backend: ${registration.source}, tts: ${ttsConfig.provider}, stt: ${sttConfig?.provider ?? 'none'}${principal})`);
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
        this.emit({ type: 'transcript.committed', text, ...(words ? { words } : {}) });
        if (!text) return;
        try {
          this.enqueueTurn(this.ready, text);
        } catch (error) {
          this.reportError(error);
        }
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
    this.spendAudioBudget(audio.length / bytesPerSecond(config.audio_format, config.sample_rate));
    stream.push(audio, previousText);
  }

  /** Token bucket in seconds of audio: AUDIO_BURST_SECONDS deep, refilled at AUDIO_MAX_SPEED x real time. */
  private spendAudioBudget(seconds: number): void {
    const now = performance.now();
    const budget = this.audioBudget ?? { seconds: AUDIO_BURST_SECONDS, at: now };
    budget.seconds = Math.min(AUDIO_BURST_SECONDS, budget.seconds + ((now - budget.at) / 1000) * AUDIO_MAX_SPEED);
    budget.at = now;
    this.audioBudget = budget;
    if (budget.seconds < seconds) {
      throw new VoiceError('rate_limited', `Audio is arriving more than ${AUDIO_MAX_SPEED}x faster than real time (after a ${AUDIO_BURST_SECONDS} s burst); chunk dropped. Send audio as it is captured.`);
    }
    budget.seconds -= seconds;
    // Backpressure first: with under 2 s of budget left, stop reading until 4 s are back, so a client
    // streaming too fast is slowed by TCP and only frames already read can be dropped.
    if (budget.seconds < 2 && this.deps.flow && !this.audioResume) {
      this.pauseInput('audio');
      this.audioResume = setTimeout(() => {
        this.audioResume = undefined;
        this.resumeInput('audio');
      }, ((4 - budget.seconds) / AUDIO_MAX_SPEED) * 1000);
      this.audioResume.unref();
    }
  }

  private enqueueTurn(ready: ReadySession, text: string): void {
    if (this.pendingTurns.length >= this.deps.maxQueuedTurns) {
      throw new VoiceError('turn_queue_full', `${this.pendingTurns.length} turns are already waiting; this one was dropped: "${text.slice(0, 80)}"`);
    }
    this.pendingTurns.push({ id: ++this.turnCount, text, controller: new AbortController() });
    if (!this.activeTurn) void this.runPendingTurns(ready);
  }

  private async runPendingTurns(ready: ReadySession): Promise<void> {
    for (let turn = this.pendingTurns.shift(); turn && this.state === 'ready'; turn = this.pendingTurns.shift()) {
      this.activeTurn = turn;
      try {
        await this.runTurn(ready, turn);
      } catch (error) {
        if (!turn.controller.signal.aborted) this.reportError(error);
      } finally {
        this.activeTurn = undefined;
      }
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async runTurn(ready: ReadySession, turn: Turn): Promise<void> {
    const { signal } = turn.controller;
    const started = performance.now();
    this.emit({ type: 'assistant.started', text: turn.text, turn_id: turn.id });
    const reply = await this.deps.chat.chat(ready.registration, ready.conversationId, turn.text, signal);
    signal.throwIfAborted();
    const backendMs = performance.now() - started;
    this.emit({ type: 'assistant.message', text: reply.text, metadata: reply.metadata, turn_id: turn.id });
    const cut = truncatedReply(reply);
    if (cut) this.reportError(new VoiceError('reply_too_large', `The chat backend's reply had ${cut.length} characters; the first ${cut.limit} (MAX_REPLY_CHARS) were delivered.`));
    if (!/[\p{L}\p{N}]/u.test(reply.text)) return;
    await this.speak(ready, turn, reply.text);
    this.deps.logger.debug(`session ${ready.sessionId} turn ${turn.id}: backend ${Math.round(backendMs)} ms, total ${Math.round(performance.now() - started)} ms`);
  }

  private async speak(ready: ReadySession, turn: Turn, text: string): Promise<void> {
    const { signal } = turn.controller;
    const audio = this.deps.tts.synthesize(text, ready.tts, signal);
    const format = { content_type: audio.format.contentType, output_format: audio.format.name };
    if (!audio.streaming) {
      const pieces: Buffer[] = [];
      try {
        for await (const piece of audio.chunks) pieces.push(piece);
      } catch (error) {
        throw asTtsFailure(error, signal);
      }
      this.emit({ type: 'assistant.audio', audio: Buffer.concat(pieces).toString('base64'), ...format });
      return;
    }
    this.emit({ type: 'assistant.audio.start', turn_id: turn.id, ...format });
    let count = 0;
    try {
      for await (const chunk of audio.chunks) {
        await this.deps.writer.sendPaced({ type: 'assistant.audio.chunk', turn_id: turn.id, audio: chunk.toString('base64'), ...format, chunk_index: ++count });
      }
    } catch (error) {
      throw asTtsFailure(error, signal);
    } finally {
      if (this.state !== 'closed') this.emit({ type: 'assistant.audio.end', turn_id: turn.id, ...format, chunk_count: count });
    }
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

function bytesPerSecond(audioFormat: string, sampleRate: number): number {
  return audioFormat.startsWith('ulaw') ? sampleRate : sampleRate * 2;
}

/** The client's backend section under a token's registration_id: only that id (or nothing) may be asked for. */
function bindBackend(backend: BackendConfigDto | undefined, registrationId: string | undefined): BackendConfigDto | undefined {
  if (!registrationId) return backend;
  const fields = Object.entries(backend ?? {}).filter(([, value]) => value !== undefined);
  if (fields.some(([key, value]) => key !== 'registration_id' || value !== registrationId)) {
    throw new VoiceError(
      'session_binding_mismatch',
      'Your access token binds this session to a chat backend registration; send no backend section (or only the bound backend.registration_id).',
    );
  }
  return Object.assign(new BackendConfigDto(), { registration_id: registrationId });
}

function asTtsFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return error;
  if (isVoiceError(error) && error.code !== 'internal_error') return error;
  return new VoiceError('tts_failed', 'Speech synthesis failed for this reply; its text was delivered in assistant.message.', { cause: error });
}
