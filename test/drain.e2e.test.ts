import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { VoiceTestClient } from '@app/testing';
import { connectConfigured, startTestApp } from './utils/test-app.js';

describe('graceful drain on shutdown', () => {
  it('finishes the turn in progress, refuses new handshakes with 503, reports not ready, then closes with 1001', async () => {
    const testApp = await startTestApp({ DRAIN_TIMEOUT_MS: '10000' });
    const client = await connectConfigured(testApp);
    client.send({ type: 'text.prompt', text: 'tell me a long story about the sea and the wind' });
    await client.nextOf('assistant.audio.start', { timeoutMs: 10_000 });

    const closing = testApp.app.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const ready = await fetch(`${testApp.httpUrl}/health/ready`);
    assert.equal(ready.status, 503);
    // A new handshake is refused with HTTP 503, so a load balancer can retry another replica.
    await assert.rejects(VoiceTestClient.connect(testApp.wsUrl), /Unexpected server response: 503/);

    const rest = await client.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 10_000 });
    assert.ok(rest.length > 1, 'the reply audio was delivered in full');
    assert.equal((await client.whenClosed()).code, 1001);
    await closing;
  });

  it('closes at DRAIN_TIMEOUT_MS when a turn does not finish', async () => {
    const hanging = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const backend = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const testApp = await startTestApp({ DRAIN_TIMEOUT_MS: '500', BACKEND_BASE_URL: backend, DEFAULT_REGISTRATION_ID: 'r', BACKEND_TIMEOUT_MS: '60000' });
    try {
      const client = await connectConfigured(testApp);
      client.send({ type: 'text.prompt', text: 'hello' });
      await client.nextOf('assistant.started');
      const started = performance.now();
      await testApp.app.close();
      const elapsed = performance.now() - started;
      assert.equal((await client.whenClosed()).code, 1001);
      assert.ok(elapsed >= 450 && elapsed < 3000, `closed after ${Math.round(elapsed)} ms`);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('drains 15 sessions mid-turn without piling abort listeners on the shared deadline (no MaxListenersExceededWarning)', async () => {
    const hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const backend = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const testApp = await startTestApp({ DRAIN_TIMEOUT_MS: '500', BACKEND_BASE_URL: backend, DEFAULT_REGISTRATION_ID: 'r', BACKEND_TIMEOUT_MS: '60000' });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const clients = await Promise.all(Array.from({ length: 15 }, () => connectConfigured(testApp)));
      for (const client of clients) client.send({ type: 'text.prompt', text: 'hello' });
      for (const client of clients) await client.nextOf('assistant.started');
      await testApp.app.close();
      for (const client of clients) assert.equal((await client.whenClosed()).code, 1001);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.includes('MaxListeners')), []);
    } finally {
      process.off('warning', onWarning);
      hanging.closeAllConnections();
      hanging.close();
    }
  });
});
