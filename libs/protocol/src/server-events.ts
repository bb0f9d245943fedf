import 'reflect-metadata';
import { Type } from 'class-transformer';
import { Equals, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsObject, IsString, Max, Min, ValidateNested } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { AUDIO_CONTENT_TYPES, STT_INPUT_FORMATS, STT_SAMPLE_RATES, TTS_OUTPUT_FORMATS } from './audio-formats.js';
import { COMMIT_STRATEGIES, PROVIDER_IDS, type CommitStrategy, type ProviderId } from './client-messages.js';
import { BASE64, Nested, Optional } from './decorators.js';
import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import { STT_RANGES } from './limits.js';
import { checkContract } from './validation.js';

/**
 * Server -> client events. Every event is a JSON object with `type`; names and fields are the
 * contract. These classes are the single definition: the TypeScript types below and the JSON
 * Schemas of /asyncapi.json both derive from them. The server only builds plain objects of these
 * shapes; it never instantiates the classes.
 */

export const INTERRUPTION_REASONS = ['user_speech', 'client_cancel'] as const;
export type InterruptionReason = (typeof INTERRUPTION_REASONS)[number];
export const TURN_OUTCOMES = ['completed', 'interrupted', 'failed'] as const;
export type TurnOutcome = (typeof TURN_OUTCOMES)[number];

const { vad_threshold, vad_silence_threshold_secs, min_speech_duration_ms, min_silence_duration_ms } = STT_RANGES;
const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

@JSONSchema({ description: 'Sent once, as soon as the socket opens. Answer with `session.configure`.' })
export class SessionReadyEvent {
  @Equals('session.ready') type!: 'session.ready';
  @IsString() message!: string;
}

@JSONSchema({ description: '`session.configure` was accepted; prompts and audio are taken from now on.' })
export class SessionConfiguredEvent {
  @Equals('session.configured') type!: 'session.configured';
  @IsString() @JSONSchema({ description: 'The `session_id` sent, or a generated UUID.' }) session_id!: string;
}

@JSONSchema({ description: "A session's effective speech recognition settings: every `stt` field with its default filled in." })
export class SttSessionConfig {
  @IsIn(PROVIDER_IDS) provider!: ProviderId;
  @IsString() model_id!: string;
  @IsIn(STT_INPUT_FORMATS) audio_format!: string;
  @IsIn(STT_SAMPLE_RATES) sample_rate!: number;
  @IsString() language_code!: string;
  @IsIn(COMMIT_STRATEGIES) commit_strategy!: CommitStrategy;
  @IsNumber() @Min(vad_threshold.min) @Max(vad_threshold.max) vad_threshold!: number;
  @IsNumber() @Min(vad_silence_threshold_secs.min) @Max(vad_silence_threshold_secs.max) vad_silence_threshold_secs!: number;
  @IsInt() @Min(min_speech_duration_ms.min) @Max(min_speech_duration_ms.max) min_speech_duration_ms!: number;
  @IsInt() @Min(min_silence_duration_ms.min) @Max(min_silence_duration_ms.max) min_silence_duration_ms!: number;
  @IsBoolean() include_timestamps!: boolean;
}

@JSONSchema({ description: 'Follows `session.configured` when speech recognition is available: audio is taken from now on.' })
export class SttSessionStartedEvent {
  @Equals('stt.session_started') type!: 'stt.session_started';
  @IsString() session_id!: string;
  @Nested(() => SttSessionConfig) config!: SttSessionConfig;
}

@JSONSchema({ description: 'The live transcript of the current user turn, at most every ~300 ms while speech is recognised; each replaces the last.' })
export class TranscriptPartialEvent {
  @Equals('transcript.partial') type!: 'transcript.partial';
  @IsString() text!: string;
}

@JSONSchema({ description: 'A recognised word and when it was spoken, in seconds from the start of the audio the session has sent.' })
export class TranscriptWord {
  @IsString() text!: string;
  @IsNumber() @Min(0) start!: number;
  @IsNumber() @Min(0) end!: number;
}

@JSONSchema({ description: 'End of a user turn. Non-empty text starts an assistant turn; empty text (only after `audio.commit`) starts none.' })
export class TranscriptCommittedEvent {
  @Equals('transcript.committed') type!: 'transcript.committed';
  @IsString() text!: string;
  @Optional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => TranscriptWord)
  @JSONSchema({ description: 'Only when `stt.include_timestamps` is true: the words of `text` with their times.' })
  words?: TranscriptWord[];

  @Optional() @IsInt() @Min(1)
  @JSONSchema({ description: 'Present when this transcript starts an assistant turn: that turn\'s `turn_id`.' })
  turn_id?: number;
}

