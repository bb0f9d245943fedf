import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClockQueue } from './virtual-clock-queue.js';

/** Resolves when the queue has run `count` steps (bounded). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), 'the queue ran every step');
}

describe('VirtualClockQueue (recognition worker fairness)', () => {
  it("serves a real-time stream's audio before a fast uploader's backlog", async () => {
    let clock = 0;
    const queue = new VirtualClockQueue(() => clock);
    const order: string[] = [];
    const step = (name: string) => async () => {
      order.push(name);
      await new Promise((resolve) => setImmediate(resolve));
    };
    const fast = queue.lane(() => undefined);
    const live = queue.lane(() => undefined);
    // The uploader sends 1 s of audio at once (ten 100 ms chunks, due 0, 100, ..., 900 ms).
    for (let i = 0; i < 10; i++) fast.push(step(`fast${i}`), 100);
    // A real-time chunk arrives at 250 ms: due then, before the uploader's chunks due at 300 ms and later.
    clock = 250;
    live.push(step('live0'), 100);
    await until(() => order.length === 11);
    // A plain FIFO would run live0 last; here it runs after the chunks due at 0, 100 and 200 ms.
    assert.deepEqual(order, ['fast0', 'fast1', 'fast2', 'live0', 'fast3', 'fast4', 'fast5', 'fast6', 'fast7', 'fast8', 'fast9']);
  });

  it('keeps each stream in order, runs nothing twice and survives a failing step', async () => {
    const queue = new VirtualClockQueue(() => 0);
    const ran: string[] = [];
    const errors: unknown[] = [];
    const a = queue.lane((error) => errors.push(error));
    const b = queue.lane((error) => errors.push(error));
    for (let i = 0; i < 5; i++) {
      a.push(() => void ran.push(`a${i}`), 100);
      b.push(async () => {
        await Promise.resolve();
        ran.push(`b${i}`);
      }, 100);
    }
    a.push(() => {
      throw new Error('boom');
    });
    a.push(() => void ran.push('a-after'));
    await until(() => ran.length === 11);
    assert.deepEqual(ran.filter((x) => x.startsWith('a')), ['a0', 'a1', 'a2', 'a3', 'a4', 'a-after']);
    assert.deepEqual(ran.filter((x) => x.startsWith('b')), ['b0', 'b1', 'b2', 'b3', 'b4']);
    // Equal due times alternate between the two streams: neither waits for the other's whole queue.
    assert.ok(ran.indexOf('b0') < ran.indexOf('a2'), ran.join(' '));
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /boom/);
  });

  it('stop() lets the running step finish, runs nothing queued after it, and takes no new work', async () => {
    const queue = new VirtualClockQueue(() => 0);
    const lane = queue.lane(() => undefined);
    const ran: string[] = [];
    let release!: () => void;
    lane.push(async () => {
      ran.push('running');
      await new Promise<void>((resolve) => (release = resolve));
      ran.push('finished');
    });
    lane.push(() => void ran.push('queued'));
    await until(() => ran.length === 1);
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop waits for the step running');
    release();
    await stopping;
    lane.push(() => void ran.push('after stop'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ran, ['running', 'finished']);
  });
});
