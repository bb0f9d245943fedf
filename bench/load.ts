/**
 * Load harness: how many live sessions one service process carries on the ElevenLabs path, and how
 * little the gateway adds. One command:
 *   node dist/bench/load.js [--levels 50,100,200,500,1000] [--seconds 20] [--audio json|binary]
 *     [--commit-every 5] [--prompt-every 30] [--profile-at 500] [--out bench/results] [--max-minutes 12] [--warmup-level 10] [--warmup-seconds 3] [--nice=-10]
 *     [--tts-speech silence|noise|flite] [--echo-workers N]
 * (`npm run bench:load -- --levels 50,500`). Loopback only; bounded in sessions and time.
 *
 * Processes. Four kinds, each its own OS process so none of them measures itself:
 * - the service (dist/src/main.js) with `bench/load-probe.js` preloaded, which reports its event-loop
 *   lag, forces GCs and takes CPU profiles and heap snapshots when asked over IPC (the service has
 *   no code for it; see load-probe.ts);
 * - the ElevenLabs emulator (its own main.js) with the `echo_stamped` transcriber (a partial per
 *   audio chunk, a committed transcript per commit, no recogniser; each text ends with its send
 *   time) and `silence` TTS speech (reply audio without flite), so neither is the bottleneck;
 *   `--tts-speech noise` makes the reply audio loud noise bursts instead, so the service's echo
 *   detector analyses every reply and every (loud tone) microphone chunk while a reply plays, as
 *   with real speech; `--echo-workers N` sets the service's ECHO_WORKERS (0: on the event loop);
 * - one load-generator process (bench/load-client.js) per 300 sessions, fresh for each level;
 * - this orchestrator, which samples every process's CPU and RSS from /proc once a second.
 *
 * Workload per level. Sessions open at 100/s, each sends the seed's example `session.configure`
 * (the AsyncAPI example: stt pcm_16000, VAD; tts slt pcm_24000), then streams 16 kHz PCM in real
 * time in 100 ms chunks (audio.append JSON by default; `--audio binary` sends binary frames), sends
 * `audio.commit` every `--commit-every` s (a committed transcript, which starts an assistant turn:
 * embedded chat reply, then ElevenLabs TTS from the emulator) and a `text.prompt` every
 * `--prompt-every` s. After a 3 s warm-up, `--seconds` s are measured.
 *
 * Clocks. Latency here crosses processes: the emulator stamps each text with its send time
 * (performance.timeOrigin + performance.now(), sub-ms) and the load generator subtracts it from the
 * arrival time taken the same way. The two processes' timeOrigins can disagree by a constant (and
 * drift by far less than a millisecond over a run), so a raw figure is not trusted alone: the same
 * load generator also runs, in the same run and at the same time, sessions that talk to the emulator
 * directly (10 % of the level, at least 5). Both paths share the emulator's send, the clock offset,
 * the loopback hop to the generator and the generator's own event loop; the difference between the
 * two is the gateway's hop: parse, session, re-send. "Added" figures are that difference, quantile
 * by quantile (p50 of the gateway path minus p50 of the direct one, and so on), because the two
 * paths carry different messages and cannot be paired one by one.
 *
 * Integrity. Every echo text carries its stream and sequence number, so a dropped or reordered
 * partial or committed transcript is counted per session; audio chunk indexes are checked per turn.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildAsyncApiDocument } from '@app/protocol';
import type { Command, Integrity, Samples } from './load-client.js';
import { freePort, summarize } from './lib.js';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '50,100,200,500,1000' },
    seconds: { type: 'string', default: '20' },
    audio: { type: 'string', default: 'json' },
    'commit-every': { type: 'string', default: '5' },
    'prompt-every': { type: 'string', default: '30' },
    'profile-at': { type: 'string', default: '' },
    out: { type: 'string', default: 'bench/results' },
    'max-minutes': { type: 'string', default: '12' },
    'sessions-per-client': { type: 'string', default: '300' },
    'warmup-level': { type: 'string', default: '10' },
    nice: { type: 'string', default: '' },
    'warmup-seconds': { type: 'string', default: '3' },
    'tts-speech': { type: 'string', default: 'silence' },
    'echo-workers': { type: 'string', default: '' },
  },
  strict: true,
});

const levels = args.levels.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const seconds = Number(args.seconds);
const audio = args.audio === 'binary' ? 'binary' : 'json';
const profileAt = args['profile-at'] ? Number(args['profile-at']) : undefined;
const sessionsPerClient = Number(args['sessions-per-client']);
const MAX_SESSIONS = 2000;
if (levels.length === 0 || levels.some((n) => n > MAX_SESSIONS) || !(seconds > 0 && seconds <= 120)) {
  throw new Error(`--levels must be whole numbers up to ${MAX_SESSIONS}, --seconds between 0 and 120`);
}
const WARMUP_MS = Number(args['warmup-seconds']) * 1000;
const OPENS_PER_SECOND = 100;
const deadline = Date.now() + Number(args['max-minutes']) * 60_000;
const dist = (path: string) => fileURLToPath(new URL(path, import.meta.url));
mkdirSync(args.out, { recursive: true });

/** The seed's example configure (AsyncAPI `session.configure` example), with a per-run registration. */
const asyncapi = buildAsyncApiDocument() as { components: { messages: Record<string, { examples: Array<{ payload: Record<string, unknown> }> }> } };
const configure = { ...asyncapi.components.messages['session.configure']!.examples[0]!.payload, backend: { registration_id: 'load-bench' } };

