/**
 * The timing logic of the player, without Web Audio (pure, unit-tested): where each chunk of reply
 * audio starts on the audio clock so chunks play back to back, how much of a turn has played at a
 * given time, and what to drop when a turn is interrupted.
 */

/** Safety margin before the first chunk of a reply (and after a gap), against network jitter. */
export const LEAD_SECONDS = 0.05;
/** A chunk due less than this ahead of now is late: the queue ran dry. */
const LATE_SECONDS = 0.005;

export interface Segment {
  turnId: number;
  /** Start and end on the audio clock, in seconds. */
  start: number;
  end: number;
}

export class PlaybackSchedule {
  /** Segments not yet finished, in start order. */
  private segments: Segment[] = [];
  private playHead = 0;
  /** Seconds of each turn already played (of segments removed from the queue). */
  private readonly playedBefore = new Map<number, number>();
  /** Times a reply ran dry before its next chunk arrived. */
  underruns = 0;

  /**
   * Places `duration` seconds of `turnId`'s audio at the end of the queue, or at `now` plus the lead
   * when the queue is empty or late. `first` marks the first chunk of a reply (not an underrun).
   * Returns when it starts.
   */
  schedule(turnId: number, duration: number, now: number, first: boolean): number {
    this.advance(now);
    if (this.playHead < now + LATE_SECONDS) {
      if (!first && this.playedBefore.has(turnId)) this.underruns++;
      this.playHead = now + LEAD_SECONDS;
    }
    const start = this.playHead;
    this.segments.push({ turnId, start, end: start + duration });
    if (!this.playedBefore.has(turnId)) this.playedBefore.set(turnId, 0);
    this.playHead += duration;
    return start;
  }

  /** Milliseconds of `turnId`'s audio played by `now`. */
  playedMs(turnId: number, now: number): number {
    this.advance(now);
    let seconds = this.playedBefore.get(turnId) ?? 0;
    for (const s of this.segments) if (s.turnId === turnId) seconds += Math.max(0, Math.min(now, s.end) - s.start);
    return Math.round(seconds * 1000);
  }

  /** Whether `turnId` has audio still queued or playing at `now`. */
  pending(turnId: number, now: number): boolean {
    this.advance(now);
    return this.segments.some((s) => s.turnId === turnId);
  }

  /** Seconds queued ahead of `now`. */
  queued(now: number): number {
    return Math.max(0, this.playHead - now);
  }

  /** Turns with audio in the queue. */
  turns(): number[] {
    return [...new Set(this.segments.map((s) => s.turnId))];
  }

  /**
   * Drops `turnId`'s audio at `now` (all turns when undefined): returns the ms played of each turn
   * dropped. The play head moves back to the end of what stays queued.
   */
  drop(now: number, turnId?: number): Map<number, number> {
    const dropped = new Map<number, number>();
    for (const id of turnId === undefined ? this.turns() : [turnId]) dropped.set(id, this.playedMs(id, now));
    this.segments = this.segments.filter((s) => turnId !== undefined && s.turnId !== turnId);
    for (const id of dropped.keys()) this.playedBefore.set(id, dropped.get(id)! / 1000);
    const last = this.segments[this.segments.length - 1];
    this.playHead = last ? last.end : 0;
    return dropped;
  }

  /** Forgets a finished turn's totals. */
  forget(turnId: number): void {
    this.playedBefore.delete(turnId);
  }

  /** Moves finished segments into the played totals. */
  private advance(now: number): void {
    while (this.segments.length > 0 && this.segments[0]!.end <= now) {
      const s = this.segments.shift()!;
      this.playedBefore.set(s.turnId, (this.playedBefore.get(s.turnId) ?? 0) + (s.end - s.start));
    }
  }
}
