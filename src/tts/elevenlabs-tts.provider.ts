import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { ElevenLabsClient, ElevenLabsError, type ElevenLabs } from '@elevenlabs/elevenlabs-js';
import { isFliteVoice } from '@app/engines';
import { parseAudioFormat, TTS_OUTPUT_FORMATS, VoiceError, type AudioFormat, type TtsConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { audioBytesPerSecond, type EffectiveTtsConfig, type TextMarkListener, type TtsAudio, type TtsProvider, type TtsText, type TtsProviderInfo, type VoiceSettings } from './tts-provider.js';

const MODEL_ID = 'eleven_flash_v2_5';
/** Retries after the first attempt, for 429s, 5xx, timeouts and lost connections before any audio. */
const MAX_RETRIES = 2;
/** No retry may start later than this after the first attempt did. */
const RETRY_BUDGET_MS = 5000;
const BACKOFF_BASE_MS = 300;
/** An upstream error code worth naming in messages (`voice_not_found`, `quota_exceeded`...). */
const UPSTREAM_CODE = /^[a-z0-9_+]{1,64}$/i;

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
        let bytes = 0;
        for await (const piece of this.stream(text, config, signal, context)) {
          bytes += piece.length;
          yield piece;
        }
        const endMs = startMs + (bytes * 1000) / audioBytesPerSecond(format);
        if (bytes > 0) onMark?.({ text, startMs, endMs });
        startMs = endMs;
        spoken = spoken ? `${spoken} ${text}` : text;
      }
    } finally {
      if (!ended) void iterator.return?.();
    }
  }

  /** One mark for the whole request's text, spanning its audio (known once the audio is complete). */
  private async *marked(audio: AsyncIterable<Buffer>, text: string, format: AudioFormat, onMark?: TextMarkListener, startMs = 0): AsyncGenerator<Buffer> {
    let bytes = 0;
    for await (const piece of audio) {
      bytes += piece.length;
      yield piece;
    }
    if (bytes > 0) onMark?.({ text, startMs, endMs: startMs + (bytes * 1000) / audioBytesPerSecond(format) });
  }

  private async *stream(
    text: string,
    config: EffectiveTtsConfig,
    signal: AbortSignal,
    context: { previousText?: string; nextText?: string } = {},
  ): AsyncGenerator<Buffer> {
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
        const body = await client.textToSpeech.stream(config.voice_id, request, { abortSignal: AbortSignal.any([signal, stalled.signal]) });
        for await (const piece of body) {
          clearTimeout(watchdog);
          received = true;
          yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
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
