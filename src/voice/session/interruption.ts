import { INTERRUPTION_DEFAULTS, type InterruptionConfigDto } from '@app/protocol';
import { normalizePhrase } from './heard-text.js';

/** A session's barge-in settings after defaults (see `session.configure.interruption`). */
export interface EffectiveInterruption {
  enabled: boolean;
  min_speech_ms: number;
  min_words: number;
  /** Normalised (lower case, no punctuation). */
  ignore_phrases: string[];
}

/** Ranges were checked by the message's validation; this applies the defaults. */
export function resolveInterruption(dto: InterruptionConfigDto | undefined): EffectiveInterruption {
  return {
    enabled: dto?.enabled ?? INTERRUPTION_DEFAULTS.enabled,
    min_speech_ms: dto?.min_speech_ms ?? INTERRUPTION_DEFAULTS.min_speech_ms,
    min_words: dto?.min_words ?? INTERRUPTION_DEFAULTS.min_words,
    ignore_phrases: (dto?.ignore_phrases ?? INTERRUPTION_DEFAULTS.ignore_phrases).map(normalizePhrase).filter(Boolean),
  };
}

/** The whole transcript is one of the phrases (case and punctuation ignored). */
export function isIgnoredPhrase(transcript: string, phrases: readonly string[]): boolean {
  const text = normalizePhrase(transcript);
  return text !== '' && phrases.includes(text);
}

/** The transcript so far could still become one of the phrases ("uh" of "uh huh"). */
export function mayBecomeIgnoredPhrase(transcript: string, phrases: readonly string[]): boolean {
  const text = normalizePhrase(transcript);
  return text === '' || phrases.some((phrase) => phrase === text || phrase.startsWith(`${text} `));
}

export function wordCount(transcript: string): number {
  const text = normalizePhrase(transcript);
  return text ? text.split(' ').length : 0;
}
