import type { ChatReply, ChatRequest, RegisterRequest } from '@app/chat';

/**
 * Adapter for the customer's chat backend. Implementations throw VoiceError with codes
 * `registration_failed`, `unknown_registration`, `backend_unavailable`, `backend_timeout` or
 * `backend_bad_response`; messages never carry secrets, upstream URLs or bodies.
 */
export interface ChatBackendClient {
  readonly kind: 'http' | 'embedded';
  register(request: RegisterRequest, signal?: AbortSignal): Promise<string>;
  chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatReply>;
  /** Resolves when the backend is reachable. */
  ping(signal?: AbortSignal): Promise<void>;
}

export const CHAT_BACKEND_CLIENT = Symbol('CHAT_BACKEND_CLIENT');
