/**
 * One load-generator process of `bench/load.ts` (forked by it; talks to it over IPC). It opens
 * voice sessions on the service and, for the no-gateway baseline, realtime STT sockets straight to
 * the ElevenLabs emulator; streams 16 kHz PCM in real time in 100 ms chunks on both; commits every
 * few seconds and sends a text prompt now and then on the service sessions; and records, per
 * message, the time from the emulator's send (the ` @<epoch ms>` stamp the `echo_stamped`
 * transcriber puts at the end of every text) to its arrival here.
 *
 * It only stamps and counts: no protocol validation (the contract is tested elsewhere), and one
 * shared 10 ms ticker drives every socket's chunks, so its own cost stays small; its event-loop lag
 * is reported with the results so an overloaded generator is visible.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { closeSocket } from './lib.js';

export interface OpenCommand {
  cmd: 'open';
  serviceWsUrl: string;
  emulatorWsUrl: string;
  gateway: number;
  direct: number;
  /** First session number of this process (session ids are global across processes). */
  firstId: number;
  configure: Record<string, unknown>;
  audio: 'json' | 'binary';
  opensPerSecond: number;
}
export interface StreamCommand {
  cmd: 'stream';
  commitEverySecs: number;
  promptEverySecs: number;
}
export type Command = OpenCommand | StreamCommand | { cmd: 'measure' } | { cmd: 'collect' } | { cmd: 'stop' } | { cmd: 'close' };

/** Latency samples (ms) of one measurement window. */
export interface Samples {
  gatewayPartial: number[];
  gatewayCommitted: number[];
  directPartial: number[];
  directCommitted: number[];
  /** transcript.committed received or text.prompt sent -> first assistant.audio.chunk. */
  turnFirstAudio: number[];
  loadgenLagP99Ms: number;
}

/** Whole-streaming-period integrity counters (they must show nothing lost or out of order). */
export interface Integrity {
  gatewayChunksSent: number;
  /** Partials answering this generator's own chunks (the echo names each chunk's size and checksum). */
  gatewayPartials: number;
  /**
   * Partials answering audio the service added on its own: silence filled in when a speaker's audio
   * stops (VAD commits; at the end of a level), keep-alive silence. Not counted against drops.
   */
  gatewayServicePartials: number;
  gatewayCommitsSent: number;
  gatewayCommitted: number;
  directChunksSent: number;
  directPartials: number;
  reordered: number;
  upstreamRestarts: number;
  turnsStarted: number;
  turnsCompleted: number;
  audioChunks: number;
  audioChunkGaps: number;
  errors: Record<string, number>;
  closedEarly: number;
}

const CHUNK_MS = 100;
const RATE = 16000;

/** 100 ms of a 220 Hz tone at about -20 dBFS: loud enough to count as speech-like upstream. */
function toneChunk(): Buffer {
  const samples = (RATE * CHUNK_MS) / 1000;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(3200 * Math.sin((2 * Math.PI * 220 * i) / RATE)), i * 2);
  return pcm;
}
const PCM = toneChunk();
const BASE64 = PCM.toString('base64');
const APPEND_JSON = JSON.stringify({ type: 'audio.append', audio: BASE64, sample_rate: RATE });
const COMMIT_JSON = JSON.stringify({ type: 'audio.commit' });
const UPSTREAM_CHUNK = JSON.stringify({ message_type: 'input_audio_chunk', audio_base_64: BASE64, commit: false, sample_rate: RATE });
const UPSTREAM_COMMIT = JSON.stringify({ message_type: 'input_audio_chunk', audio_base_64: '', commit: true, sample_rate: RATE });
const STAMPED = /^s(\d+) (chunk|segment) (\d+)(?: (\d+)b\/(\d+))? @(\d+(?:\.\d+)?)$/;
/** What the emulator's echo says about one of this generator's chunks: `<bytes>b/<byte sum mod 65536>`. */
const OWN_CHUNK = `${PCM.length}/${PCM.reduce((sum, byte) => (sum + byte) & 0xffff, 0)}`;

const now = (): number => performance.timeOrigin + performance.now();

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

let recording = false;
let streaming = false;
let samples: Samples = fresh();
const integrity: Integrity = {
  gatewayChunksSent: 0,
  gatewayPartials: 0,
  gatewayServicePartials: 0,
  gatewayCommitsSent: 0,
  gatewayCommitted: 0,
  directChunksSent: 0,
  directPartials: 0,
  reordered: 0,
  upstreamRestarts: 0,
  turnsStarted: 0,
  turnsCompleted: 0,
  audioChunks: 0,
  audioChunkGaps: 0,
  errors: {},
  closedEarly: 0,
};

function fresh(): Samples {
  return { gatewayPartial: [], gatewayCommitted: [], directPartial: [], directCommitted: [], turnFirstAudio: [], loadgenLagP99Ms: 0 };
}

