/**
 * The load-generator process of `bench/load-embedded.ts` (forked by it; commands over IPC). It
 * opens voice sessions on the service running the embedded engines, streams real human speech
 * (test/fixtures/speech) and low-level noise in real time as 100 ms binary PCM frames, and times:
 * - end of speech -> `transcript.committed`, minus the silence window (VAD commits);
 * - `text.prompt` sent -> first `assistant.audio.chunk`.
 *
 * Real-time pacing as a microphone does it: chunk k holds audio [k*100, (k+1)*100) ms and is sent
 * when its last sample has been "spoken", at start + (k+1)*100 ms (plus the session's phase, so the
 * sessions' chunks are spread over the 100 ms period as real clients' are). The end of speech (the
 * last 10 ms frame above -40 dBFS) happened at the actual send time of the chunk holding it minus the
 * rest of that chunk, so the figure includes up to 100 ms of chunking, as a real client's would.
 * One shared 10 ms ticker drives every socket, so the generator's own cost stays small.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { closeSocket, playedAll } from './lib.js';
import { readSharedRecording, speechSpan, whiteNoise, wordErrorRate, SHARED_RECORDINGS } from '@app/testing';

export interface SpeakersCommand {
  cmd: 'speakers';
  wsUrl: string;
  /** Sessions speaking at the same moment (their speech ends at the same moment each round). */
  sessions: number;
  rounds: number;
  windowSecs: number;
  /** One more session uploading speech as fast as the service allows (opened first). */
  fastUploader: boolean;
}
export interface SilentCommand {
  cmd: 'silent';
  wsUrl: string;
  sessions: number;
  /** Share of the time each session speaks (0.1: one utterance, then nine times its length of noise). */
  speakingShare: number;
  warmupSecs: number;
  seconds: number;
  windowSecs: number;
}
export interface PromptsCommand {
  cmd: 'prompts';
  wsUrl: string;
  sessions: number;
  rounds: number;
}
export type EmbeddedCommand = SpeakersCommand | SilentCommand | PromptsCommand;

export interface SpeechResult {
  /** End of speech -> transcript.committed, minus the silence window (ms), one per measured utterance. */
  commitMs: number[];
  /** Measured utterances (each should give one sample). */
  utterances: number;
  /** Word error rate of each measured utterance's committed text against its reference. */
  wer: number[];
  /** Committed transcripts that came before the utterance's speech had ended (an utterance split by a pause). */
  splits: number;
  /** Most and average sessions inside an utterance at once (from the schedule). */
  concurrentMax: number;
  concurrentMean: number;
  failedOpens: number;
  errors: Record<string, number>;
  /** Seconds of audio the fast uploader sent, and the errors it got (rate_limited: chunks refused), when there was one. */
  fastUploadedSecs?: number;
  fastErrors?: Record<string, number>;
  fastSecs?: number;
  loadgenLagP99Ms: number;
}
export interface PromptResult {
  firstAudioMs: number[];
  prompts: number;
  completed: number;
  failedOpens: number;
  errors: Record<string, number>;
  loadgenLagP99Ms: number;
}

const RATE = 16000;
const CHUNK_MS = 100;
const CHUNK_BYTES = (RATE * 2 * CHUNK_MS) / 1000;
/** Noise at about -60 dBFS: a quiet room, not digital silence. */
const NOISE = whiteNoise(1, 32, 11);
const noiseChunk = (k: number): Buffer => NOISE.subarray((k % 10) * CHUNK_BYTES, ((k % 10) + 1) * CHUNK_BYTES);

/** The three LibriVox clips (3.0, 5.3 and 7.1 s); jfk.wav (11 s) would make every round longer. */
interface Clip {
  name: string;
  reference: string;
  /** Chunks of the clip, padded with noise to whole chunks. */
  chunks: Buffer[];
  speechStartMs: number;
  speechEndMs: number;
}
const CLIPS: Clip[] = ['librivox-austen-0880.wav', 'librivox-austen-0890.wav', 'librivox-austen-0870.wav'].map((name) => {
  const pcm = readSharedRecording(name);
  const span = speechSpan(pcm);
  const padded = Buffer.concat([pcm, NOISE.subarray(0, (CHUNK_BYTES - (pcm.length % CHUNK_BYTES)) % CHUNK_BYTES)]);
  const chunks = Array.from({ length: padded.length / CHUNK_BYTES }, (_, k) => padded.subarray(k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES));
  return { name, reference: SHARED_RECORDINGS[name]!, chunks, speechStartMs: span.start * 1000, speechEndMs: span.end * 1000 };
});

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const now = (): number => performance.now();

