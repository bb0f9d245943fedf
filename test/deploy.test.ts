import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { NGINX_BINARY, nginxMainConfig } from './utils/nginx.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const envExampleNames = new Set([...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
/** Set by the image or the platform, not the service's own settings. */
const PLATFORM_VARIABLES = new Set(['NODE_ENV']);

/** Parsed YAML whose shape the assertions check as they go. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Parsed = any;
type K8sObject = { kind: string; metadata: { name: string }; spec: Record<string, Parsed> };

describe('deployment files', () => {
  it('Dockerfile: multi-stage Debian slim Node 20, PocketSphinx, non-root, health check, SIGTERM to node itself', () => {
    const dockerfile = read('deploy/Dockerfile');
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
    assert.match(dockerfile, /libpocketsphinx3 pocketsphinx-en-us/);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
    assert.match(dockerfile, /^HEALTHCHECK [\s\S]*\/health\/live/m);
    // Exec form with node itself: no shell or npm between the signal and the service.
    assert.match(dockerfile, /^CMD \["node", "dist\/src\/main\.js"\]$/m);
    assert.doesNotMatch(dockerfile, /^(CMD|ENTRYPOINT) .*npm/m);
    const ignored = read('deploy/Dockerfile.dockerignore');
    for (const entry of ['node_modules', '.env', '.git', 'dist']) assert.match(ignored, new RegExp(`^${entry.replace('.', '\\.')}$`, 'm'));
  });

  it('docker-compose.yml: two replicas behind nginx, Redis, the reference backend; variables as in .env.example', () => {
    const compose = parse(read('deploy/docker-compose.yml'), { merge: true }) as { services: Record<string, Parsed> };
    const replicas = Object.entries(compose.services).filter(([, service]) => service.command === undefined && service.image === 'voice-layer:local');
    assert.equal(replicas.length, 2);
    for (const [name, service] of replicas) {
      assert.equal(service.build.dockerfile, 'deploy/Dockerfile', name);
      for (const variable of Object.keys(service.environment as object)) {
        assert.ok(envExampleNames.has(variable) || PLATFORM_VARIABLES.has(variable), `${name}: ${variable} is not documented in .env.example`);
      }
      assert.equal(service.environment.REGISTRATION_STORE, 'redis');
      assert.match(service.environment.REDIS_URL, /^redis:\/\/redis:/);
      assert.match(service.environment.BACKEND_BASE_URL, /^http:\/\/reference-backend:/);
      const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period)![1]) * 1000;
      assert.ok(grace > Number(service.environment.DRAIN_TIMEOUT_MS), `${name}: stop_grace_period must exceed DRAIN_TIMEOUT_MS`);
    }
    assert.ok(compose.services['redis']);
    assert.deepEqual(compose.services['reference-backend'].command, ['node', 'dist/apps/reference-backend/src/main.js']);
    const nginx = compose.services['nginx'];
    assert.ok((nginx.volumes as string[]).some((v) => v.startsWith('./nginx/voice-layer.conf:/etc/nginx/conf.d/')));
    const upstreams = [...read('deploy/nginx/voice-layer.conf').matchAll(/^\s*server ([\w.-]+):8000\b/gm)].map((m) => m[1]);
    assert.deepEqual(upstreams.sort(), replicas.map(([name]) => name).sort(), 'nginx upstreams are the compose replicas');
  });

  it('Kubernetes: probes, preStop and a grace period longer than the drain, Service, PDB, HPA', () => {
    const objects = parseAllDocuments(read('deploy/k8s/voice-layer.yaml')).map((d) => d.toJS() as K8sObject);
    const byKind = (kind: string) => objects.find((o) => o.kind === kind)!;
    const pod = byKind('Deployment').spec['template'].spec;
    const container = pod.containers[0];
    assert.equal(container.readinessProbe.httpGet.path, '/health/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/health/live');
    assert.ok(container.lifecycle.preStop, 'preStop');
    const env = Object.fromEntries((container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
    for (const name of Object.keys(env)) assert.ok(envExampleNames.has(name) || PLATFORM_VARIABLES.has(name), `${name} is not documented in .env.example`);
    const preStopSeconds = Number((container.lifecycle.preStop.exec?.command as string[] | undefined)?.[1] ?? 0);
    const drainSeconds = Number(env['DRAIN_TIMEOUT_MS']) / 1000;
    assert.ok(pod.terminationGracePeriodSeconds > preStopSeconds + drainSeconds, `grace ${pod.terminationGracePeriodSeconds} s > preStop ${preStopSeconds} s + drain ${drainSeconds} s`);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const service = byKind('Service');
    assert.deepEqual(service.spec['selector'], byKind('Deployment').spec['selector'].matchLabels);
    const pdb = byKind('PodDisruptionBudget');
    assert.ok(pdb.spec['minAvailable'] >= 1 && pdb.spec['minAvailable'] < byKind('Deployment').spec['replicas']);
    const hpa = parse(read('deploy/k8s/hpa.example.yaml')) as K8sObject;
    assert.equal(hpa.kind, 'HorizontalPodAutoscaler');
    assert.equal(hpa.spec['scaleTargetRef'].name, 'voice-layer');
    assert.ok(hpa.spec['minReplicas'] >= 2, 'at least two replicas, so one can drain');
  });

  it('nginx config passes `nginx -t` with Debian nginx', (t) => {
    if (spawnSync(NGINX_BINARY, ['-v']).error) return t.skip('nginx is not installed (scripts/setup.sh --test installs it)');
    const dir = mkdtempSync(join(tmpdir(), 'voice-layer-nginx-'));
    try {
      writeFileSync(join(dir, 'nginx.conf'), nginxMainConfig(dir, read('deploy/nginx/voice-layer.conf'), { listenPort: 18080, upstreams: ['127.0.0.1:18001', '127.0.0.1:18002'] }));
      const result = spawnSync(NGINX_BINARY, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /test is successful/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Grafana dashboard queries only metrics the service exports', () => {
    const dashboard = JSON.parse(read('deploy/grafana/voice-layer-dashboard.json')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const metrics = new MetricsService();
    try {
      const exported = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
      const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:voice_layer|process)_[a-z_]+?)(?:_bucket|_count|_sum)?\{/g)].map((m) => m[1]!))));
      assert.ok(used.size >= 8, `dashboard uses ${used.size} metrics`);
      for (const name of used) assert.ok(exported.has(name), `dashboard uses ${name}, which the service does not export`);
      for (const name of ['voice_layer_sessions_active', 'voice_layer_turns_total', 'voice_layer_turn_stage_seconds', 'voice_layer_errors_total']) assert.ok(used.has(name), name);
    } finally {
      metrics.onModuleDestroy();
    }
  });
});
