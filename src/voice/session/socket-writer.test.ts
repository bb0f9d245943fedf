import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { SocketWriter } from './socket-writer.js';

/** Real sockets on loopback: a reader that stops reading must stop the writer, not grow its buffer. */
describe('SocketWriter backpressure', () => {
  let server: WebSocketServer;
  let serverSocket: Promise<WebSocket>;

  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    serverSocket = new Promise((resolve) => server.once('connection', resolve));
    await new Promise((resolve) => server.once('listening', resolve));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('waits while the peer does not read and resumes when it does', { timeout: 30_000 }, async () => {
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    let received = 0;
    client.on('message', () => received++);
    await new Promise((resolve) => client.once('open', resolve));
    const socket = await serverSocket;
    const highWater = 64 * 1024;
    const writer = new SocketWriter(socket, highWater);
    const rawClient = (client as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    rawClient.pause();

    const audio = 'x'.repeat(32 * 1024);
    const total = 2000; // 64 MB: far beyond what kernel buffers can absorb
    let sent = 0;
    let maxBuffered = 0;
    const producer = (async () => {
      for (; sent < total; sent++) {
        await writer.sendPaced({ type: 'assistant.audio.chunk', turn_id: 1, audio, content_type: 'application/octet-stream', output_format: 'pcm_24000', chunk_index: sent + 1 });
        maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, 1500));
    try {
      assert.ok(sent < total, 'the producer is held back');
      assert.ok(maxBuffered <= highWater + audio.length + 1024, `at most one message over the high-water mark (saw ${maxBuffered})`);
    } catch (error) {
      client.terminate();
      throw error;
    }

    rawClient.resume();
    await producer;
    await new Promise<void>((resolve) => {
      const check = () => (received === total ? resolve() : setTimeout(check, 20));
      check();
    });
    assert.equal(received, total);
    client.close();
  });
});
