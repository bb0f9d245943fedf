/** Model locations and audio format; no native code, safe to import on the main thread. */
import { join } from 'node:path';

/** Paths of the acoustic model directory, the n-gram language model and the pronunciation dictionary. */
export interface PocketSphinxModelPaths {
  readonly hmm: string;
  readonly lm: string;
  readonly dict: string;
}

export const DEBIAN_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

/** The en-US model files in a directory laid out as Debian's `pocketsphinx-en-us` installs it. */
export function enUsModel(dir: string = DEBIAN_MODEL_DIR): PocketSphinxModelPaths {
  return { hmm: join(dir, 'en-us'), lm: join(dir, 'en-us.lm.bin'), dict: join(dir, 'cmudict-en-us.dict') };
}

export const DEBIAN_EN_US_MODEL: PocketSphinxModelPaths = enUsModel();

/** The decoders are configured for this rate: audio must be 16 kHz mono signed 16-bit. */
export const SAMPLE_RATE = 16_000;

/**
 * Decoder arguments applied before the caller's own. `-fwdflat no` skips the flat-lexicon
 * second pass: end-of-utterance cost drops from ~69 to ~22 ms per second of speech with
 * the same WER on the test set (NOTES.md), which matters for a turn-taking voice gateway.
 */
export const DEFAULT_DECODER_ARGS: Readonly<Record<string, string>> = { '-fwdflat': 'no' };
