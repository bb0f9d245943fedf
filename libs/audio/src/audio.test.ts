import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteChunker, decodeBase64Strict, decodeWav, encodeWav, pcm16Samples, resamplePcm16, rmsLevel } from './index.js';

describe('decodeBase64Strict', () => {
  it('decodes canonical base64', () => {
    assert.deepEqual(decodeBase64Strict(Buffer.from([1, 2, 3, 4, 5]).toString('base64')), Buffer.from([1, 2, 3, 4, 5]));
    assert.deepEqual(decodeBase64Strict(''), Buffer.alloc(0));
  });
  for (const bad of ['AAAA!!!!BBBB', 'AAA', 'AA==AA==', 'AAB=', 'AA A', 'AAAA\n', 'AA-_', '====']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(decodeBase64Strict(bad), undefined));
  }
});

describe('ByteChunker', () => {
  it('cuts any input sizes into fixed chunks and flushes the rest', () => {
    const chunker = new ByteChunker(4);
    const out = [...chunker.push(Buffer.from([1, 2, 3])), ...chunker.push(Buffer.from([4, 5, 6, 7, 8, 9, 10])), ...chunker.push(Buffer.from([11]))];
    assert.deepEqual(out.map((b) => [...b]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
    assert.deepEqual([...chunker.flush()!], [9, 10, 11]);
    assert.equal(chunker.flush(), undefined);
  });
});

describe('PCM helpers', () => {
  it('reads PCM16 from an odd byte offset and rejects odd lengths', () => {
    const backing = Buffer.alloc(7);
    backing.writeInt16LE(-2, 1);
    backing.writeInt16LE(300, 3);
    assert.deepEqual([...pcm16Samples(backing.subarray(1, 5))], [-2, 300]);
    assert.throws(() => pcm16Samples(Buffer.alloc(3)), RangeError);
  });

  it('round-trips WAV and resamples keeping duration and level', async () => {
    const rate = 16000;
    const tone = new Int16Array(rate).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)));
    const decoded = decodeWav(encodeWav({ sampleRate: rate, samples: tone }));
    assert.equal(decoded.sampleRate, rate);
    assert.deepEqual([...decoded.samples.slice(0, 50)], [...tone.slice(0, 50)]);
    const up = await resamplePcm16(tone, rate, 24000);
    assert.ok(Math.abs(up.length - 24000) <= 24, `${up.length} samples`);
    assert.ok(Math.abs(rmsLevel(up) - rmsLevel(tone)) < 0.01);
  });
});
