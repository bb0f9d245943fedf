import { randomUUID } from 'node:crypto';
import { decodeBase64Strict } from '@app/audio';
import {
  isVoiceError,
  parseAudioFormat,
  VoiceError,
  type AudioAppendMessage,
  type ServerEvent,
  type SessionConfigureMessage,
  type TextPromptMessage,
  type TranscriptWord,
} from '@app/protocol';
import type { BackendChatService, SessionRegistration } from '../../backend-chat/backend-chat.service.js';
import { SerialQueue } from '../../common/serial-queue.js';
import type { AppLogger } from '../../logging/app-logger.js';
import type { MetricsService, TurnOutcome } from '../../metrics/metrics.service.js';
import { AudioClock, TurnTimeline } from '../../metrics/turn-timeline.js';
import { NOOP_SPAN, type TraceSpan, type TracingService } from '../../tracing/tracing.service.js';
import type { EffectiveSttConfig, SttStream, SttStreamListener } from '../../stt/stt-provider.js';
import type { SttService } from '../../stt/stt.service.js';
import type { EffectiveTtsConfig } from '../../tts/tts-provider.js';
import type { TtsService } from '../../tts/tts.service.js';
import type { SocketWriter } from './socket-writer.js';

export interface VoiceSessionDeps {
  writer: SocketWriter;
  chat: BackendChatService;
  tts: TtsService;
  stt: SttService;
  /** Replaced by a child carrying `session_id` once the session is configured. */
  logger: AppLogger;
  maxQueuedTurns: number;
  metrics: MetricsService;
  tracing: TracingService;
}

type SessionState = 'awaiting_configure' | 'ready' | 'closed';

interface Turn {
  id: number;
  text: string;
  controller: AbortController;
  timeline: TurnTimeline;
  span: TraceSpan;
}

interface ReadySession {
  sessionId: string;
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
  /** Arrival times of inbound audio, to time the end of the user's speech. */
  private audioClock?: AudioClock;
  private endSessionMetric?: () => void;
  private sessionSpan: TraceSpan = NOOP_SPAN;

  constructor(private readonly deps: VoiceSessionDeps) {}

  get sessionId(): string | undefined {
    return this.ready?.sessionId;
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
    this.endSessionMetric?.();
    this.sessionSpan.end();
    this.lifetime.abort(new VoiceError('internal_error', 'session closed'));
    for (const turn of [...this.pendingTurns.splice(0), ...(this.activeTurn ? [this.activeTurn] : [])]) turn.controller.abort();
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
    this.deps.logger = this.deps.logger.child({ session_id: sessionId });
    this.sessionSpan = this.deps.tracing.startSession({ 'voice.session_id': sessionId, 'voice.stt_provider': sttConfig?.provider ?? 'none', 'voice.tts_provider': ttsConfig.provider });
    this.state = 'ready';
    this.endSessionMetric = this.deps.metrics.sessionOpened(sttConfig?.provider, ttsConfig.provider);
    this.deps.logger.log(`session ${sessionId} configured (backend: ${registration.source}, tts: ${ttsConfig.provider}, stt: ${sttConfig?.provider ?? 'none'})`);
    this.emit({ type: 'session.configured', session_id: sessionId });
    if (sttConfig) this.audioClock = new AudioClock(bytesPerSecond(sttConfig.audio_format));
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
          this.enqueueTurn(this.ready, text, { speechEndAt: this.speechEndAt(trigger, words), committedAt: performance.now() });
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
    this.audioClock?.push(audio.length);
    stream.push(audio, previousText);
  }

  /** End of the user's speech: the last word's end when words are timed, else the audio before the VAD's silence, else the last audio. */
  private speechEndAt(trigger: 'vad' | 'manual', words?: TranscriptWord[]): number | undefined {
    const clock = this.audioClock;
    if (!clock) return undefined;
    const lastWord = words?.at(-1);
    if (lastWord) return clock.arrivalOf(lastWord.end);
    const silence = trigger === 'vad' ? (this.ready?.stt?.vad_silence_threshold_secs ?? 0) : 0;
    return clock.arrivalOf(Math.max(0, clock.receivedSecs - silence));
  }

  private enqueueTurn(ready: ReadySession, text: string, spoken?: { speechEndAt?: number; committedAt: number }): void {
    if (this.pendingTurns.length >= this.deps.maxQueuedTurns) {
      throw new VoiceError('turn_queue_full', `${this.pendingTurns.length} turns are already waiting; this one was dropped: "${text.slice(0, 80)}"`);
    }
    const timeline = new TurnTimeline(spoken?.speechEndAt ?? spoken?.committedAt ?? performance.now(), spoken?.speechEndAt === undefined ? undefined : spoken.committedAt);
    this.pendingTurns.push({ id: ++this.turnCount, text, controller: new AbortController(), timeline, span: NOOP_SPAN });
    if (!this.activeTurn) void this.runPendingTurns(ready);
  }

