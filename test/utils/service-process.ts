import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { VOICE_WS_PATH } from '@app/protocol';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The built service (dist/src/main.js) as its own process on a free loopback port, so its memory
 * can be measured apart from the test's clients. Everything it prints is kept in `output`.
 */
export class ServiceProcess {
  private text = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly httpUrl: string,
    readonly wsUrl: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.text += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.text += d.toString()));
  }

  static async start(env: Record<string, string>, nodeArgs: string[] = []): Promise<ServiceProcess> {
    const port = await freePort();
    const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
    const child = spawn(process.execPath, [...nodeArgs, main], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const service = new ServiceProcess(child, `http://127.0.0.1:${port}`, `ws://127.0.0.1:${port}${VOICE_WS_PATH}`);
    const deadline = Date.now() + 30_000;
    while (!service.text.includes('Voice Layer listening')) {
      if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}): ${service.text.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`service did not start: ${service.text.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return service;
  }

  get output(): string {
    return this.text;
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

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}
