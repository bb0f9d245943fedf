import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { BackendChatService } from './backend-chat.service.js';
import { CHAT_BACKEND_CLIENT } from './chat-backend.client.js';
import { EmbeddedChatBackendClient } from './embedded-chat-backend.client.js';
import { HttpChatBackendClient } from './http-chat-backend.client.js';
import { RedisRegistrationStore } from './redis-registration.store.js';
import { InMemoryRegistrationStore, REGISTRATION_STORE, type RegistrationStore } from './registration.store.js';

@Module({
  imports: [HttpModule],
  providers: [
    HttpChatBackendClient,
    EmbeddedChatBackendClient,
    {
      provide: CHAT_BACKEND_CLIENT,
      inject: [APP_CONFIG, HttpChatBackendClient, EmbeddedChatBackendClient],
      useFactory: (config: AppConfig, http: HttpChatBackendClient, embedded: EmbeddedChatBackendClient) =>
        config.backend.baseUrl ? http : embedded,
    },
    {
      provide: REGISTRATION_STORE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): RegistrationStore => {
        const store = config.registrationStore;
        if (store.kind === 'memory') return new InMemoryRegistrationStore(config.limits.maxCachedRegistrations, store.ttlSeconds);
        // validateEnvironment() requires REDIS_URL with REGISTRATION_STORE=redis.
        if (!store.redisUrl) throw new Error('REGISTRATION_STORE=redis needs REDIS_URL');
        return new RedisRegistrationStore({ url: store.redisUrl, ttlSeconds: store.ttlSeconds, keyPrefix: store.keyPrefix });
      },
    },
    BackendChatService,
  ],
  exports: [BackendChatService, REGISTRATION_STORE],
})
export class BackendChatModule {}
