import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatEngine, ChatEngineError, ChatStreamError, chatStreamFormat, extractChatReply, isReplyStream, localReply, MAX_STREAM_EVENT_CHARS, readChatStream, rewriteInterrupted, secretFingerprint, type ChatStreamPiece } from './index.js';

describe('localReply', () => {
  it('is deterministic and answers known intents', () => {
    assert.equal(localReply('Hello there'), localReply('Hello there'));
    assert.match(localReply('hi'), /^Hello!/);
    assert.match(localReply('what is the weather like in paris today'), /weather/);
    assert.equal(localReply('  the   cat sat '), 'You said: the cat sat');
    assert.ok(localReply('x'.repeat(1000)).length < 350);
  });
});

describe('ChatEngine', () => {
  it('registers local and OpenAI-compatible providers and refuses unusable ones', () => {
    const engine = new ChatEngine();
    assert.match(engine.register({ provider: 'local' }), /^reg_/);
    assert.match(engine.register({ provider: 'openai', api_key: 'k' }), /^reg_/);
    assert.throws(() => engine.register({ provider: 'acme' }), (e: unknown) => e instanceof ChatEngineError && e.code === 'invalid_registration');
    assert.throws(() => engine.register({ provider: 'x', base_url: 'file:///etc/passwd' }), /http or https/);
    assert.throws(() => engine.register({ provider: 'x', base_url: 'https://u:p@host/v1' }), /credentials/);
  });

  it('rejects unknown registrations, or answers locally when told to', async () => {
    await assert.rejects(new ChatEngine().chat({ registration_id: 'nope', session_id: 's', message: 'hi' }), /unknown registration_id/);
    const open = new ChatEngine({ unknownRegistrations: 'local' });
    assert.equal((await open.chat({ registration_id: 'nope', session_id: 's', message: 'hi' })).text, localReply('hi'));
  });

  it('counts turns per session', async () => {
    const engine = new ChatEngine();
    const id = engine.register({ provider: 'local' });
    await engine.chat({ registration_id: id, session_id: 'a', message: 'one' });
    const second = await engine.chat({ registration_id: id, session_id: 'a', message: 'two' });
    const other = await engine.chat({ registration_id: id, session_id: 'b', message: 'one' });
    assert.equal(second.metadata['turn'], 2);
    assert.equal(other.metadata['turn'], 1);
  });
});

describe('rewriteInterrupted', () => {
  const history = [
    { role: 'user' as const, content: 'one' },
    { role: 'assistant' as const, content: 'First reply.' },
    { role: 'user' as const, content: 'tell me a story' },
    { role: 'assistant' as const, content: 'Once upon a time there was a fox.' },
  ];
  it('keeps only the heard part of the interrupted reply, or drops the reply when nothing was heard', () => {
    const heard = rewriteInterrupted(history, { turn_id: 2, message: 'tell me a story', reply: 'Once upon a time there was a fox.', heard: 'Once upon a' });
    assert.deepEqual(heard.map((t) => t.content), ['one', 'First reply.', 'tell me a story', 'Once upon a']);
    const none = rewriteInterrupted(history, { turn_id: 2, message: 'tell me a story', reply: 'Once', heard: '' });
    assert.deepEqual(none.map((t) => t.role), ['user', 'assistant', 'user']);
    assert.equal(rewriteInterrupted(history, { turn_id: 9, message: 'never said', reply: '', heard: '' }), history);
    assert.equal(rewriteInterrupted(history, undefined), history);
  });

  it('feeds the truncated history to the next LLM call of the session', async () => {
    const engine = new ChatEngine();
    const id = engine.register({ provider: 'local' });
    const first = await engine.chat({ registration_id: id, session_id: 's', message: 'hello there' });
    const second = await engine.chat({ registration_id: id, session_id: 's', message: 'again', interrupted: { turn_id: 1, message: 'hello there', reply: first.text, heard: '' } });
    // The dropped reply no longer counts: two user messages and one reply.
    assert.equal(second.metadata['turn'], 2);
  });
});

describe('extractChatReply', () => {
  it('accepts response, reply, text or message and keeps object metadata', () => {
    assert.deepEqual(extractChatReply({ response: 'a', metadata: { x: 1 } }), { text: 'a', metadata: { x: 1 } });
    assert.equal(extractChatReply({ reply: 'b' })?.text, 'b');
    assert.equal(extractChatReply({ text: 'c' })?.text, 'c');
    assert.equal(extractChatReply({ message: 'd', metadata: [1] })?.metadata && 'ok', 'ok');
    assert.deepEqual(extractChatReply({ message: 'd', metadata: [1] })?.metadata, {});
    assert.equal(extractChatReply({ answer: 'e' }), undefined);
    assert.equal(extractChatReply('f'), undefined);
  });
});

