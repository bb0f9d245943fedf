import { Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_CONFIG, buildAppConfig } from './app-config.js';
import { validateEnvironment } from './environment.js';

/**
 * Loads `.env` and the process environment, validates them at boot (ConfigurationError lists every
 * problem) and provides the typed AppConfig under APP_CONFIG.
 */
@Global()
@Module({
  imports: [ConfigModule.forRoot({ cache: true, envFilePath: '.env', validate: validateEnvironment })],
  providers: [
    {
      provide: APP_CONFIG,
      inject: [ConfigService],
      // ConfigModule has validated the environment and copied `.env` into process.env by now.
      useFactory: (_config: ConfigService) => buildAppConfig(validateEnvironment(process.env)),
    },
  ],
  exports: [APP_CONFIG],
})
export class AppConfigModule {}
