import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebSocket, WebSocketServer } from 'ws';
import { LocalSttPool, type LocalSttListener, type LocalSttStream, type TimedWord } from '@app/engines';
import { EMULATOR_STATE, type EmulatorState, type SttDropMode, type SttEmitHook } from '../emulator-state.js';
import { EMULATOR_WORKERS } from '../speech/emulator-speech.js';
import { InvalidRequest, parseRealtimeParams, sessionConfig, type RealtimeParams } from './realtime-params.js';

export const REALTIME_PATH = '/v1/speech-to-text/realtime';

type ServerMessage = { message_type: string } & Record<string, unknown>;

/**
 * Scribe v2 Realtime (`GET /v1/speech-to-text/realtime` upgraded to WebSocket) on the emulator's
 * HTTP server, via `ws` on the server's `upgrade` event: Nest's WebSocket gateways cannot accept on
 * a path with a query and answer errors the way the real API does (accept, error message, close).
 * Transcripts come from the embedded recogniser (LocalSttPool: Silero VAD + PocketSphinx), started
 * on the first connection so TTS-only use pays nothing for it.
 */
@Injectable()
export class RealtimeSttServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('RealtimeStt');
  private readonly wss = new WebSocketServer({ noServer: true });
  private pool?: Promise<LocalSttPool>;

  constructor(
    @Inject(EMULATOR_STATE) private readonly state: EmulatorState,
    @Inject(EMULATOR_WORKERS) private readonly workers: number,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onApplicationBootstrap(): void {
    (this.adapterHost.httpAdapter.getHttpServer() as Server).on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://emulator');
      if (url.pathname !== REALTIME_PATH) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request, url));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await (await this.pool?.catch(() => undefined))?.close();
  }

  private recogniser(): Promise<LocalSttPool> {
    this.pool ??= LocalSttPool.start({ threads: this.workers });
    return this.pool;
  }

  private accept(ws: WebSocket, request: IncomingMessage, url: URL): void {
    const { faults } = this.state;
    this.state.sttConnections++;
    const session = new RealtimeSession(ws, faults.sttLatencyMs, this.state.onSttEmit);
    const header = request.headers['xi-api-key'];
    const key = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('token') ?? '';
    if (faults.sttRejectAuth || !key || (this.state.apiKey !== undefined && key !== this.state.apiKey && !key.startsWith('sutkn_'))) {
      return session.fail('auth_error', 'Invalid API key or token', 1008);
    }
    if (faults.sttQuotaExceeded) return session.fail('quota_exceeded', 'You have exceeded your quota.', 1008);
    if (faults.sttRateLimited > 0) {
      faults.sttRateLimited--;
      return session.fail('rate_limited', 'Too many requests, slow down.', 1013);
    }
    let params: RealtimeParams;
    try {
      params = parseRealtimeParams(url.searchParams);
    } catch (error) {
      if (error instanceof InvalidRequest) return session.fail('invalid_request', error.message, 1008);
      throw error;
    }
    if (faults.sttStall) return; // accepted, then silence: the client must time out.
    const drop = faults.sttDropAfterChunks > 0 && faults.sttDropCount > 0;
    if (drop) faults.sttDropCount--;
    session.start(params, faults.sttIdleCloseMs, drop ? { afterChunks: faults.sttDropAfterChunks, mode: faults.sttDropMode } : undefined);
    if (this.state.transcriber !== 'local') return session.attach(new EchoTranscriber(this.state.transcriber === 'echo_stamped'));
    this.recogniser().then(
      (pool) => session.attach(pool),
      (error: unknown) => {
        this.logger.error(`local recogniser unavailable: ${error instanceof Error ? error.message : String(error)}`);
        session.fail('transcriber_error', 'The transcriber is unavailable.', 1011);
      },
    );
  }
}