/** One utterance on a session's timeline: which chunk its speech ends in, and what was said. */
interface Utterance {
  clip: Clip;
  /** Chunk index (of the session's timeline) where the clip starts. */
  firstChunk: number;
  /** Timeline ms of the end of speech. */
  speechEndMs: number;
  measured: boolean;
  /** Wall time (performance.now) the speech ended, known once the chunk holding it was sent. */
  endedAt?: number;
  done?: boolean;
}

class Session {
  readonly utterances: Utterance[] = [];
  /** Timeline: chunk k is sent at start + phase + (k+1)*100 ms; utterances in order, noise between. */
  start = 0;
  phase = 0;
  nextChunk = 0;
  lastChunk = -1;
  private current = 0;
  readonly commits: Array<{ at: number; text: string }> = [];
  turnsStarted = 0;
  turnsEnded = 0;
  firstAudioAt?: number;
  uploadedBytes = 0;

  private constructor(private readonly socket: WebSocket) {}

  static async open(url: string, windowSecs: number, errors: Record<string, number>, onEvent?: (session: Session, event: ServerEvent) => void): Promise<Session> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const session = new Session(socket);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('session not ready within 30 s')), 30_000);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        const event = JSON.parse(data.toString()) as ServerEvent;
        switch (event.type) {
          case 'session.ready':
            socket.send(JSON.stringify({ type: 'session.configure', stt: { commit_strategy: 'vad', vad_silence_threshold_secs: windowSecs } }));
            return;
          case 'stt.session_started':
            clearTimeout(timer);
            resolve(session);
            return;
          case 'transcript.committed':
            session.commits.push({ at: now(), text: event.text ?? '' });
            break;
          case 'assistant.started':
            session.turnsStarted++;
            break;
          case 'assistant.audio.chunk':
            session.firstAudioAt ??= now();
            break;
          case 'assistant.audio.end':
            // Played at once: the next turn's latency is measured, not this reply's real-time playback.
            if (event.turn_id !== undefined) session.send(JSON.stringify(playedAll(event.turn_id)));
            session.turnsEnded++;
            break;
          case 'assistant.interrupted':
            session.turnsEnded++;
            break;
          case 'error':
            errors[event.code ?? '?'] = (errors[event.code ?? '?'] ?? 0) + 1;
            break;
        }
        onEvent?.(session, event);
      });
    });
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(data: Buffer | string): void {
    if (this.open) this.socket.send(data);
  }

  /** Sends the chunks that are due; records when each utterance's speech ended. */
  tick(at: number): void {
    while (this.nextChunk <= this.lastChunk && at >= this.start + this.phase + (this.nextChunk + 1) * CHUNK_MS) {
      const k = this.nextChunk++;
      while (this.current < this.utterances.length && k >= this.utterances[this.current]!.firstChunk + this.utterances[this.current]!.clip.chunks.length) this.current++;
      const u = this.utterances[this.current];
      const inClip = u !== undefined && k >= u.firstChunk;
      this.send(inClip ? u.clip.chunks[k - u.firstChunk]! : noiseChunk(k));
      if (u && u.endedAt === undefined && k === Math.floor(u.speechEndMs / CHUNK_MS)) {
        // The chunk holding the end of speech: it ended (chunk end - end of speech) ms before this send.
        u.endedAt = now() - ((k + 1) * CHUNK_MS - u.speechEndMs);
      }
    }
  }

  get finished(): boolean {
    return this.nextChunk > this.lastChunk;
  }

  close(): Promise<void> {
    return closeSocket(this.socket);
  }
}

interface ServerEvent {
  type: string;
  turn_id?: number;
  text?: string;
  code?: string;
}

async function openSessions(url: string, count: number, windowSecs: number, errors: Record<string, number>, perSecond = 50): Promise<{ sessions: Session[]; failed: number }> {
  const sessions: Session[] = [];
  let failed = 0;
  const started = now();
  const opening: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    await sleep(Math.max(0, started + (i * 1000) / perSecond - now()));
    opening.push(
      Session.open(url, windowSecs, errors).then(
        (s) => void sessions.push(s),
        () => void failed++,
      ),
    );
  }
  await Promise.all(opening);
  return { sessions, failed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Streams every session's timeline from one 10 ms ticker until all are sent; then waits up to
 * `drainMs` for the committed transcripts still to come (a late one is a figure, not a loss).
 */
async function stream(sessions: Session[], drainMs: number, windowSecs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const ticker = setInterval(() => {
      const at = now();
      for (const session of sessions) session.tick(at);
      if (sessions.every((s) => s.finished || !s.open)) {
        clearInterval(ticker);
        resolve();
      }
    }, 10);
  });
  const until = now() + drainMs;
  while (now() < until) {
    const { commitMs, utterances } = score(sessions, windowSecs);
    if (commitMs.length >= utterances) return;
    await sleep(200);
  }
}

