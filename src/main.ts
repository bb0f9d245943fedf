import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { AppLogger } from './logging/app-logger.js';
import { configureApp, logLevelsFor } from './app.setup.js';
import { ConfigurationError, validateEnvironment } from './config/environment.js';

async function bootstrap(): Promise<void> {
  // Validate before Nest starts, so a bad environment prints its list of problems and nothing else.
  // Variables already in the environment win over `.env`, as with ConfigModule.
  if (existsSync('.env')) process.loadEnvFile('.env');
  const env = validateEnvironment(process.env);
  const app = await NestFactory.create(AppModule, { abortOnError: false, bufferLogs: true, logger: logLevelsFor(env.LOG_LEVEL) });
  // Every line (Nest's buffered boot lines too) goes through pino: JSON or pretty, secrets masked.
  app.useLogger(app.get(AppLogger));
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
