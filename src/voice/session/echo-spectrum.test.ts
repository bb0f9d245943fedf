import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRID, SpectralEcho, SpectrumFramer } from './echo-spectrum.js';

const tone = (hz: number, rate: number, seconds: number, amplitude = 8000): Buffer => {
  const samples = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
  return Buffer.from(samples.buffer);
};

describe('SpectrumFramer', () => {
  for (const rate of [8000, 16000, 24000]) {
    it(`gives one frame per 10 ms at ${rate} Hz, peaking at a 1 kHz tone's grid point`, () => {
      const framer = new SpectrumFramer('pcm', rate);
      const peaks: number[] = [];
      // Odd-sized chunks: a sample split across chunks is carried over.
      const audio = tone(1000, rate, 0.5);
      for (let i = 0; i < audio.length; i += 333) framer.push(audio.subarray(i, i + 333), (power) => peaks.push(power!.indexOf(Math.max(...power!))));
      assert.equal(peaks.length, 50);
      // Grid: 150 Hz + 31.25 Hz steps; 1000 Hz is point 27.2.
      assert.ok(peaks.slice(5).every((p) => p === 27 || p === 28), peaks.join(' '));
    });
  }

  it('gives zeros for digital silence without a transform, and skips the frames not wanted', () => {
    const framer = new SpectrumFramer('pcm', 16000);
    const seen: Array<number | undefined> = [];
    framer.push(Buffer.alloc(16000), (power) => seen.push(power ? Math.max(...power) : undefined), (k) => k % 2 === 0);
    assert.equal(seen.length, 50);
    assert.deepEqual(seen.slice(4, 8), [0, undefined, 0, undefined]);
  });
});

describe('SpectralEcho', () => {
  it('keeps at most maxReplyFrames of reply spectra', () => {
    const check = new SpectralEcho(120);
    check.startReply({ codec: 'pcm', sampleRate: 16000 });
    check.addReply(tone(440, 16000, 3));
    assert.equal(check.replyFrames, 120);
    assert.ok(GRID > 100);
  });

  it('explains the reply coming back, and not a different voice over it', () => {
    const rate = 16000;
    const check = new SpectralEcho(1000);
    check.startReply({ codec: 'pcm', sampleRate: rate });
    const reply = tone(220, rate, 3);
    check.addReply(reply);
    const frames = (buffer: Buffer) => Math.floor(buffer.length / 2 / 160);
    const feed = (mic: Buffer, offset: number) =>
      check.addMic(mic, 'pcm_16000', { codec: 'pcm', sampleRate: rate }, { replyIndexOf: (k) => offset + k, loud: () => true, learn: offset < 100 });
    // 1.5 s of echo (the reply itself) teaches the gains and is explained.
    for (let k = 0; k < 150; k += 10) feed(reply.subarray(k * 320, (k + 10) * 320), k);
    const echo = check.recentShare();
    assert.ok(echo !== undefined && echo < 0.1, `echo share ${echo}`);
    // The echo plus a 700 Hz voice: most of its power is unexplained.
    const mixed = Buffer.from(reply.subarray(150 * 320, 250 * 320));
    const other = new Int16Array(tone(700, rate, 1, 12000).buffer);
    const samples = new Int16Array(mixed.buffer, mixed.byteOffset, mixed.length / 2);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.max(-32768, Math.min(32767, samples[i]! + other[i]!));
    for (let k = 0; k < frames(mixed); k += 10) feed(mixed.subarray(k * 320, (k + 10) * 320), 150 + k);
    const user = check.recentShare();
    assert.ok(user !== undefined && user > 0.3, `user share ${user}`);
  });
});
