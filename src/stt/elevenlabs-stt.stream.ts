import type { Logger } from '@nestjs/common';
import { WebSocket } from 'ws';
import { pcm16Samples, rmsLevel } from '@app/audio';
import { VoiceError, type TranscriptWord } from '@app/protocol';
import alawmulaw from 'alawmulaw';
import type { EffectiveSttConfig, SttStream, SttStreamListener } from './stt-provider.js';

export const SCRIBE_MODEL_ID = 'scribe_v2_realtime';
const REALTIME_PATH = '/v1/speech-to-text/realtime';

/** The real API closes sockets idle for ~10 s; after this long without audio we send silence. */
const KEEPALIVE_AFTER_MS = 5000;
const KEEPALIVE_SILENCE_MS = 100;
/** A socket that has not said `session_started` by then is given up and retried. */
const CONNECT_TIMEOUT_MS = 3000;
/** An upstream that answers nothing this long after a commit is treated as dropped. */
const COMMIT_TIMEOUT_MS = 4000;
/**
 * From the start of an outage (the first connect, a drop, or the last sign of life of a stalled
 * socket) the session gets `stt_unavailable` by then unless a socket is live again.
 */
const RECONNECT_BUDGET_MS = 8000;
/**
 * Transport pings on a live socket (one at once when it starts, then after each interval); once the
 * upstream has answered one, a ping unanswered for the timeout is a stall. During an outage the new
 * socket is probed more often, so a flapping upstream is told from a recovered one within the budget.
 */
const PING_INTERVAL_MS = 2000;
const PONG_TIMEOUT_MS = 3000;
const OUTAGE_PING_INTERVAL_MS = 500;
const OUTAGE_PONG_TIMEOUT_MS = 1500;
/**
 * Speech-like audio (see VOICED_RMS) sent this long ago with nothing at all heard back since is a hung
 * transcriber behind a live socket (pongs still come). The real API sends partials while speech goes
 * on (after its first 2 s of audio), so a healthy upstream answers well within it.
 */
const SPEECH_WITHOUT_ANSWER_MS = 6000;
/** RMS level (0..1 of full scale, about -36 dBFS) above which a chunk counts as speech-like. */
const VOICED_RMS = 0.016;
/** With `include_timestamps`, how long a committed transcript waits for its word timings. */
const TIMESTAMPS_WAIT_MS = 1000;
const BACKOFF_MS = [200, 500, 1000, 2000];
/**
 * A socket that stays up this long ends an outage (a socket that drops again at once does not); when
 * the upstream answers pings, it must also have answered one this long after it started.
 */
const RECOVERED_AFTER_MS = 1500;
/** Audio kept for replay after a drop (the API itself auto-commits every 90 s). */
const MAX_REPLAY_SECS = 90;
/**
 * Quiet audio at the head of the replay buffer (nothing voiced or committed before it) is kept for
 * this long only. The real API commits only after speech, so a session whose user says nothing for
 * minutes would otherwise hold 90 s of audio for replay: 2.9 MB a session at 16 kHz, over the
 * 2 MiB-per-streaming-session goal, for audio that holds no words. Keeping the last 3 s leaves the
 * upstream VAD its context before speech; the timeline stays right because a replay starts where
 * the kept audio starts (socketBaseSecs).
 */
const KEEP_QUIET_HEAD_SECS = 3;
/** RMS (0..1, about -50 dBFS) below which a chunk is quiet: well under quiet speech, above a mic's noise floor. */
const QUIET_RMS = 0.003;
/** The API advises previous_text under 50 characters. */
const PREVIOUS_TEXT_CHARS = 50;

/** Upstream errors that a retry cannot fix: reported once, never retried. */
const FATAL_ERRORS: Record<string, string> = {
  auth_error: 'ElevenLabs refused the server credentials (auth_error); speech input is off for this session.',
  quota_exceeded: 'The ElevenLabs account is out of quota (quota_exceeded); speech input is off for this session.',
  quota_exceeded_error: 'The ElevenLabs account is out of quota (quota_exceeded); speech input is off for this session.',
  unaccepted_terms: 'The ElevenLabs terms of service are not accepted for this account (unaccepted_terms); speech input is off.',
  unaccepted_terms_error: 'The ElevenLabs terms of service are not accepted for this account (unaccepted_terms); speech input is off.',
  invalid_request: 'ElevenLabs refused the speech-to-text settings (invalid_request); speech input is off for this session.',
  input_error: 'ElevenLabs refused the audio input (input_error); speech input is off for this session.',
};

