import 'reflect-metadata';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';
import { EMULATED_FORMATS } from '../output-formats.js';
import { unprocessable, validationProblems } from '../upstream-errors.js';

const toBool = ({ value }: { value: unknown }): unknown => (value === 'true' ? true : value === 'false' ? false : value);
const toInt = ({ value }: { value: unknown }): unknown => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value);

/** Query of `POST /v1/text-to-speech/{voice_id}/stream`. */
export class TextToSpeechQuery {
  @IsOptional() @IsIn([...EMULATED_FORMATS.keys()])
  output_format?: string;

  /** Deprecated upstream; accepted and ignored. */
  @Transform(toInt) @IsOptional() @Max(4) @Min(0) @IsInt()
  optimize_streaming_latency?: number;

  @Transform(toBool) @IsOptional() @IsBoolean()
  enable_logging?: boolean;
}

export class VoiceSettings {
  @IsOptional() @Max(1) @Min(0) @IsNumber()
  stability?: number;

  @IsOptional() @Max(1) @Min(0) @IsNumber()
  similarity_boost?: number;

  @IsOptional() @Max(1) @Min(0) @IsNumber()
  style?: number;

  @IsOptional() @IsBoolean()
  use_speaker_boost?: boolean;

  /** The sources disagree (0.7-1.2 for realtime, 0.25-4.0 for REST); the emulator accepts the wider range. */
  @IsOptional() @Max(4) @Min(0.25) @IsNumber()
  speed?: number;
}

export class PronunciationDictionaryLocator {
  @IsString()
  pronunciation_dictionary_id!: string;

  @IsOptional() @IsString()
  version_id?: string;
}

/**
 * Body of `POST /v1/text-to-speech/{voice_id}/stream`. Everything but `text` and `voice_settings.speed`
 * is validated as upstream does and otherwise ignored; unknown fields are ignored, as FastAPI does.
 */
export class TextToSpeechBody {
  @IsString()
  text!: string;

  @IsOptional() @IsString()
  model_id?: string;

  @IsOptional() @IsString()
  language_code?: string;

  @IsOptional() @ValidateNested() @Type(() => VoiceSettings)
  voice_settings?: VoiceSettings;

  @IsOptional() @ValidateNested({ each: true }) @ArrayMaxSize(3) @IsArray() @Type(() => PronunciationDictionaryLocator)
  pronunciation_dictionary_locators?: PronunciationDictionaryLocator[];

  @IsOptional() @Max(4_294_967_295) @Min(0) @IsInt()
  seed?: number;

  @IsOptional() @IsString()
  previous_text?: string;

  @IsOptional() @IsString()
  next_text?: string;

  @IsOptional() @IsString({ each: true }) @ArrayMaxSize(3) @IsArray()
  previous_request_ids?: string[];

  @IsOptional() @IsString({ each: true }) @ArrayMaxSize(3) @IsArray()
  next_request_ids?: string[];

  @IsOptional() @IsBoolean()
  use_pvc_as_ivc?: boolean;

  @IsOptional() @IsIn(['auto', 'on', 'off'])
  apply_text_normalization?: string;

  @IsOptional() @IsBoolean()
  apply_language_text_normalization?: boolean;
}

/** Validates query and body together, as FastAPI does, and throws its 422 listing every problem. */
export function parseTextToSpeechRequest(rawQuery: unknown, rawBody: unknown): { query: TextToSpeechQuery; body: TextToSpeechBody } {
  const query = validationProblems(TextToSpeechQuery, rawQuery, 'query');
  const body = validationProblems(TextToSpeechBody, rawBody, 'body');
  const problems = [...query.problems, ...body.problems];
  if (problems.length > 0) throw unprocessable(problems);
  return { query: query.value, body: body.value };
}
