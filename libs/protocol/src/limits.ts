/** Protocol limits shared by the service, its docs and its clients. */
export const PROTOCOL_VERSION = '1';
export const VOICE_WS_PATH = '/v1/voice/ws';
export const MAX_TEXT_PROMPT_CHARS = 4000;
export const MAX_SESSION_ID_CHARS = 128;
export const MAX_SYSTEM_PROMPT_CHARS = 8000;
export const MAX_PREVIOUS_TEXT_CHARS = 2000;
/** Largest decoded audio chunk (1 s of 48 kHz PCM16). */
export const MAX_AUDIO_CHUNK_BYTES = 96_000;
/** Base64 length of the largest chunk. */
export const MAX_AUDIO_BASE64_CHARS = Math.ceil(MAX_AUDIO_CHUNK_BYTES / 3) * 4;

/** Ranges of the `stt` settings (the ElevenLabs Scribe realtime ranges). */
export const STT_RANGES = {
  vad_threshold: { min: 0.1, max: 0.9 },
  vad_silence_threshold_secs: { min: 0.3, max: 3.0 },
  min_speech_duration_ms: { min: 50, max: 2000 },
  min_silence_duration_ms: { min: 50, max: 2000 },
} as const;

/** What a session's `stt` settings default to (the ElevenLabs Scribe realtime defaults). */
export const STT_DEFAULTS = {
  sample_rate: 16000,
  audio_format: 'pcm_16000',
  language_code: 'en',
  commit_strategy: 'vad',
  vad_threshold: 0.4,
  vad_silence_threshold_secs: 1.5,
  min_speech_duration_ms: 100,
  min_silence_duration_ms: 100,
  include_timestamps: false,
} as const;

/** Ranges of the `interruption` settings (barge-in). */
export const INTERRUPTION_RANGES = {
  min_speech_ms: { min: 0, max: 3000 },
  min_words: { min: 0, max: 10 },
  ignore_phrases: { maxItems: 50, maxChars: 60 },
} as const;

/** What a session's `interruption` settings default to. */
export const INTERRUPTION_DEFAULTS = {
  enabled: true,
  min_speech_ms: 300,
  min_words: 0,
  ignore_phrases: ['uh-huh', 'mm-hmm', 'yeah', 'okay', 'right'] as readonly string[],
} as const;

/** Largest `played_ms` a client may report (one hour of reply audio). */
export const MAX_PLAYED_MS = 3_600_000;
