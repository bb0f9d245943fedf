import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { WebSocket, WebSocketServer } from 'ws';
import { BackendChatService } from '../../backend-chat/backend-chat.service.js';
import { EmbeddedChatBackendClient } from '../../backend-chat/embedded-chat-backend.client.js';
import { InMemoryRegistrationStore } from '../../backend-chat/registration.store.js';
import { buildAppConfig } from '../../config/app-config.js';
import { validateEnvironment } from '../../config/environment.js';
import { ElevenLabsTtsProvider } from '../../tts/elevenlabs-tts.provider.js';
import { LocalTtsProvider } from '../../tts/local-tts.provider.js';
import { TtsService } from '../../tts/tts.service.js';
import { SocketWriter } from './socket-writer.js';
import { Turn, type TurnContext, type TurnPhase } from './turn.js';

/** A Turn on real parts: the embedded chat engine, flite in a worker, a loopback WebSocket. */
describe('Turn', () => {
  const config = buildAppConfig(validateEnvironment({ TTS_WORKERS: '1' }));
  const local = new LocalTtsProvider(config);
  const tts = new TtsService([local, new ElevenLabsTtsProvider(config)], config);
  const chat = new BackendChatService(new EmbeddedChatBackendClient(config), new InMemoryRegistrationStore(), config);
  let server: WebSocketServer;
  let client: WebSocket;
  let context: TurnContext;
  const received: Array<{ type: string; audio?: string; turn_id?: number }> = [];

  before(async () => {
    await local.onModuleInit();
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on('message', (data: Buffer) => received.push(JSON.parse(data.toString('utf8')) as (typeof received)[number]));
    await new Promise((resolve) => client.once('open', resolve));
    context = {
      sessionId: 'turn-test',
      registration: await chat.resolveRegistration(undefined),
      ttsConfig: tts.resolveConfig({ provider: 'local', output_format: 'pcm_16000' }),
      chat,
      tts,
      writer: new SocketWriter(await accepted, 1 << 20),
      logger: new Logger('turn-test'),
      maxReplyChars: 32768,
    };
  });
  after(async () => {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await local.onApplicationShutdown();
  });

  const settle = async (turnId: number, type: string) => {
    for (let i = 0; i < 200 && !received.some((e) => e.turn_id === turnId && e.type === type); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('goes thinking -> speaking -> played, tracks sent audio and marks each sentence on its timeline', async () => {
    const turn = new Turn(1, 'hello');
    const phases: TurnPhase[] = [];
    turn.onPhase((phase) => phases.push(phase));
    assert.equal(turn.phase, 'queued');
    await turn.run(context);
    assert.deepEqual(phases, ['thinking', 'speaking', 'played']);
    assert.equal(turn.replyText, 'Hello! I am the local voice assistant. How can I help you today?');
    await settle(1, 'assistant.audio.end');
    const bytes = received.filter((e) => e.turn_id === 1 && e.type === 'assistant.audio.chunk').reduce((n, e) => n + Buffer.from(e.audio!, 'base64').length, 0);
    assert.equal(turn.audioBytesSent, bytes);
    assert.ok(Math.abs(turn.audioSentMs - bytes / 32) < 1e-6, `${turn.audioSentMs} ms for ${bytes} bytes at 16 kHz`);
    assert.ok(turn.firstAudioSentAt !== undefined);
    assert.deepEqual(turn.marks.map((m) => m.text), ['Hello!', 'I am the local voice assistant.', 'How can I help you today?']);
    let previousEnd = 0;
    for (const mark of turn.marks) {
      assert.equal(mark.startMs, previousEnd, 'marks are contiguous');
      assert.ok(mark.endMs - mark.startMs > 200, `${mark.text}: ${mark.endMs - mark.startMs} ms`);
      previousEnd = mark.endMs;
    }
    assert.ok(Math.abs(previousEnd - turn.audioSentMs) < 1e-6, 'the marks span all the audio sent');
  });

  it('cancels once with a reason: interrupted, aborted signal, no audio.end for it', async () => {
    const turn = new Turn(2, 'the quick brown fox jumps over the lazy dog and keeps running far away from here');
    const phases: TurnPhase[] = [];
    turn.onPhase((phase) => phases.push(phase));
    const running = turn.run(context);
    await new Promise<void>((resolve) => turn.onPhase((phase) => phase === 'speaking' && resolve()));
    assert.equal(turn.cancel('client_cancel'), true);
    assert.equal(turn.cancel('user_speech'), false, 'a second cancel changes nothing');
    await running;
    assert.deepEqual(phases, ['thinking', 'speaking', 'interrupted']);
    assert.equal(turn.cancelReason, 'client_cancel');
    assert.ok(turn.signal.aborted);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!received.some((e) => e.turn_id === 2 && e.type === 'assistant.audio.end'));
    assert.ok(received.some((e) => e.turn_id === 2 && e.type === 'assistant.audio.start'));
  });

  it('a cancelled queued turn never runs', async () => {
    const turn = new Turn(3, 'hello');
    assert.equal(turn.cancel('session_closed'), true);
    await turn.run(context);
    assert.equal(turn.phase, 'interrupted');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!received.some((e) => e.turn_id === 3));
  });
});
