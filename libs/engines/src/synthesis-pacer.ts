export interface SynthesisPacerOptions {
  /** Seconds of audio a session may have synthesised at once, ahead of the pace (the bucket's depth). */
  burstSeconds: number;
  /** Seconds of audio per second of wall time the session may synthesise once the burst is spent. */
  speed: number;
}

/**
 * Paces one session's speech synthesis to a multiple of real time: a token bucket in seconds of
 * audio, `burstSeconds` deep, refilled at `speed` seconds of audio per second. A client that plays
 * what it gets never notices (it cannot play faster than 1x); one that never reads, or asks for
 * reply after reply without listening, cannot keep a synthesis worker busy. The first sentence of a
 * reply gets credit (see FliteSynthesizer.speakUnits), so a reply starts at once unless its session
 * is far behind its pace.
 */
export class SynthesisPacer {
  private tokens: number;
  private at = performance.now();

  constructor(private readonly options: SynthesisPacerOptions) {
    this.tokens = options.burstSeconds;
  }

  /** Seconds of audio that may be synthesised now without waiting (negative: the debt). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Counts `seconds` of synthesised audio. */
  spend(seconds: number): void {
    this.refill();
    this.tokens -= seconds;
  }

  /**
   * Resolves once the bucket holds audio again, or, with `creditSeconds`, once it owes less than that;
   * rejects with the signal's reason when it aborts first.
   */
  async ready(signal: AbortSignal, creditSeconds = 0): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const debt = -this.available - creditSeconds;
      if (debt < 0) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(done, Math.ceil((debt / this.options.speed) * 1000) + 1);
        function done(): void {
          signal.removeEventListener('abort', done);
          clearTimeout(timer);
          if (signal.aborted) reject(signal.reason as Error);
          else resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.options.burstSeconds, this.tokens + ((now - this.at) / 1000) * this.options.speed);
    this.at = now;
  }
}
