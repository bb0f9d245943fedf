import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { VoiceModule } from '../voice/voice.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' }), VoiceModule],
  controllers: [HealthController],
})
export class HealthModule {}
