import type { Logger } from '@nestjs/common';
import { WebSocket } from 'ws';
import { VoiceError } from '@app/protocol';
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
/** From a drop, reconnecting stops and the session gets `stt_unavailable` by then. */
const RECONNECT_BUDGET_MS = 8000;
const BACKOFF_MS = [200, 500, 1000, 2000];
/** A new socket that stays up this long ends an outage (a socket that drops again at once does not). */
const RECOVERED_AFTER_MS = 2000;
/** Audio kept for replay after a drop (the API itself auto-commits every 90 s). */
const MAX_REPLAY_SECS = 90;
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

type Entry = { kind: 'audio'; audio: Buffer } | { kind: 'commit' };

export interface ElevenLabsSttStreamOptions {
  apiKey: string;
  baseUrl: string;
  sessionId: string;
  config: EffectiveSttConfig;
  bytesPerSecond: number;
  listener: SttStreamListener;
  logger: Logger;
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
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly ticker: NodeJS.Timeout;
  private readonly url: string;

  constructor(private readonly options: ElevenLabsSttStreamOptions) {
    this.url = `${options.baseUrl.replace(/^http/, 'ws')}${REALTIME_PATH}?${realtimeQuery(options.config).toString()}`;
    this.ticker = setInterval(() => this.tick(), 500);
    this.connect();
  }

  push(audio: Buffer, previousText?: string): void {
    if (this.closed || this.failed) return;
    if (previousText !== undefined && !this.started && this.firstPreviousText === undefined) this.firstPreviousText = previousText;
    this.entries.push({ kind: 'audio', audio });
    this.unackedBytes += audio.length;
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
    clearInterval(this.ticker);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.dropSocket(true);
  }

  private connect(): void {
    const ws = new WebSocket(this.url, { headers: { 'xi-api-key': this.options.apiKey } });
    this.ws = ws;
    this.live = false;
    const timeout = this.timer(() => {
      if (this.ws === ws && !this.live) this.lost(ws, 'no session_started in time');
    }, CONNECT_TIMEOUT_MS);
    ws.on('message', (data) => {
      if (this.ws !== ws) return;
      this.lastHeardAt = performance.now();
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
        if (!text) return;
        if (!this.inSegment) {
          this.inSegment = true;
          this.options.listener.speechStarted();
        }
        return this.options.listener.partial(text);
      case 'committed_transcript':
        return this.onCommitted(text);
      case 'committed_transcript_with_timestamps':
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
    this.live = true;
    this.liveSince = performance.now();
    if (this.downSince !== undefined) {
      this.options.logger.log(`session ${this.options.sessionId}: ElevenLabs STT reconnected; replaying ${(this.unackedBytes / this.options.bytesPerSecond).toFixed(1)} s of audio`);
    }
    if (!this.started) {
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
    this.options.listener.committed(text, manual ? 'manual' : 'vad');
  }

  private sendAudio(audio: Buffer, previousText?: string): void {
    this.send({
      message_type: 'input_audio_chunk',
      audio_base_64: audio.toString('base64'),
      commit: false,
      sample_rate: this.options.config.sample_rate,
      ...(previousText ? { previous_text: previousText } : {}),
    });
  }

  private sendCommit(): void {
    this.commitSentAt ??= performance.now();
    this.send({ message_type: 'input_audio_chunk', audio_base_64: '', commit: true, sample_rate: this.options.config.sample_rate });
  }

  private send(message: Record<string, unknown>): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.lastSentAt = performance.now();
    this.ws.send(JSON.stringify(message));
  }

  /** Keep-alive while the user is silent, and stall detection after a commit. */
  private tick(): void {
    const now = performance.now();
    if (this.live && this.downSince !== undefined && now - this.liveSince >= RECOVERED_AFTER_MS) {
      this.downSince = undefined;
      this.attempt = 0;
    }
    if (this.live && now - this.lastSentAt >= KEEPALIVE_AFTER_MS) {
      const bytes = Math.round((this.options.bytesPerSecond * KEEPALIVE_SILENCE_MS) / 1000) & ~1;
      // Silence: zero PCM samples, or 0xFF in mu-law.
      this.sendAudio(Buffer.alloc(bytes, this.options.config.audio_format.startsWith('ulaw') ? 0xff : 0));
    }
    if (this.live && this.commitSentAt !== undefined && now - Math.max(this.commitSentAt, this.lastHeardAt) >= COMMIT_TIMEOUT_MS) {
      this.lost(this.ws!, 'no answer to a commit');
    }
  }

  /** The current socket is gone: reconnect with backoff within the budget, else report stt_unavailable. */
  private lost(ws: WebSocket, why: string): void {
    if (this.ws !== ws || this.closed || this.failed) return;
    this.dropSocket(false);
    this.commitSentAt = undefined;
    this.downSince ??= performance.now();
    const elapsed = performance.now() - this.downSince;
    if (elapsed >= RECONNECT_BUDGET_MS) {
      return this.fail('Speech recognition (ElevenLabs) is unreachable; speech input is off for this session. Use text.prompt or reconnect later.', `gave up reconnecting: ${why}`);
    }
    const delay = Math.min(BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!, RECONNECT_BUDGET_MS - elapsed);
    this.attempt++;
    this.options.logger.warn(`session ${this.options.sessionId}: ElevenLabs STT socket lost (${why}); reconnect attempt ${this.attempt} in ${Math.round(delay)} ms`);
    this.timer(() => {
      if (!this.closed && !this.failed) this.connect();
    }, delay);
  }

  private fail(message: string, cause: string): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.options.logger.warn(`session ${this.options.sessionId}: ElevenLabs STT stopped (${cause})`);
    this.dropSocket(true);
    this.options.listener.failed(new VoiceError('stt_unavailable', message));
  }

  private dropSocket(graceful: boolean): void {
    const ws = this.ws;
    this.ws = undefined;
    this.live = false;
    if (!ws) return;
    ws.removeAllListeners('message');
    ws.on('error', () => undefined);
    if (graceful && ws.readyState === WebSocket.OPEN) ws.close(1000, 'User ended session');
    else ws.terminate();
  }

  private trimReplay(): void {
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
