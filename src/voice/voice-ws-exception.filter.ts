import { Catch, Logger, type ArgumentsHost, type WsExceptionFilter } from '@nestjs/common';
import { WebSocket } from 'ws';
import { isVoiceError, VoiceError } from '@app/protocol';
import { VoiceSessionRegistry } from './voice-session.registry.js';

/**
 * Maps anything a gateway handler throws to an `error` event on that socket. Domain errors keep
 * their code; anything else is logged and reported as `internal_error` without details.
 */
@Catch()
export class VoiceWsExceptionFilter implements WsExceptionFilter {
  private readonly logger = new Logger(VoiceWsExceptionFilter.name);

  constructor(private readonly sessions: VoiceSessionRegistry) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const socket = host.switchToWs().getClient<WebSocket>();
    const error = isVoiceError(exception) ? exception : this.unexpected(exception);
    const session = this.sessions.get(socket);
    if (session) {
      session.rejectInput(error);
    } else if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
    }
  }

  private unexpected(exception: unknown): VoiceError {
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return new VoiceError('internal_error', 'Unexpected server error; the session is still usable.');
  }
}
