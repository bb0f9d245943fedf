import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoomSimulator, roomEcho } from './room.js';

const RATE = 16000;
const tone = (hz: number, seconds: number, amplitude = 8000): Int16Array =>
  Int16Array.from({ length: seconds * RATE }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / RATE)));
const energy = (samples: ArrayLike<number>, from = 0, to = samples.length): number => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! ** 2;
  return sum;
};

describe('RoomSimulator', () => {
  it('adds reverberation of the asked energy that decays over rt60', () => {
    const click = new Int16Array(RATE);
    click[0] = 10000;
    const out = roomEcho(click, { rt60Ms: 500, wet: 1, seed: 3 });
    assert.equal(out[0], 10000, 'the direct sound passes unchanged');
    const tail = energy(out, 1);
    assert.ok(Math.abs(tail / 10000 ** 2 - 1) < 0.01, `reverberant energy ${tail / 10000 ** 2} x the direct`);
    const early = energy(out, 1, RATE * 0.1);
    const late = energy(out, RATE * 0.4, RATE * 0.5);
    assert.ok(late > 0 && late < early / 100, `late ${late} vs early ${early}`);
  });

  it('band-limits like a speakerphone: 100 Hz is cut, 1 kHz passes', () => {
    const low = new RoomSimulator({ rt60Ms: 0, speakerphone: true }).process(tone(100, 0.5, 4000));
    const mid = new RoomSimulator({ rt60Ms: 0, speakerphone: true }).process(tone(1000, 0.5, 4000));
    const half = RATE / 4;
    assert.ok(energy(low, half) < energy(mid, half) / 10, 'more than 10 dB down at 100 Hz');
    assert.ok(energy(mid, half) > energy(tone(1000, 0.5, 4000), half) * 0.7, 'about unchanged at 1 kHz');
  });

  it('streams: blocks give what the whole signal gives', () => {
    const input = tone(440, 0.3);
    const whole = roomEcho(input, { rt60Ms: 300, speakerphone: true, seed: 7 });
    const room = new RoomSimulator({ rt60Ms: 300, speakerphone: true, seed: 7 });
    const blocks = [...room.process(input.subarray(0, 1000)), ...room.process(input.subarray(1000))];
    assert.deepEqual(Float32Array.from(blocks), whole);
  });
});
