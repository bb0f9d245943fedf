import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import {
  NO_FAULTS,
  startElevenLabsEmulator,
  STT_DROP_MODES,
  STT_TRANSCRIBERS,
  TTS_SPEECHES,
  type EmulatorFaults,
  type SttDropMode,
  type SttTranscriber,
  type TtsSpeech,
} from './index.js';

/**
 * Runs the ElevenLabs emulator on its own. Every option is a flag or an environment variable
 * (`--chunk-delay-ms 200` or ELEVENLABS_EMULATOR_CHUNK_DELAY_MS=200); flags win.
 */
const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'api-key': { type: 'string' },
  workers: { type: 'string' },
  'reject-auth': { type: 'boolean' },
  'quota-exceeded': { type: 'boolean' },
  'rate-limited': { type: 'string' },
  'retry-after': { type: 'string' },
  'server-errors': { type: 'string' },
  'concurrency-limit': { type: 'string' },
  'first-byte-delay-ms': { type: 'string' },
  'chunk-delay-ms': { type: 'string' },
  stall: { type: 'boolean' },
  'drop-after-bytes': { type: 'string' },
  'stt-reject-auth': { type: 'boolean' },
  'stt-quota-exceeded': { type: 'boolean' },
  'stt-rate-limited': { type: 'string' },
  'stt-drop-after-chunks': { type: 'string' },
  'stt-drop-count': { type: 'string' },
  'stt-drop-terminate': { type: 'boolean' },
  'stt-drop-mode': { type: 'string' },
  'stt-stall': { type: 'boolean' },
  'stt-latency-ms': { type: 'string' },
  'stt-idle-close-ms': { type: 'string' },
  transcriber: { type: 'string' },
  'tts-speech': { type: 'string' },
} as const;
type OptionName = keyof typeof OPTIONS;

const { values } = parseArgs({ options: OPTIONS, strict: true });

function setting(name: OptionName): string | boolean | undefined {
  return values[name] ?? process.env[`ELEVENLABS_EMULATOR_${name.toUpperCase().replaceAll('-', '_')}`];
}

/** A whole number, or `always` (Infinity) for the counters that allow it. */
function count(name: OptionName, fallback: number): number {
  const value = setting(name);
  if (value === undefined || value === '') return fallback;
  if (value === 'always') return Infinity;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new Error(`--${name} must be a whole number >= 0 or "always" (got ${String(value)})`);
  return number;
}

function flag(name: OptionName): boolean {
  const value = setting(name);
  return value === true || value === 'true' || value === '1';
}

/** `--stt-drop-mode` (close_1011, terminate, freeze, mute); `--stt-drop-terminate` is short for terminate. */
function dropMode(): SttDropMode {
  const value = setting('stt-drop-mode');
  if (value === undefined || value === '') return flag('stt-drop-terminate') ? 'terminate' : NO_FAULTS.sttDropMode;
  if (!STT_DROP_MODES.includes(value as SttDropMode)) throw new Error(`--stt-drop-mode must be one of ${STT_DROP_MODES.join(', ')} (got ${String(value)})`);
  return value as SttDropMode;
}

/** `--transcriber` (local, echo, echo_stamped) and `--tts-speech` (flite, silence, noise): load-test stand-ins. */
function choice<T extends string>(name: OptionName, allowed: readonly T[], fallback: T): T {
  const value = setting(name);
  if (value === undefined || value === '') return fallback;
  if (!allowed.includes(value as T)) throw new Error(`--${name} must be one of ${allowed.join(', ')} (got ${String(value)})`);
  return value as T;
}

async function main(): Promise<void> {
  const faults: EmulatorFaults = {
    rejectAuth: flag('reject-auth'),
    quotaExceeded: flag('quota-exceeded'),
    rateLimited: count('rate-limited', NO_FAULTS.rateLimited),
    retryAfterSeconds: count('retry-after', NO_FAULTS.retryAfterSeconds),
    serverErrors: count('server-errors', NO_FAULTS.serverErrors),
    concurrencyLimit: count('concurrency-limit', NO_FAULTS.concurrencyLimit),
    firstByteDelayMs: count('first-byte-delay-ms', NO_FAULTS.firstByteDelayMs),
    chunkDelayMs: count('chunk-delay-ms', NO_FAULTS.chunkDelayMs),
    stall: flag('stall'),
    dropAfterBytes: count('drop-after-bytes', NO_FAULTS.dropAfterBytes),
    sttRejectAuth: flag('stt-reject-auth'),
    sttQuotaExceeded: flag('stt-quota-exceeded'),
    sttRateLimited: count('stt-rate-limited', NO_FAULTS.sttRateLimited),
    sttDropAfterChunks: count('stt-drop-after-chunks', NO_FAULTS.sttDropAfterChunks),
    sttDropCount: count('stt-drop-count', NO_FAULTS.sttDropCount),
    sttDropMode: dropMode(),
    sttStall: flag('stt-stall'),
    sttLatencyMs: count('stt-latency-ms', NO_FAULTS.sttLatencyMs),
    sttIdleCloseMs: count('stt-idle-close-ms', NO_FAULTS.sttIdleCloseMs),
  };
  const apiKey = setting('api-key');
  const emulator = await startElevenLabsEmulator({
    port: count('port', 8200),
    host: String(setting('host') ?? '127.0.0.1'),
    apiKey: typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined,
    workers: count('workers', 1),
    faults,
    transcriber: choice<SttTranscriber>('transcriber', STT_TRANSCRIBERS, 'local'),
    ttsSpeech: choice<TtsSpeech>('tts-speech', TTS_SPEECHES, 'flite'),
    logger: ['error', 'warn', 'log'],
  });
  const active = Object.entries(faults).filter(([key, value]) => value !== NO_FAULTS[key as keyof EmulatorFaults]);
  Logger.log(`ElevenLabs emulator listening on ${emulator.baseUrl} (faults: ${active.map(([k, v]) => `${k}=${v}`).join(', ') || 'none'})`, 'ElevenLabsEmulator');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void emulator.close());
}

main().catch((error: unknown) => {
  console.error('ElevenLabs emulator failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