/** `quiet`: the chunk is below QUIET_RMS, so dropping it from the head of the replay loses no speech. */
type Entry = { kind: 'audio'; audio: Buffer; quiet: boolean } | { kind: 'commit' };
/** Keep-alive silence sent on a socket: where (seconds into the socket's audio) and how long. */
export interface Insertion {
  at: number;
  secs: number;
}

/**
 * Maps upstream word timings (seconds into one socket's audio) onto the session's own audio timeline:
 * shifted by where the socket's audio started (after a reconnect it starts with the replay), minus
 * the keep-alive silence this client inserted before each word. Word objects of other types
 * (`spacing`, `audio_event`) and malformed ones are dropped.
 */
export function mapWordTimes(words: unknown, baseSecs: number, insertions: readonly Insertion[]): TranscriptWord[] | undefined {
  if (!Array.isArray(words)) return undefined;
  const toClient = (t: number): number => {
    let shift = 0;
    for (const insertion of insertions) {
      if (insertion.at >= t) break;
      shift += Math.min(insertion.secs, t - insertion.at);
    }
    return Math.round((baseSecs + t - shift) * 1000) / 1000;
  };
  const out: TranscriptWord[] = [];
  for (const word of words as Array<Record<string, unknown>>) {
    if (typeof word !== 'object' || word === null) continue;
    const { text, start, end, type } = word;
    if (type !== undefined && type !== 'word') continue;
    if (typeof text !== 'string' || !text.trim() || typeof start !== 'number' || typeof end !== 'number' || !(start >= 0) || !(end >= start)) continue;
    out.push({ text: text.trim(), start: toClient(start), end: toClient(end) });
  }
  return out;
}

export interface ElevenLabsSttStreamOptions {
  apiKey: string;
  baseUrl: string;
  sessionId: string;
  config: EffectiveSttConfig;
  bytesPerSecond: number;
  listener: SttStreamListener;
  /** Lines about this stream (the provider passes one that carries `session_id`). */
  logger: Pick<Logger, 'log' | 'warn' | 'error'>;
  /** Called each time the upstream socket is opened again after a loss (metrics). */
  onReconnect?: () => void;
}

/** The realtime query for a session's settings; every `session.configure.stt` field has its parameter. */
export function realtimeQuery(config: EffectiveSttConfig): URLSearchParams {
  const query = new URLSearchParams({
    model_id: config.model_id,
    audio_format: config.audio_format,
    language_code: config.language_code,
    commit_strategy: config.commit_strategy,
    include_timestamps: String(config.include_timestamps),
  });
  if (config.commit_strategy === 'vad') {
    query.set('vad_silence_threshold_secs', String(config.vad_silence_threshold_secs));
    query.set('vad_threshold', String(config.vad_threshold));
    query.set('min_speech_duration_ms', String(config.min_speech_duration_ms));
    query.set('min_silence_duration_ms', String(config.min_silence_duration_ms));
  }
  return query;
}

/**
 * The 250 ms tick of every open stream (keep-alive, stall checks) from one process-wide timer that
 * runs while any stream is open, instead of a setInterval per stream: 500 streams cost 0.5 ms of CPU
 * per second instead of 3.7 ms (timers alone, measured on the 2-core machine), and no Timeout object
 * and closure per session. Each stream's checks compare elapsed times, so ticking them together
 * changes no deadline by more than the tick.
 */
