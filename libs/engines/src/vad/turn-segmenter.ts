/**
 * Turn segmentation from per-frame speech probabilities, with the semantics of the
 * ElevenLabs Scribe realtime VAD parameters. Pure and synchronous: feed it one
 * probability per frame, get back the events that frame caused.
 *
 * Frame classification (hysteresis, as in Silero's own VADIterator):
 *   - p >= vadThreshold                       -> "high": can start or resume speech
 *   - p <  negativeThreshold                  -> "low":  silence
 *   - in between                              -> "band": keeps the current run going
 *     (counts as speech inside a speech candidate or a speech segment, and neither
 *     starts nor interrupts a silence run)
 *   negativeThreshold = max(vadThreshold - hysteresis, 0.01), hysteresis defaults to 0.15.
 *
 * Parameters:
 *   - minSpeechDurationMs: a candidate (opened by a high frame) becomes speech once it
 *     holds this much high/band audio; a low run of minSilenceDurationMs inside it
 *     discards it. Clicks and noise bursts therefore never emit `speech_start`.
 *   - minSilenceDurationMs: inside speech, a low run shorter than this does not split
 *     it; once the low run reaches it, `speech_end` is emitted (end = start of the run).
 *   - vadSilenceThresholdSecs: once the silence since the last speech end reaches this,
 *     the turn is committed. Unconfirmed candidates do not reset this timer, but the
 *     commit waits while a candidate is undecided (if it becomes speech, the silence
 *     was not continuous; if it is discarded, the commit fires at once, late by the
 *     candidate's length, and `atMs - endMs` shows the real silence).
 *
 * All times are milliseconds of audio since the first frame (frame index x frame length),
 * quantised to the frame length.
 */

export interface TurnConfig {
  /** Probability at or above which a frame is speech. 0.1..0.9, default 0.4. */
  vadThreshold: number;
  /** Continuous silence after speech that ends the turn. 0.3..3.0 s, default 1.5. */
  vadSilenceThresholdSecs: number;
  /** Speech shorter than this never counts. 50..2000 ms, default 100. */
  minSpeechDurationMs: number;
  /** Silence shorter than this does not split speech. 50..2000 ms, default 100. */
  minSilenceDurationMs: number;
  /** Negative threshold = vadThreshold - hysteresis (floored at 0.01). 0..0.5, default 0.15. */
  hysteresis: number;
  /** Duration of one frame, ms (512 samples at 16 kHz = 32). */
  frameDurationMs: number;
}

/** The Scribe realtime query/config parameter names, for pass-through from clients. */
export interface ScribeVadParams {
  vad_threshold?: number;
  vad_silence_threshold_secs?: number;
  min_speech_duration_ms?: number;
  min_silence_duration_ms?: number;
}

export const DEFAULT_TURN_CONFIG: Readonly<TurnConfig> = Object.freeze({
  vadThreshold: 0.4,
  vadSilenceThresholdSecs: 1.5,
  minSpeechDurationMs: 100,
  minSilenceDurationMs: 100,
  hysteresis: 0.15,
  frameDurationMs: 32,
});

export type TurnEvent =
  | {
      type: 'speech_start';
      /** Start of the first frame of the speech (keep pre-roll audio before this). */
      startMs: number;
      /** When the decision was made (end of the confirming frame). */
      atMs: number;
      /** True when this speech opens a turn, false when it resumes the open turn. */
      newTurn: boolean;
    }
  | {
      type: 'speech_end';
      /** Start of the speech segment that ended. */
      startMs: number;
      /** End of speech = start of the silence run that ended it. */
      endMs: number;
      atMs: number;
    }
  | {
      type: 'commit';
      /** Start of the turn's first speech. */
      turnStartMs: number;
      /** End of the turn's last speech. */
      endMs: number;
      /** When the commit was decided; for 'silence', atMs - endMs >= the silence window. */
      atMs: number;
      reason: 'silence' | 'flush';
    };

const RANGES: Record<keyof ScribeVadParams, [keyof TurnConfig, number, number]> = {
  vad_threshold: ['vadThreshold', 0.1, 0.9],
  vad_silence_threshold_secs: ['vadSilenceThresholdSecs', 0.3, 3.0],
  min_speech_duration_ms: ['minSpeechDurationMs', 50, 2000],
  min_silence_duration_ms: ['minSilenceDurationMs', 50, 2000],
};

/** Maps Scribe parameter names onto a partial {@link TurnConfig} (validated by the segmenter). */
export function turnConfigFromScribe(params: ScribeVadParams): Partial<TurnConfig> {
  const config: Partial<TurnConfig> = {};
  for (const name of Object.keys(RANGES) as (keyof ScribeVadParams)[]) {
    const value = params[name];
    if (value !== undefined) config[RANGES[name][0]] = value;
  }
  return config;
}

/** Validates and completes a partial config; throws RangeError naming the bad field. */
export function resolveTurnConfig(partial: Partial<TurnConfig> = {}): TurnConfig {
  const config: TurnConfig = { ...DEFAULT_TURN_CONFIG, ...partial };
  for (const [name, [key, min, max]] of Object.entries(RANGES)) {
    const value = config[key];
    if (!(value >= min && value <= max)) throw new RangeError(`${name} must be in [${min}, ${max}], got ${value}`);
  }
  if (!(config.hysteresis >= 0 && config.hysteresis <= 0.5)) {
    throw new RangeError(`hysteresis must be in [0, 0.5], got ${config.hysteresis}`);
  }
  if (!(config.frameDurationMs > 0 && Number.isFinite(config.frameDurationMs))) {
    throw new RangeError(`frameDurationMs must be positive, got ${config.frameDurationMs}`);
  }
  return config;
}

