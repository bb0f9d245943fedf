import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Level, type Logger as Pino } from 'pino';
import pinoPretty from 'pino-pretty';

/** Nest's levels as pino's (Nest `log` is pino `info`, `verbose` is `trace`). */
const PINO_LEVELS: Record<string, Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/** Fields that hold secrets wherever they appear in a structured log line. */
export const REDACTED_PATHS = [
  'apiKey',
  'api_key',
  'authorization',
  'password',
  'token',
  'secret',
  '*.apiKey',
  '*.api_key',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*["xi-api-key"]',
  'headers.authorization',
  'headers["xi-api-key"]',
  'config.headers.authorization',
  'config.headers["xi-api-key"]',
];

export const REDACTED = '[REDACTED]';

/**
 * Masks secrets in a finished log line: the configured secret values (and their JSON and URL
 * encodings) anywhere, plus what looks like one whatever its source: bearer tokens, `xi-api-key`
 * values, passwords in URLs and `sk-...` keys. Runs on every line, messages and stacks included.
 */
export function secretScrubber(secrets: ReadonlyArray<string | undefined>): (line: string) => string {
  const values = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    values.add(secret);
    values.add(JSON.stringify(secret).slice(1, -1));
    values.add(encodeURIComponent(secret));
  }
  const ordered = [...values].sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const value of ordered) if (out.includes(value)) out = out.split(value).join(REDACTED);
    return out
      .replace(/(bearer\s+)[^\s"',\\]+/gi, `$1${REDACTED}`)
      .replace(/(xi-api-key\\?["']?\s*[:=]\s*\\?["']?)[^\s"',\\}]+/gi, `$1${REDACTED}`)
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"]*:)[^\s@"/]+@/gi, `$1${REDACTED}@`)
      .replace(/\bsk-[A-Za-z0-9_-]{8,}/g, REDACTED);
  };
}

export interface AppLoggerOptions {
  /** LOG_LEVEL (Nest names: error, warn, log, debug, verbose). */
  level: string;
  format: 'json' | 'pretty';
  /** Configured secret values, masked in every line. */
  secrets: ReadonlyArray<string | undefined>;
  /** Where lines go (default: stdout). */
  destination?: DestinationStream;
}

/** The root pino logger: JSON lines (or pretty text), ISO timestamps, redaction and secret scrubbing. */
export function createPino(options: AppLoggerOptions): Pino {
  const scrub = secretScrubber(options.secrets);
  const destination =
    options.destination ??
    (options.format === 'pretty'
      ? pinoPretty({
          sync: true,
          colorize: process.stdout.isTTY === true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,service,context',
          messageFormat: '{if context}[{context}] {end}{msg}',
          destination: 1,
        })
      : process.stdout);
  return pino(
    {
      level: PINO_LEVELS[options.level] ?? 'info',
      base: { service: 'voice-layer', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrub },
    },
    destination,
  );
}

/**
 * Nest's LoggerService on pino, so `new Logger(Context)` lines and the service's own come out in one
 * format. `child()` adds fields to every line: sessions log with `session_id`, turns with `turn_id`.
 */
export class AppLogger implements LoggerService {
  constructor(readonly pino: Pino) {}

  child(bindings: Record<string, string | number>): AppLogger {
    return new AppLogger(this.pino.child(bindings));
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  /** Nest calls `(message, context)` or, for errors, `(message, stack, context)`. */
  private write(level: Level, message: unknown, params: unknown[], mayHaveStack = false): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = [...params];
    const context = rest.length > 0 && typeof rest.at(-1) === 'string' && (!mayHaveStack || rest.length > 1 || !looksLikeStack(rest.at(-1) as string)) ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    const stack = mayHaveStack && typeof rest[0] === 'string' ? rest[0] : undefined;
    if (stack) fields['stack'] = stack;
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...(message as Record<string, unknown>) });
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

function looksLikeStack(text: string): boolean {
  return /\n\s+at /.test(text);
}
