import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { CapturedOutput } from '@app/testing';
import { REGISTRATION_STORE } from '../src/backend-chat/registration.store.js';
import { EmbeddedChatBackendClient } from '../src/backend-chat/embedded-chat-backend.client.js';
import { VoiceSessionRegistry } from '../src/voice/voice-session.registry.js';
import { handshake } from './utils/handshake.js';
import { connectConfigured, connectReady, startTestApp, type TestApp } from './utils/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('per-replica and per-address connection limits', () => {
  it('answers MAX_SESSIONS with HTTP 503 and Retry-After, and admits again once a session ends', async () => {
    const app = await startTestApp({ MAX_SESSIONS: '3' });
    try {
      const open = await Promise.all([1, 2, 3].map(() => connectReady(app)));
      const refused = await handshake(app.wsUrl);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers?.['retry-after'], '5');
      await open[0]!.close();
      await sleep(100);
      assert.equal((await handshake(app.wsUrl)).first?.type, 'session.ready');
    } finally {
      await app.close();
    }
  });

  it('limits connections per address, reading X-Forwarded-For only with TRUST_PROXY', async () => {
    const direct = await startTestApp({ MAX_CONNECTIONS_PER_IP: '2' });
    const proxied = await startTestApp({ MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '1' });
    try {
      const spoof = (n: number) => ({ headers: { 'x-forwarded-for': `198.51.100.${n}` }, keep: true });
      // Without TRUST_PROXY a forged header changes nothing: all three come from 127.0.0.1.
      const kept = [await handshake(direct.wsUrl, spoof(1)), await handshake(direct.wsUrl, spoof(2))];
      assert.equal((await handshake(direct.wsUrl, spoof(3))).status, 429);
      // Behind one trusted proxy, the address it appended counts.
      kept.push(await handshake(proxied.wsUrl, spoof(7)), await handshake(proxied.wsUrl, spoof(7)));
      assert.equal((await handshake(proxied.wsUrl, spoof(7))).status, 429);
      const other = await handshake(proxied.wsUrl, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.8' } });
      assert.equal(other.first?.type, 'session.ready', 'another client address behind the proxy');
      for (const result of kept) result.socket?.close();
    } finally {
      await direct.close();
      await proxied.close();
    }
  });

  it('limits session.configure attempts per address and minute', async () => {
    const app = await startTestApp({ MAX_CONFIGURES_PER_IP_PER_MINUTE: '2' });
    try {
      await connectConfigured(app);
      await connectConfigured(app);
      const third = await connectReady(app);
      third.send({ type: 'session.configure' });
      const error = await third.expect('error');
      assert.equal(error.code, 'rate_limited');
      assert.match(error.message, /MAX_CONFIGURES_PER_IP_PER_MINUTE=2/);
    } finally {
      await app.close();
    }
  });
});

