import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { ReferenceBackendOptions } from './chat.controller.js';
import { ReferenceBackendModule } from './reference-backend.module.js';

export type { ReferenceBackendOptions } from './chat.controller.js';

/** Builds the reference chat backend; call `listen()` on the result. */
export async function createReferenceBackend(options: ReferenceBackendOptions = {}, logger: LogLevel[] | false = ['error', 'warn', 'log']): Promise<INestApplication> {
  const app = await NestFactory.create(ReferenceBackendModule.forRoot(options), { logger, abortOnError: false });
  app.enableShutdownHooks();
  return app;
}
