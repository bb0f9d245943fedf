import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { ChatEngine } from '@app/chat';
import { ChatController, REFERENCE_BACKEND_OPTIONS, type ReferenceBackendOptions } from './chat.controller.js';

@Module({})
export class ReferenceBackendModule {
  static forRoot(options: ReferenceBackendOptions): DynamicModule {
    return {
      module: ReferenceBackendModule,
      controllers: [ChatController],
      providers: [
        { provide: REFERENCE_BACKEND_OPTIONS, useValue: options },
        { provide: ChatEngine, useValue: new ChatEngine({ llmTimeoutMs: options.llmTimeoutMs, localStreamMsPerWord: options.localStreamMsPerWord }) },
        { provide: APP_PIPE, useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }) },
      ],
    };
  }
}
