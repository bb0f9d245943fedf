import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { ChatEngine, localReply } from '@app/chat';
import { FakeOpenAi } from '@app/testing';
import { createReferenceBackend } from '@apps/reference-backend';
import { connectConfigured, connectReady, startTestApp } from './utils/test-app.js';

const BACKEND_KEY = 'backend-secret-canary-1';
const LLM_KEY = 'sk-llm-canary-2';

describe('chat backend over HTTP (apps/reference-backend)', () => {
  let backend: INestApplication;
  let backendUrl: string;
  let openai: FakeOpenAi;

  before(async () => {
    backend = await createReferenceBackend({ apiKey: BACKEND_KEY }, false);
    await backend.listen(0, '127.0.0.1');
    backendUrl = (await backend.getUrl()).replace('[::1]', '127.0.0.1');
    openai = await FakeOpenAi.start();
  });
  after(async () => {
    await backend.close();
    await openai.close();
  });

  const engine = () => backend.get(ChatEngine);
  const turn = async (client: Awaited<ReturnType<typeof connectConfigured>>, text: string) => {
    client.send({ type: 'text.prompt', text });
    const events = await client.until((e) => e.type === 'assistant.audio.end' || e.type === 'error', { timeoutMs: 20_000 });
    const message = events.find((e) => e.type === 'assistant.message');
    assert.ok(message, `no assistant.message in ${events.map((e) => e.type).join(', ')}: ${JSON.stringify(events.at(-1))}`);
    assert.equal(events.at(-1)?.type, 'assistant.audio.end');
    return message as { text: string; metadata: Record<string, unknown> };
  };

  it('registers from the session backend fields, once for concurrent sessions, and chats', async () => {
    const app = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY, ALLOW_FRONTEND_BACKEND_PROMPT: 'true' });
    try {
      const before = engine().registrationCount;
      const backendFields = { provider: 'local', model: 'local-responder', system_prompt: 'Be brief.' };
      const clients = await Promise.all([1, 2, 3].map(() => connectConfigured(app, { backend: backendFields })));
      assert.equal(engine().registrationCount - before, 1, 'one register call shared by three sessions');
      const message = await turn(clients[0]!, 'hello');
      assert.equal(message.text, localReply('hello'));
      assert.equal(message.metadata['provider'], 'local');
      // A later session with the same identity reuses the cached registration.
      await connectConfigured(app, { backend: backendFields });
      assert.equal(engine().registrationCount - before, 1);
    } finally {
      await app.close();
    }
  });

  it('auto-registers from LLM_API_KEY and relays to an OpenAI-compatible API', async () => {
    const app = await startTestApp({
      BACKEND_BASE_URL: backendUrl,
      BACKEND_API_KEY: BACKEND_KEY,
      LLM_API_KEY: LLM_KEY,
      LLM_PROVIDER: 'openai',
      LLM_MODEL: 'gpt-test',
      LLM_BASE_URL: openai.baseUrl,
      LLM_SYSTEM_PROMPT: 'You are a voice assistant.',
    });
    try {
      const client = await connectConfigured(app);
      const message = await turn(client, 'what is two plus two');
      assert.equal(message.text, 'The model heard: what is two plus two');
      assert.equal(message.metadata['model'], 'gpt-test');
      const request = openai.requests.at(-1)!;
      assert.equal(request.authorization, `Bearer ${LLM_KEY}`);
      assert.equal(request.body.model, 'gpt-test');
      assert.deepEqual(request.body.messages[0], { role: 'system', content: 'You are a voice assistant.' });
      // Per-session history reaches the LLM on the next turn.
      await turn(client, 'and three');
      assert.deepEqual(
        openai.requests.at(-1)!.body.messages.map((m) => m.role),
        ['system', 'user', 'assistant', 'user'],
      );
    } finally {
      await app.close();
    }
  });

  it('uses a client registration_id as given, and reports one the backend does not know', async () => {
    const app = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY });
    try {
      const id = engine().register({ provider: 'local' });
      const client = await connectConfigured(app, { backend: { registration_id: id } });
      assert.equal((await turn(client, 'thanks')).text, localReply('thanks'));

      const stranger = await connectConfigured(app, { backend: { registration_id: 'reg_nobody' } });
      stranger.send({ type: 'text.prompt', text: 'hello' });
      const events = await stranger.until((e) => e.type === 'error', { timeoutMs: 10_000 });
      assert.deepEqual(events.map((e) => e.type), ['assistant.started', 'error']);
      assert.equal((events[1] as { code: string }).code, 'unknown_registration');
    } finally {
      await app.close();
    }
  });

  it('uses DEFAULT_REGISTRATION_ID when the session names no backend', async () => {
    const id = engine().register({ provider: 'local' });
    const app = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY, DEFAULT_REGISTRATION_ID: id });
    try {
      const client = await connectConfigured(app);
      assert.equal((await turn(client, 'bye')).text, localReply('bye'));
    } finally {
      await app.close();
    }
  });

  it('reports backend_not_configured when an HTTP backend has no way to register', async () => {
    const app = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY });
    try {
      const client = await connectReady(app);
      client.send({ type: 'session.configure' });
      const error = await client.expect('error');
      assert.equal(error.code, 'backend_not_configured');
      client.send({ type: 'session.configure', backend: { provider: 'local' } });
      await client.expect('session.configured');
    } finally {
      await app.close();
    }
  });

  it('reports a refused registration with registration_failed and a wrong backend key with its code', async () => {
    const app = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY });
    const wrongKey = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: 'wrong' });
    try {
      const client = await connectReady(app);
      client.send({ type: 'session.configure', backend: { provider: 'acme-llm' } });
      const refused = await client.expect('error');
      assert.equal(refused.code, 'registration_failed');
      assert.match(refused.message, /422/);

      const unauthorized = await connectReady(wrongKey);
      unauthorized.send({ type: 'session.configure', backend: { provider: 'local' } });
      const error = await unauthorized.expect('error');
      assert.equal(error.code, 'registration_failed');
      assert.match(error.message, /401/);
      assert.ok(!JSON.stringify(error).includes(BACKEND_KEY));
    } finally {
      await app.close();
      await wrongKey.close();
    }
  });

  it('refuses client credentials and URLs unless ALLOW_FRONTEND_BACKEND_AUTH is true', async () => {
    const strict = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY });
    // The fake LLM listens on loopback, which the SSRF guard refuses for client URLs unless the operator permits it.
    const open = await startTestApp({ BACKEND_BASE_URL: backendUrl, BACKEND_API_KEY: BACKEND_KEY, ALLOW_FRONTEND_BACKEND_AUTH: 'true', CLIENT_BASE_URL_ALLOW_CIDRS: '127.0.0.1/32' });
    try {
      const fields = { provider: 'openai', api_key: 'sk-client-canary-3', model: 'gpt-client', base_url: openai.baseUrl };
      const refused = await connectReady(strict);
      refused.send({ type: 'session.configure', backend: fields });
      const error = await refused.expect('error');
      assert.equal(error.code, 'frontend_backend_auth_forbidden');
      assert.match(error.message, /api_key and backend\.base_url/);
      assert.ok(!error.message.includes('sk-client-canary-3'));

      const allowed = await connectConfigured(open, { backend: fields });
      assert.equal((await turn(allowed, 'ping')).text, 'The model heard: ping');
      assert.equal(openai.requests.at(-1)!.authorization, 'Bearer sk-client-canary-3');
    } finally {
      await strict.close();
      await open.close();
    }
  });

  it('never sends the server LLM key to a provider or URL the client chose', async () => {
    const app = await startTestApp({
      BACKEND_BASE_URL: backendUrl,
      BACKEND_API_KEY: BACKEND_KEY,
      ALLOW_FRONTEND_BACKEND_AUTH: 'true',
      CLIENT_BASE_URL_ALLOW_CIDRS: '127.0.0.1/32',
      LLM_API_KEY: LLM_KEY,
      LLM_BASE_URL: 'https://llm.internal.example/v1',
    });
    try {
      const client = await connectConfigured(app, { backend: { provider: 'openai', base_url: openai.baseUrl, model: 'm' } });
      await turn(client, 'hi there');
      assert.equal(openai.requests.at(-1)!.authorization, undefined);
    } finally {
      await app.close();
    }
  });

  it('registers again when the backend forgot a registration this service made', async () => {
    const restartable = await createReferenceBackend({}, false);
    await restartable.listen(0, '127.0.0.1');
    const url = (await restartable.getUrl()).replace('[::1]', '127.0.0.1');
    const app = await startTestApp({ BACKEND_BASE_URL: url });
    try {
      const client = await connectConfigured(app, { backend: { provider: 'local' } });
      await turn(client, 'hello');
      // Simulate a backend restart that lost its registrations.
      (restartable.get<ChatEngine, unknown>(ChatEngine) as { registrations: Map<string, unknown> }).registrations.clear();
      assert.equal((await turn(client, 'thanks')).text, localReply('thanks'));
    } finally {
      await app.close();
      await restartable.close();
    }
  });
});

