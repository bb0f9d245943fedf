import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';

/**
 * Where registrations made by this service are cached, keyed by the registration's non-secret
 * identity plus a fingerprint of its key: per replica (`memory`, the default) or shared by every
 * replica behind a load balancer (`redis`, REGISTRATION_STORE=redis).
 *
 * It is a cache: `get` and `set` never reject. A store that cannot be reached answers
 * `get` with a miss and skips writes, so sessions still work (they register directly).
 */
export interface RegistrationStore {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  set(key: string, registrationId: string): Promise<void>;
  /** Resolves when the store can be reached, rejects otherwise (reported by /health/ready, never fatal). */
  ping(): Promise<void>;
}

export const REGISTRATION_STORE = Symbol('REGISTRATION_STORE');

@Injectable()
export class InMemoryRegistrationStore implements RegistrationStore {
  readonly kind = 'memory' as const;
  /** Bounded (LRU + TTL) so a stream of unique client identities cannot grow memory. */
  private readonly entries: LRUCache<string, string>;

  constructor(max = 10_000, ttlSeconds = 86_400) {
    this.entries = new LRUCache({ max, ttl: ttlSeconds * 1000 });
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, registrationId: string): Promise<void> {
    this.entries.set(key, registrationId);
  }

  async ping(): Promise<void> {}
}
