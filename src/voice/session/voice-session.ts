import { randomUUID } from 'node:crypto';
import { decodeBase64Strict } from '@app/audio';
import type { InterruptedTurn } from '@app/chat';
import {
  isVoiceError,
  VoiceError,
  BackendConfigDto,
  type AssistantAudioPlayedMessage,
  type AudioAppendMessage,
  type InterruptionReason,
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
import { Turn, type TurnPhaseListener } from './turn.js';
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
import { envelopeFormat, type EchoVerdict } from './echo-detector.js';
import { CLOSED_ECHO_CHANNEL, InlineEchoJudges, type EchoChannel, type EchoJudges, type EchoReport } from './echo-judges.js';
import { heardText, isEcho, isEchoSoFar, wordsBetween } from './heard-text.js';
import { isIgnoredPhrase, mayBecomeIgnoredPhrase, resolveInterruption, wordCount, type EffectiveInterruption } from './interruption.js';

export interface VoiceSessionDeps {
  writer: EventSink;
  chat: BackendChatService;
  tts: TtsService;
  stt: SttService;
  /** Replaced by a child carrying `session_id` once the session is configured. */
  logger: AppLogger;
  maxQueuedTurns: number;
  metrics: MetricsService;
  tracing: TracingService;
  /** MAX_REPLY_CHARS: longest reply text taken from a streaming backend. */
  maxReplyChars: number;
  /** Told of every turn's phase changes (metrics, barge-in). */
  onTurnPhase?: TurnPhaseListener;
  /** Token claims the session must honour. */
  binding?: SessionBinding;
  /** Throws `rate_limited` when the client's address has configured too often. */
  admitConfigure?: () => void;
  /** Pauses/resumes reading the transport while too many inbound frames wait (backpressure). */
  flow?: { pause(): void; resume(): void };
  /** Frames held behind a pending message (configure) before reading pauses; 4x that are dropped. */
  maxPendingInbound?: number;
  /**
   * STT_MAX_BACKLOG_SECONDS: audio that may wait for a recogniser that queues it (embedded STT); over
   * it reading pauses until half is recognised, and without flow control (or past twice it) chunks
   * are dropped with `rate_limited`.
   */
  maxSttBacklogSeconds?: number;
  /** Who the token says the user is, for log lines. */
  principal?: string;
  /** Where the echo detector runs (ECHO_WORKERS); default on this thread. */
  echo?: EchoJudges;
}

type SessionState = 'awaiting_configure' | 'ready' | 'closed';

interface ReadySession {
  /** The id the client sees in session.configured. */
  sessionId: string;
  /** The conversation id the chat backend sees. */
  conversationId: string;
  registration: SessionRegistration;
  tts: EffectiveTtsConfig;
  stt?: EffectiveSttConfig;
  interruption: EffectiveInterruption;
}

/** Barge-in state of the active turn: playback reports, and whether it was stopped. */
interface Playback {
  turn: Turn;
  /** Latest `assistant.audio.played` report. */
  reportedMs?: number;
  /** Interrupted or cancelled: nothing more of the turn is sent. */
  stopped: boolean;
  /** Ends the wait for the end of playback. */
  done?: () => void;
}

/** The user's current utterance, from the STT's speech start to its commit. */
interface UserSpeech {
  startedAt: number;
  speechMs: number;
  partial: string;
  /** The turn playing (or just played) when the speech began: echo is judged against it. */
  over?: Playback;
  /** This speech interrupted a turn already. */
  interrupted: boolean;
  /** The echo detector judged this speech the reply's echo at least once / the user at least once. */
  heardEcho?: boolean;
  heardUser?: boolean;
  /** Interrupted the playing reply on sound alone, before any words were known. */
  interruptedBeforeWords?: boolean;
}

/** Consecutive "user" verdicts of the echo detector before speech interrupts on sound alone. */
const USER_CHECKS = 3;
/** ElevenLabs STT: a partial may interrupt when the detector called the microphone the user (USER_CHECKS in a row) within this many 10 ms frames. */
const USER_HEARD_FRAMES = 150;
/** Echo of a turn's audio can reach the microphone this long after it was played. */
const ECHO_DELAY_MS = 1500;
/** A live partial's latest words are compared with what was played in this span. */
const ECHO_RECENT_MS = 3000;
/** Playback reports may stop at a little less than the audio sent. */
const PLAYED_TOLERANCE_MS = 60;
/** Without reports reaching the end, a turn counts as played this long after the estimate says so. */
const PLAYBACK_GRACE_MS = 2000;

/**
 * One WebSocket connection's conversation. Inbound messages run through a serial queue, so they
 * take effect in arrival order even when one (configure) waits on the network. Assistant turns run
 * one at a time on their own queue (see Turn: its own AbortController reaches the chat backend, TTS
 * and sending, and its phase is observable); closing the session cancels them all. Every failure
 * becomes an `error` event and the session carries on.
 */
export class VoiceSession {
  /**
   * After speech input stopped, audio chunks are dropped without an error each; while they keep
   * coming, one reminder with their count follows this often. (Before, every 100 ms chunk built a
   * VoiceError and an `error` event: ~400 k events in 20 s and 6.1 % of the CPU at 500 sessions in
   * the load harness.) A static so tests can shorten it.
   */
  static speechStoppedReminderMs = 60_000;
  private state: SessionState = 'awaiting_configure';
  private ready?: ReadySession;
  private stt?: SttStream;
  private readonly inbound = new SerialQueue((error) => this.reportError(error));
  private readonly pendingTurns: Turn[] = [];
  private runningTurn?: Turn;
  private turnCount = 0;
  /** Barge-in state of the active turn (its audio may still be playing after it was sent). */
  private playback?: Playback;
  private userSpeech?: UserSpeech;
  /** Reply audio against microphone audio: echo or the user talking (README "Barge-in"); opened with the first audio to judge. */
  private echoChannel?: EchoChannel;
  /**
   * The detector's latest verdict on the microphone, how many consecutive ones called it the user
   * (one alone may be a fluke), and the microphone frame count then; verdicts on audio before
   * `from` (an `addMic` sequence number) came from before a reset and are ignored.
   */
  private acoustic: { verdict: EchoVerdict; streak: number; frames: number; from: number; userAt?: number } = { verdict: 'unknown', streak: 0, frames: 0, from: 0 };
  /** Sequence number of the latest microphone chunk given to the detector. */
  private micSeq = 0;
  /** The turn whose audio finished playing last, and when (for echo arriving late). */
  private lastPlayed?: { playback: Playback; at: number };
  /** The text of a turn dropped while thinking, to be answered with the user's next words. */
  private carriedText?: string;
  /** Told to the backend on the next chat call. */
  private pendingInterrupted?: InterruptedTurn;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly lifetime = new AbortController();
  private pendingInbound = 0;
  private pendingInboundBytes = 0;
  private inputPaused = false;
  /** Why reading the transport is paused (queue full, audio ahead of real time); it resumes when none is left. */
  private readonly pauses = new Set<'queue' | 'audio' | 'stt'>();
  private audioResume?: NodeJS.Timeout;
  /** session.configure messages queued or running (the only inbound work that waits on the network). */
  private configuring = 0;
  private audioBudget?: { seconds: number; at: number };
  /** Arrival times of inbound audio, to time the end of the user's speech. */
  private audioClock?: AudioClock;
  private endSessionMetric?: () => void;
  private sessionSpan: TraceSpan = NOOP_SPAN;
  /** Set once speech input stopped (or never existed) and that was reported: later audio is only counted. */
  private droppedAudio?: { chunks: number; since: number };

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
      if (this.droppedAudio) {
        this.countDroppedAudio();
        return;
      }
      const ready = this.requireReady();
      const audio = decodeBase64Strict(message.audio);
      if (!audio) throw new VoiceError('invalid_audio', 'audio.append: `audio` is not canonical base64 (RFC 4648 with padding, no whitespace).');
      this.pushAudio(ready, audio, message.sample_rate, message.previous_text);
    }, message.audio.length);
  }

  appendBinaryAudio(audio: Buffer): void {
    this.accept(() => {
      if (this.droppedAudio) this.countDroppedAudio();
      else this.pushAudio(this.requireReady(), audio);
    }, audio.length);
  }

  commitAudio(): void {
    this.accept(() => this.requireStt(this.requireReady()).commit());
  }

  audioPlayed(message: AssistantAudioPlayedMessage): void {
    this.inbound.run(() => {
      this.requireReady();
      const playback = this.playback;
      if (!playback || playback.turn.id !== message.turn_id || playback.stopped) return;
      playback.reportedMs = Math.max(playback.reportedMs ?? 0, message.played_ms);
      this.checkPlayback(playback);
    });
  }

  cancel(): void {
    this.inbound.run(() => {
      this.requireReady();
      if (this.playback && !this.playback.stopped) this.interrupt(this.playback, 'client_cancel');
    });
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
    const settle = (): void => {
      this.pendingInbound--;
      this.pendingInboundBytes -= bytes;
      if (this.inputPaused && this.pendingInbound <= limit / 2 && this.pendingInboundBytes <= MAX_PENDING_INBOUND_BYTES / 2) {
        this.inputPaused = false;
        this.resumeInput('queue');
      }
    };
    // Not an async wrapper: a synchronous task (every audio chunk) then runs without a promise (see SerialQueue).
    this.inbound.run(() => {
      let result: void | Promise<void>;
      try {
        result = task();
      } catch (error) {
        settle();
        throw error;
      }
      if (result) return result.finally(settle);
      settle();
    });
  }

  /**
   * Resolves once no turn is running or waiting (a reply in progress is finished, not cut), or when
   * `signal` aborts. Used to drain sessions before shutdown.
   */
  async whenIdle(signal: AbortSignal): Promise<void> {
    await this.inbound.idle();
    if ((!this.runningTurn && this.pendingTurns.length === 0) || signal.aborted) return;
    // The drain deadline is one signal shared by every session: take the listener off again when
    // this session goes idle first (before, each drained session left one behind).
    await new Promise<void>((resolve) => {
      const onAbort = (): void => resolve();
      this.idleWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    if (this.state === 'closed') return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.state = 'closed';
    this.endSessionMetric?.();
    this.sessionSpan.end();
    clearTimeout(this.audioResume);
    this.lifetime.abort(new VoiceError('internal_error', 'session closed'));
    for (const turn of [...this.pendingTurns.splice(0), ...(this.runningTurn ? [this.runningTurn] : [])]) turn.cancel('session_closed');
    this.stt?.close();
    this.echoChannel?.close();
    this.echoChannel = CLOSED_ECHO_CHANNEL;
  }

  private pauseInput(reason: 'queue' | 'audio' | 'stt'): void {
    if (this.pauses.size === 0) this.deps.flow?.pause();
    this.pauses.add(reason);
  }

  private resumeInput(reason: 'queue' | 'audio' | 'stt'): void {
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
    this.ready = { sessionId, conversationId, registration, tts: ttsConfig, stt: sttConfig, interruption: resolveInterruption(message.interruption) };
    this.deps.logger = this.deps.logger.child({ session_id: sessionId });
    this.sessionSpan = this.deps.tracing.startSession({ 'voice.session_id': sessionId, 'voice.stt_provider': sttConfig?.provider ?? 'none', 'voice.tts_provider': ttsConfig.provider });
    this.state = 'ready';
    this.endSessionMetric = this.deps.metrics.sessionOpened(sttConfig?.provider, ttsConfig.provider);
    const principal = this.deps.principal ? `, sub: ${JSON.stringify(this.deps.principal)}` : '';
    this.deps.logger.log(`session ${sessionId} configured (backend: ${registration.source}, tts: ${ttsConfig.provider}, stt: ${sttConfig?.provider ?? 'none'}${principal})`);
    this.emit({ type: 'session.configured', session_id: sessionId });
    if (sttConfig) this.audioClock = new AudioClock(bytesPerSecond(sttConfig.audio_format, sttConfig.sample_rate));
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
          if (carried) this.enqueueCarried(ready, carried);
          return;
        }
        let turn: Turn | undefined;
        let refused: unknown;
        if (heldBack || !text) {
          if (carried) this.enqueueCarried(ready, carried);
        } else {
          try {
            turn = this.createTurn(carried ? `${carried} ${text}` : text, { speechEndAt: this.speechEndAt(trigger, words), committedAt: performance.now() });
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

  /** A new utterance (ElevenLabs: its first partial); tells the client at once. */
  private startUserSpeech(): UserSpeech {
    const now = performance.now();
    const active = this.playback && !this.playback.stopped && this.playback.turn.firstAudioSentAt !== undefined ? this.playback : undefined;
    const recent = this.lastPlayed && now - this.lastPlayed.at <= ECHO_DELAY_MS ? this.lastPlayed.playback : undefined;
    // The latest acoustic verdict already covers the speech's onset (the detector's recent window).
    const { verdict } = this.acoustic;
    const speech: UserSpeech = { startedAt: now, speechMs: 0, partial: '', over: active ?? recent, interrupted: false, heardEcho: verdict === 'echo', heardUser: verdict === 'user' };
    this.userSpeech = speech;
    if (this.state === 'ready') this.emit({ type: 'user.speech_started' });
    return speech;
  }

  /**
   * Barge-in: interrupts the active turn once the user's speech passes the guards. While the turn's
   * audio plays, speech must also hold recognised words that are neither (the start of) a
   * backchannel phrase nor the assistant's own words coming back through the microphone (echo).
   */
  private considerInterrupting(ready: ReadySession, speech: UserSpeech): void {
    const rules = ready.interruption;
    const playback = this.playback;
    if (!rules.enabled || speech.interrupted) return;
    const local = ready.stt?.provider === 'local';
    if (local && speech.speechMs < rules.min_speech_ms) return;
    const speaking = playback !== undefined && !playback.stopped && playback.turn.firstAudioSentAt !== undefined;
    // The acoustic check (judged as the microphone audio arrived): while (or just after) the reply plays, is it its echo or the user?
    const acoustic = speaking || speech.over ? this.acoustic.verdict : 'unknown';
    const userStreak = speaking || speech.over ? this.acoustic.streak : 0;
    // ElevenLabs: the first partial comes 0.3-1 s into the speech, and the detector's verdict can waver
    // within an utterance (speech alone may correlate with the reply at some lag); the user counts as
    // heard when the detector called the microphone the user USER_CHECKS times in a row within USER_HEARD_FRAMES.
    const { userAt } = this.acoustic;
    const userHeard = userAt !== undefined && this.acoustic.frames - userAt <= USER_HEARD_FRAMES;
    const partialOverEcho = !local && acoustic !== 'silence' && userHeard;
    if (!playback || playback.stopped) return;
    if (speaking && acoustic === 'echo' && !partialOverEcho) return;
    // Speech that began as (or over) the reply's echo: its words interrupt only where the detector
    // heard the user in it (USER_CHECKS "user" verdicts in a row within USER_HEARD_FRAMES), or cannot
    // judge ('unknown'). Its words are no test by themselves: the recogniser garbles echo ("a warm
    // jacket" -> "window fussy"), so they rarely match the reply, and they trail the audio (a partial
    // may come once the microphone is quiet again); one or two "user" verdicts amid the echo are no
    // test either (bench/barge-in.ts, session firsts: with 2 in a row, 5/20 false through a
    // speakerphone against 1/20 with 3; users over the echo 35/36 and 34/36).
    if (speaking && speech.heardEcho && acoustic !== 'unknown' && !userHeard) return;
    // Local STT: speech the echo does not explain interrupts at once, without waiting for words.
    if (local && speaking && acoustic === 'user' && rules.min_words === 0 && userStreak >= USER_CHECKS) {
      speech.interrupted = true;
      speech.interruptedBeforeWords = true;
      this.interrupt(playback, 'user_speech');
      return;
    }
    if (wordCount(speech.partial) < Math.max(rules.min_words, speaking ? 1 : 0)) return;
    if (speaking && mayBecomeIgnoredPhrase(speech.partial, rules.ignore_phrases)) return;
    // Words that match what was played are echo, unless the detector heard the user over it.
    if (speaking && userStreak < USER_CHECKS && !partialOverEcho && this.isEchoOf(playback, speech, speech.partial, false)) return;
    speech.interrupted = true;
    this.interrupt(playback, 'user_speech');
  }

  /**
   * Gives the microphone audio that just arrived to the echo detector, to be judged while a reply
   * plays, its echo may still come back, or an utterance that began over it goes on; elsewhere the
   * verdict is reset.
   */
  private watchEcho(audio: Buffer, formatName: string, now: number): void {
    const playback = this.playback;
    const speaking = playback !== undefined && !playback.stopped && playback.turn.firstAudioSentAt !== undefined;
    const recent = this.lastPlayed !== undefined && now - this.lastPlayed.at <= ECHO_DELAY_MS;
    const judging = speaking || recent || this.userSpeech?.over !== undefined;
    this.micSeq = this.echo().addMic(audio, formatName, now, judging);
    if (!judging) this.resetAcoustic();
  }

  /** No verdict yet on what comes next; verdicts on audio already given to the detector are stale. */
  private resetAcoustic(): void {
    this.acoustic = { verdict: 'unknown', streak: 0, frames: this.acoustic.frames, from: this.micSeq + 1 };
  }

  private echo(): EchoChannel {
    this.echoChannel ??= (this.deps.echo ?? new InlineEchoJudges()).open((report) => this.onEchoReport(report));
    return this.echoChannel;
  }

  /** A verdict of the echo detector (at once, or from its worker a little later). */
  private onEchoReport(report: EchoReport): void {
    if (report.seq < this.acoustic.from || this.state === 'closed') return;
    const { verdict } = report;
    const streak = verdict === 'user' ? this.acoustic.streak + 1 : 0;
    // A frame count going back: the detector started over (its worker was replaced), so an earlier userAt means nothing.
    const earlierUserAt = report.micFrames >= this.acoustic.frames ? this.acoustic.userAt : undefined;
    const userAt = streak >= USER_CHECKS ? report.micFrames : earlierUserAt;
    this.acoustic = { verdict, streak, frames: report.micFrames, from: this.acoustic.from, ...(userAt !== undefined ? { userAt } : {}) };
    const speech = this.userSpeech;
    if (speech && verdict === 'echo') speech.heardEcho = true;
    if (speech && verdict === 'user') speech.heardUser = true;
    if (!speech) return;
    if (this.deps.logger.pino.isLevelEnabled('debug')) {
      this.deps.logger.debug({ msg: `echo check: ${verdict}`, correlation: Number(report.correlation.toFixed(2)), lag_ms: report.lagMs, unexplained: Number(report.unexplained.toFixed(2)), ...(report.spectralShare !== undefined ? { spectral: Number(report.spectralShare.toFixed(2)) } : {}), ...(report.fineMatch !== undefined ? { fine: Number(report.fineMatch.toFixed(2)) } : {}) });
    }
    // The verdict that completes a run of "user" verdicts may come after the STT's latest word on the speech.
    if (streak === USER_CHECKS && this.ready && this.state === 'ready') this.considerInterrupting(this.ready, speech);
  }

  /** A committed utterance that starts no turn: a backchannel while the assistant speaks, or its echo. */
  private isHeldBack(ready: ReadySession, speech: UserSpeech | undefined, text: string): boolean {
    if (!ready.interruption.enabled) return false;
    // A backchannel that stopped the reply before its words were known still starts no turn.
    if (speech?.interrupted) return speech.interruptedBeforeWords === true && isIgnoredPhrase(text, ready.interruption.ignore_phrases);
    // Speech the echo detector always found to be the reply's echo (never the user) is echo.
    if (speech?.over && speech.heardEcho && !speech.heardUser) return true;
    const playback = this.playback;
    if (playback && !playback.stopped && playback.turn.firstAudioSentAt !== undefined && isIgnoredPhrase(text, ready.interruption.ignore_phrases)) return true;
    const over = speech?.over;
    return over !== undefined && !over.stopped && this.isEchoOf(over, speech!, text, true);
  }

  /**
   * The words match what the turn's audio was saying: a final transcript against everything played
   * since shortly before the speech began, a live partial (its latest words) against the last few seconds.
   */
  private isEchoOf(playback: Playback, speech: UserSpeech, text: string, final: boolean): boolean {
    const { turn } = playback;
    if (turn.firstAudioSentAt === undefined) return false;
    const now = Math.max(this.estimatedPlayedMs(turn, performance.now()), playback.reportedMs ?? 0);
    const started = Math.min(this.estimatedPlayedMs(turn, speech.startedAt), playback.reportedMs ?? Infinity);
    if (final) return isEcho(text, wordsBetween(turn.marks, started - ECHO_DELAY_MS, now + 300));
    return isEchoSoFar(text, wordsBetween(turn.marks, Math.max(started, now - ECHO_RECENT_MS) - ECHO_DELAY_MS, now + 300));
  }

  /** Stops the active turn at once: no more of its events; backend call and synthesis aborted. */
  private interrupt(playback: Playback, reason: InterruptionReason): void {
    const { turn } = playback;
    playback.stopped = true;
    const played = Math.round(this.playedMs(playback));
    const heard = heardText(turn.marks, played);
    const thinking = turn.firstAudioSentAt === undefined;
    turn.cancel(reason);
    this.emit({ type: 'assistant.interrupted', turn_id: turn.id, reason, played_ms: played, heard_text: heard });
    // Speech while thinking: the user's next words are answered together with this turn's.
    if (thinking && reason === 'user_speech') this.carriedText = this.carriedText ? `${this.carriedText} ${turn.text}` : turn.text;
    this.pendingInterrupted = { turn_id: turn.id, message: turn.text, reply: turn.replyText, heard };
    playback.done?.();
  }

  /** What the client played of the turn: its latest report, else the real-time estimate. */
  private playedMs(playback: Playback): number {
    const { turn } = playback;
    if (turn.firstAudioSentAt === undefined) return 0;
    return Math.min(playback.reportedMs ?? this.estimatedPlayedMs(turn, performance.now()), turn.audioSentMs);
  }

  private estimatedPlayedMs(turn: Turn, at: number): number {
    return turn.firstAudioSentAt === undefined ? 0 : Math.min(Math.max(at - turn.firstAudioSentAt, 0), turn.audioSentMs);
  }

  /** Resolves once the turn's audio has played to its end on the client (or the turn stopped or the session closed). */
  private waitForPlayback(playback: Playback): Promise<void> {
    const { turn } = playback;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const lifetime = this.lifetime.signal;
      const done = () => {
        clearTimeout(timer);
        playback.done = undefined;
        lifetime.removeEventListener('abort', done);
        if (!playback.stopped) this.lastPlayed = { playback, at: performance.now() };
        resolve();
      };
      const check = () => {
        const endAt = turn.firstAudioSentAt! + turn.audioSentMs + (playback.reportedMs !== undefined ? PLAYBACK_GRACE_MS : 0);
        if (this.checkPlayback(playback) || performance.now() >= endAt) return done();
        timer = setTimeout(check, Math.max(endAt - performance.now(), 10));
      };
      playback.done = done;
      lifetime.addEventListener('abort', done, { once: true });
      check();
    });
  }

  /** True (and the playback wait ends) once the client reported the end of the turn's audio. */
  private checkPlayback(playback: Playback): boolean {
    const finished = playback.reportedMs !== undefined && playback.reportedMs >= playback.turn.audioSentMs - PLAYED_TOLERANCE_MS;
    if (finished) playback.done?.();
    return finished;
  }

  private enqueueCarried(ready: ReadySession, text: string): void {
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

  private requireStt(ready: ReadySession, more = ''): SttStream {
    if (!ready.stt) {
      throw new VoiceError('stt_unavailable', `Speech input is not available on this server (${this.deps.stt.unavailableReason()}); use text.prompt.${more}`);
    }
    if (!this.stt) throw new VoiceError('stt_unavailable', `Speech recognition stopped for this session; reconnect to use speech input again.${more}`);
    return this.stt;
  }

  /** An audio chunk after speech input stopped: counted, and reported only as a periodic reminder. */
  private countDroppedAudio(): void {
    const dropped = this.droppedAudio!;
    dropped.chunks++;
    const now = performance.now();
    if (now - dropped.since < VoiceSession.speechStoppedReminderMs) return;
    const seconds = Math.round((now - dropped.since) / 1000);
    const chunks = dropped.chunks;
    this.droppedAudio = { chunks: 0, since: now };
    this.reportError(
      new VoiceError('stt_unavailable', `Speech input is stopped for this session; ${chunks} audio chunks in the last ${seconds} s were dropped. Stop sending audio, use text.prompt, or reconnect.`),
    );
  }

  private pushAudio(ready: ReadySession, audio: Buffer, sampleRate?: number, previousText?: string): void {
    if (!this.stt || !ready.stt) {
      // Reported once here (this chunk's error); later chunks are counted by countDroppedAudio.
      this.droppedAudio = { chunks: 0, since: performance.now() };
      this.requireStt(ready, ` Further audio is dropped; while it keeps coming, a reminder with the count follows every ${Math.round(VoiceSession.speechStoppedReminderMs / 1000)} s.`);
    }
    const stream = this.requireStt(ready);
    const config = ready.stt!;
    if (sampleRate !== undefined && sampleRate !== config.sample_rate) {
      throw new VoiceError('sample_rate_mismatch', `audio.append sample_rate ${sampleRate} differs from the session's ${config.sample_rate} Hz; chunk dropped.`);
    }
    if (config.audio_format.startsWith('pcm') && audio.length % 2 !== 0) {
      throw new VoiceError('invalid_audio', `PCM16 audio needs an even number of bytes; got ${audio.length}. Chunk dropped.`);
    }
    if (audio.length === 0) return;
    this.checkSttBacklog(stream);
    this.spendAudioBudget(audio.length / bytesPerSecond(config.audio_format, config.sample_rate));
    this.audioClock?.push(audio.length);
    if (ready.interruption.enabled) {
      const now = performance.now();
      this.watchEcho(audio, config.audio_format, now);
    }
    stream.push(audio, previousText);
    this.limitSttBacklog(stream);
  }

  /** Past twice STT_MAX_BACKLOG_SECONDS (reading could not be paused in time) a chunk is dropped, with an error. */
  private checkSttBacklog(stream: SttStream): void {
    const max = this.deps.maxSttBacklogSeconds;
    const behind = stream.backlog?.seconds() ?? 0;
    if (max === undefined || behind <= 2 * max) return;
    throw new VoiceError(
      'rate_limited',
      `Speech recognition on this server is more than ${2 * max} s behind this session's audio; chunk dropped. Send audio as it is captured, or wait for the transcripts to catch up.`,
    );
  }

  /**
   * Backpressure from the recogniser: with more than STT_MAX_BACKLOG_SECONDS of this session's audio
   * waiting for its worker, stop reading the socket until half of it has been recognised, so a fast
   * uploader is slowed by TCP to the speed recognition runs at and the worker's queue stays bounded
   * (a 60 s upload at once otherwise queued about 1.9 MB and 20 s of decoding per stream).
   */
  private limitSttBacklog(stream: SttStream): void {
    const max = this.deps.maxSttBacklogSeconds;
    const { backlog } = stream;
    if (max === undefined || !backlog || !this.deps.flow || this.pauses.has('stt') || backlog.seconds() <= max) return;
    this.pauseInput('stt');
    backlog.whenAtMost(max / 2, () => this.resumeInput('stt'));
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
    this.startTurn(ready, this.createTurn(text));
  }

  /** A new turn with the next id; throws turn_queue_full (using no id) when the queue is full. */
  private createTurn(text: string, spoken?: { speechEndAt?: number; committedAt: number }): Turn {
    if (this.pendingTurns.length >= this.deps.maxQueuedTurns) {
      throw new VoiceError('turn_queue_full', `${this.pendingTurns.length} turns are already waiting; this one was dropped: "${text.slice(0, 80)}"`);
    }
    const turn = new Turn(++this.turnCount, text);
    // A spoken turn starts at the end of the user's speech; a typed one when its prompt arrived.
    turn.timeline = new TurnTimeline(spoken?.speechEndAt ?? spoken?.committedAt ?? performance.now(), spoken?.speechEndAt === undefined ? undefined : spoken.committedAt);
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
      const playback: Playback = { turn, stopped: false };
      this.playback = playback;
      if (ready.interruption.enabled) {
        turn.onAudio = (chunk, format) => {
          const at = turn.firstAudioSentAt ?? performance.now();
          if (turn.firstAudioSentAt === undefined) {
            this.echo().startReply(envelopeFormat(format.name));
            this.resetAcoustic();
          }
          this.echo().addReply(chunk, at);
        };
      }
      const interrupted = this.pendingInterrupted;
      this.pendingInterrupted = undefined;
      turn.span = this.startTurnSpan(turn);
      let failed = false;
      try {
        await turn.run({
          ...(interrupted ? { interrupted } : {}),
          sessionId: ready.sessionId,
          conversationId: ready.conversationId,
          registration: ready.registration,
          ttsConfig: ready.tts,
          chat: this.deps.chat,
          tts: this.deps.tts,
          writer: this.deps.writer,
          logger: this.deps.logger.child({ turn_id: turn.id }),
          maxReplyChars: this.deps.maxReplyChars,
        });
        // With barge-in the turn stays active (interruptible) until its audio has played on the client.
        if (ready.interruption.enabled && turn.phase === 'played' && turn.firstAudioSentAt !== undefined && !playback.stopped) await this.waitForPlayback(playback);
      } catch (error) {
        failed = true;
        turn.span.fail(error);
        this.reportError(error, this.deps.logger.child({ turn_id: turn.id }));
      } finally {
        this.runningTurn = undefined;
        this.playback = undefined;
        this.finishTurn(turn, failed ? 'failed' : playback.stopped || turn.phase === 'interrupted' ? 'interrupted' : 'completed');
      }
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
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
