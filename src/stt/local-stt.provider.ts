import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { LOCAL_STT_DEBIAN_PACKAGES, LocalSttPool } from '@app/engines';
import { parseAudioFormat, STT_INPUT_FORMATS, VoiceError, type SttConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { resolveSttDefaults } from './stt-defaults.js';
import type { EffectiveSttConfig, SttProvider, SttProviderInfo, SttStream, SttStreamListener } from './stt-provider.js';

const MODEL_ID = 'pocketsphinx-en-us';
const LANGUAGES = ['en', 'eng', 'en-us', 'en_us'];

/**
 * Embedded speech recognition: Silero VAD and PocketSphinx (Debian packages) in worker threads.
 * When the packages are missing the service still starts and this provider reports why.
 */
@Injectable()
export class LocalSttProvider implements SttProvider, OnModuleInit, OnApplicationShutdown {
  readonly id = 'local' as const;
  private readonly logger = new Logger(LocalSttProvider.name);
  private pool?: LocalSttPool;
  private failure = 'starting';

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig, @Optional() metrics?: MetricsService) {
    metrics?.watchWorkerPool('stt', () => (this.pool && this.pool.threads > 0 ? this.pool.openStreams / this.pool.threads : 0));
    metrics?.watchSttBacklog(() => this.pool?.backlog() ?? { maxMs: 0, totalMs: 0 });
  }

  async onModuleInit(): Promise<void> {
    const started = performance.now();
    try {
      this.pool = await LocalSttPool.start({ threads: this.config.stt.workers, modelDir: this.config.stt.localModelDir });
      this.failure = '';
      this.logger.log(`local speech recognition ready in ${this.pool.threads} worker(s) after ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      this.failure = `local speech recognition needs the Debian packages ${LOCAL_STT_DEBIAN_PACKAGES.join(' ')} (apt-get install -y ${LOCAL_STT_DEBIAN_PACKAGES.join(' ')})`;
      this.logger.warn(`${this.failure}; speech input is off. ${error instanceof Error ? error.message : ''}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }

  info(): SttProviderInfo {
    return {
      id: this.id,
      available: !this.failure,
      ...(this.failure ? { reason: this.failure } : {}),
      models: [MODEL_ID],
      input_formats: [...STT_INPUT_FORMATS],
    };
  }

  resolveConfig(dto: SttConfigDto | undefined): EffectiveSttConfig {
    const config = resolveSttDefaults(this.id, dto, MODEL_ID);
    if (!LANGUAGES.includes(config.language_code.toLowerCase())) {
      throw new VoiceError('unsupported_language', `The local STT understands English only (stt.language_code "en"), not "${config.language_code}".`);
    }
    // Other providers' model ids (e.g. scribe_v2_realtime) map to the local model.
    return { ...config, model_id: MODEL_ID };
  }

  open(sessionId: string, config: EffectiveSttConfig, listener: SttStreamListener): SttStream {
    if (!this.pool) throw new VoiceError('stt_unavailable', `Speech input is not available: ${this.failure}.`);
    const format = parseAudioFormat(config.audio_format)!;
    const pool = this.pool;
    const stream = guardOpen(() => pool.openStream(
      {
        codec: format.codec === 'ulaw' ? 'ulaw' : 'pcm',
        sampleRate: format.sampleRate,
        commitStrategy: config.commit_strategy,
        vad: {
          vadThreshold: config.vad_threshold,
          vadSilenceThresholdSecs: config.vad_silence_threshold_secs,
          minSpeechDurationMs: config.min_speech_duration_ms,
          minSilenceDurationMs: config.min_silence_duration_ms,
        },
        words: config.include_timestamps,
      },
      {
        speechStart: () => listener.speechStarted(),
        speechProgress: (ms) => listener.speechProgress?.(ms),
        partial: (text) => listener.partial(text),
        committed: (text, reason, words) => listener.committed(text, reason, words),
        failed: (message) => {
          this.logger.error(`local STT stream failed: ${message}`);
          listener.failed(new VoiceError('stt_unavailable', 'Speech recognition failed for this session; reconnect to use speech input again.'));
        },
      },
    ));
    queueMicrotask(() => listener.started({ session_id: sessionId, config: { ...config } }));
    return {
      push: (audio) => stream.push(audio),
      commit: () => stream.commit(),
      close: () => stream.close(),
      backlog: {
        seconds: () => stream.backlogMs() / 1000,
        whenAtMost: (seconds, callback) => stream.whenBacklogAtMost(seconds * 1000, callback),
      },
    };
  }
}

/** A pool with no live worker (all died, replacements starting) refuses the stream with `stt_unavailable`. */
function guardOpen<T>(open: () => T): T {
  try {
    return open();
  } catch {
    throw new VoiceError('stt_unavailable', 'Speech recognition is restarting on this server; reconnect in a moment or use text.prompt.');
  }
}
