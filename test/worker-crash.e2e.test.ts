import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { VoiceTestClient } from '@app/testing';
import { LocalSttProvider } from '../src/stt/local-stt.provider.js';
import { LocalTtsProvider } from '../src/tts/local-tts.provider.js';
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

interface SynthesizerView {
  pool: { threads: Worker[] };
  scheduler: { active: number };
}

describe('synthesis worker crashes', () => {
  it('fails the turn a dead flite worker was speaking with tts_failed at once, replaces the worker, and speaks new turns on live workers', { timeout: 60_000 }, async () => {
    const app = await startTestApp({ TTS_WORKERS: '1' });
    try {
      const synthesizer = app.app.get<LocalTtsProvider, { synthesizer: SynthesizerView }>(LocalTtsProvider).synthesizer;
      const victim = await connectConfigured(app);
      // One long sentence (the echo of a 300-character prompt): its synthesis takes hundreds of ms.
      victim.send({ type: 'text.prompt', text: 'a very long sentence without any pause '.repeat(8) });
      const deadline = Date.now() + 10_000;
      while (synthesizer.scheduler.active === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
      assert.equal(synthesizer.scheduler.active, 1, 'the sentence is being synthesised');
      const dead = synthesizer.pool.threads[0]!;
      const killed = performance.now();
      await dead.terminate();

      const error = await victim.nextOf('error', { timeoutMs: 2000 });
      assert.equal(error.code, 'tts_failed');
      assert.ok(performance.now() - killed < 2000);
      assert.ok(!victim.events.some((event) => event.type === 'assistant.audio.chunk'), 'no audio of the failed sentence');

      // A new session speaks at once (its sentence waits for the replacement, never for the dead worker).
      const fresh = await connectConfigured(app);
      fresh.send({ type: 'text.prompt', text: 'hello' });
      await fresh.nextOf('assistant.audio.chunk', { timeoutMs: 15_000 });
      await fresh.nextOf('assistant.audio.end', { timeoutMs: 15_000 });
      assert.equal(synthesizer.pool.threads.length, 1, 'the dead worker was replaced');
      assert.ok(!synthesizer.pool.threads.includes(dead));
      // The failed session goes on speaking too.
      victim.send({ type: 'text.prompt', text: 'thanks' });
      await victim.nextOf('assistant.audio.end', { timeoutMs: 15_000 });
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