describe('per-session limits and error reporting', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ MAX_MESSAGES_PER_SECOND: '20', MAX_REPLY_CHARS: '100', WS_MAX_PAYLOAD_BYTES: '131072' });
  });
  after(() => app.close());

  it('coalesces repeated identical errors into one with a count', async () => {
    const client = await connectReady(app);
    for (let i = 0; i < 30; i++) client.sendRaw(Buffer.alloc(320));
    const first = await client.expect('error');
    assert.equal(first.code, 'not_configured');
    const summary = await client.expect('error', { timeoutMs: 3000 });
    assert.equal(summary.code, 'not_configured');
    assert.match(summary.message, /\(repeated 29 more times in the last 1000 ms\)/);
    assert.ok(await client.quietFor(1500), 'nothing more');
  });

  it('drops messages over MAX_MESSAGES_PER_SECOND with rate_limited, and the session recovers', async () => {
    const client = await connectConfigured(app);
    for (let i = 0; i < 100; i++) client.send({ type: 'text.prompt', text: `   ` });
    const events = await client.until((e) => e.type === 'error' && e.code === 'rate_limited', { timeoutMs: 5000 });
    assert.match((events.at(-1) as { message: string }).message, /MAX_MESSAGES_PER_SECOND/);
    await sleep(2500);
    client.send({ type: 'text.prompt', text: 'hello' });
    await client.nextOf('assistant.message', { timeoutMs: 15_000 });
  });

  it('refuses a binary audio chunk over max_audio_chunk_bytes like a base64 one', async () => {
    const client = await connectConfigured(app);
    client.sendRaw(Buffer.alloc(96_002));
    const error = await client.nextOf('error');
    assert.equal(error.code, 'audio_chunk_too_large');
    assert.match(error.message, /96000/);
    client.send({ type: 'text.prompt', text: 'hello' });
    await client.nextOf('assistant.message', { timeoutMs: 15_000 });
  });

  it('closes a frame over WS_MAX_PAYLOAD_BYTES with 1009 and a reason naming the limit', async () => {
    const client = await connectReady(app);
    client.sendRaw(Buffer.alloc(131_073));
    const closed = await client.whenClosed();
    assert.equal(closed.code, 1009);
    assert.match(closed.reason, /WS_MAX_PAYLOAD_BYTES=131072/);
  });

  it('cuts a reply over MAX_REPLY_CHARS at the limit, delivers that much and says so', async () => {
    const client = await connectConfigured(app);
    client.send({ type: 'text.prompt', text: 'x'.repeat(200) });
    const message = await client.nextOf('assistant.message', { timeoutMs: 15_000 });
    assert.equal(message.text.length, 100);
    const error = await client.nextOf('error', { timeoutMs: 15_000 });
    assert.equal(error.code, 'reply_too_large');
    assert.match(error.message, /MAX_REPLY_CHARS/);
  });

  it('explains JSON syntax errors, misspelt and missing fields, and quoted numbers', async () => {
    const client = await connectReady(app);
    const cases: Array<[string, RegExp]> = [
      ['{"type":"session.configure",}', /JSON syntax error: unexpected input at line 1 column 29 .*trailing comma/],
      ['{"type":"session.configure","backend":{"registrationId":"r1"}}', /backend\.registrationId is not a known field; did you mean registration_id\?/],
      ['{"type":"session.configure","stt":{"sample_rate":"16000"}}', /stt\.sample_rate must be a number, not a string \(write 16000 without quotes\)/],
      ['{"type":"text.prompt"}', /text is required/],
    ];
    for (const [frame, pattern] of cases) {
      client.sendRaw(frame);
      const error = await client.expect('error');
      assert.match(error.message, pattern, frame);
    }
  });
});