  private async runPendingTurns(ready: ReadySession): Promise<void> {
    for (let turn = this.pendingTurns.shift(); turn && this.state === 'ready'; turn = this.pendingTurns.shift()) {
      this.activeTurn = turn;
      turn.span = this.startTurnSpan(turn);
      let outcome: TurnOutcome = 'completed';
      try {
        await this.runTurn(ready, turn);
      } catch (error) {
        outcome = turn.controller.signal.aborted ? 'interrupted' : 'failed';
        if (outcome === 'failed') turn.span.fail(error);
        if (!turn.controller.signal.aborted) this.reportError(error, this.deps.logger.child({ turn_id: turn.id }));
      } finally {
        this.activeTurn = undefined;
        this.finishTurn(turn, outcome);
      }
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async runTurn(ready: ReadySession, turn: Turn): Promise<void> {
    const { signal } = turn.controller;
    const started = performance.now();
    this.emit({ type: 'assistant.started', text: turn.text, turn_id: turn.id });
    turn.timeline.mark('backend_request');
    const reply = await turn.span.child('backend.chat').track(() => this.deps.chat.chat(ready.registration, ready.sessionId, turn.text, signal));
    turn.timeline.mark('backend_first_byte');
    turn.timeline.mark('backend_complete');
    signal.throwIfAborted();
    const backendMs = performance.now() - started;
    this.emit({ type: 'assistant.message', text: reply.text, metadata: reply.metadata, turn_id: turn.id });
    if (!/[\p{L}\p{N}]/u.test(reply.text)) return;
    await turn.span.child('tts.synthesis').track(() => this.speak(ready, turn, reply.text));
    this.deps.logger.child({ turn_id: turn.id }).debug(`session ${ready.sessionId} turn ${turn.id}: backend ${Math.round(backendMs)} ms, total ${Math.round(performance.now() - started)} ms`);
  }

  private async speak(ready: ReadySession, turn: Turn, text: string): Promise<void> {
    const { signal } = turn.controller;
    turn.timeline.mark('tts_request');
    const audio = this.deps.tts.synthesize(text, ready.tts, signal);
    const format = { content_type: audio.format.contentType, output_format: audio.format.name };
    if (!audio.streaming) {
      const pieces: Buffer[] = [];
      try {
        for await (const piece of audio.chunks) pieces.push(piece);
      } catch (error) {
        throw asTtsFailure(error, signal);
      }
      turn.timeline.mark('first_audio');
      this.emit({ type: 'assistant.audio', audio: Buffer.concat(pieces).toString('base64'), ...format });
      return;
    }
    this.emit({ type: 'assistant.audio.start', turn_id: turn.id, ...format });
    let count = 0;
    try {
      for await (const chunk of audio.chunks) {
        turn.timeline.mark('first_audio');
        await this.deps.writer.sendPaced({ type: 'assistant.audio.chunk', turn_id: turn.id, audio: chunk.toString('base64'), ...format, chunk_index: ++count });
      }
    } catch (error) {
      throw asTtsFailure(error, signal);
    } finally {
      if (this.state !== 'closed') this.emit({ type: 'assistant.audio.end', turn_id: turn.id, ...format, chunk_count: count });
    }
  }

  /** The turn's span, from the end of the user's speech; a spoken turn's recognition tail is its first child. */
  private startTurnSpan(turn: Turn): TraceSpan {
    const { userEndAt, committedAt } = turn.timeline;
    const span = this.sessionSpan.child('voice.turn', { 'voice.turn_id': turn.id }, userEndAt);
    if (committedAt !== undefined) span.child('stt.recognition', {}, userEndAt).end(committedAt);
    return span;
  }

  /** Records the turn's timings and, while the client is there, sends them as `turn.metrics`. */
  private finishTurn(turn: Turn, outcome: TurnOutcome): void {
    turn.timeline.mark('end');
    const stages = turn.timeline.stagesMs();
    this.deps.metrics.turnEnded(outcome, stages);
    this.deps.logger.child({ turn_id: turn.id }).debug({ msg: `turn ${turn.id} ${outcome}`, outcome, ...stages });
    turn.span.set({ 'voice.turn_outcome': outcome, ...Object.fromEntries(Object.entries(stages).map(([stage, ms]) => [`voice.${stage}_ms`, ms])) });
    turn.span.end();
    if (this.state !== 'closed') this.emit({ type: 'turn.metrics', ...turn.timeline.eventFields(turn.id, outcome) });
  }

  private emit(event: ServerEvent): void {
    this.deps.writer.send(event);
  }

  private reportError(error: unknown, logger = this.deps.logger): void {
    if (this.state === 'closed') return;
    this.deps.metrics.errorSent(isVoiceError(error) ? error.code : 'internal_error');
    if (isVoiceError(error)) {
      if (error.code === 'internal_error') logger.error(error.stack ?? error.message);
      this.emit({ type: 'error', code: error.code, message: error.message });
      return;
    }
    logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    this.emit({ type: 'error', code: 'internal_error', message: 'Unexpected server error; the session is still usable.' });
  }
}

function asTtsFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return error;
  if (isVoiceError(error) && error.code !== 'internal_error') return error;
  return new VoiceError('tts_failed', 'Speech synthesis failed for this reply; its text was delivered in assistant.message.', { cause: error });
}

function bytesPerSecond(audioFormat: string): number {
  const format = parseAudioFormat(audioFormat);
  return format ? format.sampleRate * (format.codec === 'pcm' ? 2 : 1) : 32_000;
}
