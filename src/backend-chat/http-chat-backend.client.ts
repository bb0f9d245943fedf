import type { Readable } from 'node:stream';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable } from '@nestjs/common';
import { AxiosError, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { firstValueFrom } from 'rxjs';
import {
  ChatStreamError,
  chatStreamFormat,
  extractChatReply,
  readChatStream,
  type ChatAnswer,
  type ChatRequest,
  type ChatStreamPiece,
  type RegisterRequest,
} from '@app/chat';
import { VoiceError } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { injectTraceHeaders } from '../tracing/tracing.service.js';
import type { ChatBackendClient } from './chat-backend.client.js';

/** Every `/v1/chat` call offers streaming; JSON stays the seed contract. */
export const CHAT_ACCEPT = 'text/event-stream, application/json;q=0.9';

/**
 * Talks to the customer's backend at BACKEND_BASE_URL over HTTP (`/v1/register`, `/v1/chat`).
 *
 * `/v1/chat` is read as a stream (axios `responseType: 'stream'`, so interceptors, headers and the
 * connect/first-byte timeout stay as for the other calls): an SSE or NDJSON answer becomes a
 * ChatReplyStream, anything else is read whole and parsed as the seed's JSON. While the body is read,
 * a watchdog ends it when no byte arrives for BACKEND_TIMEOUT_MS, and the turn's signal destroys it
 * (the backend sees the connection close).
 */
@Injectable()
export class HttpChatBackendClient implements ChatBackendClient {
  readonly kind = 'http' as const;

  constructor(
    private readonly http: HttpService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async register(request: RegisterRequest, signal?: AbortSignal): Promise<string> {
    const body = await this.post('/v1/register', request, signal, 'registration_failed');
    const id = (body as { registration_id?: unknown } | undefined)?.registration_id;
    if (typeof id !== 'string' || id.length === 0) {
      throw new VoiceError('registration_failed', 'The chat backend answered /v1/register without a registration_id.');
    }
    return id;
  }

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatAnswer> {
    const path = '/v1/chat';
    let response: AxiosResponse<Readable>;
    try {
      const config = this.requestConfig(signal);
      response = await firstValueFrom(
        this.http.post<Readable>(path, request, { ...config, responseType: 'stream', headers: { ...config.headers, accept: CHAT_ACCEPT } }),
      );
    } catch (error) {
      (error instanceof AxiosError ? (error.response?.data as Readable | undefined) : undefined)?.destroy?.();
      signal?.throwIfAborted();
      throw mapAxiosError(error, path, 'backend_unavailable');
    }
    const body = this.watched(response.data, signal);
    const format = chatStreamFormat(headerValue(response.headers['content-type']));
    if (format) return { streaming: true, pieces: mapStreamErrors(readChatStream(body, format), signal) };
    const text = await readWhole(body, this.maxJsonBytes(), signal);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: reported below as a reply without text, as before.
    }
    const reply = extractChatReply(parsed);
    if (!reply) throw new VoiceError('backend_bad_response', 'The chat backend answered /v1/chat without a reply text.');
    return reply;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    // Any HTTP answer means the backend is up; only transport failures count as down.
    await firstValueFrom(this.http.get('/', { ...this.requestConfig(signal), validateStatus: () => true, timeout: 2000 }));
  }

  private requestConfig(signal?: AbortSignal): AxiosRequestConfig {
    return {
      baseURL: this.config.backend.baseUrl,
      timeout: this.config.backend.timeoutMs,
      signal,
      maxRedirects: 0,
      // `traceparent` of the active turn's backend span, when tracing is on.
      headers: injectTraceHeaders(this.config.backend.apiKey ? { authorization: `Bearer ${this.config.backend.apiKey}` } : {}),
    };
  }

  /** A JSON reply is read whole; it may not be larger than the reply text allowed, encoded, plus room. */
  private maxJsonBytes(): number {
    return Math.max(1 << 20, this.config.backend.maxReplyChars * 8);
  }

  /**
   * The body's bytes; fails with backend_timeout after BACKEND_TIMEOUT_MS without a byte, with
   * backend_unavailable when the connection breaks, and is destroyed when `signal` aborts or the
   * reader stops early.
   */
  private async *watched(body: Readable, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const timeoutMs = this.config.backend.timeoutMs;
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        body.destroy();
      }, timeoutMs);
    };
    const onAbort = () => body.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
    try {
      for await (const chunk of body) {
        arm();
        yield chunk as Buffer;
      }
      if (stalled) throw new VoiceError('backend_timeout', `The chat backend sent nothing for ${timeoutMs} ms in the middle of its reply.`);
    } catch (error) {
      signal?.throwIfAborted();
      if (error instanceof VoiceError) throw error;
      if (stalled || (error instanceof AxiosError && (error.code === AxiosError.ECONNABORTED || error.code === AxiosError.ETIMEDOUT))) {
        throw new VoiceError('backend_timeout', `The chat backend sent nothing for ${timeoutMs} ms in the middle of its reply.`);
      }
      throw new VoiceError('backend_unavailable', 'The connection to the chat backend broke off in the middle of its reply.', { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  private async post(path: string, payload: unknown, signal: AbortSignal | undefined, clientErrorCode: 'registration_failed' | 'backend_unavailable'): Promise<unknown> {
    try {
      // A /v1/register answer is small; anything far larger is refused unread. (Not set on the /v1/chat
      // stream: axios then wraps the body so that destroying it no longer ends its reader, which broke
      // the stall watchdog; /v1/chat bodies are bounded by maxJsonBytes and the stream parser instead.)
      const config = { ...this.requestConfig(signal), maxContentLength: 4 * 1024 * 1024 + this.config.backend.maxReplyChars * 4 };
      const response = await firstValueFrom(this.http.post(path, payload, config));
      return response.data;
    } catch (error) {
      signal?.throwIfAborted();
      throw mapAxiosError(error, path, clientErrorCode);
    }
  }
}

function headerValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined;
}

async function readWhole(body: AsyncIterable<Buffer>, maxBytes: number, signal?: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of body) {
    size += part.length;
    if (size > maxBytes) throw new VoiceError('reply_too_large', `The chat backend's reply is larger than ${maxBytes} bytes; it was dropped.`);
    parts.push(part);
  }
  signal?.throwIfAborted();
  return Buffer.concat(parts).toString('utf8');
}

