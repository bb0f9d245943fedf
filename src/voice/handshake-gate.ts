import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';
import { VoiceError } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AuthFailure, WsAuthService, type AuthContext } from './auth/ws-auth.service.js';

/** What the handshake learnt about a connection, handed to its session. */
export interface ConnectionContext {
  /** Client address (from X-Forwarded-For only when TRUST_PROXY says so). */
  ip: string;
  auth?: AuthContext;
}

export interface HandshakeRefusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** Seconds a client refused with 503 is asked to wait. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Admits or refuses each upgrade of /v1/voice/ws before a socket exists: MAX_SESSIONS per replica
 * (503 + Retry-After), MAX_CONNECTIONS_PER_IP (429), and the token when WS_AUTH=token (401). Counts
 * follow the TCP connection, so they cannot leak when a handshake fails half-way. It also rate-limits
 * `session.configure` per client address.
 */
@Injectable()
export class HandshakeGate {
  private readonly logger = new Logger('VoiceHandshake');
  private readonly contexts = new WeakMap<IncomingMessage, ConnectionContext>();
  private readonly perIp = new Map<string, number>();
  private active = 0;
  /** Configure attempts per address in the current minute; bounded so unique addresses cannot grow memory. */
  private readonly configures = new LRUCache<string, { count: number }>({ max: 100_000, ttl: 60_000 });

  constructor(
    private readonly auth: WsAuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get activeConnections(): number {
    return this.active;
  }

  /** Resolves with undefined when the handshake may proceed, else with the HTTP refusal. */
  async admit(req: IncomingMessage): Promise<HandshakeRefusal | undefined> {
    const limits = this.config.limits;
    const ip = clientIp(req, limits.trustProxyHops);
    if (this.active >= limits.maxSessions) {
      this.logger.warn(`refused a handshake: MAX_SESSIONS (${limits.maxSessions}) reached`);
      return { status: 503, message: 'Server at capacity (MAX_SESSIONS)', headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } };
    }
    if ((this.perIp.get(ip) ?? 0) >= limits.maxConnectionsPerIp) {
      this.logger.warn(`refused a handshake: MAX_CONNECTIONS_PER_IP (${limits.maxConnectionsPerIp}) reached for one address`);
      return { status: 429, message: 'Too many connections from this address (MAX_CONNECTIONS_PER_IP)', headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } };
    }
    // Counted before the (possibly slow, JWKS) verification so a burst cannot overshoot the limits.
    this.track(req, ip);
    let auth: AuthContext | undefined;
    try {
      auth = await this.auth.authenticate(req);
    } catch (error) {
      const reason = error instanceof AuthFailure ? error.reason : 'token not accepted';
      this.logger.warn(`refused a handshake (401): ${reason}`);
      return { status: 401, message: 'Unauthorized', headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${reason.replace(/"/g, "'")}"` } };
    }
    this.contexts.set(req, { ip, ...(auth ? { auth } : {}) });
    return undefined;
  }

  contextOf(req: IncomingMessage | undefined): ConnectionContext {
    return (req && this.contexts.get(req)) ?? { ip: req ? clientIp(req, this.config.limits.trustProxyHops) : 'unknown' };
  }

  /** Throws `rate_limited` when this address has made more than MAX_CONFIGURES_PER_IP_PER_MINUTE attempts. */
  admitConfigure(ip: string): void {
    const limit = this.config.limits.maxConfiguresPerIpPerMinute;
    const entry = this.configures.get(ip);
    if (!entry) {
      this.configures.set(ip, { count: 1 });
      return;
    }
    entry.count++;
    if (entry.count > limit) {
      throw new VoiceError('rate_limited', `Too many session.configure attempts from this address (MAX_CONFIGURES_PER_IP_PER_MINUTE=${limit}); wait a minute and retry.`);
    }
  }

  private track(req: IncomingMessage, ip: string): void {
    this.active++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    req.socket.once('close', () => {
      this.active--;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }
}

/**
 * The client's address: the TCP peer, or with TRUST_PROXY=N the N-th entry from the right of
 * X-Forwarded-For (the one the outermost trusted proxy appended). IPv4-mapped IPv6 becomes IPv4.
 */
export function clientIp(req: IncomingMessage, trustProxyHops: number): string {
  let candidate = req.socket.remoteAddress ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (trustProxyHops > 0 && header) {
    const list = (Array.isArray(header) ? header.join(',') : header)
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const picked = list[Math.max(0, list.length - trustProxyHops)];
    if (picked && ipaddr.isValid(picked)) candidate = picked;
  }
  try {
    const parsed = ipaddr.parse(candidate);
    return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address().toString() : parsed.toString();
  } catch {
    return candidate;
  }
}
