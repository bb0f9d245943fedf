import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leastLoaded, LISTENING_WEIGHT, PLACEMENT_WINDOW_MS, SPEECH_WEIGHT, StreamLoad } from './local-stt.placement.js';

/** Feeds `seconds` of audio in 100 ms chunks at `speed` x real time from `from` ms; returns the end time. */
function feed(load: StreamLoad, from: number, seconds: number, speed = 1): number {
  let at = from;
  for (let i = 0; i < seconds * 10; i++) {
    at += 100 / speed;
    load.audio(0.1, at);
  }
  return at;
}

describe('recognition pool placement by load', () => {
  it('weighs a speaking stream as a speaker and a listening one as a fraction of it', () => {
    const speaking = new StreamLoad(false, 0);
    speaking.setSpeaking(true, 0);
    const listening = new StreamLoad(false, 0);
    const end = feed(speaking, 0, 30);
    feed(listening, 0, 30);
    assert.ok(Math.abs(speaking.load(end) - SPEECH_WEIGHT) < 0.05, `speaking ${speaking.load(end)}`);
    assert.ok(Math.abs(listening.load(end) - LISTENING_WEIGHT) < 0.01, `listening ${listening.load(end)}`);
  });

  it('assumes a new stream speaks, and learns within seconds that it does not', () => {
    const stream = new StreamLoad(false, 0);
    assert.equal(stream.load(0), SPEECH_WEIGHT);
    const end = feed(stream, 0, 10);
    assert.ok(stream.load(end) < 0.2, `after 10 s of listening ${stream.load(end)}`);
    // Speaking half the time weighs about half a speaker.
    let at = end;
    for (let i = 0; i < 10; i++) {
      stream.setSpeaking(true, at);
      at = feed(stream, at, 2);
      stream.setSpeaking(false, at);
      at = feed(stream, at, 2);
    }
    const half = stream.load(at);
    assert.ok(half > 0.3 && half < 0.8, `half the time speaking ${half}`);
  });

  it('counts a new stream as real time, and one that sends nothing as nothing once its window has passed', () => {
    const fresh = new StreamLoad(false, 0);
    assert.equal(fresh.rate(0), 1);
    assert.equal(fresh.rate(500), 1);
    assert.ok(fresh.rate(3 * PLACEMENT_WINDOW_MS) < 0.01, `idle ${fresh.rate(3 * PLACEMENT_WINDOW_MS)}`);
    // A stream that stopped sending decays.
    const stopped = new StreamLoad(true, 0);
    const end = feed(stopped, 0, 10);
    assert.ok(stopped.rate(end) > 0.95);
    assert.ok(stopped.rate(end + 2 * PLACEMENT_WINDOW_MS) < 0.2);
  });

  it('caps a fast uploader at real time (its extra audio is served from left-over time)', () => {
    const fast = new StreamLoad(true, 0);
    for (let i = 0; i < 500; i++) fast.audio(0.1, 1); // 50 s burst
    const end = feed(fast, 1, 10, 8);
    assert.equal(fast.rate(end), 1);
    assert.equal(fast.load(end), SPEECH_WEIGHT);
  });

  it('picks the least loaded worker; near-equal loads go to fewer streams, then the first', () => {
    assert.equal(leastLoaded([{ load: 1, streams: 1 }, { load: 0.1, streams: 2 }]), 1);
    assert.equal(leastLoaded([{ load: 0.1, streams: 2 }, { load: 0.105, streams: 1 }]), 1);
    assert.equal(leastLoaded([{ load: 0, streams: 0 }, { load: 0, streams: 0 }]), 0);
    assert.equal(leastLoaded([{ load: Infinity, streams: 0 }, { load: 3, streams: 9 }]), 1);
    // By count alone the first worker would be chosen here (1 stream each): its stream is speaking.
    assert.equal(leastLoaded([{ load: SPEECH_WEIGHT, streams: 1 }, { load: LISTENING_WEIGHT, streams: 1 }]), 1);
  });
});
