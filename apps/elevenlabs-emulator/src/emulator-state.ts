/**
 * How `sttDropAfterChunks` ends a realtime STT connection: close code 1011; a TCP reset without a
 * close frame; `freeze`, the socket stays open but nothing is read or sent any more (not even pongs:
 * a dead path or a hung server); `mute`, the socket stays open and answers pings but the
 * transcriber says nothing more (a hung transcriber behind a live front end).
 */
export type SttDropMode = 'close_1011' | 'terminate' | 'freeze' | 'mute';
export const STT_DROP_MODES: readonly SttDropMode[] = ['close_1011', 'terminate', 'freeze', 'mute'];

/** Failures and slowness the emulator injects; tests change them between requests. */
export interface EmulatorFaults {
  /** Answer every request with 401 `invalid_api_key`, whatever key it carries. */
  rejectAuth: boolean;
  /** Answer every request with 401 `quota_exceeded`, as an account out of credits gets. */
  quotaExceeded: boolean;
  /** Answer the next N requests with 429 `system_busy` and `Retry-After: retryAfterSeconds`. */
  rateLimited: number;
  retryAfterSeconds: number;
  /** Answer the next N requests with 500 (`Infinity`: every request). */
  serverErrors: number;
  /** Answer 429 `too_many_concurrent_requests` while this many streams are already running. */
  concurrencyLimit: number;
  /** Wait this long before the response starts (time to first byte). */
  firstByteDelayMs: number;
  /** Wait this long before each audio chunk after the first (a slow upstream). */
  chunkDelayMs: number;
  /** Send the 200 headers, then nothing until the client gives up. */
  stall: boolean;
  /** Cut the connection after this many audio bytes of a response (0: never), as a dropped upstream does. */
  dropAfterBytes: number;
  /** Realtime STT (its knobs are separate from the TTS ones, so a test can fail one API only): `auth_error` then close. */
  sttRejectAuth: boolean;
  /** Realtime STT: `quota_exceeded` then close. */
  sttQuotaExceeded: boolean;
  /** Realtime STT: answer the next N connections with `rate_limited` then close. */
  sttRateLimited: number;
  /** Realtime STT: end a connection after it received this many audio chunks (0: never). */
  sttDropAfterChunks: number;
  /** How many STT connections `sttDropAfterChunks` ends (`Infinity`: every one). */
  sttDropCount: number;
  /** How the STT connection ends (see SttDropMode). */
  sttDropMode: SttDropMode;
  /** Realtime STT: accept the socket, then never answer (no session_started, no transcripts). */
  sttStall: boolean;
  /** Realtime STT: close (1000) a connection that received no audio chunk for this long, as the real API does after ~10 s (0: never). */
  sttIdleCloseMs: number;
  /** Realtime STT: delay every message the emulator sends by this long. */
  sttLatencyMs: number;
}

export const NO_FAULTS: Readonly<EmulatorFaults> = {
  rejectAuth: false,
  quotaExceeded: false,
  rateLimited: 0,
  retryAfterSeconds: 1,
  serverErrors: 0,
  concurrencyLimit: Infinity,
  firstByteDelayMs: 0,
  chunkDelayMs: 0,
  stall: false,
  dropAfterBytes: 0,
  sttRejectAuth: false,
  sttQuotaExceeded: false,
  sttRateLimited: 0,
  sttDropAfterChunks: 0,
  sttDropCount: 1,
  sttDropMode: 'close_1011',
  sttStall: false,
  sttIdleCloseMs: 0,
  sttLatencyMs: 0,
};

/** How a request ended: answered in full, or closed by the client before its response was complete. */
export type RequestOutcome = 'completed' | 'aborted';

/** One request the emulator received, for tests to inspect. */
export class RecordedRequest {
  status?: number;
  outcome?: RequestOutcome;
  /** Resolves when the response is finished or the client went away. */
  readonly settled: Promise<RequestOutcome>;
  private settle!: (outcome: RequestOutcome) => void;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly query: Record<string, unknown>,
    readonly body: unknown,
    /** The `xi-api-key` header as received. */
    readonly apiKey: string | undefined,
    /** `performance.now()` when the request arrived. */
    readonly receivedAt: number,
  ) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  finish(status: number, outcome: RequestOutcome): void {
    this.status = status;
    this.outcome = outcome;
    this.settle(outcome);
  }
}

/**
 * What transcribes realtime STT audio: the embedded recogniser (real transcripts), or `echo`, a
 * cheap stand-in for load tests that answers every audio chunk with a partial `chunk <n>` and every
 * commit with a committed `segment <n>` (no VAD commits), so the recogniser is not the bottleneck.
 */
export type SttTranscriber = 'local' | 'echo' | 'echo_stamped';
export const STT_TRANSCRIBERS: readonly SttTranscriber[] = ['local', 'echo', 'echo_stamped'];

/**
 * What speaks TTS requests: flite (real speech), or `silence`, a stand-in for load tests that
 * answers each sentence at once with 60 ms of silence per character in the requested format (pcm,
 * ulaw, alaw; mp3 still goes through flite), so synthesis is not the bottleneck; or `noise`, the
 * same but loud noise in syllable-like bursts for PCM formats (the service's echo detector analyses
 * audio it can hear, and skips digital silence).
 */
export type TtsSpeech = 'flite' | 'silence' | 'noise';
export const TTS_SPEECHES: readonly TtsSpeech[] = ['flite', 'silence', 'noise'];

/** Called as the emulator sends each realtime STT message, with the wall-clock time in ms (sub-ms precision). */
export type SttEmitHook = (message: { message_type: string; text?: unknown }, epochMs: number) => void;

/** One audio chunk of a TTS stream, as the emulator hands it to the HTTP response. */
export interface TtsChunkInfo {
  /** The request's `text`, as received. */
  text: string;
  voiceId: string;
  outputFormat: string;
  /** 0 for the first audio chunk of the response. */
  chunkIndex: number;
  /** Audio bytes of the response before this chunk. */
  offset: number;
  /** Audio bytes in this chunk. */
  bytes: number;
}

/**
 * Called just before each TTS audio chunk is written to the response, with the wall-clock time in
 * ms (sub-ms precision), taken before the hook runs.
 */
export type TtsEmitHook = (chunk: TtsChunkInfo, epochMs: number) => void;

/** Mutable state shared by an emulator's routes: the fault knobs, the request log, streams in flight. */
export class EmulatorState {
  readonly faults: EmulatorFaults;
  readonly requests: RecordedRequest[] = [];
  streamsInFlight = 0;
  /** Realtime STT connections accepted so far (including refused ones). */
  sttConnections = 0;

  constructor(
    /** When set, `xi-api-key` must equal it; otherwise any non-empty key is accepted. */
    readonly apiKey: string | undefined,
    faults: Partial<EmulatorFaults> = {},
    readonly transcriber: SttTranscriber = 'local',
    readonly onSttEmit?: SttEmitHook,
    readonly onTtsEmit?: TtsEmitHook,
    readonly ttsSpeech: TtsSpeech = 'flite',
  ) {
    this.faults = { ...NO_FAULTS, ...faults };
  }

  /** Clears the request log and every fault. */
  reset(): void {
    Object.assign(this.faults, NO_FAULTS);
    this.requests.length = 0;
    this.sttConnections = 0;
  }
}

export const EMULATOR_STATE = Symbol('EMULATOR_STATE');
