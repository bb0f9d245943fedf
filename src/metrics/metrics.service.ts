import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TURN_OUTCOMES, type TurnOutcome } from '@app/protocol';

/** Stages of a turn, as `voice_layer_turn_stage_seconds{stage}` labels and `turn.metrics` fields (in ms). */
export const TURN_STAGES = ['end_of_speech_to_commit', 'backend_first_byte', 'backend_complete', 'tts_first_audio', 'user_to_first_audio'] as const;
export type TurnStage = (typeof TURN_STAGES)[number];

export { TURN_OUTCOMES, type TurnOutcome } from '@app/protocol';

/** Upstream services whose retries and reconnects are counted. */
export type Upstream = 'elevenlabs_stt' | 'elevenlabs_tts' | 'chat_backend';
/** `reconnect` (a socket opened again), `retry` (a request sent again), `reregister` (a registration made again). */
export type UpstreamRecovery = 'reconnect' | 'retry' | 'reregister';

/** Worker pools whose backlog is sampled on each scrape. */
export type WorkerPoolName = 'tts' | 'stt' | 'echo';

/** Voice-sized buckets: 10 ms to 10 s. */
export const STAGE_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2.5, 4, 6, 10];

/**
 * The service's Prometheus metrics, in a registry of its own (several apps in one test process do
 * not collide). Other code calls the small methods below; label values are always from bounded
 * sets (provider ids, outcomes, stages, error codes), never a session id. Served at `GET /metrics`.
 */
@Injectable()
export class MetricsService implements OnModuleDestroy {
  readonly registry = new Registry();
  private readonly sessions = new Gauge({
    name: 'voice_layer_sessions_active',
    help: 'Configured voice sessions open on this replica, by STT and TTS provider.',
    labelNames: ['stt_provider', 'tts_provider'] as const,
    registers: [this.registry],
  });
  private readonly connections = new Gauge({
    name: 'voice_layer_connections_open',
    help: 'Voice WebSocket connections open on this replica (configured or not).',
    registers: [this.registry],
  });
  private readonly turns = new Counter({
    name: 'voice_layer_turns_total',
    help: 'Assistant turns that ended, by outcome (completed, interrupted, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly stages = new Histogram({
    name: 'voice_layer_turn_stage_seconds',
    help: 'Duration of each stage of a turn. user_to_first_audio runs from the end of user speech (or text.prompt) to the first audio chunk sent.',
    labelNames: ['stage'] as const,
    buckets: STAGE_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'voice_layer_errors_total',
    help: '`error` events sent to clients, by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  private readonly upstream = new Counter({
    name: 'voice_layer_upstream_recoveries_total',
    help: 'Retries, reconnects and re-registrations towards upstream services (ElevenLabs STT/TTS, the chat backend).',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly sendBufferCloses = new Counter({
    name: 'voice_layer_send_buffer_closes_total',
    help: 'Connections closed because the client read too slowly (send buffer above its high-water mark).',
    registers: [this.registry],
  });
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly pools = new Map<WorkerPoolName, () => number>();
  private sttBacklog: () => { maxMs: number; totalMs: number } = () => ({ maxMs: 0, totalMs: 0 });

  constructor() {
    for (const outcome of TURN_OUTCOMES) this.turns.inc({ outcome }, 0);
    this.loopDelay.enable();
    const pools = this.pools;
    new Gauge({
      name: 'voice_layer_worker_pool_queue_depth',
      help: 'Jobs waiting for a worker thread (tts: synthesis jobs queued in the pool; stt: recognition streams per worker thread; echo: audio messages waiting for the echo detector workers).',
      labelNames: ['pool'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [pool, read] of pools) this.set({ pool }, read());
      },
    });
    const backlog = () => this.sttBacklog();
    new Gauge({
      name: 'voice_layer_stt_backlog_seconds',
      help: 'Audio waiting for an embedded recognition worker: the largest backlog of one session (max) and the sum over sessions (total).',
      labelNames: ['stat'] as const,
      registers: [this.registry],
      collect() {
        const { maxMs, totalMs } = backlog();
        this.set({ stat: 'max' }, maxMs / 1000);
        this.set({ stat: 'total' }, totalMs / 1000);
      },
    });
    const loopDelay = this.loopDelay;
    new Gauge({
      name: 'voice_layer_event_loop_lag_seconds',
      help: 'Event-loop delay since the previous scrape (perf_hooks monitorEventLoopDelay): p50, p99 and max.',
      labelNames: ['quantile'] as const,
      registers: [this.registry],
      collect() {
        const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ quantile: '0.5' }, seconds(loopDelay.percentile(50)));
        this.set({ quantile: '0.99' }, seconds(loopDelay.percentile(99)));
        this.set({ quantile: 'max' }, seconds(loopDelay.max));
        loopDelay.reset();
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  connectionOpened(): () => void {
    this.connections.inc();
    return once(() => this.connections.dec());
  }

  /** Counts a configured session; call the returned function (once) when it ends. */
  sessionOpened(sttProvider: string | undefined, ttsProvider: string): () => void {
    const labels = { stt_provider: sttProvider ?? 'none', tts_provider: ttsProvider };
    this.sessions.inc(labels);
    return once(() => this.sessions.dec(labels));
  }

  turnEnded(outcome: TurnOutcome, stagesMs: Partial<Record<TurnStage, number>>): void {
    this.turns.inc({ outcome });
    for (const stage of TURN_STAGES) {
      const ms = stagesMs[stage];
      if (ms !== undefined) this.stages.observe({ stage }, ms / 1000);
    }
  }

  errorSent(code: string): void {
    this.errors.inc({ code });
  }

  upstreamRecovery(upstream: Upstream, kind: UpstreamRecovery): void {
    this.upstream.inc({ upstream, kind });
  }

  /** A slow reader was disconnected because its send buffer stayed above the high-water mark. */
  sendBufferHighWaterClose(): void {
    this.sendBufferCloses.inc();
  }

  /** Registers a pool whose backlog `read()` returns; sampled on every scrape. */
  watchWorkerPool(pool: WorkerPoolName, read: () => number): void {
    this.pools.set(pool, read);
  }

  /** The embedded recogniser's backlog, sampled on every scrape. */
  watchSttBacklog(read: () => { maxMs: number; totalMs: number }): void {
    this.sttBacklog = read;
  }

  onModuleDestroy(): void {
    this.loopDelay.disable();
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
