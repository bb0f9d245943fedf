import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

/**
 * Smoke test of the load harness (bench/load.ts): 5 sessions for 3 s, every process real (service,
 * emulator, load generator). It checks the table and the JSON carry the figures, and that at this
 * level nothing was lost: it does not judge the latency figures, which depend on the machine.
 */
describe('load harness smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'load-harness-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('runs a tiny level and reports every figure with its goal', async () => {
    const script = fileURLToPath(new URL('../bench/load.js', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [script, '--levels', '5', '--seconds', '3', '--warmup-level', '0', '--warmup-seconds', '1', '--commit-every', '1', '--prompt-every', '2', '--out', out], { timeout: 90_000 }, (error, output) =>
        error ? reject(new Error(error.message)) : resolve(output),
      );
    });
    for (const row of ['added latency p50 (ms)', 'added latency p99 (ms)', 'service event-loop lag p99 (ms)', 'service CPU (% of one core)', 'RSS per streaming session (KiB)', 'dropped partials+commits', 'reordered events', 'load average']) {
      assert.match(stdout, new RegExp(`^${row.replace(/[()+%]/g, '\\$&')}`, 'm'), `table row "${row}"`);
    }
    assert.match(stdout, /added latency p50 \(ms\)\s+<= 2\s+-?\d+\.\d+/);
    const file = readdirSync(out).find((name) => name.startsWith('load-') && name.endsWith('.json'));
    assert.ok(file, 'results JSON written');
    interface Level {
      sessions: number;
      integrity: Record<string, number>;
      gateway: { n: number };
      directPath: { n: number };
      cpu: { service: number };
      rss: { peak: number };
      lag: { p99: number };
    }
    const [level] = (JSON.parse(readFileSync(join(out, file), 'utf8')) as { levels: Level[] }).levels;
    assert.ok(level);
    assert.equal(level.sessions, 5);
    const integrity = level.integrity;
    // 5 sessions x 10 chunks/s for warm-up + measurement: every chunk answered by one partial, in order.
    assert.ok(integrity['gatewayChunksSent']! >= 5 * 10 * 3, `chunks sent: ${integrity['gatewayChunksSent']}`);
    // Every chunk is answered by exactly one partial. A session whose audio stops mid-utterance when the
    // level ends gets the silence window filled in by the service (VAD commits; README "Barge-in"),
    // which the echo transcriber answers with one more partial: counted apart, at most one per session.
    assert.equal(integrity['gatewayPartials'], integrity['gatewayChunksSent'], 'one partial per chunk sent');
    assert.ok(integrity['gatewayServicePartials']! <= level.sessions, `service-added partials: ${integrity['gatewayServicePartials']}`);
    assert.match(stdout, /^dropped partials\+commits\s+0\s+0$/m, 'the table says 0 dropped');
    assert.equal(integrity['gatewayCommitted'], integrity['gatewayCommitsSent']);
    assert.ok(integrity['gatewayCommitsSent']! >= 5 * 2, `commits: ${integrity['gatewayCommitsSent']}`);
    assert.equal(integrity['reordered'], 0);
    assert.equal(integrity['audioChunkGaps'], 0);
    assert.ok(integrity['turnsCompleted']! > 0, 'committed transcripts and prompts started turns that finished');
    assert.ok(level.gateway.n > 0 && level.directPath.n > 0, 'both paths measured');
    assert.ok(level.cpu.service > 0 && level.rss.peak > 0, 'service CPU and RSS sampled');
    assert.ok(Number.isFinite(level.lag.p99), 'service event-loop lag read');
  });
});
