import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { parseAudioFormat, STT_INPUT_FORMATS, VoiceError, type SttConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AppLogger } from '../logging/app-logger.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ElevenLabsSttStream, SCRIBE_MODEL_ID } from './elevenlabs-stt.stream.js';
import { resolveSttDefaults } from './stt-defaults.js';
import type { EffectiveSttConfig, SttProvider, SttProviderInfo, SttStream, SttStreamListener } from './stt-provider.js';

/** Ids of the local recogniser, which mean "the default" here, so one frontend config fits both providers. */
const LOCAL_MODEL_IDS = ['pocketsphinx-en-us'];

/**
 * ElevenLabs Scribe v2 Realtime, available when ELEVENLABS_API_KEY is set: one upstream WebSocket
 * per session, opened on configure (see ElevenLabsSttStream for the protocol, keep-alive and
 * reconnects).
 */
@Injectable()
export class ElevenLabsSttProvider implements SttProvider {
  readonly id = 'elevenlabs' as const;
  private readonly logger = new Logger(ElevenLabsSttProvider.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() private readonly appLogger?: AppLogger,
  ) {}

  info(): SttProviderInfo {
    const available = !!this.config.elevenlabs.apiKey;
    return {
      id: this.id,
      available,
      ...(available ? {} : { reason: 'ELEVENLABS_API_KEY is not set' }),
      models: [SCRIBE_MODEL_ID],
      input_formats: [...STT_INPUT_FORMATS],
    };
  }

  resolveConfig(dto: SttConfigDto | undefined): EffectiveSttConfig {
    const modelId = dto?.model_id && !LOCAL_MODEL_IDS.includes(dto.model_id) ? dto.model_id : SCRIBE_MODEL_ID;
    return resolveSttDefaults(this.id, dto, modelId);
  }

  open(sessionId: string, config: EffectiveSttConfig, listener: SttStreamListener): SttStream {
    const { apiKey, baseUrl } = this.config.elevenlabs;
    if (!apiKey) throw new VoiceError('stt_unavailable', 'ElevenLabs speech input is not configured on this server.');
    const format = parseAudioFormat(config.audio_format)!;
    return new ElevenLabsSttStream({ apiKey, baseUrl, sessionId, config, bytesPerSecond: format.sampleRate * (format.codec === 'pcm' ? 2 : 1), listener,
      logger: this.appLogger?.child({ context: ElevenLabsSttProvider.name, session_id: sessionId }) ?? this.logger,
      onReconnect: () => this.metrics?.upstreamRecovery('elevenlabs_stt', 'reconnect'),
    });
  }
}
