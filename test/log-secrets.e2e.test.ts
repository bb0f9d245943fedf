import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort, VoiceTestClient } from '@app/testing';
import type { ServerEvent } from '@app/protocol';
import { ServiceProcess } from './utils/service-process.js';

const CANARIES = {
  ELEVENLABS_API_KEY: 'canary-elevenlabs-7f3a9c1e',
  BACKEND_API_KEY: 'canary-backend-b61d0e42',
  LLM_API_KEY: 'sk-canaryllm5e8d21c7',
  REDIS_PASSWORD: 'canary-redis-a93b7d10',
  CLIENT_TOKEN: 'canary-client-token-44c2e8f1',
};

/**
 * A hostile upstream for every dependency at once (chat backend, ElevenLabs): it fails every call
 * and echoes the request's headers and body in its answer, so any code that logs an upstream
 * answer, a request, or its headers would leak the keys into the log.
 */
function hostileUpstream(): Server {
  return createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const echo = JSON.stringify({ error: 'hostile', detail: { message: `you sent ${JSON.stringify(request.headers)} ${body}` }, headers: request.headers, body });
      if (request.url === '/v1/chat' && body.includes('"registration_id":"ok"')) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply: 'Here is a reply for you.' }));
        return;
      }
      const status = request.url?.startsWith('/v1/text-to-speech') ? 401 : 500;
      response.writeHead(status, { 'content-type': 'application/json', 'x-echo': String(request.headers['authorization'] ?? request.headers['xi-api-key'] ?? '') }).end(echo);
    });
  }).on('upgrade', (request: IncomingMessage, socket) => {
    socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbad key ${JSON.stringify(request.headers)} ${request.url}`);
  });
}

describe('secrets never reach the log', () => {
  let upstream: Server;
  let upstreamUrl: string;

  before(async () => {
    upstream = hostileUpstream();
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  after(() => {
    upstream.closeAllConnections();
    upstream.close();
  });

  it('feeds canary secrets through the error paths of every dependency; the JSON log has none of them', async () => {
    const closedRedisPort = await freePort();
    const service = await ServiceProcess.start({
      NODE_ENV: 'production',
      LOG_LEVEL: 'verbose',
      LOG_FORMAT: 'json',
      TTS_WORKERS: '1',
      STT_WORKERS: '1',
      ELEVENLABS_API_KEY: CANARIES.ELEVENLABS_API_KEY,
      ELEVENLABS_BASE_URL: upstreamUrl,
      ELEVENLABS_TTS_TIMEOUT_MS: '2000',
      BACKEND_BASE_URL: upstreamUrl,
      BACKEND_API_KEY: CANARIES.BACKEND_API_KEY,
      LLM_API_KEY: CANARIES.LLM_API_KEY,
      ALLOW_FRONTEND_BACKEND_AUTH: 'true',
      REGISTRATION_STORE: 'redis',
      REDIS_URL: `redis://:${CANARIES.REDIS_PASSWORD}@127.0.0.1:${closedRedisPort}/0`,
    });
    try {
      const url = service.wsUrl;
      const errorsOf = async (configure: Record<string, unknown>, then?: (client: VoiceTestClient) => Promise<void>): Promise<ServerEvent[]> => {
        const client = await VoiceTestClient.connect(url);
        await client.expect('session.ready');
        client.send({ type: 'session.configure', ...configure });
        await client.until((e) => e.type === 'session.configured' || e.type === 'error', { timeoutMs: 15_000 });
        await then?.(client);
        await client.quietFor(300);
        await client.close();
        return client.events.filter((e) => e.type === 'error');
      };
      // Auto-registration with LLM_API_KEY: the backend fails /v1/register, echoing the key.
      const registration = await errorsOf({});
      assert.ok(registration.length > 0, 'registration failed');
      // A client's own backend key (ALLOW_FRONTEND_BACKEND_AUTH) through the same failure.
      assert.ok((await errorsOf({ backend: { provider: 'openai', api_key: CANARIES.CLIENT_TOKEN } })).length > 0);
      // A session that chats: ElevenLabs STT refuses the socket, /v1/chat fails, then a reply whose TTS fails.
      const turnErrors = await errorsOf({ backend: { registration_id: 'r-1' } }, async (client) => {
        client.send({ type: 'text.prompt', text: 'hello' });
        await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 15_000 });
      });
      assert.ok(turnErrors.some((e) => (e as { code: string }).code === 'backend_unavailable'), JSON.stringify(turnErrors));
      const ttsErrors = await errorsOf({ backend: { registration_id: 'ok' } }, async (client) => {
        client.send({ type: 'text.prompt', text: 'hello' });
        await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
      });
      assert.ok(ttsErrors.some((e) => (e as { code: string }).code === 'tts_failed'), JSON.stringify(ttsErrors));
      // Readiness pings the backend and the (unreachable) Redis.
      await fetch(`${service.httpUrl}/health/ready`);
    } finally {
      await service.stop();
    }

    const log = service.output;
    const stdout = service.stdout;
    for (const [name, canary] of Object.entries(CANARIES)) assert.ok(!log.includes(canary), `${name} leaked into the log`);
    assert.ok(!log.includes(encodeURIComponent(CANARIES.REDIS_PASSWORD)));
    // The error paths did log (so this test could have seen a leak), as JSON lines with session fields.
    const lines = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const problems = lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error');
    assert.ok(problems.length >= 4, `warnings and errors logged: ${problems.length}`);
    assert.ok(lines.some((l) => typeof l['session_id'] === 'string' && /ElevenLabs/.test(String(l['msg']))), 'ElevenLabs STT lines carry session_id');
    assert.ok(lines.some((l) => l['level'] === 'info' && typeof l['session_id'] === 'string' && l['context'] === 'VoiceSession'), 'session lines carry session_id');
    assert.ok(lines.some((l) => typeof l['session_id'] === 'string' && l['turn_id'] === 1 && l['outcome'] === 'failed'), 'turn lines carry turn_id');
    assert.ok(lines.every((l) => typeof l['time'] === 'string' && typeof l['level'] === 'string'));
  });
});
