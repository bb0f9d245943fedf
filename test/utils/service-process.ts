import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { VOICE_WS_PATH } from '@app/protocol';
import { freePort } from '@app/testing';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ServiceStartOptions {
  /** Started once this answers 200: `/health/live` (listening; the default) or `/health/ready` (workers warm, backend reachable). */
  readyPath?: '/health/live' | '/health/ready';
  /** How long it may take to get there (default 30 s; boot warms the synthesis workers, slow on a loaded machine). */
  timeoutMs?: number;
}

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() when it exited. */
  at: number;
}

/**
 * The built service (dist/src/main.js) as its own process on a free loopback port, started the way
 * the image starts it (`node dist/src/main.js`), with only `env` (and PATH): its memory can be
 * measured apart from the test's clients, its log read whole, and it can be sent signals.
 */
export class ServiceProcess {
  private text = '';
  private stdoutText = '';
  /** Resolves when the process has exited. */
  readonly exited: Promise<ServiceExit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (d: Buffer) => {
      this.text += d.toString();
      this.stdoutText += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => (this.text += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  }

  static async start(env: Record<string, string>, nodeArgs: string[] = [], options: ServiceStartOptions = {}): Promise<ServiceProcess> {
    const port = await freePort();
    const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
    const child = spawn(process.execPath, [...nodeArgs, main], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const service = new ServiceProcess(child, port);
    const readyUrl = `${service.httpUrl}${options.readyPath ?? '/health/live'}`;
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while ((await fetch(readyUrl).then((r) => r.status, () => 0)) !== 200) {
      if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}): ${service.text.slice(-2000)}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`service did not answer 200 on ${options.readyPath ?? '/health/live'}: ${service.text.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return service;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}${VOICE_WS_PATH}`;
  }

  /** Everything it printed, stdout and stderr. */
  get output(): string {
    return this.text;
  }

  /** What it printed on stdout (the log). */
  get stdout(): string {
    return this.stdoutText;
  }

  /** Sends a signal (a no-op once it has exited). */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resident set size in bytes (Linux /proc; the same figure pidusage reports). */
  async rss(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  }

  /** Samples RSS every `everyMs` until `stop()`; resolves with the largest value seen. */
  sampleRss(everyMs = 100): { stop(): Promise<number> } {
    let max = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        max = Math.max(max, await this.rss());
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return Math.max(max, await this.rss());
      },
    };
  }

  /** SIGTERM (the drain), SIGKILL after 20 s; resolves once it has exited. */
  async stop(): Promise<void> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}
