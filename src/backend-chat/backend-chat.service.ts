import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { secretFingerprint, type ChatAnswer, type InterruptedTurn, type RegisterRequest } from '@app/chat';
import { VoiceError, type BackendConfigDto } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { CHAT_BACKEND_CLIENT, type ChatBackendClient } from './chat-backend.client.js';
import { REGISTRATION_STORE, type RegistrationStore } from './registration.store.js';
import { assertClientUrl, UrlRefused, type UrlPolicy } from './ssrf-guard.js';

export type RegistrationSource = 'client_registration_id' | 'session_backend_fields' | 'default_registration_id' | 'llm_api_key' | 'embedded_default';

/** The registration a session chats under. `cacheKey` is set when this service made it. */
export interface SessionRegistration {
  registrationId: string;
  source: RegistrationSource;
  cacheKey?: string;
  request?: RegisterRequest;
}

/**
 * Chooses and caches chat backend registrations, and sends chat turns.
 * Order: `backend.registration_id`, else the session's backend fields, else
 * DEFAULT_REGISTRATION_ID, else auto-registration from LLM_API_KEY, else (embedded backend only)
 * the local responder. Concurrent sessions with the same identity share one in-flight register.
 */
@Injectable()
export class BackendChatService {
  private readonly logger = new Logger(BackendChatService.name);
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    @Inject(CHAT_BACKEND_CLIENT) private readonly client: ChatBackendClient,
    @Inject(REGISTRATION_STORE) private readonly store: RegistrationStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  get backendKind(): 'http' | 'embedded' {
    return this.client.kind;
  }

  /** Which source a session without `backend` would use (for /v1/voice/config). */
  get defaultRegistrationSource(): RegistrationSource | undefined {
    if (this.config.backend.defaultRegistrationId) return 'default_registration_id';
    if (this.config.llm.apiKey) return 'llm_api_key';
    if (this.client.kind === 'embedded') return 'embedded_default';
    return undefined;
  }

  /**
   * Throws `frontend_backend_auth_forbidden` when the client sends credentials or URLs it may not, and
   * `backend_override_forbidden` for a prompt or model it may not choose (ALLOW_FRONTEND_BACKEND_PROMPT),
   * so the server's LLM key never runs a client-chosen prompt unless the operator allows it.
   */
  assertClientBackendAllowed(backend: BackendConfigDto | undefined): void {
    if (!backend) return;
    const { allowFrontendAuth } = this.config.backend;
    const forbidden = (['api_key', 'base_url'] as const).filter((field) => backend[field] !== undefined);
    if (forbidden.length > 0 && !allowFrontendAuth) {
      throw new VoiceError(
        'frontend_backend_auth_forbidden',
        `backend.${forbidden.join(' and backend.')} may not be sent by clients on this server (ALLOW_FRONTEND_BACKEND_AUTH is false); use backend.registration_id or the server defaults.`,
      );
    }
    const overrides = (['system_prompt', 'model'] as const).filter((field) => backend[field] !== undefined);
    if (overrides.length > 0 && !this.config.clientBackend.allowPrompt) {
      throw new VoiceError(
        'backend_override_forbidden',
        `backend.${overrides.join(' and backend.')} may not be chosen by clients on this server (ALLOW_FRONTEND_BACKEND_PROMPT is false); leave it out to use the server's settings.`,
      );
    }
  }

  /** SSRF guard for a client `backend.base_url` (the operator's LLM_BASE_URL is trusted); throws `backend_url_refused`. */
  async assertClientBaseUrlAllowed(backend: BackendConfigDto | undefined): Promise<void> {
    const value = backend?.base_url;
    if (value === undefined || value === this.config.llm.baseUrl) return;
    try {
      await assertClientUrl(value, this.urlPolicy);
    } catch (error) {
      if (!(error instanceof UrlRefused)) throw error;
      throw new VoiceError('backend_url_refused', `backend.base_url is refused: ${error.reason}. Use a public http(s) URL${this.config.clientBackend.baseUrlAllowList.length > 0 ? ' on a host in CLIENT_BASE_URL_ALLOWLIST' : ''}.`);
    }
  }

  get urlPolicy(): UrlPolicy {
    return { allowHosts: this.config.clientBackend.baseUrlAllowList, allowCidrs: this.config.clientBackend.allowCidrs };
  }