@JSONSchema({
  description:
    'The user started speaking (local STT: the VAD heard speech; ElevenLabs: the first partial of a turn). Sent at once, before any interruption, so a UI can react; speech may still turn out to be noise or a backchannel.',
})
export class UserSpeechStartedEvent {
  @Equals('user.speech_started') type!: 'user.speech_started';
}

@JSONSchema({ description: 'An assistant turn begins.' })
export class AssistantStartedEvent {
  @Equals('assistant.started') type!: 'assistant.started';
  @IsString() @JSONSchema({ description: 'The user text this turn answers.' }) text!: string;
  @IsInt() @Min(1) @JSONSchema({ description: 'Counts assistant turns from 1 within the session; the same number as the turn\'s other events.' }) turn_id!: number;
}

@JSONSchema({
  description:
    'The whole reply text, once per turn. From a JSON backend it comes before the audio; from a streaming backend it comes when the reply is complete (so it may follow `assistant.audio.start` and chunks), after the `assistant.message.delta` events whose texts it concatenates. After a failed stream it carries the text received so far, followed by an `error`.',
})
export class AssistantMessageEvent {
  @Equals('assistant.message') type!: 'assistant.message';
  @IsString() text!: string;
  @IsObject() @JSONSchema({ description: "The chat backend's metadata object (may be empty)." }) metadata!: Record<string, unknown>;
  @IsInt() @Min(1) turn_id!: number;
}

@JSONSchema({ description: 'A piece of reply text as a streaming chat backend writes it (streaming backends only). The pieces of a turn, joined, are its `assistant.message.text`.' })
export class AssistantMessageDeltaEvent {
  @Equals('assistant.message.delta') type!: 'assistant.message.delta';
  @IsInt() @Min(1) turn_id!: number;
  @IsString() text!: string;
}

@JSONSchema({
  description:
    'The turn was stopped before its audio finished playing: stop its playback at once and drop its buffered audio. No more events of this turn follow except `turn.metrics`.',
})
export class AssistantInterruptedEvent {
  @Equals('assistant.interrupted') type!: 'assistant.interrupted';
  @IsInt() @Min(1) turn_id!: number;
  @IsIn(INTERRUPTION_REASONS)
  @JSONSchema({ description: '`user_speech`: the user spoke over the assistant; `client_cancel`: the client sent `assistant.cancel`.' })
  reason!: InterruptionReason;
  @IsInt() @Min(0) @JSONSchema({ description: 'Milliseconds of the turn\'s audio played when it stopped (reported by the client, else estimated).' }) played_ms!: number;
  @IsString() @JSONSchema({ description: 'The part of the reply the user heard, cut at a word boundary; the conversation history keeps only this.' }) heard_text!: string;
}

@JSONSchema({ description: 'Streamed reply audio begins.' })
export class AssistantAudioStartEvent {
  @Equals('assistant.audio.start') type!: 'assistant.audio.start';
  @IsInt() @Min(1) @JSONSchema({ description: 'Counts assistant turns from 1 within the session.' }) turn_id!: number;
  @IsIn(AUDIO_CONTENT_TYPES) content_type!: string;
  @IsIn(TTS_OUTPUT_FORMATS) output_format!: string;
}

@JSONSchema({ description: 'One piece of reply audio (160 ms by default, the last may be shorter). Play the chunks back to back.' })
export class AssistantAudioChunkEvent {
  @Equals('assistant.audio.chunk') type!: 'assistant.audio.chunk';
  @IsInt() @Min(1) turn_id!: number;
  @IsString() @JSONSchema({ description: 'Base64 audio in `output_format`.', ...BASE64 }) audio!: string;
  @IsIn(AUDIO_CONTENT_TYPES) content_type!: string;
  @IsIn(TTS_OUTPUT_FORMATS) output_format!: string;
  @IsInt() @Min(1) @JSONSchema({ description: 'Runs 1, 2, 3... within the turn.' }) chunk_index!: number;
}

@JSONSchema({ description: 'Streamed reply audio is done (also after a synthesis failure, with the chunks sent so far).' })
export class AssistantAudioEndEvent {
  @Equals('assistant.audio.end') type!: 'assistant.audio.end';
  @IsInt() @Min(1) turn_id!: number;
  @IsIn(AUDIO_CONTENT_TYPES) content_type!: string;
  @IsIn(TTS_OUTPUT_FORMATS) output_format!: string;
  @IsInt() @Min(0) chunk_count!: number;
}

