/**
 * Load levels of the embedded engines (Silero VAD + PocketSphinx recognition, flite speech, the
 * in-process chat responder): how much two cores carry. One command:
 *   npm run bench:load-embedded [-- --speakers 2,4,6,8,10,12,14,16 --rounds 2 --silent 50,100,150,200
 *     --silent-seconds 30 --prompts 20 --prompt-rounds 3 --fast-speakers 4 --window 1.5 --max-minutes 12]
 *   npm run bench:load-embedded -- --smoke      (a few sessions, about a minute: the harness's test)
 *   --only a,f,b,c picks the sections below (default all).
 *
 * Processes: the service (dist/src/main.js, embedded engines, default worker counts, with
 * bench/load-probe.js preloaded for its event-loop lag), one load generator
 * (bench/load-embedded-client.js, fresh per level) and this orchestrator, which samples the
 * service's CPU (all threads, and the main thread apart) and RSS from /proc every second.
 *
 * Levels:
 * (a) speakers: N sessions speak at the same moment (real speech, test/fixtures/speech; each round
 *     every clip's speech ends at the same instant), real time, 100 ms chunks, commit_strategy vad.
 *     Passes while p95 of (end of speech -> transcript.committed - silence window) <= 300 ms, with
 *     every utterance committed and no error. Climbs until a level fails.
 * (f) fairness: `--fast-speakers` speakers alone, then the same with one more session uploading
 *     speech as fast as the service allows (50 s burst, then 6x real time), opened first: the
 *     others' commit latency with and without it.
 * (b) mostly silent: N sessions streaming a quiet room (about -60 dBFS noise), each speaking 10 % of
 *     the time (phases spread, so about N/10 speak at any moment). Same criterion; climbs.
 * (c) prompts: `--prompts` sessions send text.prompt at the same moment, `--prompt-rounds` times;
 *     text.prompt -> first assistant.audio.chunk, goal p95 <= 400 ms.
 * Every figure is printed with the load average at the time: on a shared machine it says how much
 * of the two cores the service had.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { EmbeddedCommand, PromptResult, SpeechResult } from './load-embedded-client.js';
import { freePort, summarize } from './lib.js';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string', default: 'a,f,b,c' },
    speakers: { type: 'string' },
    rounds: { type: 'string' },
    'fast-speakers': { type: 'string' },
    silent: { type: 'string' },
    'silent-seconds': { type: 'string' },
    'speaking-share': { type: 'string', default: '0.1' },
    prompts: { type: 'string' },
    'prompt-rounds': { type: 'string' },
    window: { type: 'string', default: '1.5' },
    'stt-workers': { type: 'string', default: '' },
    'tts-workers': { type: 'string', default: '' },
    'max-minutes': { type: 'string', default: '12' },
    out: { type: 'string', default: 'bench/results' },
  },
  strict: true,
});

const smoke = args.smoke;
/** Sections to run: a (speakers), f (fast uploader), b (mostly silent), c (prompts). */
const only = new Set(args.only.split(','));
const list = (value: string | undefined, fallback: string) => (value ?? fallback).split(',').filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
const speakerLevels = list(args.speakers, smoke ? '2' : '2,4,6,8,10,12,14,16');
const rounds = Number(args.rounds ?? (smoke ? 1 : 2));
const fastSpeakers = Number(args['fast-speakers'] ?? (smoke ? 1 : 4));
const silentLevels = list(args.silent, smoke ? '4' : '50,100,150,200');
const silentSeconds = Number(args['silent-seconds'] ?? (smoke ? 8 : 30));
const speakingShare = smoke ? 0.3 : Number(args['speaking-share']);
const promptSessions = Number(args.prompts ?? (smoke ? 2 : 20));
const promptRounds = Number(args['prompt-rounds'] ?? (smoke ? 1 : 3));
const windowSecs = Number(args.window);
const MAX_SESSIONS = 1000;
if ([...speakerLevels, ...silentLevels, promptSessions].some((n) => n > MAX_SESSIONS) || !(rounds >= 1 && rounds <= 10) || !(silentSeconds > 0 && silentSeconds <= 300) || !(windowSecs >= 0.3 && windowSecs <= 3)) {
  throw new Error(`levels up to ${MAX_SESSIONS} sessions, --rounds 1..10, --silent-seconds up to 300, --window 0.3..3`);
}
const COMMIT_GOAL_MS = 300;
const FIRST_AUDIO_GOAL_MS = 400;
const deadline = Date.now() + Number(args['max-minutes']) * 60_000;
const dist = (path: string) => fileURLToPath(new URL(path, import.meta.url));
mkdirSync(args.out, { recursive: true });

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
function cpuSecs(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}
const load = () => loadavg().map((x) => Math.round(x * 10) / 10);

