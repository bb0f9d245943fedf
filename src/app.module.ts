import { Module } from '@nestjs/common';
import { AppConfigModule } from './config/config.module.js';
import { ConsoleModule } from './console/console.module.js';
import { ContractModule } from './contract/contract.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { TracingModule } from './tracing/tracing.module.js';
import { VoiceConfigModule } from './voice-config/voice-config.module.js';
import { VoiceModule } from './voice/voice.module.js';

@Module({ imports: [AppConfigModule, LoggingModule, MetricsModule, TracingModule, VoiceModule, HealthModule, VoiceConfigModule, ContractModule, ConsoleModule] })
export class AppModule {}
