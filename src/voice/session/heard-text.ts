/**
 * Where the reply's words are on its audio timeline, and what the user heard of it. Marks come from
 * the TTS: flite gives one per synthesised unit (a sentence, timed by its audio length), ElevenLabs
 * without alignment one for the whole text. Within a mark, time is shared out by characters.
 */
import type { TextMark } from '../../tts/tts-provider.js';

export type { TextMark };

/**
 * The prefix of the reply played by `playedMs`, cut at a word boundary: whole marks that ended, then
 * the words of the mark being played whose last character had been reached.
 */
export function heardText(marks: readonly TextMark[], playedMs: number): string {
  const parts: string[] = [];
  for (const mark of marks) {
    const text = mark.text.trim();
    if (!text) continue;
    if (playedMs >= mark.endMs) {
      parts.push(text);
      continue;
    }
    if (playedMs > mark.startMs) parts.push(wholeWordsUpTo(text, charsAt(text, mark, playedMs)));
    break;
  }
  return parts.filter(Boolean).join(' ');
}

/** The characters of `text` spoken by `ms` within `mark`, sharing its duration evenly. */
function charsAt(text: string, mark: TextMark, ms: number): number {
  const span = mark.endMs - mark.startMs;
  if (span <= 0) return ms >= mark.endMs ? text.length : 0;
  return Math.floor((text.length * Math.min(Math.max(ms - mark.startMs, 0), span)) / span);
}

function wholeWordsUpTo(text: string, chars: number): string {
  if (chars >= text.length) return text;
  const cut = text.slice(0, chars);
  // Mid-word: the word being spoken was not fully heard.
  const whole = /\s/.test(text[chars] ?? ' ') ? cut : cut.replace(/\S*$/, '');
  return whole.trimEnd();
}

/** The words spoken between `fromMs` and `toMs` (every word that overlaps the span), normalised. */
export function wordsBetween(marks: readonly TextMark[], fromMs: number, toMs: number): string[] {
  const out: string[] = [];
  for (const mark of marks) {
    if (mark.endMs < fromMs || mark.startMs > toMs) continue;
    const text = mark.text;
    const span = Math.max(mark.endMs - mark.startMs, 1);
    for (const match of text.matchAll(/\S+/g)) {
      const start = mark.startMs + (span * match.index) / Math.max(text.length, 1);
      const end = mark.startMs + (span * (match.index + match[0].length)) / Math.max(text.length, 1);
      if (end < fromMs || start > toMs) continue;
      const word = normalizeWord(match[0]);
      if (word) out.push(word);
    }
  }
  return out;
}

export function normalizeWord(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}']+/gu, '').replace(/^'+|'+$/g, '');
}

/** Lower case, punctuation dropped, single spaces: how transcripts and phrases are compared. */
export function normalizePhrase(text: string): string {
  return text
    .split(/[\s\-_]+/)
    .map(normalizeWord)
    .filter(Boolean)
    .join(' ');
}

/**
 * Echo test: does the recognised speech match what the assistant was saying? Every recognised word
 * is looked up among the assistant's words of the window, allowing for recogniser errors (a close
 * spelling counts). Speech is echo when at most one word, or `maxForeignShare` of its words, are
 * foreign, and at least half of them match. Speech with no words is undecided (false).
 */
export function isEcho(recognised: string, assistantWords: readonly string[], maxForeignShare = 0.25): boolean {
  const words = normalizePhrase(recognised).split(' ').filter(Boolean);
  if (words.length === 0) return false;
  const pool = new Set(assistantWords);
  let foreign = 0;
  for (const word of words) {
    if (pool.has(word)) continue;
    if ([...pool].some((candidate) => similar(word, candidate))) continue;
    foreign++;
  }
  return foreign <= Math.max(1, Math.floor(words.length * maxForeignShare)) && foreign * 2 <= words.length;
}

/** Close enough to be the same word misrecognised: short words exact, longer ones within one edit per 4 letters. */
function similar(a: string, b: string): boolean {
  if (a.length <= 2 || b.length <= 2) return a === b;
  const allowed = Math.max(1, Math.floor(Math.max(a.length, b.length) / 4));
  if (Math.abs(a.length - b.length) > allowed) return false;
  return editDistance(a, b) <= allowed;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