// --- the service -------------------------------------------------------------------------------
const port = await freePort();
const service = spawn(process.execPath, ['--import', new URL('./load-probe.js', import.meta.url).href, dist('../src/main.js')], {
  env: {
    PATH: process.env['PATH'] ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    ...(args['stt-workers'] ? { STT_WORKERS: args['stt-workers'] } : {}),
    ...(args['tts-workers'] ? { TTS_WORKERS: args['tts-workers'] } : {}),
    // Every session comes from 127.0.0.1: lift the per-address limits.
    MAX_SESSIONS: String(MAX_SESSIONS + 100),
    MAX_CONNECTIONS_PER_IP: String(MAX_SESSIONS + 100),
    MAX_CONFIGURES_PER_IP_PER_MINUTE: '100000',
  },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const wsUrl = `ws://127.0.0.1:${port}/v1/voice/ws`;
{
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > until || service.exitCode !== null) throw new Error('the service did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const pid = service.pid!;
let probeId = 0;
const probeWaiting = new Map<number, (value: unknown) => void>();
service.on('message', (message: { id: number; result?: unknown }) => probeWaiting.get(message.id)?.(message.result));
function probe<T>(cmd: string): Promise<T> {
  const id = ++probeId;
  return new Promise((resolve) => {
    probeWaiting.set(id, (value) => {
      probeWaiting.delete(id);
      resolve(value as T);
    });
    service.send({ id, cmd });
  });
}

/** Runs one command in a fresh load-generator process while sampling the service from /proc. */
interface Usage {
  cpu: number;
  mainCpu: number;
  rssPeak: number;
  lagP99: number;
  load: number[];
  wallSecs: number;
}
async function run<T>(command: EmbeddedCommand): Promise<{ result: T; usage: Usage }> {
  const child: ChildProcess = fork(dist('./load-embedded-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: Array<(message: unknown) => void> = [];
  child.on('message', (message) => replies.shift()?.(message));
  await new Promise((resolve) => replies.push(resolve));
  await probe('lag-reset');
  const t0 = performance.now();
  const cpu0 = cpuSecs(`/proc/${pid}/stat`);
  const main0 = cpuSecs(`/proc/${pid}/task/${pid}/stat`);
  let rssPeak = rssBytes(pid);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), 1000);
  const reply = await new Promise<{ ok: boolean; result?: T; error?: string }>((resolve) => {
    replies.push((message) => resolve(message as { ok: boolean; result?: T; error?: string }));
    child.send(command);
  });
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  const usage: Usage = {
    cpu: (100 * (cpuSecs(`/proc/${pid}/stat`) - cpu0)) / wall,
    mainCpu: (100 * (cpuSecs(`/proc/${pid}/task/${pid}/stat`) - main0)) / wall,
    rssPeak: Math.max(rssPeak, rssBytes(pid)),
    lagP99: (await probe<{ p99: number }>('lag')).p99,
    load: load(),
    wallSecs: wall,
  };
  child.kill();
  if (!reply.ok || !reply.result) throw new Error(`load generator: ${reply.error ?? 'no result'}`);
  return { result: reply.result, usage };
}

// --- levels ------------------------------------------------------------------------------------
interface SpeechLevel {
  sessions: number;
  result: SpeechResult;
  usage: Usage;
  stats: ReturnType<typeof summarize>;
  pass: boolean;
  why?: string;
}
const speechLevel = (sessions: number, result: SpeechResult, usage: Usage): SpeechLevel => {
  const stats = summarize(result.commitMs);
  const errors = Object.entries(result.errors).map(([code, n]) => `${code}:${n}`).join(',');
  const why =
    result.failedOpens > 0 ? `${result.failedOpens} sessions failed to open`
    : result.commitMs.length < result.utterances ? `${result.utterances - result.commitMs.length} of ${result.utterances} utterances got no committed transcript`
    : errors ? `errors ${errors}`
    : !(stats.p95 <= COMMIT_GOAL_MS) ? `commit p95 ${stats.p95.toFixed(0)} ms > ${COMMIT_GOAL_MS} ms`
    : undefined;
  return { sessions, result, usage, stats, pass: why === undefined, ...(why ? { why } : {}) };
};
const f = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
const MiB = 1024 * 1024;
function describe(level: SpeechLevel): string {
  const { stats, result, usage } = level;
  return (
    `commit beyond window p50 ${f(stats.median)} / p95 ${f(stats.p95)} / max ${f(stats.max)} ms (n=${stats.n}/${result.utterances}), ` +
    `WER ${f(mean(result.wer), 2)}, splits ${result.splits}, speaking at once max ${result.concurrentMax} mean ${f(result.concurrentMean, 1)}; ` +
    `service CPU ${f(usage.cpu)} % (main ${f(usage.mainCpu)} %), RSS peak ${f(usage.rssPeak / MiB)} MiB, lag p99 ${f(usage.lagP99, 1)} ms; load ${usage.load.join(' ')}` +
    (level.pass ? '' : `  FAIL: ${level.why}`)
  );
}
const timeLeft = (secs: number) => Date.now() + secs * 1000 < deadline;

console.log(`embedded-engine load levels${smoke ? ' (smoke)' : ''}: speakers ${speakerLevels.join(',')} x ${rounds} rounds; fairness ${fastSpeakers} speakers +/- one fast uploader; ` +
  `${Math.round(speakingShare * 100)} %-speaking sessions ${silentLevels.join(',')} for ${silentSeconds} s; ${promptSessions} prompts x ${promptRounds}; silence window ${windowSecs} s`);
console.log(`machine: ${execFileSync('nproc').toString().trim()} cores, node ${process.version}; load average at start ${load().join(' ')}`);

const speakers: SpeechLevel[] = [];
const fairness: SpeechLevel[] = [];
const silent: SpeechLevel[] = [];
let prompts: { result: PromptResult; usage: Usage; stats: ReturnType<typeof summarize> } | undefined;
const started = Date.now();
try {
  // Unreported warm-up: workers' first decoders, JIT, the responder and flite.
  await run<SpeechResult>({ cmd: 'speakers', wsUrl, sessions: 2, rounds: 1, windowSecs, fastUploader: false });

  console.log(`\n(a) sessions speaking at the same moment (goal: >= 8 with commit p95 <= ${COMMIT_GOAL_MS} ms beyond the window)`);
  for (const n of only.has('a') ? speakerLevels : []) {
    if (!timeLeft(rounds * 14 + 10)) {
      console.log(`  stopping before ${n}: --max-minutes`);
      break;
    }
    const { result, usage } = await run<SpeechResult>({ cmd: 'speakers', wsUrl, sessions: n, rounds, windowSecs, fastUploader: false });
    const level = speechLevel(n, result, usage);
    speakers.push(level);
    console.log(`  ${String(n).padStart(3)} speakers: ${describe(level)}`);
    if (!level.pass) break;
  }

  console.log(`\n(f) one fast uploader beside ${fastSpeakers} real-time speakers (its audio: 50 s burst, then 6x real time)`);
  for (const fastUploader of only.has('f') ? [false, true] : []) {
    if (!timeLeft(rounds * 14 + 15)) break;
    const { result, usage } = await run<SpeechResult>({ cmd: 'speakers', wsUrl, sessions: fastSpeakers, rounds, windowSecs, fastUploader });
    const level = speechLevel(fastSpeakers, result, usage);
    fairness.push(level);
    const fastErrors = Object.entries(result.fastErrors ?? {}).map(([code, n]) => `${code}:${n}`).join(',') || 'none';
    const fast = fastUploader ? ` [the uploader sent ${f(result.fastUploadedSecs ?? 0)} s of audio in ${f(result.fastSecs ?? 0)} s; its errors: ${fastErrors}]` : '';
    console.log(`  ${fastUploader ? 'with   ' : 'without'} the uploader: ${describe(level)}${fast}`);
  }

  console.log(`\n(b) mostly silent sessions, ${Math.round(speakingShare * 100)} % speaking (goal: >= 100 with commit p95 <= ${COMMIT_GOAL_MS} ms beyond the window)`);
  for (const n of only.has('b') ? silentLevels : []) {
    if (!timeLeft(silentSeconds + 5 + n / 50 + 15)) {
      console.log(`  stopping before ${n}: --max-minutes`);
      break;
    }
    const { result, usage } = await run<SpeechResult>({ cmd: 'silent', wsUrl, sessions: n, speakingShare, warmupSecs: 5, seconds: silentSeconds, windowSecs });
    const level = speechLevel(n, result, usage);
    silent.push(level);
    console.log(`  ${String(n).padStart(4)} sessions: ${describe(level)}`);
    if (!level.pass) break;
  }

  console.log(`\n(c) ${promptSessions} text prompts at the same moment on the embedded TTS (goal: first audio p95 <= ${FIRST_AUDIO_GOAL_MS} ms)`);
  if (only.has('c')) {
    const { result, usage } = await run<PromptResult>({ cmd: 'prompts', wsUrl, sessions: promptSessions, rounds: promptRounds });
    const stats = summarize(result.firstAudioMs);
    prompts = { result, usage, stats };
    console.log(
      `  text.prompt -> first audio p50 ${f(stats.median)} / p95 ${f(stats.p95)} / max ${f(stats.max)} ms (n=${stats.n}/${result.prompts}, ${result.completed} completed); ` +
        `service CPU ${f(usage.cpu)} %, RSS peak ${f(usage.rssPeak / MiB)} MiB; load ${usage.load.join(' ')}`,
    );
  }
} finally {
  service.kill('SIGTERM');
}

// --- summary -----------------------------------------------------------------------------------
const lastPass = (levels: SpeechLevel[]) => levels.filter((l) => l.pass).at(-1);
const bestSpeakers = lastPass(speakers);
const bestSilent = lastPass(silent);
const [alone, beside] = fairness;
const row = (label: string, goal: string, value: string, loadAvg?: number[]) => console.log(`${label.padEnd(54)}${goal.padStart(16)}${value.padStart(26)}${loadAvg ? `   load ${loadAvg.join(' ')}` : ''}`);
console.log('');
row('figure', 'goal', 'measured');
row('speakers at the same moment (commit p95 <= 300 ms)', '>= 8', bestSpeakers ? `${bestSpeakers.sessions}${speakers.at(-1)?.pass ? ' (highest level run)' : ''}` : 'none', bestSpeakers?.usage.load);
if (bestSpeakers) row('  commit beyond window p50/p95 (ms) there', '<= 300 p95', `${f(bestSpeakers.stats.median)}/${f(bestSpeakers.stats.p95)}`, bestSpeakers.usage.load);
row('sessions at 10 % speaking (commit p95 <= 300 ms)', '>= 100', bestSilent ? `${bestSilent.sessions}${silent.at(-1)?.pass ? ' (highest level run)' : ''}` : 'none', bestSilent?.usage.load);
if (bestSilent) row('  commit p50/p95 (ms); service CPU %; RSS MiB there', '', `${f(bestSilent.stats.median)}/${f(bestSilent.stats.p95)}; ${f(bestSilent.usage.cpu)}; ${f(bestSilent.usage.rssPeak / MiB)}`, bestSilent.usage.load);
if (alone && beside) {
  row(`fairness: ${fastSpeakers} speakers' commit p50/p95 alone (ms)`, '', `${f(alone.stats.median)}/${f(alone.stats.p95)}`, alone.usage.load);
  row(`  with one fast uploader beside them (ms)`, 'no worse', `${f(beside.stats.median)}/${f(beside.stats.p95)}`, beside.usage.load);
}
if (prompts) row(`${promptSessions} concurrent prompts: first audio p50/p95 (ms)`, '<= 400 p95', `${f(prompts.stats.median)}/${f(prompts.stats.p95)}`, prompts.usage.load);
const file = `${args.out}/load-embedded-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`;
writeFileSync(file, JSON.stringify({ args, speakers, fairness, silent, prompts, seconds: (Date.now() - started) / 1000 }, null, 2));
console.log(`results: ${file} (${Math.round((Date.now() - started) / 1000)} s)`);
