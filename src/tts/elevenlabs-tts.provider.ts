import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ElevenLabsClient, ElevenLabsError, type ElevenLabs } from '@elevenlabs/elevenlabs-js';
import { isFliteVoice } from '@app/engines';
import { parseAudioFormat, TTS_OUTPUT_FORMATS, VoiceError, type AudioFormat, type TtsConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { audioBytesPerSecond, type EffectiveTtsConfig, type TextMarkListener, type TtsAudio, type TtsProvider, type TtsText, type TtsProviderInfo, type VoiceSettings } from './tts-provider.js';
import { AlignedMarks, timestampedChunks, TimestampsFormatError, type TimestampedChunk } from './elevenlabs-timestamps.js';

const MODEL_ID = 'eleven_flash_v2_5';
/** Retries after the first attempt, for 429s, 5xx, timeouts and lost connections before any audio. */
const MAX_RETRIES = 2;
/** No retry may start later than this after the first attempt did. */
const RETRY_BUDGET_MS = 5000;
const BACKOFF_BASE_MS = 300;
/** An upstream error code worth naming in messages (`voice_not_found`, `quota_exceeded`...). */
const UPSTREAM_CODE = /^[a-z0-9_+]{1,64}$/i;
/** Most of an error response's body read (it is JSON of a few hundred bytes). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Why an attempt failed, phrased for users and logs: no key, URL or upstream body. */
interface AttemptFailure {
  message: string;
  /** Short technical cause for the log line, e.g. `HTTP 429 system_busy`. */
  cause: string;
  retryable: boolean;
  /** Server-requested wait (Retry-After), if any. */
  retryAfterMs?: number;
}

/**
 * ElevenLabs TTS over HTTP streaming (`POST /v1/text-to-speech/{voice_id}/stream`), available when
 * ELEVENLABS_API_KEY is set. Audio bytes go to the session as they arrive; MP3 is `streaming: false`,
 * so the session sends it as one `assistant.audio` blob, as the contract delivers compressed audio.
 *
 * With ELEVENLABS_TTS_TIMESTAMPS (the default) it calls `.../stream/with-timestamps` instead: the
 * same audio, base64 in newline-delimited JSON beside each character's start and end time, which
 * become word marks (elevenlabs-timestamps.ts), so heard text is cut at the word the listener
 * reached. That route is requested with fetch, not the SDK: the SDK's line reader has no size bound
 * and drops a last line without a newline. Errors are wrapped in ElevenLabsError, so both routes
 * share one retry policy.
 *
 * It uses the official SDK (`textToSpeech.stream`): it takes a custom base URL (the emulator), passes
 * the turn's AbortSignal to fetch, and returns the response body stream unbuffered. The SDK's own
 * retries are off (maxRetries 0): they wait up to 60 s per Retry-After, know no overall budget and
 * would retry quota errors, so retrying happens here, only before the first audio byte.
 */
@Injectable()
export class ElevenLabsTtsProvider implements TtsProvider {
  readonly id = 'elevenlabs' as const;
  private readonly logger = new Logger(ElevenLabsTtsProvider.name);
  private readonly client?: ElevenLabsClient;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    const { apiKey, baseUrl } = config.elevenlabs;
    if (apiKey) this.client = new ElevenLabsClient({ apiKey, baseUrl, maxRetries: 0 });
  }

  info(): TtsProviderInfo {
    return {
      id: this.id,
      available: this.client !== undefined,
      ...(this.client ? {} : { reason: 'ELEVENLABS_API_KEY is not set' }),
      default_voice_id: this.config.elevenlabs.voiceId,
      default_model_id: MODEL_ID,
      voices: [this.config.elevenlabs.voiceId],
      output_formats: [...TTS_OUTPUT_FORMATS],
      streaming: true,
    };
  }

  resolveConfig(dto: TtsConfigDto | undefined, defaultOutputFormat: string): EffectiveTtsConfig {
    const outputFormat = dto?.output_format ?? defaultOutputFormat;
    if (!(TTS_OUTPUT_FORMATS).includes(outputFormat)) {
      throw new VoiceError(
        'unsupported_output_format',
        `tts.output_format "${outputFormat}" is not supported by the ElevenLabs TTS; use one of ${TTS_OUTPUT_FORMATS.join(', ')}.`,
      );
    }
    // Ids of the local provider (flite voices, model "flite") mean "the default" here, as unknown
    // voices do on the local provider, so one frontend config works against both.
    const voiceId = dto?.voice_id && !isFliteVoice(dto.voice_id) ? dto.voice_id : this.config.elevenlabs.voiceId;
    const modelId = dto?.model_id && dto.model_id !== 'flite' ? dto.model_id : MODEL_ID;
    return { provider: this.id, voice_id: voiceId, model_id: modelId, output_format: outputFormat, voice_settings: { ...dto?.voice_settings } };
  }

  synthesize(text: TtsText, config: EffectiveTtsConfig, signal: AbortSignal, onMark?: TextMarkListener): TtsAudio {
    const format = parseAudioFormat(config.output_format) as AudioFormat;
    const chunks = typeof text === 'string' ? this.marked(this.stream(text, config, signal), text, format, onMark) : this.unitsAudio(text, config, format, signal, onMark);
    return { format, streaming: format.codec !== 'mp3', chunks };
  }

  /**
   * A reply still being written: one streaming HTTP request per unit (sentence or clause), each with
   * `previous_text` (the reply spoken so far) and, when already known, `next_text`, so prosody flows
   * across units. Chosen over the stream-input WebSocket because: the units are already segmented
   * here (the WebSocket would buffer text again behind its own chunk schedule, adding latency unless
   * every unit is flushed); each request keeps this provider's retry rules unchanged (a unit is retried
   * only before its first audio byte, never on auth or quota, so no audio is ever duplicated); a
   * failure costs one unit, not the connection's state; and the emulator and SDK already speak it.
   * The cost is one time-to-first-byte per unit, hidden from the listener because synthesis runs
   * faster than real time and the client plays from its buffer.
   */
  private async *unitsAudio(units: AsyncIterable<string>, config: EffectiveTtsConfig, format: AudioFormat, signal: AbortSignal, onMark?: TextMarkListener): AsyncGenerator<Buffer> {
    const queue: string[] = [];
    const iterator = units[Symbol.asyncIterator]();
    let ended = false;
    let reading: Promise<void> | undefined;
    // Reads ahead one unit when it is already there, for next_text; never waits for it.
    const readAhead = () => {
      reading ??= iterator.next().then((next) => {
        reading = undefined;
        if (next.done) ended = true;
        else queue.push(next.value);
      });
      return reading;
    };
    let spoken = '';
    let startMs = 0;
    try {
      for (;;) {
        if (queue.length === 0 && !ended) await readAhead();
        const text = queue.shift();
        if (text === undefined) return;
        if (!ended && queue.length === 0) await Promise.race([readAhead(), Promise.resolve()]);
        signal.throwIfAborted();
        if (!/[\p{L}\p{N}]/u.test(text)) continue;
        const context = { previousText: spoken.slice(-1000) || undefined, nextText: queue[0] };
        const bytes = yield* this.marked(this.stream(text, config, signal, context), text, format, onMark, startMs);
        startMs += (bytes * 1000) / audioBytesPerSecond(format);
        spoken = spoken ? `${spoken} ${text}` : text;
      }
    } finally {
      if (!ended) void iterator.return?.();
    }
  }

  /**
   * The request's audio, placing its text at `startMs` on the reply's timeline: a mark per aligned
   * word once its audio arrived, and one mark spanning the audio for text without alignment (all of
   * it on the plain route, known once the audio is complete). Returns the audio's length in bytes.
   */
  private async *marked(chunks: AsyncIterable<TimestampedChunk>, text: string, format: AudioFormat, onMark?: TextMarkListener, startMs = 0): AsyncGenerator<Buffer, number> {
    const marks = new AlignedMarks(text, startMs, onMark);
    const msPerByte = 1000 / audioBytesPerSecond(format);
    let bytes = 0;
    for await (const { audio, alignment } of chunks) {
      if (alignment) marks.add(alignment, bytes * msPerByte);
      if (audio.length === 0) continue;
      bytes += audio.length;
      marks.release(bytes * msPerByte);
      yield audio;
    }
    // No audio, nothing heard: an alignment without audio places no words.
    if (bytes > 0) marks.finish(bytes * msPerByte);
    return bytes;
  }

  /**
   * One request's audio (and, on the timestamps route, its alignment), retried until the first chunk
   * arrives.
   */
  private async *stream(
    text: string,
    config: EffectiveTtsConfig,
    signal: AbortSignal,
    context: { previousText?: string; nextText?: string } = {},
  ): AsyncGenerator<TimestampedChunk> {
    const client = this.client;
    if (!client) throw new VoiceError('provider_unavailable', 'The ElevenLabs TTS is not configured on this server.');
    const request: ElevenLabs.StreamTextToSpeechRequest = {
      text,
      ...(context.previousText ? { previousText: context.previousText } : {}),
      ...(context.nextText ? { nextText: context.nextText } : {}),
      modelId: config.model_id,
      outputFormat: config.output_format as ElevenLabs.TextToSpeechStreamRequestOutputFormat,
      voiceSettings: sdkVoiceSettings(config.voice_settings),
    };
    const open = async (abortSignal: AbortSignal): Promise<AsyncIterable<TimestampedChunk>> => {
      if (this.config.elevenlabs.ttsTimestamps) return timestampedChunks(await this.openWithTimestamps(config, request, abortSignal));
      return audioOnly(await client.textToSpeech.stream(config.voice_id, request, { abortSignal }));
    };
    const timeoutMs = this.config.elevenlabs.ttsTimeoutMs;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      // Aborts the attempt when audio does not start or go on within timeoutMs (a stalled upstream).
      // It only runs while waiting on ElevenLabs, not while the session sends what arrived.
      const stalled = new AbortController();
      const arm = () => setTimeout(() => stalled.abort(), timeoutMs);
      let watchdog = arm();
      let received = false;
      try {
        const chunks = await open(AbortSignal.any([signal, stalled.signal]));
        for await (const chunk of chunks) {
          clearTimeout(watchdog);
          received = true;
          yield chunk;
          watchdog = arm();
        }
        return;
      } catch (error) {
        signal.throwIfAborted();
        const failure = describeFailure(error, stalled.signal.aborted, timeoutMs);
        const delay = received ? undefined : retryDelay(failure, attempt, performance.now() - started);
        if (delay === undefined) {
          this.logger.warn(`ElevenLabs TTS failed after ${attempt} attempt(s): ${failure.cause}${received ? ' (mid-stream)' : ''}`);
          throw new VoiceError('tts_failed', `${failure.message}. The reply text was delivered in assistant.message.`);
        }
        this.logger.warn(`ElevenLabs TTS attempt ${attempt} failed: ${failure.cause}; retrying in ${Math.round(delay)} ms`);
        await sleep(delay, undefined, { signal });
        this.metrics?.upstreamRecovery('elevenlabs_tts', 'retry');
      } finally {
        clearTimeout(watchdog);
      }
    }
  }

  /**
   * `POST .../stream/with-timestamps` with the body the SDK sends to `/stream` (snake_case). A
   * non-2xx answer becomes the ElevenLabsError the SDK would throw, so it is retried or not alike.
   */
  private async openWithTimestamps(config: EffectiveTtsConfig, request: ElevenLabs.StreamTextToSpeechRequest, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const { apiKey, baseUrl } = this.config.elevenlabs;
    const url = `${baseUrl}/v1/text-to-speech/${encodeURIComponent(config.voice_id)}/stream/with-timestamps?output_format=${encodeURIComponent(config.output_format)}`;
    const body = {
      text: request.text,
      model_id: request.modelId,
      ...(request.previousText ? { previous_text: request.previousText } : {}),
      ...(request.nextText ? { next_text: request.nextText } : {}),
      ...(Object.keys(config.voice_settings).length > 0 ? { voice_settings: config.voice_settings } : {}),
    };
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'xi-api-key': apiKey ?? '', 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const rawResponse = { headers: response.headers, redirected: response.redirected, status: response.status, statusText: response.statusText, type: response.type, url: response.url };
    if (!response.ok || !response.body) {
      const text = await boundedText(response, MAX_ERROR_BODY_BYTES);
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text, as the SDK does
      }
      throw new ElevenLabsError({ message: `HTTP ${response.status}`, statusCode: response.status, body: parsed, rawResponse });
    }
    return response.body;
  }
}

