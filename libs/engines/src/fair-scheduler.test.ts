import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairScheduler, SchedulerQueueFullError } from './fair-scheduler.js';

/** A job whose end the test decides; `started` lists job names in the order they began. */
class Jobs {
  readonly started: string[] = [];
  private readonly finishers = new Map<string, { resolve: (value: string) => void; reject: (error: Error) => void }>();

  constructor(private readonly scheduler: FairScheduler) {}

  submit(key: string, name: string, signal?: AbortSignal): Promise<string> {
    return this.scheduler.run(
      key,
      () =>
        new Promise<string>((resolve, reject) => {
          this.started.push(name);
          this.finishers.set(name, { resolve, reject });
        }),
      signal,
    );
  }

  /** Ends a running job and lets the scheduler start the next ones. */
  async finish(name: string, error?: Error): Promise<void> {
    const finisher = this.finishers.get(name);
    assert.ok(finisher, `${name} is running`);
    this.finishers.delete(name);
    if (error) finisher.reject(error);
    else finisher.resolve(name);
    await settle();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FairScheduler', () => {
  it("starts a new key's first job ahead of another key's backlog", async () => {
    const jobs = new Jobs(new FairScheduler({ concurrency: 1, perKeyLimit: 1, maxQueued: 100 }));
    const results = ['a1', 'a2', 'a3', 'a4'].map((name) => jobs.submit('a', name));
    const b = jobs.submit('b', 'b1');
    const c = jobs.submit('c', 'c1');
    await settle();
    assert.deepEqual(jobs.started, ['a1']);
    for (const name of ['a1', 'b1', 'c1', 'a2', 'a3', 'a4']) await jobs.finish(name);
    assert.deepEqual(jobs.started, ['a1', 'b1', 'c1', 'a2', 'a3', 'a4'], 'b and c each wait for one job, not for the whole backlog of a');
    assert.deepEqual(await Promise.all([...results, b, c]), ['a1', 'a2', 'a3', 'a4', 'b1', 'c1']);
  });

  it('takes turns between keys that both have a backlog', async () => {
    const jobs = new Jobs(new FairScheduler({ concurrency: 1, perKeyLimit: 1, maxQueued: 100 }));
    const all = ['1', '2', '3'].flatMap((n) => [jobs.submit('a', `a${n}`), jobs.submit('b', `b${n}`)]);
    for (const name of ['a1', 'b1', 'a2', 'b2', 'a3', 'b3']) await jobs.finish(name);
    assert.deepEqual(jobs.started, ['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    await Promise.all(all);
  });

  it('runs at most perKeyLimit jobs of one key, keeping the other workers for other keys', async () => {
    const scheduler = new FairScheduler({ concurrency: 2, perKeyLimit: 1, maxQueued: 100 });
    const jobs = new Jobs(scheduler);
    const a = ['a1', 'a2', 'a3'].map((name) => jobs.submit('a', name));
    await settle();
    assert.deepEqual(jobs.started, ['a1'], 'a second worker is free, but a may use only one');
    assert.equal(scheduler.active, 1);
    assert.equal(scheduler.queued, 2);
    const b = jobs.submit('b', 'b1');
    await settle();
    assert.deepEqual(jobs.started, ['a1', 'b1'], 'b starts at once on the free worker');
    assert.equal(scheduler.active, 2);
    for (const name of ['b1', 'a1', 'a2', 'a3']) await jobs.finish(name);
    await Promise.all([...a, b]);
    assert.equal(scheduler.active, 0);
    assert.equal(scheduler.queued, 0);
  });

  it('drops the waiting jobs of an aborted key without running them, and holds the worker until its running job ends', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, perKeyLimit: 1, maxQueued: 100 });
    const jobs = new Jobs(scheduler);
    const controller = new AbortController();
    const a = ['a1', 'a2', 'a3'].map((name) => jobs.submit('a', name, controller.signal).then(() => 'resolved', (error: unknown) => error));
    const b = jobs.submit('b', 'b1');
    await settle();
    assert.deepEqual(jobs.started, ['a1']);
    assert.equal(scheduler.queued, 3);
    const reason = new Error('turn cancelled');
    controller.abort(reason);
    await settle();
    assert.deepEqual(await Promise.all(a), [reason, reason, reason], 'every caller of a is rejected at once, the running one too');
    assert.equal(scheduler.queued, 1, "a2 and a3 left the queue; only b1 waits");
    await settle();
    assert.deepEqual(jobs.started, ['a1'], 'b1 waits while a1 still occupies the worker');
    await jobs.finish('a1');
    assert.deepEqual(jobs.started, ['a1', 'b1'], 'a2 and a3 never ran');
    await jobs.finish('b1');
    assert.equal(await b, 'b1');
    await assert.rejects(jobs.submit('a', 'a4', controller.signal), (error) => error === reason, 'an already aborted signal never queues');
    assert.deepEqual(jobs.started, ['a1', 'b1']);
  });

  it('refuses a job beyond maxQueued with a clear error, and goes on with the rest', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, perKeyLimit: 1, maxQueued: 2 });
    const jobs = new Jobs(scheduler);
    const running = jobs.submit('a', 'a1');
    const waiting = [jobs.submit('b', 'b1'), jobs.submit('c', 'c1')];
    await assert.rejects(jobs.submit('d', 'd1'), (error: unknown) => {
      assert.ok(error instanceof SchedulerQueueFullError);
      assert.equal(error.limit, 2);
      assert.match(error.message, /2 jobs are already waiting/);
      return true;
    });
    assert.equal(scheduler.queued, 2);
    for (const name of ['a1', 'b1', 'c1']) await jobs.finish(name);
    assert.deepEqual(await Promise.all([running, ...waiting]), ['a1', 'b1', 'c1']);
    assert.deepEqual(jobs.started, ['a1', 'b1', 'c1'], 'd1 never ran');
    // Room again once the queue drained.
    const later = jobs.submit('d', 'd2');
    await settle();
    await jobs.finish('d2');
    assert.equal(await later, 'd2');
  });

  it('passes a failed job on to its caller and frees its worker', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, perKeyLimit: 1, maxQueued: 10 });
    const jobs = new Jobs(scheduler);
    const failing = assert.rejects(jobs.submit('a', 'a1'), /worker died/);
    const next = jobs.submit('b', 'b1');
    await settle();
    await jobs.finish('a1', new Error('worker died'));
    await failing;
    assert.deepEqual(jobs.started, ['a1', 'b1']);
    await jobs.finish('b1');
    assert.equal(await next, 'b1');
    const throwing = scheduler.run('c', () => {
      throw new Error('thrown before any promise');
    });
    await assert.rejects(throwing, /thrown before any promise/);
    assert.equal(scheduler.active, 0);
  });
});
