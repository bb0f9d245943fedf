import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RedisServer, VoiceTestClient } from '@app/testing';
import type { ServerEvent } from '@app/protocol';
import { NGINX_BINARY, NginxServer } from './utils/nginx.js';
import { ServiceProcess } from './utils/service-process.js';

const root = new URL('../../', import.meta.url);
/** Several sentences: each is synthesised on its own, so the reply takes a while to stream. */
const LONG_PROMPT = Array.from({ length: 6 }, (_, i) => `This is sentence number ${i + 1} of a long question about the sea and the wind.`).join(' ');

type Replica = ServiceProcess;

/** A service replica as its own process, started the way the image starts it: `node dist/src/main.js`. */
function startReplica(redisUrl: string): Promise<Replica> {
  return ServiceProcess.start(
    {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      TTS_WORKERS: '1',
      // Text turns only: no speech recogniser workers to start.
      LOCAL_STT_MODEL_DIR: '/nonexistent',
      REGISTRATION_STORE: 'redis',
      REDIS_URL: redisUrl,
      DRAIN_TIMEOUT_MS: '15000',
    },
    [],
    // Boot warms the synthesis workers: slow on a loaded machine.
    { readyPath: '/health/ready', timeoutMs: 60_000 },
  );
}

async function connectionsOpen(replica: Replica): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
  return Number(/^voice_layer_connections_open (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function configured(url: string): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(url);
  await client.expect('session.ready');
  // These clients do not play audio: with barge-in off, a turn ends when its audio was sent, not
  // when it would have finished playing (the drain waits for either).
  client.send({ type: 'session.configure', interruption: { enabled: false } });
  await client.expect('session.configured');
  return client;
}

/** Sends a prompt and reads the turn to its `turn.metrics`. */
async function converse(client: VoiceTestClient, text: string): Promise<ServerEvent[]> {
  client.send({ type: 'text.prompt', text });
  const events = await client.until((e) => e.type === 'turn.metrics' || e.type === 'error', { timeoutMs: 30_000 });
  const metrics = events.at(-1) as ServerEvent & { type: 'turn.metrics' };
  assert.equal(metrics.type, 'turn.metrics', JSON.stringify(events.at(-1)));
  assert.equal(metrics.outcome, 'completed');
  return events;
}

describe('two replicas behind nginx, one drained mid-turn', () => {
  let redis: RedisServer;
  let a: Replica;
  let b: Replica;
  let nginx: NginxServer;
  let url: string;
  const nginxInstalled = !spawnSync(NGINX_BINARY, ['-v']).error;

  before(async () => {
    if (!nginxInstalled) return;
    redis = await RedisServer.start();
    [a, b] = await Promise.all([startReplica(redis.url), startReplica(redis.url)]);
    nginx = await NginxServer.start(readFileSync(new URL('deploy/nginx/voice-layer.conf', root), 'utf8'), [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    url = `ws://127.0.0.1:${nginx.port}/v1/voice/ws`;
  });
  after(async () => {
    for (const replica of [a, b]) replica?.signal('SIGKILL');
    await nginx?.stop();
    await redis?.stop();
  });

  it('finishes the turn in progress, closes with 1001, and clients reconnect through nginx to the other replica without losing a turn', async (t) => {
    if (!nginxInstalled) return t.skip('nginx is not installed (scripts/setup.sh --test installs it)');
    const started = performance.now();
    // Clients connect one at a time; the replicas' gauges tell where each landed.
    const placed: Array<{ client: VoiceTestClient; replica: Replica }> = [];
    for (let i = 0; i < 6; i++) {
      const before = await Promise.all([connectionsOpen(a), connectionsOpen(b)]);
      const client = await configured(url);
      const after = await Promise.all([connectionsOpen(a), connectionsOpen(b)]);
      const replica = after[0] > before[0] ? a : after[1] > before[1] ? b : undefined;
      assert.ok(replica, `client ${i} is on neither replica`);
      placed.push({ client, replica });
    }
    const onA = placed.filter((p) => p.replica === a).map((p) => p.client);
    const onB = placed.filter((p) => p.replica === b).map((p) => p.client);
    assert.ok(onA.length >= 2 && onB.length >= 2, `nginx spreads sessions: ${onA.length} on a, ${onB.length} on b`);
    // A first exchange on every session (registrations shared through Redis).
    await Promise.all(placed.map(({ client }) => converse(client, 'hello there')));

    // Every client starts a long turn; replica a gets SIGTERM once its clients hear audio.
    for (const { client } of placed) client.send({ type: 'text.prompt', text: LONG_PROMPT });
    await Promise.all(onA.map((client) => client.nextOf('assistant.audio.start', { timeoutMs: 20_000 })));
    const eventsAtKill = onA.map((client) => client.events.length);
    a.signal('SIGTERM');
    const killedAt = performance.now();

    // Readiness of a turns 503 at once; the handshake is refused with 503 too.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await fetch(`http://127.0.0.1:${a.port}/health/ready`)).status, 503);

    // The turns in progress on a complete, then a closes those sessions with 1001.
    const drained = await Promise.all(
      onA.map(async (client, i) => {
        const rest = await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
        const metrics = rest.at(-1) as ServerEvent & { type: 'turn.metrics' };
        assert.equal(metrics.outcome, 'completed');
        assert.ok(rest.some((e) => e.type === 'assistant.audio.end'));
        const chunksAfterKill = client.events.slice(eventsAtKill[i]).filter((e) => e.type === 'assistant.audio.chunk').length;
        return { close: await client.whenClosed(), closedAt: performance.now(), chunksAfterKill };
      }),
    );
    for (const { close } of drained) assert.equal(close.code, 1001);
    assert.ok(drained.some((d) => d.chunksAfterKill > 0), 'SIGTERM came while audio was still streaming');
    // b's sessions are untouched: their turns complete too.
    await Promise.all(onB.map((client) => client.until((e) => e.type === 'turn.metrics', { timeoutMs: 30_000 })));

    // The closed clients reconnect through nginx, and one new client arrives while a still drains or is gone.
    const reconnected = await Promise.all(onA.map(() => configured(url)));
    const newcomer = await configured(url);
    const bConnections = await connectionsOpen(b);
    assert.equal(bConnections, onB.length + reconnected.length + 1, 'every reconnect landed on b');
    // No turn lost: the reconnected sessions hold their conversations on b.
    await Promise.all([...reconnected, newcomer].map((client) => converse(client, 'are you still there')));

    const exit = await a.exited;
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `replica a exited cleanly: ${JSON.stringify(exit)} ${a.output.slice(-500)}`);
    const exitMs = exit.at - killedAt;
    const closedMs = Math.max(...drained.map((d) => d.closedAt)) - killedAt;

    for (const client of [...onB, ...reconnected, newcomer]) await client.close();
    await nginx.stop().catch(() => undefined);
    // nginx logs each WebSocket when it ends: `upstream=` lists every replica tried, the last served.
    const sockets = nginx.accessLog().filter((line) => line.includes('"GET /v1/voice/ws'));
    const servedBy = (line: string) => /upstream=(\S+(?:, \S+)*) upstream_status/.exec(line)![1]!.split(', ').at(-1);
    const upgraded = sockets.filter((line) => / 101 /.test(line));
    assert.equal(upgraded.length, placed.length + reconnected.length + 1);
    const aAddress = `127.0.0.1:${a.port}`;
    assert.equal(upgraded.filter((line) => servedBy(line) === aAddress).length, onA.length, 'a served only the sessions it had before the drain');
    const retried = upgraded.filter((line) => line.includes(`upstream=${aAddress}, `));
    t.diagnostic(
      `${placed.length} sessions (${onA.length} on a); SIGTERM to last 1001 close ${Math.round(closedMs)} ms, to exit ${Math.round(exitMs)} ms; ` +
        `handshakes nginx retried away from a: ${retried.length}; total ${Math.round(performance.now() - started)} ms`,
    );
  });
});
