import { byId, duration, h } from './dom.js';

/** One user turn and its answer, with the moments that make up its latency (performance.now() ms). */
export interface Turn {
  source: 'voice' | 'text';
  userText: string;
  /** Voice: when the input level last showed speech before the commit (estimated by the console). */
  speechEndAt?: number;
  /** Voice: `transcript.committed`. Text: when `text.prompt` was sent. */
  userAt: number;
  /** `turn_id` of the answer, once `assistant.started` arrived. */
  turnId?: number;
  replyText?: string;
  replyAt?: number;
  firstAudioAt?: number;
  audioChunks: number;
  audioSeconds: number;
  audioDone: boolean;
  error?: string;
  /** The server's `user_to_first_audio_ms` from `turn.metrics`. */
  serverToFirstAudio?: number;
}

/** The timings a person cares about, in ms, for the page and the tests. */
export interface TurnTimings {
  speechEndToTranscript?: number;
  transcriptToReply?: number;
  replyToFirstAudio?: number;
  total?: number;
}

export function timingsOf(turn: Turn): TurnTimings {
  const span = (from?: number, to?: number) => (from !== undefined && to !== undefined ? Math.round(to - from) : undefined);
  const start = turn.source === 'voice' ? turn.speechEndAt : turn.userAt;
  return {
    speechEndToTranscript: turn.source === 'voice' ? span(turn.speechEndAt, turn.userAt) : undefined,
    transcriptToReply: span(turn.userAt, turn.replyAt),
    replyToFirstAudio: span(turn.replyAt, turn.firstAudioAt),
    total: span(start, turn.firstAudioAt),
  };
}

/**
 * The conversation view: user turns (typed or spoken) and the assistant's replies, the live partial
 * transcript, notes such as errors, and per-turn timings.
 */
export class Conversation {
  readonly turns: Turn[] = [];
  private readonly list = byId<HTMLOListElement>('turns');
  private readonly scroller = byId('conversation-scroll');
  private readonly rows = new Map<Turn, HTMLLIElement>();
  private live?: HTMLLIElement;
  private answered = 0;

  addUserTurn(source: Turn['source'], text: string, at: number, speechEndAt?: number): Turn {
    const turn: Turn = { source, userText: text, userAt: at, audioChunks: 0, audioSeconds: 0, audioDone: false, ...(speechEndAt !== undefined ? { speechEndAt } : {}) };
    this.turns.push(turn);
    this.clearPartial();
    this.render(turn);
    return turn;
  }

  /** `assistant.started`: the oldest unanswered turn with this text (turns are answered in order). */
  started(text: string, at: number): Turn {
    const waiting = this.turns.filter((turn) => turn.turnId === undefined);
    const turn = waiting.find((candidate) => candidate.userText === text) ?? waiting[0] ?? this.addUserTurn('text', text, at);
    turn.turnId = ++this.answered;
    this.render(turn);
    return turn;
  }

  byTurnId(turnId: number): Turn | undefined {
    return this.turns.find((turn) => turn.turnId === turnId);
  }

  /** The turn being answered: started, and not yet done. */
  current(): Turn | undefined {
    return [...this.turns].reverse().find((turn) => turn.turnId !== undefined && !turn.audioDone && !turn.error);
  }

  update(turn: Turn): void {
    this.render(turn);
  }

  partial(text: string): void {
    if (!this.live) {
      this.live = h('li', 'turn live');
      this.list.append(this.live);
    }
    this.live.replaceChildren(bubble('user partial', text || '…', 'listening'));
    this.scrollDown();
  }

  clearPartial(): void {
    this.live?.remove();
    this.live = undefined;
  }

  note(text: string, kind: 'info' | 'error' = 'info'): void {
    const item = h('li', `note note-${kind}`, text);
    if (this.live) this.list.insertBefore(item, this.live);
    else this.list.append(item);
    this.scrollDown();
  }

  private render(turn: Turn): void {
    let row = this.rows.get(turn);
    if (!row) {
      row = h('li', 'turn');
      this.rows.set(turn, row);
      if (this.live) this.list.insertBefore(row, this.live);
      else this.list.append(row);
    }
    row.dataset['source'] = turn.source;
    const parts: HTMLElement[] = [bubble('user', turn.userText, turn.source === 'voice' ? 'spoken' : 'typed')];
    if (turn.replyText !== undefined) {
      const audio = turn.audioChunks > 0 ? `${turn.audioChunks} chunks · ${turn.audioSeconds.toFixed(2)} s of audio${turn.audioDone ? '' : ' …'}` : 'reply';
      parts.push(bubble('assistant', turn.replyText, audio));
    } else if (turn.turnId !== undefined && !turn.error) {
      parts.push(bubble('assistant pending', '…', 'thinking'));
    }
    if (turn.error) parts.push(h('p', 'turn-error', turn.error));
    parts.push(timingsView(turn));
    row.replaceChildren(...parts);
    this.scrollDown();
  }

  private scrollDown(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

function bubble(kind: string, text: string, caption: string): HTMLElement {
  const wrapper = h('div', `bubble ${kind}`);
  wrapper.append(h('p', 'text', text), h('span', 'caption', caption));
  return wrapper;
}

function timingsView(turn: Turn): HTMLElement {
  const t = timingsOf(turn);
  const list = h('dl', 'timings');
  const add = (label: string, value: number | undefined, title: string) => {
    const item = h('div', value === undefined ? 'timing missing' : 'timing');
    item.title = title;
    item.append(h('dt', '', label), h('dd', '', value === undefined ? '—' : duration(value)));
    list.append(item);
  };
  if (turn.source === 'voice') add('speech end → transcript', t.speechEndToTranscript, 'From the end of speech (estimated from the input level) to transcript.committed');
  add(turn.source === 'voice' ? 'transcript → reply' : 'sent → reply', t.transcriptToReply, 'To assistant.message');
  add('reply → first audio', t.replyToFirstAudio, 'From assistant.message to the first assistant.audio.chunk');
  add('total', t.total, turn.source === 'voice' ? 'End of speech to first audio' : 'text.prompt sent to first audio');
  add('server total', turn.serverToFirstAudio === undefined ? undefined : Math.round(turn.serverToFirstAudio), 'user_to_first_audio_ms of turn.metrics: the server\'s own measure of the same span');
  return list;
}
