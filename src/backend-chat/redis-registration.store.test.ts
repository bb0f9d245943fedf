import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { CapturedOutput, freePort, RedisServer } from '@app/testing';
import { reconnectDelayMs, redisErrorLabel, redisKey, RedisRegistrationStore } from './redis-registration.store.js';

const PASSWORD = 'redis-canary-pw-3f9b1c';
const PREFIX = 'test:registration:';

describe('redis registration store helpers', () => {
  it('keys entries by prefix and a hash, so no identity part reaches Redis', () => {
    const cacheKey = JSON.stringify(['openai', 'gpt-x', 'https://llm.internal.example/v1', 'Secret system prompt', 'abcd1234']);
    const key = redisKey('p:', cacheKey);
    assert.match(key, /^p:[0-9a-f]{64}$/);
    for (const part of ['openai', 'gpt-x', 'llm.internal', 'Secret', 'abcd1234']) assert.ok(!key.includes(part));
    assert.equal(redisKey('p:', cacheKey), key);
    assert.notEqual(redisKey('p:', `${cacheKey} `), key);
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(reconnectDelayMs(0, 5000, () => 0.5), 100);
    assert.equal(reconnectDelayMs(3, 5000, () => 0.5), 800);
    assert.equal(reconnectDelayMs(10, 5000, () => 0.5), 5000);
    assert.equal(reconnectDelayMs(1_000_000, 5000, () => 1), 5000);
    assert.equal(reconnectDelayMs(0, 5000, () => 0), 80);
    assert.equal(reconnectDelayMs(0, 5000, () => 1), 120);
  });

  it('labels errors by code or class, never by message', () => {
    const refused = Object.assign(new Error(`connect ECONNREFUSED 10.1.2.3:6379 ${PASSWORD}`), { code: 'ECONNREFUSED' });
    assert.equal(redisErrorLabel(refused), 'ECONNREFUSED');
    class ErrorReply extends Error {}
    assert.equal(redisErrorLabel(new ErrorReply('WRONGPASS invalid username-password pair')), 'WRONGPASS');
    class ClientOfflineError extends Error {}
    assert.equal(redisErrorLabel(new ClientOfflineError(`offline ${PASSWORD}`)), 'ClientOfflineError');
    assert.equal(redisErrorLabel(new Error(`redis://:${PASSWORD}@host`)), 'Error');
    assert.equal(redisErrorLabel({ code: 'lower case or strange' }), 'unknown error');
    assert.equal(redisErrorLabel(PASSWORD), 'unknown error');
  });
});

describe('RedisRegistrationStore against redis-server', () => {
  let redis: RedisServer;
  let output: CapturedOutput;

  before(async () => {
    output = CapturedOutput.start();
    redis = await RedisServer.start({ password: PASSWORD });
  });
  after(async () => {
    output?.stop();
    await redis?.stop();
  });

  const open = (url = redis.url) => {
    const store = new RedisRegistrationStore({ url, ttlSeconds: 120, keyPrefix: PREFIX, maxReconnectDelayMs: 500 });
    store.onModuleInit();
    return store;
  };
  const warnings = () => output.text.split('\n').filter((line) => line.includes('Redis registration store unreachable'));

  it('stores with a TTL, reads and deletes; survives an outage as a cache; is used again after it', async () => {
    const store = open();
    const inspector = createClient({ url: redis.url });
    try {
      // Before the first connection, commands are misses without a warning.
      assert.equal(await store.get('identity-0'), undefined);
      await waitFor(() => store.ping().then(() => true, () => false), 5000);
      assert.equal(warnings().length, 0);
      assert.match(output.text, /connected to Redis; registrations are shared between replicas/);
      assert.equal(await store.get('identity-1'), undefined);
      await store.set('identity-1', 'reg_1');
      assert.equal(await store.get('identity-1'), 'reg_1');

      await inspector.connect();
      const ttl = await inspector.ttl(redisKey(PREFIX, 'identity-1'));
      assert.ok(ttl > 110 && ttl <= 120, `TTL ${ttl}`);
      assert.equal(await inspector.get(redisKey(PREFIX, 'identity-1')), 'reg_1');
      inspector.destroy();

      const warningsBefore = warnings().length;
      await redis.stop();
      // Commands fail fast while disconnected: a miss, a skipped write, no exception.
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        assert.equal(await store.get('identity-2'), undefined);
        await store.set('identity-2', 'reg_2');
        assert.ok(performance.now() - started < 1500, 'fails fast');
      }
      await assert.rejects(store.ping(), (error: Error) => /^Redis unreachable \([A-Za-z_]+\)$/.test(error.message));
      await new Promise((resolve) => setTimeout(resolve, 1200)); // several reconnect attempts
      assert.equal(warnings().length - warningsBefore, 1, 'one warning for the outage');

      await redis.start();
      await waitFor(() => store.ping().then(() => true, () => false), 10_000);
      assert.match(output.text, /Redis registration store (reconnected|answering again); registrations are shared again/);
      await store.set('identity-3', 'reg_3');
      assert.equal(await store.get('identity-3'), 'reg_3');
      assert.equal(warnings().length - warningsBefore, 1);
    } finally {
      inspector.destroy();
      await store.onApplicationShutdown();
    }
    assert.ok(!output.text.includes(PASSWORD), 'the password never reaches the log');
    assert.ok(!output.text.includes(`127.0.0.1:${redis.port}`), 'nor the address');
  });

  it('does not hold up boot when Redis is unreachable, and shuts down at once', async () => {
    const port = await freePort();
    const warningsBefore = warnings().length;
    const started = performance.now();
    const store = open(`redis://:${PASSWORD}@127.0.0.1:${port}`);
    assert.ok(performance.now() - started < 1000, 'onModuleInit does not wait for the connection');
    assert.equal(await store.get('x'), undefined);
    await store.set('x', 'reg_x');
    await waitFor(() => warnings().length > warningsBefore, 5000);
    assert.match(warnings().at(-1)!, /unreachable \(ECONNREFUSED\)/);
    await assert.rejects(store.ping(), /^Error: Redis unreachable \(ECONNREFUSED\)$/);
    const closing = performance.now();
    await store.onApplicationShutdown();
    assert.ok(performance.now() - closing < 500);
    assert.ok(!output.text.includes(PASSWORD));
  });

  it('reports a wrong password by its error code only', async () => {
    const wrong = 'wrong-canary-pw-77aa';
    const before = warnings().length;
    const store = open(`redis://:${wrong}@127.0.0.1:${redis.port}`);
    try {
      await waitFor(() => warnings().length > before, 5000);
      assert.match(warnings().at(-1)!, /unreachable \(WRONGPASS\)/);
      assert.equal(await store.get('x'), undefined);
    } finally {
      await store.onApplicationShutdown();
    }
    assert.ok(!output.text.includes(wrong));
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
