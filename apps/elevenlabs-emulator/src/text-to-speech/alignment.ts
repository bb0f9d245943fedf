/**
 * Character timings for `.../stream/with-timestamps`, consistent with the audio the emulator sends:
 * each spoken unit's characters share that unit's speech (its audio without the leading and
 * trailing silence) by a weight per character (vowels longer than consonants, digits read as words,
 * a pause at commas and sentence ends, a short gap for a space), so words do not all last alike.
 * Times are seconds from the start of the request's audio, as ElevenLabs sends them.
 */
import type { EmulatedFormat } from '../output-formats.js';

/** One spoken unit (a sentence, or a clause of a long one) and its encoded audio. */
export interface SpokenUnit {
  text: string;
  audio: Buffer;
  /** Length of the unit's audio, and its silent start and end, in samples. */
  samples: number;
  leadSamples: number;
  trailSamples: number;
}

export interface Alignment {
  characters: string[];
  character_start_times_seconds: number[];
  character_end_times_seconds: number[];
}

/** One line of a with-timestamps body: a piece of audio and the characters that start in it. */
export interface TimedPiece {
  audio: Buffer;
  alignment: Alignment;
  /** Where the piece's audio starts in the request's audio, and how long it lasts, in seconds. */
  startSeconds: number;
  seconds: number;
}

/** Longest audio of one line (raw formats; an MP3 unit goes whole, as its frames were encoded together). */
const LINE_MS = 500;

/** A character's share of its unit's speech time. */
export function characterWeight(char: string): number {
  if (/\s/.test(char)) return 0.4;
  if (/[aeiouyAEIOUY]/.test(char)) return 1.3;
  if (/\p{L}/u.test(char)) return 1;
  if (/\p{N}/u.test(char)) return 3;
  if (/[,;:]/.test(char)) return 3;
  if (/[.!?]/.test(char)) return 2;
  return 0.3;
}

/** Samples at the start and end of `pcm` (16-bit) quieter than about -40 dBFS. */
export function silentEdges(pcm: Buffer): { leadSamples: number; trailSamples: number } {
  const samples = pcm.length >> 1;
  const loud = (i: number) => Math.abs(pcm.readInt16LE(i * 2)) > 328;
  let first = 0;
  while (first < samples && !loud(first)) first++;
  if (first === samples) return { leadSamples: 0, trailSamples: 0 };
  let last = samples - 1;
  while (last > first && !loud(last)) last--;
  return { leadSamples: first, trailSamples: samples - 1 - last };
}

/**
 * Places the request text's characters on its audio unit by unit. Each unit is found in the text by
 * its non-space characters in order; characters between units (spaces, skipped punctuation) take no
 * time and go with the next unit.
 */
export class AlignmentTimeline {
  /** Next character of the text to place. */
  private cursor = 0;
  private atMs = 0;

  constructor(
    private readonly text: string,
    private readonly sampleRate: number,
  ) {}

  /** The characters placed by `unit` (through its last character), with their times in ms. */
  place(unit: SpokenUnit): Array<{ char: string; startMs: number; endMs: number }> {
    const durationMs = (unit.samples * 1000) / this.sampleRate;
    const speechStart = this.atMs + (unit.leadSamples * 1000) / this.sampleRate;
    const speechEnd = Math.max(speechStart, this.atMs + durationMs - (unit.trailSamples * 1000) / this.sampleRate);
    let end = this.cursor;
    let first = -1;
    for (const char of unit.text) {
      if (/\s/.test(char)) continue;
      const found = this.text.indexOf(char, end);
      if (found < 0) break;
      if (first < 0) first = found;
      end = found + char.length;
    }
    const out: Array<{ char: string; startMs: number; endMs: number }> = [];
    for (const char of this.text.slice(this.cursor, first < 0 ? this.cursor : first)) out.push({ char, startMs: speechStart, endMs: speechStart });
    const spoken = [...this.text.slice(first < 0 ? this.cursor : first, end)];
    const total = spoken.reduce((sum, char) => sum + characterWeight(char), 0) || 1;
    let at = speechStart;
    for (const char of spoken) {
      const ms = ((speechEnd - speechStart) * characterWeight(char)) / total;
      out.push({ char, startMs: at, endMs: at + ms });
      at += ms;
    }
    this.cursor = Math.max(end, this.cursor);
    this.atMs += durationMs;
    return out;
  }