/** One realtime connection: input chunks to the recogniser, its results back as API messages. */
class RealtimeSession {
  private stream?: LocalSttStream;
  private params?: RealtimeParams;
  private chunks = 0;
  /** Seconds of audio received, and where the current segment started (for word timings). */
  private audioSecs = 0;
  private segmentStart = 0;
  private closed = false;
  private lastChunkAt = performance.now();
  /** Input received before the recogniser was ready. */
  private readonly waiting: Array<Buffer | 'commit'> = [];
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly latencyMs: number,
    private readonly onEmit?: SttEmitHook,
  ) {
    ws.on('close', () => this.stop());
    ws.on('error', () => this.stop());
  }

  /** Sends session_started and takes input at once; audio waits for the recogniser (see attach). */
  start(params: RealtimeParams, idleCloseMs: number, drop?: { afterChunks: number; mode: SttDropMode }): void {
    this.params = params;
    if (idleCloseMs > 0) this.watchIdle(idleCloseMs);
    this.send({ message_type: 'session_started', session_id: randomBytes(16).toString('hex'), config: sessionConfig(params) });
    this.ws.on('message', (data, isBinary) => {
      if (this.closed) return;
      if (isBinary) return this.fail('input_error', 'Binary frames are not supported; send input_audio_chunk JSON messages.', 1003);
      this.receive(data.toString());
      if (drop && this.chunks >= drop.afterChunks) {
        this.stop();
        if (drop.mode === 'terminate') this.ws.terminate();
        else if (drop.mode === 'freeze') this.ws.pause();
        else if (drop.mode === 'close_1011') this.ws.close(1011, 'Internal server error');
        // 'mute': stopped, so nothing more is sent, but the socket stays open and `ws` still answers pings.
      }
    });
  }

  /** Connects the recogniser (started lazily by the first connection) and feeds it what arrived meanwhile. */
  attach(pool: Pick<LocalSttPool, 'openStream'>): void {
    if (this.closed) return;
    const params = this.params!;
    this.stream = pool.openStream(
      {
        codec: params.codec,
        sampleRate: params.sample_rate,
        commitStrategy: params.commit_strategy,
        vad: {
          vadThreshold: params.vad_threshold,
          vadSilenceThresholdSecs: params.vad_silence_threshold_secs,
          minSpeechDurationMs: params.min_speech_duration_ms,
          minSilenceDurationMs: params.min_silence_duration_ms,
        },
        words: params.include_timestamps,
      },
      {
        speechStart: () => undefined,
        partial: (text) => this.send({ message_type: 'partial_transcript', text }),
        committed: (text, _reason, words) => this.committed(text, words),
        failed: (message) => this.fail('transcriber_error', message, 1011),
      },
    );
    for (const item of this.waiting.splice(0)) {
      if (item === 'commit') this.stream.commit();
      else this.stream.push(item);
    }
  }

  private receive(raw: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return this.fail('input_error', 'Could not parse the message as JSON.', 1003);
    }
    if (message['message_type'] === 'commit') return this.commit();
    if (message['message_type'] !== 'input_audio_chunk') {
      return this.fail('input_error', `Unknown message_type "${String(message['message_type'])}"; expected input_audio_chunk.`, 1003);
    }
    const { audio_base_64: audio, commit, sample_rate: sampleRate, previous_text: previousText } = message;
    if (typeof audio !== 'string' || typeof commit !== 'boolean') {
      return this.fail('input_error', 'input_audio_chunk needs audio_base_64 (string) and commit (boolean).', 1003);
    }
    if (sampleRate !== undefined && sampleRate !== this.params!.sample_rate) {
      return this.fail('input_error', `sample_rate ${JSON.stringify(sampleRate)} does not match audio_format ${this.params!.audio_format}.`, 1003);
    }
    if (previousText !== undefined && previousText !== null && (typeof previousText !== 'string' || this.chunks > 0)) {
      return this.fail('input_error', 'previous_text is only accepted on the first audio chunk.', 1003);
    }
    this.chunks++;
    this.lastChunkAt = performance.now();
    const bytes = Buffer.from(audio, 'base64');
    if (this.params!.codec === 'pcm' && bytes.length % 2 !== 0) return this.fail('input_error', 'PCM audio must be whole 16-bit samples.', 1003);
    if (bytes.length > 0) {
      this.audioSecs += bytes.length / (this.params!.sample_rate * (this.params!.codec === 'pcm' ? 2 : 1));
      if (this.stream) this.stream.push(bytes);
      else this.waiting.push(bytes);
    }
    if (commit) this.commit();
  }

  private watchIdle(idleCloseMs: number): void {
    this.idleTimer = setInterval(() => {
      if (performance.now() - this.lastChunkAt < idleCloseMs) return;
      this.stop();
      this.ws.close(1000, 'Session closed after a period of inactivity');
    }, Math.min(idleCloseMs, 250));
  }

  private commit(): void {
    if (this.stream) this.stream.commit();
    else this.waiting.push('commit');
  }

  /** `timed`: the recogniser's word timings (seconds of this connection's audio), when timestamps were asked for. */
  private committed(text: string, timed?: TimedWord[]): void {
    const start = this.segmentStart;
    const end = this.audioSecs;
    this.segmentStart = end;
    this.send({ message_type: 'committed_transcript', text });
    if (!this.params!.include_timestamps && !this.params!.include_language_detection) return;
    this.send({
      message_type: 'committed_transcript_with_timestamps',
      text,
      ...(this.params!.include_language_detection ? { language_code: 'en' } : {}),
      words: this.params!.include_timestamps ? wordObjects(text, start, end, timed) : null,
    });
  }

  /** Sends an error message, then closes, as the real API does. */
  fail(type: string, error: string, code: number): void {
    this.send({ message_type: type, error });
    this.stop();
    this.later(() => this.ws.close(code, type));
  }

  private send(message: ServerMessage): void {
    if (this.closed) return;
    const json = JSON.stringify(message);
    this.later(() => {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      this.onEmit?.(message, performance.timeOrigin + performance.now());
      this.ws.send(json);
    });
  }

  /** Runs `action` after the configured latency (the same delay for every message keeps their order). */
  private later(action: () => void): void {
    if (this.latencyMs > 0) setTimeout(action, this.latencyMs);
    else action();
  }

  private stop(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    this.stream?.close();
  }
}

