/**
 * One audio session: PCM16 16 kHz mono chunks in, turn events out.
 * Buffers arbitrary chunk sizes into model frames, scores them with a {@link FrameScorer}
 * (in-process, or a worker via `VadPool`) and feeds the probabilities to a {@link TurnSegmenter}.
 */
import { SAMPLE_RATE, type FrameScorer } from './silero-vad.js';
import { TurnSegmenter, type TurnConfig, type TurnEvent } from './turn-segmenter.js';

export type StreamTurnConfig = Partial<Omit<TurnConfig, 'frameDurationMs'>>;

export class VadStream {
  readonly segmenter: TurnSegmenter;
  private readonly partial: Float32Array;
  private partialLength = 0;
  /** Serialises scoring so frames reach the segmenter in audio order. */
  private tail: Promise<TurnEvent[]> = Promise.resolve([]);
  private ended = false;

  constructor(
    private readonly scorer: FrameScorer,
    turn: StreamTurnConfig = {},
  ) {
    this.partial = new Float32Array(scorer.frameSamples);
    this.segmenter = new TurnSegmenter({ ...turn, frameDurationMs: (scorer.frameSamples * 1000) / SAMPLE_RATE });
  }

  /**
   * Queues a chunk (any length, any boundary) and resolves with the events caused by the
   * complete frames it finished. The chunk is copied synchronously, so the caller may reuse it.
   * Calls may overlap; events still come out in audio order. A scoring failure rejects this
   * and every later call.
   */
  push(chunk: Int16Array): Promise<TurnEvent[]> {
    if (this.ended) return Promise.reject(new Error('VadStream already ended'));
    const n = this.scorer.frameSamples;
    const frameCount = Math.floor((this.partialLength + chunk.length) / n);
    if (frameCount === 0) {
      pcm16ToFloat(chunk, this.partial, this.partialLength);
      this.partialLength += chunk.length;
      return this.enqueue(() => []);
    }
    const frames = new Float32Array(frameCount * n);
    frames.set(this.partial.subarray(0, this.partialLength));
    const used = frames.length - this.partialLength;
    pcm16ToFloat(chunk.subarray(0, used), frames, this.partialLength);
    pcm16ToFloat(chunk.subarray(used), this.partial, 0);
    this.partialLength = chunk.length - used;
    return this.enqueue(async () => this.segmenter.pushAll(await this.scorer.score(frames)));
  }

  /** Manual commit: after all queued audio is scored, closes the open turn (reason 'flush'). */
  flush(): Promise<TurnEvent[]> {
    return this.enqueue(() => this.segmenter.flush());
  }

  /**
   * End of audio: scores what is queued, drops a trailing partial frame (< 1 frame),
   * commits an open turn and releases the scorer.
   */
  async end(): Promise<TurnEvent[]> {
    if (this.ended) return [];
    this.ended = true;
    try {
      return await this.flush();
    } finally {
      this.scorer.close();
    }
  }

  private enqueue(step: () => TurnEvent[] | Promise<TurnEvent[]>): Promise<TurnEvent[]> {
    this.tail = this.tail.then(step);
    return this.tail;
  }
}

/** Writes `src` as floats in [-1, 1) into `dst` starting at `offset`. */
function pcm16ToFloat(src: Int16Array, dst: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] = src[i]! / 32768;
}
