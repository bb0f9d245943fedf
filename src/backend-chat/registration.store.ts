import { Injectable } from '@nestjs/common';

/**
 * Where registrations made by this service are cached, keyed by the registration's non-secret
 * identity plus a fingerprint of its key. In-memory per replica today; a shared store (e.g.
 * Redis) can implement the same interface so replicas behind a load balancer reuse registrations.
 */
export interface RegistrationStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, registrationId: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Resolves when the store is usable (readiness). */
  ping(): Promise<void>;
}

export const REGISTRATION_STORE = Symbol('REGISTRATION_STORE');

@Injectable()
export class InMemoryRegistrationStore implements RegistrationStore {
  private readonly entries = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, registrationId: string): Promise<void> {
    this.entries.set(key, registrationId);
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async ping(): Promise<void> {}
}
