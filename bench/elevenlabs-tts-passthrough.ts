/**
 * The gateway's TTS pass-through overhead on the ElevenLabs path: the time from the emulator writing
 * the first audio byte of a `POST /v1/text-to-speech/{voice_id}/stream` response (`.../stream/with-timestamps`
 * with the default ELEVENLABS_TTS_TIMESTAMPS=true, so the base64/JSON decoding is included) to the WebSocket
 * client receiving the turn's first `assistant.audio.chunk`, per chunk as well, and the whole turn
 * (text.prompt -> first chunk) for context; median, p95, p99, min, max at each concurrency level
 * and output format.
 *   node dist/bench/elevenlabs-tts-passthrough.js [turns=10] [levels=1,20] [formats=pcm_24000,ulaw_8000]
 *
 * Set-up. The emulator runs in this process (flite behind it, one worker thread, no faults: no
 * first-byte delay, no chunk pacing) and reports every audio chunk it hands to a response through
 * `onTtsEmit`, just before the write. The built service runs as its own process with the ElevenLabs
 * provider pointed at the emulator. Each session configures `tts: { provider: 'elevenlabs',
 * output_format }` and runs `turns` text turns back to back (closed loop), after one warm-up turn
 * that is not counted (it also opens the service's keep-alive connection to the emulator). Sessions
 * start 10 ms apart. Emulator and clients share this process, so both timestamps come from one
 * clock (performance.timeOrigin + now()).
 *
 * Correlation. Every prompt is distinct ("Session 7 turn 3. ..."), and the embedded chat backend
 * (no BACKEND_BASE_URL) answers it deterministically with `localReply(prompt)` ("You said: Session 7
 * turn 3. ..."), which the provider sends to the emulator unchanged as the text to synthesise. So
 * the emulator's chunks are keyed by their request text, and each turn looks up the text it expects
 * via the same `localReply`: no reliance on arrival order across sessions. A turn counts only if its
 * text reached the emulator exactly once (a retried request would make the first byte ambiguous) and
 * the bytes the client got equal the bytes the emulator wrote; the others are reported as skipped.
 *
 * Matching chunks. The emulator writes one chunk per sentence; the gateway re-cuts the stream into
 * TTS_CHUNK_MS (160 ms) chunks, so chunks are matched by byte offset within the turn, not by index:
 * - first byte: emulator chunk 0 written -> client gets `assistant.audio.chunk` 1 (the headline).
 * - emulator chunk k, first byte: chunk k written -> client gets the chunk that carries its first byte.
 * - client chunk, bytes ready: the emulator wrote the last byte of client chunk j -> client gets j.
 *   This is the forwarding cost of every chunk, with no waiting for data that did not exist yet.
 * - emulator chunk k, last byte: chunk k written -> client gets the chunk carrying its last byte. The
 *   gap to the previous line is the re-chunker holding a sentence's tail (less than one client chunk)
 *   until the next sentence arrives, i.e. for the emulator's synthesis time of that next sentence.
 * - whole turn: text.prompt sent -> first `assistant.audio.chunk` (chat reply, HTTP request, flite
 *   synthesis of the first sentence in the emulator, pass-through).
 *
 * Caveats: this process runs the emulator (flite results, mu-law encoding, HTTP writes) and the
 * clients, so on a loaded machine its own event loop delays the client timestamps too: the figures
 * are an upper bound of the gateway's cost. A 2-core machine is saturated well before 20 sessions
 * (flite alone takes a core), so the tails there are mostly scheduling. Sessions also open an idle
 * ElevenLabs realtime STT stream (the emulator's `echo` transcriber: no recogniser is loaded), as
 * every session on a server with an ElevenLabs key does.
 */
