import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@app/testing';

/**
 * Debian's nginx binary. It lives in /usr/sbin, which is not on an unprivileged user's PATH on
 * Debian (only root's), so look there first rather than rely on PATH.
 */
export const NGINX_BINARY = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path)) ?? 'nginx';

export interface NginxTemplate {
  listenPort: number;
  /** host:port of each replica, in the order of the config's upstream `server` lines. */
  upstreams: string[];
}

/**
 * The repository's site config (deploy/nginx/voice-layer.conf) inside a main config that keeps
 * everything in `dir` (pid, logs, temp files), so an unprivileged test can run Debian's nginx. Only
 * the listen port and the upstream addresses are rewritten.
 */
export function nginxMainConfig(dir: string, site: string, template: NginxTemplate): string {
  let index = 0;
  const rewritten = site
    .replace(/^(\s*)listen 80;/m, `$1listen 127.0.0.1:${template.listenPort};`)
    .replace(/^(\s*)server [\w.-]+:8000\b/gm, (_match, indent: string) => {
      const upstream = template.upstreams[index++];
      if (!upstream) throw new Error('more upstream servers in the config than replicas given');
      return `${indent}server ${upstream}`;
    })
    .replace(/access_log \S+/g, `access_log ${join(dir, 'access.log')}`);
  if (index !== template.upstreams.length) throw new Error(`the config has ${index} upstream servers, not ${template.upstreams.length}`);
  const temp = (name: string) => join(dir, `temp_${name}`);
  return [
    // As root (CI containers), workers would switch to `nobody` and lose access to the temp dir.
    process.getuid?.() === 0 ? 'user root;' : '',
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} notice;`,
    'events { worker_connections 512; }',
    'http {',
    `  client_body_temp_path ${temp('client_body')};`,
    `  proxy_temp_path ${temp('proxy')};`,
    `  fastcgi_temp_path ${temp('fastcgi')};`,
    `  uwsgi_temp_path ${temp('uwsgi')};`,
    `  scgi_temp_path ${temp('scgi')};`,
    rewritten,
    '}',
    '',
  ].join('\n');
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Debian's nginx on 127.0.0.1 and a free port with the repository's config, for tests. */
export class NginxServer {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(site: string, upstreams: string[]): Promise<NginxServer> {
    const dir = mkdtempSync(join(tmpdir(), 'voice-layer-nginx-'));
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxMainConfig(dir, site, { listenPort: port, upstreams }));
    const child = spawn(NGINX_BINARY, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const server = new NginxServer(port, dir, child);
    const deadline = performance.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null || performance.now() > deadline) {
        await server.stop();
        throw new Error(`nginx did not start: ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return server;
  }

  private finalLog?: string[];

  /** Access log lines (format `voice_layer` of the config: upstream=... upstream_status=...); kept after stop(). */
  accessLog(): string[] {
    if (this.finalLog) return this.finalLog;
    try {
      return readFileSync(join(this.dir, 'access.log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    live.delete(this.child);
    this.finalLog ??= this.accessLog();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
