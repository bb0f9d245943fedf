import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { createClient } from 'redis';
import { ChatEngine, localReply } from '@app/chat';
import { CapturedOutput, freePort, RedisServer, type VoiceTestClient } from '@app/testing';
import { createReferenceBackend } from '@apps/reference-backend';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';
import { bootService } from './utils/boot.js';

const PASSWORD = 'redis-canary-pw-e2e-4b7d';
const PREFIX = 'voice-layer:registration:';
const TTL_SECONDS = 600;
const UNREACHABLE = 'Redis registration store unreachable';

interface Ready {
  status: number;
  body: { status: string; details: Record<string, { status: string; kind?: string; state?: string; reason?: string }> };
  text: string;
}

describe('registrations shared by two replicas through Redis (REGISTRATION_STORE=redis)', () => {
  let output: CapturedOutput;
  let redis: RedisServer;
  let backend: INestApplication;
  let inspector: ReturnType<typeof createClient> | undefined;
  let a: TestApp;
  let b: TestApp;
  const clients: VoiceTestClient[] = [];

  before(async () => {
    output = CapturedOutput.start();
    redis = await RedisServer.start({ password: PASSWORD });
    backend = await createReferenceBackend({}, false);
    await backend.listen(0, '127.0.0.1');
    const backendUrl = (await backend.getUrl()).replace('[::1]', '127.0.0.1');
    const env = { BACKEND_BASE_URL: backendUrl, REGISTRATION_STORE: 'redis', REDIS_URL: redis.url, REGISTRATION_TTL_SECONDS: String(TTL_SECONDS), ALLOW_FRONTEND_BACKEND_PROMPT: 'true' };
    a = await startTestApp(env);
    b = await startTestApp(env);
    inspector = createClient({ url: redis.url });
    inspector.on('error', () => undefined);
    await inspector.connect();
    await Promise.all([a, b].map((app) => waitForStore(app, 'up')));
  });
  after(async () => {
    inspector?.destroy();
    await a?.close();
    await b?.close();
    await backend?.close();
    await redis?.stop();
    output?.stop();
  });

  const engine = () => backend.get(ChatEngine);
  const session = async (app: TestApp, systemPrompt: string) => {
    const client = await connectConfigured(app, { backend: { provider: 'local', system_prompt: systemPrompt } });
    clients.push(client);
    return client;
  };
  const storedIds = async () => {
    const keys = await inspector!.keys(`${PREFIX}*`);
    return Promise.all(keys.map(async (key) => ({ key, id: (await inspector!.get(key))!, ttl: await inspector!.ttl(key) })));
  };

  it('a registration made on one replica is reused by the other, stored with the TTL', async () => {
    const before = engine().registrationCount;
    const onA = await session(a, 'shared one');
    assert.equal(engine().registrationCount - before, 1);
    const onB = await session(b, 'shared one');
    assert.equal(engine().registrationCount - before, 1, 'replica B reused the registration from Redis');
    assert.equal(await turn(onA, 'hello'), localReply('hello'));
    assert.equal(await turn(onB, 'hello from b'), localReply('hello from b'));

    const stored = await storedIds();
    assert.equal(stored.length, 1);
    assert.match(stored[0]!.key, new RegExp(`^${PREFIX}[0-9a-f]{64}$`));
    assert.ok(engine().hasRegistration(stored[0]!.id));
    assert.ok(stored[0]!.ttl > TTL_SECONDS - 30 && stored[0]!.ttl <= TTL_SECONDS, `TTL ${stored[0]!.ttl}`);
  });

  it('registers again once when the backend forgot, updates Redis, and the other replica follows', async () => {
    const [onA, onB] = clients as [VoiceTestClient, VoiceTestClient];
    const oldId = (await storedIds())[0]!.id;
    // The backend restarted and lost its registrations.
    (engine() as unknown as { registrations: Map<string, unknown> }).registrations.clear();
    assert.equal(await turn(onA, 'are you there'), localReply('are you there'));
    assert.equal(engine().registrationCount, 1, 'one new registration');
    const newId = (await storedIds())[0]!.id;
    assert.notEqual(newId, oldId);
    assert.ok(engine().hasRegistration(newId));
    // B's session still holds the lost id: it picks up the one A stored instead of registering again.
    assert.equal(await turn(onB, 'me too'), localReply('me too'));
    assert.equal(engine().registrationCount, 1);
    await session(b, 'shared one');
    assert.equal(engine().registrationCount, 1);
  });

  it('while Redis is down, sessions still register and chat, readiness stays 200, one warning per replica', async () => {
    await redis.stop();
    const before = engine().registrationCount;
    const onA = await session(a, 'during the outage');
    assert.equal(await turn(onA, 'still there'), localReply('still there'));
    const onB = await session(b, 'during the outage');
    assert.equal(await turn(onB, 'and here'), localReply('and here'));
    assert.equal(engine().registrationCount - before, 2, 'each replica registered directly');
    // Existing sessions go on too.
    assert.equal(await turn(clients[0]!, 'old session'), localReply('old session'));

    for (const app of [a, b]) {
      const ready = await getReady(app);
      assert.equal(ready.status, 200, ready.text);
      assert.equal(ready.body.status, 'degraded');
      const store = ready.body.details['registration_store']!;
      assert.deepEqual({ status: store.status, kind: store.kind, state: store.state }, { status: 'degraded', kind: 'redis', state: 'unreachable' });
      assert.match(store.reason!, /^Redis unreachable \([A-Za-z_]+\)/);
      assert.equal(ready.body.details['backend']!.status, 'up');
      assert.ok(!ready.text.includes(PASSWORD) && !ready.text.includes(`127.0.0.1:${redis.port}`), 'no URL in the readiness body');
    }
    // More traffic during the outage adds no warning.
    for (let i = 0; i < 5; i++) await session(i % 2 ? a : b, `storm ${i}`);
    assert.equal(count(output.text, UNREACHABLE), 2, 'one warning per replica for the whole outage');
  });

  it('when Redis is back, the store is shared again', async () => {
    await redis.start();
    await Promise.all([a, b].map((app) => waitForStore(app, 'up')));
    const before = engine().registrationCount;
    const onB = await session(b, 'after the outage');
    const onA = await session(a, 'after the outage');
    assert.equal(engine().registrationCount - before, 1);
    assert.equal(await turn(onA, 'back again'), localReply('back again'));
    assert.equal(await turn(onB, 'back here too'), localReply('back here too'));
    assert.equal((await storedIds()).length, 1, 'Redis came back empty; one new entry');
  });

  it('never shows the Redis URL or password in logs or client events', () => {
    const events = JSON.stringify(clients.flatMap((client) => client.events));
    for (const text of [output.text, events]) {
      assert.ok(!text.includes(PASSWORD), 'no password');
      assert.ok(!text.includes(`127.0.0.1:${redis.port}`), 'no Redis address');
      assert.ok(!text.includes('redis://'), 'no URL');
    }
    assert.ok(!events.toLowerCase().includes('redis'), 'clients are not told about the store');
  });
});

