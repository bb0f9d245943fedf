import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { configureApp, logLevelsFor } from './app.setup.js';
import { ConfigurationError } from './config/environment.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { abortOnError: false, bufferLogs: true, logger: logLevelsFor(process.env['LOG_LEVEL'] ?? 'log') });
  const config = configureApp(app);
  await app.listen(config.http.port, config.http.host);
  Logger.log(`Voice Layer listening on http://${config.http.host}:${config.http.port} (WebSocket /v1/voice/ws, docs /docs)`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  if (error instanceof ConfigurationError) {
    console.error(error.message);
  } else {
    console.error('Voice Layer failed to start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
