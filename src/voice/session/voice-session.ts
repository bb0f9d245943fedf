import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { decodeBase64Strict } from '@app/audio';
import type { InterruptedTurn } from '@app/chat';
import {
  isVoiceError,
  VoiceError,
  type AssistantAudioPlayedMessage,
  type AudioAppendMessage,
  type InterruptionReason,
  type ServerEvent,
  type SessionConfigureMessage,
  type TextPromptMessage,
} from '@app/protocol';
import type { BackendChatService, SessionRegistration } from '../../backend-chat/backend-chat.service.js';
import { SerialQueue } from '../../common/serial-queue.js';
import type { EffectiveSttConfig, SttStream, SttStreamListener } from '../../stt/stt-provider.js';
import type { SttService } from '../../stt/stt.service.js';
import type { EffectiveTtsConfig, TextMark } from '../../tts/tts-provider.js';
import type { TtsService } from '../../tts/tts.service.js';
import type { SocketWriter } from './socket-writer.js';
import { heardText, isEcho, wordsBetween } from './heard-text.js';
import { isIgnoredPhrase, mayBecomeIgnoredPhrase, resolveInterruption, wordCount, type EffectiveInterruption } from './interruption.js';

export interface VoiceSessionDeps {
  writer: SocketWriter;
  chat: BackendChatService;
  tts: TtsService;
  stt: SttService;
  logger: Logger;
  maxQueuedTurns: number;
}

type SessionState = 'awaiting_configure' | 'ready' | 'closed';

interface Turn {
  id: number;
  text: string;
  controller: AbortController;
  /** thinking: before its first audio; speaking: audio sent or playing. */
  phase?: 'thinking' | 'speaking';
  reply?: string;
  marks?: TextMark[];
  /** Milliseconds of audio sent, and when (performance.now) the first chunk went out. */
  audioMs: number;
  firstChunkAt?: number;
  /** Latest `assistant.audio.played` report. */
  reportedMs?: number;
  /** Set once the turn was interrupted or cancelled: nothing more of it is sent. */
  stopped?: boolean;
  /** Resolves the wait for the end of playback. */
  playbackDone?: () => void;
}

interface ReadySession {
  sessionId: string;
  registration: SessionRegistration;
  tts: EffectiveTtsConfig;
  stt?: EffectiveSttConfig;
  interruption: EffectiveInterruption;
}

/** The user's current utterance, from the STT's speech start to its commit. */
interface UserSpeech {
  startedAt: number;
  speechMs: number;
  partial: string;
  /** The turn that was active (or had just finished playing) when the speech began: echo is judged against it. */
  over?: Turn;
  /** This speech interrupted a turn already. */
  interrupted: boolean;
}

