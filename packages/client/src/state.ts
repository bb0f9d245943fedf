import type { ServerEvent } from './protocol.js';

/**
 * What the conversation is doing, for a UI to render:
 * - `idle`: not connected, or connected but not yet configured.
 * - `listening`: configured and waiting for the user.
 * - `user_speaking`: the user is talking (`user.speech_started`, or a live `transcript.partial`).
 * - `thinking`: the user's turn is in (a non-empty `transcript.committed`, a `text.prompt`, or
 *   `assistant.started`) and no reply audio has come yet.
 * - `speaking`: reply audio is arriving or playing; it ends when the audio has finished playing
 *   (`playback.ended` from the player, or `assistant.audio.end` when nothing plays it), or at once on
 *   `assistant.interrupted`.
 */
export type VoiceState = 'idle' | 'listening' | 'user_speaking' | 'thinking' | 'speaking';

/** Inputs of the state machine besides server events. */
export type StateInput =
  | ServerEvent
  | { type: 'socket.closed' }
  | { type: 'prompt.sent' }
  /** The reply audio of `turn_id` finished playing (or was stopped). */
  | { type: 'playback.ended'; turn_id: number };

export interface StateMachine {
  state: VoiceState;
  /** The assistant turn whose audio makes us `speaking`, if any. */
  speakingTurn?: number;
  /** Turns started and not yet finished, so `thinking` survives a turn ending while another waits. */
  openTurns: number[];
  /** Whether the user is talking over the assistant (speech started while `speaking`). */
  userTalking: boolean;
  /** Whether something plays the audio: then `speaking` ends on `playback.ended`, else on `assistant.audio.end`. */
  hasPlayer: boolean;
}

export function initialState(hasPlayer: boolean): StateMachine {
  return { state: 'idle', openTurns: [], userTalking: false, hasPlayer };
}

/** The next state after `input` (pure: returns a new object, never changes `machine`). */
export function nextState(machine: StateMachine, input: StateInput): StateMachine {
  const m: StateMachine = { ...machine, openTurns: [...machine.openTurns] };
  const closeTurn = (turnId: number) => {
    m.openTurns = m.openTurns.filter((id) => id !== turnId);
    if (m.speakingTurn === turnId) delete m.speakingTurn;
  };
  /** Where we go when a turn's audio is done: the user, another waiting turn, or listening. */
  const settle = () => {
    if (m.speakingTurn !== undefined) return;
    m.state = m.userTalking ? 'user_speaking' : m.openTurns.length > 0 ? 'thinking' : 'listening';
  };
  switch (input.type) {
    case 'socket.closed':
      return initialState(machine.hasPlayer);
    case 'session.configured':
      return { ...initialState(machine.hasPlayer), state: 'listening' };
    case 'user.speech_started':
    case 'transcript.partial':
      if (m.state === 'idle') return m;
      if (input.type === 'transcript.partial' && input.text === '') return m;
      m.userTalking = true;
      if (m.state !== 'speaking') m.state = 'user_speaking';
      return m;
    case 'transcript.committed':
      if (m.state === 'idle') return m;
      m.userTalking = false;
      if (m.state === 'speaking') return m;
      m.state = input.text.trim() !== '' || m.openTurns.length > 0 ? 'thinking' : 'listening';
      return m;
    case 'prompt.sent':
      if (m.state === 'idle' || m.state === 'speaking') return m;
      m.state = 'thinking';
      return m;
    case 'assistant.started':
      if (!m.openTurns.includes(input.turn_id)) m.openTurns.push(input.turn_id);
      if (m.state !== 'speaking') m.state = 'thinking';
      return m;
    case 'assistant.audio.start':
    case 'assistant.audio.chunk':
      if (m.speakingTurn === undefined || m.speakingTurn === input.turn_id) {
        m.speakingTurn = input.turn_id;
        m.state = 'speaking';
      }
      return m;
    case 'assistant.audio': {
      const turn = m.openTurns[0];
      if (turn === undefined) return m;
      m.speakingTurn = turn;
      m.state = 'speaking';
      if (!m.hasPlayer) {
        closeTurn(turn);
        settle();
      }
      return m;
    }
    case 'assistant.audio.end':
      if (!m.hasPlayer || m.speakingTurn === undefined) {
        closeTurn(input.turn_id);
        settle();
      }
      return m;
    case 'playback.ended':
      closeTurn(input.turn_id);
      settle();
      return m;
    case 'assistant.interrupted':
      closeTurn(input.turn_id);
      if (input.reason === 'user_speech') m.userTalking = true;
      settle();
      return m;
    case 'turn.metrics':
      // A turn that failed before any audio ends here (its `error` came just before).
      if (input.outcome !== 'completed' && m.speakingTurn !== input.turn_id) {
        closeTurn(input.turn_id);
        settle();
      }
      return m;
    case 'error':
      // A failed turn: without audio it will not speak; `turn.metrics` may not come on older servers.
      if (m.state !== 'thinking' || m.speakingTurn !== undefined) return m;
      if (input.code === 'turn_queue_full') {
        if (m.openTurns.length === 0) settle();
      } else if (isTurnFailure(input.code)) {
        m.openTurns.shift();
        settle();
      }
      return m;
    default:
      return m;
  }
}

const TURN_FAILURES = new Set(['backend_unavailable', 'backend_timeout', 'backend_bad_response', 'backend_error', 'backend_not_configured', 'unknown_registration', 'registration_failed', 'internal_error']);

function isTurnFailure(code: string): boolean {
  return TURN_FAILURES.has(code);
}