describe('inbound backpressure behind a pending session.configure', () => {
  let registerDelay: Server;
  let app: TestApp;
  before(async () => {
    registerDelay = createServer((req, res) => {
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/v1/register' ? '{"registration_id":"reg_slow"}' : '{"response":"ok"}');
      if (req.url === '/v1/register') setTimeout(answer, 1500);
      else answer();
    });
    await new Promise<void>((resolve) => registerDelay.listen(0, '127.0.0.1', resolve));
    app = await startTestApp({ BACKEND_BASE_URL: `http://127.0.0.1:${(registerDelay.address() as AddressInfo).port}`, MAX_PENDING_INBOUND_MESSAGES: '8' });
  });
  after(async () => {
    await app.close();
    registerDelay.closeAllConnections();
    await new Promise((resolve) => registerDelay.close(resolve));
  });

  const serverSockets = () => [...app.app.get<VoiceSessionRegistry, { sessions: Map<WebSocket, unknown> }>(VoiceSessionRegistry).sessions.keys()];

  it('stops reading the socket while the queue is full, then takes every frame in order', async () => {
    const client = await connectReady(app);
    client.send({ type: 'session.configure', backend: { provider: 'local' } });
    // 40 frames of 6400 bytes: far more than 8, sent as separate TCP writes.
    for (let i = 0; i < 40; i++) {
      client.send({ type: 'audio.commit', pad: 'p'.repeat(6400) });
      await sleep(5);
    }
    await sleep(300);
    const socket = serverSockets().at(-1)!;
    assert.equal(socket.isPaused, true, 'reading paused while configure is pending');
    await client.expect('session.configured', { timeoutMs: 10_000 });
    // Each frame (an audio.commit with an unknown field) is answered by invalid_message: one error,
    // then one per second with the count of repeats, so the answers account for all 40 frames.
    let answered = 0;
    const deadline = Date.now() + 10_000;
    while (answered < 40 && Date.now() < deadline) {
      const error = await client.nextOf('error', { timeoutMs: 3000 });
      assert.equal(error.code, 'invalid_message', error.message);
      answered += Number(/repeated (\d+) more/.exec(error.message)?.[1] ?? 1);
    }
    assert.equal(answered, 40, 'every frame was taken, none dropped');
    assert.equal(socket.isPaused, false, 'reading resumed');
  });

  it('drops frames already read beyond 4x the limit with one input_overflow error', async () => {
    const client = await connectReady(app);
    client.send({ type: 'session.configure', backend: { provider: 'echo' } });
    // Small frames written at once arrive in one TCP read, before the pause can take effect.
    const raw = (client.socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    raw.cork();
    for (let i = 0; i < 300; i++) client.send({ type: 'audio.commit' });
    raw.uncork();
    const events = await client.until((e) => e.type === 'error' && e.code === 'input_overflow', { timeoutMs: 10_000 }).catch((error: Error) => {
      throw new Error(`${error.message.slice(0, 200)} ${JSON.stringify(client.events.filter((e) => e.type === 'error'))}`);
    });
    assert.match((events.at(-1) as { message: string }).message, /session\.configured/);
    await client.nextOf('session.configured', { timeoutMs: 10_000 });
  });
});

describe('outbound: a client that stops reading', () => {
  it('is closed with 4008 and a reason, and its turns are cancelled', { timeout: 90_000 }, async () => {
    const output = CapturedOutput.start();
    const app = await startTestApp({ WS_SEND_HIGH_WATER_BYTES: '16384', WS_SLOW_CLIENT_TIMEOUT_MS: '1000', MAX_QUEUED_TURNS: '10' });
    try {
      // Barge-in off: replies follow each other at synthesis speed (with it on they come at about real
      // time, and the ping heartbeat drops a peer that never reads).
      const client = await connectConfigured(app, { interruption: { enabled: false } });
      const raw = (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause();
      const long = 'Please repeat this long sentence about the quiet harbour at dawn. '.repeat(4);
      for (let i = 0; i < 8; i++) client.send({ type: 'text.prompt', text: `${i} ${long}` });
      const deadline = Date.now() + 60_000;
      while (!output.text.includes('client stopped reading') && Date.now() < deadline) await sleep(200);
      assert.match(output.text, /closing a session whose client stopped reading/);
      raw.resume();
      const closed = await client.whenClosed();
      assert.equal(closed.code, 4008);
      assert.match(closed.reason, /client not reading/);
      const ends = client.events.filter((e) => e.type === 'assistant.audio.end').length;
      assert.ok(ends < 8, `turns were cancelled (${ends} of 8 finished)`);
    } finally {
      await app.close();
      output.stop();
    }
  });
});

describe('bounded caches', () => {
  it('keeps at most MAX_CACHED_REGISTRATIONS registrations and conversations however many identities clients use', async () => {
    const app = await startTestApp({ MAX_CACHED_REGISTRATIONS: '10', ALLOW_FRONTEND_BACKEND_PROMPT: 'true' });
    try {
      for (let i = 0; i < 25; i++) {
        const client = await connectConfigured(app, { backend: { provider: 'local', system_prompt: `prompt ${i}` } });
        client.send({ type: 'text.prompt', text: `message ${i}` });
        await client.nextOf('assistant.message', { timeoutMs: 15_000 });
        await client.close();
      }
      const store = app.app.get<{ size: number }>(REGISTRATION_STORE);
      assert.equal(store.size, 10);
      const engine = app.app.get<EmbeddedChatBackendClient, { engine: { registrationCount: number; conversationCount: number } }>(EmbeddedChatBackendClient).engine;
      assert.equal(engine.registrationCount, 10);
      assert.equal(engine.conversationCount, 10, 'conversation histories are bounded too');
      // A session whose registration was evicted still chats (the engine serves unknown ids locally).
      const client = await connectConfigured(app, { backend: { provider: 'local', system_prompt: 'prompt 0' } });
      client.send({ type: 'text.prompt', text: 'hello' });
      await client.nextOf('assistant.message', { timeoutMs: 15_000 });
    } finally {
      await app.close();
    }
  });
});

