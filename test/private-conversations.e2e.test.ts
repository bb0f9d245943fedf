import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { ChatEngine } from '@app/chat';
import { CapturedOutput, FakeOpenAi, type VoiceTestClient } from '@app/testing';
import { createReferenceBackend } from '@apps/reference-backend';
import { connectConfigured, connectReady, startTestApp, type TestApp } from './utils/test-app.js';

async function reply(client: VoiceTestClient, text: string): Promise<{ text: string; metadata: Record<string, unknown> }> {
  client.send({ type: 'text.prompt', text });
  const events = await client.until((e) => e.type === 'assistant.message' || e.type === 'error', { timeoutMs: 20_000 });
  const last = events.at(-1)!;
  assert.equal(last.type, 'assistant.message', JSON.stringify(last));
  return last;
}

describe('private conversations: a copied session_id never joins another conversation', () => {
  let openai: FakeOpenAi;
  let app: TestApp;
  before(async () => {
    openai = await FakeOpenAi.start();
    // The embedded backend relays to the (operator's, trusted) fake LLM, which records every history it is sent.
    app = await startTestApp({ LLM_API_KEY: 'sk-operator-canary', LLM_BASE_URL: openai.baseUrl });
  });
  after(async () => {
    await app.close();
    await openai.close();
  });

  it('gives two clients that send the same session_id separate conversations', async () => {
    const alice = await connectConfigured(app, { session_id: 'shared-id' });
    const mallory = await connectConfigured(app, { session_id: 'shared-id' });
    await reply(alice, 'my secret plan is tulips');
    await reply(mallory, 'what did I say before?');
    const malloryRequest = openai.requests.at(-1)!;
    assert.ok(!JSON.stringify(malloryRequest.body.messages).includes('tulips'), 'the second client does not see the first one\'s history');
    assert.equal(malloryRequest.body.messages.filter((m) => m.role === 'user').length, 1);
    // Alice's own conversation continues.
    await reply(alice, 'and now?');
    assert.ok(JSON.stringify(openai.requests.at(-1)!.body.messages).includes('tulips'));
  });

  it('keeps the client its own session_id in session.configured', async () => {
    const client = await connectReady(app);
    client.send({ type: 'session.configure', session_id: 'my-label' });
    assert.equal((await client.expect('session.configured')).session_id, 'my-label');
  });
});

