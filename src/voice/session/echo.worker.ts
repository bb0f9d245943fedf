/**
 * Worker thread of the echo detectors (echo-worker-pool.ts): one EchoWatch per session channel. It
 * takes the pool's messages in batches and answers each turn of its event loop with the verdicts
 * made and how many messages it has processed (the pool's bound on what may wait here).
 */
import { parentPort } from 'node:worker_threads';
import type { EchoReport } from './echo-judges.js';
import { EchoWatch } from './echo-judges.js';
import type { FromEchoWorker, ToEchoWorker } from './echo-worker-pool.js';

const port = parentPort!;
const post = (message: FromEchoWorker): void => port.postMessage(message);
const channels = new Map<number, EchoWatch>();
let processed = 0;
let reports: Array<{ id: number; report: EchoReport }> = [];
let answering = false;

function handle(message: ToEchoWorker): void {
  switch (message.type) {
    case 'open':
      channels.set(message.id, new EchoWatch());
      return;
    case 'close':
      channels.delete(message.id);
      return;
    case 'start':
      channels.get(message.id)?.startReply(message.format);
      return;
    case 'reply':
      channels.get(message.id)?.addReply(Buffer.from(message.chunk), message.at);
      return;
    case 'mic': {
      const report = channels.get(message.id)?.addMic(Buffer.from(message.chunk), message.format, message.at, message.judging, message.seq);
      if (report) reports.push({ id: message.id, report });
      return;
    }
  }
}

port.on('message', (batch: ToEchoWorker[]) => {
  for (const message of batch) handle(message);
  processed += batch.length;
  if (answering) return;
  answering = true;
  setImmediate(() => {
    answering = false;
    post({ type: 'done', processed, reports });
    reports = [];
  });
});
post({ type: 'ready' });