import { NO_FAULTS, startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { WebSocket } from 'ws';
import { localReply } from '@app/chat';
import type { ServerEvent } from '@app/protocol';
import { playedAll, startService, summarize } from './lib.js';

const turns = Number(process.argv[2] ?? 10);
const levels = (process.argv[3] ?? '1,20').split(',').map(Number);
const formats = (process.argv[4] ?? 'pcm_24000,ulaw_8000').split(',');

/** One audio chunk the emulator wrote: where it starts in the response's audio, its size, when. */
interface Write {
  offset: number;
  bytes: number;
  at: number;
}

/** Writes per request text; `duplicate` when the same text was requested twice (a retry). */
const written = new Map<string, { writes: Write[]; duplicate: boolean }>();

const emulator = await startElevenLabsEmulator({
  faults: { ...NO_FAULTS },
  transcriber: 'echo',
  onTtsEmit: (chunk, at) => {
    let entry = written.get(chunk.text);
    if (!entry) written.set(chunk.text, (entry = { writes: [], duplicate: false }));
    else if (chunk.chunkIndex === 0) entry.duplicate = true;
    entry.writes.push({ offset: chunk.offset, bytes: chunk.bytes, at });
  },
});
const { firstByteDelayMs, chunkDelayMs, stall, concurrencyLimit } = emulator.faults;
if (firstByteDelayMs !== 0 || chunkDelayMs !== 0 || stall || concurrencyLimit !== Infinity) throw new Error('emulator faults are active');
// The emulator's one flite thread serves every session in turn, so at 20 sessions a sentence can
// wait in its queue for longer than the provider's default 10 s stall timeout; that is the
// emulator's speed, not the path under test, so the timeout is raised.
const service = await startService({
  ELEVENLABS_API_KEY: 'bench',
  ELEVENLABS_BASE_URL: emulator.baseUrl,
  ELEVENLABS_TTS_TIMEOUT_MS: '120000',
  STT_WORKERS: '1',
  TTS_WORKERS: '1',
  // ELEVENLABS_TTS_TIMESTAMPS=false in this process's environment measures the plain /stream route.
  ...(process.env['ELEVENLABS_TTS_TIMESTAMPS'] ? { ELEVENLABS_TTS_TIMESTAMPS: process.env['ELEVENLABS_TTS_TIMESTAMPS'] } : {}),
});

/** What one measured turn yields, in ms. */
interface Sample {
  firstByte: number;
  turn: number;
  writeFirstByte: number[];
  writeLastByte: number[];
  chunkReady: number[];
  writes: number;
  chunks: number;
}

/**
 * A bare `ws` client: it stamps each event's arrival and parses it, nothing else. VoiceTestClient
 * also validates every event against the protocol classes, about 0.2 ms per 10 KB audio chunk in
 * this process; chunks come in bursts (one sentence is a dozen chunks), so the last of a burst would
 * be stamped a few ms late and that would be charged to the gateway. The contract itself is tested
 * elsewhere (test/, libs/protocol).
 */
class BenchClient {
  /** Every event with its arrival time (epoch ms), in order. */
  readonly events: Array<{ event: ServerEvent; at: number }> = [];
  private cursor = 0;
  private wake?: () => void;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const at = performance.timeOrigin + performance.now();
      this.events.push({ event: JSON.parse(data.toString()) as ServerEvent, at });
      this.wake?.();
    });
    socket.on('close', () => this.wake?.());
  }

  static async connect(url: string): Promise<BenchClient> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const client = new BenchClient(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return client;
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Reads events up to and including the first that matches. */
  async until(match: (event: ServerEvent) => boolean, timeoutMs = 120_000): Promise<Array<{ event: ServerEvent; at: number }>> {
    const deadline = Date.now() + timeoutMs;
    const read: Array<{ event: ServerEvent; at: number }> = [];
    for (;;) {
      while (this.cursor < this.events.length) {
        const next = this.events[this.cursor++]!;
        read.push(next);
        if (match(next.event)) return read;
      }
      if (this.socket.readyState !== WebSocket.OPEN) throw new Error('socket closed');
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close();
    await closed;
  }
}

async function openSession(format: string): Promise<BenchClient> {
  const client = await BenchClient.connect(service.wsUrl);
  await client.until((event) => event.type === 'session.ready');
  client.send({ type: 'session.configure', stt: { provider: 'elevenlabs' }, tts: { provider: 'elevenlabs', output_format: format } });
  await client.until((event) => event.type === 'session.configured');
  await client.until((event) => event.type === 'stt.session_started');
  return client;
}

/** Runs one turn and measures it, or returns the reason it cannot be counted. */
async function turn(client: BenchClient, prompt: string): Promise<Sample | string> {
  const sentAt = performance.timeOrigin + performance.now();
  client.send({ type: 'text.prompt', text: prompt });
  // Skips whatever is left of an earlier turn (the `error` that follows a failed one's audio.end).
  await client.until((event) => event.type === 'assistant.started' && event.text === prompt);
  const read = await client.until((event) => event.type === 'assistant.audio.end' || event.type === 'error');
  const last = read.at(-1)!.event;
  if (last.type === 'error') return `error ${last.code}: ${last.message}`;
  if (last.type === 'assistant.audio.end') client.send(playedAll(last.turn_id));
  const chunks: Array<{ end: number; at: number }> = [];
  let received = 0;
  for (const { event, at } of read) {
    if (event.type !== 'assistant.audio.chunk') continue;
    received += Buffer.byteLength(event.audio, 'base64');
    chunks.push({ end: received, at });
  }

  const text = localReply(prompt);
  const entry = written.get(text);
  written.delete(text);
  if (!entry) return 'the emulator never saw the reply text';
  if (entry.duplicate) return 'the reply was requested twice (retry)';
  const { writes } = entry;
  const total = writes.reduce((sum, write) => sum + write.bytes, 0);
  if (chunks.length === 0 || received !== total) return `client got ${received} bytes, emulator wrote ${total}`;

  /** The client chunk carrying byte `offset` of the turn's audio. */
  const chunkAt = (offset: number) => chunks.find((chunk) => chunk.end > offset)!;
  /** The emulator write that carried byte `offset`. */
  const writeAt = (offset: number) => writes.find((write) => write.offset + write.bytes > offset)!;
  return {
    firstByte: chunks[0]!.at - writes[0]!.at,
    turn: chunks[0]!.at - sentAt,
    writeFirstByte: writes.map((write) => chunkAt(write.offset).at - write.at),
    writeLastByte: writes.map((write) => chunkAt(write.offset + write.bytes - 1).at - write.at),
    chunkReady: chunks.map((chunk) => chunk.at - writeAt(chunk.end - 1).at),
    writes: writes.length,
    chunks: chunks.length,
  };
}

function promptFor(session: number, turnNumber: number): string {
  return `Session ${session} turn ${turnNumber}. The quick brown fox jumps over the lazy dog. A third sentence keeps the stream going a little longer.`;
}

function line(label: string, values: number[]): string {
  const s = summarize(values);
  const f = (v: number) => v.toFixed(2).padStart(7);
  return `  ${label.padEnd(52)} median ${f(s.median)}  p95 ${f(s.p95)}  p99 ${f(s.p99)}  min ${f(s.min)}  max ${f(s.max)} ms  (n=${s.n})`;
}

try {
  for (const format of formats) {
    for (const sessions of levels) {
      written.clear();
      const opened = await Promise.all(Array.from({ length: sessions }, () => openSession(format)));
      const samples: Sample[] = [];
      const skipped: string[] = [];
      const started = performance.now();
      await Promise.all(
        opened.map(async (client, s) => {
          await new Promise((resolve) => setTimeout(resolve, s * 10));
          for (let t = 0; t <= turns; t++) {
            const result = await turn(client, promptFor(s + 1, t));
            if (t === 0) continue; // warm-up
            if (typeof result === 'string') skipped.push(result);
            else samples.push(result);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(opened.map((client) => client.close()));

      const avg = (pick: (sample: Sample) => number) => (samples.reduce((sum, sample) => sum + pick(sample), 0) / samples.length).toFixed(1);
      console.log(
        `${format}, ${sessions} session(s), ${samples.length}/${sessions * turns} turns counted in ${seconds.toFixed(1)} s` +
          ` (${avg((x) => x.writes)} emulator chunks -> ${avg((x) => x.chunks)} client chunks per turn)`,
      );
      if (skipped.length > 0) console.log(`  skipped: ${[...new Set(skipped)].join('; ')}`);
      if (samples.length === 0) continue;
      console.log(line('emulator first byte -> first assistant.audio.chunk', samples.map((x) => x.firstByte)));
      console.log(line('emulator chunk k first byte -> client (every k)', samples.flatMap((x) => x.writeFirstByte)));
      console.log(line('client chunk bytes written -> client (every chunk)', samples.flatMap((x) => x.chunkReady)));
      console.log(line('emulator chunk k last byte -> client (tail held)', samples.flatMap((x) => x.writeLastByte)));
      console.log(line('text.prompt -> first assistant.audio.chunk', samples.map((x) => x.turn)));
    }
  }
} finally {
  await service.stop();
  await emulator.close();
}
