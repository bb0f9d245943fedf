import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, closeDecision } from './reconnect.js';

describe('reconnect policy', () => {
  it('reconnects on drain and abnormal closes only', () => {
    for (const code of [1001, 1012, 1013, 1006, 1011]) assert.equal(closeDecision({ code, byUser: false }), 'reconnect', String(code));
    for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4001]) assert.equal(closeDecision({ code, byUser: false }), 'stop', String(code));
  });

  it('never reconnects after close() or a refused handshake', () => {
    assert.equal(closeDecision({ code: 1006, byUser: true }), 'stop');
    assert.equal(closeDecision({ code: 1006, byUser: false, handshakeStatus: 401 }), 'stop');
    assert.equal(closeDecision({ code: 1006, byUser: false, handshakeStatus: 403 }), 'stop');
    assert.equal(closeDecision({ code: 1006, byUser: false, handshakeStatus: 503 }), 'reconnect');
  });

  it('backs off exponentially up to the cap, with jitter in the upper half', () => {
    assert.equal(backoffDelay(1, {}, () => 0), 250);
    assert.equal(backoffDelay(1, {}, () => 1), 500);
    assert.equal(backoffDelay(3, {}, () => 1), 2000);
    assert.equal(backoffDelay(20, {}, () => 1), 10_000);
    assert.equal(backoffDelay(20, { maxDelayMs: 3000 }, () => 0), 1500);
    const delays = Array.from({ length: 50 }, () => backoffDelay(4));
    assert.ok(delays.every((d) => d >= 2000 && d <= 4000));
    assert.ok(new Set(delays).size > 10, 'jittered');
  });
});
