import { HttpService } from '@nestjs/axios';
import { Inject, Injectable } from '@nestjs/common';
import { AxiosError, type AxiosRequestConfig } from 'axios';
import { firstValueFrom } from 'rxjs';
import { extractChatReply, type ChatReply, type ChatRequest, type RegisterRequest } from '@app/chat';
import { VoiceError } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { injectTraceHeaders } from '../tracing/tracing.service.js';
import type { ChatBackendClient } from './chat-backend.client.js';

/** Talks to the customer's backend at BACKEND_BASE_URL over HTTP (`/v1/register`, `/v1/chat`). */
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

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatReply> {
    const body = await this.post('/v1/chat', request, signal, 'backend_unavailable');
    const reply = extractChatReply(body);
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

  private async post(path: string, payload: unknown, signal: AbortSignal | undefined, clientErrorCode: 'registration_failed' | 'backend_unavailable'): Promise<unknown> {
    try {
      const response = await firstValueFrom(this.http.post(path, payload, this.requestConfig(signal)));
      return response.data;
    } catch (error) {
      signal?.throwIfAborted();
      throw mapAxiosError(error, path, clientErrorCode);
    }
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