/** Checks a stamped echo text against the socket's last one: chunk and segment numbers go up by one. */
class Sequence {
  private stream = -1;
  private chunk = 0;
  private segment = 0;

  /** Returns the emulator's send time and whether the text answers one of this generator's own chunks, or undefined for a text that is not a stamped echo. */
  check(text: string): { sent: number; own: boolean } | undefined {
    const match = STAMPED.exec(text);
    if (!match) return undefined;
    const stream = Number(match[1]);
    const n = Number(match[3]);
    if (stream !== this.stream) {
      // A new upstream socket (the service reconnected) starts its own numbering.
      if (this.stream !== -1) integrity.upstreamRestarts++;
      this.stream = stream;
      this.chunk = 0;
      this.segment = 0;
    }
    if (match[2] === 'chunk') {
      if (n !== this.chunk + 1) integrity.reordered++;
      this.chunk = n;
    } else {
      if (n !== this.segment + 1) integrity.reordered++;
      this.segment = n;
    }
    return { sent: Number(match[6]), own: match[2] === 'segment' || `${match[4]}/${match[5]}` === OWN_CHUNK };
  }
}

interface Streamer {
  nextChunkAt: number;
  nextCommitAt: number;
  nextPromptAt: number;
  tick(at: number): void;
}

class GatewaySession implements Streamer {
  nextChunkAt = 0;
  nextCommitAt = Infinity;
  nextPromptAt = Infinity;
  private readonly sequence = new Sequence();
  /** When the turn now expected was triggered (commit event received or prompt sent). */
  private readonly turnTriggers: number[] = [];
  private turnChunk = 0;
  private turnFirstSeen = true;
  ready!: Promise<void>;

  constructor(
    private readonly socket: WebSocket,
    private readonly audio: 'json' | 'binary',
  ) {}

  static open(url: string, configure: Record<string, unknown>, audio: 'json' | 'binary'): Promise<GatewaySession> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const session = new GatewaySession(socket, audio);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('session not ready within 60 s')), 60_000);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('close', () => {
        if (streaming) integrity.closedEarly++;
      });
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const event = JSON.parse(data.toString()) as { type: string; text?: string; code?: string; chunk_index?: number; chunk_count?: number };
        if (event.type === 'session.ready') socket.send(JSON.stringify(configure));
        else if (event.type === 'stt.session_started') {
          clearTimeout(timer);
          resolve(session);
        } else session.onEvent(event);
      });
    });
  }

  private onEvent(event: { type: string; text?: string; code?: string; chunk_index?: number; chunk_count?: number }): void {
    const at = now();
    switch (event.type) {
      case 'transcript.partial': {
        const echo = this.sequence.check(event.text ?? '');
        if (echo === undefined) return;
        if (!echo.own) {
          integrity.gatewayServicePartials++;
          return;
        }
        integrity.gatewayPartials++;
        if (recording) samples.gatewayPartial.push(at - echo.sent);
        return;
      }
      case 'transcript.committed': {
        const echo = this.sequence.check(event.text ?? '');
        if (echo === undefined) return;
        integrity.gatewayCommitted++;
        if (recording) samples.gatewayCommitted.push(at - echo.sent);
        this.turnTriggers.push(at);
        return;
      }
      case 'assistant.started':
        integrity.turnsStarted++;
        return;
      case 'assistant.audio.start':
        this.turnChunk = 0;
        this.turnFirstSeen = false;
        return;
      case 'assistant.audio.chunk':
        integrity.audioChunks++;
        if (event.chunk_index !== ++this.turnChunk) integrity.audioChunkGaps++;
        if (!this.turnFirstSeen) {
          this.turnFirstSeen = true;
          const trigger = this.turnTriggers.shift();
          if (trigger !== undefined && recording) samples.turnFirstAudio.push(at - trigger);
        }
        return;
      case 'assistant.audio.end':
        if (event.chunk_count !== this.turnChunk) integrity.audioChunkGaps++;
        integrity.turnsCompleted++;
        return;
      case 'error':
        integrity.errors[event.code ?? '?'] = (integrity.errors[event.code ?? '?'] ?? 0) + 1;
        return;
    }
  }

  tick(at: number): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (at >= this.nextChunkAt) {
      this.socket.send(this.audio === 'json' ? APPEND_JSON : PCM);
      integrity.gatewayChunksSent++;
      this.nextChunkAt += CHUNK_MS;
      // Real time: a generator that fell more than a second behind skips ahead instead of bursting.
      if (at - this.nextChunkAt > 1000) this.nextChunkAt = at + CHUNK_MS;
    }
    if (at >= this.nextCommitAt) {
      this.socket.send(COMMIT_JSON);
      integrity.gatewayCommitsSent++;
      this.nextCommitAt += commitEveryMs;
    }
    if (at >= this.nextPromptAt) {
      this.socket.send(JSON.stringify({ type: 'text.prompt', text: 'Tell me something short.' }));
      this.turnTriggers.push(at);
      this.nextPromptAt += promptEveryMs;
    }
  }

  close(): Promise<void> {
    return closeSocket(this.socket);
  }
}