describe('REGISTRATION_STORE=redis at boot', () => {
  it('starts and serves sessions while Redis is unreachable', async () => {
    const port = await freePort();
    const started = performance.now();
    const app = await startTestApp({ REGISTRATION_STORE: 'redis', REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}` });
    try {
      assert.ok(performance.now() - started < 10_000);
      const client = await connectConfigured(app, { backend: { provider: 'local' } });
      assert.equal(await turn(client, 'hi'), localReply('hi'));
      const ready = await getReady(app);
      assert.equal(ready.status, 200, ready.text);
      assert.equal(ready.body.details['registration_store']!.state, 'unreachable');
    } finally {
      await app.close();
    }
  });

  it('reports the in-memory store on default settings', async () => {
    const app = await startTestApp();
    try {
      const ready = await getReady(app);
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'ok');
      assert.deepEqual(ready.body.details['registration_store'], { status: 'up', kind: 'memory', state: 'up' });
    } finally {
      await app.close();
    }
  });

  it('refuses to start without REDIS_URL or with a bad one, never printing it', async () => {
    const missing = await bootService({ REGISTRATION_STORE: 'redis' });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /- REDIS_URL: required when REGISTRATION_STORE=redis/);
    const bad = await bootService({ REGISTRATION_STORE: 'redis', REDIS_URL: `https://:${PASSWORD}@redis.internal:6379` });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /- REDIS_URL=\(hidden\): must use redis:\/\/ or rediss:\/\//);
    assert.ok(!bad.stderr.includes(PASSWORD) && !bad.stderr.includes('redis.internal'));
    assert.ok(!/\n\s+at /.test(bad.stderr), 'no stack trace');
  });
});

async function turn(client: VoiceTestClient, text: string): Promise<string> {
  client.send({ type: 'text.prompt', text });
  const events = await client.until((e) => e.type === 'assistant.audio.end' || e.type === 'error', { timeoutMs: 20_000 });
  const message = events.find((e) => e.type === 'assistant.message') as { text: string } | undefined;
  assert.ok(message, `no assistant.message: ${JSON.stringify(events.at(-1))}`);
  return message.text;
}

async function getReady(app: TestApp): Promise<Ready> {
  const response = await fetch(`${app.httpUrl}/health/ready`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Ready['body'], text };
}

async function waitForStore(app: TestApp, state: 'up' | 'unreachable', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await getReady(app);
    if (ready.body.details['registration_store']?.state === state) return;
    if (Date.now() > deadline) throw new Error(`registration store not ${state} within ${timeoutMs} ms: ${ready.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

