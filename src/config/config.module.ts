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
  imports: [ConfigModule.forRoot({ cache: true, envFilePath: '.env' })],
  providers: [
    {
      provide: APP_CONFIG,
      inject: [ConfigService],
      // ConfigModule has copied `.env` into process.env by now. Validating here (not in forRoot,
      // which runs at import time) lets bootstrap catch the error and print it plainly.
      useFactory: (_config: ConfigService) => buildAppConfig(validateEnvironment(process.env)),
    },
  ],
  exports: [APP_CONFIG],
})
export class AppConfigModule {}
