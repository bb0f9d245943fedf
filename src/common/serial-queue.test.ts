import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SerialQueue } from './serial-queue.js';

describe('SerialQueue', () => {
  let server: Server;
  let url = '';
  before(async () => {
    // A slow "backend": answers after 150 ms, like a configure waiting on registration.
    server = createServer((_request, response) => setTimeout(() => response.end('registered'), 150));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('runs a task synchronously when idle (no promise per audio chunk)', async () => {
    const errors: unknown[] = [];
    const queue = new SerialQueue((error) => errors.push(error));
    const log: string[] = [];
    queue.run(() => void log.push('a'));
    assert.deepEqual(log, ['a'], 'ran inside run()');
    queue.run(() => void log.push('b'));
    assert.deepEqual(log, ['a', 'b']);
    await queue.idle();
    assert.deepEqual(errors, []);
  });

  it('holds later frames behind a task waiting on the network, then goes back to running synchronously', async () => {
    const queue = new SerialQueue((error) => assert.fail(String(error)));
    const log: string[] = [];
    queue.run(async () => {
      log.push('configure start');
      const body = await (await fetch(url)).text();
      log.push(`configure ${body}`);
    });
    for (let i = 0; i < 5; i++) queue.run(() => void log.push(`chunk ${i}`));
    assert.deepEqual(log, ['configure start'], 'chunks wait while configure is pending');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(log, ['configure start'], 'still waiting for the network');
    await queue.idle();
    assert.deepEqual(log, ['configure start', 'configure registered', 'chunk 0', 'chunk 1', 'chunk 2', 'chunk 3', 'chunk 4']);
    await new Promise((resolve) => setImmediate(resolve));
    queue.run(() => void log.push('chunk 5'));
    assert.equal(log.at(-1), 'chunk 5', 'idle again: runs synchronously');
  });

  it('reports thrown and rejected errors in order and keeps going', async () => {
    const events: string[] = [];
    const queue = new SerialQueue((error) => events.push(`error ${(error as Error).message}`));
    queue.run(() => {
      throw new Error('sync');
    });
    queue.run(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('async');
    });
    queue.run(() => {
      throw new Error('queued sync');
    });
    queue.run(() => void events.push('last'));
    assert.deepEqual(events, ['error sync']);
    await queue.idle();
    assert.deepEqual(events, ['error sync', 'error async', 'error queued sync', 'last']);
  });

  it('runs a task added from inside a running task after it (FIFO), also when the running task is asynchronous', async () => {
    const queue = new SerialQueue((error) => assert.fail(String(error)));
    const log: string[] = [];
    queue.run(() => {
      queue.run(() => void log.push('nested of sync'));
      log.push('sync');
    });
    queue.run(() => void log.push('after sync'));
    await queue.idle();
    assert.deepEqual(log, ['sync', 'nested of sync', 'after sync']);
    await new Promise((resolve) => setImmediate(resolve));
    log.length = 0;
    // Started on the idle (synchronous) path, so the nested task must wait for the async part.
    queue.run(async () => {
      queue.run(() => void log.push('nested of async'));
      await new Promise((resolve) => setTimeout(resolve, 10));
      log.push('async');
    });
    queue.run(() => void log.push('after async'));
    assert.deepEqual(log, []);
    await queue.idle();
    assert.deepEqual(log, ['async', 'nested of async', 'after async']);
  });
});
