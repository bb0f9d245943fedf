import { parseAudioFormat, STT_DEFAULTS, VoiceError, type ProviderId, type SttConfigDto } from '@app/protocol';
import type { EffectiveSttConfig } from './stt-provider.js';

/**
 * Fills a session's `stt` section with the contract defaults (the ElevenLabs Scribe realtime
 * defaults) and reconciles `sample_rate` with `audio_format`.
 */
export function resolveSttDefaults(provider: ProviderId, dto: SttConfigDto | undefined, defaultModel: string): EffectiveSttConfig {
  const audioFormat = dto?.audio_format ?? (dto?.sample_rate !== undefined ? `pcm_${dto.sample_rate}` : STT_DEFAULTS.audio_format);
  const format = parseAudioFormat(audioFormat)!;
  if (dto?.sample_rate !== undefined && dto.sample_rate !== format.sampleRate) {
    throw new VoiceError('invalid_message', `stt.sample_rate ${dto.sample_rate} does not match stt.audio_format ${audioFormat}.`);
  }
  return {
    provider,
    model_id: dto?.model_id ?? defaultModel,
    audio_format: audioFormat,
    sample_rate: format.sampleRate,
    language_code: dto?.language_code ?? STT_DEFAULTS.language_code,
    commit_strategy: dto?.commit_strategy ?? STT_DEFAULTS.commit_strategy,
    vad_threshold: dto?.vad_threshold ?? STT_DEFAULTS.vad_threshold,
    vad_silence_threshold_secs: dto?.vad_silence_threshold_secs ?? STT_DEFAULTS.vad_silence_threshold_secs,
    min_speech_duration_ms: dto?.min_speech_duration_ms ?? STT_DEFAULTS.min_speech_duration_ms,
    min_silence_duration_ms: dto?.min_silence_duration_ms ?? STT_DEFAULTS.min_silence_duration_ms,
    include_timestamps: dto?.include_timestamps ?? STT_DEFAULTS.include_timestamps,
  };
}
