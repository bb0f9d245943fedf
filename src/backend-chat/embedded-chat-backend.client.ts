import { Inject, Injectable } from '@nestjs/common';
import { ChatEngine, ChatEngineError, isReplyStream, type ChatAnswer, type ChatRequest, type ChatStreamPiece, type RegisterRequest } from '@app/chat';
import { VoiceError } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { ChatBackendClient } from './chat-backend.client.js';

/**
 * The embedded default when no BACKEND_BASE_URL is set: the reference backend's engine running
 * in-process (deterministic local responder, or an OpenAI-compatible relay when registered so).
 * Any registration_id it did not issue is answered by the local responder.
 */
@Injectable()
export class EmbeddedChatBackendClient implements ChatBackendClient {
  readonly kind = 'embedded' as const;
  private readonly engine: ChatEngine;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.engine = new ChatEngine({ llmTimeoutMs: config.backend.timeoutMs, unknownRegistrations: 'local', localStreamMsPerWord: config.backend.localStreamMsPerWord });
  }

  async register(request: RegisterRequest): Promise<string> {
    try {
      return this.engine.register(request);
    } catch (error) {
      throw toVoiceError(error);
    }
  }

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatAnswer> {
    try {
      const answer = await this.engine.answer(request, signal, { stream: true });
      return isReplyStream(answer) ? { streaming: true, pieces: mapErrors(answer.pieces, signal) } : answer;
    } catch (error) {
      signal?.throwIfAborted();
      throw toVoiceError(error);
    }
  }

  async ping(): Promise<void> {}
}

async function* mapErrors(pieces: AsyncIterable<ChatStreamPiece>, signal?: AbortSignal): AsyncGenerator<ChatStreamPiece> {
  try {
    yield* pieces;
  } catch (error) {
    signal?.throwIfAborted();
    throw toVoiceError(error);
  }
}

function toVoiceError(error: unknown): VoiceError {
  if (!(error instanceof ChatEngineError)) return new VoiceError('backend_unavailable', 'The embedded chat backend failed.', { cause: error });
  switch (error.code) {
    case 'invalid_registration':
      return new VoiceError('registration_failed', `Registration refused: ${error.message}.`);
    case 'unknown_registration':
      return new VoiceError('unknown_registration', 'The chat backend does not know this registration_id.');
    case 'llm_failed':
      return new VoiceError('backend_unavailable', `The LLM behind the chat backend failed: ${error.message}.`);
  }
}
