import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ERROR_CODES } from '@app/protocol';
import { startTestApp, type TestApp } from './utils/test-app.js';
import { bootService } from './utils/boot.js';

const CANARIES = { LLM_API_KEY: 'sk-canary-llm-7f3a', ELEVENLABS_API_KEY: 'xi-canary-el-9c2d', BACKEND_API_KEY: 'bk-canary-b1e0' };

describe('health, config and docs endpoints', () => {
  let testApp: TestApp;

  before(async () => {
    testApp = await startTestApp({ LLM_API_KEY: CANARIES.LLM_API_KEY, ELEVENLABS_API_KEY: CANARIES.ELEVENLABS_API_KEY, LLM_BASE_URL: 'https://llm.internal.example/v1' });
  });
  after(() => testApp.close());

  const get = async (path: string) => {
    const response = await fetch(`${testApp.httpUrl}${path}`);
    return { status: response.status, text: await response.text(), headers: response.headers };
  };

  it('GET /health/live answers 200', async () => {
    const { status, text } = await get('/health/live');
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(text), { status: 'ok' });
  });

  it('GET /health/ready reports TTS and backend up on embedded defaults', async () => {
    const { status, text, headers } = await get('/health/ready');
    assert.equal(status, 200, text);
    const body = JSON.parse(text);
    assert.equal(body.status, 'ok');
    assert.equal(body.info.tts.status, 'up');
    assert.equal(body.info.backend.mode, 'embedded');
    assert.match(headers.get('cache-control') ?? '', /no-store/);
  });

  it('GET /v1/voice/config shows providers, defaults and limits, and no secret', async () => {
    const { status, text } = await get('/v1/voice/config');
    assert.equal(status, 200);
    for (const secret of [...Object.values(CANARIES), 'llm.internal.example']) assert.ok(!text.includes(secret), `leaks ${secret}`);
    const body = JSON.parse(text);
    assert.equal(body.websocket.path, '/v1/voice/ws');
    assert.deepEqual(body.client_messages, ['session.configure', 'audio.append', 'audio.commit', 'text.prompt', 'assistant.audio.played', 'assistant.cancel']);
    assert.equal(body.backend.mode, 'embedded');
    assert.equal(body.backend.default_registration, 'llm_api_key');
    const local = body.tts.providers.find((p: { id: string }) => p.id === 'local');
    assert.equal(local.available, true);
    assert.ok(local.output_formats.includes('pcm_44100'));
    assert.ok(local.voices.includes('slt'));
    assert.deepEqual(Object.keys(body.error_codes).sort(), Object.keys(ERROR_CODES).sort());
  });

  it('serves Swagger UI at /docs and the OpenAPI document with the endpoints', async () => {
    const ui = await get('/docs');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger/i);
    const doc = JSON.parse((await get('/docs/openapi.json')).text);
    for (const path of ['/health/live', '/health/ready', '/v1/voice/config']) assert.ok(doc.paths[path]?.get, `documents ${path}`);
  });

  it('reports not ready (503) when the HTTP chat backend is unreachable', async () => {
    const down = await startTestApp({ BACKEND_BASE_URL: 'http://127.0.0.1:9', DEFAULT_REGISTRATION_ID: 'x' });
    try {
      const response = await fetch(`${down.httpUrl}/health/ready`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { error: Record<string, { status: string }> };
      assert.equal(body.error['backend']?.status, 'down');
    } finally {
      await down.close();
    }
  });
});

describe('configuration validated at boot', () => {

  it('refuses a BACKEND_BASE_URL that names an endpoint, saying what to use', async () => {
    const { code, stderr } = await bootService({ BACKEND_BASE_URL: 'https://chat.example.com/v1/chat' });
    assert.equal(code, 1);
    assert.match(stderr, /Invalid configuration/);
    assert.match(stderr, /BACKEND_BASE_URL: give the service root/);
  });

  it('lists every problem, one line each, without printing secrets', async () => {
    const { code, stderr } = await bootService({ PORT: 'eighty', TTS_OUTPUT_FORMAT: 'wav', LLM_BASE_URL: 'ftp://x', ALLOW_FRONTEND_BACKEND_AUTH: 'maybe', BACKEND_API_KEY: 'bk-secret-x' });
    assert.equal(code, 1);
    for (const name of ['PORT', 'TTS_OUTPUT_FORMAT', 'LLM_BASE_URL', 'ALLOW_FRONTEND_BACKEND_AUTH']) assert.match(stderr, new RegExp(`- ${name}`));
    assert.ok(!stderr.includes('bk-secret-x'));
    assert.ok(!/\n\s+at /.test(stderr), 'no stack trace');
  });
});
