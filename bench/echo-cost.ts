/**
 * What a session's echo detector costs the service's main thread per second of a reply playing over
 * a loud microphone (its echo), with the detector on the event loop (ECHO_WORKERS=0) and in a worker
 * (EchoWorkerPool, the default): `node dist/bench/echo-cost.js [sessions=40] [chunkMs=20]`.
 *
 * `sessions` channels each get a flite reply (4 voices, the ECHO_REPLIES texts, pcm_16000, sent in
 * 160 ms chunks as the service sends them) and its echo 100 ms late in `chunkMs` microphone chunks,
 * all channels interleaved chunk by chunk as fast as they go (the detector's work does not depend on
 * the pace). CPU is read from /proc for this process's main thread alone, so the worker's time is
 * not counted against the main thread; the worker's is printed beside it. Goal: the main thread pays
 * at most a tenth of what it pays with the detector inline. The service's figure, with its sockets,
 * is the load bench's `--tts-speech noise --echo-workers 0|1` (README "Load").
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { InlineEchoJudges, type EchoJudges } from '../src/voice/session/echo-judges.js';
import { EchoWorkerPool } from '../src/voice/session/echo-worker-pool.js';
import { echoedMic, echoProbeTracks } from './echo-fixtures.js';

const sessions = Number(process.argv[2] ?? 40);
const chunkMs = Number(process.argv[3] ?? 20);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds of one thread of this process (utime + stime from /proc). */
function threadCpu(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function allThreadsCpu(): number {
  return readdirSync('/proc/self/task').reduce((sum, tid) => sum + threadCpu(Number(tid)), 0);
}

function toPcm(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]!))), i * 2);
  return out;
}

const { replies } = await echoProbeTracks(4);
const tracks = replies.map((reply) => ({ reply: toPcm(reply), mic: toPcm(echoedMic(reply, undefined, 100)) }));
const audioSeconds = Array.from({ length: sessions }, (_, i) => tracks[i % tracks.length]!.mic.length / 32000).reduce((a, b) => a + b, 0);

async function run(judges: EchoJudges, settle: () => Promise<void>): Promise<{ main: number; all: number; verdicts: number }> {
  const main = process.pid;
  const main0 = threadCpu(main);
  const all0 = allThreadsCpu();
  let verdicts = 0;
  const channels = Array.from({ length: sessions }, (_, i) => {
    const track = tracks[i % tracks.length]!;
    const channel = judges.open(() => verdicts++);
    channel.startReply({ codec: 'pcm', sampleRate: 16000 });
    for (let o = 0; o < track.reply.length; o += 5120) channel.addReply(track.reply.subarray(o, o + 5120), 0);
    return { channel, track };
  });
  const step = (chunkMs / 1000) * 32000;
  const longest = Math.max(...tracks.map((t) => t.mic.length));
  for (let o = 0; o < longest; o += step) {
    for (const { channel, track } of channels) {
      if (o < track.mic.length) channel.addMic(track.mic.subarray(o, o + step), 'pcm_16000', (o / 32000) * 1000, true);
    }
    // Let the worker's answers in now and then, as the event loop would.
    if ((o / step) % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
  }
  await settle();
  for (const { channel } of channels) channel.close();
  return { main: threadCpu(main) - main0, all: allThreadsCpu() - all0, verdicts };
}

const inline = await run(new InlineEchoJudges(), async () => undefined);
const pool = await EchoWorkerPool.start({ threads: 1, maxPendingMessages: 1_000_000 });
const worker = await run(pool, async () => {
  while (pool.pendingMessages > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 50));
});
await pool.close();

const perSecond = (cpu: number) => ((cpu * 1000) / audioSeconds).toFixed(2);
console.log(`${sessions} sessions, ${audioSeconds.toFixed(1)} s of echoed reply audio, ${chunkMs} ms microphone chunks`);
console.log(`detector on the event loop: main thread ${perSecond(inline.main)} ms CPU per session-second (${inline.verdicts} verdicts)`);
console.log(`detector in a worker:       main thread ${perSecond(worker.main)} ms, all threads ${perSecond(worker.all)} ms per session-second (${worker.verdicts} verdicts)`);
const ratio = worker.main / inline.main;
console.log(`main thread, worker / inline: ${ratio.toFixed(3)} (goal <= 0.1) ${ratio <= 0.1 ? 'PASS' : 'FAIL'}`);
