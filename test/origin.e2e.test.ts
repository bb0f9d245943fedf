import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CapturedOutput } from '@app/testing';
import { startTestApp, type TestApp } from './utils/test-app.js';

/** Opens the voice socket with an Origin header; resolves with the first event, or the HTTP status of a refusal. */
function open(url: string, origin?: string): Promise<{ status?: number; first?: { type: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('message', (data) => {
      resolve({ first: JSON.parse(data.toString()) as { type: string } });
      ws.close();
    });
    ws.once('error', (error) => reject(error));
  });
}

describe('WS_ALLOWED_ORIGINS: browser origins allowed to open the voice socket', () => {
  let testApp: TestApp;
  let output: CapturedOutput;
  before(async () => {
    output = CapturedOutput.start();
    testApp = await startTestApp({ WS_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173' });
  });
  after(async () => {
    await testApp.close();
    output.stop();
  });

  it('lets in the listed origins, the service itself and clients without an Origin', async () => {
    const own = new URL(testApp.httpUrl).origin;
    for (const origin of ['https://app.example.com', 'http://localhost:5173', own, undefined]) {
      const result = await open(testApp.wsUrl, origin);
      assert.equal(result.first?.type, 'session.ready', `origin ${origin}`);
    }
  });

  it('refuses other origins with HTTP 403 at the handshake, and says so in the log', async () => {
    for (const origin of ['https://evil.example', 'http://app.example.com', 'null']) {
      assert.deepEqual(await open(testApp.wsUrl, origin), { status: 403 }, `origin ${origin}`);
    }
    assert.match(output.text, /refused a WebSocket handshake from origin "https:\/\/evil\.example" \(not in WS_ALLOWED_ORIGINS\)/);
  });

  it('leaves HTTP endpoints alone', async () => {
    const response = await fetch(`${testApp.httpUrl}/health/live`, { headers: { origin: 'https://evil.example' } });
    assert.equal(response.status, 200);
  });
});

describe('without WS_ALLOWED_ORIGINS', () => {
  it('lets in any origin', async () => {
    const testApp = await startTestApp({});
    try {
      assert.equal((await open(testApp.wsUrl, 'https://anywhere.example')).first?.type, 'session.ready');
    } finally {
      await testApp.close();
    }
  });
});
