/**
 * Where a session's echo detector runs. The detector (echo-detector.ts, echo-spectrum.ts) costs about
 * 4-5 ms of CPU per second of a reply playing over a loud microphone (FFTs of both signals, the lag
 * search; bench/echo-cost.ts), so on the event loop 200 such sessions would take most of a core.
 * `EchoWorkerPool` (echo-worker-pool.ts) runs the detectors in worker threads and sends the verdicts
 * back; `InlineEchoJudges` runs them on the calling thread (ECHO_WORKERS=0, unit tests).
 * Both wrap the detector in the same EchoWatch, so a verdict does not depend on where it was made.
 */
import { EchoDetector, type EchoJudgement, type EnvelopeCodec } from './echo-detector.js';

export type EchoReplyFormat = { codec: EnvelopeCodec; sampleRate: number } | undefined;

/** A verdict on the microphone audio up to (and including) the `addMic` call numbered `seq`. */
export interface EchoReport extends EchoJudgement {
  seq: number;
  /** Microphone frames (10 ms) the detector had received when it judged. */
  micFrames: number;
}

/** One session's detector. Calls return at once; verdicts arrive through the `open` callback. */
export interface EchoChannel {
  /** A new turn's reply audio begins (`undefined`: a compressed format, which cannot be judged). */
  startReply(format: EchoReplyFormat): void;
  /** A reply chunk sent at `at` (performance.now() of this thread). */
  addReply(chunk: Buffer, at: number): void;
  /**
   * Microphone audio that arrived at `at`. With `judging` the detector judges it (at most every
   * JUDGE_EVERY_FRAMES new frames); without, the audio only keeps its clock and history.
   * Returns the call's sequence number, which the verdict on it carries.
   */
  addMic(chunk: Buffer, formatName: string, at: number, judging: boolean): number;
  close(): void;
}

export interface EchoJudges {
  open(onReport: (report: EchoReport) => void): EchoChannel;
}

/**
 * The echo detector judges the microphone as its audio arrives (while a reply plays or its echo may
 * still come back), at most once per this many new 10 ms frames: by the time the STT reports speech
 * (VAD progress, or ElevenLabs' first partial) the verdicts on it are already in, so the
 * interruption needs no further audio.
 */
const JUDGE_EVERY_FRAMES = 2;

/** The detector and when it judges: the part of a session's echo handling that runs wherever the detector does. */
export class EchoWatch {
  private readonly detector = new EchoDetector();
  private judgedAt = 0;

  startReply(format: EchoReplyFormat): void {
    this.detector.startReply(format);
    this.judgedAt = this.detector.micFramesSeen;
  }

  addReply(chunk: Buffer, at: number): void {
    this.detector.addReply(chunk, at);
  }

  addMic(chunk: Buffer, formatName: string, at: number, judging: boolean, seq: number): EchoReport | undefined {
    const detector = this.detector;
    detector.addMic(chunk, formatName, at);
    const frames = detector.micFramesSeen;
    if (!judging) {
      this.judgedAt = frames;
      return undefined;
    }
    if (frames - this.judgedAt < JUDGE_EVERY_FRAMES) return undefined;
    this.judgedAt = frames;
    return { ...detector.judge(), seq, micFrames: frames };
  }
}

/** A closed session's channel: takes audio and judges nothing. */
export const CLOSED_ECHO_CHANNEL: EchoChannel = { startReply: () => undefined, addReply: () => undefined, addMic: () => 0, close: () => undefined };

/** Detectors on the calling thread: each verdict is reported before `addMic` returns. */
export class InlineEchoJudges implements EchoJudges {
  open(onReport: (report: EchoReport) => void): EchoChannel {
    const watch = new EchoWatch();
    let seq = 0;
    let open = true;
    return {
      startReply: (format) => watch.startReply(format),
      addReply: (chunk, at) => watch.addReply(chunk, at),
      addMic: (chunk, formatName, at, judging) => {
        const report = open ? watch.addMic(chunk, formatName, at, judging, ++seq) : undefined;
        if (report) onReport(report);
        return seq;
      },
      close: () => {
        open = false;
      },
    };
  }
}