@JSONSchema({ description: 'The whole reply as one blob, from providers that cannot stream (e.g. MP3).' })
export class AssistantAudioEvent {
  @Equals('assistant.audio') type!: 'assistant.audio';
  @IsString() @JSONSchema({ description: 'Base64 audio in `output_format`.', ...BASE64 }) audio!: string;
  @IsIn(AUDIO_CONTENT_TYPES) content_type!: string;
  @IsIn(TTS_OUTPUT_FORMATS) output_format!: string;
}

@JSONSchema({
  description:
    'Timings of a turn that ended, in milliseconds; a stage that did not happen is left out. Sent after the turn\'s last other event.',
})
export class TurnMetricsEvent {
  @Equals('turn.metrics') type!: 'turn.metrics';
  @IsInt() @Min(1) turn_id!: number;
  @IsIn(TURN_OUTCOMES) outcome!: TurnOutcome;
  @Optional() @IsNumber() @Min(0)
  @JSONSchema({ description: 'Spoken turns: end of the user\'s speech to `transcript.committed`.' })
  end_of_speech_to_commit_ms?: number;
  @Optional() @IsNumber() @Min(0)
  @JSONSchema({ description: 'Chat request sent to the first byte of its reply.' })
  backend_first_byte_ms?: number;
  @Optional() @IsNumber() @Min(0)
  @JSONSchema({ description: 'Chat request sent to the reply complete.' })
  backend_complete_ms?: number;
  @Optional() @IsNumber() @Min(0)
  @JSONSchema({ description: 'First text handed to speech synthesis to its first audio.' })
  tts_first_audio_ms?: number;
  @Optional() @IsNumber() @Min(0)
  @JSONSchema({ description: 'End of the user\'s speech (or `text.prompt` received) to the first audio chunk sent.' })
  user_to_first_audio_ms?: number;
}

@JSONSchema({ description: 'Something failed; the session stays usable.' })
export class ErrorEvent {
  @Equals('error') type!: 'error';
  @IsString() @JSONSchema({ description: 'For people: safe to show.' }) message!: string;
  @IsIn(ERROR_CODE_LIST)
  @JSONSchema({ description: `Stable code to branch on:\n${ERROR_CODE_LIST.map((code) => `- \`${code}\`: ${ERROR_CODES[code]}`).join('\n')}` })
  code!: ErrorCode;
}

/** Every server event type and the class that defines it. */
export const SERVER_EVENTS = {
  'session.ready': SessionReadyEvent,
  'session.configured': SessionConfiguredEvent,
  'stt.session_started': SttSessionStartedEvent,
  'transcript.partial': TranscriptPartialEvent,
  'transcript.committed': TranscriptCommittedEvent,
  'user.speech_started': UserSpeechStartedEvent,
  'assistant.started': AssistantStartedEvent,
  'assistant.message.delta': AssistantMessageDeltaEvent,
  'assistant.message': AssistantMessageEvent,
  'assistant.audio.start': AssistantAudioStartEvent,
  'assistant.audio.chunk': AssistantAudioChunkEvent,
  'assistant.audio.end': AssistantAudioEndEvent,
  'assistant.audio': AssistantAudioEvent,
  'assistant.interrupted': AssistantInterruptedEvent,
  'turn.metrics': TurnMetricsEvent,
  error: ErrorEvent,
} as const;

export type ServerEventType = keyof typeof SERVER_EVENTS;
export type ServerEvent = InstanceType<(typeof SERVER_EVENTS)[ServerEventType]>;
export type ServerEventOf<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;

export function isServerEventType(value: unknown): value is ServerEventType {
  return typeof value === 'string' && Object.hasOwn(SERVER_EVENTS, value);
}

/**
 * Checks a parsed server event against its class, as a strict client would (tests run every event
 * they receive through it). Throws an Error naming the problems.
 */
export function validateServerEvent(raw: unknown): ServerEvent {
  const type = (raw as { type?: unknown } | null)?.type;
  if (!isServerEventType(type)) throw new Error(`unknown server event type ${JSON.stringify(type)}`);
  const { problems } = checkContract(SERVER_EVENTS[type] as new () => object, raw);
  if (problems) throw new Error(`${type} breaks the contract: ${problems}`);
  return raw as ServerEvent;
}
