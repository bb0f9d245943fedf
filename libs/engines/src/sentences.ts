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
