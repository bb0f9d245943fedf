/** Query parameters of `GET /v1/speech-to-text/realtime`, with the real API's ranges and defaults. */
export interface RealtimeParams {
  model_id: string;
  audio_format: string;
  sample_rate: number;
  codec: 'pcm' | 'ulaw';
  language_code: string | null;
  commit_strategy: 'manual' | 'vad';
  vad_silence_threshold_secs: number;
  vad_threshold: number;
  min_speech_duration_ms: number;
  min_silence_duration_ms: number;
  include_timestamps: boolean;
  include_language_detection: boolean;
  enable_logging: boolean;
  no_verbatim: boolean;
  keyterms: string[];
}

const MODELS = ['scribe_v2_realtime', 'scribe_v2_realtime_turbo', 'scribe_v2_realtime_lite'];
const AUDIO_FORMATS = ['pcm_8000', 'pcm_16000', 'pcm_22050', 'pcm_24000', 'pcm_44100', 'pcm_48000', 'ulaw_8000'];

/** Thrown for a parameter the real API refuses (`invalid_request`, then close). */
export class InvalidRequest extends Error {}

function number(query: URLSearchParams, name: string, fallback: number, min: number, max: number, integer: boolean): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new InvalidRequest(`${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max} (got "${raw}")`);
  }
  return value;
}

function bool(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (raw !== 'true' && raw !== 'false') throw new InvalidRequest(`${name} must be true or false (got "${raw}")`);
  return raw === 'true';
}

/**
 * Reads and checks the query. Repeated parameters count by their first value (the Node SDK sends
 * `audio_format` twice); lower bounds are inclusive, as on the real API.
 */
export function parseRealtimeParams(query: URLSearchParams): RealtimeParams {
  const model = query.get('model_id');
  if (!model) throw new InvalidRequest('model_id is required');
  if (!MODELS.includes(model)) throw new InvalidRequest(`model_id "${model}" is not a realtime speech-to-text model`);
  const audioFormat = query.get('audio_format') ?? 'pcm_16000';
  if (!AUDIO_FORMATS.includes(audioFormat)) throw new InvalidRequest(`audio_format must be one of ${AUDIO_FORMATS.join(', ')} (got "${audioFormat}")`);
  const strategy = query.get('commit_strategy') ?? 'manual';
  if (strategy !== 'manual' && strategy !== 'vad') throw new InvalidRequest(`commit_strategy must be manual or vad (got "${strategy}")`);
  const keyterms = query.getAll('keyterms');
  if (keyterms.length > 50 || keyterms.some((term) => term.length > 20)) throw new InvalidRequest('keyterms: at most 50 terms of at most 20 characters');
  const language = query.get('language_code');
  if (language !== null && !/^[a-z]{2,3}([-_][a-z]{2,4})?$/i.test(language)) throw new InvalidRequest(`language_code "${language}" is not an ISO-639 code`);
  return {
    model_id: model,
    audio_format: audioFormat,
    sample_rate: Number(audioFormat.split('_')[1]),
    codec: audioFormat.startsWith('ulaw') ? 'ulaw' : 'pcm',
    language_code: language,
    commit_strategy: strategy,
    vad_silence_threshold_secs: number(query, 'vad_silence_threshold_secs', 1.5, 0.3, 3.0, false),
    vad_threshold: number(query, 'vad_threshold', 0.4, 0.1, 0.9, false),
    min_speech_duration_ms: number(query, 'min_speech_duration_ms', 100, 50, 2000, true),
    min_silence_duration_ms: number(query, 'min_silence_duration_ms', 100, 50, 2000, true),
    include_timestamps: bool(query, 'include_timestamps', false),
    include_language_detection: bool(query, 'include_language_detection', false),
    enable_logging: bool(query, 'enable_logging', true),
    no_verbatim: bool(query, 'no_verbatim', false),
    keyterms,
  };
}

/** The `config` object of `session_started` (both spellings of the commit strategy key, as the reference says). */
export function sessionConfig(params: RealtimeParams): Record<string, unknown> {
  return {
    sample_rate: params.sample_rate,
    audio_format: params.audio_format,
    language_code: params.language_code,
    commit_strategy: params.commit_strategy,
    vad_commit_strategy: params.commit_strategy,
    vad_silence_threshold_secs: params.vad_silence_threshold_secs,
    vad_threshold: params.vad_threshold,
    min_speech_duration_ms: params.min_speech_duration_ms,
    min_silence_duration_ms: params.min_silence_duration_ms,
    model_id: params.model_id,
    enable_logging: params.enable_logging,
    include_timestamps: params.include_timestamps,
    include_language_detection: params.include_language_detection,
    keyterms: params.keyterms,
    no_verbatim: params.no_verbatim,
  };
}
