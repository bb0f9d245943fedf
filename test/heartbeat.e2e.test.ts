import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startTestApp, type TestApp } from './utils/test-app.js';

/** The server pings every WS_PING_INTERVAL_MS and drops a peer that missed the previous pong. */
describe('heartbeat', () => {
  let testApp: TestApp;
  before(async () => {
    testApp = await startTestApp({ WS_PING_INTERVAL_MS: '1000' });
  });
  after(() => testApp.close());

  const open = async (autoPong: boolean) => {
    const socket = new WebSocket(testApp.wsUrl, { autoPong });
    let pings = 0;
    socket.on('ping', () => pings++);
    await new Promise((resolve) => socket.once('open', resolve));
    return { socket, pings: () => pings };
  };

  it('keeps a peer that answers pings and drops one that does not', { timeout: 15_000 }, async () => {
    const healthy = await open(true);
    const silent = await open(false);
    const closed = new Promise<number>((resolve) => silent.socket.once('close', (code) => resolve(code)));
    const code = await closed;
    assert.equal(code, 1006, 'terminated without a close handshake');
    assert.ok(silent.pings() >= 1, 'was pinged first');
    assert.equal(healthy.socket.readyState, WebSocket.OPEN);
    assert.ok(healthy.pings() >= 1);
    healthy.socket.close();
  });
});
