import type { ChatAnswer, ChatRequest, RegisterRequest } from '@app/chat';

/**
 * Adapter for the customer's chat backend. Implementations throw VoiceError with codes
 * `registration_failed`, `unknown_registration`, `backend_unavailable`, `backend_timeout` or
 * `backend_bad_response`; messages never carry secrets, upstream URLs or bodies. `chat` answers a
 * whole reply or a stream (whose iteration throws VoiceError with those codes, `backend_error` or
 * `reply_too_large`).
 */
export interface ChatBackendClient {
  readonly kind: 'http' | 'embedded';
  register(request: RegisterRequest, signal?: AbortSignal): Promise<string>;
  chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatAnswer>;
  /** Resolves when the backend is reachable. */
  ping(signal?: AbortSignal): Promise<void>;
}

export const CHAT_BACKEND_CLIENT = Symbol('CHAT_BACKEND_CLIENT');
