import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength, validateSync, type ValidationError } from 'class-validator';
import ipaddr from 'ipaddr.js';
import { TTS_OUTPUT_FORMATS } from '@app/protocol';
import { FLITE_VOICES } from '@app/engines';

const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  return value;
};
const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value !== 'string' ? value : value.trim() === '' ? undefined : /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

export const REGISTRATION_STORE_KINDS = ['memory', 'redis'] as const;
export type RegistrationStoreKind = (typeof REGISTRATION_STORE_KINDS)[number];
export const WS_AUTH_MODES = ['none', 'token'] as const;

/** Variables whose values are never printed: every *KEY*, and URLs that may embed a password. */
const isSecretVariable = (name: string): boolean => name.includes('KEY') || name.includes('SECRET') || name === 'REDIS_URL';

/**
 * Every environment variable the service reads. `.env.example` documents each; validation runs
 * at boot and fails with one readable line per problem (values of secrets are never printed).
 */
export class EnvironmentVariables {
  @Transform(toInt) @Max(65535) @Min(0) @IsInt()
  PORT = 8000;

  @IsString() @MinLength(1)
  HOST = '0.0.0.0';

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL = 'log';

  /** json (one object per line) or pretty; unset = json when NODE_ENV=production or stdout is not a terminal. */
  @Transform(emptyToUndefined) @IsOptional() @IsIn(['json', 'pretty'])
  LOG_FORMAT?: 'json' | 'pretty';

  /** Serve GET /metrics on this port only (not on PORT); 0 = any free port. Unset = on PORT. */
  @Transform(toInt) @IsOptional() @Max(65535) @Min(0) @IsInt()
  METRICS_PORT?: number;

  // --- OpenTelemetry tracing (standard OTel variables; off unless an endpoint is set) ---
  /** OTLP/HTTP base URL (e.g. http://otel-collector:4318); spans go to <it>/v1/traces. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** Full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;

  @IsString() @MinLength(1)
  OTEL_SERVICE_NAME = 'voice-layer';

  /** true turns tracing off even with an endpoint. */
  @Transform(toBool) @IsBoolean()
  OTEL_SDK_DISABLED = false;

  // --- chat backend ---
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  BACKEND_BASE_URL?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  BACKEND_API_KEY?: string;

  @Transform(toInt) @Max(600_000) @Min(1000) @IsInt()
  BACKEND_TIMEOUT_MS = 30_000;

  /** Longest reply text (characters) taken from the chat backend, streamed or JSON; beyond it the turn ends with reply_too_large. */
  @Transform(toInt) @Max(1_048_576) @Min(100) @IsInt()
  MAX_REPLY_CHARS = 32_768;

  /** Embedded local responder: stream its reply word by word, this many ms per word (0 = whole reply at once). */
  @Transform(toInt) @Max(10_000) @Min(0) @IsInt()
  LOCAL_RESPONDER_STREAM_MS_PER_WORD = 0;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  DEFAULT_REGISTRATION_ID?: string;

  @Transform(toBool) @IsBoolean()
  ALLOW_FRONTEND_BACKEND_AUTH = false;

  // --- registration store (registrations this service made, shared by replicas with redis) ---
  @IsIn(REGISTRATION_STORE_KINDS)
  REGISTRATION_STORE = 'memory';

  /** May carry a password: never printed (see isSecretVariable). Checked in checkRedis(). */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  REDIS_URL?: string;

  @Transform(toInt) @Max(2_592_000) @Min(60) @IsInt()
  REGISTRATION_TTL_SECONDS = 86_400;

  @IsString() @MinLength(1) @MaxLength(200)
  REDIS_KEY_PREFIX = 'voice-layer:registration:';

  // --- LLM used for auto-registration ---
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  LLM_API_KEY?: string;

  @IsString() @MinLength(1)
  LLM_PROVIDER = 'openai';

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  LLM_MODEL?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  LLM_BASE_URL?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  LLM_SYSTEM_PROMPT?: string;