/**
 * `--nice=N` renices the service, the emulator and the load generators (N < 0 needs root): on a
 * machine shared with other jobs it measures what the service costs rather than how much CPU the
 * scheduler spares it. It takes CPU from the other jobs for the run; the table says it was used.
 */
function renice(pid: number | undefined): void {
  if (args.nice === '' || pid === undefined) return;
  execFileSync('renice', ['-n', args.nice, '-p', String(pid)], { stdio: 'ignore' });
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** utime + stime (s) and RSS (bytes) of a process, from /proc. */
function procStat(pid: number): { cpuSecs: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSecs = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSecs, rss: rssKb * 1024 };
}

/**
 * The main thread's time on a CPU and waiting for one (runnable, not running), in s, from
 * /proc/<pid>/schedstat: the wait is how much the scheduler held the event loop back, i.e. how much
 * of a latency figure is the machine's contention rather than the process's own work.
 */
function schedStat(pid: number): { runSecs: number; waitSecs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runSecs: (run ?? 0) / 1e9, waitSecs: (wait ?? 0) / 1e9 };
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${what} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// --- the emulator and the service, each its own process ---------------------------------------
const emulatorPort = await freePort();
const emulator = spawn(process.execPath, [dist('../apps/elevenlabs-emulator/src/main.js'), '--port', String(emulatorPort), '--transcriber', 'echo_stamped', '--tts-speech', args['tts-speech']], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
renice(emulator.pid);
const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
// The service starts meanwhile: it connects to the emulator only when sessions configure.
const emulatorUp = waitFor(async () => (await fetch(emulatorUrl)).status > 0, 'the emulator');

const servicePort = await freePort();
const service = spawn(process.execPath, ['--import', new URL('./load-probe.js', import.meta.url).href, dist('../src/main.js')], {
  env: {
    PATH: process.env['PATH'] ?? '',
    HOST: '127.0.0.1',
    PORT: String(servicePort),
    LOG_LEVEL: 'warn',
    ELEVENLABS_API_KEY: 'bench',
    ELEVENLABS_BASE_URL: emulatorUrl,
    STT_WORKERS: '1',
    TTS_WORKERS: '1',
    // Every load session comes from 127.0.0.1: lift the per-replica and per-address limits (defaults 1000/50/120 a minute).
    MAX_SESSIONS: String(MAX_SESSIONS + 100),
    MAX_CONNECTIONS_PER_IP: String(MAX_SESSIONS + 100),
    MAX_CONFIGURES_PER_IP_PER_MINUTE: '100000',
    ...(args['echo-workers'] !== '' ? { ECHO_WORKERS: args['echo-workers'] } : {}),
  },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
renice(service.pid);
const serviceUrl = `http://127.0.0.1:${servicePort}`;
await Promise.all([emulatorUp, waitFor(async () => (await fetch(`${serviceUrl}/health/ready`)).ok, 'the service')]);

let probeId = 0;
const probeWaiting = new Map<number, (value: unknown) => void>();
service.on('message', (message: { id: number; result?: unknown; error?: string }) => probeWaiting.get(message.id)?.(message.result ?? { error: message.error }));
function probe<T>(cmd: string, extra: Record<string, unknown> = {}): Promise<T> {
  const id = ++probeId;
  return new Promise((resolve) => {
    probeWaiting.set(id, (value) => {
      probeWaiting.delete(id);
      resolve(value as T);
    });
    service.send({ id, cmd, ...extra });
  });
}

// --- load generators ---------------------------------------------------------------------------
interface Client {
  child: ChildProcess;
  next: <T>(cmd: Command) => Promise<T>;
}

async function startClient(): Promise<Client> {
  const child = fork(dist('./load-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  renice(child.pid);
  const queue: Array<(message: unknown) => void> = [];
  child.on('message', (message) => queue.shift()?.(message));
  await new Promise((resolve) => queue.push(resolve));
  return {
    child,
    next: <T>(cmd: Command) =>
      new Promise<T>((resolve) => {
        queue.push((message) => resolve(message as T));
        child.send(cmd);
      }),
  };
}

interface LevelResult {
  sessions: number;
  direct: number;
  failedOpens: number;
  load: number[];
  addedPartial: { p50: number; p99: number; max: number };
  addedCommitted: { p50: number; p99: number; max: number };
  gateway: ReturnType<typeof summarize>;
  directPath: ReturnType<typeof summarize>;
  gatewayCommitted: ReturnType<typeof summarize>;
  directCommitted: ReturnType<typeof summarize>;
  turnFirstAudio: ReturnType<typeof summarize>;
  lag: { p50: number; p99: number; max: number };
  loadgenLagP99: number;
  noiseLagP99: number;
  /** The service's main thread: % of wall time on a CPU, and % runnable but waiting for one. */
  mainThread: { running: number; waiting: number };
  cpu: { service: number; emulator: number; loadgen: number };
  rss: { base: number; idle: number; streaming: number; peak: number };
  heap: { base: number; idle: number; streaming: number };
  integrity: Integrity;
}

const results: LevelResult[] = [];
let broke: string | undefined;

/** This process's own event-loop lag: it is nearly idle, so this is the machine's scheduling noise floor. */
const ownLag = monitorEventLoopDelay({ resolution: 10 });
ownLag.enable();

async function runLevel(sessions: number, seconds: number): Promise<LevelResult> {
  const directCount = Math.max(5, Math.ceil(sessions / 10));
  const clientCount = Math.max(1, Math.ceil((sessions + directCount) / sessionsPerClient));
  const clients = await Promise.all(Array.from({ length: clientCount }, () => startClient()));
  const heap = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
  // Snapshots first: writing one grows the RSS, which must not be charged to the sessions.
  if (sessions === profileAt) await probe('heap-snapshot', { path: `${args.out}/heap-${sessions}-before.heapsnapshot` });
  const base = await probe<NodeJS.MemoryUsage>('gc');
  const rssBase = procStat(service.pid!).rss;

  // Open: gateway and direct sessions split evenly over the generators.
  const share = (total: number, i: number) => Math.floor(total / clientCount) + (i < total % clientCount ? 1 : 0);
  const opened = await Promise.all(
    clients.map((client, i) =>
      client.next<{ opened: number; failed: number }>({
        cmd: 'open',
        serviceWsUrl: `ws://127.0.0.1:${servicePort}/v1/voice/ws`,
        emulatorWsUrl: `ws://127.0.0.1:${emulatorPort}/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000&commit_strategy=vad&language_code=en`,
        gateway: share(sessions, i),
        direct: share(directCount, i),
        firstId: 0,
        configure,
        audio,
        opensPerSecond: OPENS_PER_SECOND / clientCount,
      }),
    ),
  );
  const failedOpens = opened.reduce((sum, o) => sum + o.failed, 0);
  const idle = await probe<NodeJS.MemoryUsage>('gc');
  const rssIdle = procStat(service.pid!).rss;
  if (sessions === profileAt) await probe('heap-snapshot', { path: `${args.out}/heap-${sessions}-idle.heapsnapshot` });

  // Stream, warm up, measure.
  for (const client of clients) await client.next({ cmd: 'stream', commitEverySecs: Number(args['commit-every']), promptEverySecs: Number(args['prompt-every']) });
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  await Promise.all(clients.map((client) => client.next({ cmd: 'measure' })));
  await probe('lag-reset');
  ownLag.reset();
  if (sessions === profileAt) await probe('profile-start');
  const pids = { service: service.pid!, emulator: emulator.pid!, loadgen: clients.map((c) => c.child.pid!) };
  const cpu0 = { service: procStat(pids.service).cpuSecs, emulator: procStat(pids.emulator).cpuSecs, loadgen: pids.loadgen.map((pid) => procStat(pid).cpuSecs) };
  const sched0 = schedStat(pids.service);
  const t0 = performance.now();
  let peak = 0;
  const load: number[] = [];
  for (let s = 0; s < seconds; s++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    peak = Math.max(peak, procStat(pids.service).rss);
  }
  const wall = (performance.now() - t0) / 1000;
  const sched1 = schedStat(pids.service);
  const mainThread = { running: (100 * (sched1.runSecs - sched0.runSecs)) / wall, waiting: (100 * (sched1.waitSecs - sched0.waitSecs)) / wall };
  const cpu = {
    service: (100 * (procStat(pids.service).cpuSecs - cpu0.service)) / wall,
    emulator: (100 * (procStat(pids.emulator).cpuSecs - cpu0.emulator)) / wall,
    loadgen: (100 * pids.loadgen.reduce((sum, pid, i) => sum + procStat(pid).cpuSecs - cpu0.loadgen[i]!, 0)) / wall,
  };
  load.push(...loadavg().map((x) => Math.round(x * 100) / 100));
  const lag = await probe<{ p50: number; p99: number; max: number }>('lag');
  const noiseLagP99 = ownLag.percentile(99) / 1e6;
  if (sessions === profileAt) await probe('profile-stop', { path: `${args.out}/service-${sessions}.cpuprofile` });
  const parts = await Promise.all(clients.map((client) => client.next<{ samples: Samples }>({ cmd: 'collect' })));
  const streamingMem = await probe<NodeJS.MemoryUsage>('gc');
  const rssStreaming = procStat(service.pid!).rss;

  const stopped = await Promise.all(clients.map((client) => client.next<{ integrity: Integrity }>({ cmd: 'stop' })));
  await Promise.all(clients.map((client) => client.next({ cmd: 'close' })));
  for (const client of clients) client.child.kill();

  const merge = (pick: (s: Samples) => number[]) => parts.flatMap((p) => pick(p.samples));
  const gateway = summarize(merge((s) => s.gatewayPartial));
  const directPath = summarize(merge((s) => s.directPartial));
  const gatewayCommitted = summarize(merge((s) => s.gatewayCommitted));
  const directCommitted = summarize(merge((s) => s.directCommitted));
  const integrity = stopped.map((s) => s.integrity).reduce((a, b) => {
    const sum = { ...a };
    for (const key of Object.keys(b) as Array<keyof Integrity>) {
      if (key === 'errors') {
        sum.errors = { ...a.errors };
        for (const [code, n] of Object.entries(b.errors)) sum.errors[code] = (sum.errors[code] ?? 0) + n;
      } else sum[key] = a[key] + b[key];
    }
    return sum;
  });
  return {
    sessions,
    direct: directCount,
    failedOpens,
    load,
    addedPartial: { p50: gateway.median - directPath.median, p99: gateway.p99 - directPath.p99, max: gateway.max - directPath.max },
    addedCommitted: { p50: gatewayCommitted.median - directCommitted.median, p99: gatewayCommitted.p99 - directCommitted.p99, max: gatewayCommitted.max - directCommitted.max },
    gateway,
    directPath,
    gatewayCommitted,
    directCommitted,
    turnFirstAudio: summarize(merge((s) => s.turnFirstAudio)),
    lag,
    loadgenLagP99: Math.max(...parts.map((p) => p.samples.loadgenLagP99Ms)),
    cpu,
    rss: { base: rssBase, idle: rssIdle, streaming: rssStreaming, peak },
    heap: { base: heap(base), idle: heap(idle), streaming: heap(streamingMem) },
    integrity,
    noiseLagP99,
    mainThread,
  };
}

/** Chunks and commits sent on the gateway path that got no partial or committed transcript back. */
function dropped(i: Integrity): number {
  return i.gatewayChunksSent - i.gatewayPartials + (i.gatewayCommitsSent - i.gatewayCommitted);
}

/** Why a level counts as broken (the harness then stops climbing), or undefined. */
function breakage(r: LevelResult): string | undefined {
  if (r.failedOpens > r.sessions * 0.05) return `${r.failedOpens} sessions failed to open`;
  if (r.cpu.service > 190) return `service CPU ${r.cpu.service.toFixed(0)} % (two cores)`;
  if (r.lag.p99 > 1000) return `service event-loop lag p99 ${r.lag.p99.toFixed(0)} ms`;
  if (r.addedPartial.p99 > 2000) return `added latency p99 ${r.addedPartial.p99.toFixed(0)} ms`;
  return undefined;
}

const started = Date.now();
try {
  console.log(`load harness: levels ${levels.join(', ')}; ${seconds} s each after ${WARMUP_MS / 1000} s warm-up; audio ${audio}; commit every ${args['commit-every']} s; prompt every ${args['prompt-every']} s`);
  console.log(`machine: ${execFileSync('nproc').toString().trim()} cores, node ${process.version}; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (args.nice !== '') console.log(`service, emulator and load generators reniced to ${args.nice}`);
  // An unreported warm-up level: lazy initialisation (modules, pools, JIT) is not charged to the first level.
  if (Number(args['warmup-level']) > 0) await runLevel(Number(args['warmup-level']), 2);
  for (const sessions of levels) {
    const remaining = deadline - Date.now();
    // A level costs about: opening at 100/s, warm-up, measuring, draining and closing.
    if (remaining < (sessions / OPENS_PER_SECOND + WARMUP_MS / 1000 + seconds + 10) * 1000) {
      console.log(`stopping before ${sessions} sessions: --max-minutes ${args['max-minutes']} would be exceeded`);
      break;
    }
    const result = await runLevel(sessions, seconds);
    results.push(result);
    const i = result.integrity;
    console.log(
      `${sessions} sessions: added p50 ${result.addedPartial.p50.toFixed(2)} ms p99 ${result.addedPartial.p99.toFixed(2)} ms; service CPU ${result.cpu.service.toFixed(0)} %, lag p99 ${result.lag.p99.toFixed(1)} ms; ` +
        `partials ${i.gatewayPartials}/${i.gatewayChunksSent} (+${i.gatewayServicePartials} for service-added silence), dropped ${dropped(i)}, reordered ${i.reordered}; load ${result.load.join(' ')}`,
    );
    broke = breakage(result);
    if (broke) {
      console.log(`stopping: ${sessions} sessions broke the service (${broke})`);
      break;
    }
  }
} finally {
  service.kill('SIGTERM');
  emulator.kill('SIGTERM');
}

// --- the table ---------------------------------------------------------------------------------
const MiB = 1024 * 1024;
const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
type Row = [string, string, (r: LevelResult) => string];
const rows: Row[] = [
  ['added latency p50 (ms)', '<= 2', (r) => f(r.addedPartial.p50, 2)],
  ['added latency p99 (ms)', '<= 20', (r) => f(r.addedPartial.p99, 2)],
  ['added latency max (ms)', '', (r) => f(r.addedPartial.max, 1)],
  ['  gateway path p50/p99 (ms)', '', (r) => `${f(r.gateway.median, 2)}/${f(r.gateway.p99, 1)}`],
  ['  direct path p50/p99 (ms)', '', (r) => `${f(r.directPath.median, 2)}/${f(r.directPath.p99, 1)}`],
  ['  partials measured', '', (r) => String(r.gateway.n)],
  ['added latency, committed p50/p99', '', (r) => `${f(r.addedCommitted.p50, 2)}/${f(r.addedCommitted.p99, 1)}`],
  ['turn -> first audio p50/p95 (ms)', '', (r) => `${f(r.turnFirstAudio.median, 0)}/${f(r.turnFirstAudio.p95, 0)}`],
  ['service event-loop lag p99 (ms)', '<= 20', (r) => f(r.lag.p99, 1)],
  ['service event-loop lag max (ms)', '', (r) => f(r.lag.max, 1)],
  ['service CPU (% of one core)', '< 100 at 500', (r) => f(r.cpu.service, 0)],
  ['  CPU % per 100 sessions', 'linear', (r) => f((100 * r.cpu.service) / r.sessions, 1)],
  ['main thread on CPU / waiting for one (%)', '', (r) => `${f(r.mainThread.running, 0)}/${f(r.mainThread.waiting, 0)}`],
  ['service RSS peak (MiB)', '', (r) => f(r.rss.peak / MiB, 0)],
  ['RSS per idle configured session (KiB)', '<= 1024', (r) => f((r.rss.idle - r.rss.base) / r.sessions / 1024, 0)],
  ['RSS per streaming session (KiB)', '<= 2048', (r) => f((Math.max(r.rss.peak, r.rss.streaming) - r.rss.base) / r.sessions / 1024, 0)],
  ['heap+external per idle session (KiB)', '', (r) => f((r.heap.idle - r.heap.base) / r.sessions / 1024, 0)],
  ['heap+external per streaming session (KiB)', '', (r) => f((r.heap.streaming - r.heap.base) / r.sessions / 1024, 0)],
  // Exact: a partial counts only when it answers one of the generator's own chunks (the echo names
  // its size and checksum); partials for silence the service filled in are the row below.
  ['dropped partials+commits', '0', (r) => String(dropped(r.integrity))],
  ['  service-added silence partials', '', (r) => String(r.integrity.gatewayServicePartials)],
  ['reordered events', '0', (r) => String(r.integrity.reordered + r.integrity.audioChunkGaps)],
  ['upstream restarts / sockets closed early', '0', (r) => `${r.integrity.upstreamRestarts}/${r.integrity.closedEarly}`],
  ['turns started/completed', '', (r) => `${r.integrity.turnsStarted}/${r.integrity.turnsCompleted}`],
  ['error events', '0', (r) => Object.entries(r.integrity.errors).map(([code, n]) => `${code}:${n}`).join(',') || '0'],
  ['failed opens', '0', (r) => String(r.failedOpens)],
  ['emulator CPU / load generator CPU (%)', '', (r) => `${f(r.cpu.emulator, 0)}/${f(r.cpu.loadgen, 0)}`],
  ['load generator lag p99 (ms)', '', (r) => f(r.loadgenLagP99, 1)],
  ['idle orchestrator lag p99 (ms, noise floor)', '', (r) => f(r.noiseLagP99, 1)],
  ['load average 1/5/15 min', '', (r) => r.load.map((x) => x.toFixed(1)).join(' ')],
];
const width = 42;
const colWidth = Math.max(12, ...results.flatMap((r) => rows.map(([, , value]) => value(r).length + 2)));
console.log('');
console.log(`${'sessions'.padEnd(width)}${'goal'.padStart(14)}${results.map((r) => String(r.sessions).padStart(colWidth)).join('')}`);
for (const [label, goal, value] of rows) console.log(`${label.padEnd(width)}${goal.padStart(14)}${results.map((r) => value(r).padStart(colWidth)).join('')}`);
if (broke) console.log(`broke: ${broke}`);
const file = `${args.out}/load-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`;
writeFileSync(file, JSON.stringify({ args, levels: results, broke, seconds: (Date.now() - started) / 1000 }, null, 2));
console.log(`results: ${file}`);