class DirectSession implements Streamer {
  nextChunkAt = 0;
  nextCommitAt = Infinity;
  nextPromptAt = Infinity;
  private readonly sequence = new Sequence();

  private constructor(private readonly socket: WebSocket) {}

  static open(url: string): Promise<DirectSession> {
    const socket = new WebSocket(url, { perMessageDeflate: false, headers: { 'xi-api-key': 'bench' } });
    const session = new DirectSession(socket);
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.on('close', () => {
        if (streaming) integrity.closedEarly++;
      });
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { message_type: string; text?: string };
        if (message.message_type === 'session_started') return resolve(session);
        const at = now();
        const echo = session.sequence.check(message.text ?? '');
        if (echo === undefined) return;
        if (message.message_type === 'partial_transcript') {
          integrity.directPartials++;
          if (recording) samples.directPartial.push(at - echo.sent);
        } else if (message.message_type === 'committed_transcript' && recording) samples.directCommitted.push(at - echo.sent);
      });
    });
  }

  tick(at: number): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (at >= this.nextChunkAt) {
      this.socket.send(UPSTREAM_CHUNK);
      integrity.directChunksSent++;
      this.nextChunkAt += CHUNK_MS;
      if (at - this.nextChunkAt > 1000) this.nextChunkAt = at + CHUNK_MS;
    }
    if (at >= this.nextCommitAt) {
      this.socket.send(UPSTREAM_COMMIT);
      this.nextCommitAt += commitEveryMs;
    }
  }

  close(): Promise<void> {
    return closeSocket(this.socket);
  }
}

let commitEveryMs = Infinity;
let promptEveryMs = Infinity;
let gateway: GatewaySession[] = [];
let direct: DirectSession[] = [];
let ticker: NodeJS.Timeout | undefined;

async function open(command: OpenCommand): Promise<{ opened: number; failed: number; ms: number }> {
  const started = performance.now();
  const gap = 1000 / command.opensPerSecond;
  const total = command.gateway + command.direct;
  let failed = 0;
  const opening: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    // Bounded ramp: connections start `gap` ms apart.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + i * gap - performance.now())));
    opening.push(
      (i < command.gateway ? GatewaySession.open(command.serviceWsUrl, command.configure, command.audio).then((s) => void gateway.push(s)) : DirectSession.open(command.emulatorWsUrl).then((s) => void direct.push(s))).catch(() => {
        failed++;
      }),
    );
  }
  await Promise.all(opening);
  return { opened: gateway.length + direct.length, failed, ms: performance.now() - started };
}

function startStreaming(command: StreamCommand): void {
  commitEveryMs = command.commitEverySecs * 1000;
  promptEveryMs = command.promptEverySecs > 0 ? command.promptEverySecs * 1000 : Infinity;
  const start = now();
  const all: Streamer[] = [...gateway, ...direct];
  // Sessions spread evenly over the 100 ms chunk period and over the commit and prompt periods.
  all.forEach((session, i) => {
    const phase = i / all.length;
    session.nextChunkAt = start + phase * CHUNK_MS;
    session.nextCommitAt = start + 1000 + phase * commitEveryMs;
    session.nextPromptAt = start + 1500 + ((phase * 7.3) % 1) * promptEveryMs;
  });
  streaming = true;
  // One shared 10 ms ticker for every socket of this process.
  ticker = setInterval(() => {
    const at = now();
    for (const session of all) session.tick(at);
  }, 10);
}

process.on('message', (command: Command) => {
  const reply = (message: unknown) => process.send!(message);
  switch (command.cmd) {
    case 'open':
      void open(command).then((result) => reply({ cmd: 'opened', ...result }));
      return;
    case 'stream':
      startStreaming(command);
      reply({ cmd: 'streaming' });
      return;
    case 'measure':
      samples = fresh();
      lag.reset();
      recording = true;
      reply({ cmd: 'measuring' });
      return;
    case 'collect':
      recording = false;
      samples.loadgenLagP99Ms = lag.percentile(99) / 1e6;
      reply({ cmd: 'samples', samples });
      samples = fresh();
      return;
    case 'stop':
      clearInterval(ticker);
      // Drain: what is in flight arrives before the counters are read.
      setTimeout(() => {
        streaming = false;
        reply({ cmd: 'stopped', integrity });
      }, 2000);
      return;
    case 'close':
      void Promise.all([...gateway, ...direct].map((session) => session.close())).then(() => {
        gateway = [];
        direct = [];
        reply({ cmd: 'closed' });
      });
      return;
  }
});
process.send!({ cmd: 'hello' });
