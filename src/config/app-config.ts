import { availableParallelism } from 'node:os';
import type { FliteVoice } from '@app/engines';
import { parseAllowedOrigins, type EnvironmentVariables, type RegistrationStoreKind } from './environment.js';

/** Typed, grouped configuration derived once from the validated environment. */
export interface AppConfig {
  http: { port: number; host: string };
  logLevel: string;
  /** Resolved LOG_FORMAT (json unless asked for pretty, or unset on a terminal outside production). */
  logFormat: 'json' | 'pretty';
  /** `port` set = GET /metrics is served on that port only. */
  metrics: { port?: number };
  /** `tracesUrl` set = OpenTelemetry spans are exported there (OTLP/HTTP JSON). */
  tracing: { tracesUrl?: string; serviceName: string };
  backend: {
    /** Service root without trailing slash; undefined = embedded in-process responder. */
    baseUrl?: string;
    apiKey?: string;
    timeoutMs: number;
    /** Longest reply text taken from the chat backend (MAX_REPLY_CHARS). */
    maxReplyChars: number;
    /** Embedded local responder's streaming pace; 0 = whole replies. */
    localStreamMsPerWord: number;
    defaultRegistrationId?: string;
    allowFrontendAuth: boolean;
  };
  /** Where registrations this service made are cached: per replica, or shared through Redis. */
  registrationStore: {
    kind: RegistrationStoreKind;
    /** Set when kind is redis. May carry a password: never log it. */
    redisUrl?: string;
    /** Lifetime of an entry, in the memory store (LRU + TTL) and in Redis. */
    ttlSeconds: number;
    keyPrefix: string;
  };
  llm: { apiKey?: string; provider: string; model?: string; baseUrl?: string; systemPrompt?: string };
  elevenlabs: {
    apiKey?: string;
    voiceId: string;
    baseUrl: string;
    /** Longest wait for TTS audio to start or continue before an attempt counts as failed. */
    ttsTimeoutMs: number;
    /** Speak through `/stream/with-timestamps` and mark words by their character timings. */
    ttsTimestamps: boolean;
  };
  tts: { localVoice: FliteVoice; outputFormat: string; chunkMs: number; workers: number; maxQueuedUnits: number };
  /** maxBacklogSeconds: audio a session may have waiting for recognition before its socket's reading pauses. */
  stt: { workers: number; localModelDir: string; maxBacklogSeconds: number };
  /** Echo detector threads (barge-in); 0: on the event loop. */
  echo: { workers: number };
  ws: {
    maxPayloadBytes: number;
    pingIntervalMs: number;
    sendHighWaterBytes: number;
    /** Browser origins allowed to open the voice socket (besides the service's own); empty = any. */
    allowedOrigins: string[];
  };
  session: { maxQueuedTurns: number; drainTimeoutMs: number };
  /** Handshake authentication (README "Security"). */
  auth: {
    mode: 'none' | 'token';
    /** HS256 key (>= 32 bytes). Never log it. */
    secret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    /** Key for POST /v1/voice/tokens. Never log it. */
    serviceApiKey?: string;
  };
  /** Limits per replica, per client address and per session (README "Security"). */
  limits: {
    maxSessions: number;
    maxConnectionsPerIp: number;
    maxConfiguresPerIpPerMinute: number;
    trustProxyHops: number;
    maxMessagesPerSecond: number;
    maxPendingInbound: number;
    slowClientTimeoutMs: number;
    maxCachedRegistrations: number;
  };
  /** What clients may choose in their `backend` section besides credentials. */
  clientBackend: { allowPrompt: boolean; baseUrlAllowList: string[]; allowCidrs: string[] };
}

export const APP_CONFIG = Symbol('APP_CONFIG');

