import type { ProviderId, SttConfigDto, SttSessionConfig, TranscriptWord, VoiceError } from '@app/protocol';

/** A session's STT settings after server defaults (sent to the client in `stt.session_started`). */
export type EffectiveSttConfig = SttSessionConfig;

/** What a recognition stream reports back to its session. */
export interface SttStreamListener {
  started(info: { session_id: string; config: EffectiveSttConfig }): void;
  partial(text: string): void;
  /**
   * `trigger` says what ended the segment: the VAD, or the client's `audio.commit`. `words` come only
   * when the session asked for `include_timestamps`, timed on the session's own audio timeline.
   */
  committed(text: string, trigger: 'vad' | 'manual', words?: TranscriptWord[]): void;
  /** The user started speaking (for interruption handling). */
  speechStarted(): void;
  /** Local STT: milliseconds of the ongoing speech, reported while it goes on. */
  speechProgress?(ms: number): void;
  failed(error: VoiceError): void;
}

/** One session's live recognition stream. */
export interface SttStream {
  /** Audio at the session's `sample_rate`, in its `audio_format` (PCM16LE or mu-law bytes). */
  push(audio: Buffer, previousText?: string): void;
  /** Ends the current segment (manual commit). */
  commit(): void;
  close(): void;
  /**
   * Recognisers that queue audio (the embedded engine): seconds of pushed audio not recognised yet,
   * and a wait until at most `seconds` are left (called at once if already so, or when the stream
   * fails). The session pauses reading its socket while the backlog is over STT_MAX_BACKLOG_SECONDS.
   */
  backlog?: { seconds(): number; whenAtMost(seconds: number, callback: () => void): void };
}

export interface SttProviderInfo {
  id: ProviderId;
  available: boolean;
  reason?: string;
  models: string[];
  input_formats: string[];
}

export interface SttProvider {
  readonly id: ProviderId;
  info(): SttProviderInfo;
  resolveConfig(dto: SttConfigDto | undefined): EffectiveSttConfig;
  open(sessionId: string, config: EffectiveSttConfig, listener: SttStreamListener): SttStream;
}

export const STT_PROVIDERS = Symbol('STT_PROVIDERS');
