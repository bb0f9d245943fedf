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

describe('HandshakePacer CPU share', () => {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };

  it('keeps a storm of handshakes to about half of the main thread, leaving the rest idle for other work', async () => {
    const pacer = new HandshakePacer(8, 1000, 0.5, 10, 20);
    const count = 60;
    let done = 0;
    const started = performance.now();
    // Each handshake: 1 ms in its batch and 1 ms more when it completes later (charged).
    for (let i = 0; i < count; i++) {
      assert.ok(
        pacer.enqueue(() => {
          busy(1);
          // Its completion, after an asynchronous check: outside the batch, counted all the same.
          setImmediate(() => {
            busy(1);
            done++;
          });
        }),
      );
    }
    // A live session's timer: with the loop held by the storm it would fire once or twice, over 100 ms late.
    const lateness: number[] = [];
    let expected = performance.now() + 5;
    const timer = setInterval(() => {
      lateness.push(performance.now() - expected);
      expected = performance.now() + 5;
    }, 5);
    while (done < count) await new Promise((resolve) => setTimeout(resolve, 5));
    clearInterval(timer);
    const elapsed = performance.now() - started;
    // 120 ms of handshake work at half the time, less the 10 ms reserve: about 220 ms (199 was seen on
    // a loaded machine); unpaced it takes 120 ms.
    assert.ok(elapsed >= 170, `the storm took ${elapsed.toFixed(0)} ms: the share was not applied`);
    assert.ok(elapsed < 1000, `the storm took ${elapsed.toFixed(0)} ms: it should be about 230`);
    const sorted = [...lateness].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    assert.ok(lateness.length >= 8, `the live timer fired ${lateness.length} times during the storm`);
    assert.ok(median < 30, `the live timer was late by ${median.toFixed(1)} ms (median)`);
  });

  it('runs a small burst at once, without waiting for the share', async () => {
    const pacer = new HandshakePacer(8, 100, 0.5, 20, 20);
    let ran = 0;
    const started = performance.now();
    for (let i = 0; i < 8; i++) pacer.enqueue(() => ran++);
    while (ran < 8) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(performance.now() - started < 20, 'a burst inside the reserve needs no timer');
  });

  it('still lets handshakes through while live work keeps the main thread busier than the share', async () => {
    const pacer = new HandshakePacer(4, 1000, 0.5, 10, 20);
    // Live sessions keep the loop about 80 % busy.
    let live = true;
    const load = () => {
      if (!live) return;
      busy(4);
      setTimeout(load, 1);
    };
    load();
    let ran = 0;
    for (let i = 0; i < 40; i++) pacer.enqueue(() => ran++);
    const started = performance.now();
    while (ran < 40 && performance.now() - started < 2000) await new Promise((resolve) => setTimeout(resolve, 5));
    live = false;
    assert.equal(ran, 40, 'every handshake ran');
    // At least 4 per 20 ms: 40 in about 200 ms (timers run late under the load).
    assert.ok(performance.now() - started < 1000, `took ${(performance.now() - started).toFixed(0)} ms`);
  });
});
