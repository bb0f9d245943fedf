import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

/**
 * Smoke test of the embedded-engine load harness (bench/load-embedded.ts --smoke): 2 speakers, one
 * speaker beside a fast uploader, 4 mostly-silent sessions, 2 prompts, every process real (service
 * with PocketSphinx, Silero and flite; load generator). It checks that every level produced its
 * figures and that they are sane (each utterance committed once, after its speech ended, with
 * words recognised; each prompt answered with audio); it does not judge them against the goals,
 * which depend on the machine.
 */
describe('embedded load harness smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'load-embedded-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('runs the smoke levels and reports every figure with its goal', async () => {
    const script = fileURLToPath(new URL('../bench/load-embedded.js', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [script, '--smoke', '--out', out], { timeout: 300_000 }, (error, output) => (error ? reject(new Error(`${error.message}\n${output}`)) : resolve(output)));
    });
    for (const row of ['speakers at the same moment', 'sessions at 10 % speaking', "fairness: 1 speakers' commit", 'with one fast uploader', '2 concurrent prompts: first audio']) {
      assert.ok(stdout.includes(row), `summary row "${row}"\n${stdout}`);
    }
    assert.match(stdout, /load \d+(\.\d)? \d+(\.\d)? \d+(\.\d)?/, 'load average printed');
    const file = readdirSync(out).find((name) => name.startsWith('load-embedded-') && name.endsWith('.json'));
    assert.ok(file, 'results JSON written');
    interface Level {
      sessions: number;
      result: { commitMs: number[]; utterances: number; wer: number[]; failedOpens: number; fastUploadedSecs?: number };
      usage: { cpu: number; rssPeak: number; load: number[] };
    }
    const results = JSON.parse(readFileSync(join(out, file), 'utf8')) as {
      speakers: Level[];
      fairness: Level[];
      silent: Level[];
      prompts: { result: { firstAudioMs: number[]; prompts: number; completed: number } };
    };
    const levels = [...results.speakers, ...results.fairness, ...results.silent];
    assert.equal(results.speakers.length, 1);
    assert.equal(results.fairness.length, 2);
    assert.equal(results.silent.length, 1);
    for (const level of levels) {
      const { result, usage } = level;
      assert.equal(result.failedOpens, 0);
      assert.ok(result.utterances >= 1, 'utterances scheduled');
      assert.equal(result.commitMs.length, result.utterances, 'every utterance committed');
      // After the end of speech plus the window (less chunking and the VAD's frame), and within seconds.
      for (const ms of result.commitMs) assert.ok(ms > -500 && ms < 20_000, `commit ${ms} ms beyond the window`);
      assert.ok(result.wer.every((wer) => wer < 0.9), `words recognised (WER ${result.wer.join(', ')})`);
      assert.ok(usage.cpu > 0 && usage.rssPeak > 100 * 1024 * 1024 && usage.load.length === 3, 'service CPU, RSS and load sampled');
    }
    assert.equal(results.speakers[0]!.sessions, 2);
    assert.equal(results.speakers[0]!.result.utterances, 2, 'both speakers measured');
    assert.ok((results.fairness[1]!.result.fastUploadedSecs ?? 0) > 50, 'the fast uploader sent its burst');
    const prompts = results.prompts.result;
    assert.equal(prompts.prompts, 2);
    assert.equal(prompts.firstAudioMs.length, 2, 'both prompts got audio');
    assert.equal(prompts.completed, 2);
    assert.ok(prompts.firstAudioMs.every((ms) => ms > 0 && ms < 20_000), `first audio ${prompts.firstAudioMs.join(', ')} ms`);
  });
});
