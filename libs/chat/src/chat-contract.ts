/**
 * The chat backend contract the voice layer speaks (documented in README.md):
 *   POST /v1/register {provider, api_key, model, base_url, system_prompt} -> {registration_id}
 *   POST /v1/chat {registration_id, session_id, message, interrupted?} -> {response, metadata?}
 */
export interface RegisterRequest {
  provider: string;
  api_key?: string;
  model?: string;
  base_url?: string;
  system_prompt?: string;
}

export interface RegisterResponse {
  registration_id: string;
}

/**
 * Sent on the next `/v1/chat` call after the user interrupted the assistant: the interrupted turn's
 * user text, the reply generated so far, and the part of it the user heard (cut at a word boundary;
 * empty when nothing was heard). Backends that keep history should store `heard` as the assistant's
 * message instead of `reply` (and drop the reply when nothing was heard); others may ignore it.
 */
export interface InterruptedTurn {
  turn_id: number;
  message: string;
  reply: string;
  heard: string;
}

export interface ChatRequest {
  registration_id: string;
  session_id: string;
  message: string;
  interrupted?: InterruptedTurn;
}

export interface ChatResponse {
  response: string;
  metadata?: Record<string, unknown>;
}

export interface ChatReply {
  text: string;
  metadata: Record<string, unknown>;
}

/** Reply field names accepted from a backend, in order of preference. */
const REPLY_FIELDS = ['response', 'reply', 'text', 'message'] as const;

/** Reads a backend's chat answer; undefined when it carries no reply text. */
export function extractChatReply(body: unknown): ChatReply | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  const field = REPLY_FIELDS.find((name) => typeof record[name] === 'string');
  if (!field) return undefined;
  const metadata = record['metadata'];
  return {
    text: record[field] as string,
    metadata: typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {},
  };
}
