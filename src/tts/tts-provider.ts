import { rawBytesPerSecond, type AudioFormat, type ProviderId, type TtsConfigDto } from '@app/protocol';

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

/**
 * Places a piece of reply text on the reply's audio timeline: milliseconds from the start of the
 * reply's audio (as sent to the client) where the text's speech starts and ends.
 */
export interface TextMark {
  text: string;
  startMs: number;
  endMs: number;
}

/** Called with each piece of text once its audio is known, in audio order. */
export type TextMarkListener = (mark: TextMark) => void;

/**
 * What to speak: a whole reply, or the units (sentences or clauses) of a reply still being written,
 * as they complete (see SentenceStream).
 */
export type TtsText = string | AsyncIterable<string>;

/** Audio of one reply as a provider produces it. */
export interface TtsAudio {
  format: AudioFormat;
  /** Raw formats stream chunk by chunk; compressed ones may arrive as one blob. */
  streaming: boolean;
  chunks: AsyncIterable<Buffer>;
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
  /**
   * Starts synthesis; audio is produced lazily and stops when `signal` aborts. `onMark` learns where
   * each synthesised piece of text lies on the audio timeline (as finely as the provider knows).
   */
  synthesize(text: TtsText, config: EffectiveTtsConfig, signal: AbortSignal, onMark?: TextMarkListener): TtsAudio;
}

export const TTS_PROVIDERS = Symbol('TTS_PROVIDERS');

/** Bytes per second of audio in `format`: exact for raw formats, from the nominal bitrate for MP3. */
export function audioBytesPerSecond(format: AudioFormat): number {
  const raw = rawBytesPerSecond(format);
  if (raw !== undefined) return raw;
  const kbps = Number(/_(\d+)$/.exec(format.name)?.[1] ?? 128);
  return (kbps * 1000) / 8;
}
