const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
const MAX_PIECE_CHARS = 220;

/**
 * Splits reply text into speakable pieces: sentences (ICU rules, so "Dr. Smith" or "3.5" stay whole),
 * and over-long sentences again at clause punctuation, so synthesis can start early.
 */
export function splitSentences(text: string): string[] {
  const pieces: string[] = [];
  for (const { segment } of segmenter.segment(text)) {
    const sentence = segment.trim();
    if (!/[\p{L}\p{N}]/u.test(sentence)) continue;
    pieces.push(...splitLong(sentence));
  }
  return pieces;
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
