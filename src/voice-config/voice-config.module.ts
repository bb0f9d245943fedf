import { Module } from '@nestjs/common';
import { VoiceModule } from '../voice/voice.module.js';
import { VoiceConfigController } from './voice-config.controller.js';

@Module({ imports: [VoiceModule], controllers: [VoiceConfigController] })
export class VoiceConfigModule {}
