import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { FliteSynthesizer } from '@app/engines';
import { InlineEchoJudges, type EchoJudges, type EchoReport } from './echo-judges.js';
import { EchoWorkerPool } from './echo-worker-pool.js';

const RATE = 16000;
const CHUNK = 640; // 20 ms of PCM16

/** The reply (sent at once), then the microphone in 20 ms chunks: its echo 100 ms late, and a user from `userAtMs`. */
function feed(judges: EchoJudges, reply: Buffer, user: Buffer, userAtMs: number): { reports: EchoReport[]; seqs: number[] } {
  const reports: EchoReport[] = [];
  const channel = judges.open((report) => reports.push(report));
  channel.startReply({ codec: 'pcm', sampleRate: RATE });
  for (let i = 0; i < reply.length; i += 3200) channel.addReply(reply.subarray(i, i + 3200), 0);
  const seqs: number[] = [];
  const delay = (100 * RATE * 2) / 1000;
  const userAt = (userAtMs * RATE * 2) / 1000;
  for (let i = 0; i + CHUNK <= reply.length + delay; i += CHUNK) {
    const mic = Buffer.alloc(CHUNK);
    for (let j = 0; j < CHUNK; j += 2) {
      const at = i + j;
      const echo = at >= delay && at - delay < reply.length ? reply.readInt16LE(at - delay) : 0;
      const voice = at >= userAt && at - userAt < user.length ? user.readInt16LE(at - userAt) : 0;
      mic.writeInt16LE(Math.max(-32768, Math.min(32767, echo + voice)), j);
    }
    seqs.push(channel.addMic(mic, 'pcm_16000', ((i + CHUNK) / (RATE * 2)) * 1000, true));
  }
  return { reports, seqs };
}

async function settle(pool: EchoWorkerPool): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (pool.pendingMessages > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('EchoWorkerPool', () => {
  const flite = new FliteSynthesizer({ threads: 1 });
  let reply: Buffer;
  let user: Buffer;
  before(async () => {
    reply = Buffer.from((await flite.synthesize({ text: 'Pack a warm jacket, because the wind off the sea gets cold after sunset.', voice: 'slt', sampleRate: RATE, speed: 1 })).pcm);
    user = Buffer.from((await flite.synthesize({ text: 'wait, what time does the ferry leave', voice: 'awb', sampleRate: RATE, speed: 1 })).pcm);
  });
  after(() => flite.close());

  it('reports the same verdicts from its worker thread as the detector gives on the calling thread', async () => {
    const inline = feed(new InlineEchoJudges(), reply, user, 1500);
    const pool = await EchoWorkerPool.start({ threads: 2 });
    try {
      const worker = feed(pool, reply, user, 1500);
      await settle(pool);
      assert.ok(inline.reports.length > 50, `inline judged ${inline.reports.length} times`);
      // The echo alone, then the user over it: both verdicts occur, so the comparison means something.
      const verdicts = new Set(inline.reports.map((r) => r.verdict));
      assert.ok(verdicts.has('echo') && verdicts.has('user'), `verdicts ${[...verdicts].join(',')}`);
      assert.deepEqual(worker.seqs, inline.seqs);
      assert.deepEqual(worker.reports, inline.reports);
    } finally {
      await pool.close();
    }
  });

  it('bounds the messages waiting for a worker: past the limit a channel drops audio and judges "unknown" until its next reply', async () => {
    const pool = await EchoWorkerPool.start({ threads: 1, maxPendingMessages: 20 });
    try {
      let most = 0;
      const reports: EchoReport[] = [];
      const channel = pool.open((report) => reports.push(report));
      channel.startReply({ codec: 'pcm', sampleRate: RATE });
      channel.addReply(reply.subarray(0, 32000), 0);
      // 10 chunks at a pace the worker keeps up with: real verdicts.
      for (let i = 0; i < 10; i++) channel.addMic(reply.subarray(i * CHUNK, (i + 1) * CHUNK), 'pcm_16000', i * 20, true);
      await settle(pool);
      const judged = reports.length;
      const lastFrames = reports.at(-1)?.micFrames ?? 0;
      assert.ok(judged >= 4 && lastFrames > 0, `${judged} verdicts, last at frame ${lastFrames}`);
      // 100 chunks in one synchronous burst: the worker cannot have processed any of them yet.
      for (let i = 10; i < 110; i++) {
        channel.addMic(reply.subarray(i * CHUNK, (i + 1) * CHUNK), 'pcm_16000', i * 20, true);
        most = Math.max(most, pool.pendingMessages);
      }
      assert.equal(most, 20);
      const unknown = reports.slice(judged);
      assert.ok(unknown.length >= 80 && unknown.every((r) => r.verdict === 'unknown'), `${unknown.length} "unknown" verdicts for the dropped chunks`);
      // The frame count does not go back (the session times "the user was heard" by it).
      assert.ok(unknown.every((r) => r.micFrames === lastFrames), `dropped chunks' verdicts at frames ${[...new Set(unknown.map((r) => r.micFrames))].join(',')}`);
      await settle(pool);
      // Verdicts on audio posted before the drop are not delivered once the channel lost audio.
      assert.equal(reports.length, judged + unknown.length);
      // The next reply starts over: real verdicts again.
      const before = reports.length;
      channel.startReply({ codec: 'pcm', sampleRate: RATE });
      channel.addReply(reply, 3000);
      for (let i = 0; i < 60; i++) {
        channel.addMic(Buffer.alloc(CHUNK), 'pcm_16000', 3000 + i * 20, true);
        if (i % 10 === 9) await settle(pool);
      }
      await settle(pool);
      assert.ok(reports.slice(before).some((r) => r.verdict !== 'unknown' && r.micFrames > lastFrames), 'judged again after the next reply started');
    } finally {
      await pool.close();
    }
  });

  it('replaces a worker that stops; its channels judge again from their next reply', async () => {
    const pool = await EchoWorkerPool.start({ threads: 1 });
    try {
      const reports: EchoReport[] = [];
      const channel = pool.open((report) => reports.push(report));
      const old = (pool as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker;
      await old.terminate();
      const deadline = Date.now() + 10_000;
      while ((pool as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker === old && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.notEqual((pool as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker, old, 'a new worker took the slot');
      channel.addMic(Buffer.alloc(CHUNK), 'pcm_16000', 0, true);
      assert.equal(reports.at(-1)?.verdict, 'unknown', 'no verdict from a detector that lost its state');
      const before = reports.length;
      channel.startReply({ codec: 'pcm', sampleRate: RATE });
      channel.addReply(reply, 100);
      for (let i = 0; i < 40; i++) channel.addMic(reply.subarray(i * CHUNK, (i + 1) * CHUNK), 'pcm_16000', 200 + i * 20, true);
      await settle(pool);
      assert.ok(reports.length > before + 10, `${reports.length - before} verdicts after the restart`);
      assert.ok(reports.slice(before).some((r) => r.micFrames > 0));
    } finally {
      await pool.close();
    }
  });
});
