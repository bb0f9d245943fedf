import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSharedRecording, silence } from '@app/testing';
import { LocalSttPool, type LocalSttListener } from './local-stt.pool.js';
import type { LocalSttStreamConfig } from './local-stt.protocol.js';

const CONFIG: LocalSttStreamConfig = {
  codec: 'pcm',
  sampleRate: 16000,
  commitStrategy: 'vad',
  vad: { vadThreshold: 0.4, vadSilenceThresholdSecs: 1.5, minSpeechDurationMs: 100, minSilenceDurationMs: 100 },
};

function listener(events: string[] = []): LocalSttListener {
  return {
    speechStart: () => events.push('speech_start'),
    partial: () => undefined,
    committed: (text) => events.push(`committed:${text}`),
    failed: (message) => events.push(`failed:${message}`),
  };
}

describe('LocalSttPool placement (real workers, PocketSphinx and Silero)', () => {
  let pool: LocalSttPool;
  before(async () => {
    pool = await LocalSttPool.start({ threads: 2 });
  });
  after(() => pool.close());

  it('places new streams on the worker without a speaker, not only by stream count', async () => {
    const speakerEvents: string[] = [];
    const speaker = pool.openStream(CONFIG, listener(speakerEvents));
    const listening = pool.openStream(CONFIG, listener());
    assert.notEqual(speaker.worker, listening.worker, 'two streams on two idle workers spread');
    // In real time for 8 s: the speaker speaks (human speech, looped), the other stream hears a quiet room.
    const speech = readSharedRecording('librivox-austen-0880.wav');
    const quiet = silence(0.1);
    const started = performance.now();
    for (let k = 0; performance.now() - started < 30_000; k++) {
      const offset = (k * 3200) % (speech.length - (speech.length % 3200));
      speaker.push(speech.subarray(offset, offset + 3200));
      listening.push(quiet);
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (performance.now() - started > 8000 && speakerEvents.includes('speech_start')) break;
    }
    assert.ok(speakerEvents.includes('speech_start'), 'the speaker is speaking');
    const loads = pool.workerLoads();
    assert.ok(loads[speaker.worker!]!.load > 3 * loads[listening.worker!]!.load, `loads ${JSON.stringify(loads)}`);
    // One stream each: by count the next stream would go to the first worker (the speaker's, here worker 0).
    assert.equal(speaker.worker, 0);
    const third = pool.openStream(CONFIG, listener());
    assert.equal(third.worker, listening.worker, 'the third stream avoids the speaking worker');
    // A new stream is assumed to speak: the fourth goes to the speaker's worker, as by count.
    const fourth = pool.openStream(CONFIG, listener());
    assert.equal(fourth.worker, speaker.worker, 'a new stream weighs as a speaker until it has listened a while');
    for (const stream of [speaker, listening, third, fourth]) stream.close();
    assert.equal(pool.openStreams, 0);
  });

  it('counts audio the worker has not processed yet (backlog) and says when it has drained', async () => {
    const events: string[] = [];
    const stream = pool.openStream(CONFIG, listener(events));
    // 30 s of human speech at once: the decoder runs at a fraction of real time, so most of it waits.
    const speech = readSharedRecording('librivox-austen-0880.wav');
    const second = 32_000;
    let pushed = 0;
    for (let k = 0; pushed < 30 * second; k++) {
      const offset = (k * 3200) % (speech.length - (speech.length % 3200));
      stream.push(speech.subarray(offset, offset + 3200));
      pushed += 3200;
    }
    const atPush = stream.backlogMs();
    assert.ok(atPush > 29_000 && atPush <= 30_000, `backlog right after pushing 30 s: ${atPush} ms`);
    assert.ok(pool.backlog().maxMs >= atPush && pool.backlog().totalMs >= atPush, JSON.stringify(pool.backlog()));
    const started = performance.now();
    const drainedAt = await new Promise<number>((resolve) => stream.whenBacklogAtMost(5000, () => resolve(stream.backlogMs())));
    assert.ok(drainedAt <= 5000, `called back at ${drainedAt} ms of backlog`);
    assert.ok(performance.now() - started > 1000, 'recognising 25 s of speech takes more than a second');
    assert.ok(events.includes('speech_start'), 'the audio was recognised, not discarded');
    // Already below: the callback runs at once.
    let called = false;
    stream.whenBacklogAtMost(30_000, () => (called = true));
    assert.equal(called, true);
    stream.close();
    assert.equal(pool.backlog().totalMs, 0, 'a closed stream leaves no backlog');
  });
});
