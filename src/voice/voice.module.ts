import { Module } from '@nestjs/common';
import { BackendChatModule } from '../backend-chat/backend-chat.module.js';
import { SttModule } from '../stt/stt.module.js';
import { TtsModule } from '../tts/tts.module.js';
import { TokensController } from './auth/tokens.controller.js';
import { WsAuthService } from './auth/ws-auth.service.js';
import { EchoJudgesService } from './echo-judges.service.js';
import { HandshakeGate } from './handshake-gate.js';
import { VoiceGateway } from './voice.gateway.js';
import { VoiceSessionRegistry } from './voice-session.registry.js';
import { VoiceWsExceptionFilter } from './voice-ws-exception.filter.js';

@Module({
  imports: [BackendChatModule, SttModule, TtsModule],
  controllers: [TokensController],
  providers: [VoiceGateway, VoiceSessionRegistry, EchoJudgesService, VoiceWsExceptionFilter, WsAuthService, HandshakeGate],
  exports: [VoiceSessionRegistry, WsAuthService, HandshakeGate, BackendChatModule, SttModule, TtsModule],
})
export class VoiceModule {}