export function buildAppConfig(env: EnvironmentVariables): AppConfig {
  return {
    http: { port: env.PORT, host: env.HOST },
    logLevel: env.LOG_LEVEL,
    logFormat: resolveLogFormat(env.LOG_FORMAT),
    metrics: { port: env.METRICS_PORT },
    tracing: { tracesUrl: tracesUrl(env), serviceName: env.OTEL_SERVICE_NAME },
    backend: {
      baseUrl: env.BACKEND_BASE_URL?.replace(/\/+$/, ''),
      apiKey: env.BACKEND_API_KEY,
      timeoutMs: env.BACKEND_TIMEOUT_MS,
      maxReplyChars: env.MAX_REPLY_CHARS,
      localStreamMsPerWord: env.LOCAL_RESPONDER_STREAM_MS_PER_WORD,
      defaultRegistrationId: env.DEFAULT_REGISTRATION_ID,
      allowFrontendAuth: env.ALLOW_FRONTEND_BACKEND_AUTH,
    },
    registrationStore: {
      kind: env.REGISTRATION_STORE as RegistrationStoreKind,
      redisUrl: env.REGISTRATION_STORE === 'redis' ? env.REDIS_URL : undefined,
      ttlSeconds: env.REGISTRATION_TTL_SECONDS,
      keyPrefix: env.REDIS_KEY_PREFIX,
    },
    llm: {
      apiKey: env.LLM_API_KEY,
      provider: env.LLM_PROVIDER,
      model: env.LLM_MODEL,
      baseUrl: env.LLM_BASE_URL,
      systemPrompt: env.LLM_SYSTEM_PROMPT,
    },
    elevenlabs: {
      apiKey: env.ELEVENLABS_API_KEY,
      voiceId: env.ELEVENLABS_VOICE_ID,
      baseUrl: env.ELEVENLABS_BASE_URL.replace(/\/+$/, ''),
      ttsTimeoutMs: env.ELEVENLABS_TTS_TIMEOUT_MS,
      ttsTimestamps: env.ELEVENLABS_TTS_TIMESTAMPS,
    },
    tts: {
      localVoice: env.LOCAL_TTS_VOICE as FliteVoice,
      outputFormat: env.TTS_OUTPUT_FORMAT,
      chunkMs: env.TTS_CHUNK_MS,
      workers: env.TTS_WORKERS ?? Math.max(1, availableParallelism()),
      maxQueuedUnits: env.TTS_MAX_QUEUED_UNITS,
    },
    echo: { workers: env.ECHO_WORKERS },
    stt: { workers: env.STT_WORKERS ?? Math.max(1, availableParallelism()), localModelDir: env.LOCAL_STT_MODEL_DIR, maxBacklogSeconds: env.STT_MAX_BACKLOG_SECONDS },
    ws: {
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      pingIntervalMs: env.WS_PING_INTERVAL_MS,
      sendHighWaterBytes: env.WS_SEND_HIGH_WATER_BYTES,
      allowedOrigins: parseAllowedOrigins(env.WS_ALLOWED_ORIGINS),
    },
    session: { maxQueuedTurns: env.MAX_QUEUED_TURNS, drainTimeoutMs: env.DRAIN_TIMEOUT_MS },
    auth: {
      mode: env.WS_AUTH as 'none' | 'token',
      secret: env.WS_AUTH_SECRET,
      jwksUrl: env.WS_AUTH_JWKS_URL,
      issuer: env.WS_AUTH_ISSUER,
      audience: env.WS_AUTH_AUDIENCE,
      serviceApiKey: env.SERVICE_API_KEY,
    },
    limits: {
      maxSessions: env.MAX_SESSIONS,
      maxConnectionsPerIp: env.MAX_CONNECTIONS_PER_IP,
      maxConfiguresPerIpPerMinute: env.MAX_CONFIGURES_PER_IP_PER_MINUTE,
      trustProxyHops: env.TRUST_PROXY,
      maxMessagesPerSecond: env.MAX_MESSAGES_PER_SECOND,
      maxPendingInbound: env.MAX_PENDING_INBOUND_MESSAGES,
      slowClientTimeoutMs: env.WS_SLOW_CLIENT_TIMEOUT_MS,
      maxCachedRegistrations: env.MAX_CACHED_REGISTRATIONS,
    },
    clientBackend: {
      allowPrompt: env.ALLOW_FRONTEND_BACKEND_PROMPT || env.ALLOW_FRONTEND_BACKEND_AUTH,
      baseUrlAllowList: (env.CLIENT_BASE_URL_ALLOWLIST ?? '')
        .split(',')
        .map((entry) => entry.trim().toLowerCase())
        .filter(Boolean),
      allowCidrs: (env.CLIENT_BASE_URL_ALLOW_CIDRS ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    },
  };
}

/** LOG_FORMAT, or json in production (NODE_ENV=production) or when stdout is not a terminal (containers, files). */
export function resolveLogFormat(format: 'json' | 'pretty' | undefined, nodeEnv = process.env.NODE_ENV, tty = process.stdout.isTTY === true): 'json' | 'pretty' {
  if (format) return format;
  return nodeEnv === 'production' || !tty ? 'json' : 'pretty';
}

/** The OTLP traces URL from the standard variables, or none (tracing off). */
function tracesUrl(env: EnvironmentVariables): string | undefined {
  if (env.OTEL_SDK_DISABLED) return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}
