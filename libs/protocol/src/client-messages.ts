import 'reflect-metadata';
import {
  ArrayMaxSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { STT_INPUT_FORMATS, STT_SAMPLE_RATES } from './audio-formats.js';
import { BASE64, Nested, Optional } from './decorators.js';
import { VoiceError } from './error-codes.js';
import { checkContract } from './validation.js';
import {
  INTERRUPTION_DEFAULTS,
  INTERRUPTION_RANGES,
  MAX_AUDIO_BASE64_CHARS,
  MAX_PLAYED_MS,
  MAX_PREVIOUS_TEXT_CHARS,
  MAX_SESSION_ID_CHARS,
  MAX_SYSTEM_PROMPT_CHARS,
  MAX_TEXT_PROMPT_CHARS,
  STT_DEFAULTS,
  STT_RANGES,
} from './limits.js';

/** Providers a session may ask for explicitly; the server default applies when absent. */
export const PROVIDER_IDS = ['local', 'elevenlabs'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];
export const COMMIT_STRATEGIES = ['vad', 'manual'] as const;
export type CommitStrategy = (typeof COMMIT_STRATEGIES)[number];

const FINITE = { allowNaN: false, allowInfinity: false } as const;
const ID_PATTERN = /^[A-Za-z0-9_.:@-]+$/;
const { vad_threshold, vad_silence_threshold_secs, min_speech_duration_ms, min_silence_duration_ms } = STT_RANGES;

@JSONSchema({ description: 'Which chat backend registration answers this session. Without it the server uses its own.' })
export class BackendConfigDto {
  @Optional() @IsString() @Length(1, 200) @Matches(ID_PATTERN, { message: 'registration_id may use letters, digits and _ . : @ - only' })
  @JSONSchema({ description: 'An existing registration; wins over the other fields. On the embedded backend any id works.' })
  registration_id?: string;

  @Optional() @IsString() @Length(1, 64)
  @JSONSchema({ description: 'LLM provider to register with, e.g. `openai` or `local`.' })
  provider?: string;

  @Optional() @IsString() @Length(1, 512)
  @JSONSchema({ description: 'Only if the server sets ALLOW_FRONTEND_BACKEND_AUTH=true; else `frontend_backend_auth_forbidden`.' })
  api_key?: string;

  @Optional() @IsString() @Length(1, 200)
  model?: string;

  @Optional() @IsString() @Length(1, 2048)
  @JSONSchema({ description: 'Only if the server sets ALLOW_FRONTEND_BACKEND_AUTH=true; else `frontend_backend_auth_forbidden`.' })
  base_url?: string;

  @Optional() @IsString() @MaxLength(MAX_SYSTEM_PROMPT_CHARS)
  system_prompt?: string;
}

@JSONSchema({ description: 'Speech recognition settings (ElevenLabs Scribe realtime names, ranges and defaults).' })
export class SttConfigDto {
  @Optional() @IsIn(PROVIDER_IDS)
  @JSONSchema({ description: 'Must be available (see GET /v1/voice/config); default: the server default.' })
  provider?: ProviderId;

  @Optional() @IsString() @Length(1, 100)
  @JSONSchema({ description: 'Default: the provider default.' })
  model_id?: string;

  @Optional() @IsIn(STT_SAMPLE_RATES)
  @JSONSchema({ description: 'Rate of the audio you send, in Hz; must match `audio_format` when both are given.', default: STT_DEFAULTS.sample_rate })
  sample_rate?: number;

  @Optional() @IsIn(STT_INPUT_FORMATS)
  @JSONSchema({ description: 'Encoding of the audio you send: PCM16LE mono, or 8-bit mu-law. Default: `pcm_<sample_rate>`.', default: STT_DEFAULTS.audio_format })
  audio_format?: string;

  @Optional() @IsString() @Length(2, 16)
  @JSONSchema({ description: 'The local recogniser speaks `en` only (else `unsupported_language`).', default: STT_DEFAULTS.language_code })
  language_code?: string;

  @Optional() @IsIn(COMMIT_STRATEGIES)
  @JSONSchema({ description: '`vad`: a pause ends the turn; `manual`: only `audio.commit` does.', default: STT_DEFAULTS.commit_strategy })
  commit_strategy?: CommitStrategy;

  @Optional() @IsNumber(FINITE) @Min(vad_threshold.min) @Max(vad_threshold.max)
  @JSONSchema({ description: 'Speech probability above which audio counts as speech.', default: STT_DEFAULTS.vad_threshold })
  vad_threshold?: number;

  @Optional() @IsNumber(FINITE) @Min(vad_silence_threshold_secs.min) @Max(vad_silence_threshold_secs.max)
  @JSONSchema({ description: 'Seconds of silence that end a turn (`vad` mode).', default: STT_DEFAULTS.vad_silence_threshold_secs })
  vad_silence_threshold_secs?: number;

  @Optional() @IsInt() @Min(min_speech_duration_ms.min) @Max(min_speech_duration_ms.max)
  @JSONSchema({ description: 'Shorter sounds are not speech.', default: STT_DEFAULTS.min_speech_duration_ms })
  min_speech_duration_ms?: number;

  @Optional() @IsInt() @Min(min_silence_duration_ms.min) @Max(min_silence_duration_ms.max)
  @JSONSchema({ description: 'Shorter gaps do not interrupt speech.', default: STT_DEFAULTS.min_silence_duration_ms })
  min_silence_duration_ms?: number;

  @Optional() @IsBoolean()
  @JSONSchema({ default: STT_DEFAULTS.include_timestamps })
  include_timestamps?: boolean;
}

@JSONSchema({ description: 'ElevenLabs voice settings; the local voice honours `speed`.' })
export class VoiceSettingsDto {
  @Optional() @IsNumber(FINITE) @Min(0) @Max(1)
  stability?: number;

  @Optional() @IsNumber(FINITE) @Min(0) @Max(1)
  similarity_boost?: number;

  @Optional() @IsNumber(FINITE) @Min(0) @Max(1)
  style?: number;

  @Optional() @IsBoolean()
  use_speaker_boost?: boolean;

  @Optional() @IsNumber(FINITE) @Min(0.7) @Max(1.2)
  speed?: number;
}

@JSONSchema({ description: 'Speech synthesis settings; defaults come from the server (see GET /v1/voice/config).' })
export class TtsConfigDto {
  @Optional() @IsIn(PROVIDER_IDS)
  @JSONSchema({ description: 'Must be available; default: ElevenLabs if configured, else `local`.' })
  provider?: ProviderId;

  @Optional() @IsString() @Length(1, 100)
  @JSONSchema({ description: 'Local voices: slt, awb, rms, kal16, kal; an unknown id on the local provider falls back to the server default voice.' })
  voice_id?: string;

  @Optional() @IsString() @Length(1, 100)
  model_id?: string;

  @Optional() @IsString() @Length(1, 40)
  @JSONSchema({ description: 'Reply audio format, e.g. `pcm_24000` (the usual default); one the provider lists, else `unsupported_output_format`.' })
  output_format?: string;

  @Optional() @Nested(() => VoiceSettingsDto)
  voice_settings?: VoiceSettingsDto;
}

@JSONSchema({
  description:
    'Barge-in: while the assistant is speaking (until its audio has finished playing on the client), user speech that passes these guards interrupts it.',
})
export class InterruptionConfigDto {
  @Optional() @IsBoolean()
  @JSONSchema({ description: '`false` keeps the assistant talking while the user speaks; the user turn waits in the queue.', default: INTERRUPTION_DEFAULTS.enabled })
  enabled?: boolean;

  @Optional() @IsInt() @Min(INTERRUPTION_RANGES.min_speech_ms.min) @Max(INTERRUPTION_RANGES.min_speech_ms.max)
  @JSONSchema({ description: 'Local STT: milliseconds of detected speech before it interrupts.', default: INTERRUPTION_DEFAULTS.min_speech_ms })
  min_speech_ms?: number;

  @Optional() @IsInt() @Min(INTERRUPTION_RANGES.min_words.min) @Max(INTERRUPTION_RANGES.min_words.max)
  @JSONSchema({ description: 'With more than 0, speech interrupts only once the live transcript holds this many words.', default: INTERRUPTION_DEFAULTS.min_words })
  min_words?: number;

  @Optional() @IsArray() @ArrayMaxSize(INTERRUPTION_RANGES.ignore_phrases.maxItems)
  @IsString({ each: true }) @Length(1, INTERRUPTION_RANGES.ignore_phrases.maxChars, { each: true })
  @JSONSchema({
    description: 'Backchannels: speech whose whole transcript is one of these (case and punctuation ignored) never interrupts and starts no turn while the assistant speaks. `[]` turns the list off.',
    default: [...INTERRUPTION_DEFAULTS.ignore_phrases],
  })
  ignore_phrases?: string[];
}

@JSONSchema({ description: 'First message of a session: every section is optional. Answered by `session.configured` (then `stt.session_started`) or `error`.' })
export class SessionConfigureMessage {
  @Equals('session.configure')
  type!: 'session.configure';

  @Optional() @IsString() @Length(1, MAX_SESSION_ID_CHARS) @Matches(ID_PATTERN, { message: 'session_id may use letters, digits and _ . : @ - only' })
  @JSONSchema({ description: 'Your id for the conversation, passed to the chat backend. Default: a generated UUID.' })
  session_id?: string;

  @Optional() @Nested(() => BackendConfigDto)
  backend?: BackendConfigDto;

  @Optional() @Nested(() => SttConfigDto)
  stt?: SttConfigDto;

  @Optional() @Nested(() => TtsConfigDto)
  tts?: TtsConfigDto;

  @Optional() @Nested(() => InterruptionConfigDto)
  interruption?: InterruptionConfigDto;
}

@JSONSchema({ description: 'A chunk of microphone audio as base64 (binary frames carry the same bytes without base64). 20 ms to 1 s per chunk; 100 ms is a good size.' })
export class AudioAppendMessage {
  @Equals('audio.append')
  type!: 'audio.append';

  /** Base64 PCM16LE mono (or mu-law bytes for `ulaw_8000`). Canonical base64 is checked on decode. */
  @IsString() @MinLength(1) @MaxLength(MAX_AUDIO_BASE64_CHARS)
  @JSONSchema({ description: 'Canonical base64 (RFC 4648, padded) of PCM16LE mono at the session rate, or mu-law bytes for `ulaw_8000`.', ...BASE64 })
  audio!: string;

  @Optional() @IsIn(STT_SAMPLE_RATES)
  @JSONSchema({ description: 'If given, must equal the session `stt.sample_rate` (else `sample_rate_mismatch`).' })
  sample_rate?: number;

  /** Context for the recognizer, accepted with the first chunk of a segment. */
  @Optional() @IsString() @MaxLength(MAX_PREVIOUS_TEXT_CHARS)
  @JSONSchema({ description: 'Context for the recogniser, taken with the first chunk of a turn.' })
  previous_text?: string;
}

@JSONSchema({ description: 'Ends the current user turn now (the only way in `manual` mode). With no speech, answered by an empty `transcript.committed`.' })
export class AudioCommitMessage {
  @Equals('audio.commit')
  type!: 'audio.commit';
}

@JSONSchema({ description: 'A typed user turn, answered like a spoken one. Dropped with `turn_queue_full` when too many turns wait.' })
export class TextPromptMessage {
  @Equals('text.prompt')
  type!: 'text.prompt';

  @IsString() @MinLength(1) @MaxLength(MAX_TEXT_PROMPT_CHARS) @Matches(/\S/, { message: 'text must not be blank' })
  @JSONSchema({ description: 'The user text; not blank.' })
  text!: string;
}

@JSONSchema({
  description:
    'How much of a turn\'s audio the client has actually played, in ms from its first sample. Send about every 250 ms while playing and at once when playback stops; the service uses it to decide when the turn has finished playing and what the user heard.',
})
export class AssistantAudioPlayedMessage {
  @Equals('assistant.audio.played')
  type!: 'assistant.audio.played';

  @IsInt() @Min(1)
  @JSONSchema({ description: 'The `turn_id` of the audio events played.' })
  turn_id!: number;

  @IsInt() @Min(0) @Max(MAX_PLAYED_MS)
  @JSONSchema({ description: 'Milliseconds of that turn\'s audio played so far.' })
  played_ms!: number;
}

@JSONSchema({ description: 'Stops the active assistant turn at once (a Stop button, push to talk), answered by `assistant.interrupted` with `reason: "client_cancel"`. Nothing happens when no turn is active.' })
export class AssistantCancelMessage {
  @Equals('assistant.cancel')
  type!: 'assistant.cancel';
}

/** The allow-list of client message types and the class that validates each. */
export const CLIENT_MESSAGES = {
  'session.configure': SessionConfigureMessage,
  'audio.append': AudioAppendMessage,
  'audio.commit': AudioCommitMessage,
  'text.prompt': TextPromptMessage,
  'assistant.audio.played': AssistantAudioPlayedMessage,
  'assistant.cancel': AssistantCancelMessage,
} as const;

export type ClientMessageType = keyof typeof CLIENT_MESSAGES;
export type ClientMessage = InstanceType<(typeof CLIENT_MESSAGES)[ClientMessageType]>;

export function isClientMessageType(value: unknown): value is ClientMessageType {
  return typeof value === 'string' && Object.hasOwn(CLIENT_MESSAGES, value);
}

/**
 * Validates a parsed client message synchronously (order of messages matters, so no async
 * validation): unknown fields are rejected, nested sections are checked, and the first problems
 * are reported with their paths. Throws VoiceError('invalid_message').
 */
export function validateClientMessage<T extends ClientMessageType>(
  type: T,
  raw: unknown,
): InstanceType<(typeof CLIENT_MESSAGES)[T]> {
  if (type === 'audio.append' && isPlainAudioAppend(raw)) return raw as InstanceType<(typeof CLIENT_MESSAGES)[T]>;
  const cls = CLIENT_MESSAGES[type] as new () => InstanceType<(typeof CLIENT_MESSAGES)[T]>;
  const { instance, problems } = checkContract(cls, raw);
  if (problems) throw new VoiceError('invalid_message', `${type}: ${problems}`);
  return instance;
}

const AUDIO_APPEND_FIELDS = new Set(['type', 'audio', 'sample_rate', 'previous_text']);
const SAMPLE_RATES: ReadonlySet<unknown> = new Set(STT_SAMPLE_RATES);

/**
 * Fast path for `audio.append`, the one message sent ten times a second per session: true only for
 * frames AudioAppendMessage certainly accepts (a plain object; `type`, a 1..MAX_AUDIO_BASE64_CHARS
 * string `audio` starting with a plain character, an optional listed `sample_rate`, an optional
 * `previous_text` of at most MAX_PREVIOUS_TEXT_CHARS UTF-16 units, nothing else). Anything else,
 * valid or not, goes through class-validator, so every error text stays the same; a property test
 * (protocol.test.ts) checks the two agree. Lengths are UTF-16 units, never fewer than the characters
 * class-validator counts (it counts a surrogate pair as one), so a string under the limit here is
 * under it there too. Measured (2-core dev box, load ~5, 50 000 frames of a 100 ms 16 kHz chunk):
 * plainToInstance + validateSync 10.9 µs per message, this fast path 0.25 µs; in the load harness's
 * profile the slow path was 6 % of the main thread at 200 sessions and 12 % at 500.
 */
export function isPlainAudioAppend(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) return false;
  const frame = raw as Record<string, unknown>;
  for (const key in frame) {
    if (!Object.hasOwn(frame, key) || !AUDIO_APPEND_FIELDS.has(key)) return false;
  }
  const { type, audio, sample_rate, previous_text } = frame;
  if (type !== 'audio.append' || typeof audio !== 'string') return false;
  // A first code unit below the surrogates is a character class-validator counts, so its length is >= 1.
  if (audio.length > MAX_AUDIO_BASE64_CHARS || audio.length === 0 || audio.charCodeAt(0) >= 0xd800) return false;
  if (sample_rate !== undefined && !SAMPLE_RATES.has(sample_rate)) return false;
  if (previous_text !== undefined && (typeof previous_text !== 'string' || previous_text.length > MAX_PREVIOUS_TEXT_CHARS)) return false;
  if (Object.hasOwn(frame, 'sample_rate') && sample_rate === undefined) return false;
  if (Object.hasOwn(frame, 'previous_text') && previous_text === undefined) return false;
  return true;
}
