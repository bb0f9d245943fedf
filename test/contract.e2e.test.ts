import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { FliteSynthesizer } from '@app/engines';
import { buildAsyncApiDocument, SERVER_EVENTS, type ServerEvent, type ServerEventType } from '@app/protocol';
import { silence, streamAudio, synthesizeSpeech } from '@app/testing';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';

interface AsyncApiDocument {
  components: { messages: Record<string, { payload: { $ref: string } }> };
}

describe('the served contract', () => {
  let testApp: TestApp;
  let served: AsyncApiDocument;

  before(async () => {
    testApp = await startTestApp();
    served = (await (await fetch(`${testApp.httpUrl}/asyncapi.json`)).json()) as AsyncApiDocument;
  });
  after(() => testApp.close());

  it('serves the generated AsyncAPI document at /asyncapi.json, linked from /docs', async () => {
    assert.deepEqual(served, JSON.parse(JSON.stringify(buildAsyncApiDocument())));
    const openapi = (await (await fetch(`${testApp.httpUrl}/docs/openapi.json`)).json()) as { info: { description: string }; paths: Record<string, unknown> };
    assert.match(openapi.info.description, /\]\(\/asyncapi\.json\)/);
    assert.match(openapi.info.description, /\]\(\/test\)/);
    assert.ok(openapi.paths['/asyncapi.json'], 'the document endpoint is in the OpenAPI document');
  });

  it('describes every event the server really sends in text, voice and error turns', async () => {
    const ajv = new Ajv({ strict: true, allErrors: true });
    ajv.addVocabulary(['asyncapi', 'info', 'defaultContentType', 'servers', 'channels', 'operations', 'components']);
    ajv.addSchema(served, 'asyncapi.json');
    const seen: ServerEvent[] = [];

    const texter = await connectConfigured(testApp, { tts: { output_format: 'ulaw_8000' } });
    texter.send({ type: 'text.prompt', text: 'hello' });
    texter.send({ type: 'text.prompt', text: ' ' });
    seen.push(...(await texter.until((e) => e.type === 'error', { timeoutMs: 15_000 })));
    seen.push(...(await texter.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 15_000 })));
    // Still playing on the client: a Stop button interrupts it.
    texter.send({ type: 'assistant.audio.played', turn_id: 1, played_ms: 300 });
    texter.send({ type: 'assistant.cancel' });
    seen.push(...(await texter.until((e) => e.type === 'assistant.interrupted', { timeoutMs: 5000 })));
    seen.push(...(await texter.until((e) => e.type === 'turn.metrics', { timeoutMs: 5000 })));

    const flite = new FliteSynthesizer({ threads: 1 });
    const speech = await synthesizeSpeech(flite, 'thank you very much', 16000).finally(() => flite.close());
    // VAD on (for user.speech_started), the turn still ended by the client's commit.
    const speaker = await connectConfigured(testApp, { stt: { commit_strategy: 'vad' } });
    await streamAudio(speaker, Buffer.concat([speech, silence(0.5)]), { bytesPerSecond: 32000, speed: 2 });
    speaker.send({ type: 'audio.commit' });
    seen.push(...(await speaker.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 })));
    seen.push(...texter.events.slice(0, 2), ...speaker.events.slice(0, 3));

    // A streamed reply: the embedded local responder writing word by word.
    const streamingApp = await startTestApp({ LOCAL_RESPONDER_STREAM_MS_PER_WORD: '10' });
    try {
      const streamer = await connectConfigured(streamingApp);
      streamer.send({ type: 'text.prompt', text: 'hello' });
      seen.push(...(await streamer.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 15_000 })));
    } finally {
      await streamingApp.close();
    }

    for (const event of seen) {
      const validate = ajv.getSchema(`asyncapi.json${served.components.messages[event.type]!.payload.$ref}`)!;
      assert.ok(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`);
    }
    // `assistant.audio` comes only from providers that cannot stream; the embedded TTS streams.
    const expected = Object.keys(SERVER_EVENTS).filter((type) => type !== 'assistant.audio') as ServerEventType[];
    assert.deepEqual([...new Set(seen.map((e) => e.type))].sort(), expected.sort());
  });
});
