import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { localReply } from '@app/chat';
import { FliteSynthesizer } from '@app/engines';
import type { ServerEvent } from '@app/protocol';
import { FakeOpenAi } from '@app/testing';
import { CHAT_ACCEPT } from '../src/backend-chat/http-chat-backend.client.js';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';

/** Four sentences, with the segmenter's traps (a price, "Dr.", a decimal). */
const REPLY =
  'Sure, here is the plan for today. Dr. Smith sees you at 10.30 in the morning. The visit costs $29.99 in total. Bring your card and arrive early.';
const WORDS = REPLY.split(/(?<= )/);

type Mode = 'json' | 'sse' | 'ndjson' | 'openai' | 'error' | 'malformed' | 'break' | 'stall' | 'huge' | 'endless' | 'forget';

interface ChatRecord {
  accept?: string;
  registrationId?: string;
  /** Date.now() when the last reply byte was written. */
  finishedAt?: number;
  closedEarly: boolean;
}

/** A chat backend on loopback that answers in the given mode, writing one word every `msPerWord`. */
class StreamingBackend {
  mode: Mode = 'sse';
  msPerWord = 40;
  readonly chats: ChatRecord[] = [];
  private registrations = 0;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { registration_id?: string };
    if (req.url === '/v1/register') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ registration_id: `reg_${++this.registrations}` }));
      return;
    }
    const record: ChatRecord = { accept: req.headers.accept, registrationId: body.registration_id, closedEarly: false };
    this.chats.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.closedEarly = true;
    });
    const mode = this.mode;
    if (mode === 'forget' && body.registration_id === 'reg_1') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown registration"}');
      return;
    }
    if (mode === 'json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: REPLY, metadata: { source: 'json' } }));
      record.finishedAt = Date.now();
      return;
    }
    const ndjson = mode === 'ndjson';
    res.writeHead(200, { 'content-type': ndjson ? 'application/x-ndjson' : 'text/event-stream' });
    const send = (data: unknown) => res.write(ndjson ? `${JSON.stringify(data)}\n` : `data: ${JSON.stringify(data)}\n\n`);
    if (!ndjson) res.write(': keep-alive comment\n\nevent: ping\nid: 1\ndata: {"metadata":{"stage":"start"}}\n\n');
    const words = mode === 'huge' ? Array.from({ length: 200 }, () => 'lorem ipsum ') : mode === 'endless' ? Array.from({ length: 2000 }, () => 'It goes on. ') : WORDS;
    for (const [i, word] of words.entries()) {
      await sleep(this.msPerWord);
      if (res.destroyed) return;
      if (mode === 'openai') send({ id: 'c1', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
      else send({ delta: word });
      if (i === 9) {
        if (mode === 'error') {
          send({ error: { message: 'the model is overloaded' } });
          res.end();
          return;
        }
        if (mode === 'malformed') {
          res.end('data: {"delta": "broken\n\n');
          return;
        }
        if (mode === 'break') {
          await sleep(50); // let the last delta reach the service first
          res.socket?.destroy();
          return;
        }
        if (mode === 'stall') return; // never another byte
      }
    }
    if (mode !== 'openai') send({ metadata: { source: mode } });
    record.finishedAt = Date.now();
    res.end(ndjson ? '' : 'data: [DONE]\n\n');
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isEnd = (e: ServerEvent) => e.type === 'error' || e.type === 'assistant.audio.end';

describe('streaming chat replies over HTTP', () => {
  let backend: StreamingBackend;
  let app: TestApp;

  before(async () => {
    backend = new StreamingBackend();
    await backend.start();
    app = await startTestApp({ BACKEND_BASE_URL: backend.url, DEFAULT_REGISTRATION_ID: 'reg_x', BACKEND_TIMEOUT_MS: '1000', MAX_REPLY_CHARS: '300' });
  });
  after(async () => {
    await app.close();
    await backend.close();
  });

  /** Runs one turn; returns its events and when (Date.now()) each arrived. */
  const turn = async (client: Awaited<ReturnType<typeof connectConfigured>>, text: string, done: (e: ServerEvent) => boolean = isEnd) => {
    const times: number[] = [];
    const onMessage = () => times.push(Date.now());
    client.socket.on('message', onMessage);
    client.send({ type: 'text.prompt', text });
    const events = await client.until(done, { timeoutMs: 20_000 });
    client.socket.off('message', onMessage);
    return { events, times };
  };

  for (const mode of ['sse', 'ndjson', 'openai'] as const) {
    it(`${mode}: deltas as they come, audio before the backend finishes, assistant.message with the whole text at the end`, async () => {
      backend.mode = mode;
      const client = await connectConfigured(app, { tts: { output_format: 'pcm_16000' } });
      const { events, times } = await turn(client, `hello ${mode}`);
      const record = backend.chats.at(-1)!;
      assert.equal(record.accept, CHAT_ACCEPT);
      const types = events.map((e) => e.type);
      assert.equal(types[0], 'assistant.started');
      assert.equal(types.at(-1), 'assistant.audio.end', JSON.stringify(events.at(-1)));
      const turnId = (events[0] as { turn_id: number }).turn_id;
      assert.ok(events.every((e) => !('turn_id' in e) || e.turn_id === turnId), 'every event names the turn');
      const deltas = events.filter((e) => e.type === 'assistant.message.delta') as Array<{ text: string }>;
      const message = events.find((e) => e.type === 'assistant.message') as { text: string; metadata: Record<string, unknown> };
      assert.ok(deltas.length >= WORDS.length - 1, `${deltas.length} deltas`);
      assert.equal(deltas.map((d) => d.text).join(''), message.text);
      assert.equal(message.text, REPLY);
      if (mode !== 'openai') assert.deepEqual(message.metadata, mode === 'sse' ? { stage: 'start', source: mode } : { source: mode });
      // Order: all deltas before assistant.message; audio started before it (the reply took ~1 s to write).
      assert.ok(types.lastIndexOf('assistant.message.delta') < types.indexOf('assistant.message'));
      assert.ok(types.indexOf('assistant.audio.start') < types.indexOf('assistant.message'), types.join(','));
      const firstChunkAt = times[types.indexOf('assistant.audio.chunk')]!;
      assert.ok(record.finishedAt !== undefined && firstChunkAt < record.finishedAt, `first audio ${record.finishedAt! - firstChunkAt} ms before the backend finished`);
      const chunks = events.filter((e) => e.type === 'assistant.audio.chunk') as Array<{ chunk_index: number }>;
      assert.deepEqual(chunks.map((c) => c.chunk_index), chunks.map((_, i) => i + 1));
      assert.equal((events.at(-1) as { chunk_count: number }).chunk_count, chunks.length);
    });
  }

  it('aborts the backend stream when the client disconnects mid-reply', async () => {
    backend.mode = 'endless';
    const client = await connectConfigured(app);
    client.send({ type: 'text.prompt', text: 'go on' });
    await client.nextOf('assistant.audio.chunk', { timeoutMs: 10_000 });
    const record = backend.chats.at(-1)!;
    await client.close();
    await waitFor(() => record.closedEarly, 3000);
    assert.equal(record.finishedAt, undefined);
  });

  const faults: Array<{ mode: Mode; code: string; text: string | RegExp; message?: RegExp }> = [
    { mode: 'error', code: 'backend_error', text: WORDS.slice(0, 10).join(''), message: /the model is overloaded/ },
    { mode: 'malformed', code: 'backend_bad_response', text: WORDS.slice(0, 10).join('') },
    { mode: 'break', code: 'backend_unavailable', text: WORDS.slice(0, 10).join('') },
    { mode: 'stall', code: 'backend_timeout', text: WORDS.slice(0, 10).join('') },
    { mode: 'huge', code: 'reply_too_large', text: /^(lorem ipsum ){25}/ },
  ];
  for (const fault of faults) {
    it(`${fault.mode}: assistant.message with the text so far, then error ${fault.code}; the session carries on`, async () => {
      backend.mode = fault.mode;
      backend.msPerWord = 10;
      try {
        const client = await connectConfigured(app, { tts: { output_format: 'pcm_16000' } });
        const { events } = await turn(client, `fault ${fault.mode}`, (e) => e.type === 'error');
        const types = events.map((e) => e.type);
        const message = events.find((e) => e.type === 'assistant.message') as { text: string };
        assert.ok(message, types.join(','));
        const deltas = (events.filter((e) => e.type === 'assistant.message.delta') as Array<{ text: string }>).map((d) => d.text).join('');
        assert.equal(deltas, message.text);
        if (typeof fault.text === 'string') assert.equal(message.text, fault.text);
        else assert.match(message.text, fault.text);
        if (fault.mode === 'huge') assert.equal(message.text.length, 300);
        const error = events.at(-1) as { code: string; message: string };
        assert.equal(error.code, fault.code, error.message);
        if (fault.message) assert.match(error.message, fault.message);
        assert.ok(types.indexOf('assistant.message') < types.indexOf('error'));
        if (types.includes('assistant.audio.start')) assert.ok(types.includes('assistant.audio.end'), 'audio already started is closed');
        // The same session answers the next turn.
        backend.mode = 'sse';
        const next = await turn(client, 'again');
        assert.equal((next.events.find((e) => e.type === 'assistant.message') as { text: string }).text, REPLY);
      } finally {
        backend.msPerWord = 40;
      }
    });
  }
});

describe('streaming and the seed JSON path', () => {
  let backend: StreamingBackend;
  let app: TestApp;
  let flite: FliteSynthesizer;

  before(async () => {
    backend = new StreamingBackend();
    await backend.start();
    app = await startTestApp({ BACKEND_BASE_URL: backend.url, DEFAULT_REGISTRATION_ID: 'reg_x' });
    flite = new FliteSynthesizer({ threads: 1 });
  });
  after(async () => {
    await app.close();
    await backend.close();
    await flite.close();
  });

  it('a JSON backend gets exactly the seed events, byte for byte (frames and audio)', async () => {
    backend.mode = 'json';
    const client = await connectConfigured(app, { tts: { output_format: 'pcm_16000' } });
    const frames: string[] = [];
    client.socket.on('message', (data: Buffer) => frames.push(data.toString('utf8')));
    client.send({ type: 'text.prompt', text: 'plan my day' });
    await client.until(isEnd, { timeoutMs: 20_000 });
    // What the seed sent: its key order, its audio (sentence by sentence flite, 160 ms chunks at 16 kHz).
    const pcm = [];
    for await (const piece of flite.speak(REPLY, { voice: 'slt', sampleRate: 16000, speed: 1 }, new AbortController().signal)) pcm.push(piece);
    const audio = Buffer.concat(pcm);
    const format = { content_type: 'application/octet-stream', output_format: 'pcm_16000' };
    const expected = [
      JSON.stringify({ type: 'assistant.started', text: 'plan my day', turn_id: 1 }),
      JSON.stringify({ type: 'assistant.message', text: REPLY, metadata: { source: 'json' }, turn_id: 1 }),
      JSON.stringify({ type: 'assistant.audio.start', turn_id: 1, ...format }),
    ];
    let index = 0;
    for (let at = 0; at < audio.length; at += 5120) {
      expected.push(JSON.stringify({ type: 'assistant.audio.chunk', turn_id: 1, audio: audio.subarray(at, at + 5120).toString('base64'), ...format, chunk_index: ++index }));
    }
    expected.push(JSON.stringify({ type: 'assistant.audio.end', turn_id: 1, ...format, chunk_count: index }));
    assert.equal(frames.length, expected.length);
    for (const [i, frame] of frames.entries()) assert.equal(frame, expected[i], `frame ${i}`);
  });

  it('registers again on 404 before the first byte of a stream', async () => {
    const renewing = await startTestApp({ BACKEND_BASE_URL: backend.url });
    try {
      backend.mode = 'forget';
      const client = await connectConfigured(renewing, { backend: { provider: 'local' } });
      const before = backend.chats.length;
      client.send({ type: 'text.prompt', text: 'hello' });
      const events = await client.until(isEnd, { timeoutMs: 20_000 });
      assert.equal((events.find((e) => e.type === 'assistant.message') as { text: string }).text, REPLY);
      assert.deepEqual(backend.chats.slice(before).map((c) => c.registrationId), ['reg_1', 'reg_2']);
    } finally {
      await renewing.close();
    }
  });
});

describe('the embedded backend streams', () => {
  it('the local responder streams word by word at LOCAL_RESPONDER_STREAM_MS_PER_WORD (text-turn tests show the default whole reply)', async () => {
    const paced = await startTestApp({ LOCAL_RESPONDER_STREAM_MS_PER_WORD: '60' });
    try {
      const client = await connectConfigured(paced);
      client.send({ type: 'text.prompt', text: 'hello' });
      const events = await client.until(isEnd, { timeoutMs: 20_000 });
      const types = events.map((e) => e.type);
      const deltas = events.filter((e) => e.type === 'assistant.message.delta') as Array<{ text: string }>;
      assert.equal(deltas.map((d) => d.text).join(''), localReply('hello'));
      assert.equal(deltas.length, localReply('hello').split(' ').length);
      assert.ok(types.indexOf('assistant.audio.start') < types.indexOf('assistant.message'), types.join(','));
    } finally {
      await paced.close();
    }
  });

  it('the OpenAI-compatible relay with stream: true passes the deltas through', async () => {
    const openai = await FakeOpenAi.start();
    const relay = await startTestApp({ LLM_API_KEY: 'sk-test', LLM_PROVIDER: 'openai', LLM_MODEL: 'gpt-stream', LLM_BASE_URL: openai.baseUrl });
    try {
      const client = await connectConfigured(relay);
      client.send({ type: 'text.prompt', text: 'count to three' });
      const events = await client.until(isEnd, { timeoutMs: 20_000 });
      assert.equal(openai.requests.at(-1)?.body.stream, true);
      const deltas = events.filter((e) => e.type === 'assistant.message.delta') as Array<{ text: string }>;
      const message = events.find((e) => e.type === 'assistant.message') as { text: string; metadata: Record<string, unknown> };
      assert.ok(deltas.length >= 5, `${deltas.length} deltas`);
      assert.equal(deltas.map((d) => d.text).join(''), 'The model heard: count to three');
      assert.equal(message.text, 'The model heard: count to three');
      assert.equal(message.metadata['model'], 'gpt-stream');
      assert.equal(events.at(-1)?.type, 'assistant.audio.end');
    } finally {
      await relay.close();
      await openai.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
