import 'reflect-metadata';
import { ConsoleLogger, type INestApplication } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { VoiceTestClient } from '@app/testing';
import { VOICE_WS_PATH } from '@app/protocol';
import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/app.setup.js';
import { APP_CONFIG, buildAppConfig } from '../../src/config/app-config.js';
import { validateEnvironment } from '../../src/config/environment.js';
import { SttService } from '../../src/stt/stt.service.js';

export interface TestApp {
  app: INestApplication;
  httpUrl: string;
  wsUrl: string;
  /** Whether configured sessions get speech recognition (and so `stt.session_started`). */
  sttAvailable: boolean;
  connect(): Promise<VoiceTestClient>;
  close(): Promise<void>;
}

/**
 * Boots the real AppModule with `configureApp()` (as main.ts does) on a free loopback port.
 * `env` is what the process environment would hold; one TTS worker keeps tests light. Errors and
 * warnings are logged as in production (Nest's default TestingLogger would drop the warnings).
 */
export async function startTestApp(env: Record<string, string> = {}, customize: (builder: TestingModuleBuilder) => TestingModuleBuilder = (builder) => builder): Promise<TestApp> {
  // TEST_LOG_LEVEL=debug shows the service's debug log (e.g. its echo checks) while a test runs.
  const config = buildAppConfig(validateEnvironment({ TTS_WORKERS: '1', STT_WORKERS: '1', LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn', ...env }));
  const moduleRef = await customize(
    Test.createTestingModule({ imports: [AppModule] })
      .setLogger(new ConsoleLogger({ logLevels: ['error', 'warn'] }))
      .overrideProvider(APP_CONFIG)
      .useValue(config),
  ).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  configureApp(app);
  await app.listen(0, '127.0.0.1');
  const httpUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const wsUrl = `${httpUrl.replace(/^http/, 'ws')}${VOICE_WS_PATH}`;
  const clients: VoiceTestClient[] = [];
  return {
    app,
    httpUrl,
    wsUrl,
    sttAvailable: app.get(SttService).defaultProvider !== undefined,
    async connect() {
      const client = await VoiceTestClient.connect(wsUrl);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await app.close();
    },
  };
}

/** Connects and reads `session.ready`. */
export async function connectReady(testApp: TestApp): Promise<VoiceTestClient> {
  const client = await testApp.connect();
  await client.expect('session.ready');
  return client;
}

/** Connects, configures and reads up to `session.configured` (and `stt.session_started` when STT runs). */
export async function connectConfigured(testApp: TestApp, configure: Record<string, unknown> = {}): Promise<VoiceTestClient> {
  const client = await connectReady(testApp);
  client.send({ type: 'session.configure', ...configure });
  await client.expect('session.configured');
  if (testApp.sttAvailable) await client.expect('stt.session_started');
  return client;
}
