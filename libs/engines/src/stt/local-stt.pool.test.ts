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
});
