import { Inject, Injectable, Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { BackendChatService } from '../backend-chat/backend-chat.service.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { SttService } from '../stt/stt.service.js';
import { TtsService } from '../tts/tts.service.js';
import { SocketWriter } from './session/socket-writer.js';
import { VoiceSession } from './session/voice-session.js';

/** Creates a VoiceSession per socket and finds it again for that socket. */
@Injectable()
export class VoiceSessionRegistry {
  private readonly sessions = new WeakMap<WebSocket, VoiceSession>();
  private readonly logger = new Logger(VoiceSession.name);
  private open = 0;

  constructor(
    private readonly chat: BackendChatService,
    private readonly tts: TtsService,
    private readonly stt: SttService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get openSessions(): number {
    return this.open;
  }

  create(socket: WebSocket): VoiceSession {
    const session = new VoiceSession({
      writer: new SocketWriter(socket, this.config.ws.sendHighWaterBytes),
      chat: this.chat,
      tts: this.tts,
      stt: this.stt,
      logger: this.logger,
      maxQueuedTurns: this.config.session.maxQueuedTurns,
    });
    this.sessions.set(socket, session);
    this.open++;
    return session;
  }

  get(socket: WebSocket): VoiceSession | undefined {
    return this.sessions.get(socket);
  }

  remove(socket: WebSocket): void {
    const session = this.sessions.get(socket);
    if (!session) return;
    this.sessions.delete(socket);
    this.open--;
    session.close();
  }
}
