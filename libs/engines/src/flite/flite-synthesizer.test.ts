import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FliteSynthesizer } from './flite-synthesizer.js';

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
});
