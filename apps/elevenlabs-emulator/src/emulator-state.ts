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

/** Mutable state shared by an emulator's routes: the fault knobs, the request log, streams in flight. */
export class EmulatorState {
  readonly faults: EmulatorFaults;
  readonly requests: RecordedRequest[] = [];
  streamsInFlight = 0;

  constructor(
    /** When set, `xi-api-key` must equal it; otherwise any non-empty key is accepted. */
    readonly apiKey: string | undefined,
    faults: Partial<EmulatorFaults> = {},
  ) {
    this.faults = { ...NO_FAULTS, ...faults };
  }

  /** Clears the request log and every fault. */
  reset(): void {
    Object.assign(this.faults, NO_FAULTS);
    this.requests.length = 0;
  }
}

export const EMULATOR_STATE = Symbol('EMULATOR_STATE');
