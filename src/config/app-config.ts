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
    defaultRegistrationId?: string;
    allowFrontendAuth: boolean;
  };
  /** Where registrations this service made are cached: per replica, or shared through Redis. */
  registrationStore: {
    kind: RegistrationStoreKind;
    /** Set when kind is redis. May carry a password: never log it. */
    redisUrl?: string;
    /** Lifetime of a shared entry (redis only; the memory store keeps entries for the process's life). */
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
  };
  tts: { localVoice: FliteVoice; outputFormat: string; chunkMs: number; workers: number };
  stt: { workers: number; localModelDir: string };
  ws: {
    maxPayloadBytes: number;
    pingIntervalMs: number;
    sendHighWaterBytes: number;
    /** Browser origins allowed to open the voice socket (besides the service's own); empty = any. */
    allowedOrigins: string[];
  };
  session: { maxQueuedTurns: number; drainTimeoutMs: number };
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
    },
    tts: {
      localVoice: env.LOCAL_TTS_VOICE as FliteVoice,
      outputFormat: env.TTS_OUTPUT_FORMAT,
      chunkMs: env.TTS_CHUNK_MS,
      workers: env.TTS_WORKERS ?? Math.max(1, availableParallelism()),
    },
    stt: { workers: env.STT_WORKERS ?? Math.max(1, availableParallelism()), localModelDir: env.LOCAL_STT_MODEL_DIR },
    ws: {
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      pingIntervalMs: env.WS_PING_INTERVAL_MS,
      sendHighWaterBytes: env.WS_SEND_HIGH_WATER_BYTES,
      allowedOrigins: parseAllowedOrigins(env.WS_ALLOWED_ORIGINS),
    },
    session: { maxQueuedTurns: env.MAX_QUEUED_TURNS, drainTimeoutMs: env.DRAIN_TIMEOUT_MS },
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
