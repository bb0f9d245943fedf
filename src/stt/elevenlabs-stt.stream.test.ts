import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Logger } from '@nestjs/common';
import { ElevenLabsSttProvider } from './elevenlabs-stt.provider.js';
import { ElevenLabsSttStream, mapWordTimes } from './elevenlabs-stt.stream.js';
import type { SttStreamListener } from './stt-provider.js';

describe('mapWordTimes', () => {
  const word = (text: string, start: number, end: number, type = 'word') => ({ text, start, end, type, logprob: -0.1 });

  it('keeps words, drops spacing and audio events, and shifts by where the socket audio started', () => {
    const words = [word('hello', 0.2, 0.5), word(' ', 0.5, 0.6, 'spacing'), word('(laughs)', 0.6, 0.9, 'audio_event'), word('world', 0.6, 1.0)];
    assert.deepEqual(mapWordTimes(words, 12.5, []), [
      { text: 'hello', start: 12.7, end: 13 },
      { text: 'world', start: 13.1, end: 13.5 },
    ]);
  });

  it('takes out the keep-alive silence inserted before a word, and clamps inside one', () => {
    // 100 ms of keep-alive at 1.0 s and at 2.0 s of the socket's audio.
    const insertions = [
      { at: 1.0, secs: 0.1 },
      { at: 2.0, secs: 0.1 },
    ];
    assert.deepEqual(mapWordTimes([word('a', 0.5, 0.9), word('b', 1.2, 1.5), word('c', 2.3, 2.6)], 0, insertions), [
      { text: 'a', start: 0.5, end: 0.9 },
      { text: 'b', start: 1.1, end: 1.4 },
      { text: 'c', start: 2.1, end: 2.4 },
    ]);
    assert.deepEqual(mapWordTimes([word('d', 1.05, 1.3)], 0, insertions), [{ text: 'd', start: 1, end: 1.2 }]);
  });

  it('accepts words without a type (older shape) and drops malformed ones', () => {
    assert.deepEqual(mapWordTimes([{ text: 'ok', start: 1, end: 2 }, { text: 'bad', start: 2, end: 1 }, { text: '', start: 0, end: 1 }, null, { text: 'x', start: '1', end: 2 }], 0, []), [
      { text: 'ok', start: 1, end: 2 },
    ]);
  });

  it('gives nothing for a missing or null words field', () => {
    assert.equal(mapWordTimes(null, 0, []), undefined);
    assert.equal(mapWordTimes(undefined, 0, []), undefined);
  });
});

describe('ElevenLabsSttStream replay buffer', () => {
  const RATE = 16000;
  const chunk = (amplitude: number) => {
    const pcm = Buffer.alloc(3200);
    for (let i = 0; i < 1600; i++) pcm.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * 220 * i) / RATE)), i * 2);
    return pcm;
  };
  const quiet = chunk(20); // about -64 dBFS: a mic's noise floor
  const speech = chunk(3000); // about -21 dBFS
  const silent: Logger = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;
  const listener: SttStreamListener = { started: () => undefined, partial: () => undefined, committed: () => undefined, speechStarted: () => undefined, failed: () => undefined };

  const open: ElevenLabsSttStream[] = [];
  afterEach(() => {
    for (const stream of open.splice(0)) stream.close();
  });

  /** A stream that never goes live (nothing listens on port 9), so everything pushed stays buffered for replay. */
  function offlineStream(): ElevenLabsSttStream {
    const config = new ElevenLabsSttProvider({ elevenlabs: { apiKey: 'k', baseUrl: 'http://127.0.0.1:9' } } as never).resolveConfig(undefined);
    const stream = new ElevenLabsSttStream({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9', sessionId: 't', config, bytesPerSecond: RATE * 2, listener, logger: silent });
    open.push(stream);
    return stream;
  }

  it('keeps only the last 3 s of quiet audio while nothing was said', () => {
    const stream = offlineStream();
    for (let i = 0; i < 100; i++) stream.push(quiet);
    assert.equal(stream.bufferedSecs, 3);
  });

  it('keeps speech, and the quiet before it up to 3 s, for replay', () => {
    const stream = offlineStream();
    for (let i = 0; i < 100; i++) stream.push(quiet);
    for (let i = 0; i < 50; i++) stream.push(speech);
    for (let i = 0; i < 20; i++) stream.push(quiet);
    assert.equal(stream.bufferedSecs, 3 + 5 + 2, 'quiet after speech waits for the commit');
  });

  it('still caps speech-like audio at 90 s', () => {
    const stream = offlineStream();
    for (let i = 0; i < 950; i++) stream.push(speech);
    assert.equal(stream.bufferedSecs, 90);
  });
});
