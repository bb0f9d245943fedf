import { isReplyStream, type ChatReplyStream, type InterruptedTurn } from '@app/chat';
import { SentenceStream } from '@app/engines';
import type { AudioFormat, ServerEvent } from '@app/protocol';
import { isVoiceError, VoiceError } from '@app/protocol';
import type { BackendChatService, SessionRegistration } from '../../backend-chat/backend-chat.service.js';
import { audioBytesPerSecond, type EffectiveTtsConfig, type TextMark, type TtsText } from '../../tts/tts-provider.js';
import type { TtsService } from '../../tts/tts.service.js';
import { TurnTimeline } from '../../metrics/turn-timeline.js';
import { NOOP_SPAN, type TraceSpan } from '../../tracing/tracing.service.js';
import type { EventSink } from './socket-writer.js';

/**
 * Where a turn is:
 * - `queued`: waiting behind another turn;
 * - `thinking`: the chat backend call is in flight, no audio sent yet;
 * - `speaking`: reply audio is being synthesised and sent;
 * - `played`: completed, all audio sent (barge-in may later wait for the client's playback report);
 * - `interrupted`: cancelled (see `cancelReason`);
 * - `failed`: ended by an error (see `error`), already reported to the client.
 */
export type TurnPhase = 'queued' | 'thinking' | 'speaking' | 'played' | 'interrupted' | 'failed';

export const FINAL_TURN_PHASES: readonly TurnPhase[] = ['played', 'interrupted', 'failed'];

/** Why a turn was cancelled. */
export type TurnCancelReason = 'session_closed' | 'user_speech' | 'client_cancel' | 'shutdown';

export type TurnPhaseListener = (phase: TurnPhase, turn: Turn) => void;

/** The abort reason of a cancelled turn's signal. */
export class TurnCancelledError extends Error {
  constructor(readonly reason: TurnCancelReason) {
    super(`turn cancelled: ${reason}`);
    this.name = 'TurnCancelledError';
  }
}

/** What a turn needs from its session. */
export interface TurnContext {
  /** The session id the client sees (for log lines). */
  sessionId: string;
  /** The conversation id the chat backend sees (README "Private conversations"). */
  conversationId: string;
  registration: SessionRegistration;
  ttsConfig: EffectiveTtsConfig;
  chat: BackendChatService;
  tts: TtsService;
  writer: EventSink;
  logger: { debug(message: string): void };
  /** Longest reply text taken from the chat backend (MAX_REPLY_CHARS). */
  maxReplyChars: number;
  /** What the user heard of the turn interrupted before this one (sent to the chat backend). */
  interrupted?: InterruptedTurn;
}

/**
 * One assistant turn: the user's text, the backend call, synthesis and sending of the reply, all
 * under one AbortController (`signal` reaches the backend call, TTS and the socket writer's pacing).
 * Its `phase` is observable (`onPhase`), and it keeps what barge-in needs: audio sent so far, when
 * the first chunk left, and `marks` placing the reply text on the turn's audio timeline.
 */
export class Turn {
  private currentPhase: TurnPhase = 'queued';
  private readonly controller = new AbortController();
  private readonly listeners = new Set<TurnPhaseListener>();
  private format?: AudioFormat;
  /** Why the turn was cancelled, once it was. */
  cancelReason?: TurnCancelReason;
  /** The error that failed the turn (phase `failed`). */
  error?: unknown;
  /** Reply text received from the backend so far (the whole reply once complete). */
  replyText = '';
  /** Bytes of reply audio handed to the socket writer. */
  audioBytesSent = 0;
  /** `performance.now()` when the first audio of the turn was sent. */
  firstAudioSentAt?: number;
  /** The reply text on the audio timeline (ms from the turn's first audio byte), in audio order. */
  readonly marks: TextMark[] = [];
  /** Told of every reply audio chunk as it is sent (the session's echo detector). */
  onAudio?: (chunk: Buffer, format: AudioFormat) => void;
  /** Stage timings (turn.metrics, the stage histogram); the session sets where the turn began. */
  timeline = new TurnTimeline(performance.now());
  /** The turn's trace span (a no-op unless tracing is on); backend and synthesis are its children. */
  span: TraceSpan = NOOP_SPAN;

  constructor(
    readonly id: number,
    /** The user text this turn answers. */
    readonly text: string,
  ) {}

