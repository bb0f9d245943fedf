import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import alawmulaw from 'alawmulaw';
import { FLITE_VOICES, FliteSynthesizer, isFliteVoice, SchedulerQueueFullError, splitSentences, SynthesisPacer, type FliteVoice } from '@app/engines';
import { parseAudioFormat, VoiceError, type AudioFormat, type TtsConfigDto } from '@app/protocol';
import { pcm16Samples } from '@app/audio';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { EffectiveTtsConfig, TextMarkListener, TtsAudio, TtsProvider, TtsProviderInfo, TtsText } from './tts-provider.js';

const OUTPUT_FORMATS = ['pcm_8000', 'pcm_16000', 'pcm_22050', 'pcm_24000', 'pcm_44100', 'pcm_48000', 'ulaw_8000'];
const MODEL_ID = 'flite';
/**
 * Audio a session may have synthesised at full speed before its synthesis is paced (seconds). Small:
 * at SYNTHESIS_MAX_SPEED a paced reply still arrives faster than it plays, with no gap.
 */
export const SYNTHESIS_BURST_SECONDS = 5;
/** Beyond the burst, a session's synthesis runs at most this many times faster than real time. */
export const SYNTHESIS_MAX_SPEED = 2;

/**
 * Embedded TTS: flite voices in worker threads, no network, no key. Replies are synthesised
 * unit by unit (FliteSynthesizer.speakUnits, one unit of look-ahead; the workers are shared fairly
 * between replies, see FairScheduler; after a burst of SYNTHESIS_BURST_SECONDS of audio a session's
 * synthesis is paced to SYNTHESIS_MAX_SPEED x real time, so a client that never reads, or asks
 * for reply after reply, cannot keep a worker busy), so the first audio leaves after
 * the first sentence is ready rather than the whole reply; a streamed reply's units are synthesised as
 * they arrive, and each unit's PCM follows the previous one's with no gap.
 */
@Injectable()
export class LocalTtsProvider implements TtsProvider, OnModuleInit, OnApplicationShutdown {
  readonly id = 'local' as const;
  private readonly logger = new Logger(LocalTtsProvider.name);
  private readonly synthesizer: FliteSynthesizer;
  /** One pacer per session, keyed by its EffectiveTtsConfig (resolveConfig runs once per session). */
  private readonly pacers = new WeakMap<EffectiveTtsConfig, SynthesisPacer>();
  private failure?: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, @Optional() metrics?: MetricsService) {
    this.synthesizer = new FliteSynthesizer({ threads: config.tts.workers, maxQueuedJobs: config.tts.maxQueuedUnits });
    metrics?.watchWorkerPool('tts', () => this.synthesizer.queueSize);
  }

  async onModuleInit(): Promise<void> {
    const started = performance.now();
    try {
      await this.synthesizer.warmUp();
      this.logger.log(`flite ready in ${this.synthesizer.threads} worker(s) after ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      this.failure = 'the embedded flite engine failed to start';
      this.logger.error(`${this.failure}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.synthesizer.close();
  }

  info(): TtsProviderInfo {
    return {
      id: this.id,
      available: this.failure === undefined,
      ...(this.failure ? { reason: this.failure } : {}),
      default_voice_id: this.config.tts.localVoice,
      default_model_id: MODEL_ID,
      voices: [...FLITE_VOICES],
      output_formats: OUTPUT_FORMATS,
      streaming: true,
    };
  }

  resolveConfig(dto: TtsConfigDto | undefined, defaultOutputFormat: string): EffectiveTtsConfig {
    const outputFormat = dto?.output_format ?? (OUTPUT_FORMATS.includes(defaultOutputFormat) ? defaultOutputFormat : 'pcm_24000');
    if (!OUTPUT_FORMATS.includes(outputFormat)) {
      throw new VoiceError(
        'unsupported_output_format',
        `tts.output_format "${outputFormat}" is not supported by the local TTS; use one of ${OUTPUT_FORMATS.join(', ')}.`,
      );
    }
    // Unknown voice ids (e.g. ElevenLabs ids from a production config) fall back to the default
    // local voice, so one frontend config works against both providers.
    const voice: FliteVoice = dto?.voice_id && isFliteVoice(dto.voice_id) ? dto.voice_id : this.config.tts.localVoice;
    return {
      provider: this.id,
      voice_id: voice,
      model_id: MODEL_ID,
      output_format: outputFormat,
      voice_settings: { ...dto?.voice_settings },
    };
  }

  synthesize(text: TtsText, config: EffectiveTtsConfig, signal: AbortSignal, onMark?: TextMarkListener): TtsAudio {
    const format = parseAudioFormat(config.output_format) as AudioFormat;
    const units = typeof text === 'string' ? splitSentences(text) : text;
    return { format, streaming: true, chunks: this.unitsAudio(units, config, format, signal, onMark) };
  }

  /** Each unit's audio in order; its mark spans that unit's samples on the reply's timeline. */
  private async *unitsAudio(
    units: Iterable<string> | AsyncIterable<string>,
    config: EffectiveTtsConfig,
    format: AudioFormat,
    signal: AbortSignal,
    onMark?: TextMarkListener,
  ): AsyncGenerator<Buffer> {
    if (this.failure) throw new VoiceError('provider_unavailable', 'The local TTS engine is not available.');
    const voice = { voice: config.voice_id as FliteVoice, sampleRate: format.sampleRate, speed: config.voice_settings.speed ?? 1 };
    let pacer = this.pacers.get(config);
    if (!pacer) {
      pacer = new SynthesisPacer({ burstSeconds: SYNTHESIS_BURST_SECONDS, speed: SYNTHESIS_MAX_SPEED });
      this.pacers.set(config, pacer);
    }
    let samples = 0;
    try {
      for await (const { text, pcm } of this.synthesizer.speakUnits(units, voice, signal, { pacer })) {
        const startMs = (samples * 1000) / format.sampleRate;
        samples += pcm.length / 2;
        onMark?.({ text, startMs, endMs: (samples * 1000) / format.sampleRate });
        yield format.codec === 'ulaw' ? Buffer.from(alawmulaw.mulaw.encode(pcm16Samples(pcm))) : pcm;
      }
    } catch (error) {
      if (error instanceof SchedulerQueueFullError) {
        throw new VoiceError(
          'tts_failed',
          `The embedded speech synthesiser is busy: ${error.limit} sentences are already waiting (TTS_MAX_QUEUED_UNITS), so this reply is not spoken; its text was delivered in assistant.message. Retry later.`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
