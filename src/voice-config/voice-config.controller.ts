import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import {
  CLIENT_MESSAGES,
  ERROR_CODES,
  MAX_AUDIO_CHUNK_BYTES,
  MAX_TEXT_PROMPT_CHARS,
  PROTOCOL_VERSION,
  STT_INPUT_FORMATS,
  TTS_OUTPUT_FORMATS,
  VOICE_WS_PATH,
} from '@app/protocol';
import { BackendChatService } from '../backend-chat/backend-chat.service.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { SttService } from '../stt/stt.service.js';
import { TtsService } from '../tts/tts.service.js';

export class VoiceConfigResponse {
  @ApiProperty({ example: PROTOCOL_VERSION }) protocol_version!: string;
  @ApiProperty({ description: 'WebSocket endpoint, limits and heartbeat.' }) websocket!: Record<string, unknown>;
  @ApiProperty({ description: 'Client message types accepted.', type: [String] }) client_messages!: string[];
  @ApiProperty({ description: 'Chat backend mode and how sessions without `backend` are registered (no URLs or keys).' })
  backend!: Record<string, unknown>;
  @ApiProperty({ description: 'STT providers (available or why not), the default provider and input formats.' }) stt!: Record<string, unknown>;
  @ApiProperty({ description: 'TTS providers (voices, output formats), the default provider and defaults.' }) tts!: Record<string, unknown>;
  @ApiProperty({ description: 'Size and queue limits.' }) limits!: Record<string, number>;
  @ApiProperty({ description: 'Every error code with what a client should do about it.' }) error_codes!: Record<string, string>;
}

/** Effective, non-secret configuration for frontends and operators. */
@ApiTags('voice')
@Controller('v1/voice')
export class VoiceConfigController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chat: BackendChatService,
    private readonly tts: TtsService,
    private readonly stt: SttService,
  ) {}

  @Get('config')
  @ApiOperation({ summary: 'Effective non-secret configuration: providers available, defaults and limits.' })
  @ApiOkResponse({ type: VoiceConfigResponse })
  getConfig(): VoiceConfigResponse {
    const { ws, session, tts } = this.config;
    return {
      protocol_version: PROTOCOL_VERSION,
      websocket: {
        path: VOICE_WS_PATH,
        max_payload_bytes: ws.maxPayloadBytes,
        ping_interval_ms: ws.pingIntervalMs,
        // `token`: the handshake needs a JWT (header, subprotocol `bearer.<JWT>` beside `voice-layer.v1`, or ?access_token=).
        auth: this.config.auth.mode,
        subprotocol: 'voice-layer.v1',
      },
      client_messages: Object.keys(CLIENT_MESSAGES),
      backend: {
        mode: this.chat.backendKind,
        default_registration: this.chat.defaultRegistrationSource ?? null,
        allow_frontend_backend_auth: this.config.backend.allowFrontendAuth,
      },
      stt: { default_provider: this.stt.defaultProvider ?? null, providers: this.stt.describe(), input_formats: STT_INPUT_FORMATS },
      tts: {
        default_provider: this.tts.defaultProvider,
        default_output_format: tts.outputFormat,
        chunk_ms: tts.chunkMs,
        providers: this.tts.describe(),
        known_output_formats: TTS_OUTPUT_FORMATS,
      },
      limits: {
        max_text_prompt_chars: MAX_TEXT_PROMPT_CHARS,
        max_audio_chunk_bytes: MAX_AUDIO_CHUNK_BYTES,
        max_queued_turns: session.maxQueuedTurns,
        max_messages_per_second: this.config.limits.maxMessagesPerSecond,
        max_reply_chars: this.config.backend.maxReplyChars,
        send_high_water_bytes: ws.sendHighWaterBytes,
        slow_client_timeout_ms: this.config.limits.slowClientTimeoutMs,
      },
      error_codes: { ...ERROR_CODES },
    };
  }
}