  get phase(): TurnPhase {
    return this.currentPhase;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get finished(): boolean {
    return FINAL_TURN_PHASES.includes(this.currentPhase);
  }

  /** Milliseconds of reply audio sent so far (from the audio format and byte count). */
  get audioSentMs(): number {
    return this.format ? (this.audioBytesSent * 1000) / audioBytesPerSecond(this.format) : 0;
  }

  /** Calls `listener` on every phase change from now on; returns an unsubscribe function. */
  onPhase(listener: TurnPhaseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stops the turn at once: aborts the backend call, synthesis and sending. Returns false when the
   * turn had already ended. No event is sent for it here (the caller decides what the client hears).
   */
  cancel(reason: TurnCancelReason): boolean {
    if (this.finished) return false;
    this.cancelReason = reason;
    this.setPhase('interrupted');
    this.controller.abort(new TurnCancelledError(reason));
    return true;
  }

  /**
   * Runs the turn to its end. Resolves when it played or was cancelled; rejects with the error that
   * failed it (the session reports it as an `error` event).
   */
  async run(context: TurnContext): Promise<void> {
    if (this.finished) return;
    this.setPhase('thinking');
    try {
      await this.converse(context);
      if (!this.finished) this.setPhase('played');
    } catch (error) {
      if (this.signal.aborted) return;
      this.error = error;
      this.setPhase('failed');
      throw error;
    }
  }

  private setPhase(phase: TurnPhase): void {
    if (this.currentPhase === phase) return;
    this.currentPhase = phase;
    for (const listener of [...this.listeners]) listener(phase, this);
  }

  private async converse(context: TurnContext): Promise<void> {
    const { signal } = this;
    const started = performance.now();
    this.emit(context, { type: 'assistant.started', text: this.text, turn_id: this.id });
    this.timeline.mark('backend_request');
    const reply = await this.span.child('backend.chat').track(() => context.chat.chat(context.registration, context.conversationId, this.text, signal, context.interrupted));
    signal.throwIfAborted();
    if (isReplyStream(reply)) return this.converseStreaming(context, reply, started);
    this.timeline.mark('backend_first_byte');
    this.timeline.mark('backend_complete');
    const backendMs = performance.now() - started;
    const tooLarge = reply.text.length > context.maxReplyChars;
    this.replyText = tooLarge ? reply.text.slice(0, context.maxReplyChars) : reply.text;
    this.emit(context, { type: 'assistant.message', text: this.replyText, metadata: reply.metadata, turn_id: this.id });
    if (/[\p{L}\p{N}]/u.test(this.replyText)) await this.span.child('tts.synthesis').track(() => this.speak(context, this.replyText));
    if (tooLarge) throw replyTooLarge(context.maxReplyChars);
    context.logger.debug(`session ${context.sessionId} turn ${this.id}: backend ${Math.round(backendMs)} ms, total ${Math.round(performance.now() - started)} ms`);
  }

  /**
   * A streamed reply: each piece goes out as `assistant.message.delta`; complete units go to speech as
   * they form (the first audio leaves once the first sentence, or long first clause, is known);
   * `assistant.message` follows the last piece. A failed stream (error event, malformed data, stall,
   * break, size limit) stops synthesis at once, then sends `assistant.message` with the text so far,
   * and the error (by rejecting).
   */
  private async converseStreaming(context: TurnContext, reply: ChatReplyStream, started: number): Promise<void> {
    const { signal } = this;
    const units = new UnitQueue();
    const splitter = new SentenceStream();
    const stopSpeech = new AbortController();
    let speaking: Promise<void> | undefined;
    let metadata: Record<string, unknown> = {};
    let failure: Error | undefined;
    let firstByteMs: number | undefined;
    const queueUnits = (texts: string[]) => {
      for (const text of texts) {
        units.push(text);
        if (!speaking) {
          speaking = this.span.child('tts.synthesis').track(() => this.speak(context, units, AbortSignal.any([signal, stopSpeech.signal])));
          speaking.catch(() => undefined); // awaited below
        }
      }
    };
    try {
      for await (const piece of reply.pieces) {
        signal.throwIfAborted();
        firstByteMs ??= performance.now() - started;
        this.timeline.mark('backend_first_byte');
        if (piece.metadata) metadata = { ...metadata, ...piece.metadata };
        if (!piece.delta) continue;
        const room = context.maxReplyChars - this.replyText.length;
        const delta = piece.delta.length > room ? piece.delta.slice(0, room) : piece.delta;
        if (delta) {
          this.replyText += delta;
          this.emit(context, { type: 'assistant.message.delta', turn_id: this.id, text: delta });
          queueUnits(splitter.push(delta));
        }
        if (delta.length < piece.delta.length) {
          throw replyTooLarge(context.maxReplyChars);
        }
      }
      this.timeline.mark('backend_complete');
      queueUnits(splitter.end());
    } catch (error) {
      if (signal.aborted) units.end(); // lets synthesis waiting for text see the end at once
      signal.throwIfAborted();
      failure = error instanceof Error ? error : new Error(String(error));
      stopSpeech.abort();
    }
    units.end();
    this.emit(context, { type: 'assistant.message', text: this.replyText, metadata, turn_id: this.id });
    try {
      await speaking;
    } catch (error) {
      if (!failure) throw error;
    }
    if (failure) throw failure;
    context.logger.debug(
      `session ${context.sessionId} turn ${this.id}: backend first byte ${Math.round(firstByteMs ?? 0)} ms, complete ${Math.round(performance.now() - started)} ms (streamed)`,
    );
  }

  private async speak(context: TurnContext, text: TtsText, signal: AbortSignal = this.signal): Promise<void> {
    this.timeline.mark('tts_request');
    const audio = context.tts.synthesize(text, context.ttsConfig, signal, (mark) => this.marks.push(mark));
    this.format = audio.format;
    const format = { content_type: audio.format.contentType, output_format: audio.format.name };
    if (!audio.streaming) {
      const pieces: Buffer[] = [];
      try {
        for await (const piece of audio.chunks) pieces.push(piece);
      } catch (error) {
        throw asTtsFailure(error, signal);
      }
      const blob = Buffer.concat(pieces);
      this.setPhase('speaking');
      this.timeline.mark('first_audio');
      this.emit(context, { type: 'assistant.audio', audio: blob.toString('base64'), ...format });
      this.onAudio?.(blob, audio.format);
      this.noteAudioSent(blob.length);
      return;
    }
    this.setPhase('speaking');
    this.emit(context, { type: 'assistant.audio.start', turn_id: this.id, ...format });
    let count = 0;
    try {
      for await (const chunk of audio.chunks) {
        // Cancelled (barge-in): not one more chunk, even one already synthesised.
        if (signal.aborted) break;
        // first_audio is marked before the send, not after the echo detector's work that follows it,
        // so the server's user_to_first_audio never exceeds what the client measures.
        this.timeline.mark('first_audio');
        const sending = context.writer.sendPaced({ type: 'assistant.audio.chunk', turn_id: this.id, audio: chunk.toString('base64'), ...format, chunk_index: ++count });
        this.onAudio?.(chunk, audio.format);
        this.noteAudioSent(chunk.length);
        await sending;
      }
    } catch (error) {
      throw asTtsFailure(error, signal);
    } finally {
      if (this.currentPhase !== 'interrupted') this.emit(context, { type: 'assistant.audio.end', turn_id: this.id, ...format, chunk_count: count });
    }
  }

  private noteAudioSent(bytes: number): void {
    this.timeline.mark('first_audio');
    this.firstAudioSentAt ??= performance.now();
    this.audioBytesSent += bytes;
  }

  private emit(context: TurnContext, event: ServerEvent): void {
    context.writer.send(event);
  }
}

function replyTooLarge(maxReplyChars: number): VoiceError {
  return new VoiceError('reply_too_large', `The chat backend's reply is longer than ${maxReplyChars} characters (MAX_REPLY_CHARS); the text up to the limit was delivered.`);
}

function asTtsFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return error;
  if (isVoiceError(error) && error.code !== 'internal_error') return error;
  return new VoiceError('tts_failed', 'Speech synthesis failed for this reply; its text was delivered in assistant.message.', { cause: error });
}

/** Units of a streamed reply on their way to synthesis, in order; ends when the reply does. */
class UnitQueue implements AsyncIterable<string> {
  private readonly items: string[] = [];
  private ended = false;
  private wake?: () => void;

  push(text: string): void {
    this.items.push(text);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const next = this.items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