describe('secretFingerprint', () => {
  it('never contains the secret and differs per secret', () => {
    assert.ok(!secretFingerprint('sk-abcdef').includes('abcdef'));
    assert.notEqual(secretFingerprint('a'), secretFingerprint('b'));
    assert.equal(secretFingerprint(undefined), 'none');
  });
});

describe('readChatStream', () => {
  const read = async (parts: string[], format: 'sse' | 'ndjson') => {
    const pieces: ChatStreamPiece[] = [];
    let consumed = 0;
    async function* body() {
      for (const part of parts) {
        consumed++;
        yield new TextEncoder().encode(part);
      }
    }
    for await (const piece of readChatStream(body(), format)) pieces.push(piece);
    return { pieces, consumed };
  };
  const failsWith = (code: string) => (error: unknown) => error instanceof ChatStreamError && error.code === code;

  it('reads SSE deltas split anywhere, merges nothing itself, ignores comments, event/id lines and unknown objects, stops at [DONE]', async () => {
    const { pieces, consumed } = await read(
      [': hello\n\nevent: x\nid: 3\ndata: {"del', 'ta":"Hel"}\n\ndata: {"delta":"lo","metadata":{"a":1}}\n\n', 'data: {"other":true}\n\ndata: [DONE]\n\n', 'data: {"delta":"never"}\n\n'],
      'sse',
    );
    assert.deepEqual(pieces, [{ delta: 'Hel' }, { delta: 'lo', metadata: { a: 1 } }]);
    assert.equal(consumed, 3, 'nothing is read after [DONE]');
  });

  it('reads OpenAI chat.completion.chunk objects and NDJSON lines', async () => {
    const chunk = (content?: string) => `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: content === undefined ? { role: 'assistant' } : { content } }] })}\n\n`;
    assert.deepEqual((await read([chunk(), chunk('Hi'), chunk(' there')], 'sse')).pieces, [{ delta: 'Hi' }, { delta: ' there' }]);
    assert.deepEqual((await read(['{"delta":"a"}\n{"de', 'lta":"b"}\n\n{"metadata":{"m":2}}'], 'ndjson')).pieces, [{ delta: 'a' }, { delta: 'b' }, { metadata: { m: 2 } }]);
  });

  it('fails on an error event with its message, on malformed JSON, and on an event over the size limit', async () => {
    await assert.rejects(read(['data: {"delta":"a"}\n\ndata: {"error":{"message":"model overloaded"}}\n\n'], 'sse'), (e: unknown) => failsWith('backend_error')(e) && (e as Error).message === 'model overloaded');
    await assert.rejects(read(['data: {"delta": nope}\n\n'], 'sse'), failsWith('malformed'));
    await assert.rejects(read(['[1,2]\n'], 'ndjson'), failsWith('malformed'));
    const big = 'x'.repeat(MAX_STREAM_EVENT_CHARS + 10);
    await assert.rejects(read([`data: {"delta":"${big}`], 'sse'), failsWith('too_large'));
    await assert.rejects(read([`{"delta":"${big}`], 'ndjson'), failsWith('too_large'));
  });

  it('knows the stream content types', () => {
    assert.equal(chatStreamFormat('text/event-stream; charset=utf-8'), 'sse');
    assert.equal(chatStreamFormat('application/x-ndjson'), 'ndjson');
    assert.equal(chatStreamFormat('application/json'), undefined);
    assert.equal(chatStreamFormat(undefined), undefined);
  });
});

describe('ChatEngine.answer', () => {
  it('streams the local reply word by word only with a pace and a caller that accepts streams, and keeps history', async () => {
    const engine = new ChatEngine({ localStreamMsPerWord: 1 });
    const id = engine.register({ provider: 'local' });
    const whole = await engine.answer({ registration_id: id, session_id: 's', message: 'hello' });
    assert.ok(!isReplyStream(whole));
    const answer = await engine.answer({ registration_id: id, session_id: 's', message: 'hello' }, undefined, { stream: true });
    assert.ok(isReplyStream(answer));
    const pieces: ChatStreamPiece[] = [];
    for await (const piece of answer.pieces) pieces.push(piece);
    assert.equal(pieces.map((p) => p.delta ?? '').join(''), localReply('hello'));
    assert.ok(pieces.filter((p) => p.delta).length > 5);
    assert.equal(pieces.at(-1)?.metadata?.['turn'], 2);
    const unpaced = new ChatEngine();
    assert.ok(!isReplyStream(await unpaced.answer({ registration_id: unpaced.register({ provider: 'local' }), session_id: 's', message: 'hi' }, undefined, { stream: true })));
  });
});
