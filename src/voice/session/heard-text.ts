/**
 * Where the reply's words are on its audio timeline, and what the user heard of it. Marks come from
 * the TTS: flite gives one per synthesised unit (a sentence, timed by its audio length); ElevenLabs
 * one per word from its character alignment (with-timestamps), or one per request without it.
 * Within a mark, time is shared out by characters.
 */
import type { TextMark } from '../../tts/tts-provider.js';
import { editDistance } from '@app/protocol';

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
 * Recognised content words that match none of the assistant's words (recogniser errors allowed: a
 * close spelling, a similar sound or a cut-off word counts). Short function words are not counted:
 * recognisers get them wrong most often, and they say little about who spoke.
 */
export function foreignWords(words: readonly string[], assistantWords: readonly string[]): number {
  const pool = [...new Set(assistantWords)];
  return contentWords(words).filter((word) => !pool.some((candidate) => candidate === word || similar(word, candidate))).length;
}

const FUNCTION_WORDS = new Set(
  ('the a an and or but is was are were be been it its it\'s that this these those of to in on at for as by with from he she they we you i me my ' +
    'his her their our your so if then there what which who not no do does did has have had will would can could up out all just than too very about into over also')
    .split(' '),
);

function contentWords(words: readonly string[]): string[] {
  return words.filter((word) => word.length >= 3 && !FUNCTION_WORDS.has(word));
}

/**
 * Echo test on a final transcript: speech is echo when at most a third of its content words match
 * none of the assistant's words of the window. Speech with no words is not echo.
 */
export function isEcho(recognised: string, assistantWords: readonly string[], maxForeignShare = 1 / 3): boolean {
  const words = normalizePhrase(recognised).split(' ').filter(Boolean);
  if (words.length === 0) return false;
  const content = contentWords(words);
  if (content.length === 0) return words.every((word) => assistantWords.includes(word));
  return foreignWords(words, assistantWords) <= Math.floor(content.length * maxForeignShare);
}

/** Echo test on a live partial: its latest words decide; too few words are undecided (treated as echo). */
export function isEchoSoFar(partial: string, assistantWords: readonly string[]): boolean {
  const words = normalizePhrase(partial).split(' ').filter(Boolean);
  if (words.length < PARTIAL_MIN_WORDS) return true;
  return foreignWords(words.slice(-PARTIAL_RECENT_WORDS), assistantWords) < PARTIAL_FOREIGN_WORDS;
}

/** A partial is judged on its last 6 words once it has 3; 2 foreign content words among them make it the user. */
const PARTIAL_MIN_WORDS = 3;
const PARTIAL_RECENT_WORDS = 6;
const PARTIAL_FOREIGN_WORDS = 2;

/** Close enough to be the same word misrecognised: short words exact, longer ones within one edit per 4 letters or cut off. */
function similar(a: string, b: string): boolean {
  if (a.length <= 2 || b.length <= 2) return a === b;
  if (Math.min(a.length, b.length) >= 4 && (a.startsWith(b) || b.startsWith(a))) return true;
  if (a.length >= 5 && b.length >= 5 && soundex(a) === soundex(b)) return true;
  const allowed = Math.max(1, Math.floor(Math.max(a.length, b.length) / 4));
  if (Math.abs(a.length - b.length) > allowed) return false;
  return editDistance(a, b) <= allowed;
}

const SOUNDEX: Record<string, string> = { b: '1', f: '1', p: '1', v: '1', c: '2', g: '2', j: '2', k: '2', q: '2', s: '2', x: '2', z: '2', d: '3', t: '3', l: '4', m: '5', n: '5', r: '6' };

/** American Soundex: "century" and "cemetery" agree. */
function soundex(word: string): string {
  let code = word[0]!;
  let last = SOUNDEX[word[0]!] ?? '';
  for (const ch of word.slice(1)) {
    const digit = SOUNDEX[ch] ?? (ch === 'h' || ch === 'w' ? last : '');
    if (digit && digit !== last) code += digit;
    last = digit;
  }
  return code.padEnd(4, '0').slice(0, 4);
}
