import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { CLIENT_MESSAGES, ERROR_CODES, MAX_PLAYED_MS } from '@app/protocol';
import { VoiceTestClient } from '@app/testing';
import { ServiceProcess } from './utils/service-process.js';

/**
 * Hostile clients against the built service running as its own process (so its RSS is measured
 * apart from the clients): fuzzed frames, an audio flood, a client that never reads, and 1,000
 * connections at once. For each: the service's RSS stays under a bound, a concurrent text turn's
 * first audio stays within 2x its unloaded median, and the log holds none of the canary secrets.
 */
const SECRET = 'canary-ws-auth-secret-7f3a9c1e5b2d4a6f8e0c';
const SERVICE_KEY = 'canary-service-key-5d2e8b1a';
const BACKEND_KEY = 'canary-backend-key-1c4f7a';
/** Headroom over the warmed-up RSS the whole suite may use (V8 keeps heap it grew; measured peaks are printed). */
const RSS_HEADROOM_BYTES = 320 * 1024 * 1024;
const FUZZ_FRAMES = 10_000;
/** Probe turns per median: seven, so that one probe that meets the start of an attack, or a burst of other work on this shared machine, does not decide it. */
const PROBES = 7;
const MiB = 1024 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('hostile clients', { timeout: 300_000 }, () => {
  let service: ServiceProcess;
  let token: string;
  let baselineRss = 0;
  let baselineFirstAudioMs = 0;
  let probe: ProbeClient;
  const report: string[] = [];

  const connect = async (): Promise<VoiceTestClient> => {
    const client = await VoiceTestClient.connect(service.wsUrl, 15_000, { headers: { authorization: `Bearer ${token}` } });
    await client.expect('session.ready');
    return client;
  };
  const configured = async (configure: Record<string, unknown> = {}): Promise<VoiceTestClient> => {
    const client = await connect();
    client.send({ type: 'session.configure', ...configure });
    await client.nextOf('session.configured');
    return client;
  };
  const firstAudioMs = () => probe.turn();

  /**
   * Runs `attack` while sampling RSS and probing turn latency; checks both bounds.
   * `growthHint`: the RSS growth measured for this attack over the RSS just before it, printed only
   * (GC timing makes per-attack deltas swing by tens of MiB); the suite-wide bound is asserted.
   */
  const underAttack = async (name: string, growthHint: number, attack: () => Promise<void>): Promise<void> => {
    // The unloaded median is taken right before each attack: the machine's own load drifts.
    const unloaded: number[] = [];
    for (let i = 0; i < PROBES; i++) unloaded.push(await firstAudioMs());
    baselineFirstAudioMs = median(unloaded);
    const before = await service.rss();
    const sampler = service.sampleRss(100);
    const started = performance.now();
    const running = attack();
    const probes: number[] = [];
    await sleep(300);
    for (let i = 0; i < PROBES; i++) probes.push(await firstAudioMs());
    await running;
    const peak = await sampler.stop();
    const latency = median(probes);
    report.push(
      `${name}: ${Math.round(performance.now() - started)} ms; peak RSS ${(peak / MiB).toFixed(0)} MiB, +${((peak - before) / MiB).toFixed(0)} MiB over the ${(before / MiB).toFixed(0)} MiB before it (typical up to +${(growthHint / MiB).toFixed(0)}; suite bound ${((baselineRss + RSS_HEADROOM_BYTES) / MiB).toFixed(0)}); ` +
        `first audio under load ${latency.toFixed(0)} ms [${probes.map((ms) => ms.toFixed(0)).join(' ')}] (unloaded median ${baselineFirstAudioMs.toFixed(0)} [${unloaded.map((ms) => ms.toFixed(0)).join(' ')}], bound ${(2 * baselineFirstAudioMs).toFixed(0)})`,
    );
    assert.ok(peak < baselineRss + RSS_HEADROOM_BYTES, `${name}: peak RSS ${peak} over ${baselineRss + RSS_HEADROOM_BYTES}`);
    assert.ok(latency <= 2 * baselineFirstAudioMs, `${name}: first audio ${latency.toFixed(0)} ms over 2x ${baselineFirstAudioMs.toFixed(0)} ms`);
  };

  before(async () => {
    service = await ServiceProcess.start({
      LOG_LEVEL: 'log',
      WS_AUTH: 'token',
      WS_AUTH_SECRET: SECRET,
      SERVICE_API_KEY: SERVICE_KEY,
      BACKEND_API_KEY: BACKEND_KEY,
      MAX_SESSIONS: '2000',
      MAX_CONNECTIONS_PER_IP: '2000',
      MAX_CONFIGURES_PER_IP_PER_MINUTE: '5000',
      MAX_MESSAGES_PER_SECOND: '5000',
      WS_SEND_HIGH_WATER_BYTES: '65536',
      WS_SLOW_CLIENT_TIMEOUT_MS: '2000',
      // The never-reading client fills the kernel buffers at the paced 2x real time in about 30 s; the
      // heartbeat (default 25 s) would cut it first (1006) instead of the send-buffer limit under test (4008).
      WS_PING_INTERVAL_MS: '120000',
      MAX_QUEUED_TURNS: '10',
    });
    const minted = await fetch(`${service.httpUrl}/v1/voice/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ttl_seconds: 3600, sub: 'hostile-suite' }),
    });
    token = ((await minted.json()) as { token: string }).token;
    probe = await ProbeClient.start(service.wsUrl, token);
    for (let i = 0; i < 5; i++) await firstAudioMs(); // warm up workers and JIT
    baselineRss = await service.rss();
  });

  after(async () => {
    await probe?.stop();
    await service?.stop();
    console.log(`hostile-clients figures:\n  ${report.join('\n  ')}`);
    const log = service?.output ?? '';
    for (const canary of [SECRET, SERVICE_KEY, BACKEND_KEY, token]) assert.ok(!log.includes(canary), 'a canary secret reached the log');
    // JSON log lines escape the quotes around it.
    assert.match(log, /sub: \\?"hostile-suite\\?"/, 'the token principal is logged');
  });

  it(`answers ${FUZZ_FRAMES} fuzzed frames of every message type each with one documented error (or accepts it), and every session stays usable`, async () => {
    const frames = fc.sample(hostileFrame(), { numRuns: FUZZ_FRAMES, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000) });
    // Every client message type of libs/protocol is generated, and binary frames too.
    const kinds = new Set(frames.map((frame) => frame.kind));
    for (const kind of [...Object.keys(CLIENT_MESSAGES), 'binary', 'not JSON', 'not an object', 'unknown type']) assert.ok(kinds.has(kind), `the fuzz generated no ${kind} frame`);
    assert.ok(frames.some((frame) => frame.kind === 'session.configure' && frame.data.includes('"interruption"')), 'session.configure frames carry the interruption section');
    const connections = 10;
    const clients = await Promise.all(Array.from({ length: connections }, (_, index) => (index % 2 === 1 ? configured() : connect())));
    const started = performance.now();
    let accepted = 0;
    await underAttack(`fuzz (${FUZZ_FRAMES} frames over ${connections} sessions)`, 96 * MiB, async () => {
      await Promise.all(
        clients.map(async (client, index) => {
          const isConfigured = index % 2 === 1;
          const mine = frames.filter((_, i) => i % connections === index);
          // A valid frame is accepted silently by a configured session (nothing to cancel, no turn
          // played); before session.configure it is answered with not_configured like any other.
          const expected = mine.filter((frame) => !(isConfigured && frame.valid)).length;
          if (isConfigured) accepted += mine.length - expected;
          for (const frame of mine) {
            client.sendRaw(isConfigured && typeof frame.data !== 'string' ? oddLength(frame.data) : frame.data);
            if (client.socket.bufferedAmount > 256 * 1024) await sleep(5);
          }
          const countErrors = () =>
            client.events.reduce((sum, event) => {
              if (event.type !== 'error') return sum;
              assert.ok(Object.hasOwn(ERROR_CODES, event.code), `undocumented code ${event.code}`);
              assert.ok(event.message.length > 10);
              return sum + Number(/\(repeated (\d+) more times?/.exec(event.message)?.[1] ?? 1);
            }, 0);
          const deadline = Date.now() + 60_000;
          while (countErrors() < expected && Date.now() < deadline) await client.nextOf('error', { timeoutMs: 10_000 });
          // Identical errors are coalesced and counted a second later: wait past that window for any extra answer.
          await sleep(1500);
          assert.equal(countErrors(), expected, 'every refused frame answered exactly once, every accepted one not at all');
        }),
      );
    });
    report.push(`fuzz: ${FUZZ_FRAMES} frames (${accepted} valid ones accepted) sent and answered in ${Math.round(performance.now() - started)} ms`);
    // Every fuzzed session is still usable.
    await Promise.all(
      clients.map(async (client, index) => {
        if (index % 2 === 0) {
          client.send({ type: 'session.configure' });
          await client.nextOf('session.configured');
        }
        client.send({ type: 'text.prompt', text: 'still there?' });
        await client.nextOf('assistant.message', { timeoutMs: 30_000 });
        await client.close();
      }),
    );
  });

  it('survives a 64 MiB audio flood sent as fast as the socket allows', async () => {
    const client = await configured();
    let queued = 0;
    // The flood is not buffered: the server pauses reading (asserted below from what it read).
    await underAttack('64 MiB audio flood', 80 * MiB, async () => {
      const chunk = Buffer.alloc(32_000); // 1 s of 16 kHz PCM16 silence
      const deadline = Date.now() + 12_000;
      // As fast as the socket takes it, keeping at most 8 MiB queued on the client side.
      while (queued < 64 * MiB && Date.now() < deadline) {
        if (client.socket.bufferedAmount > 8 * MiB) {
          await sleep(20);
          continue;
        }
        client.socket.send(chunk);
        queued += chunk.length;
      }
    });
    const taken = queued - client.socket.bufferedAmount;
    report.push(`flood: ${(queued / MiB).toFixed(1)} MiB offered in 12 s, the server read ${(taken / MiB).toFixed(1)} MiB (kernel buffers included) and paused reading`);
    assert.ok(taken < 48 * MiB, 'the server stops reading audio that arrives far faster than real time');
    client.socket.terminate();
  });

  it("closes a client that never reads during long replies, while other sessions' first audio stays within 2x", async () => {
    // Measured +28 to +134 MiB: ten long replies synthesised at full speed until the kernel buffers
    // fill (the flite workers' WASM heaps grow for long sentences and do not shrink) plus garbage.
    // Until then the hostile session synthesises at full speed; the TTS workers are shared fairly
    // (FairScheduler: one sentence per reply in synthesis at a time, a new reply's first sentence
    // ahead of another's look-ahead), so the probe's turn never waits behind its backlog, and after a
    // 5 s burst a session's synthesis is paced to 2x real time (SynthesisPacer), so it cannot keep a
    // worker busy either.
    // Barge-in off: the next reply then starts as soon as the last one was sent, not after it
    // would have played, so the replies arrive as fast as the service makes them (the hardest case for
    // the send buffer). With barge-in on, replies come at about real time and a peer that never reads is
    // dropped by the ping heartbeat (WS_PING_INTERVAL_MS) first. The session is set up before the
    // measurement: what is measured is its replies, not its configure.
    const client = await configured({ interruption: { enabled: false } });
    await underAttack('never-reading client', 160 * MiB, async () => {
      const raw = (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause();
      const long = 'Please repeat this long sentence about the quiet harbour at dawn and the boats. '.repeat(3);
      for (let i = 0; i < 10; i++) client.send({ type: 'text.prompt', text: `${i} ${long}` });
      const deadline = Date.now() + 90_000;
      while (!service.output.includes('client stopped reading') && Date.now() < deadline) await sleep(200);
      raw.resume();
      const closed = await client.whenClosed();
      assert.equal(closed.code, 4008);
    });
  });

  it('takes 1,000 connections opened at once', async () => {
    // Measured +72 to +151 MiB: about 100 KiB per connection, recognition streams of the configured ones included.
    await underAttack('1,000 connections at once', 160 * MiB, async () => {
      const result = await runAttacker(service.wsUrl, token, 1000, 20);
      assert.equal(result.opened, 1000, 'every connection got session.ready');
      assert.equal(result.configured, 20, 'the configured ones got session.configured');
    });
  });
});

/**
 * Opens `count` connections at once from a child process at the lowest CPU priority, configures
 * `configure` of them, then closes them all. The attack runs beside the service on this 2-core
 * machine: from the test's own process, the 1,000 clients' TLS-free handshakes and JSON took the
 * CPU the service needed and the probe measured the attacker (first audio 143 and 228 ms against a
 * 2x bound of 106 and 160 ms in two of five runs). At nice 19 the attacker yields the CPU, as an
 * attacker on another machine would, and the probe measures what 1,000 handshakes cost the service
 * (pacer by batches only: 69/99, 78/128, 69/95, 83/90, 127/120 ms; without it 108/108 in CI; with the
 * main thread held to half its time while handshakes wait, ten runs beside another job: 39 to 84 %
 * of the bound).
 */
async function runAttacker(url: string, token: string, count: number, configure: number): Promise<{ opened: number; configured: number }> {
  const child = spawn(process.execPath, ['-e', ATTACKER_SOURCE, url, token, String(count), String(configure)], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.pid !== undefined) setPriority(child.pid, 19);
  let out = '';
  child.stdout.on('data', (data: Buffer) => (out += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `the attacker process failed: ${out}`);
  return JSON.parse(out) as { opened: number; configured: number };
}

const ATTACKER_SOURCE = `
const { WebSocket } = require('ws');
const [url, token, count, configure] = process.argv.slice(1);
(async () => {
  const sockets = await Promise.all(Array.from({ length: Number(count) }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: 'Bearer ' + token }, perMessageDeflate: false });
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  })));
  // Some of them configure at once too (each opens a recognition stream).
  let configured = 0;
  await Promise.all(sockets.slice(0, Number(configure)).map((ws) => new Promise((resolve) => {
    ws.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'session.configured') { configured++; resolve(); }
    });
    ws.send(JSON.stringify({ type: 'session.configure' }));
  })));
  await Promise.all(sockets.map((ws) => new Promise((resolve) => (ws.once('close', resolve), ws.close()))));
  process.stdout.write(JSON.stringify({ opened: sockets.length, configured }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * The session whose latency is measured, in a worker thread: its timings are not delayed by the
 * attack traffic this test process generates on its own event loop.
 */
class ProbeClient {
  private constructor(private readonly worker: Worker) {}

  static async start(url: string, token: string): Promise<ProbeClient> {
    const worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { url, token } });
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (message: { ready?: boolean; error?: unknown }) => (message.ready ? resolve() : reject(new Error(JSON.stringify(message)))));
    });
    return new ProbeClient(worker);
  }

  /** One text turn: ms from text.prompt to its first reply audio (the turn is read to its end). */
  turn(): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('probe turn timed out')), 30_000);
      this.worker.once('message', (message: { firstAudioMs?: number; error?: unknown }) => {
        clearTimeout(timer);
        if (message.firstAudioMs === undefined) reject(new Error(JSON.stringify(message)));
        else resolve(message.firstAudioMs);
      });
      this.worker.postMessage('turn');
    });
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { WebSocket } = require('ws');
const ws = new WebSocket(workerData.url, { headers: { authorization: 'Bearer ' + workerData.token }, perMessageDeflate: false });
let started = 0;
let first;
ws.on('message', (data) => {
  const event = JSON.parse(data.toString());
  // Barge-in off: a probe turn must not wait for the previous reply to finish playing (estimated).
  if (event.type === 'session.ready') ws.send(JSON.stringify({ type: 'session.configure', interruption: { enabled: false } }));
  else if (event.type === 'session.configured') parentPort.postMessage({ ready: true });
  else if (event.type === 'assistant.audio.chunk' && first === undefined) first = performance.now() - started;
  else if (event.type === 'assistant.audio.end') parentPort.postMessage({ firstAudioMs: first });
  else if (event.type === 'error') parentPort.postMessage({ error: event });
});
ws.on('error', (error) => parentPort.postMessage({ error: String(error) }));
parentPort.on('message', () => {
  first = undefined;
  started = performance.now();
  // Answered with one short sentence ("You are welcome."): the probe asks for turn after turn without
  // playing them, which the service paces after a burst (SynthesisPacer), but never a reply's first sentence.
  ws.send(JSON.stringify({ type: 'text.prompt', text: 'thanks' }));
});
`;

/** A binary frame made odd-length (not whole PCM16 samples), so a configured session must refuse it. */
function oddLength(frame: Buffer): Buffer {
  return frame.length % 2 === 1 ? frame : Buffer.concat([frame, Buffer.from([1])]);
}

interface FuzzFrame {
  /** The client message type, or what kind of junk the frame is. */
  kind: string;
  data: string | Buffer;
  /** A valid message a configured session accepts without answering. */
  valid: boolean;
}

/**
 * Frames for every client message type of libs/protocol (every DTO, nested sections included, each
 * field fuzzed), each with one field no DTO declares so it must be refused with exactly one error;
 * non-JSON text, JSON that is not an object, objects without a known type; binary frames of any
 * size; and valid `assistant.audio.played` / `assistant.cancel` messages, which a configured session
 * with no turn accepts silently.
 */
function hostileFrame(): fc.Arbitrary<FuzzFrame> {
  const value = fc.jsonValue({ maxDepth: 2 });
  const junkKey = fc.string({ minLength: 1, maxLength: 10 }).map((key) => `x_${key}`);
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, value);
  const backend = fc.record(
    { registration_id: maybe(fc.string()), provider: maybe(fc.string()), api_key: maybe(fc.string()), model: maybe(fc.string()), base_url: maybe(fc.webUrl()), system_prompt: maybe(fc.string()) },
    { requiredKeys: [] },
  );
  const stt = fc.record(
    {
      provider: maybe(fc.constantFrom('local', 'elevenlabs')),
      model_id: maybe(fc.string()),
      sample_rate: maybe(fc.constantFrom(8000, 16000, 24000, 48000)),
      audio_format: maybe(fc.constantFrom('pcm_16000', 'ulaw_8000')),
      language_code: maybe(fc.constantFrom('en', 'de', 'x')),
      vad_threshold: maybe(fc.double()),
      vad_silence_threshold_secs: maybe(fc.double()),
      commit_strategy: maybe(fc.constantFrom('vad', 'manual')),
      min_speech_duration_ms: maybe(fc.integer()),
      min_silence_duration_ms: maybe(fc.integer()),
      include_timestamps: maybe(fc.boolean()),
    },
    { requiredKeys: [] },
  );
  const voiceSettings = fc.record(
    { stability: maybe(fc.double()), similarity_boost: maybe(fc.double()), style: maybe(fc.double()), use_speaker_boost: maybe(fc.boolean()), speed: maybe(fc.double()) },
    { requiredKeys: [] },
  );
  const tts = fc.record(
    { provider: maybe(fc.string()), voice_id: maybe(fc.string()), model_id: maybe(fc.string()), output_format: maybe(fc.string()), voice_settings: maybe(voiceSettings) },
    { requiredKeys: [] },
  );
  const interruption = fc.record(
    { enabled: maybe(fc.boolean()), min_speech_ms: maybe(fc.integer()), min_words: maybe(fc.integer()), ignore_phrases: maybe(fc.array(maybe(fc.string()), { maxLength: 60 })) },
    { requiredKeys: [] },
  );
  const bodies: Array<[string, fc.Arbitrary<Record<string, unknown>>]> = [
    ['session.configure', fc.record({ session_id: maybe(fc.string()), backend: maybe(backend), stt: maybe(stt), tts: maybe(tts), interruption: maybe(interruption) }, { requiredKeys: [] })],
    ['audio.append', fc.record({ audio: maybe(fc.base64String()), sample_rate: value, previous_text: maybe(fc.string()) }, { requiredKeys: [] })],
    ['audio.commit', fc.constant({})],
    ['text.prompt', fc.record({ text: maybe(fc.string()) }, { requiredKeys: [] })],
    ['assistant.audio.played', fc.record({ turn_id: maybe(fc.integer()), played_ms: maybe(fc.integer()) }, { requiredKeys: [] })],
    ['assistant.cancel', fc.constant({})],
  ];
  const invalidMessage = fc.oneof(
    ...bodies.map(([type, body]) =>
      fc.tuple(body, junkKey, value).map(([fields, key, junk]): FuzzFrame => ({ kind: type, data: JSON.stringify({ type, ...fields, [key]: junk }), valid: false })),
    ),
  );
  const validMessage = fc.oneof(
    fc
      .record({ turn_id: fc.integer({ min: 1, max: 2 ** 31 - 1 }), played_ms: fc.integer({ min: 0, max: MAX_PLAYED_MS }) })
      .map((fields): FuzzFrame => ({ kind: 'assistant.audio.played', data: JSON.stringify({ type: 'assistant.audio.played', ...fields }), valid: true })),
    fc.constant<FuzzFrame>({ kind: 'assistant.cancel', data: JSON.stringify({ type: 'assistant.cancel' }), valid: true }),
  );
  const junk = (kind: string, arbitrary: fc.Arbitrary<string | Buffer>) => arbitrary.map((data): FuzzFrame => ({ kind, data, valid: false }));
  return fc.oneof(
    { weight: 12, arbitrary: invalidMessage },
    { weight: 1, arbitrary: validMessage },
    { weight: 2, arbitrary: junk('not JSON', fc.string({ maxLength: 200 }).filter((text) => !parsesToObject(text))) },
    { weight: 2, arbitrary: junk('not an object', value.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v))) },
    {
      weight: 2,
      arbitrary: junk(
        'unknown type',
        fc
          .tuple(fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 4 }), fc.oneof(fc.string({ maxLength: 16 }), value))
          .filter(([, type]) => !bodies.some(([known]) => known === type))
          .map(([object, type]) => JSON.stringify({ ...object, type })),
      ),
    },
    { weight: 2, arbitrary: junk('binary', fc.uint8Array({ maxLength: 4000 }).map((bytes) => Buffer.from(bytes))) },
  );
}

function parsesToObject(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}