/** Stream format problems as the contract's error codes. */
async function* mapStreamErrors(pieces: AsyncIterable<ChatStreamPiece>, signal?: AbortSignal): AsyncGenerator<ChatStreamPiece> {
  try {
    yield* pieces;
  } catch (error) {
    signal?.throwIfAborted();
    throw toVoiceStreamError(error);
  }
}

/** Maps a ChatStreamError to the contract's codes; other errors pass through. */
export function toVoiceStreamError(error: unknown): unknown {
  if (!(error instanceof ChatStreamError)) return error;
  switch (error.code) {
    case 'backend_error':
      return new VoiceError('backend_error', `The chat backend reported an error: ${error.message}`);
    case 'too_large':
      return new VoiceError('reply_too_large', `The chat backend's streamed reply was refused: ${error.message}.`);
    case 'malformed':
      return new VoiceError('backend_bad_response', `The chat backend's streamed reply held malformed data (${error.message}); the text before it was delivered.`);
  }
}

function mapAxiosError(error: unknown, path: string, clientErrorCode: 'registration_failed' | 'backend_unavailable'): VoiceError {
  if (!(error instanceof AxiosError)) return new VoiceError('backend_unavailable', `The chat backend call ${path} failed.`, { cause: error });
  const status = error.response?.status;
  if (error.code === AxiosError.ECONNABORTED || error.code === AxiosError.ETIMEDOUT) {
    return new VoiceError('backend_timeout', `The chat backend did not answer ${path} in time.`);
  }
  if (status === undefined) return new VoiceError('backend_unavailable', `The chat backend could not be reached (${path}).`);
  if (path === '/v1/chat' && (status === 404 || status === 410)) {
    return new VoiceError('unknown_registration', 'The chat backend does not know this registration_id.');
  }
  const code = status >= 400 && status < 500 ? clientErrorCode : 'backend_unavailable';
  return new VoiceError(code, `The chat backend answered ${path} with HTTP ${status}.`);
}
