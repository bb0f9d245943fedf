import type { AssistantInterruptedEvent, TurnMetricsEvent } from '@voice-layer/client';
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
  /** The reply is still growing from `assistant.message.delta`. */
  streaming?: boolean;
  replyAt?: number;
  /** First `assistant.message.delta` (streaming backends). */
  firstDeltaAt?: number;
  firstAudioAt?: number;
  audioChunks: number;
  audioSeconds: number;
  audioDone: boolean;
  interrupted?: Pick<AssistantInterruptedEvent, 'reason' | 'played_ms' | 'heard_text'>;
  metrics?: TurnMetricsEvent;
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

/** What the conversation view asks of the page for a turn's reply audio. */
export interface ReplyAudio {
  /** Mono samples of a turn's reply, if kept. */
  recording(turnId: number): { rate: number; samples: Float32Array } | undefined;
  replay(turnId: number): void;
}

/**
 * The conversation view: user turns (typed or spoken) and the assistant's replies (growing while
 * they stream, the unheard part struck through when interrupted), the live partial transcript,
 * notes such as errors, per-turn timings and server metrics, and each reply's waveform with replay
 * and download.
 */
export class Conversation {
  readonly turns: Turn[] = [];
  private readonly list = byId<HTMLOListElement>('turns');
  private readonly scroller = byId('conversation-scroll');
  private readonly rows = new Map<Turn, HTMLLIElement>();
  private live?: HTMLLIElement;

  constructor(private readonly audio: ReplyAudio) {}

  addUserTurn(source: Turn['source'], text: string, at: number, speechEndAt?: number): Turn {
    const turn: Turn = { source, userText: text, userAt: at, audioChunks: 0, audioSeconds: 0, audioDone: false, ...(speechEndAt !== undefined ? { speechEndAt } : {}) };
    this.turns.push(turn);
    this.clearPartial();
    this.render(turn);
    return turn;
  }

  /** `assistant.started`: the oldest unanswered turn with this text (turns are answered in order). */
  started(text: string, turnId: number, at: number): Turn {
    const waiting = this.turns.filter((turn) => turn.turnId === undefined);
    const turn = waiting.find((candidate) => candidate.userText === text) ?? waiting[0] ?? this.addUserTurn('text', text, at);
    turn.turnId = turnId;
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
    if (turn.turnId !== undefined) row.dataset['turnId'] = String(turn.turnId);
    const parts: HTMLElement[] = [bubble('user', turn.userText, turn.source === 'voice' ? 'spoken' : 'typed')];
    if (turn.replyText !== undefined) parts.push(this.reply(turn));
    else if (turn.interrupted) parts.push(bubble('assistant interrupted', '—', interruptedCaption(turn)));
    else if (turn.turnId !== undefined && !turn.error) parts.push(bubble('assistant pending', '…', 'thinking'));
    if (turn.error) parts.push(h('p', 'turn-error', turn.error));
    parts.push(timingsView(turn));
    if (turn.metrics) parts.push(metricsView(turn.metrics));
    row.replaceChildren(...parts);
    this.scrollDown();
  }

  private reply(turn: Turn): HTMLElement {
    const audio = turn.audioChunks > 0 ? `${turn.audioChunks} chunks · ${turn.audioSeconds.toFixed(2)} s of audio${turn.audioDone ? '' : ' …'}` : turn.streaming ? 'streaming…' : 'reply';
    const wrapper = bubble(`assistant${turn.streaming ? ' streaming' : ''}${turn.interrupted ? ' interrupted' : ''}`, '', turn.interrupted ? `${audio} · ${interruptedCaption(turn)}` : audio);
    const text = wrapper.querySelector('.text')!;
    const reply = turn.replyText ?? '';
    const heard = turn.interrupted?.heard_text;
    if (heard !== undefined && heard.length < reply.length) {
      const cut = reply.startsWith(heard) ? heard.length : 0;
      text.append(document.createTextNode(reply.slice(0, cut)), h('s', 'unheard', reply.slice(cut)));
      text.setAttribute('title', 'Struck through: not heard (the reply was interrupted)');
    } else text.textContent = reply;
    if (turn.audioDone && turn.turnId !== undefined) {
      const recording = this.audio.recording(turn.turnId);
      if (recording && recording.samples.length > 0) wrapper.append(this.audioTools(turn.turnId, recording));
    }
    return wrapper;
  }

  /** The reply's waveform, with replay and download. */
  private audioTools(turnId: number, recording: { rate: number; samples: Float32Array }): HTMLElement {
    const tools = h('div', 'reply-audio');
    const canvas = h('canvas', 'waveform');
    canvas.width = 240;
    canvas.height = 32;
    canvas.title = `Reply audio: ${(recording.samples.length / recording.rate).toFixed(2)} s at ${recording.rate} Hz`;
    drawWaveform(canvas, recording.samples);
    const replay = h('button', 'link replay', '▶ Replay');
    replay.type = 'button';
    replay.addEventListener('click', () => this.audio.replay(turnId));
    const download = h('a', 'download', 'Download WAV');
    download.href = URL.createObjectURL(new Blob([wav(recording.samples, recording.rate)], { type: 'audio/wav' }));
    download.download = `reply-turn-${turnId}.wav`;
    tools.append(canvas, replay, download);
    return tools;
  }

  private scrollDown(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

function interruptedCaption(turn: Turn): string {
  const i = turn.interrupted!;
  return `${i.reason === 'client_cancel' ? 'stopped' : 'interrupted'} after ${duration(i.played_ms)}`;
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

/** The server's own `turn.metrics`, beside the client timings. */
const METRICS: Array<[keyof TurnMetricsEvent, string]> = [
  ['end_of_speech_to_commit_ms', 'speech end → commit'],
  ['backend_first_byte_ms', 'backend first byte'],
  ['backend_complete_ms', 'backend complete'],
  ['tts_first_audio_ms', 'TTS first audio'],
  ['user_to_first_audio_ms', 'user → first audio'],
];

function metricsView(metrics: TurnMetricsEvent): HTMLElement {
  const list = h('dl', 'timings server-metrics');
  list.title = 'turn.metrics: measured by the server';
  const head = h('div', `metric outcome outcome-${metrics.outcome}`);
  head.append(h('dt', '', 'server'), h('dd', '', metrics.outcome));
  list.append(head);
  for (const [key, label] of METRICS) {
    const value = metrics[key];
    if (typeof value !== 'number') continue;
    const item = h('div', 'metric');
    item.append(h('dt', '', label), h('dd', '', duration(value)));
    list.append(item);
  }
  return list;
}

/** Min/max per pixel column, centred. */
function drawWaveform(canvas: HTMLCanvasElement, samples: Float32Array): void {
  const context = canvas.getContext('2d');
  if (!context) return;
  const { width, height } = canvas;
  context.fillStyle = getComputedStyle(canvas).color || '#4f46e5';
  const per = Math.max(1, Math.floor(samples.length / width));
  for (let x = 0; x < width; x++) {
    let low = 0;
    let high = 0;
    for (let i = x * per; i < Math.min(samples.length, (x + 1) * per); i++) {
      low = Math.min(low, samples[i]!);
      high = Math.max(high, samples[i]!);
    }
    const top = ((1 - high) / 2) * height;
    context.fillRect(x, top, 1, Math.max(1, ((high - low) / 2) * height));
  }
}

/** A mono PCM16 WAV file of `samples`. */
export function wav(samples: Float32Array, rate: number): ArrayBuffer {
  const bytes = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(bytes);
  const text = (offset: number, value: string) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, samples[i]!)) * 0x7fff, true);
  return bytes;
}
