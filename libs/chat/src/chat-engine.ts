import { createHash, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ChatReply, ChatRequest, InterruptedTurn, RegisterRequest } from './chat-contract.js';
import type { ChatAnswer, ChatStreamPiece } from './chat-stream.js';
import { localReply } from './local-responder.js';
import { CompletionError, createChatCompletion, streamChatCompletion, type ChatTurn, type CompletionRequest } from './openai-compatible.js';

/** Providers answered in-process by the deterministic local responder. */
export const LOCAL_PROVIDERS = ['local', 'echo'] as const;
/** Default API roots of providers that speak the OpenAI chat completions protocol. */
const KNOWN_BASE_URLS: Record<string, string> = {
  openai: 'https://api.openai.com/v1',
  groq: 'https://api.groq.com/openai/v1',
  mistral: 'https://api.mistral.ai/v1',
  openrouter: 'https://openrouter.ai/api/v1',
};
const HISTORY_TURNS = 20;
const MAX_SESSIONS = 10_000;
const MAX_REGISTRATIONS = 10_000;
/** Conversations idle this long are forgotten. */
const HISTORY_TTL_MS = 60 * 60 * 1000;

export type ChatEngineErrorCode = 'invalid_registration' | 'unknown_registration' | 'llm_failed';

export class ChatEngineError extends Error {
  constructor(
    readonly code: ChatEngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChatEngineError';
  }
}

interface Registration {
  id: string;
  provider: string;
  model: string;
  baseUrl?: string;
  apiKey?: string;
  systemPrompt?: string;
}

export interface ChatEngineOptions {
  llmTimeoutMs?: number;
  /**
   * What an unknown registration_id gets: `reject` (the HTTP contract: 404), or `local`, where it is
   * served by the local responder (the embedded default, so production frontend configs work offline).
   */
  unknownRegistrations?: 'reject' | 'local';
  /**
   * When a caller accepts a stream: the local responder writes its reply word by word, this many ms
   * per word. 0 (default): the local responder answers whole replies.
   */
  localStreamMsPerWord?: number;
  /** Most registrations and conversations kept (least recently used dropped first). */
  maxRegistrations?: number;
  maxConversations?: number;
  /** The HTTP client for an LLM base URL (undefined = global fetch), e.g. an SSRF-guarded one for client-chosen URLs. */
  fetchFor?: (baseUrl: string) => CompletionRequest['fetchImpl'];
}

/**
 * The reference chat backend's logic: registrations, per-session history, and replies from the
 * local responder or an OpenAI-compatible LLM. Served over HTTP by apps/reference-backend and
 * embedded in-process by the voice layer when no BACKEND_BASE_URL is set.
 */
export class ChatEngine {
  /** Bounded (LRU): a stream of unique identities cannot grow memory; a dropped id reads as unknown (404) and callers register again. */
  private readonly registrations: LRUCache<string, Registration>;
  /** Conversation histories, keyed by registration and session_id; LRU with an idle TTL. */
  private readonly histories: LRUCache<string, ChatTurn[]>;
  private readonly llmTimeoutMs: number;
  private readonly unknownRegistrations: 'reject' | 'local';
  private readonly localStreamMsPerWord: number;
  private readonly fetchFor?: ChatEngineOptions['fetchFor'];

  constructor(options: ChatEngineOptions = {}) {
    this.llmTimeoutMs = options.llmTimeoutMs ?? 60_000;
    this.unknownRegistrations = options.unknownRegistrations ?? 'reject';
    this.localStreamMsPerWord = options.localStreamMsPerWord ?? 0;
    this.fetchFor = options.fetchFor;
    this.registrations = new LRUCache({ max: options.maxRegistrations ?? MAX_REGISTRATIONS });
    this.histories = new LRUCache({ max: options.maxConversations ?? MAX_SESSIONS, ttl: HISTORY_TTL_MS, updateAgeOnGet: true });
  }

  /** Registrations made so far. */
  get registrationCount(): number {
    return this.registrations.size;
  }

  register(request: RegisterRequest): string {
    const provider = request.provider.trim().toLowerCase();
    const isLocal = (LOCAL_PROVIDERS as readonly string[]).includes(provider);
    const baseUrl = request.base_url ?? KNOWN_BASE_URLS[provider];
    if (!isLocal && !baseUrl) {
      throw new ChatEngineError('invalid_registration', `provider "${provider}" needs a base_url (an OpenAI-compatible API root)`);
    }
    if (baseUrl && !isLocal) assertHttpUrl(baseUrl);
    const id = `reg_${randomUUID()}`;
    this.registrations.set(id, {
      id,
      provider,
      model: request.model ?? (isLocal ? 'local-responder' : 'gpt-4o-mini'),
      ...(isLocal ? {} : { baseUrl, apiKey: request.api_key }),
      systemPrompt: request.system_prompt,
    });
    return id;
  }

  hasRegistration(id: string): boolean {
    return this.registrations.has(id);
  }

  /**
   * Answers one message as a stream when the caller accepts one and the reply is written over time
   * (an LLM relay, or the local responder with a streaming pace), else as a whole reply. History is
   * kept once the reply is complete.
   */
  async answer(request: ChatRequest, signal?: AbortSignal, options: { stream?: boolean } = {}): Promise<ChatAnswer> {
    const registration = this.registrations.get(request.registration_id) ?? this.fallbackRegistration(request.registration_id);
    const streamLocal = !registration.baseUrl && this.localStreamMsPerWord > 0;
    if (!options.stream || (!registration.baseUrl && !streamLocal)) return this.chat(request, signal);
    return { streaming: true, pieces: this.streamReply(registration, request, signal) };
  }

