/**
 * ElevenLabs `POST /v1/text-to-speech/{voice_id}/stream/with-timestamps`: its newline-delimited
 * JSON body (`{audio_base64, alignment, normalized_alignment}` per line), read robustly, and its
 * character timings turned into word marks on the reply's audio timeline.
 */
import type { TextMark, TextMarkListener } from './tts-provider.js';

/**
 * Longest line accepted: one line carries one chunk of base64 audio (real chunks are a few to a few
 * hundred KB; a sentence of 48 kHz PCM is about 1 MB) plus its character timings.
 */
export const MAX_TIMESTAMPS_LINE_BYTES = 8 * 1024 * 1024;

/** Most characters one line's alignment may time (ElevenLabs' longest request text is 40,000). */
export const MAX_ALIGNED_CHARACTERS = 50_000;

/** The body is not what the endpoint documents: not retried, reported as tts_failed. */
export class TimestampsFormatError extends Error {
  override readonly name = 'TimestampsFormatError';
}

/** Character timings of one line, in seconds from the start of the request's audio. */
export interface CharacterAlignment {
  characters: string[];
  startSeconds: number[];
  endSeconds: number[];
}

export interface TimestampedChunk {
  audio: Buffer;
  /** Absent when the line has none (ElevenLabs sends `null` on some chunks). */
  alignment?: CharacterAlignment;
}

/**
 * Splits a byte stream into lines at `\n` (a trailing `\r` is dropped), however the lines are cut
 * across network reads, holding at most `maxLineBytes` of an unfinished line.
 */
export class NdjsonLineSplitter {
  private parts: Buffer[] = [];
  private held = 0;
  private lines = 0;

  constructor(private readonly maxLineBytes = MAX_TIMESTAMPS_LINE_BYTES) {}

  /** The lines that `chunk` completes. Throws TimestampsFormatError when a line outgrows the limit. */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let from = 0;
    for (;;) {
      const newline = chunk.indexOf(0x0a, from);
      if (newline < 0) break;
      this.hold(chunk.subarray(from, newline));
      out.push(this.take());
      from = newline + 1;
    }
    if (from < chunk.length) this.hold(chunk.subarray(from));
    return out;
  }

  /** The last line when the body does not end with a newline. */
  end(): string | undefined {
    return this.held > 0 ? this.take() : undefined;
  }

  private hold(piece: Buffer): void {
    if (this.held + piece.length > this.maxLineBytes) {
      throw new TimestampsFormatError(`line ${this.lines + 1} is longer than ${this.maxLineBytes} bytes`);
    }
    if (piece.length > 0) this.parts.push(piece);
    this.held += piece.length;
  }

  private take(): string {
    const line = (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)).toString('utf8');
    this.parts = [];
    this.held = 0;
    this.lines++;
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * One line of the body; `undefined` for a blank line. Throws TimestampsFormatError, naming what is
 * wrong (never echoing the line), when it is not JSON, its audio is not base64, or its alignment
 * arrays are malformed.
 */
