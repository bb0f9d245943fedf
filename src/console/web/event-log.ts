import { byId, clock, h } from './dom.js';

type Kind = 'server' | 'client' | 'error' | 'chunk' | 'mic';

const MAX_ROWS = 2000;

/**
 * The raw event log: every frame in and out with its time relative to the start of the turn (the
 * clock time on hover), filterable by text, with reply audio chunks (and playback reports) and
 * microphone frames on switches, both off by default. Audio payloads are shown by size; click a row
 * for the whole message.
 */
export class EventLog {
  private readonly body = byId<HTMLTableElement>('log').tBodies[0]!;
  private readonly filter = byId<HTMLInputElement>('log-filter');
  private readonly showChunks = byId<HTMLInputElement>('show-chunks');
  private readonly showMic = byId<HTMLInputElement>('show-mic');
  private readonly scroller = byId('log-scroll');
  private count = 0;
  /** Where relative times count from: the start of the current turn (or of the connection). */
  private anchor = { at: performance.now(), label: 'page load' };

  constructor() {
    for (const input of [this.filter, this.showChunks, this.showMic]) input.addEventListener('input', () => this.applyFilter());
    byId('clear-log').addEventListener('click', () => this.body.replaceChildren());
  }

  get size(): number {
    return this.count;
  }

  /** Times from now on count from `at` (a turn started: speech, a prompt, a commit). */
  mark(at: number, label: string): void {
    this.anchor = { at, label };
  }

  server(event: { type: string }, at: number): void {
    const kind: Kind = event.type === 'error' ? 'error' : event.type === 'assistant.audio.chunk' ? 'chunk' : 'server';
    this.add(at, '↓', event.type, kind, event);
  }

  client(message: { type: string } | { binary_bytes: number }, at: number): void {
    if ('binary_bytes' in message) {
      this.add(at, '↑', 'binary audio', 'mic', { bytes: message.binary_bytes });
      return;
    }
    const kind: Kind = message.type === 'audio.append' ? 'mic' : message.type === 'assistant.audio.played' ? 'chunk' : 'client';
    this.add(at, '↑', message.type, kind, message);
  }

  note(text: string): void {
    this.add(performance.now(), '•', 'console', 'client', { note: text });
  }

  private add(at: number, direction: string, type: string, kind: Kind, payload: object): void {
    const stick = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 24;
    const row = h('tr', `kind-${kind}`);
    row.append(
      h('td', 'time', relative(at - this.anchor.at)),
      h('td', 'dir', direction),
      h('td', 'type', type),
      h('td', 'detail', summarize(payload)),
    );
    row.title = `${clock(performance.timeOrigin + at)}, ${relative(at - this.anchor.at)} from ${this.anchor.label}. Click for the whole message`;
    row.addEventListener('click', () => {
      const detail = row.cells[3]!;
      const expanded = row.classList.toggle('expanded');
      detail.textContent = expanded ? JSON.stringify(payload, shortenAudio, 2) : summarize(payload);
    });
    row.dataset['search'] = `${type} ${JSON.stringify(payload, shortenAudio)}`.toLowerCase();
    row.hidden = !this.visible(row, kind);
    row.dataset['kind'] = kind;
    this.body.append(row);
    this.count++;
    while (this.body.rows.length > MAX_ROWS) this.body.deleteRow(0);
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private visible(row: HTMLTableRowElement, kind: string): boolean {
    if (kind === 'chunk' && !this.showChunks.checked) return false;
    if (kind === 'mic' && !this.showMic.checked) return false;
    const query = this.filter.value.trim().toLowerCase();
    return !query || (row.dataset['search'] ?? '').includes(query);
  }

  private applyFilter(): void {
    for (const row of this.body.rows) row.hidden = !this.visible(row, row.dataset['kind'] ?? '');
  }
}

/** `+1.234 s` (or `-0.120 s` for a frame just before the turn's mark). */
function relative(ms: number): string {
  return `${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(3)} s`;
}

/** Audio fields become `‹7680 bytes›` so the log stays readable. */
function shortenAudio(key: string, value: unknown): unknown {
  return key === 'audio' && typeof value === 'string' ? `‹${Math.floor((value.length * 3) / 4)} bytes›` : value;
}

/** Fields worth seeing first in a one-line summary. */
const FIRST = ['note', 'text', 'code', 'message', 'session_id', 'turn_id', 'chunk_index', 'chunk_count', 'output_format', 'bytes'];

/** `turn_id=1 chunk_index=3 output_format=pcm_24000 audio=‹7680 bytes› …`: the useful fields first, audio last. */
function summarize(payload: object): string {
  const entries = Object.entries(payload).filter(([key]) => key !== 'type');
  const rank = (key: string) => (key === 'audio' ? FIRST.length + 1 : FIRST.includes(key) ? FIRST.indexOf(key) : FIRST.length);
  entries.sort(([a], [b]) => rank(a) - rank(b));
  const text = entries.map(([key, value]) => `${key}=${JSON.stringify(value, (k, v) => shortenAudio(k || key, v))}`).join('  ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