  private async *streamReply(registration: Registration, request: ChatRequest, signal?: AbortSignal): AsyncGenerator<ChatStreamPiece> {
    const historyKey = `${registration.id}\u0000${request.session_id}`;
    const history = rewriteInterrupted(this.histories.get(historyKey) ?? [], request.interrupted);
    if (request.interrupted) this.remember(historyKey, history);
    let text = '';
    let metadata: Record<string, unknown>;
    if (registration.baseUrl) {
      metadata = { provider: registration.provider, model: registration.model };
      try {
        const completion = streamChatCompletion({
          baseUrl: registration.baseUrl,
          apiKey: registration.apiKey,
          model: registration.model,
          messages: this.messages(registration, history, request.message),
          timeoutMs: this.llmTimeoutMs,
          signal,
          fetchImpl: this.fetchFor?.(registration.baseUrl),
        });
        for await (const piece of completion) {
          text += piece.delta ?? '';
          if (piece.metadata) metadata = { ...metadata, ...piece.metadata };
          if (piece.delta) yield { delta: piece.delta };
        }
      } catch (error) {
        signal?.throwIfAborted();
        // Only our own messages (status codes) reach the client, never upstream text.
        const own = error instanceof CompletionError || (error instanceof Error && error.name === 'UrlRefused');
        throw new ChatEngineError('llm_failed', own ? error.message : 'LLM request failed');
      }
    } else {
      metadata = { provider: registration.provider, model: registration.model };
      const words = localReply(request.message).split(/(?<=\s)/);
      for (const word of words) {
        await sleep(this.localStreamMsPerWord, signal);
        text += word;
        yield { delta: word };
      }
    }
    const updated = [...history, { role: 'user' as const, content: request.message }, { role: 'assistant' as const, content: text }];
    this.remember(historyKey, updated.slice(-HISTORY_TURNS));
    yield { metadata: { ...metadata, turn: Math.ceil(updated.length / 2) } };
  }

  private messages(registration: Registration, history: ChatTurn[], message: string): ChatTurn[] {
    return [...(registration.systemPrompt ? [{ role: 'system' as const, content: registration.systemPrompt }] : []), ...history, { role: 'user', content: message }];
  }

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatReply> {
    const registration = this.registrations.get(request.registration_id) ?? this.fallbackRegistration(request.registration_id);
    const historyKey = `${registration.id}\u0000${request.session_id}`;
    const history = rewriteInterrupted(this.histories.get(historyKey) ?? [], request.interrupted);
    // Kept even if this call fails or is aborted: the user did not hear the rest either way.
    if (request.interrupted) this.remember(historyKey, history);
    let text: string;
    let metadata: Record<string, unknown>;
    if (registration.baseUrl) {
      const messages: ChatTurn[] = [
        ...(registration.systemPrompt ? [{ role: 'system' as const, content: registration.systemPrompt }] : []),
        ...history,
        { role: 'user', content: request.message },
      ];
      try {
        const completion = await createChatCompletion({
          baseUrl: registration.baseUrl,
          apiKey: registration.apiKey,
          model: registration.model,
          messages,
          timeoutMs: this.llmTimeoutMs,
          signal,
          fetchImpl: this.fetchFor?.(registration.baseUrl),
        });
        text = completion.text;
        metadata = { provider: registration.provider, model: completion.model, ...(completion.usage ? { usage: completion.usage } : {}) };
      } catch (error) {
        signal?.throwIfAborted();
        // Only messages this code wrote reach callers: a parse error or a network error could quote upstream text.
        const own = error instanceof CompletionError || (error instanceof Error && error.name === 'UrlRefused');
        throw new ChatEngineError('llm_failed', own ? error.message : 'LLM request failed');
      }
    } else {
      text = localReply(request.message);
      metadata = { provider: registration.provider, model: registration.model };
    }
    const updated = [...history, { role: 'user' as const, content: request.message }, { role: 'assistant' as const, content: text }];
    this.remember(historyKey, updated.slice(-HISTORY_TURNS));
    return { text, metadata: { ...metadata, turn: Math.ceil(updated.length / 2) } };
  }

  private fallbackRegistration(id: string): Registration {
    if (this.unknownRegistrations === 'reject') throw new ChatEngineError('unknown_registration', 'unknown registration_id');
    return { id, provider: 'local', model: 'local-responder' };
  }

  private remember(key: string, history: ChatTurn[]): void {
    this.histories.set(key, history);
  }

  /** Conversations kept now (bounded by maxConversations). */
  get conversationCount(): number {
    return this.histories.size;
  }
}

/**
 * History as the user heard it: the latest exchange whose user message is the interrupted turn's
 * keeps only the heard part of its reply, or loses the reply when nothing was heard. An exchange
 * the history never recorded (the reply was aborted before it was stored) stays unrecorded.
 */
export function rewriteInterrupted(history: ChatTurn[], interrupted: InterruptedTurn | undefined): ChatTurn[] {
  if (!interrupted) return history;
  for (let i = history.length - 1; i > 0; i--) {
    const turn = history[i]!;
    const before = history[i - 1]!;
    if (turn.role !== 'assistant' || before.role !== 'user' || before.content !== interrupted.message) continue;
    const heard = interrupted.heard.trim();
    return heard ? [...history.slice(0, i), { role: 'assistant', content: heard }, ...history.slice(i + 1)] : [...history.slice(0, i), ...history.slice(i + 1)];
  }
  return history;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function assertHttpUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ChatEngineError('invalid_registration', 'base_url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ChatEngineError('invalid_registration', 'base_url must use http or https');
  }
  if (url.username || url.password) throw new ChatEngineError('invalid_registration', 'base_url must not carry credentials');
}

/** A short, non-reversible fingerprint of a secret, for cache keys and logs. */
export function secretFingerprint(secret: string | undefined): string {
  if (!secret) return 'none';
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}
