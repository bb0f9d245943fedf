import { createHash } from 'node:crypto';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createClient } from 'redis';
import type { RegistrationStore } from './registration.store.js';

export interface RedisRegistrationStoreOptions {
  /** redis:// or rediss:// URL, validated at boot. May carry a password: it is never logged. */
  url: string;
  /** Lifetime of each entry (SET ... EX). */
  ttlSeconds: number;
  /** Prepended to every key. */
  keyPrefix: string;
  /** Longest wait between two reconnect attempts. */
  maxReconnectDelayMs?: number;
  /** Longest wait for one command's answer before it counts as failed. */
  commandTimeoutMs?: number;
}

const DEFAULT_MAX_RECONNECT_DELAY_MS = 5000;
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;
const SHUTDOWN_TIMEOUT_MS = 1000;

/**
 * Registrations shared by every replica through Redis: `SET key id EX ttl`, `GET`, `PING`.
 *
 * It is a cache, so Redis being down never fails a session: while it cannot be reached a `get` is a
 * miss and a `set` is skipped (each replica then registers directly). Commands fail at
 * once while disconnected (no offline queue), the client reconnects in the background with capped
 * backoff, and the log gets one warning per outage (naming only the error code, never the URL) and
 * one line when Redis is back. Boot does not wait for Redis.
 */
export class RedisRegistrationStore implements RegistrationStore, OnModuleInit, OnApplicationShutdown {
  readonly kind = 'redis' as const;
  private readonly logger = new Logger(RedisRegistrationStore.name);
  private readonly client: ReturnType<typeof createClient>;
  /** Set from the first failure until Redis answers again, so an outage is reported once. */
  private outage = false;
  /** The label of the latest failure, for readiness details. */
  private lastFailure?: string;
  private connectedOnce = false;
  private closing = false;

  constructor(private readonly options: RedisRegistrationStoreOptions) {
    const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
    this.client = createClient({
      url: options.url,
      // GET/SET/PING need nothing from RESP3; RESP2 also works with Redis 5 and RESP2-only proxies.
      RESP: 2,
      disableOfflineQueue: true,
      socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: (retries) => reconnectDelayMs(retries, maxDelay) },
      commandOptions: { timeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS },
    });
    // Emitted for every failed connection attempt while reconnecting; without a listener it would throw.
    this.client.on('error', (error: unknown) => this.failed(error));
    this.client.on('ready', () => {
      if (this.outage) this.recovered('reconnected');
      else if (!this.connectedOnce) this.logger.log('connected to Redis; registrations are shared between replicas');
      this.connectedOnce = true;
    });
  }

  onModuleInit(): void {
    // Not awaited: an unreachable Redis must not hold up boot. connect() retries until it is ready
    // (errors arrive as 'error' events) and rejects only when the client is shut down.
    this.client.connect().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (!this.client.isOpen) return;
    if (this.client.isReady) {
      // Let commands in flight finish, briefly.
      const closed = await Promise.race([
        this.client.close().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), SHUTDOWN_TIMEOUT_MS).unref()),
      ]);
      if (closed) return;
    }
    this.client.destroy();
  }

  async get(key: string): Promise<string | undefined> {
    return this.command(async () => (await this.client.get(redisKey(this.options.keyPrefix, key))) ?? undefined, undefined);
  }

  async set(key: string, registrationId: string): Promise<void> {
    await this.command(async () => {
      await this.client.set(redisKey(this.options.keyPrefix, key), registrationId, { expiration: { type: 'EX', value: this.options.ttlSeconds } });
    }, undefined);
  }

  /** Rejects (with a message naming only the error code) while Redis cannot be reached. */
  async ping(): Promise<void> {
    try {
      await this.client.ping();
    } catch (error) {
      this.failed(error);
      // While reconnecting, commands fail with ClientOfflineError; the connection's own error says more.
      const label = redisErrorLabel(error);
      // The cause is left off on purpose: Redis errors may name the host.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`Redis unreachable (${label === 'ClientOfflineError' ? (this.lastFailure ?? 'not connected yet') : label})`);
    }
    if (this.outage) this.recovered('answering again');
  }

  /** Runs one command; a failure is reported (once per outage) and answered with `fallback`. */
  private async command<T>(run: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const result = await run();
      if (this.outage) this.recovered('answering again');
      return result;
    } catch (error) {
      this.failed(error);
      return fallback;
    }
  }

  private failed(error: unknown): void {
    const label = redisErrorLabel(error);
    // "Not connected right now" (also while the first connection is being made): the connection's
    // own failure, emitted as an 'error' event, is what starts and names an outage.
    if (label === 'ClientOfflineError') return;
    this.lastFailure = label;
    if (this.outage || this.closing) return;
    this.outage = true;
    this.logger.warn(
      `Redis registration store unreachable (${label}): registrations are not shared until it is back; sessions register with the chat backend directly`,
    );
  }

  private recovered(how: string): void {
    this.outage = false;
    this.logger.log(`Redis registration store ${how}; registrations are shared again`);
  }
}

/** The Redis key of a cache key: the prefix and a hash, so no system prompt or URL is stored in key names. */
export function redisKey(prefix: string, cacheKey: string): string {
  return `${prefix}${createHash('sha256').update(cacheKey).digest('hex')}`;
}

/** Exponential backoff from 100 ms, with +-20% jitter so replicas do not retry in step, capped at `maxMs`. */
export function reconnectDelayMs(retries: number, maxMs: number, random: () => number = Math.random): number {
  const base = 100 * 2 ** Math.min(retries, 20);
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

/**
 * A short name for a Redis or socket error that is safe to log: a system error code (ECONNREFUSED),
 * the leading word of a Redis error reply (WRONGPASS, NOAUTH), or the error class
 * (ClientOfflineError). Never the message, which may name the host.
 */
export function redisErrorLabel(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return code;
  if (error instanceof Error) {
    const className = error.constructor.name;
    if (className === 'ErrorReply' || className === 'SimpleError') {
      const word = /^([A-Z][A-Z_]+)\b/.exec(error.message)?.[1];
      if (word) return word;
    }
    if (/^[A-Za-z]*Error$/.test(className)) return className;
  }
  return 'unknown error';
}
