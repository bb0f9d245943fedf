import 'reflect-metadata';
import { Type, plainToInstance } from 'class-transformer';
import {
  Equals,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { STT_INPUT_FORMATS, STT_SAMPLE_RATES } from './audio-formats.js';
import { VoiceError } from './error-codes.js';
import {
  MAX_AUDIO_BASE64_CHARS,
  MAX_PREVIOUS_TEXT_CHARS,
  MAX_SESSION_ID_CHARS,
  MAX_SYSTEM_PROMPT_CHARS,
  MAX_TEXT_PROMPT_CHARS,
} from './limits.js';

/** Providers a session may ask for explicitly; the server default applies when absent. */
export const PROVIDER_IDS = ['local', 'elevenlabs'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];
export const COMMIT_STRATEGIES = ['vad', 'manual'] as const;
export type CommitStrategy = (typeof COMMIT_STRATEGIES)[number];

const FINITE = { allowNaN: false, allowInfinity: false } as const;
const ID_PATTERN = /^[A-Za-z0-9_.:@-]+$/;

export class BackendConfigDto {
  @IsOptional() @IsString() @Length(1, 200) @Matches(ID_PATTERN, { message: 'registration_id may use letters, digits and _ . : @ - only' })
  registration_id?: string;

  @IsOptional() @IsString() @Length(1, 64)
  provider?: string;

  @IsOptional() @IsString() @Length(1, 512)
  api_key?: string;

  @IsOptional() @IsString() @Length(1, 200)
  model?: string;

  @IsOptional() @IsString() @Length(1, 2048)
  base_url?: string;

  @IsOptional() @IsString() @MaxLength(MAX_SYSTEM_PROMPT_CHARS)
  system_prompt?: string;
}

export class SttConfigDto {
  @IsOptional() @IsIn(PROVIDER_IDS)
  provider?: ProviderId;

  @IsOptional() @IsString() @Length(1, 100)
  model_id?: string;

  @IsOptional() @IsIn(STT_SAMPLE_RATES)
  sample_rate?: number;

  @IsOptional() @IsIn(STT_INPUT_FORMATS)
  audio_format?: string;

  @IsOptional() @IsString() @Length(2, 16)
  language_code?: string;

  @IsOptional() @IsIn(COMMIT_STRATEGIES)
  commit_strategy?: CommitStrategy;

  @IsOptional() @IsNumber(FINITE) @Min(0.1) @Max(0.9)
  vad_threshold?: number;

  @IsOptional() @IsNumber(FINITE) @Min(0.3) @Max(3.0)
  vad_silence_threshold_secs?: number;

  @IsOptional() @IsInt() @Min(50) @Max(2000)
  min_speech_duration_ms?: number;

  @IsOptional() @IsInt() @Min(50) @Max(2000)
  min_silence_duration_ms?: number;

  @IsOptional() @IsBoolean()
  include_timestamps?: boolean;
}

export class VoiceSettingsDto {
  @IsOptional() @IsNumber(FINITE) @Min(0) @Max(1)
  stability?: number;

  @IsOptional() @IsNumber(FINITE) @Min(0) @Max(1)
  similarity_boost?: number;

  @IsOptional() @IsNumber(FINITE) @Min(0) @Max(1)
  style?: number;

  @IsOptional() @IsBoolean()
  use_speaker_boost?: boolean;

  @IsOptional() @IsNumber(FINITE) @Min(0.7) @Max(1.2)
  speed?: number;
}

export class TtsConfigDto {
  @IsOptional() @IsIn(PROVIDER_IDS)
  provider?: ProviderId;

  @IsOptional() @IsString() @Length(1, 100)
  voice_id?: string;

  @IsOptional() @IsString() @Length(1, 100)
  model_id?: string;

  @IsOptional() @IsString() @Length(1, 40)
  output_format?: string;

  @IsOptional() @ValidateNested() @Type(() => VoiceSettingsDto)
  voice_settings?: VoiceSettingsDto;
}

export class SessionConfigureMessage {
  @Equals('session.configure')
  type!: 'session.configure';

  @IsOptional() @IsString() @Length(1, MAX_SESSION_ID_CHARS) @Matches(ID_PATTERN, { message: 'session_id may use letters, digits and _ . : @ - only' })
  session_id?: string;

  @IsOptional() @ValidateNested() @Type(() => BackendConfigDto)
  backend?: BackendConfigDto;

  @IsOptional() @ValidateNested() @Type(() => SttConfigDto)
  stt?: SttConfigDto;

  @IsOptional() @ValidateNested() @Type(() => TtsConfigDto)
  tts?: TtsConfigDto;
}

export class AudioAppendMessage {
  @Equals('audio.append')
  type!: 'audio.append';

  /** Base64 PCM16LE mono (or mu-law bytes for `ulaw_8000`). Canonical base64 is checked on decode. */
  @IsString() @MinLength(1) @MaxLength(MAX_AUDIO_BASE64_CHARS)
  audio!: string;

  @IsOptional() @IsIn(STT_SAMPLE_RATES)
  sample_rate?: number;

  /** Context for the recognizer, accepted with the first chunk of a segment. */
  @IsOptional() @IsString() @MaxLength(MAX_PREVIOUS_TEXT_CHARS)
  previous_text?: string;
}

export class AudioCommitMessage {
  @Equals('audio.commit')
  type!: 'audio.commit';
}

export class TextPromptMessage {
  @Equals('text.prompt')
  type!: 'text.prompt';

  @IsString() @MinLength(1) @MaxLength(MAX_TEXT_PROMPT_CHARS) @Matches(/\S/, { message: 'text must not be blank' })
  text!: string;
}

/** The allow-list of client message types and the class that validates each. */
export const CLIENT_MESSAGES = {
  'session.configure': SessionConfigureMessage,
  'audio.append': AudioAppendMessage,
  'audio.commit': AudioCommitMessage,
  'text.prompt': TextPromptMessage,
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
  const cls = CLIENT_MESSAGES[type] as new () => InstanceType<(typeof CLIENT_MESSAGES)[T]>;
  const instance = plainToInstance(cls, raw);
  const errors = validateSync(instance as object, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    stopAtFirstError: true,
  });
  if (errors.length > 0) {
    throw new VoiceError('invalid_message', `${type}: ${formatValidationErrors(errors)}`);
  }
  return instance;
}

/** Flattens class-validator errors into `path: reason; path: reason`. */
export function formatValidationErrors(errors: ValidationError[], parent = ''): string {
  const parts: string[] = [];
  const walk = (list: ValidationError[], prefix: string): void => {
    for (const error of list) {
      const path = prefix ? `${prefix}.${error.property}` : error.property;
      for (const reason of Object.values(error.constraints ?? {})) {
        parts.push(reason.includes(error.property) ? reason.replace(error.property, path) : `${path}: ${reason}`);
      }
      if (error.children?.length) walk(error.children, path);
    }
  };
  walk(errors, parent);
  return parts.slice(0, 5).join('; ');
}