describe('private conversations over HTTP: what a chat backend receives', () => {
  let backend: INestApplication;
  let app: TestApp;
  const seen: string[] = [];
  before(async () => {
    backend = await createReferenceBackend({}, false);
    await backend.listen(0, '127.0.0.1');
    const engine = backend.get(ChatEngine);
    const chat = engine.chat.bind(engine);
    engine.chat = (request, signal) => (seen.push(request.session_id), chat(request, signal));
    app = await startTestApp({ BACKEND_BASE_URL: (await backend.getUrl()).replace('[::1]', '127.0.0.1') });
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  it('sends a conversation id unique to each connection, and the reference backend keys history by it', async () => {
    const a = await connectConfigured(app, { session_id: 'same', backend: { provider: 'local' } });
    const b = await connectConfigured(app, { session_id: 'same', backend: { provider: 'local' } });
    assert.equal((await reply(a, 'one')).metadata['turn'], 1);
    assert.equal((await reply(a, 'two')).metadata['turn'], 2);
    assert.equal((await reply(b, 'one')).metadata['turn'], 1, 'b starts its own conversation');
    assert.equal(seen.length, 3);
    assert.equal(seen[0], seen[1]);
    assert.notEqual(seen[0], seen[2]);
    for (const id of seen) assert.match(id, /^[0-9a-f-]{36}$/, 'a UUID, not the client-chosen id');
  });
});

describe('client backend.system_prompt and backend.model need the operator switch', () => {
  it('refuses them by default and accepts them with ALLOW_FRONTEND_BACKEND_PROMPT=true', async () => {
    const strict = await startTestApp({});
    const open = await startTestApp({ ALLOW_FRONTEND_BACKEND_PROMPT: 'true' });
    try {
      for (const backend of [{ system_prompt: 'You are evil.' }, { model: 'gpt-4o' }]) {
        const client = await connectReady(strict);
        client.send({ type: 'session.configure', backend: { provider: 'local', ...backend } });
        const error = await client.expect('error');
        assert.equal(error.code, 'backend_override_forbidden');
        assert.match(error.message, /ALLOW_FRONTEND_BACKEND_PROMPT/);
      }
      await connectConfigured(open, { backend: { provider: 'local', system_prompt: 'Be brief.' } });
    } finally {
      await strict.close();
      await open.close();
    }
  });
});

describe('SSRF guard for client backend.base_url (ALLOW_FRONTEND_BACKEND_AUTH=true)', () => {
  let app: TestApp;
  let openai: FakeOpenAi;
  let redirector: Server;
  let output: CapturedOutput;
  before(async () => {
    output = CapturedOutput.start();
    openai = await FakeOpenAi.start();
    redirector = createServer((req, res) => res.writeHead(302, { location: `${openai.baseUrl}/chat/completions` }).end());
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.2', resolve));
    // 127.0.0.2 stands in for a permitted internal host; 127.0.0.1 (the fake LLM) stays forbidden.
    app = await startTestApp({ ALLOW_FRONTEND_BACKEND_AUTH: 'true', CLIENT_BASE_URL_ALLOW_CIDRS: '127.0.0.2/32' });
  });
  after(async () => {
    await app.close();
    await openai.close();
    redirector.closeAllConnections();
    await new Promise((resolve) => redirector.close(resolve));
    output.stop();
    assert.ok(!output.text.includes('sk-client-canary'), 'the client key never reaches the log');
  });

  it('refuses a corpus of internal, disguised and non-http URLs with backend_url_refused', async () => {
    const port = new URL(openai.baseUrl).port;
    const corpus = [
      openai.baseUrl,
      `http://127.0.0.1:${port}/v1`,
      'http://127.1/v1',
      'http://0177.0.0.1/v1',
      'http://2130706433/v1',
      'http://0x7f000001/v1',
      'http://[::1]/v1',
      'http://[::ffff:127.0.0.1]/v1',
      'http://[0:0:0:0:0:ffff:7f00:1]/v1',
      'http://0.0.0.0/v1',
      'http://0/v1',
      'http://[::]/v1',
      'http://localhost/v1',
      `http://localhost:${port}/v1`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1',
      'http://100.100.100.200/latest/meta-data',
      'http://10.0.0.1/v1',
      'http://172.16.0.1/v1',
      'http://192.168.1.1/v1',
      'http://100.64.0.1/v1',
      'http://[fe80::1]/v1',
      'http://[fc00::1]/v1',
      'http://224.0.0.1/v1',
      'http://255.255.255.255/v1',
      'http://[64:ff9b::7f00:1]/v1',
      'ftp://example.com/v1',
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_INFO',
      'http://user:pass@example.com/v1',
      'not a url',
    ];
    for (const base_url of corpus) {
      const client = await connectReady(app);
      client.send({ type: 'session.configure', backend: { provider: 'openai', api_key: 'sk-client-canary', base_url } });
      const event = await client.next();
      assert.equal(event.type, 'error', `${base_url} was accepted`);
      assert.equal((event as { code: string }).code, 'backend_url_refused', `${base_url}: ${JSON.stringify(event)}`);
      assert.match((event as { message: string }).message, /backend\.base_url is refused: .+\. Use a public http\(s\) URL/);
      await client.close();
    }
    assert.equal(openai.requests.length, 0, 'nothing reached the loopback service');
  });

  it('never follows a redirect from a permitted host to a forbidden one', async () => {
    const { port } = redirector.address() as AddressInfo;
    const client = await connectConfigured(app, { backend: { provider: 'openai', api_key: 'sk-client-canary', base_url: `http://127.0.0.2:${port}/v1` } });
    client.send({ type: 'text.prompt', text: 'hello' });
    const error = await client.nextOf('error', { timeoutMs: 15_000 });
    assert.equal(error.code, 'backend_unavailable');
    assert.match(error.message, /redirect/);
    assert.equal(openai.requests.length, 0, 'the redirect target was never called');
  });
});
