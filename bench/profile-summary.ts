/**
 * Reads what `bench/load.ts --profile-at N` wrote and prints where the service's time and memory go:
 *   node dist/bench/profile-summary.js cpu bench/results/service-500.cpuprofile [top=30]
 *     self time per function (name, file:line) and per package / source folder, as % of samples;
 *   node dist/bench/profile-summary.js heap before.heapsnapshot after.heapsnapshot [sessions] [top=25]
 *     retained-size-free diff: self size and count per constructor between two heap snapshots,
 *     divided by `sessions` (the per-session cost).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  // The innermost package: @nestjs/platform-ws carries its own `ws`.
  const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(.+)$/.exec(path);
  if (own) return own[1]!.split('/').slice(0, -1).join('/') || own[1]!;
  if (path.startsWith('node:')) return path.split('/')[0]!;
  return path || '(native)';
}

function cpu(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const perFunction = new Map<string, number>();
  const perPlace = new Map<string, number>();
  for (const [id, time] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    const key = `${functionName || '(anonymous)'}  ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + time);
    const place = functionName.startsWith('(') ? functionName : where(url);
    perPlace.set(place, (perPlace.get(place) ?? 0) + time);
  }
  const busy = total - idle;
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((100 * busy) / total).toFixed(1)} % busy (main thread)`);
  console.log(`\nself time by package / folder (% of busy):`);
  for (const [place, time] of [...perPlace].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${((100 * time) / busy).toFixed(1).padStart(5)} %  ${place}`);
  console.log(`\nself time by function (% of busy):`);
  for (const [key, time] of [...perFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((100 * time) / busy).toFixed(1).padStart(5)} %  ${key}`);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function heapCounts(file: string): Map<string, { size: number; count: number }> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = type === 'object' || type === 'closure' ? `${type === 'closure' ? 'closure ' : ''}${snapshot.strings[snapshot.nodes[i + nameAt]!]!}` : `(${type})`;
    const entry = out.get(name) ?? { size: 0, count: 0 };
    entry.size += snapshot.nodes[i + sizeAt]!;
    entry.count++;
    out.set(name, entry);
  }
  return out;
}

function heap(before: string, after: string, sessions: number, top: number): void {
  const a = heapCounts(before);
  const b = heapCounts(after);
  const diff = [...b].map(([name, { size, count }]) => ({ name, size: size - (a.get(name)?.size ?? 0), count: count - (a.get(name)?.count ?? 0) }));
  const total = diff.reduce((sum, d) => sum + d.size, 0);
  console.log(`heap growth ${before} -> ${after}: ${(total / 1024 / 1024).toFixed(1)} MiB, ${(total / sessions / 1024).toFixed(1)} KiB per session (${sessions} sessions)`);
  for (const d of diff.sort((x, y) => y.size - x.size).slice(0, top)) {
    console.log(`  ${(d.size / sessions).toFixed(0).padStart(7)} B/session  ${(d.count / sessions).toFixed(1).padStart(6)} objects/session  ${d.name.slice(0, 80)}`);
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'cpu' && rest[0]) cpu(rest[0], Number(rest[1] ?? 30));
else if (mode === 'heap' && rest[0] && rest[1]) heap(rest[0], rest[1], Number(rest[2] ?? 1), Number(rest[3] ?? 25));
else console.error('usage: profile-summary.js cpu FILE [top] | heap BEFORE AFTER [sessions] [top]');