/**
 * The `echo` transcriber: a partial per audio chunk and a committed segment per commit, at no CPU
 * cost. Texts are unique per emulator (`s<stream> chunk <n>`), so a benchmark can match them. When
 * `stamped`, each text ends with ` @<epoch ms>` (performance.timeOrigin + now(), sub-ms): messages
 * go out synchronously (with no sttLatencyMs), so that is the send time, readable in another process.
 * Stamped chunk texts also name the chunk's size and a checksum (`s1 chunk 5 3200b/41234 @...`), so
 * a benchmark can tell its own audio from audio the service added (silence filled in after the
 * client's audio stopped, keep-alive silence) and count what was lost exactly.
 */
class EchoTranscriber implements Pick<LocalSttPool, 'openStream'> {
  private static streams = 0;

  constructor(private readonly stamped = false) {}

  openStream(_config: unknown, listener: LocalSttListener): LocalSttStream {
    const stream = ++EchoTranscriber.streams;
    let chunks = 0;
    let segments = 0;
    const stamp = this.stamped ? () => ` @${(performance.timeOrigin + performance.now()).toFixed(3)}` : () => '';
    return {
      push: (bytes) => listener.partial(`s${stream} chunk ${++chunks}${this.stamped ? ` ${bytes.length}b/${checksum(bytes)}` : ''}${stamp()}`),
      commit: () => listener.committed(`s${stream} segment ${++segments}${stamp()}`, 'manual'),
      close: () => undefined,
      // Echoes synchronously: nothing ever waits.
      backlogMs: () => 0,
      whenBacklogAtMost: (_ms, callback) => callback(),
    };
  }
}

/** Sum of the bytes mod 65536: tells a benchmark's own chunks from silence the service inserted. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xffff;
  return sum;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/**
 * The API's word objects: `word` entries with `spacing` between them, as the real API sends. Times
 * are the recogniser's when it gave them (the echo transcriber does not), else the segment spread
 * evenly over its words.
 */
function wordObjects(text: string, start: number, end: number, timed?: TimedWord[]): Array<Record<string, unknown>> {
  const plain = text.split(/\s+/).filter(Boolean);
  const step = plain.length > 0 ? (end - start) / plain.length : 0;
  const words = timed ?? plain.map((word, i) => ({ text: word, start: start + i * step, end: start + (i + 1) * step }));
  return words.flatMap((word, i) => [
    ...(i > 0 ? [{ text: ' ', start: round(words[i - 1]!.end), end: round(word.start), type: 'spacing', logprob: 0 }] : []),
    { text: word.text, start: round(word.start), end: round(word.end), type: 'word', logprob: 0 },
  ]);
}