  /** Characters after the last unit (trailing spaces or punctuation), at the end of the audio. */
  rest(): Array<{ char: string; startMs: number; endMs: number }> {
    const out = [...this.text.slice(this.cursor)].map((char) => ({ char, startMs: this.atMs, endMs: this.atMs }));
    this.cursor = this.text.length;
    return out;
  }
}

/**
 * The lines of a with-timestamps body for `units` spoken from `text`: raw audio cut into pieces of
 * at most LINE_MS (on sample boundaries), each with the characters that start in it, so a word may
 * span two lines as upstream's do.
 */
export async function* timedPieces(units: AsyncIterable<SpokenUnit>, text: string, format: EmulatedFormat): AsyncGenerator<TimedPiece> {
  const timeline = new AlignmentTimeline(text, format.sampleRate);
  const bytesPerSample = format.codec === 'pcm' ? 2 : 1;
  let atMs = 0;
  let last: TimedPiece | undefined;
  for await (const unit of units) {
    const chars = timeline.place(unit);
    const unitMs = (unit.samples * 1000) / format.sampleRate;
    const cuts: Array<[number, number]> = [];
    if (format.codec === 'mp3') cuts.push([0, unit.audio.length]);
    else {
      const lineBytes = Math.max(bytesPerSample, Math.round((format.sampleRate * LINE_MS) / 1000) * bytesPerSample);
      for (let from = 0; from < unit.audio.length; from += lineBytes) cuts.push([from, Math.min(unit.audio.length, from + lineBytes)]);
    }
    let next = 0;
    for (const [i, [from, to]] of cuts.entries()) {
      const endMs = i === cuts.length - 1 ? atMs + unitMs : atMs + (unitMs * to) / unit.audio.length;
      const taken = [];
      while (next < chars.length && (chars[next]!.startMs < endMs || i === cuts.length - 1)) taken.push(chars[next++]!);
      if (last) yield last;
      const startMs = atMs + (unitMs * from) / unit.audio.length;
      last = { audio: unit.audio.subarray(from, to), alignment: alignmentOf(taken), startSeconds: startMs / 1000, seconds: (endMs - startMs) / 1000 };
    }
    atMs += unitMs;
  }
  const rest = timeline.rest();
  if (last) {
    const alignment = alignmentOf(rest);
    last.alignment.characters.push(...alignment.characters);
    last.alignment.character_start_times_seconds.push(...alignment.character_start_times_seconds);
    last.alignment.character_end_times_seconds.push(...alignment.character_end_times_seconds);
    yield last;
  }
}

function alignmentOf(chars: Array<{ char: string; startMs: number; endMs: number }>): Alignment {
  const seconds = (ms: number) => Math.round(ms) / 1000;
  return {
    characters: chars.map((c) => c.char),
    character_start_times_seconds: chars.map((c) => seconds(c.startMs)),
    character_end_times_seconds: chars.map((c) => seconds(c.endMs)),
  };
}

/** Truncates a piece to its first `bytes` of audio and the characters that start within them. */
export function truncatePiece(piece: TimedPiece, bytes: number): TimedPiece {
  const { alignment } = piece;
  const fraction = piece.audio.length > 0 ? bytes / piece.audio.length : 0;
  const starts = alignment.character_start_times_seconds;
  const cut = piece.startSeconds + piece.seconds * fraction;
  const keep = starts.filter((s) => s < cut).length;
  return {
    ...piece,
    seconds: piece.seconds * fraction,
    audio: piece.audio.subarray(0, bytes),
    alignment: {
      characters: alignment.characters.slice(0, keep),
      character_start_times_seconds: starts.slice(0, keep),
      character_end_times_seconds: alignment.character_end_times_seconds.slice(0, keep),
    },
  };
}

/** One NDJSON line: the audio base64, the alignment, and the same as `normalized_alignment` (the emulator does not normalise). */
export function timestampsLine(piece: TimedPiece): Buffer {
  return Buffer.from(`${JSON.stringify({ audio_base64: piece.audio.toString('base64'), alignment: piece.alignment, normalized_alignment: piece.alignment })}\n`);
}