/** Pairs committed transcripts with utterances: the first commit after an utterance's end of speech is its own. */
function score(sessions: Session[], windowSecs: number): Pick<SpeechResult, 'commitMs' | 'utterances' | 'wer' | 'splits'> {
  const commitMs: number[] = [];
  const wer: number[] = [];
  let utterances = 0;
  let splits = 0;
  for (const session of sessions) {
    const commits = [...session.commits];
    for (const u of session.utterances) {
      // Commits before this utterance's end of speech belong to it only if it split (or to noise).
      while (commits.length > 0 && u.endedAt !== undefined && commits[0]!.at < u.endedAt) {
        const early = commits.shift()!;
        if (u.measured && early.at >= u.endedAt - (u.speechEndMs - (u.firstChunk * CHUNK_MS + u.clip.speechStartMs))) splits++;
      }
      if (!u.measured) {
        if (u.endedAt !== undefined && commits.length > 0) commits.shift();
        continue;
      }
      utterances++;
      const own = u.endedAt === undefined ? undefined : commits.shift();
      if (!own || u.endedAt === undefined) continue;
      commitMs.push(own.at - u.endedAt - windowSecs * 1000);
      wer.push(wordErrorRate(u.clip.reference, own.text));
    }
  }
  return { commitMs, utterances, wer, splits };
}

/** Most and average utterances in progress at once, sampled every 100 ms of the sessions' common timeline. */
function concurrency(sessions: Session[]): { max: number; mean: number } {
  const last = Math.max(...sessions.map((s) => s.lastChunk));
  let max = 0;
  let sum = 0;
  for (let k = 0; k <= last; k++) {
    const n = sessions.filter((s) => s.utterances.some((u) => k >= u.firstChunk && k * CHUNK_MS < u.speechEndMs)).length;
    max = Math.max(max, n);
    sum += n;
  }
  return { max, mean: sum / (last + 1) };
}

async function speakers(command: SpeakersCommand): Promise<SpeechResult> {
  const errors: Record<string, number> = {};
  const fastErrors: Record<string, number> = {};
  let fast: Session | undefined;
  let fastStop: (() => void) | undefined;
  let fastSentBytes = 0;
  const fastStarted = now();
  if (command.fastUploader) {
    fast = (await openSessions(command.wsUrl, 1, command.windowSecs, fastErrors)).sessions[0];
    if (fast) fastStop = uploadFast(fast, (bytes) => (fastSentBytes += bytes));
    await sleep(1000);
  }
  const { sessions, failed } = await openSessions(command.wsUrl, command.sessions, command.windowSecs, errors);
  // Each round: every session speaks one clip, and all the clips' speech ends at the same moment.
  const longest = Math.max(...CLIPS.map((c) => c.speechEndMs));
  const leadChunks = 5;
  const roundChunks = leadChunks + Math.ceil(longest / CHUNK_MS) + Math.ceil((command.windowSecs * 1000 + 2500) / CHUNK_MS);
  sessions.forEach((session, i) => {
    for (let r = 0; r < command.rounds; r++) {
      const clip = CLIPS[(i + r) % CLIPS.length]!;
      const firstChunk = r * roundChunks + leadChunks + Math.round((longest - clip.speechEndMs) / CHUNK_MS);
      session.utterances.push({ clip, firstChunk, speechEndMs: firstChunk * CHUNK_MS + clip.speechEndMs, measured: true });
    }
    session.lastChunk = command.rounds * roundChunks - 1;
  });
  const start = now() + 200;
  sessions.forEach((session, i) => {
    session.start = start;
    session.phase = (i * CHUNK_MS) / sessions.length;
  });
  lag.reset();
  await stream(sessions, 15_000, command.windowSecs);
  fastStop?.();
  const { max, mean } = concurrency(sessions);
  const result: SpeechResult = {
    ...score(sessions, command.windowSecs),
    concurrentMax: max,
    concurrentMean: mean,
    failedOpens: failed,
    errors,
    loadgenLagP99Ms: lag.percentile(99) / 1e6,
    ...(fast ? { fastUploadedSecs: fastSentBytes / (RATE * 2), fastSecs: (now() - fastStarted) / 1000, fastErrors } : {}),
  };
  await Promise.all([...sessions, ...(fast ? [fast] : [])].map((s) => s.close()));
  return result;
}

/**
 * As fast as the service allows: a 50 s burst (the session's audio budget is 60 s), then 6x real
 * time (its refill rate is 8x), from speech clips back to back, so the recogniser decodes all of it.
 * Counts what went out; the service's `rate_limited` errors, if any, show in the errors.
 */