  // --- ElevenLabs ---
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  ELEVENLABS_API_KEY?: string;

  @IsString() @MinLength(1)
  ELEVENLABS_VOICE_ID = 'JBFqnCBsd6RMkjVDRZzb';

  @IsString()
  ELEVENLABS_BASE_URL = 'https://api.elevenlabs.io';

  @Transform(toInt) @Max(120_000) @Min(500) @IsInt()
  ELEVENLABS_TTS_TIMEOUT_MS = 10_000;

  /** TTS through `/stream/with-timestamps`: character timings cut heard text at the word reached. */
  @Transform(toBool) @IsBoolean()
  ELEVENLABS_TTS_TIMESTAMPS = true;

  // --- embedded TTS ---
  @IsIn(FLITE_VOICES)
  LOCAL_TTS_VOICE = 'slt';

  @IsIn(TTS_OUTPUT_FORMATS)
  TTS_OUTPUT_FORMAT = 'pcm_24000';

  @Transform(toInt) @Max(1000) @Min(20) @IsInt()
  TTS_CHUNK_MS = 160;

  @Transform(toInt) @IsOptional() @Max(64) @Min(1) @IsInt()
  TTS_WORKERS?: number;

  /** Reply units (sentences) that may wait for a synthesis worker over all sessions; one more fails its reply with tts_failed. */
  @Transform(toInt) @Max(100_000) @Min(1) @IsInt()
  TTS_MAX_QUEUED_UNITS = 500;

  /** Worker threads for the sessions' echo detectors (barge-in); 0 runs them on the event loop. */
  @Transform(toInt) @Max(16) @Min(0) @IsInt()
  ECHO_WORKERS = 1;

  // --- embedded STT ---
  @Transform(toInt) @IsOptional() @Max(64) @Min(1) @IsInt()
  STT_WORKERS?: number;

  @IsString() @MinLength(1)
  LOCAL_STT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

  /** Seconds of a session's audio that may wait for its recognition worker; beyond it the service stops reading that socket until half has been recognised. */
  @Transform(toInt) @Max(600) @Min(2) @IsInt()
  STT_MAX_BACKLOG_SECONDS = 10;

  // --- WebSocket limits ---
  @Transform(toInt) @Max(16 * 1024 * 1024) @Min(4096) @IsInt()
  WS_MAX_PAYLOAD_BYTES = 256 * 1024;

  @Transform(toInt) @Max(300_000) @Min(1000) @IsInt()
  WS_PING_INTERVAL_MS = 25_000;

  @Transform(toInt) @Max(64 * 1024 * 1024) @Min(16 * 1024) @IsInt()
  WS_SEND_HIGH_WATER_BYTES = 256 * 1024;

  /** Comma-separated origins (`https://app.example.com`) browsers may open the voice socket from; empty = any. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  WS_ALLOWED_ORIGINS?: string;

  @Transform(toInt) @Max(100) @Min(1) @IsInt()
  MAX_QUEUED_TURNS = 3;

  @Transform(toInt) @Max(600_000) @Min(0) @IsInt()
  DRAIN_TIMEOUT_MS = 15_000;

  // --- security: handshake auth (README "Security") ---
  @IsIn(WS_AUTH_MODES)
  WS_AUTH = 'none';

  /** HS256 key for WS_AUTH=token (at least 32 bytes); also signs tokens minted by POST /v1/voice/tokens. Never printed. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  WS_AUTH_SECRET?: string;

  /** JWKS document with RS256/ES256 keys, for tokens from an identity provider. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  WS_AUTH_JWKS_URL?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @MaxLength(500)
  WS_AUTH_ISSUER?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @MaxLength(500)
  WS_AUTH_AUDIENCE?: string;

  /** Bearer key server-side callers use for POST /v1/voice/tokens; unset = minting disabled. Never printed. */
  @Transform(emptyToUndefined) @IsOptional() @IsString() @MinLength(16)
  SERVICE_API_KEY?: string;

