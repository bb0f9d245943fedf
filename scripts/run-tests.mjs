#!/usr/bin/env node
// Runs every compiled test file (`*.test.js` under dist/) with node's test runner, streams the
// spec report, and ends with one line `N passed, N failed` (CI reads it). Exit code 1 on failure.
// Usage: node scripts/run-tests.mjs [substring filter...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = find(join(root, 'dist'))
  .map((path) => relative(root, path))
  .filter((path) => filters.length === 0 || filters.some((filter) => path.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}

const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
// A hung suite must fail the run, not hold CI until its limit.
const limitMinutes = Number(process.env['TEST_TIME_LIMIT_MINUTES'] ?? 30);
const watchdog = setTimeout(() => {
  console.error(`\ntests still running after ${limitMinutes} minutes: stopping them`);
  child.kill('SIGKILL');
}, limitMinutes * 60_000);
let output = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
child.on('exit', (code) => {
  clearTimeout(watchdog);
  const count = (label) => Number(new RegExp(`ℹ ${label} (\\d+)`).exec(output)?.[1] ?? 0);
  const passed = count('pass');
  const failed = count('fail') + count('cancelled');
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : 1);
});
