import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { VoiceTestClient } from '@app/testing';
import { LocalSttProvider } from '../src/stt/local-stt.provider.js';
import { ServiceProcess } from './utils/service-process.js';
import { connectConfigured, startTestApp } from './utils/test-app.js';

interface PoolView {
  slots: Array<{ worker: Worker; streams: Map<number, unknown>; dead?: boolean }>;
}

describe('recognition worker crashes', () => {
  it('fails the sessions a dead worker served at once, never opens a new session on it, and replaces it', { timeout: 60_000 }, async (t) => {
    const app = await startTestApp({ STT_WORKERS: '2' });
    try {
      if (!app.sttAvailable) return t.skip('local speech recognition is not installed');
      const pool = app.app.get<LocalSttProvider, { pool: PoolView }>(LocalSttProvider).pool;
      const victim = await connectConfigured(app);
      const slot = pool.slots.find((candidate) => candidate.streams.size > 0)!;
      const bystanderSlot = pool.slots.find((candidate) => candidate !== slot)!;
      const exited = new Promise((resolve) => slot.worker.once('exit', resolve));
      await slot.worker.terminate();
      await exited;

      const error = await victim.nextOf('error', { timeoutMs: 2000 });
      assert.equal(error.code, 'stt_unavailable');
      // While the replacement starts, new sessions land on the live worker only.
      const fresh = await connectConfigured(app);
      assert.equal(slot.streams.size, 0);
      assert.ok(bystanderSlot.streams.size >= 1, 'the new stream is on the live worker');
      fresh.send({ type: 'audio.commit' });
      assert.equal((await fresh.nextOf('transcript.committed', { timeoutMs: 10_000 })).text, '');

      const deadline = Date.now() + 30_000;
      while ((pool.slots.includes(slot) || pool.slots.length < 2) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(pool.slots.length, 2, 'the dead worker was replaced');
      assert.ok(pool.slots.every((candidate) => !candidate.dead));
      // The victim's text turns still work; speech needs a new connection.
      victim.send({ type: 'text.prompt', text: 'hello' });
      await victim.nextOf('assistant.message', { timeoutMs: 15_000 });
    } finally {
      await app.close();
    }
  });
});

describe('extra Node flags', () => {
  it('runs its recognition and synthesis workers when started with --expose-gc and --max-old-space-size', { timeout: 90_000 }, async () => {
    const service = await ServiceProcess.start({ LOG_LEVEL: 'log', TTS_WORKERS: '1', STT_WORKERS: '1' }, ['--expose-gc', '--max-old-space-size=1024']);
    try {
      const config = (await (await fetch(`${service.httpUrl}/v1/voice/config`)).json()) as { stt: { providers: Array<{ id: string; available: boolean; reason?: string }> } };
      const local = config.stt.providers.find((provider) => provider.id === 'local');
      assert.ok(!local || local.available || !/ERR_WORKER_INVALID_EXEC_ARGV|invalid execArgv/.test(local.reason ?? ''), JSON.stringify(local));
      assert.doesNotMatch(service.output, /invalid execArgv/);
      const client = await VoiceTestClient.connect(service.wsUrl);
      await client.expect('session.ready');
      client.send({ type: 'session.configure' });
      await client.nextOf('session.configured');
      client.send({ type: 'text.prompt', text: 'hello' });
      await client.nextOf('assistant.audio.end', { timeoutMs: 30_000 });
      await client.close();
    } finally {
      await service.stop();
    }
  });
});
