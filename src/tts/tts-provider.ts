import type { AudioFormat, ProviderId, TtsConfigDto } from '@app/protocol';

export interface VoiceSettings {
  stability?: number;
  similarity_boost?: number;
  style?: number;
  use_speaker_boost?: boolean;
  speed?: number;
}

/** A session's TTS settings after server defaults and provider checks. */
export interface EffectiveTtsConfig {
  provider: ProviderId;
  voice_id: string;
  model_id: string;
  output_format: string;
  voice_settings: VoiceSettings;
}

/** A piece of the reply text and where its speech is on the reply's audio timeline (ms from its first sample). */
export interface TextMark {
  text: string;
  startMs: number;
  endMs: number;
}

/** Audio of one reply as a provider produces it. */
export interface TtsAudio {
  format: AudioFormat;
  /** Raw formats stream chunk by chunk; compressed ones may arrive as one blob. */
  streaming: boolean;
  chunks: AsyncIterable<Buffer>;
  /**
   * Where the text is in the audio, filled in as chunks are produced (a mark covers audio already
   * yielded): what the user heard of an interrupted reply is read from it.
   */
  marks: TextMark[];
}

export interface ProviderStatus {
  available: boolean;
  /** Why not, when unavailable: safe to show (no secrets). */
  reason?: string;
}

export interface TtsProviderInfo extends ProviderStatus {
  id: ProviderId;
  default_voice_id: string;
  default_model_id: string;
  voices: string[];
  output_formats: string[];
  streaming: boolean;
}

/** Adapter for one speech synthesis engine or service. */
export interface TtsProvider {
  readonly id: ProviderId;
  info(): TtsProviderInfo;
  /** Applies defaults and checks the session's settings; throws VoiceError. */
  resolveConfig(dto: TtsConfigDto | undefined, defaultOutputFormat: string): EffectiveTtsConfig;
  /** Starts synthesis; audio is produced lazily and stops when `signal` aborts. */
  synthesize(text: string, config: EffectiveTtsConfig, signal: AbortSignal): TtsAudio;
}

export const TTS_PROVIDERS = Symbol('TTS_PROVIDERS');