  // --- security: limits per replica and per client ---
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt()
  MAX_SESSIONS = 1000;

  @Transform(toInt) @Max(100_000) @Min(1) @IsInt()
  MAX_CONNECTIONS_PER_IP = 50;

  @Transform(toInt) @Max(100_000) @Min(1) @IsInt()
  MAX_CONFIGURES_PER_IP_PER_MINUTE = 120;

  /** How many proxies in front of the service append to X-Forwarded-For (0 = ignore the header). `true` = 1. */
  @Transform(({ value }: { value: unknown }) => (value === 'true' ? 1 : value === 'false' ? 0 : toInt({ value }))) @Max(10) @Min(0) @IsInt()
  TRUST_PROXY = 0;

  @Transform(toInt) @Max(10_000) @Min(1) @IsInt()
  MAX_MESSAGES_PER_SECOND = 200;

  /** Frames (and their bytes, WS_MAX_PAYLOAD_BYTES each) a session holds while session.configure is pending before it stops reading the socket. */
  @Transform(toInt) @Max(100_000) @Min(4) @IsInt()
  MAX_PENDING_INBOUND_MESSAGES = 64;

  /** How long a client's send buffer may stay over WS_SEND_HIGH_WATER_BYTES before it is closed (4008). */
  @Transform(toInt) @Max(600_000) @Min(100) @IsInt()
  WS_SLOW_CLIENT_TIMEOUT_MS = 10_000;

  /** Clients may send backend.system_prompt and backend.model (implied by ALLOW_FRONTEND_BACKEND_AUTH). */
  @Transform(toBool) @IsBoolean()
  ALLOW_FRONTEND_BACKEND_PROMPT = false;

  /** Comma-separated hosts (`llm.example.com`, `*.example.com`) a client base_url may name; empty = any public host. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  CLIENT_BASE_URL_ALLOWLIST?: string;

  /** Comma-separated CIDRs (`10.20.0.0/16`) a client base_url may reach although not public; empty = public addresses only. */
  @Transform(emptyToUndefined) @IsOptional() @IsString()
  CLIENT_BASE_URL_ALLOW_CIDRS?: string;

  @Transform(toInt) @Max(10_000_000) @Min(10) @IsInt()
  MAX_CACHED_REGISTRATIONS = 10_000;
}


/** Raised when the environment is invalid; its message lists every problem. */
export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}

/** Validates and converts raw environment values; throws ConfigurationError. */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  const problems = validateSync(env, { whitelist: false, stopAtFirstError: true }).flatMap(describe);
  problems.push(...checkUrls(env), ...checkRedis(env), ...checkOrigins(env), ...checkAuth(env), ...checkMetricsPort(env));
  if (problems.length > 0) throw new ConfigurationError(problems);
  return env;
}

function checkMetricsPort(env: EnvironmentVariables): string[] {
  return env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT
    ? [`METRICS_PORT=${env.METRICS_PORT}: must differ from PORT (leave it unset to serve /metrics on PORT)`]
    : [];
}

function describe(error: ValidationError): string[] {
  const shown = isSecretVariable(error.property) ? '(hidden)' : JSON.stringify(error.value);
  return Object.values(error.constraints ?? {}).map((reason) => `${error.property}=${shown}: ${reason}`);
}

