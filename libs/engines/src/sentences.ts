const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
const MAX_PIECE_CHARS = 220;
/** ICU breaks after these, but a sentence does not end there. */
const ABBREVIATION_END = /(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|No)|\b[A-Z])\.$/;

/**
 * Splits reply text into speakable pieces: sentences (ICU rules, so "Dr. Smith" or "3.5" stay whole),
 * and over-long sentences again at clause punctuation, so synthesis can start early.
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  let carry = '';
  for (const { segment } of segmenter.segment(text)) {
    const sentence = `${carry}${segment}`;
    carry = ABBREVIATION_END.test(sentence.trimEnd()) ? sentence : '';
    if (!carry) sentences.push(sentence.trim());
  }
  if (carry) sentences.push(carry.trim());
  return sentences.filter((sentence) => /[\p{L}\p{N}]/u.test(sentence)).flatMap(splitLong);
}

const SPEAKABLE = /[\p{L}\p{N}]/u;
/** The first unit of a streamed reply may be a clause once the sentence has this many characters. */
const FIRST_CLAUSE_MIN_CHARS = 60;
/** A clause taken as the first unit has at least this many characters. */
const CLAUSE_MIN_CHARS = 20;

/**
 * Splits a reply that is still being written into speakable units as the text grows. `push` returns
 * the units completed by the new text: a sentence is complete once the next one has started (ICU
 * sentence rules, so "Dr. Smith", "$29.99", "3.5" and URLs stay whole even when cut between pushes);
 * the last one is held until then or until `end`. Pieces without letters or digits (list markers
 * like "1.") join the next unit. The first unit may be a clause (cut after `,;:` or a dash) when
 * its sentence runs long, so the first audio is not held back; over-long sentences are split as
 * `splitSentences` does.
 */
export class SentenceStream {
  private text = '';
  private emitted = 0;

  /** Adds text; returns the units it completed. */
  push(delta: string): string[] {
    this.text += delta;
    return this.take(false);
  }

  /** The text is complete: returns the remaining units. */
  end(): string[] {
    return this.take(true);
  }

  private take(final: boolean): string[] {
    const segments = [...segmenter.segment(this.text)].map((s) => s.segment);
    const units: string[] = [];
    let consumed = 0;
    let carry = '';
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const last = i === segments.length - 1;
      if (last && !final) break;
      const sentence = `${carry}${segment}`;
      const open = ABBREVIATION_END.test(sentence.trimEnd()) || !SPEAKABLE.test(sentence);
      if (open && !last) {
        carry = sentence;
        continue;
      }
      carry = '';
      consumed += sentence.length;
      if (SPEAKABLE.test(sentence)) units.push(...splitLong(sentence.trim()));
    }
    if (!final) {
      // The held rest: a long first sentence may give its first clause; a runaway one its complete pieces.
      const rest = this.text.slice(consumed);
      if (this.emitted === 0 && units.length === 0 && rest.length >= FIRST_CLAUSE_MIN_CHARS) {
        const clause = /^(.{20,}?[,;:\u2013\u2014])\s+\S/su.exec(rest.trimStart());
        if (clause?.[1] && clause[1].length >= CLAUSE_MIN_CHARS && SPEAKABLE.test(clause[1])) {
          const cut = rest.indexOf(clause[1]) + clause[1].length;
          units.push(clause[1].trim());
          consumed += cut;
        }
      } else if (rest.length > MAX_PIECE_CHARS * 2) {
        const pieces = splitLong(rest.trim());
        for (const piece of pieces.slice(0, -1)) {
          const at = this.text.indexOf(piece, consumed);
          if (at < 0) break;
          units.push(piece);
          consumed = at + piece.length;
        }
      }
    }
    this.text = final ? '' : this.text.slice(consumed);
    this.emitted += units.length;
    return units;
  }
}

function splitLong(sentence: string): string[] {
  if (sentence.length <= MAX_PIECE_CHARS) return [sentence];
  const out: string[] = [];
  let current = '';
  for (const clause of sentence.split(/(?<=[,;:])\s+/)) {
    if (current && current.length + clause.length + 1 > MAX_PIECE_CHARS) {
      out.push(current);
      current = clause;
    } else {
      current = current ? `${current} ${clause}` : clause;
    }
  }
  if (current) out.push(current);
  return out.flatMap((piece) => (piece.length <= MAX_PIECE_CHARS * 2 ? [piece] : hardWrap(piece)));
}

function hardWrap(piece: string): string[] {
  const words = piece.split(/\s+/);
  const out: string[] = [];
  let current = '';
  for (const word of words) {
    if (current && current.length + word.length + 1 > MAX_PIECE_CHARS) {
      out.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  if (current) out.push(current);
  return out;
}
