import type { TurnOutcome, TurnStage } from './metrics.service.js';

/** Points in a turn's life, as `performance.now()` times. */
export type TurnMark = 'backend_request' | 'backend_first_byte' | 'backend_complete' | 'tts_request' | 'first_audio' | 'end';

/**
 * The timings of one assistant turn: where the user finished (end of speech, or `text.prompt`
 * received), when the transcript was committed, and marks as the turn passes each stage. It yields
 * the stage durations for the `voice_layer_turn_stage_seconds` histogram and `turn.metrics`; a
 * stage whose marks are missing (no speech, no audio) is left out. The first mark of a name wins,
 * so a streaming reply can mark `backend_first_byte` on every piece.
 */
export class TurnTimeline {
  private readonly marks = new Map<TurnMark, number>();

  /**
   * `userEndAt`: end of the user's speech or arrival of the text prompt. `committedAt`: for spoken
   * turns, when the transcript was committed (end_of_speech_to_commit is measured only then).
   */
  constructor(
    readonly userEndAt: number,
    readonly committedAt?: number,
  ) {}

  mark(name: TurnMark, at = performance.now()): void {
    if (!this.marks.has(name)) this.marks.set(name, at);
  }

  has(name: TurnMark): boolean {
    return this.marks.has(name);
  }

  /** Stage durations in milliseconds (rounded to 0.1 ms), only those whose marks exist. */
  stagesMs(): Partial<Record<TurnStage, number>> {
    const between = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? undefined : Math.max(0, Math.round((to - from) * 10) / 10));
    const at = (name: TurnMark) => this.marks.get(name);
    const stages: Partial<Record<TurnStage, number | undefined>> = {
      end_of_speech_to_commit: this.committedAt === undefined ? undefined : between(this.userEndAt, this.committedAt),
      backend_first_byte: between(at('backend_request'), at('backend_first_byte')),
      backend_complete: between(at('backend_request'), at('backend_complete')),
      tts_first_audio: between(at('tts_request'), at('first_audio')),
      user_to_first_audio: between(this.userEndAt, at('first_audio')),
    };
    return Object.fromEntries(Object.entries(stages).filter(([, ms]) => ms !== undefined));
  }

  /** The `turn.metrics` fields: each stage as `<stage>_ms`. */
  eventFields(turnId: number, outcome: TurnOutcome): { turn_id: number; outcome: TurnOutcome } & Partial<Record<`${TurnStage}_ms`, number>> {
    const fields: Record<string, number | string> = { turn_id: turnId, outcome };
    for (const [stage, ms] of Object.entries(this.stagesMs())) fields[`${stage}_ms`] = ms;
    return fields as { turn_id: number; outcome: TurnOutcome };
  }
}

/**
 * Maps positions in a session's inbound audio (seconds since its first byte) to the wall-clock time
 * that audio arrived, so a recogniser's "speech ended at 3.2 s" becomes "speech ended at t". Keeps
 * the last `limit` chunks (older positions map to the oldest kept).
 */
export class AudioClock {
  /** Byte offsets (exact integers) where each kept chunk ends, and when it arrived. */
  private readonly chunks: Array<{ endByte: number; at: number }> = [];
  private totalBytes = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly limit = 4096,
  ) {}

  /** Seconds of audio received so far. */
  get receivedSecs(): number {
    return this.totalBytes / this.bytesPerSecond;
  }

  push(bytes: number, at = performance.now()): void {
    this.totalBytes += bytes;
    this.chunks.push({ endByte: this.totalBytes, at });
    if (this.chunks.length > this.limit * 2) this.chunks.splice(0, this.chunks.length - this.limit);
  }

  /** When the audio at `secs` arrived: the arrival of the first chunk that contains it; undefined before any audio. */
  arrivalOf(secs: number): number | undefined {
    const chunks = this.chunks;
    if (chunks.length === 0) return undefined;
    const byte = secs * this.bytesPerSecond;
    let low = 0;
    let high = chunks.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (chunks[middle]!.endByte >= byte) high = middle;
      else low = middle + 1;
    }
    return chunks[low]!.at;
  }
}
