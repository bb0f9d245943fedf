import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FliteSynthesizer } from '@app/engines';
import { silence, streamAudio, synthesizeSpeech } from '@app/testing';
import { connectConfigured, startTestApp } from './utils/test-app.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
};

describe('OpenTelemetry tracing', () => {
  /** An OTLP/HTTP receiver: what the service exports, as the collector would get it. */
  const received: OtlpSpan[] = [];
  const receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url === '/v1/traces' && request.method === 'POST') {
        const payload = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resource of payload.resourceSpans) for (const scope of resource.scopeSpans) received.push(...scope.spans);
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  /** A chat backend that records the headers of each /v1/chat. */
  const chatHeaders: IncomingHttpHeaders[] = [];
  const backend = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.url === '/v1/chat') chatHeaders.push(request.headers);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply: 'It is sunny in Paris today.' }));
    });
  });
  let receiverUrl: string;
  let backendUrl: string;

  before(async () => {
    receiverUrl = await listen(receiver);
    backendUrl = await listen(backend);
  });
  after(() => {
    for (const server of [receiver, backend]) {
      server.closeAllConnections();
      server.close();
    }
  });

  it('exports a session span with turn spans (recognition, backend, synthesis) and sends traceparent to the backend', async () => {
    const testApp = await startTestApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_SERVICE_NAME: 'voice-layer-test', BACKEND_BASE_URL: backendUrl, DEFAULT_REGISTRATION_ID: 'reg-1' });
    const flite = new FliteSynthesizer({ threads: 1 });
    try {
      const client = await connectConfigured(testApp, { session_id: 'traced-session', stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 0.8 } });
      client.send({ type: 'text.prompt', text: 'What is the weather like in Paris?' });
      await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
      if (testApp.sttAvailable) {
        const speech = await synthesizeSpeech(flite, 'what is the weather like in paris today', 16000);
        await streamAudio(client, Buffer.concat([silence(0.3), speech, silence(1.2)]), { bytesPerSecond: 32000, speed: 2, sampleRate: 16000 });
        await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
      }
      await client.close();
    } finally {
      await flite.close();
      await testApp.close(); // flushes the batch processor
    }

    const byName = (name: string) => received.filter((s) => s.name === name);
    const [session] = byName('voice.session');
    assert.ok(session, `spans received: ${received.map((s) => s.name).join(', ')}`);
    assert.equal(session.parentSpanId || undefined, undefined, 'the session span is a trace root');
    assert.equal(attribute(session, 'voice.session_id'), 'traced-session');
    const turns = byName('voice.turn');
    assert.equal(turns.length, testApp.sttAvailable ? 2 : 1);
    for (const turn of turns) {
      assert.equal(turn.traceId, session.traceId);
      assert.equal(turn.parentSpanId, session.spanId);
      assert.equal(attribute(turn, 'voice.turn_outcome'), 'completed');
      const children = received.filter((s) => s.parentSpanId === turn.spanId).map((s) => s.name).sort();
      const spoken = attribute(turn, 'voice.turn_id') === 2;
      assert.deepEqual(children, spoken ? ['backend.chat', 'stt.recognition', 'tts.synthesis'] : ['backend.chat', 'tts.synthesis']);
    }
    // The backend received the backend span's context: its spans would join this trace.
    const backendSpans = byName('backend.chat');
    assert.equal(chatHeaders.length, turns.length);
    chatHeaders.forEach((headers) => {
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(headers['traceparent']));
      assert.ok(match, `traceparent: ${String(headers['traceparent'])}`);
      assert.equal(match[1], session.traceId);
      assert.ok(backendSpans.some((span) => span.spanId === match[2]), 'the parent id is the backend.chat span');
    });
  });

  it('is off without an endpoint: no traceparent, nothing exported', async () => {
    const before = { spans: received.length, chats: chatHeaders.length };
    const testApp = await startTestApp({ BACKEND_BASE_URL: backendUrl, DEFAULT_REGISTRATION_ID: 'reg-1' });
    try {
      const client = await connectConfigured(testApp);
      client.send({ type: 'text.prompt', text: 'hello' });
      await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
    } finally {
      await testApp.close();
    }
    assert.equal(chatHeaders.length, before.chats + 1);
    assert.equal(chatHeaders.at(-1)!['traceparent'], undefined);
    assert.equal(received.length, before.spans);
  });
});