/** Tolerance for duration comparisons (frame lengths need not be exact in binary). */
const EPS = 1e-6;

interface Candidate {
  startMs: number;
  voicedMs: number;
  lowMs: number;
}

export class TurnSegmenter {
  readonly config: Readonly<TurnConfig>;
  readonly negativeThreshold: number;

  private frames = 0;
  private phase: 'idle' | 'speech' | 'trailing' = 'idle';
  /** Pending speech candidate (idle/trailing only). */
  private candidate: Candidate | null = null;
  private turnStartMs = 0;
  private speechStartMs = 0;
  /** speech: start of the current low run (or null); trailing: end of the last speech. */
  private silenceStartMs: number | null = null;

  constructor(config: Partial<TurnConfig> = {}) {
    this.config = Object.freeze(resolveTurnConfig(config));
    this.negativeThreshold = Math.max(this.config.vadThreshold - this.config.hysteresis, 0.01);
  }

  /** Milliseconds of audio consumed so far. */
  get nowMs(): number {
    return this.frames * this.config.frameDurationMs;
  }

  /** Milliseconds since the current speech segment started, while in speech (pauses shorter than a split included); 0 otherwise. */
  get speechMs(): number {
    return this.phase === 'speech' ? this.nowMs - this.speechStartMs : 0;
  }

  /** True while a turn is open (speech seen, not yet committed). */
  get inTurn(): boolean {
    return this.phase !== 'idle';
  }

  /** Consumes one frame's speech probability and returns the events it caused, in order. */
  push(probability: number): TurnEvent[] {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`probability must be in [0, 1], got ${probability}`);
    const { vadThreshold, frameDurationMs: dur } = this.config;
    const frameStart = this.nowMs;
    this.frames++;
    const now = this.nowMs;
    const high = probability >= vadThreshold;
    const low = probability < this.negativeThreshold;
    const events: TurnEvent[] = [];

    if (this.phase === 'speech') {
      if (high) this.silenceStartMs = null;
      else if (low && this.silenceStartMs === null) this.silenceStartMs = frameStart;
      const silenceStart = this.silenceStartMs;
      if (silenceStart !== null && now - silenceStart + EPS >= Math.min(this.config.minSilenceDurationMs, this.windowMs)) {
        events.push({ type: 'speech_end', startMs: this.speechStartMs, endMs: silenceStart, atMs: now });
        this.phase = 'trailing';
      }
    } else {
      this.updateCandidate(high, low, frameStart, dur);
    }

    if (this.phase === 'trailing' && this.candidate === null && now - this.silenceStartMs! + EPS >= this.windowMs) {
      events.push({ type: 'commit', turnStartMs: this.turnStartMs, endMs: this.silenceStartMs!, atMs: now, reason: 'silence' });
      this.phase = 'idle';
    }

    if (this.candidate !== null && this.candidate.voicedMs + EPS >= this.config.minSpeechDurationMs) {
      const newTurn = this.phase === 'idle';
      if (newTurn) this.turnStartMs = this.candidate.startMs;
      this.speechStartMs = this.candidate.startMs;
      events.push({ type: 'speech_start', startMs: this.speechStartMs, atMs: now, newTurn });
      this.phase = 'speech';
      this.silenceStartMs = null;
      this.candidate = null;
    }
    return events;
  }

  /** Convenience: pushes many probabilities and concatenates the events. */
  pushAll(probabilities: Iterable<number>): TurnEvent[] {
    const events: TurnEvent[] = [];
    for (const p of probabilities) events.push(...this.push(p));
    return events;
  }

  /**
   * Closes the open turn now (manual commit / end of stream): emits `speech_end` if speech
   * is ongoing, then `commit` with reason 'flush'. No-op when no turn is open. A pending
   * candidate is kept and may still start the next turn.
   */
  flush(): TurnEvent[] {
    const events: TurnEvent[] = [];
    const now = this.nowMs;
    if (this.phase === 'speech') {
      const endMs = this.silenceStartMs ?? now;
      events.push({ type: 'speech_end', startMs: this.speechStartMs, endMs, atMs: now });
      this.silenceStartMs = endMs;
    }
    if (this.phase !== 'idle') {
      events.push({ type: 'commit', turnStartMs: this.turnStartMs, endMs: this.silenceStartMs!, atMs: now, reason: 'flush' });
      this.phase = 'idle';
    }
    return events;
  }

  private get windowMs(): number {
    return this.config.vadSilenceThresholdSecs * 1000;
  }

  private updateCandidate(high: boolean, low: boolean, frameStart: number, dur: number): void {
    const candidate = this.candidate;
    if (candidate === null) {
      if (high) this.candidate = { startMs: frameStart, voicedMs: dur, lowMs: 0 };
    } else if (low) {
      candidate.lowMs += dur;
      if (candidate.lowMs + EPS >= this.config.minSilenceDurationMs) this.candidate = null;
    } else {
      candidate.voicedMs += dur;
      candidate.lowMs = 0;
    }
  }
}
