import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerEvent } from '@app/protocol';
import { joinAudioChunks } from '@app/testing';
import { useElevenLabsStack } from './utils/elevenlabs-stack.js';
import { connectConfigured } from './utils/test-app.js';

const KEY = 'xi-canary-streaming-7a2c';
/** Echoed by the local responder as a three-sentence reply, written word by word. */
const PROMPT = 'The first sentence is here. A second one follows it. And the third ends the reply.';
const isEnd = (e: ServerEvent) => e.type === 'assistant.audio.end' || e.type === 'error';

/** A streamed reply (embedded local responder, paced) spoken by ElevenLabs, one request per unit. */
describe('ElevenLabs TTS of a streamed reply (emulator)', () => {
  const stack = useElevenLabsStack(KEY, { LOCAL_RESPONDER_STREAM_MS_PER_WORD: '25', ELEVENLABS_TTS_TIMEOUT_MS: '2000' });

  const turn = async (done: (e: ServerEvent) => boolean = isEnd) => {
    const client = await connectConfigured(stack.testApp, { tts: { output_format: 'pcm_16000' } });
    client.send({ type: 'text.prompt', text: PROMPT });
    return client.until(done, { timeoutMs: 30_000 });
  };
  const failed = (e: ServerEvent) => e.type === 'error';
  const ttsRequests = () => stack.emulator.requests.filter((r) => r.path.includes('/text-to-speech/'));
  const body = (i: number) => ttsRequests()[i]!.body as { text: string; previous_text?: string; next_text?: string };

  it('one request per unit as the units complete, each with the reply so far as previous_text', async () => {
    await turn(); // warms the emulator's synthesiser up, so no first attempt times out below
    stack.emulator.reset();
    const events = await turn();
    const types = events.map((e) => e.type);
    assert.equal(types.at(-1), 'assistant.audio.end', JSON.stringify(events.at(-1)));
    const message = events.find((e) => e.type === 'assistant.message') as { text: string };
    assert.equal(message.text, `You said: ${PROMPT}`);
    assert.ok(types.indexOf('assistant.audio.start') < types.indexOf('assistant.message'), 'speech began while the reply was written');
    const texts = ttsRequests().map((r) => (r.body as { text: string }).text);
    assert.deepEqual(texts, ['You said: The first sentence is here.', 'A second one follows it.', 'And the third ends the reply.']);
    assert.equal(body(0).previous_text, undefined);
    assert.equal(body(1).previous_text, texts[0]);
    assert.equal(body(2).previous_text, `${texts[0]} ${texts[1]}`);
    assert.ok(joinAudioChunks(events).length > 16000, 'audio of all three units');
  });

  it('retries a unit refused with 429 before its first byte, never an auth error', async () => {
    Object.assign(stack.emulator.faults, { rateLimited: 1, retryAfterSeconds: 0 });
    const events = await turn();
    assert.equal(events.at(-1)?.type, 'assistant.audio.end');
    assert.deepEqual(ttsRequests().map((r) => r.status), [429, 200, 200, 200]);

    stack.emulator.reset();
    stack.emulator.faults.rejectAuth = true;
    const refused = await turn(failed);
    const error = refused.at(-1) as { type: string; code: string; message: string };
    assert.equal(error.code, 'tts_failed');
    assert.match(error.message, /API key/);
    assert.equal(ttsRequests().length, 1, 'no retry on auth');
    assert.ok(refused.some((e) => e.type === 'assistant.message'), 'the text still arrives');
  });

  it('does not retry a unit dropped mid-stream: its audio so far stays, then tts_failed', async () => {
    Object.assign(stack.emulator.faults, { dropAfterBytes: 8000 });
    const events = await turn(failed);
    const error = events.at(-1) as { type: string; code: string };
    assert.equal(error.code, 'tts_failed');
    assert.equal(ttsRequests().length, 1, 'the dropped unit was not retried');
    const types = events.map((e) => e.type);
    assert.ok(types.includes('assistant.audio.chunk'), 'audio before the drop was delivered');
    assert.ok(types.indexOf('assistant.audio.end') < types.indexOf('error'));
  });

  it('a stalled unit is retried before its first byte', async () => {
    stack.emulator.faults.stall = true;
    const client = await connectConfigured(stack.testApp, { tts: { output_format: 'pcm_16000' } });
    client.send({ type: 'text.prompt', text: PROMPT });
    // Once the first attempt is in (and stalled), the next one is answered.
    for (let i = 0; i < 200 && ttsRequests().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    await new Promise((resolve) => setTimeout(resolve, 200));
    stack.emulator.faults.stall = false;
    const events = await client.until(isEnd, { timeoutMs: 30_000 });
    assert.equal(events.at(-1)?.type, 'assistant.audio.end', JSON.stringify(events.at(-1)));
    assert.ok(ttsRequests().length >= 4, `${ttsRequests().length} requests: the stalled one was tried again`);
  });
});
