import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { BackendChatService } from './backend-chat.service.js';
import { CHAT_BACKEND_CLIENT } from './chat-backend.client.js';
import { EmbeddedChatBackendClient } from './embedded-chat-backend.client.js';
import { HttpChatBackendClient } from './http-chat-backend.client.js';
import { InMemoryRegistrationStore, REGISTRATION_STORE } from './registration.store.js';

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
    { provide: REGISTRATION_STORE, useClass: InMemoryRegistrationStore },
    BackendChatService,
  ],
  exports: [BackendChatService],
})
export class BackendChatModule {}