function uploadFast(session: Session, sent: (bytes: number) => void): () => void {
  const all = CLIPS.flatMap((c) => c.chunks);
  let k = 0;
  const next = () => all[k++ % all.length]!;
  for (let i = 0; i < 500; i++) {
    const chunk = next();
    session.send(chunk);
    sent(chunk.length);
  }
  const timer = setInterval(() => {
    // 6x real time: 3 chunks of 100 ms every 50 ms (the budget refills at 8x).
    for (let i = 0; i < 3; i++) {
      const chunk = next();
      session.send(chunk);
      sent(chunk.length);
    }
  }, 50);
  return () => clearInterval(timer);
}

async function silent(command: SilentCommand): Promise<SpeechResult> {
  const errors: Record<string, number> = {};
  const { sessions, failed } = await openSessions(command.wsUrl, command.sessions, command.windowSecs, errors);
  const totalMs = (command.warmupSecs + command.seconds) * 1000;
  const windowChunks = Math.ceil((command.windowSecs * 1000 + 2500) / CHUNK_MS);
  // Phases spread evenly: at any moment about `speakingShare` of the sessions are inside an utterance.
  sessions.forEach((session, i) => {
    let clipIndex = i % CLIPS.length;
    // An utterance every (speech length / share) ms, but never before the last one has committed.
    const periodOf = (clip: Clip) => Math.max((clip.speechEndMs - clip.speechStartMs) / command.speakingShare, clip.chunks.length * CHUNK_MS + command.windowSecs * 1000 + 1500);
    let at = -((i / sessions.length) * periodOf(CLIPS[clipIndex]!));
    for (;;) {
      const clip = CLIPS[clipIndex]!;
      const firstChunk = Math.floor((at - clip.speechStartMs) / CHUNK_MS);
      if (firstChunk >= 0) {
        const speechEndMs = firstChunk * CHUNK_MS + clip.speechEndMs;
        if (speechEndMs > totalMs) break;
        session.utterances.push({ clip, firstChunk, speechEndMs, measured: speechEndMs >= command.warmupSecs * 1000 });
      }
      at += periodOf(clip);
      clipIndex = (clipIndex + 1) % CLIPS.length;
    }
    const last = session.utterances.at(-1);
    session.lastChunk = Math.max(Math.ceil(totalMs / CHUNK_MS), last ? Math.ceil(last.speechEndMs / CHUNK_MS) + windowChunks : 0);
  });
  const start = now() + 200;
  sessions.forEach((session, i) => {
    session.start = start;
    session.phase = (i * CHUNK_MS) / sessions.length;
  });
  lag.reset();
  await stream(sessions, 15_000, command.windowSecs);
  const { max, mean } = concurrency(sessions);
  const result: SpeechResult = { ...score(sessions, command.windowSecs), concurrentMax: max, concurrentMean: mean, failedOpens: failed, errors, loadgenLagP99Ms: lag.percentile(99) / 1e6 };
  await Promise.all(sessions.map((s) => s.close()));
  return result;
}

async function prompts(command: PromptsCommand): Promise<PromptResult> {
  const errors: Record<string, number> = {};
  const { sessions, failed } = await openSessions(command.wsUrl, command.sessions, 1.5, errors);
  lag.reset();
  const firstAudioMs: number[] = [];
  let completed = 0;
  for (let r = 0; r < command.rounds; r++) {
    const sentAt = now();
    for (const session of sessions) {
      session.firstAudioAt = undefined;
      session.turnsEnded = 0;
      session.send(JSON.stringify({ type: 'text.prompt', text: 'Tell me something short.' }));
    }
    const until = now() + 30_000;
    while (now() < until && sessions.some((s) => s.turnsEnded === 0 && s.open)) await sleep(20);
    for (const session of sessions) {
      if (session.firstAudioAt !== undefined) firstAudioMs.push(session.firstAudioAt - sentAt);
      completed += Math.min(1, session.turnsEnded);
    }
    await sleep(300);
  }
  const result: PromptResult = { firstAudioMs, prompts: command.rounds * sessions.length, completed, failedOpens: failed, errors, loadgenLagP99Ms: lag.percentile(99) / 1e6 };
  await Promise.all(sessions.map((s) => s.close()));
  return result;
}

process.on('message', (command: EmbeddedCommand) => {
  const run = command.cmd === 'speakers' ? speakers(command) : command.cmd === 'silent' ? silent(command) : prompts(command);
  void run.then(
    (result) => process.send!({ ok: true, result }),
    (error: unknown) => process.send!({ ok: false, error: String(error) }),
  );
});
process.send!({ hello: true });
