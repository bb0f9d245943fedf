import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { MAX_PLAYED_MS } from '@app/protocol';

/**
 * `assistant.audio.played` for a client that has played all of a turn. With barge-in on (the default) a
 * turn stays active until its audio has played on the client, estimated in real time when no report
 * comes; a bench that sends its next prompt on `assistant.audio.end` without this report measures that
 * playback wait (seconds per reply) instead of the next turn's latency.
 */
export function playedAll(turnId: number): { type: 'assistant.audio.played'; turn_id: number; played_ms: number } {
  return { type: 'assistant.audio.played', turn_id: turnId, played_ms: MAX_PLAYED_MS };
}

/** Median, p95, p99 and friends of a sample, in the sample's unit. */
export function summarize(values: number[]): { n: number; median: number; p95: number; p99: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  return { n: sorted.length, median: at(0.5), p95: at(0.95), p99: at(0.99), min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}

export function formatMs(stats: ReturnType<typeof summarize>): string {
  return `median ${stats.median.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, min ${stats.min.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms (n=${stats.n})`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts the built service (dist/src/main.js) as its own process and waits until it is ready. */
export async function startService(env: Record<string, string>, readyTimeoutMs = 30_000): Promise<{ url: string; wsUrl: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('service did not become ready');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/voice/ws`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Closes a load-generator socket, terminating it if the close handshake takes over 3 s. */
export function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 3000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close();
  });
}
