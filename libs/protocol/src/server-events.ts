/** Server -> client events. Every event is a JSON object with `type`; names and fields are the contract. */

export interface SessionReadyEvent {
  type: 'session.ready';
  message: string;
}

export interface SessionConfiguredEvent {
  type: 'session.configured';
  session_id: string;
}

export interface SttSessionStartedEvent {
  type: 'stt.session_started';
  session_id: string;
  config: Record<string, unknown>;
}

export interface TranscriptPartialEvent {
  type: 'transcript.partial';
  text: string;
}

export interface TranscriptCommittedEvent {
  type: 'transcript.committed';
  text: string;
}

export interface AssistantStartedEvent {
  type: 'assistant.started';
  text: string;
}

export interface AssistantMessageEvent {
  type: 'assistant.message';
  text: string;
  metadata: Record<string, unknown>;
}

export interface AssistantAudioStartEvent {
  type: 'assistant.audio.start';
  turn_id: number;
  content_type: string;
  output_format: string;
}

export interface AssistantAudioChunkEvent {
  type: 'assistant.audio.chunk';
  turn_id: number;
  audio: string;
  content_type: string;
  output_format: string;
  chunk_index: number;
}

export interface AssistantAudioEndEvent {
  type: 'assistant.audio.end';
  turn_id: number;
  content_type: string;
  output_format: string;
  chunk_count: number;
}

/** The whole reply as one blob, for providers that cannot stream (e.g. MP3). */
export interface AssistantAudioEvent {
  type: 'assistant.audio';
  audio: string;
  content_type: string;
  output_format: string;
}

export interface ErrorEvent {
  type: 'error';
  message: string;
  code: string;
}

export type ServerEvent =
  | SessionReadyEvent
  | SessionConfiguredEvent
  | SttSessionStartedEvent
  | TranscriptPartialEvent
  | TranscriptCommittedEvent
  | AssistantStartedEvent
  | AssistantMessageEvent
  | AssistantAudioStartEvent
  | AssistantAudioChunkEvent
  | AssistantAudioEndEvent
  | AssistantAudioEvent
  | ErrorEvent;

export type ServerEventType = ServerEvent['type'];
export type ServerEventOf<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;