  async resolveRegistration(backend: BackendConfigDto | undefined, signal?: AbortSignal): Promise<SessionRegistration> {
    this.assertClientBackendAllowed(backend);
    if (backend?.registration_id) return { registrationId: backend.registration_id, source: 'client_registration_id' };
    const fields = backend && hasRegistrationFields(backend) ? backend : undefined;
    if (fields) return this.registerCached(this.sessionRegisterRequest(fields), 'session_backend_fields', signal);
    if (this.config.backend.defaultRegistrationId) {
      return { registrationId: this.config.backend.defaultRegistrationId, source: 'default_registration_id' };
    }
    if (this.config.llm.apiKey) return this.registerCached(this.llmRegisterRequest(), 'llm_api_key', signal);
    if (this.client.kind === 'embedded') return this.registerCached({ provider: 'local' }, 'embedded_default', signal);
    throw new VoiceError(
      'backend_not_configured',
      'No chat backend registration is available: send backend.registration_id, or set DEFAULT_REGISTRATION_ID or LLM_API_KEY on the server.',
    );
  }

  /**
   * Sends one user message. If the backend forgot a registration this service made (e.g. it
   * restarted), the registration is made again and the message resent. A registration another
   * session already made again (on this replica or, with a shared store, on another) is used instead
   * of a new one; the stale entry is overwritten, never deleted, so a slow session cannot remove a
   * fresh one. A streamed reply is returned once its response began (renewal happens before that).
   */
  async chat(registration: SessionRegistration, sessionId: string, message: string, signal?: AbortSignal, interrupted?: InterruptedTurn): Promise<ChatAnswer> {
    const send = (registrationId: string) =>
      this.client.chat({ registration_id: registrationId, session_id: sessionId, message, ...(interrupted ? { interrupted } : {}) }, signal);
    const { cacheKey, request } = registration;
    const renewable = (error: unknown) => error instanceof VoiceError && error.code === 'unknown_registration' && cacheKey !== undefined && request !== undefined;
    try {
      return await send(registration.registrationId);
    } catch (error) {
      if (!renewable(error)) throw error;
    }
    const stored = await this.store.get(cacheKey!);
    if (stored && stored !== registration.registrationId) {
      registration.registrationId = stored;
      try {
        return await send(stored);
      } catch (error) {
        if (!renewable(error)) throw error;
      }
    }
    this.logger.warn(`backend lost registration (${registration.source}); registering again`);
    this.metrics?.upstreamRecovery('chat_backend', 'reregister');
    const renewed = await this.registerCached(request!, registration.source, signal, registration.registrationId);
    registration.registrationId = renewed.registrationId;
    return send(renewed.registrationId);
  }

  /** Resolves when the chat backend is reachable. (The registration store is a cache: /health/ready reports it on its own.) */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.client.ping(signal);
  }

  /** Client fields complete the server's LLM defaults; the server key never goes to a client-chosen provider or URL. */
  private sessionRegisterRequest(fields: BackendConfigDto): RegisterRequest {
    const llm = this.config.llm;
    const sameTarget =
      (fields.provider === undefined || fields.provider === llm.provider) && (fields.base_url === undefined || fields.base_url === llm.baseUrl);
    const apiKey = fields.api_key ?? (sameTarget ? llm.apiKey : undefined);
    return dropUndefined({
      provider: fields.provider ?? llm.provider,
      api_key: apiKey,
      model: fields.model ?? llm.model,
      base_url: fields.base_url ?? (sameTarget ? llm.baseUrl : undefined),
      system_prompt: fields.system_prompt ?? llm.systemPrompt,
    });
  }

  private llmRegisterRequest(): RegisterRequest {
    const llm = this.config.llm;
    return dropUndefined({ provider: llm.provider, api_key: llm.apiKey, model: llm.model, base_url: llm.baseUrl, system_prompt: llm.systemPrompt });
  }

  /** `lostId`: a registration the backend no longer knows, not to be taken from the store. */
  private async registerCached(request: RegisterRequest, source: RegistrationSource, signal?: AbortSignal, lostId?: string): Promise<SessionRegistration> {
    const cacheKey = registrationCacheKey(request);
    const cached = await this.store.get(cacheKey);
    if (cached && cached !== lostId) return { registrationId: cached, source, cacheKey, request };
    let pending = this.inFlight.get(cacheKey);
    if (!pending) {
      // Shared by concurrent sessions, so it does not follow any one session's signal.
      pending = this.client
        .register(request)
        .then(async (id) => {
          await this.store.set(cacheKey, id);
          this.logger.log(`registered with the chat backend (${source}, provider ${request.provider})`);
          return id;
        })
        .finally(() => this.inFlight.delete(cacheKey));
      this.inFlight.set(cacheKey, pending);
    }
    const registrationId = signal ? await abortable(pending, signal) : await pending;
    return { registrationId, source, cacheKey, request };
  }
}

function hasRegistrationFields(backend: BackendConfigDto): boolean {
  return (['provider', 'api_key', 'model', 'base_url', 'system_prompt'] as const).some((field) => backend[field] !== undefined);
}

/** Non-secret identity of a registration plus a fingerprint of its key. */
export function registrationCacheKey(request: RegisterRequest): string {
  return JSON.stringify([request.provider, request.model ?? null, request.base_url ?? null, request.system_prompt ?? null, secretFingerprint(request.api_key)]);
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