export function parseTimestampsLine(line: string, lineNumber: number): TimestampedChunk | undefined {
  if (line.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TimestampsFormatError(`line ${lineNumber} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TimestampsFormatError(`line ${lineNumber} is not a JSON object`);
  const { audio_base64: audioBase64, alignment } = value as { audio_base64?: unknown; alignment?: unknown };
  if (audioBase64 !== undefined && audioBase64 !== null && (typeof audioBase64 !== 'string' || audioBase64.length % 4 !== 0 || !BASE64.test(audioBase64))) {
    throw new TimestampsFormatError(`line ${lineNumber} has an audio_base64 that is not base64`);
  }
  const audio = typeof audioBase64 === 'string' ? Buffer.from(audioBase64, 'base64') : Buffer.alloc(0);
  if (alignment === undefined || alignment === null) return { audio };
  return { audio, alignment: parseAlignment(alignment, lineNumber) };
}

function parseAlignment(value: unknown, lineNumber: number): CharacterAlignment {
  const bad = (what: string) => new TimestampsFormatError(`line ${lineNumber} has a malformed alignment: ${what}`);
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const {
    characters,
    character_start_times_seconds: starts,
    character_end_times_seconds: ends,
  } = value as { characters?: unknown; character_start_times_seconds?: unknown; character_end_times_seconds?: unknown };
  if (!Array.isArray(characters) || !Array.isArray(starts) || !Array.isArray(ends)) {
    throw bad('characters, character_start_times_seconds and character_end_times_seconds must be arrays');
  }
  if (characters.length > MAX_ALIGNED_CHARACTERS) throw bad(`more than ${MAX_ALIGNED_CHARACTERS} characters`);
  if (starts.length !== characters.length || ends.length !== characters.length) throw bad('the arrays differ in length');
  if (!characters.every((c): c is string => typeof c === 'string')) throw bad('a character is not a string');
  const time = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t >= 0;
  if (!starts.every(time) || !ends.every(time)) throw bad('a time is not a finite number of seconds >= 0');
  return { characters, startSeconds: starts, endSeconds: ends };
}

/** Decodes a with-timestamps body into its chunks as they complete. */
export async function* timestampedChunks(body: AsyncIterable<Uint8Array>, maxLineBytes = MAX_TIMESTAMPS_LINE_BYTES): AsyncGenerator<TimestampedChunk> {
  const lines = new NdjsonLineSplitter(maxLineBytes);
  let number = 0;
  for await (const piece of body) {
    for (const line of lines.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength))) {
      const chunk = parseTimestampsLine(line, ++number);
      if (chunk) yield chunk;
    }
  }
  const last = lines.end();
  const chunk = last === undefined ? undefined : parseTimestampsLine(last, number + 1);
  if (chunk) yield chunk;
}

/** Times going back by more than this between lines are read as relative to their line's audio. */
const RESTART_TOLERANCE_MS = 250;

interface AlignedWord {
  text: string;
  startMs: number;
  endMs: number;
}

/**
 * Word marks for one request's text from its character alignment. Times are taken as relative to
 * the request's audio (as the HTTP endpoint sends them); a line whose times restart well before the
 * previous line's (as the WebSocket API's per-chunk times do) is placed after the audio before it.
 *
 * A word is marked once its audio has arrived (`received`), at `offsetMs` plus its aligned time.
 * Each aligned word must be the next word of `text`; from the first that is not (a normalised or
 * unexpected alignment), and for text the alignment never reached, the rest of the text gets one
 * mark spanning the rest of the request's audio, as without alignment: heard text stays a prefix of
 * the text that was sent.
 */
export class AlignedMarks {
  private readonly words: string[];
  private next = 0;
  private diverged = false;
  private readonly ready: AlignedWord[] = [];
  private current?: AlignedWord;
  /** End of the last character seen, in ms of this request's audio. */
  private lastEndMs = 0;
  /** End of the last mark given out, in ms of this request's audio. */
  private markedToMs = 0;

  constructor(
    text: string,
    private readonly offsetMs: number,
    private readonly onMark?: TextMarkListener,
  ) {
    this.words = text.split(/\s+/).filter(Boolean);
  }

  /** Adds one line's alignment; `lineStartMs` is where that line's audio starts in the request's audio. */
  add(alignment: CharacterAlignment, lineStartMs: number): void {
    const { characters, startSeconds, endSeconds } = alignment;
    if (characters.length === 0) return;
    const restarted = toMs(startSeconds[0]!) < this.lastEndMs - RESTART_TOLERANCE_MS;
    const shift = restarted ? lineStartMs : 0;
    for (let i = 0; i < characters.length; i++) {
      const char = characters[i]!;
      const startMs = Math.max(shift + toMs(startSeconds[i]!), this.lastEndMs);
      const endMs = Math.max(shift + toMs(endSeconds[i]!), startMs);
      this.lastEndMs = endMs;
      if (/^\s*$/.test(char)) {
        this.completeWord();
        continue;
      }
      if (this.current) {
        this.current.text += char;
        this.current.endMs = endMs;
      } else {
        this.current = { text: char, startMs, endMs };
      }
    }
  }

  /** Marks the aligned words whose audio has arrived (`receivedMs` of this request's audio). */
  release(receivedMs: number): void {
    while (this.ready[0] && this.ready[0].endMs <= receivedMs) this.emit(this.ready.shift()!, receivedMs);
  }

  /** The request's audio is complete (`endMs` long): marks every word left. */
  finish(endMs: number): void {
    this.completeWord();
    for (const word of this.ready.splice(0)) this.emit(word, endMs);
    if (this.next < this.words.length && endMs > this.markedToMs) {
      this.mark({ text: this.words.slice(this.next).join(' '), startMs: this.markedToMs, endMs });
      this.next = this.words.length;
    }
  }

  private completeWord(): void {
    if (this.current) this.ready.push(this.current);
    this.current = undefined;
  }

  private emit(word: AlignedWord, limitMs: number): void {
    if (this.diverged || this.words[this.next] !== word.text) {
      this.diverged = true;
      return;
    }
    const endMs = Math.min(word.endMs, limitMs);
    this.mark({ text: word.text, startMs: Math.min(Math.max(word.startMs, this.markedToMs), endMs), endMs });
    this.next++;
  }

  private mark(mark: TextMark): void {
    this.markedToMs = mark.endMs;
    this.onMark?.({ text: mark.text, startMs: this.offsetMs + mark.startMs, endMs: this.offsetMs + mark.endMs });
  }
}

/** Seconds to ms, to the microsecond (no float noise such as 300.00000000000006). */
function toMs(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e3;
}
