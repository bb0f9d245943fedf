import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Starts the built service (dist/src/main.js) as its own process with only `env` (and PATH), and
 * resolves with its exit code and stderr once it exits (killed after 15 s): for boot-time checks.
 */
export function bootService(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', PORT: '0', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
