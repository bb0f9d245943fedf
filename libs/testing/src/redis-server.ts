import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface RedisServerOptions {
  /** Sets `requirepass`; the URL then carries it. */
  password?: string;
  /** Longest wait for the server to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
// A test that dies before `stop()` must not leave a redis-server behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A throwaway Debian `redis-server` on 127.0.0.1 and a free port, without persistence, for tests.
 * `stop()` and `start()` again keep the port, so clients can be shown an outage and a recovery.
 */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.start();
    return server;
  }

  /** redis://[:password@]127.0.0.1:port */
  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts (again) on the same port; resolves when it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    if (this.options.password) args.push('--requirepass', this.options.password);
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    this.child = child;
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timeoutMs = this.options.startTimeoutMs ?? 10_000;
        const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${timeoutMs} ms: ${output}`)), timeoutMs);
        const onData = (data: Buffer) => {
          output += data.toString();
          if (/Ready to accept connections/i.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('error', (error) => {
          clearTimeout(timer);
          reject(new Error(`redis-server could not run (is the Debian package redis-server installed?): ${error.message}`));
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited with ${code}: ${output}`));
        });
      });
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s); its data is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
