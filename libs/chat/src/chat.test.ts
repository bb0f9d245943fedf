import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChatEngine, ChatEngineError, extractChatReply, localReply, rewriteInterrupted, secretFingerprint } from './index.js';

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
