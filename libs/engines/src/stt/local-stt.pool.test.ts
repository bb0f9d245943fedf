import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSharedRecording, silence } from '@app/testing';
import { LocalSttPool, type LocalSttListener, type LocalSttStream } from './local-stt.pool.js';
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

function push(stream: LocalSttStream, pcm: Buffer): void {
  for (let offset = 0; offset < pcm.length; offset += 3200) stream.push(pcm.subarray(offset, offset + 3200));
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
    // The speaker speaks (3 s of human speech at once); the other stream hears a quiet room.
    push(speaker, readSharedRecording('librivox-austen-0880.wav'));
    push(listening, silence(3));
    for (let i = 0; i < 300 && !speakerEvents.includes('speech_start'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(speakerEvents.includes('speech_start'), 'the speaker is speaking');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the age at which a stream's rate is measured
    const loads = pool.workerLoads();
    assert.ok(loads[speaker.worker!]!.load > 5 * loads[listening.worker!]!.load, `loads ${JSON.stringify(loads)}`);
    // One stream each: by count the next stream would go to the first worker (the speaker's, here worker 0).
    assert.equal(speaker.worker, 0);
    const third = pool.openStream(CONFIG, listener());
    const fourth = pool.openStream(CONFIG, listener());
    assert.equal(third.worker, listening.worker, 'the third stream avoids the speaking worker');
    assert.equal(fourth.worker, listening.worker, 'so does the fourth: two listeners weigh less than one speaker');
    for (const stream of [speaker, listening, third, fourth]) stream.close();
    assert.equal(pool.openStreams, 0);
  });
});
