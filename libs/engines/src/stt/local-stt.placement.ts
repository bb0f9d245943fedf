/**
 * Where the recognition pool puts a new stream: on the worker with the least recent work, not the
 * fewest streams. A stream's work is its recent audio rate (audio seconds per second over the last
 * few seconds, exponentially weighted) times what that audio costs: speech runs the decoder
 * (PocketSphinx, about 0.3 s of a core per second of audio) on top of the VAD, silence only the VAD
 * (Silero, a few ms per second). The cost is LISTENING_WEIGHT plus (SPEECH_WEIGHT - LISTENING_WEIGHT)
 * times the stream's recent share of speech (exponentially weighted over the same window). A new
 * stream is assumed to speak (share 1, rate real time) until its audio shows otherwise, so a burst
 * of opens spreads as by count and a quiet stream weighs a twentieth of a speaker within seconds; a
 * configured stream that sends no audio (a text-only session) weighs nothing once its window passed.
 * The rate is capped at real time: audio beyond it is served from the worker's left-over time
 * (virtual-clock queue, virtual-clock-queue.ts), so a fast uploader weighs as one real-time stream
 * and does not push every later stream onto the other workers.
 */
export const PLACEMENT_WINDOW_MS = 5000;
export const SPEECH_WEIGHT = 1;
export const LISTENING_WEIGHT = 0.05;
/** Below this age a stream's rate is not yet measurable; it counts as real time. */
const YOUNG_MS = 1000;

export class StreamLoad {
  /** Exponentially weighted audio seconds (time constant PLACEMENT_WINDOW_MS). */
  private recent = 0;
  private updatedAt: number;
  private readonly openedAt: number;
  /** Exponentially weighted share of the time spent speaking; a new stream is assumed to speak. */
  private share = 1;
  private shareAt: number;

  constructor(
    private speaking: boolean,
    now: number,
  ) {
    this.openedAt = now;
    this.updatedAt = now;
    this.shareAt = now;
  }

  audio(seconds: number, now: number): void {
    this.decay(now);
    this.recent += seconds;
  }

  setSpeaking(speaking: boolean, now: number): void {
    this.updateShare(now);
    this.speaking = speaking;
  }

  /** Recent share of the time this stream's VAD heard speech, 0 to 1. */
  speechShare(now: number): number {
    this.updateShare(now);
    return this.share;
  }

  /** Audio seconds per second lately, at most 1 (real time). */
  rate(now: number): number {
    const age = now - this.openedAt;
    if (age < YOUNG_MS) return 1;
    this.decay(now);
    // A steady rate r gives recent = r * tau * (1 - e^(-age/tau)): divide that out for young streams.
    const filled = 1 - Math.exp(-age / PLACEMENT_WINDOW_MS);
    return Math.min(1, this.recent / ((PLACEMENT_WINDOW_MS / 1000) * filled));
  }

  load(now: number): number {
    return this.rate(now) * (LISTENING_WEIGHT + (SPEECH_WEIGHT - LISTENING_WEIGHT) * this.speechShare(now));
  }

  private updateShare(now: number): void {
    const target = this.speaking ? 1 : 0;
    this.share = target + (this.share - target) * Math.exp(-(now - this.shareAt) / PLACEMENT_WINDOW_MS);
    this.shareAt = now;
  }

  private decay(now: number): void {
    this.recent *= Math.exp(-(now - this.updatedAt) / PLACEMENT_WINDOW_MS);
    this.updatedAt = now;
  }
}

/** Index of the worker with the least load; ties go to fewer streams, then to the first. */
export function leastLoaded(workers: ReadonlyArray<{ load: number; streams: number }>): number {
  let best = -1;
  for (let i = 0; i < workers.length; i++) {
    const w = workers[i]!;
    const b = workers[best];
    // Loads within 1 % of a speaker are a tie: stream counts decide between near-idle workers.
    if (!b || w.load < b.load - 0.01 || (Math.abs(w.load - b.load) <= 0.01 && w.streams < b.streams)) best = i;
  }
  return best;
}
