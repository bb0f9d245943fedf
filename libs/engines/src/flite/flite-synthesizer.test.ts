import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { SynthesisPacer } from '../synthesis-pacer.js';
import { FIRST_UNIT_CREDIT_SECONDS, FliteSynthesizer } from './flite-synthesizer.js';

describe('FliteSynthesizer', () => {
  let flite: FliteSynthesizer;
  before(async () => {
    flite = new FliteSynthesizer({ threads: 1 });
    await flite.warmUp();
  });
  after(() => flite.close());

  it('speaks a reply sentence by sentence at the requested rate', async () => {
    const pieces: Buffer[] = [];
    for await (const pcm of flite.speak('Hello there. How are you today?', { voice: 'slt', sampleRate: 24000, speed: 1 }, new AbortController().signal)) pieces.push(pcm);
    assert.equal(pieces.length, 2, 'one piece per sentence');
    for (const pcm of pieces) {
      const seconds = pcm.length / 2 / 24000;
      assert.ok(seconds > 0.4 && seconds < 3, `${seconds.toFixed(2)} s`);
    }
  });

  // node:wasi crashed the whole process (SIGSEGV in a V8 fast API call, nodejs/node#53087) under
  // this load on Node 20.20, every time, within a few seconds; it must run to the end.
  it('survives sustained synthesis: 60 sentences, 4 replies at a time, in one worker', async () => {
    let sentences = 0;
    await Promise.all(
      Array.from({ length: 4 }, async (_, k) => {
        for (let i = 0; i < 5; i++) {
          const reply = `You said: session ${k} turn ${i}. The quick brown fox jumps over the lazy dog. A third sentence keeps the stream going a little longer.`;
          for await (const pcm of flite.speak(reply, { voice: 'slt', sampleRate: 24000, speed: 1 }, new AbortController().signal)) {
            assert.ok(pcm.length > 4800);
            sentences++;
          }
        }
      }),
    );
    assert.equal(sentences, 60);
  });

  it('stretches with speed', async () => {
    const length = async (speed: number) => (await flite.synthesize({ text: 'This sentence is spoken at two speeds.', voice: 'slt', sampleRate: 16000, speed })).pcm.byteLength;
    const [normal, fast] = [await length(1), await length(2)];
    assert.ok(fast < normal * 0.7 && fast > normal * 0.35, `normal ${normal} bytes, fast ${fast}`);
  });

  it("synthesises a second reply's first sentence before the first reply's look-ahead (fair, not FIFO)", async () => {
    const voice = { voice: 'slt', sampleRate: 16000, speed: 1 } as const;
    const done: string[] = [];
    const job = (reply: string, name: string, text: string) => flite.synthesize({ ...voice, text }, undefined, reply).then(() => done.push(name));
    // One worker: a1 runs; a2 (a's look-ahead) was queued before b1, yet b1 goes first.
    await Promise.all([
      job('a', 'a1', 'The first reply has a long first sentence that keeps the only worker busy for a while.'),
      job('a', 'a2', 'Its second sentence was queued first.'),
      job('b', 'b1', 'Hello.'),
    ]);
    assert.deepEqual(done, ['a1', 'b1', 'a2']);
  });

  it("paces a session's sentences after its burst; the first sentence of a reply only when the session is far behind", async () => {
    const voice = { voice: 'slt', sampleRate: 16000, speed: 1 } as const;
    const pacer = new SynthesisPacer({ burstSeconds: 0.1, speed: 4 });
    const units = ['This is the first sentence of the reply.', 'Here comes the second one.', 'And this is the third and last.'];
    const started = performance.now();
    const seconds: number[] = [];
    for await (const unit of flite.speakUnits(units, voice, new AbortController().signal, { pacer })) seconds.push(unit.pcm.length / 2 / 16000);
    const elapsed = (performance.now() - started) / 1000;
    assert.equal(seconds.length, 3);
    // The third sentence waits until the first two (less the burst) are paid at 4x real time.
    const owed = (seconds[0]! + seconds[1]! - 0.1) / 4;
    assert.ok(elapsed >= owed * 0.9, `took ${elapsed.toFixed(2)} s, owed ${owed.toFixed(2)} s`);
    // A new reply still starts at once while its session owes less than the first unit's credit...
    assert.ok(pacer.available < 0);
    let first = performance.now();
    for await (const unit of flite.speakUnits(['Right away.'], voice, new AbortController().signal, { pacer })) assert.ok(unit.pcm.length > 0);
    assert.ok(performance.now() - first < 2000);
    // ...but not once it owes more: 1 s over the credit is 250 ms at 4x real time.
    pacer.spend(pacer.available + FIRST_UNIT_CREDIT_SECONDS + 1);
    first = performance.now();
    for await (const unit of flite.speakUnits(['Later.'], voice, new AbortController().signal, { pacer })) assert.ok(unit.pcm.length > 0);
    assert.ok(performance.now() - first >= 240, `${(performance.now() - first).toFixed(0)} ms`);
  });

  it('drops the queued sentences of an aborted reply: they are never synthesised', async () => {
    const controller = new AbortController();
    const units = ['One sentence here.', 'Two sentences here.', 'Three sentences here.', 'Four sentences here.'];
    let yielded = 0;
    const reading = (async () => {
      for await (const unit of flite.speakUnits(units, { voice: 'slt', sampleRate: 16000, speed: 1 }, controller.signal)) {
        assert.ok(unit.pcm.length > 0);
        yielded++;
        controller.abort(new Error('cancelled'));
      }
    })();
    await assert.rejects(reading, /cancelled/);
    assert.equal(yielded, 1);
    assert.equal(flite.queueSize, 0, 'nothing of the aborted reply waits for the worker');
  });
});

describe('FliteSynthesizer worker crash', () => {
  it('fails the sentence a dead worker was synthesising at once, replaces the worker, and runs new sentences on live workers', { timeout: 60_000 }, async () => {
    const flite = new FliteSynthesizer({ threads: 1 });
    try {
      await flite.warmUp();
      const pool = (flite as unknown as { pool: { threads: Worker[] } }).pool;
      const victim = pool.threads[0]!;
      const running = flite.synthesize({ text: 'A long sentence that is still being spoken when its worker thread dies without warning.', voice: 'slt', sampleRate: 16000, speed: 1 });
      const started = performance.now();
      await victim.terminate();
      await assert.rejects(running);
      const failedAfterMs = performance.now() - started;
      assert.ok(failedAfterMs < 2000, `failed after ${failedAfterMs.toFixed(0)} ms`);
      // The next sentence runs on the replacement, never on the dead worker.
      const next = await flite.synthesize({ text: 'Still speaking.', voice: 'slt', sampleRate: 16000, speed: 1 });
      assert.ok(next.pcm.byteLength > 8000);
      assert.equal(flite.threads, 1);
      assert.ok(!pool.threads.includes(victim), 'the dead worker left the pool');
    } finally {
      await flite.close();
    }
  });
});
