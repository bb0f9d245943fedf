import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ElevenLabsEmulatorModule } from './elevenlabs-emulator.module.js';
import { EmulatorState, type EmulatorFaults, type RecordedRequest, type SttEmitHook, type SttTranscriber, type TtsEmitHook, type TtsSpeech } from './emulator-state.js';

export {
  NO_FAULTS,
  RecordedRequest,
  STT_DROP_MODES,
  type EmulatorFaults,
  type RequestOutcome,
  type SttDropMode,
  type SttEmitHook,
  type SttTranscriber,
  STT_TRANSCRIBERS,
  TTS_SPEECHES,
  type TtsSpeech,
  type TtsChunkInfo,
  type TtsEmitHook,
} from './emulator-state.js';
export { DEFAULT_OUTPUT_FORMAT, EMULATED_FORMATS, type EmulatedFormat } from './output-formats.js';
export { emulatorVoiceFor } from './speech/emulator-speech.js';
export { REALTIME_PATH } from './speech-to-text/realtime.server.js';

export interface ElevenLabsEmulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When set, requests must send exactly this `xi-api-key`; otherwise any non-empty key works. */
  apiKey?: string;
  /** Faults in force from the start (default none). */
  faults?: Partial<EmulatorFaults>;
  /**
   * Realtime STT transcriber: `local` (default, the embedded recogniser), `echo` (load tests), or
   * `echo_stamped` (echo texts end with ` @<epoch ms>`, the emulator's send time, so a benchmark in
   * another process can time the path).
   */
  transcriber?: SttTranscriber;
  /** TTS speech: `flite` (default) or `silence` (load tests; see TtsSpeech). */
  ttsSpeech?: TtsSpeech;
  /** Called as each realtime STT message is sent (benchmarks time the gateway with it). */
  onSttEmit?: SttEmitHook;
  /** Called as each TTS audio chunk is written to its response (benchmarks time the gateway with it). */
  onTtsEmit?: TtsEmitHook;
  /** flite and MP3 worker threads (default 1). */
  workers?: number;
  logger?: LogLevel[] | false;
}

export interface ElevenLabsEmulator {
  /** Root URL to use as ELEVENLABS_BASE_URL, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  /** Fault knobs; change them at any time, they apply to the next request. */
  faults: EmulatorFaults;
  /** Every API request received, oldest first. */
  requests: RecordedRequest[];
  /** Realtime STT WebSocket connections accepted since the last reset. */
  readonly sttConnections: number;
  /** Clears the request log and every fault. */
  reset(): void;
  /** Stops the server, cutting open (e.g. stalled) streams, and its worker threads. */
  close(): Promise<void>;
}

/**
 * Starts the ElevenLabs API emulator: the TTS HTTP streaming endpoint of api.elevenlabs.io, spoken
 * by the embedded flite engine, and Scribe v2 Realtime STT (WebSocket) transcribed by the embedded
 * recogniser, with fault knobs. Tests start it in-process; `main.ts` runs it alone.
 */
export async function startElevenLabsEmulator(options: ElevenLabsEmulatorOptions = {}): Promise<ElevenLabsEmulator> {
  const state = new EmulatorState(options.apiKey, options.faults, options.transcriber, options.onSttEmit, options.onTtsEmit, options.ttsSpeech);
  const app = await NestFactory.create<NestExpressApplication>(ElevenLabsEmulatorModule.forRoot(state, options.workers ?? 1), {
    logger: options.logger ?? ['error', 'warn'],
    abortOnError: false,
    forceCloseConnections: true,
  });
  await app.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  const { address, port, family } = app.getHttpServer().address() as AddressInfo;
  return {
    baseUrl: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    faults: state.faults,
    requests: state.requests,
    get sttConnections() {
      return state.sttConnections;
    },
    reset: () => state.reset(),
    close: () => app.close(),
  };
}