function checkUrls(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
  const base = env.BACKEND_BASE_URL;
  if (base !== undefined) {
    const problem = urlProblem(base);
    if (problem) problems.push(`BACKEND_BASE_URL: ${problem}`);
    else if (/\/v1\/(register|chat)\/?$/.test(new URL(base).pathname)) {
      problems.push(
        'BACKEND_BASE_URL: give the service root (e.g. https://chat.example.com), not an endpoint; the service appends /v1/register and /v1/chat itself',
      );
    }
  }
  for (const key of ['LLM_BASE_URL', 'ELEVENLABS_BASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const) {
    const value = env[key];
    const problem = value === undefined ? undefined : urlProblem(value);
    if (problem) problems.push(`${key}: ${problem}`);
  }
  return problems;
}

/** REDIS_URL is required by REGISTRATION_STORE=redis, and checked only then. Its value is never quoted. */
function checkRedis(env: EnvironmentVariables): string[] {
  if (env.REGISTRATION_STORE !== 'redis') return [];
  if (env.REDIS_URL === undefined) return ['REDIS_URL: required when REGISTRATION_STORE=redis (e.g. redis://:password@redis.internal:6379/0)'];
  if (typeof env.REDIS_URL !== 'string') return [];
  const problem = redisUrlProblem(env.REDIS_URL);
  return problem ? [`REDIS_URL=(hidden): ${problem}`] : [];
}

/** Each entry of WS_ALLOWED_ORIGINS with its origin (`scheme://host[:port]`, lower case, default port dropped), or none if it is not one. */
function originEntries(value: string | undefined): Array<{ entry: string; origin?: string }> {
  return (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        return { entry };
      }
      const isOrigin = (url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
      return isOrigin ? { entry, origin: url.origin } : { entry };
    });
}

/** The allowed origins, normalised (validation has refused anything that is not an origin). */
export function parseAllowedOrigins(value: string | undefined): string[] {
  return originEntries(value).flatMap(({ origin }) => (origin ? [origin] : []));
}

function checkOrigins(env: EnvironmentVariables): string[] {
  return originEntries(env.WS_ALLOWED_ORIGINS)
    .filter(({ origin }) => !origin)
    .map(({ entry }) => `WS_ALLOWED_ORIGINS: "${entry.slice(0, 80)}" is not an origin; give scheme://host[:port] (e.g. https://app.example.com), comma-separated`);
}

/** WS_AUTH=token needs a key source; the HS256 secret must be at least 32 bytes (never quoted). */
function checkAuth(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
  const secret = env.WS_AUTH_SECRET;
  if (typeof secret === 'string' && Buffer.byteLength(secret) < 32) problems.push('WS_AUTH_SECRET=(hidden): must be at least 32 bytes (e.g. `openssl rand -base64 48`)');
  if (env.WS_AUTH === 'token' && secret === undefined && env.WS_AUTH_JWKS_URL === undefined) {
    problems.push('WS_AUTH=token needs WS_AUTH_SECRET (HS256) or WS_AUTH_JWKS_URL (RS256/ES256 keys)');
  }
  for (const cidr of (env.CLIENT_BASE_URL_ALLOW_CIDRS ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)) {
    if (!ipaddr.isValidCIDR(cidr)) problems.push(`CLIENT_BASE_URL_ALLOW_CIDRS: "${cidr.slice(0, 60)}" is not a CIDR range (e.g. 10.20.0.0/16)`);
  }
  if (env.WS_AUTH_JWKS_URL !== undefined) {
    const problem = urlProblem(env.WS_AUTH_JWKS_URL);
    if (problem) problems.push(`WS_AUTH_JWKS_URL: ${problem}`);
  }
  return problems;
}

/** Why a Redis URL cannot be used, in words that never repeat any part of it. */
export function redisUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL: redis://[[user]:password@]host[:port][/db] or rediss:// for TLS';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return 'must use redis:// or rediss:// (TLS)';
  if (!url.hostname) return 'must name a host';
  if (!/^\/?(\d+)?$/.test(url.pathname)) return 'the path may only be a database number (e.g. /0)';
  if (url.search || url.hash) return 'must not have a query or a fragment';
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return 'the user or password is not valid percent-encoding';
  }
  return undefined;
}

function urlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not embed credentials; use the matching *_API_KEY variable';
  return undefined;
}