describe('chat backend failures and cancellation', () => {
  let server: Server;
  let url: string;
  const chatRequests: Array<{ aborted: boolean }> = [];
  let mode: 'hang' | 'fail' | 'empty' = 'hang';

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v1/chat') {
        const record = { aborted: false };
        chatRequests.push(record);
        req.on('close', () => {
          if (!res.writableEnded) record.aborted = true;
        });
        if (mode === 'fail') res.writeHead(503).end('{"error":"down"}');
        if (mode === 'empty') res.writeHead(200, { 'content-type': 'application/json' }).end('{"metadata":{}}');
        return; // 'hang' never answers
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"registration_id":"reg_x"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('aborts the in-flight backend call when the client disconnects', async () => {
    mode = 'hang';
    const app = await startTestApp({ BACKEND_BASE_URL: url, DEFAULT_REGISTRATION_ID: 'reg_x' });
    try {
      const client = await connectConfigured(app);
      client.send({ type: 'text.prompt', text: 'hello' });
      await client.expect('assistant.started');
      await waitFor(() => chatRequests.length > 0);
      await client.close();
      await waitFor(() => chatRequests.at(-1)!.aborted, 3000);
    } finally {
      await app.close();
    }
  });

  it('times out a silent backend with backend_timeout and keeps the session', async () => {
    mode = 'hang';
    const app = await startTestApp({ BACKEND_BASE_URL: url, DEFAULT_REGISTRATION_ID: 'reg_x', BACKEND_TIMEOUT_MS: '1000' });
    try {
      const client = await connectConfigured(app);
      client.send({ type: 'text.prompt', text: 'hello' });
      const events = await client.until((e) => e.type === 'error', { timeoutMs: 5000 });
      assert.deepEqual(events.map((e) => e.type), ['assistant.started', 'error']);
      assert.equal((events[1] as { code: string }).code, 'backend_timeout');
    } finally {
      await app.close();
    }
  });

  it('maps 5xx to backend_unavailable and a reply without text to backend_bad_response', async () => {
    const app = await startTestApp({ BACKEND_BASE_URL: url, DEFAULT_REGISTRATION_ID: 'reg_x' });
    try {
      const client = await connectConfigured(app);
      mode = 'fail';
      client.send({ type: 'text.prompt', text: 'hello' });
      assert.equal((await client.nextOf('error')).code, 'backend_unavailable');
      mode = 'empty';
      client.send({ type: 'text.prompt', text: 'hello again' });
      assert.equal((await client.nextOf('error')).code, 'backend_bad_response');
    } finally {
      await app.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
