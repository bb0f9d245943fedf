import { createHash, timingSafeEqual, webcrypto } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';

/** The subprotocol a client offers beside its `bearer.<token>` entry; the server selects it. */
export const VOICE_SUBPROTOCOL = 'voice-layer.v1';
/** Prefix of the subprotocol entry that carries a token (`bearer.<JWT>`). */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';
/** Clock skew tolerated on `exp`/`nbf`/`iat`. */
export const CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_TOKEN_TTL_SECONDS = 600;
export const MAX_TOKEN_TTL_SECONDS = 3600;

/** What a verified token binds a session to. `sub` appears in logs; nothing else of the token does. */
export interface AuthContext {
  sub?: string;
  registrationId?: string;
  sessionId?: string;
  /** Seconds since the epoch. Checked at the handshake only: expiry during a session does not end it. */
  expiresAt: number;
}

/** Why a handshake was refused; `reason` is safe to send and log (never contains the token). */
export class AuthFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'AuthFailure';
  }
}

const CLAIM_ID = /^[A-Za-z0-9_.:@-]{1,200}$/;

/**
 * Verifies the JWT a client presents when it opens /v1/voice/ws (WS_AUTH=token) and mints
 * short-lived HS256 tokens for server-side callers (POST /v1/voice/tokens).
 *
 * Token transports, in the order they are looked at: `Authorization: Bearer <JWT>` (apps and servers),
 * a `Sec-WebSocket-Protocol` entry `bearer.<JWT>` offered beside `voice-layer.v1` (browsers; the server
 * answers with `voice-layer.v1`, never echoing the token), and the `access_token` query parameter
 * (weakest: URLs end up in proxy logs; this service never logs it).
 */
@Injectable()
export class WsAuthService {
  /**
   * The secret as a WebCrypto key, imported once: jose imported raw bytes on every verify, and its
   * Web API build turns a KeyObject into a CryptoKey on every verify (raw bytes 152, KeyObject 79,
   * CryptoKey 50 ms CPU per 1,000 tokens, measured; a storm of handshakes verifies one token each).
   */
  private readonly hmacKey?: Promise<CryptoKey>;
  private readonly jwks?: JWTVerifyGetKey;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const { secret, jwksUrl } = config.auth;
    if (secret) this.hmacKey = webcrypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    if (jwksUrl) this.jwks = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  }

  get enabled(): boolean {
    return this.config.auth.mode === 'token';
  }

  get canMint(): boolean {
    return this.hmacKey !== undefined && this.config.auth.serviceApiKey !== undefined;
  }

  /** The token a handshake carries, or undefined. */
  static tokenOf(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (match) return match[1];
    }
    const protocols = req.headers['sec-websocket-protocol'];
    if (protocols) {
      for (const entry of protocols.split(',')) {
        const trimmed = entry.trim();
        if (trimmed.startsWith(BEARER_SUBPROTOCOL_PREFIX) && trimmed.length > BEARER_SUBPROTOCOL_PREFIX.length) return trimmed.slice(BEARER_SUBPROTOCOL_PREFIX.length);
      }
    }
    const query = req.url?.indexOf('?') ?? -1;
    if (query >= 0 && req.url) {
      const token = new URLSearchParams(req.url.slice(query + 1)).get('access_token');
      if (token) return token;
    }
    return undefined;
  }

  /** Verifies a handshake's token; throws AuthFailure with a reason that never quotes the token. */
  async authenticate(req: IncomingMessage): Promise<AuthContext | undefined> {
    if (!this.enabled) return undefined;
    const token = WsAuthService.tokenOf(req);
    if (!token) {
      throw new AuthFailure('a token is required: send Authorization: Bearer <JWT>, the subprotocols ["voice-layer.v1", "bearer.<JWT>"], or ?access_token=<JWT>');
    }
    return this.verify(token);
  }

  async verify(token: string): Promise<AuthContext> {
    const options = {
      issuer: this.config.auth.issuer,
      audience: this.config.auth.audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    };
    let payload: JWTPayload;
    try {
      const header = decodeHeaderAlg(token);
      if (header === 'HS256' && this.hmacKey) {
        payload = (await jwtVerify(token, await this.hmacKey, { ...options, algorithms: ['HS256'] })).payload;
      } else if ((header === 'RS256' || header === 'ES256') && this.jwks) {
        payload = (await jwtVerify(token, this.jwks, { ...options, algorithms: ['RS256', 'ES256'] })).payload;
      } else {
        throw new AuthFailure(`token algorithm ${header ?? '(unreadable)'} is not accepted here (${this.acceptedAlgorithms()})`);
      }
    } catch (error) {
      throw toAuthFailure(error);
    }
    const claim = (name: string): string | undefined => {
      const value = payload[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || !CLAIM_ID.test(value)) throw new AuthFailure(`token claim ${name} must be an id of letters, digits and _ . : @ -`);
      return value;
    };
    return {
      sub: typeof payload.sub === 'string' ? payload.sub.slice(0, 200) : undefined,
      registrationId: claim('registration_id'),
      sessionId: claim('session_id'),
      expiresAt: payload.exp!,
    };
  }

  /** Constant-time check of `Authorization: Bearer $SERVICE_API_KEY`. */
  serviceKeyMatches(header: string | undefined): boolean {
    const key = this.config.auth.serviceApiKey;
    if (!key || !header) return false;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return false;
    // Hashing first gives equal lengths, so timingSafeEqual never leaks the key's length.
    const digest = (value: string) => createHash('sha256').update(value).digest();
    return timingSafeEqual(digest(match[1]!), digest(key));
  }

  async mint(claims: { ttlSeconds: number; sub?: string; registrationId?: string; sessionId?: string }): Promise<{ token: string; expiresAt: number }> {
    if (!this.hmacKey) throw new Error('WS_AUTH_SECRET is not set');
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + claims.ttlSeconds;
    let jwt = new SignJWT({
      ...(claims.registrationId ? { registration_id: claims.registrationId } : {}),
      ...(claims.sessionId ? { session_id: claims.sessionId } : {}),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(now)
      .setExpirationTime(expiresAt);
    if (claims.sub) jwt = jwt.setSubject(claims.sub);
    if (this.config.auth.issuer) jwt = jwt.setIssuer(this.config.auth.issuer);
    if (this.config.auth.audience) jwt = jwt.setAudience(this.config.auth.audience);
    return { token: await jwt.sign(await this.hmacKey), expiresAt };
  }

  private acceptedAlgorithms(): string {
    return [this.hmacKey ? 'HS256' : undefined, this.jwks ? 'RS256, ES256' : undefined].filter(Boolean).join(', ') || 'none configured';
  }
}

function decodeHeaderAlg(token: string): string | undefined {
  const head = token.split('.')[0];
  if (!head) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof parsed.alg === 'string' ? parsed.alg.slice(0, 20) : undefined;
  } catch {
    return undefined;
  }
}

function toAuthFailure(error: unknown): AuthFailure {
  if (error instanceof AuthFailure) return error;
  if (error instanceof joseErrors.JWTExpired) return new AuthFailure('token expired; get a new one');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'exp') return new AuthFailure('token needs an exp claim');
    return new AuthFailure(`token claim ${error.claim} is not accepted (${error.reason})`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthFailure('token signature does not verify');
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new AuthFailure('token key id is not in WS_AUTH_JWKS_URL');
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JOSEError) {
    const code = (error as { code?: string }).code ?? 'ERR_JOSE';
    return new AuthFailure(`token not accepted (${code})`);
  }
  return new AuthFailure('token not accepted');
}
