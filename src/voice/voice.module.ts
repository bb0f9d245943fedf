import { Module } from '@nestjs/common';
import { BackendChatModule } from '../backend-chat/backend-chat.module.js';
import { SttModule } from '../stt/stt.module.js';
import { TtsModule } from '../tts/tts.module.js';
import { VoiceGateway } from './voice.gateway.js';
import { VoiceSessionRegistry } from './voice-session.registry.js';
import { VoiceWsExceptionFilter } from './voice-ws-exception.filter.js';

@Module({
  imports: [BackendChatModule, SttModule, TtsModule],
  providers: [VoiceGateway, VoiceSessionRegistry, VoiceWsExceptionFilter],
  exports: [VoiceSessionRegistry, BackendChatModule, SttModule, TtsModule],
})
export class VoiceModule {}