const SharedTicker = {
  TICK_MS: 250,
  streams: new Map<() => void, Pick<Logger, 'error'>>(),
  timer: undefined as NodeJS.Timeout | undefined,

  add(tick: () => void, logger: Pick<Logger, 'error'>): void {
    this.streams.set(tick, logger);
    this.timer ??= setInterval(() => this.run(), this.TICK_MS);
  },

  delete(tick: () => void): void {
    this.streams.delete(tick);
    if (this.streams.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  },

  run(): void {
    for (const [tick, logger] of this.streams) {
      try {
        tick();
      } catch (error) {
        // One stream's bug must not stop the others' keep-alive and stall checks.
        logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      }
    }
  },
};

/**
 * One session's Scribe v2 Realtime connection.
 *
 * It speaks the protocol over `ws` directly rather than through the SDK's realtime client
 * (`@elevenlabs/elevenlabs-js` 2.73.0 speechToText.realtime), whose known bugs bite here: its `close`
 * event carries no code or reason, so a drop (1011, reset) cannot be told from a normal end; it hides
 * the socket, so a stalled upstream cannot be terminated and replaced; `connect()` resolves before
 * the socket is open and `send()` throws until then, which the replay buffer would have to work
 * around. (2.73.0 fixed the older bugs the reference lists: exclusive lower bounds, dropped
 * `invalid_request`.) The contract test suite drives the emulator through that SDK client, so the
 * emulator, the SDK and this client keep speaking the same protocol.
 *
 * Audio since the last committed transcript is kept: after a drop the stream reconnects with backoff
 * and replays it (with the last committed text as `previous_text`), so the turn survives; if no new
 * socket starts within the budget the session gets `stt_unavailable`. Nothing it logs or reports
 * carries the key, the upstream URL or upstream error text.
 */
export class ElevenLabsSttStream implements SttStream {
  private ws?: WebSocket;
  private live = false;
  private started = false;
  private closed = false;
  private failed = false;
  private entries: Entry[] = [];
  private unackedBytes = 0;
  private pendingCommits = 0;
  private inSegment = false;
  private firstPreviousText?: string;
  private lastCommitted = '';
  private attempt = 0;
  /** When the current outage began; it ends once a new socket has stayed up for RECOVERED_AFTER_MS. */
  private downSince?: number;
  private liveSince = 0;
  private lastSentAt = performance.now();
  private lastHeardAt = performance.now();
  private commitSentAt?: number;
  /** Transport liveness: the outstanding ping, and whether this socket has ever answered one. */
  private pingSentAt?: number;
  private pongsAnswered = false;
  private lastPongAt = 0;
  /** When speech-like audio went up with nothing heard back since; whether a hang was suspected since the last transcript. */
  private voicedAt?: number;
  private hangSuspected = false;
  private deadline?: NodeJS.Timeout;
  /** Timeline: client audio bytes pushed in all; the client time where this socket's audio starts; keep-alive silence inserted on it. */
  private pushedBytes = 0;
  private socketBaseSecs = 0;
  private socketSentBytes = 0;
  private insertions: Insertion[] = [];
  /** A committed transcript waiting for its `committed_transcript_with_timestamps`. */
  private held?: { text: string; trigger: 'vad' | 'manual'; timer: NodeJS.Timeout };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly ticker = (): void => this.tick();
  private readonly url: string;
  private readonly ulaw: boolean;

  constructor(private readonly options: ElevenLabsSttStreamOptions) {
    this.ulaw = options.config.audio_format.startsWith('ulaw');
    this.url = `${options.baseUrl.replace(/^http/, 'ws')}${REALTIME_PATH}?${realtimeQuery(options.config).toString()}`;
    SharedTicker.add(this.ticker, options.logger);
    // Until the first socket is live, the session has no speech input: that is an outage too.
    this.outageFrom(performance.now());
    this.connect();
  }

  push(audio: Buffer, previousText?: string): void {
    if (this.closed || this.failed) return;
    if (previousText !== undefined && !this.started && this.firstPreviousText === undefined) this.firstPreviousText = previousText;
    const level = this.level(audio);
    this.entries.push({ kind: 'audio', audio, quiet: level < QUIET_RMS });
    this.unackedBytes += audio.length;
    this.pushedBytes += audio.length;
    if (this.voicedAt === undefined && level >= VOICED_RMS) this.voicedAt = performance.now();
    this.trimReplay();
    if (this.live) this.sendAudio(audio);
  }

  commit(): void {
    if (this.closed || this.failed) return;
    this.entries.push({ kind: 'commit' });
    this.pendingCommits++;
    if (this.live) this.sendCommit();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    SharedTicker.delete(this.ticker);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held = undefined;
    this.dropSocket(true);
  }

  private connect(): void {
    const ws = new WebSocket(this.url, { headers: { 'xi-api-key': this.options.apiKey } });
    this.ws = ws;
    this.live = false;
    this.pingSentAt = undefined;
    const timeout = this.timer(() => {
      if (this.ws === ws && !this.live) this.lost(ws, 'no session_started in time');
    }, CONNECT_TIMEOUT_MS);
    ws.on('message', (data) => {
      if (this.ws !== ws) return;
      this.lastHeardAt = performance.now();
      this.voicedAt = undefined;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        return this.options.logger.warn(`session ${this.options.sessionId}: ignored a non-JSON frame from ElevenLabs STT`);
      }
      if (message['message_type'] === 'session_started') {
        clearTimeout(timeout);
        this.timers.delete(timeout);
      }
      this.handle(message);
    });
    ws.on('pong', () => {
      if (this.ws !== ws) return;
      this.pingSentAt = undefined;
      this.pongsAnswered = true;
      this.lastPongAt = performance.now();
    });
    ws.on('close', (code) => {
      if (this.ws === ws) this.lost(ws, `closed with code ${code}`);
    });
    // `ws` errors can name the upstream host and port: log only their error code.
    ws.on('error', (error: Error & { code?: unknown }) => {
      if (this.ws === ws) this.lost(ws, typeof error.code === 'string' && /^[A-Z_]+$/.test(error.code) ? error.code : 'socket error');
    });
  }

  private handle(message: Record<string, unknown>): void {
    const type = typeof message['message_type'] === 'string' ? message['message_type'] : '';
    const text = typeof message['text'] === 'string' ? message['text'] : '';
    switch (type) {
      case 'session_started':
        return this.onStarted(typeof message['session_id'] === 'string' ? message['session_id'] : this.options.sessionId);
      case 'partial_transcript':
        this.hangSuspected = false;
        if (!text) return;
        if (!this.inSegment) {
          this.inSegment = true;
          this.options.listener.speechStarted();
        }
        return this.options.listener.partial(text);
      case 'committed_transcript':
        this.hangSuspected = false;
        return this.onCommitted(text);
      case 'committed_transcript_with_timestamps':
        return this.onTimestamps(message['words']);
      case 'final_transcript':
      case 'final_transcript_with_timestamps':
      case 'committed_transcript_entities':
        return;
    }
    const fatal = Object.hasOwn(FATAL_ERRORS, type) ? FATAL_ERRORS[type] : undefined;
    if (!fatal && message['error'] === undefined) return;
    if (fatal) return this.fail(fatal, `upstream error ${type}`);
    // Transient (rate_limited, transcriber_error, resource_exhausted...): the socket closes next and we reconnect.
    this.options.logger.warn(`session ${this.options.sessionId}: ElevenLabs STT reported ${/^[a-z_]{1,64}$/.test(type) ? type : 'an error'}`);
  }

  private onStarted(upstreamId: string): void {
    const now = performance.now();
    this.live = true;
    this.liveSince = now;
    // A probe at once: a socket that answers is alive; the hang check restarts with the replay.
    this.pingSentAt = now;
    this.ws!.ping();
    if (this.voicedAt !== undefined) this.voicedAt = now;
    // This socket's audio starts with the replay: everything not yet acknowledged.
    this.socketBaseSecs = (this.pushedBytes - this.unackedBytes) / this.options.bytesPerSecond;
    this.socketSentBytes = 0;
    this.insertions = [];
    if (this.started) {
      this.options.onReconnect?.();
      this.options.logger.log(`session ${this.options.sessionId}: ElevenLabs STT reconnected; replaying ${(this.unackedBytes / this.options.bytesPerSecond).toFixed(1)} s of audio`);
    } else {
      this.started = true;
      this.options.listener.started({ session_id: upstreamId, config: { ...this.options.config } });
    }
    // previous_text goes with the first chunk of each socket: the client's on the first, then the last committed text.
    const previousText = this.firstPreviousText ?? (this.lastCommitted ? this.lastCommitted.slice(-PREVIOUS_TEXT_CHARS) : undefined);
    this.firstPreviousText = undefined;
    let first = true;
    for (const entry of this.entries) {
      if (entry.kind === 'commit') this.sendCommit();
      else {
        this.sendAudio(entry.audio, first ? previousText : undefined);
        first = false;
      }
    }
  }

  private onCommitted(text: string): void {
    this.inSegment = false;
    const manual = this.pendingCommits > 0;
    // Everything up to the answered commit (manual) or everything sent so far (VAD) is acknowledged.
    const end = manual ? this.entries.findIndex((e) => e.kind === 'commit') + 1 : this.entries.length;
    for (const entry of this.entries.splice(0, end)) if (entry.kind === 'audio') this.unackedBytes -= entry.audio.length;
    if (manual) this.pendingCommits--;
    this.commitSentAt = this.pendingCommits > 0 ? performance.now() : undefined;
    if (text) this.lastCommitted = text;
    const trigger = manual ? 'manual' : 'vad';
    this.release();
    // With timestamps on, the words follow in their own message: hold the transcript briefly for them.
    if (!this.options.config.include_timestamps || !text) return this.options.listener.committed(text, trigger);
    const timer = this.timer(() => this.release(), TIMESTAMPS_WAIT_MS);
    this.held = { text, trigger, timer };
  }

  private onTimestamps(words: unknown): void {
    const held = this.takeHeld();
    if (held) this.options.listener.committed(held.text, held.trigger, mapWordTimes(words, this.socketBaseSecs, this.insertions));
  }

  /** A held transcript whose timings did not come goes out without them: words are never worth losing the turn. */
  private release(): void {
    const held = this.takeHeld();
    if (held) this.options.listener.committed(held.text, held.trigger);
  }

  private takeHeld(): { text: string; trigger: 'vad' | 'manual' } | undefined {
    const held = this.held;
    if (!held) return undefined;
    this.held = undefined;
    clearTimeout(held.timer);
    this.timers.delete(held.timer);
    return held;
  }

  /**
   * The chunk's JSON is written as a template, not JSON.stringify of an object: base64 needs no
   * escaping, and stringify scans and copies the 4.3 KB string of a 100 ms 16 kHz chunk once more.
   * 4-6 us per chunk instead of 20-22 us (message built and encoded to UTF-8 as ws does, 50 000
   * chunks on the 2-core machine): 75 ms of CPU per second at 500 streaming sessions.
   */
  private sendAudio(audio: Buffer, previousText?: string): void {
    const previous = previousText ? `,"previous_text":${JSON.stringify(previousText)}` : '';
    const json = `{"message_type":"input_audio_chunk","audio_base_64":"${audio.toString('base64')}","commit":false,"sample_rate":${this.options.config.sample_rate}${previous}}`;
    if (this.send(json)) this.socketSentBytes += audio.length;
  }

  private sendCommit(): void {
    this.commitSentAt ??= performance.now();
    this.send(JSON.stringify({ message_type: 'input_audio_chunk', audio_base_64: '', commit: true, sample_rate: this.options.config.sample_rate }));
  }

  private send(json: string): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.lastSentAt = performance.now();
    this.ws.send(json);
    return true;
  }

  /** A chunk's RMS level, 0..1 (PCM16LE, or mu-law bytes); compared with VOICED_RMS and QUIET_RMS. */
  private level(audio: Buffer): number {
    if (audio.length < 2) return 0;
    const samples = this.ulaw ? alawmulaw.mulaw.decode(new Uint8Array(audio)) : pcm16Samples(audio);
    return rmsLevel(samples);
  }

  /** Seconds of audio held for replay (not yet acknowledged by a committed transcript). */
  get bufferedSecs(): number {
    return this.unackedBytes / this.options.bytesPerSecond;
  }

  /** Keep-alive while the user is silent; stall detection (commits unanswered, pings unanswered, speech unanswered). */
  private tick(): void {
    const now = performance.now();
    if (this.live && this.downSince !== undefined && now - this.liveSince >= RECOVERED_AFTER_MS && (!this.pongsAnswered || this.lastPongAt - this.liveSince >= RECOVERED_AFTER_MS)) {
      this.recovered();
    }
    if (!this.live || !this.ws) return;
    const ws = this.ws;
    if (now - this.lastSentAt >= KEEPALIVE_AFTER_MS) {
      const bytes = Math.round((this.options.bytesPerSecond * KEEPALIVE_SILENCE_MS) / 1000) & ~1;
      this.insertions.push({ at: this.socketSentBytes / this.options.bytesPerSecond, secs: bytes / this.options.bytesPerSecond });
      // Silence: zero PCM samples, or 0xFF in mu-law.
      this.sendAudio(Buffer.alloc(bytes, this.ulaw ? 0xff : 0));
    }
    if (this.commitSentAt !== undefined && now - Math.max(this.commitSentAt, this.lastHeardAt) >= COMMIT_TIMEOUT_MS) {
      return this.lost(ws, 'no answer to a commit', Math.max(this.commitSentAt, this.lastHeardAt));
    }
    const outage = this.downSince !== undefined;
    if (this.pingSentAt !== undefined) {
      // An upstream that never answers pings is not judged by them; one that did and stops has stalled.
      if (this.pongsAnswered && now - this.pingSentAt >= (outage ? OUTAGE_PONG_TIMEOUT_MS : PONG_TIMEOUT_MS)) {
        return this.lost(ws, 'no answer to a ping', Math.max(this.lastPongAt, this.liveSince));
      }
    } else if (now - Math.max(this.lastPongAt, this.liveSince) >= (outage ? OUTAGE_PING_INTERVAL_MS : PING_INTERVAL_MS)) {
      this.pingSentAt = now;
      ws.ping();
    }
    if (this.voicedAt !== undefined && now - this.voicedAt >= SPEECH_WITHOUT_ANSWER_MS && !this.hangSuspected) {
      // Once only until a transcript comes: a second time in a row is more likely loud non-speech than a hang.
      this.hangSuspected = true;
      this.voicedAt = undefined;
      return this.lost(ws, `nothing heard back ${SPEECH_WITHOUT_ANSWER_MS / 1000} s after speech`);
    }
  }

  /**
   * The current socket is gone or stalled: reconnect with backoff while the outage budget lasts;
   * `aliveAt` is when a stalled socket last showed life, which is when its outage began.
   */
  private lost(ws: WebSocket, why: string, aliveAt?: number): void {
    if (this.ws !== ws || this.closed || this.failed) return;
    this.dropSocket(false);
    this.commitSentAt = undefined;
    this.outageFrom(Math.min(aliveAt ?? Infinity, performance.now()));
    const elapsed = performance.now() - this.downSince!;
    if (elapsed >= RECONNECT_BUDGET_MS) return this.unreachable(why);
    const delay = Math.min(BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!, RECONNECT_BUDGET_MS - elapsed);
    this.attempt++;
    this.options.logger.warn(`session ${this.options.sessionId}: ElevenLabs STT socket lost (${why}); reconnect attempt ${this.attempt} in ${Math.round(delay)} ms`);
    this.timer(() => {
      if (!this.closed && !this.failed) this.connect();
    }, delay);
  }

  /** An outage begins (unless one is going on): by its deadline a socket must be live, or the session is told. */
  private outageFrom(at: number): void {
    if (this.downSince !== undefined) return;
    this.downSince = at;
    this.deadline = this.timer(() => {
      this.deadline = undefined;
      if (!this.live) this.unreachable('no live socket within the reconnect budget');
    }, Math.max(0, at + RECONNECT_BUDGET_MS - performance.now()));
  }

  /** A socket stayed up long enough: the outage is over. */
  private recovered(): void {
    this.downSince = undefined;
    this.attempt = 0;
    if (this.deadline) {
      clearTimeout(this.deadline);
      this.timers.delete(this.deadline);
      this.deadline = undefined;
    }
  }

  private unreachable(why: string): void {
    this.fail('Speech recognition (ElevenLabs) is unreachable; speech input is off for this session. Use text.prompt or reconnect later.', `gave up reconnecting: ${why}`);
  }

  private fail(message: string, cause: string): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.options.logger.warn(`session ${this.options.sessionId}: ElevenLabs STT stopped (${cause})`);
    this.release();
    this.dropSocket(true);
    this.options.listener.failed(new VoiceError('stt_unavailable', message));
  }

  private dropSocket(graceful: boolean): void {
    const ws = this.ws;
    this.ws = undefined;
    this.live = false;
    if (!ws) return;
    ws.removeAllListeners('message');
    ws.removeAllListeners('pong');
    ws.on('error', () => undefined);
    if (graceful && ws.readyState === WebSocket.OPEN) ws.close(1000, 'User ended session');
    else ws.terminate();
  }

  private trimReplay(): void {
    // Quiet audio at the head beyond KEEP_QUIET_HEAD_SECS goes (the run is bounded by that limit, so this scan is short).
    const keepQuiet = KEEP_QUIET_HEAD_SECS * this.options.bytesPerSecond;
    let quietHead = 0;
    let quietEntries = 0;
    for (const entry of this.entries) {
      if (entry.kind !== 'audio' || !entry.quiet) break;
      quietHead += entry.audio.length;
      quietEntries++;
    }
    let drop = 0;
    while (drop < quietEntries && quietHead > keepQuiet) {
      const entry = this.entries[drop++] as { audio: Buffer };
      quietHead -= entry.audio.length;
      this.unackedBytes -= entry.audio.length;
    }
    if (drop > 0) this.entries.splice(0, drop);
    const limit = MAX_REPLAY_SECS * this.options.bytesPerSecond;
    while (this.unackedBytes > limit) {
      const index = this.entries.findIndex((e) => e.kind === 'audio');
      const [entry] = this.entries.splice(index, 1);
      if (entry?.kind === 'audio') this.unackedBytes -= entry.audio.length;
    }
  }

  private timer(action: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
    return timer;
  }
}