async function* audioOnly(body: AsyncIterable<Uint8Array>): AsyncGenerator<TimestampedChunk> {
  for await (const piece of body) yield { audio: Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength) };
}

/** The start of a response body as text, reading no more than `maxBytes`. */
async function boundedText(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of response.body) {
    parts.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    size += piece.byteLength;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(parts).subarray(0, maxBytes).toString('utf8');
}

function sdkVoiceSettings(settings: VoiceSettings): ElevenLabs.VoiceSettings | undefined {
  if (Object.keys(settings).length === 0) return undefined;
  return {
    stability: settings.stability,
    similarityBoost: settings.similarity_boost,
    style: settings.style,
    useSpeakerBoost: settings.use_speaker_boost,
    speed: settings.speed,
  };
}

/** The wait before the next attempt, or undefined to give up (permanent error, retries or budget spent). */
function retryDelay(failure: AttemptFailure, attempt: number, elapsedMs: number): number | undefined {
  if (!failure.retryable || attempt > MAX_RETRIES) return undefined;
  const delay = failure.retryAfterMs ?? BACKOFF_BASE_MS * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4);
  return elapsedMs + delay <= RETRY_BUDGET_MS ? delay : undefined;
}

function describeFailure(error: unknown, stalled: boolean, timeoutMs: number): AttemptFailure {
  if (stalled) return { message: 'ElevenLabs sent no audio in time', cause: `no audio for ${timeoutMs} ms`, retryable: true };
  if (error instanceof TimestampsFormatError) {
    return { message: `ElevenLabs sent a response this server cannot read (${error.message})`, cause: `unreadable with-timestamps body: ${error.message}`, retryable: false };
  }
  if (!(error instanceof ElevenLabsError) || error.statusCode === undefined) {
    return { message: 'The connection to ElevenLabs failed', cause: 'connection failed or was cut', retryable: true };
  }
  const status = error.statusCode;
  const detail = (error.body as { detail?: { status?: unknown } } | undefined)?.detail?.status;
  const code = typeof detail === 'string' && UPSTREAM_CODE.test(detail) ? detail : undefined;
  const cause = `HTTP ${status}${code ? ` ${code}` : ''}`;
  const named = code ? ` (${code})` : '';
  if (code?.includes('quota')) return { message: `ElevenLabs refused the request: the account's quota is used up${named}`, cause, retryable: false };
  if (status === 429) return { message: 'ElevenLabs is rate-limiting this server', cause, retryable: true, retryAfterMs: retryAfterMs(error) };
  if (status >= 500) return { message: `ElevenLabs is unavailable (HTTP ${status})`, cause, retryable: true, retryAfterMs: retryAfterMs(error) };
  if (status === 401) return { message: `ElevenLabs refused the server's API key${named}`, cause, retryable: false };
  if (status === 403) return { message: `ElevenLabs does not allow this request for the server's account${named}`, cause, retryable: false };
  return { message: `ElevenLabs rejected the request (HTTP ${status})${named}; check tts.voice_id, tts.model_id and tts.output_format`, cause, retryable: false };
}

/** `Retry-After` in delta-seconds or as an HTTP date. */
function retryAfterMs(error: ElevenLabsError): number | undefined {
  const value = error.rawResponse?.headers.get('retry-after');
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}
