import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AppLogger, createPino } from './app-logger.js';

/** The configured secret values, masked in every log line whatever path they take. */
export function configuredSecrets(config: AppConfig): string[] {
  const secrets = [config.elevenlabs.apiKey, config.backend.apiKey, config.llm.apiKey, config.registrationStore.redisUrl];
  const redis = config.registrationStore.redisUrl;
  if (redis) {
    try {
      const url = new URL(redis);
      secrets.push(decodeURIComponent(url.password), url.password);
    } catch {
      // validated at boot; nothing more to mask
    }
  }
  return secrets.filter((s): s is string => !!s);
}

/** The app's structured logger (pino), global so any feature can take a child with its own fields. */
@Global()
@Module({
  providers: [
    {
      provide: AppLogger,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new AppLogger(createPino({ level: config.logLevel, format: config.logFormat, secrets: configuredSecrets(config) })),
    },
  ],
  exports: [AppLogger],
})
export class LoggingModule {}
