import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { from } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { BINARY_AUDIO_EVENT, INVALID_FRAME_EVENT, originAllowed, parseVoiceFrame, VoiceWsAdapter } from './voice-ws.adapter.js';

describe('parseVoiceFrame', () => {
  it('routes JSON on `type` and keeps the whole message', () => {
    assert.deepEqual(parseVoiceFrame('{"type":"text.prompt","text":"hi"}'), { event: 'text.prompt', data: { type: 'text.prompt', text: 'hi' } });
  });

  it('turns every binary shape into audio', () => {
    const pcm = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(parseVoiceFrame(pcm), { event: BINARY_AUDIO_EVENT, data: pcm });
    assert.deepEqual(parseVoiceFrame([pcm.subarray(0, 2), pcm.subarray(2)]).data, pcm);
    assert.deepEqual(parseVoiceFrame(new Uint8Array(pcm).buffer).data, pcm);
  });

  it('never returns nothing for bad frames', () => {
    for (const [frame, code] of [['nope', 'invalid_json'], ['null', 'invalid_json'], ['[]', 'invalid_json'], ['{}', 'unknown_type'], ['{"type":"audio.binary"}', 'unknown_type'], ['{"type":"constructor"}', 'unknown_type']] as const) {
      const parsed = parseVoiceFrame(frame);
      assert.equal(parsed.event, INVALID_FRAME_EVENT, frame);
      assert.equal((parsed.data as { code: string }).code, code, frame);
    }
  });
});

describe('originAllowed', () => {
  const allowed = ['https://app.example.com', 'http://localhost:5173'];
  it('lets in any origin without an allow-list, and clients that send no Origin', () => {
    assert.equal(originAllowed('https://evil.example', 'voice.example.com', []), true);
    assert.equal(originAllowed(undefined, 'voice.example.com', allowed), true);
  });
  it('lets in listed origins and the service itself, refuses the rest', () => {
    assert.equal(originAllowed('https://app.example.com', 'voice.example.com', allowed), true);
    assert.equal(originAllowed('http://localhost:5173', 'voice.example.com', allowed), true);
    assert.equal(originAllowed('https://voice.example.com', 'voice.example.com', allowed), true, 'same host: the /test console');
    assert.equal(originAllowed('https://evil.example', 'voice.example.com', allowed), false);
    assert.equal(originAllowed('http://app.example.com', 'voice.example.com', allowed), false, 'scheme matters');
    assert.equal(originAllowed('https://app.example.com.evil.example', 'voice.example.com', allowed), false);
    assert.equal(originAllowed('null', 'voice.example.com', allowed), false, 'sandboxed or file pages');
  });
});

describe('VoiceWsAdapter.bindMessageHandlers', () => {
  it('dispatches frames in wire order, survives a failing handler, sends back what a handler returns', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const adapter = new VoiceWsAdapter(undefined as never, { maxPayloadBytes: 1024 });
    const seen: string[] = [];
    server.on('connection', (socket: WebSocket) => {
      const callback = (data: unknown, event: string): Promise<unknown> => {
        const text = (data as { text?: string }).text;
        seen.push(event === BINARY_AUDIO_EVENT ? `binary:${(data as Buffer).length}` : `${event}:${text ?? ''}`);
        // Nest's handler callbacks are async: a handler bug arrives as a rejection, which is logged.
        if (text === 'throw') return Promise.reject(new Error('handler bug (expected in this test)'));
        if (text === 'answer') return Promise.resolve({ type: 'answered' });
        return Promise.resolve(undefined);
      };
      adapter.bindMessageHandlers(
        socket,
        ['text.prompt', BINARY_AUDIO_EVENT, INVALID_FRAME_EVENT].map((message) => ({ message, methodName: message, callback, isAckHandledManually: false })),
        (result) => from(result as Promise<unknown>),
      );
    });
    const { port } = server.address() as AddressInfo;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(client, 'open');
    const answered = once(client, 'message');
    client.send(JSON.stringify({ type: 'text.prompt', text: 'one' }));
    client.send(JSON.stringify({ type: 'text.prompt', text: 'throw' }));
    client.send(Buffer.from([1, 2, 3, 4]));
    client.send('not json');
    client.send(JSON.stringify({ type: 'text.prompt', text: 'answer' }));
    const [reply] = (await answered) as [Buffer];
    assert.deepEqual(JSON.parse(reply.toString()), { type: 'answered' });
    assert.deepEqual(seen, ['text.prompt:one', 'text.prompt:throw', 'binary:4', `${INVALID_FRAME_EVENT}:`, 'text.prompt:answer']);
    client.close();
    server.close();
  });
});
