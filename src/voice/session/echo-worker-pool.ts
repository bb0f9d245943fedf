import type { Worker } from 'node:worker_threads';
import { spawnWorker, startSlots } from '@app/engines';
import type { EchoChannel, EchoJudges, EchoReplyFormat, EchoReport } from './echo-judges.js';

export type ToEchoWorker =
  | { type: 'open' | 'close'; id: number }
  | { type: 'start'; id: number; format: EchoReplyFormat }
  | { type: 'reply'; id: number; chunk: ArrayBuffer; at: number }
  | { type: 'mic'; id: number; seq: number; chunk: ArrayBuffer; format: string; at: number; judging: boolean };

/** The worker's answer to a batch: messages processed in all, and the verdicts made. */
export type FromEchoWorker = { type: 'ready' } | { type: 'done'; processed: number; reports: Array<{ id: number; report: EchoReport }> };

export interface EchoWorkerPoolOptions {
  threads: number;
  /**
   * Audio messages that may wait for one worker. Past it (the worker cannot keep up), a channel's
   * audio is dropped and its verdicts are 'unknown' (words decide, as with compressed reply audio)
   * until its next reply starts. Default 5000: about 2 s of 20 ms chunks from 50 sessions.
   */
  maxPendingMessages?: number;
}

interface ChannelEntry {
  onReport: (report: EchoReport) => void;
  /** Audio was dropped (overload, or the worker restarted): verdicts are 'unknown' until the next reply starts. */
  lost: boolean;
  /** Microphone frames of the latest verdict delivered: an 'unknown' one for dropped audio carries it on. */
  micFrames: number;
}

interface Slot {
  /** Undefined only until the first worker is ready. */
  worker?: Worker;
  channels: Map<number, ChannelEntry>;
  posted: number;
  processed: number;
  /**
   * Messages waiting to go, sent as one batch when this turn of the event loop ends (setImmediate):
   * one postMessage per worker and turn rather than one per chunk (bench/echo-cost.ts).
   */
  outbox: ToEchoWorker[];
  transfer: ArrayBuffer[];
}

const UNKNOWN = { verdict: 'unknown', correlation: 0, lagMs: 0, unexplained: 0 } as const;

/** A copy of exactly these bytes, to be transferred (the caller's buffer may be reused or shared). */
function copyOf(chunk: Buffer): ArrayBuffer {
  return new Uint8Array(chunk).buffer;
}

/**
 * Echo detectors in worker threads (see echo-judges.ts). A session's channel stays on the worker
 * with the fewest channels when it opened; its messages are processed in order there. A worker that
 * exits is replaced at once and its channels start over (their verdicts are 'unknown' until each
 * channel's next reply).
 */
export class EchoWorkerPool implements EchoJudges {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;
  private readonly maxPending: number;

  private constructor(options: EchoWorkerPoolOptions) {
    this.maxPending = options.maxPendingMessages ?? 5000;
  }

  static async start(options: EchoWorkerPoolOptions): Promise<EchoWorkerPool> {
    const pool = new EchoWorkerPool(options);
    const start = async (): Promise<Slot> => {
      const slot: Slot = { worker: undefined, channels: new Map(), posted: 0, processed: 0, outbox: [], transfer: [] };
      await pool.attach(slot);
      return slot;
    };
    await startSlots(pool.slots, Math.max(1, options.threads), start, () => pool.close());
    return pool;
  }

  get threads(): number {
    return this.slots.length;
  }

  /** Messages posted to the workers and not yet processed, over all workers. */
  get pendingMessages(): number {
    return this.slots.reduce((n, slot) => n + slot.posted - slot.processed, 0);
  }

  open(onReport: (report: EchoReport) => void): EchoChannel {
    const slot = this.slots.reduce((best, s) => (s.channels.size < best.channels.size ? s : best));
    const id = this.nextId++;
    const entry: ChannelEntry = { onReport, lost: false, micFrames: 0 };
    slot.channels.set(id, entry);
    const open = (): boolean => slot.channels.has(id);
    // Audio goes only while the worker keeps up.
    const takesAudio = (): boolean => {
      if (slot.posted - slot.processed >= this.maxPending) entry.lost = true;
      return open() && !entry.lost;
    };
    this.post(slot, { type: 'open', id });
    let seq = 0;
    return {
      startReply: (format) => {
        if (!open()) return;
        entry.lost = false;
        this.post(slot, { type: 'start', id, format });
      },
      addReply: (chunk, at) => {
        if (!takesAudio()) return;
        const copy = copyOf(chunk);
        this.post(slot, { type: 'reply', id, chunk: copy, at }, copy);
      },
      addMic: (chunk, format, at, judging) => {
        const n = ++seq;
        if (takesAudio()) {
          const copy = copyOf(chunk);
          this.post(slot, { type: 'mic', id, seq: n, chunk: copy, format, at, judging }, copy);
        } else if (judging && open()) {
          onReport({ ...UNKNOWN, seq: n, micFrames: entry.micFrames });
        }
        return n;
      },
      close: () => {
        if (slot.channels.delete(id)) this.post(slot, { type: 'close', id });
      },
    };
  }

  private post(slot: Slot, message: ToEchoWorker, transfer?: ArrayBuffer): void {
    slot.posted++;
    if (slot.outbox.length === 0) setImmediate(() => this.flush(slot));
    slot.outbox.push(message);
    if (transfer) slot.transfer.push(transfer);
  }

  private flush(slot: Slot): void {
    const { outbox, transfer } = slot;
    if (outbox.length === 0) return;
    slot.outbox = [];
    slot.transfer = [];
    if (!this.closing) slot.worker?.postMessage(outbox, transfer);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.splice(0).map(async (slot) => slot.worker && (await slot.worker.terminate())));
  }

  /** Starts a worker for `slot` (a new one, or one whose worker stopped: its channels start over on the new worker). */
  private attach(slot: Slot): Promise<void> {
    const worker = spawnWorker(new URL('./echo.worker.js', import.meta.url), {});
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromEchoWorker) => {
        if (message.type === 'ready') {
          ready = true;
          slot.worker = worker;
          slot.posted = 0;
          slot.processed = 0;
          slot.outbox = [];
          slot.transfer = [];
          for (const [id, entry] of slot.channels) {
            entry.lost = true;
            entry.micFrames = 0;
            this.post(slot, { type: 'open', id });
          }
          resolve();
        } else {
          slot.processed = message.processed;
          for (const { id, report } of message.reports) {
            const entry = slot.channels.get(id);
            if (!entry || entry.lost) continue;
            entry.micFrames = report.micFrames;
            entry.onReport(report);
          }
        }
      });
      worker.on('error', (error) => {
        if (!ready) reject(new Error(`the echo detector worker failed to start: ${error.message}`));
      });
      worker.on('exit', () => {
        if (!ready || this.closing || slot.worker !== worker) return;
        for (const entry of slot.channels.values()) entry.lost = true;
        void this.attach(slot).catch(() => undefined);
      });
    });
  }
}
