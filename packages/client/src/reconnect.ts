/** When and how a VoiceClient reconnects (pure, unit-tested). */

export interface ReconnectOptions {
  /** Attempts before giving up (default 8). */
  maxAttempts?: number;
  /** First delay (default 500 ms); doubles each attempt up to `maxDelayMs` (default 10 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Close codes the server uses to drain (src/voice/voice-session.registry.ts) or restart: come back. */
export const DRAIN_CLOSE_CODES = [1001, 1012, 1013] as const;
/** Abnormal closes (network lost, server crashed): come back. */
const ABNORMAL_CLOSE_CODES = [1005, 1006, 1011, 1014];

export type CloseDecision = 'reconnect' | 'stop';

export interface CloseFacts {
  code: number;
  /** The user called `close()`. */
  byUser: boolean;
  /** HTTP status of a refused handshake, when the WebSocket implementation tells (Node's `ws` does; browsers do not). */
  handshakeStatus?: number;
}

/**
 * Reconnect on an abnormal close or the server's drain close. Never after `close()`, a refused
 * handshake (401/403 or any 4xx: a bad token stays bad), a normal close (1000) or a close for the
 * client's own fault (1002 protocol error, 1003, 1007, 1008 policy, 1009 too big, 4xxx application codes).
 */
export function closeDecision(facts: CloseFacts): CloseDecision {
  if (facts.byUser) return 'stop';
  if (facts.handshakeStatus !== undefined && facts.handshakeStatus >= 400 && facts.handshakeStatus < 500) return 'stop';
  if ((DRAIN_CLOSE_CODES as readonly number[]).includes(facts.code) || ABNORMAL_CLOSE_CODES.includes(facts.code)) return 'reconnect';
  return 'stop';
}

/** Delay before attempt `attempt` (1-based): exponential, capped, with equal jitter (half fixed, half random). */
export function backoffDelay(attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
