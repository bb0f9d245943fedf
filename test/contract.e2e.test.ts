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

    const flite = new FliteSynthesizer({ threads: 1 });
    const speech = await synthesizeSpeech(flite, 'thank you very much', 16000).finally(() => flite.close());
    const speaker = await connectConfigured(testApp, { stt: { commit_strategy: 'manual' } });
    await streamAudio(speaker, Buffer.concat([speech, silence(0.5)]), { bytesPerSecond: 32000, speed: 2 });
    speaker.send({ type: 'audio.commit' });
    seen.push(...(await speaker.until((e) => e.type === 'assistant.audio.end', { timeoutMs: 20_000 })));
    seen.push(...texter.events.slice(0, 2), ...speaker.events.slice(0, 3));

    for (const event of seen) {
      const validate = ajv.getSchema(`asyncapi.json${served.components.messages[event.type]!.payload.$ref}`)!;
      assert.ok(validate(event), `${event.type}: ${ajv.errorsText(validate.errors)}`);
    }
    // `assistant.audio` comes only from providers that cannot stream; the embedded TTS streams.
    // Events in the contract ahead of their implementation (issues 10, 12, 14); each leaves this list
    // when the service sends it in the turns above.
    const notYetSent = ['assistant.message.delta', 'assistant.interrupted', 'user.speech_started', 'turn.metrics'];
    const expected = Object.keys(SERVER_EVENTS).filter((type) => type !== 'assistant.audio' && !notYetSent.includes(type)) as ServerEventType[];
    assert.deepEqual([...new Set(seen.map((e) => e.type))].sort(), expected.sort());
  });
});
