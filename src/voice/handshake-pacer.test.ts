import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandshakePacer } from './handshake-pacer.js';

describe('HandshakePacer', () => {
  it('runs queued handshakes a few per event-loop turn, so other I/O callbacks run between batches', async () => {
    const pacer = new HandshakePacer(8, 100);
    const order: string[] = [];
    for (let i = 0; i < 40; i++) assert.ok(pacer.enqueue(() => order.push(`h${i}`)));
    // Another callback scheduled after the first batch: it runs before the storm is over.
    setImmediate(() => setImmediate(() => order.push('live')));
    while (pacer.waiting > 0) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(order.filter((x) => x.startsWith('h')).length, 40, 'every handshake ran once');
    const live = order.indexOf('live');
    assert.ok(live > 0 && live < 40, `the live callback ran between batches (at ${live} of ${order.length})`);
    assert.deepEqual(order.filter((x) => x !== 'live'), Array.from({ length: 40 }, (_, i) => `h${i}`), 'in arrival order');
  });

  it('refuses a handshake when maxQueued already wait, and takes one again once they ran', async () => {
    const pacer = new HandshakePacer(8, 10);
    let ran = 0;
    for (let i = 0; i < 10; i++) assert.ok(pacer.enqueue(() => ran++));
    assert.equal(pacer.enqueue(() => ran++), false);
    while (pacer.waiting > 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ran, 10);
    assert.ok(pacer.enqueue(() => ran++));
  });
});
