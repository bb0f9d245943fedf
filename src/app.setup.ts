import type { INestApplication, LogLevel } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ASYNCAPI_PATH, VOICE_WS_PATH } from '@app/protocol';
import { APP_CONFIG, type AppConfig } from './config/app-config.js';
import { CONSOLE_PATH } from './console/console.controller.js';
import { HandshakeGate } from './voice/handshake-gate.js';
import { VoiceWsAdapter } from './voice/voice-ws.adapter.js';

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Log levels enabled for a LOG_LEVEL value (that level and everything more severe). */
export function logLevelsFor(level: string): LogLevel[] {
  const index = LOG_LEVELS.indexOf(level as LogLevel);
  return LOG_LEVELS.slice(0, index < 0 ? 4 : index + 1);
}

/**
 * Everything that makes the app this service, shared by main.ts and the e2e tests so they test the
 * server that ships: the WebSocket adapter and its limits, Swagger, shutdown hooks.
 */
export function configureApp(app: INestApplication): AppConfig {
  const config = app.get<AppConfig>(APP_CONFIG);
  app.useWebSocketAdapter(
    new VoiceWsAdapter(app, { maxPayloadBytes: config.ws.maxPayloadBytes, allowedOrigins: config.ws.allowedOrigins, gate: app.get(HandshakeGate) }),
  );
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Voice Layer')
      .setDescription(
        `Realtime voice gateway. The voice protocol runs over the WebSocket at \`${VOICE_WS_PATH}\`; ` +
          'these HTTP endpoints are for health checks, configuration discovery and the contract.\n\n' +
          `- [AsyncAPI document](${ASYNCAPI_PATH}): every client message and server event, with JSON Schemas and examples.\n` +
          `- [Test console](${CONSOLE_PATH}): talk to the service from this browser.\n` +
          '- FRONTEND_HANDOFF.md in the repository explains the protocol for frontend engineers.',
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return config;
}