/** Echo of a turn's audio can reach the microphone this long after it was played. */
const ECHO_DELAY_MS = 1500;
/** Playback reports may stop at a little less than the audio sent. */
const PLAYED_TOLERANCE_MS = 60;
/** Without reports reaching the end, a turn counts as played this long after the estimate says so. */
const PLAYBACK_GRACE_MS = 2000;

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
  private userSpeech?: UserSpeech;
  /** The turn whose audio finished playing last, and when (for echo arriving late). */
  private lastPlayed?: { turn: Turn; at: number };
  /** The text of a turn dropped while thinking, to be answered with the user's next words. */
  private carriedText?: string;
  /** Told to the backend on the next chat call. */
  private pendingInterrupted?: InterruptedTurn;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly lifetime = new AbortController();

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

  audioPlayed(message: AssistantAudioPlayedMessage): void {
    this.inbound.run(() => {
      this.requireReady();
      const turn = this.activeTurn;
      if (!turn || turn.id !== message.turn_id || turn.stopped) return;
      turn.reportedMs = Math.max(turn.reportedMs ?? 0, message.played_ms);
      this.checkPlayback(turn);
    });
  }

  cancel(): void {
    this.inbound.run(() => {
      this.requireReady();
      const turn = this.activeTurn;
      if (turn && !turn.stopped) this.interrupt(turn, 'client_cancel');
    });
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
    this.ready = { sessionId, registration, tts: ttsConfig, stt: sttConfig, interruption: resolveInterruption(message.interruption) };
    this.state = 'ready';
    this.deps.logger.log(`session ${sessionId} configured (backend: ${registration.source}, tts: ${ttsConfig.provider}, stt: ${sttConfig?.provider ?? 'none'})`);
    this.emit({ type: 'session.configured', session_id: sessionId });
    if (sttConfig) this.stt = stt.open(sessionId, sttConfig, this.sttListener());
  }

  /** Recognition results become transcript events; a non-empty commit starts an assistant turn. */
  private sttListener(): SttStreamListener {
    return {
      started: (info) => this.emit({ type: 'stt.session_started', session_id: info.session_id, config: info.config }),
      partial: (text) => {
        this.emit({ type: 'transcript.partial', text });
        const speech = this.userSpeech ?? this.startUserSpeech();
        speech.partial = text;
        if (this.ready) this.considerInterrupting(this.ready, speech);
      },
      speechStarted: () => {
        const speech = this.startUserSpeech();
        if (this.ready) this.considerInterrupting(this.ready, speech);
      },
      speechProgress: (ms) => {
        const speech = this.userSpeech;
        if (!speech || !this.ready) return;
        speech.speechMs = Math.max(speech.speechMs, ms);
        this.considerInterrupting(this.ready, speech);
      },
      committed: (text, trigger, words) => {
        const speech = this.userSpeech;
        this.userSpeech = undefined;
        if (this.state !== 'ready' || !this.ready) return;
        const ready = this.ready;
        if (speech && text) {
          speech.partial = text;
          this.considerInterrupting(ready, speech);
        }
        const heldBack = text !== '' && this.isHeldBack(ready, speech, text);
        const carried = this.carriedText;
        this.carriedText = undefined;
        // VAD commits of noise carry no words: no event, no turn. A client's commit is always answered.
        if (!text && trigger === 'vad') {
          if (carried) this.startTurn(ready, carried);
          return;
        }
        this.emit({ type: 'transcript.committed', text, ...(words ? { words } : {}) });
        if (heldBack || !text) {
          if (carried) this.startTurn(ready, carried);
          return;
        }
        this.startTurn(ready, carried ? `${carried} ${text}` : text);
      },
      failed: (error) => {
        this.stt?.close();
        this.stt = undefined;
        this.reportError(error);
      },
    };
  }

  /** A new utterance (ElevenLabs: its first partial); tells the client at once. */
  private startUserSpeech(): UserSpeech {
    const now = performance.now();
    const active = this.activeTurn && !this.activeTurn.stopped && this.activeTurn.phase === 'speaking' ? this.activeTurn : undefined;
    const recent = this.lastPlayed && now - this.lastPlayed.at <= ECHO_DELAY_MS ? this.lastPlayed.turn : undefined;
    const speech: UserSpeech = { startedAt: now, speechMs: 0, partial: '', over: active ?? recent, interrupted: false };
    this.userSpeech = speech;
    if (this.state === 'ready') this.emit({ type: 'user.speech_started' });
    return speech;
  }

  /**
   * Barge-in: interrupts the active turn once the user's speech passes the guards. While the turn's
   * audio plays, speech must also hold a recognised word that is neither (the start of) a backchannel
   * phrase nor the assistant's own words coming back through the microphone (echo).
   */
  private considerInterrupting(ready: ReadySession, speech: UserSpeech): void {
    const rules = ready.interruption;
    const turn = this.activeTurn;
    if (!rules.enabled || speech.interrupted || !turn || turn.stopped) return;
    if (ready.stt?.provider === 'local' && speech.speechMs < rules.min_speech_ms) return;
    const speaking = turn.phase === 'speaking';
    if (wordCount(speech.partial) < Math.max(rules.min_words, speaking ? 1 : 0)) return;
    if (speaking && mayBecomeIgnoredPhrase(speech.partial, rules.ignore_phrases)) return;
    if (speaking && this.isEchoOf(turn, speech, speech.partial)) return;
    speech.interrupted = true;
    this.interrupt(turn, 'user_speech');
  }

  /** A committed utterance that starts no turn: a backchannel while the assistant speaks, or its echo. */
  private isHeldBack(ready: ReadySession, speech: UserSpeech | undefined, text: string): boolean {
    if (!ready.interruption.enabled || speech?.interrupted) return false;
    const turn = this.activeTurn;
    if (turn && !turn.stopped && turn.phase === 'speaking' && isIgnoredPhrase(text, ready.interruption.ignore_phrases)) return true;
    const over = speech?.over;
    return over !== undefined && !over.stopped && this.isEchoOf(over, speech!, text);
  }

  /** The words match what the turn's audio was saying from shortly before the speech began until now. */
  private isEchoOf(turn: Turn, speech: UserSpeech, text: string): boolean {
    if (!turn.marks || turn.firstChunkAt === undefined) return false;
    const from = Math.min(this.estimatedPlayedMs(turn, speech.startedAt), turn.reportedMs ?? Infinity) - ECHO_DELAY_MS;
    const to = Math.max(this.estimatedPlayedMs(turn, performance.now()), turn.reportedMs ?? 0) + 300;
    return isEcho(text, wordsBetween(turn.marks, from, to));
  }

  /** Stops a turn at once: no more of its events, backend call and synthesis aborted. */
  private interrupt(turn: Turn, reason: InterruptionReason): void {
    turn.stopped = true;
    const played = Math.round(this.playedMs(turn));
    const heard = turn.marks ? heardText(turn.marks, played) : '';
    turn.controller.abort();
    this.emit({ type: 'assistant.interrupted', turn_id: turn.id, reason, played_ms: played, heard_text: heard });
    // Speech while thinking: the user's next words are answered together with this turn's.
    if (turn.phase !== 'speaking' && reason === 'user_speech') this.carriedText = this.carriedText ? `${this.carriedText} ${turn.text}` : turn.text;
    this.pendingInterrupted = { turn_id: turn.id, message: turn.text, reply: turn.reply ?? '', heard };
    turn.playbackDone?.();
  }

  /** What the client played of the turn: its latest report, else the real-time estimate. */
  private playedMs(turn: Turn): number {
    if (turn.firstChunkAt === undefined) return 0;
    return Math.min(turn.reportedMs ?? this.estimatedPlayedMs(turn, performance.now()), turn.audioMs);
  }

  private estimatedPlayedMs(turn: Turn, at: number): number {
    return turn.firstChunkAt === undefined ? 0 : Math.min(Math.max(at - turn.firstChunkAt, 0), turn.audioMs);
  }

  /** Resolves once the turn's audio has played to its end on the client (or the turn stopped). */
  private waitForPlayback(turn: Turn): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        turn.playbackDone = undefined;
        turn.controller.signal.removeEventListener('abort', done);
        if (!turn.stopped) this.lastPlayed = { turn, at: performance.now() };
        resolve();
      };
      const check = () => {
        const endAt = turn.firstChunkAt! + turn.audioMs + (turn.reportedMs !== undefined ? PLAYBACK_GRACE_MS : 0);
        if (this.checkPlayback(turn) || performance.now() >= endAt) return done();
        timer = setTimeout(check, Math.max(endAt - performance.now(), 10));
      };
      turn.playbackDone = done;
      turn.controller.signal.addEventListener('abort', done, { once: true });
      check();
    });
  }

  /** True (and the playback wait ends) once the client reported the end of the turn's audio. */
  private checkPlayback(turn: Turn): boolean {
    const finished = turn.reportedMs !== undefined && turn.reportedMs >= turn.audioMs - PLAYED_TOLERANCE_MS;
    if (finished) turn.playbackDone?.();
    return finished;
  }

  private startTurn(ready: ReadySession, text: string): void {
    try {
      this.enqueueTurn(ready, text);
    } catch (error) {
      this.reportError(error);
    }
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
    if (this.pendingTurns.length >= this.deps.maxQueuedTurns) {
      throw new VoiceError('turn_queue_full', `${this.pendingTurns.length} turns are already waiting; this one was dropped: "${text.slice(0, 80)}"`);
    }
    this.pendingTurns.push({ id: ++this.turnCount, text, controller: new AbortController(), audioMs: 0 });
    if (!this.activeTurn) void this.runPendingTurns(ready);
  }

  private async runPendingTurns(ready: ReadySession): Promise<void> {
    for (let turn = this.pendingTurns.shift(); turn && this.state === 'ready'; turn = this.pendingTurns.shift()) {
      this.activeTurn = turn;
      try {
        await this.runTurn(ready, turn);
        // With barge-in the turn stays active (interruptible) until its audio has played on the client.
        if (ready.interruption.enabled && turn.firstChunkAt !== undefined && !turn.stopped) await this.waitForPlayback(turn);
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
    turn.phase = 'thinking';
    this.emit({ type: 'assistant.started', text: turn.text, turn_id: turn.id });
    const interrupted = this.pendingInterrupted;
    this.pendingInterrupted = undefined;
    const reply = await this.deps.chat.chat(ready.registration, ready.sessionId, turn.text, signal, interrupted);
    signal.throwIfAborted();
    turn.reply = reply.text;
    const backendMs = performance.now() - started;
    this.emit({ type: 'assistant.message', text: reply.text, metadata: reply.metadata, turn_id: turn.id });
    if (!/[\p{L}\p{N}]/u.test(reply.text)) return;
    await this.speak(ready, turn, reply.text);
    this.deps.logger.debug(`session ${ready.sessionId} turn ${turn.id}: backend ${Math.round(backendMs)} ms, total ${Math.round(performance.now() - started)} ms`);
  }

  private async speak(ready: ReadySession, turn: Turn, text: string): Promise<void> {
    const { signal } = turn.controller;
    const audio = this.deps.tts.synthesize(text, ready.tts, signal);
    turn.marks = audio.marks;
    const format = { content_type: audio.format.contentType, output_format: audio.format.name };
    if (!audio.streaming) {
      const pieces: Buffer[] = [];
      try {
        for await (const piece of audio.chunks) pieces.push(piece);
      } catch (error) {
        throw asTtsFailure(error, signal);
      }
      if (turn.stopped) return;
      // Compressed audio: its length is taken from the text's timing.
      turn.audioMs = audio.marks.at(-1)?.endMs ?? 0;
      turn.firstChunkAt = performance.now();
      turn.phase = 'speaking';
      this.emit({ type: 'assistant.audio', audio: Buffer.concat(pieces).toString('base64'), ...format });
      return;
    }
    const bytesPerMs = (audio.format.sampleRate * (audio.format.codec === 'pcm' ? 2 : 1)) / 1000;
    this.emit({ type: 'assistant.audio.start', turn_id: turn.id, ...format });
    let count = 0;
    try {
      for await (const chunk of audio.chunks) {
        // An interrupted turn sends nothing more, not even its audio.end.
        if (turn.stopped) break;
        turn.firstChunkAt ??= performance.now();
        turn.phase = 'speaking';
        turn.audioMs += chunk.length / bytesPerMs;
        await this.deps.writer.sendPaced({ type: 'assistant.audio.chunk', turn_id: turn.id, audio: chunk.toString('base64'), ...format, chunk_index: ++count });
      }
    } catch (error) {
      throw asTtsFailure(error, signal);
    } finally {
      if (this.state !== 'closed' && !turn.stopped) this.emit({ type: 'assistant.audio.end', turn_id: turn.id, ...format, chunk_count: count });
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

function asTtsFailure(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return error;
  if (isVoiceError(error) && error.code !== 'internal_error') return error;
  return new VoiceError('tts_failed', 'Speech synthesis failed for this reply; its text was delivered in assistant.message.', { cause: error });
}
