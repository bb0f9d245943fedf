import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialState, nextState, type StateInput, type VoiceState } from './state.js';

/** Runs `inputs` through the machine and returns the distinct states it went through. */
function run(inputs: StateInput[], hasPlayer = true): VoiceState[] {
  let machine = initialState(hasPlayer);
  const states: VoiceState[] = [machine.state];
  for (const input of inputs) {
    machine = nextState(machine, input);
    if (machine.state !== states[states.length - 1]) states.push(machine.state);
  }
  return states;
}

const configured: StateInput = { type: 'session.configured', session_id: 's' };
const started = (turn_id: number, text = 'hello'): StateInput => ({ type: 'assistant.started', text, turn_id });
const chunk = (turn_id: number, chunk_index: number): StateInput => ({ type: 'assistant.audio.chunk', turn_id, chunk_index, audio: 'AAAA', content_type: 'application/octet-stream', output_format: 'pcm_24000' });
const end = (turn_id: number): StateInput => ({ type: 'assistant.audio.end', turn_id, chunk_count: 2, content_type: 'application/octet-stream', output_format: 'pcm_24000' });
const message = (turn_id: number): StateInput => ({ type: 'assistant.message', text: 'hi there', metadata: {}, turn_id });

describe('client state machine', () => {
  it('runs a spoken turn: listening, user speaking, thinking, speaking, and back when playback ends', () => {
    const states = run([
      configured,
      { type: 'user.speech_started' },
      { type: 'transcript.partial', text: 'hel' },
      { type: 'transcript.committed', text: 'hello', turn_id: 1 },
      started(1),
      message(1),
      { type: 'assistant.audio.start', turn_id: 1, content_type: 'application/octet-stream', output_format: 'pcm_24000' },
      chunk(1, 1),
      chunk(1, 2),
      end(1),
      { type: 'playback.ended', turn_id: 1 },
    ]);
    assert.deepEqual(states, ['idle', 'listening', 'user_speaking', 'thinking', 'speaking', 'listening']);
  });

  it('keeps speaking after assistant.audio.end until the player says the audio has played', () => {
    let machine = nextState(initialState(true), configured);
    for (const input of [started(1), chunk(1, 1), end(1)]) machine = nextState(machine, input);
    assert.equal(machine.state, 'speaking');
    assert.equal(nextState(machine, { type: 'playback.ended', turn_id: 1 }).state, 'listening');
    // A playback end of another turn changes nothing.
    assert.equal(nextState(machine, { type: 'playback.ended', turn_id: 7 }).state, 'speaking');
  });

  it('without a player, the end of the audio ends speaking', () => {
    assert.deepEqual(run([configured, { type: 'prompt.sent' }, started(1), chunk(1, 1), end(1)], false), ['idle', 'listening', 'thinking', 'speaking', 'listening']);
  });

  it('an interruption by speech goes to user_speaking, a cancel to listening', () => {
    const base: StateInput[] = [configured, started(1), chunk(1, 1), { type: 'user.speech_started' }];
    assert.deepEqual(run([...base, { type: 'assistant.interrupted', turn_id: 1, reason: 'user_speech', played_ms: 300, heard_text: 'hi' }]), ['idle', 'listening', 'thinking', 'speaking', 'user_speaking']);
    assert.deepEqual(run([configured, started(1), chunk(1, 1), { type: 'assistant.interrupted', turn_id: 1, reason: 'client_cancel', played_ms: 300, heard_text: 'hi' }]), ['idle', 'listening', 'thinking', 'speaking', 'listening']);
  });

  it('speech over the assistant that is not an interruption (a backchannel) keeps it speaking', () => {
    let machine = initialState(true);
    for (const input of [configured, started(1), chunk(1, 1), { type: 'user.speech_started' } as StateInput]) machine = nextState(machine, input);
    assert.equal(machine.state, 'speaking');
    machine = nextState(machine, { type: 'transcript.committed', text: '' });
    machine = nextState(machine, end(1));
    assert.equal(nextState(machine, { type: 'playback.ended', turn_id: 1 }).state, 'listening');
  });

  it('an empty commit goes back to listening; a failed turn without audio ends thinking', () => {
    assert.deepEqual(run([configured, { type: 'user.speech_started' }, { type: 'transcript.committed', text: '' }]), ['idle', 'listening', 'user_speaking', 'listening']);
    assert.deepEqual(run([configured, { type: 'prompt.sent' }, started(1), { type: 'error', code: 'backend_timeout', message: 'slow' }]), ['idle', 'listening', 'thinking', 'listening']);
    assert.deepEqual(run([configured, { type: 'prompt.sent' }, started(1), { type: 'turn.metrics', turn_id: 1, outcome: 'failed' }]), ['idle', 'listening', 'thinking', 'listening']);
    // Bad input does not end a turn.
    assert.deepEqual(run([configured, { type: 'prompt.sent' }, started(1), { type: 'error', code: 'invalid_audio', message: 'x' }]), ['idle', 'listening', 'thinking']);
  });

  it('a second turn waiting behind the first: thinking after the first finishes playing, then speaking', () => {
    assert.deepEqual(
      run([configured, started(1), chunk(1, 1), started(2), end(1), { type: 'playback.ended', turn_id: 1 }, chunk(2, 1), end(2), { type: 'playback.ended', turn_id: 2 }]),
      ['idle', 'listening', 'thinking', 'speaking', 'thinking', 'speaking', 'listening'],
    );
  });

  it('a whole-reply blob (assistant.audio) speaks until played', () => {
    const blob: StateInput = { type: 'assistant.audio', audio: 'AAAA', content_type: 'audio/mpeg', output_format: 'mp3_44100_128' };
    assert.deepEqual(run([configured, started(1), blob, { type: 'playback.ended', turn_id: 1 }]), ['idle', 'listening', 'thinking', 'speaking', 'listening']);
    // Without a player the blob is all the audio there is: the turn is over at once.
    assert.deepEqual(run([configured, started(1), blob], false), ['idle', 'listening', 'thinking', 'listening']);
  });

  it('is idle before configure and after the socket closes, whatever the events', () => {
    assert.deepEqual(run([{ type: 'user.speech_started' }, { type: 'transcript.committed', text: 'x' }, { type: 'prompt.sent' }]), ['idle']);
    assert.deepEqual(run([configured, started(1), chunk(1, 1), { type: 'socket.closed' }]), ['idle', 'listening', 'thinking', 'speaking', 'idle']);
  });

  it('never changes the machine it is given', () => {
    const machine = nextState(initialState(true), configured);
    const copy = structuredClone(machine);
    nextState(machine, started(3));
    assert.deepEqual(machine, copy);
  });
});
