/** Messages between LocalSttPool (main thread) and local-stt.worker (worker thread). */
import type { TurnConfig } from '../vad/turn-segmenter.js';

export type VadSettings = Pick<TurnConfig, 'vadThreshold' | 'vadSilenceThresholdSecs' | 'minSpeechDurationMs' | 'minSilenceDurationMs'>;

export interface LocalSttStreamConfig {
  /** Input encoding: PCM16LE, or 8-bit mu-law. */
  codec: 'pcm' | 'ulaw';
  sampleRate: number;
  /** `vad`: Silero VAD ends turns; `manual`: only commit() does. */
  commitStrategy: 'vad' | 'manual';
  vad: VadSettings;
  /** Report each committed utterance's words with their times. */
  words?: boolean;
}

/** A recognised word, in seconds from the first byte of the stream's audio. */
export interface TimedWord {
  text: string;
  start: number;
  end: number;
}

export type CommitReason = 'vad' | 'manual';

export type ToWorker =
  | { type: 'open'; streamId: number; config: LocalSttStreamConfig }
  /** Raw input bytes in the stream's codec and rate (transferred). */
  | { type: 'audio'; streamId: number; bytes: ArrayBuffer }
  | { type: 'commit'; streamId: number }
  | { type: 'close'; streamId: number }
  /** Stop running steps (the pool is closing); answered with `stopped` once none is running. */
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'stopped' }
  | { type: 'speech_start'; streamId: number }
  /** While speech goes on: its length so far (sent after each chunk of audio processed). */
  | { type: 'speech_progress'; streamId: number; ms: number }
  | { type: 'partial'; streamId: number; text: string }
  | { type: 'committed'; streamId: number; text: string; reason: CommitReason; words?: TimedWord[] }
  | { type: 'error'; streamId: number; message: string }
  /**
   * Milliseconds of the stream's input audio processed so far, sent each time another
   * CONSUMED_REPORT_MS have been: the pool's measure of audio waiting in the worker (its backlog).
   */
  | { type: 'consumed'; streamId: number; ms: number };

/** How much processed audio a `consumed` report stands for; the backlog is known to within this. */
export const CONSUMED_REPORT_MS = 500;
