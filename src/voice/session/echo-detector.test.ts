import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FliteSynthesizer } from '@app/engines';
import { roomEcho } from '@app/testing';
import { EchoDetector, EnvelopeBuilder, LagSearch, envelopeFormat, type EchoJudgement, type EchoVerdict } from './echo-detector.js';

const RATE = 16000;
const CHUNK = 320; // 20 ms

/** Streams `mic` (Int16 samples) into the detector in 20 ms chunks; returns the verdict after each chunk, by ms. */
function run(detector: EchoDetector, mic: Int16Array, reply: Int16Array, fromMs = 0): { ms: number; verdict: EchoVerdict; judgement: EchoJudgement }[] {
  detector.startReply({ codec: 'pcm', sampleRate: RATE });
  // The reply is sent faster than real time: all of it at t = 0, in 100 ms chunks.
  for (let i = 0; i < reply.length; i += 1600) detector.addReply(toBuffer(reply.subarray(i, i + 1600)), 0);
  const verdicts: { ms: number; verdict: EchoVerdict; judgement: EchoJudgement }[] = [];
  for (let i = 0; i + CHUNK <= mic.length; i += CHUNK) {
    const ms = ((i + CHUNK) / RATE) * 1000;
    detector.addMic(toBuffer(mic.subarray(i, i + CHUNK)), 'pcm_16000', ms);
    if (ms < fromMs) continue;
    const judgement = detector.judge();
    verdicts.push({ ms, verdict: judgement.verdict, judgement });
  }
  return verdicts;
}

function toBuffer(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** `source` delayed by `delayMs` and scaled by `gain`, plus `extra` starting at `extraAtMs`. */
function mix(length: number, source: Int16Array, delayMs: number, gain: number, extra?: { pcm: Int16Array; atMs: number }): Int16Array {
  const out = new Int16Array(length);
  const delay = (delayMs * RATE) / 1000;
  for (let i = 0; i < length; i++) {
    let sample = i >= delay && i - delay < source.length ? source[i - delay]! * gain : 0;
    if (extra) {
      const u = i - (extra.atMs * RATE) / 1000;
      if (u >= 0 && u < extra.pcm.length) sample += extra.pcm[u]!;
    }
    out[i] = Math.max(-32768, Math.min(32767, Math.round(sample)));
  }
  return out;
}

describe('EchoDetector', () => {
  const flite = new FliteSynthesizer({ threads: 1 });
  let reply: Int16Array;
  let user: Int16Array;
  before(async () => {
    reply = new Int16Array((await flite.synthesize({ text: 'Rome was founded in the eighth century before Christ, and its roads reached every corner of the empire.', voice: 'slt', sampleRate: RATE, speed: 1 })).pcm);
    user = new Int16Array((await flite.synthesize({ text: 'what time is it now', voice: 'awb', sampleRate: RATE, speed: 1 })).pcm);
  });
  after(() => flite.close());

  for (const [delayMs, gain] of [
    [100, 1],
    [400, 0.5],
    [900, 0.25],
  ] as const) {
    it(`calls the reply delayed ${delayMs} ms at gain ${gain} echo, never the user`, () => {
      const mic = mix(reply.length + (delayMs * RATE) / 1000, reply, delayMs, gain);
      const verdicts = run(new EchoDetector(), mic, reply, delayMs + 300);
      const users = verdicts.filter((v) => v.verdict === 'user');
      assert.deepEqual(users, [], `user verdicts at ${users.map((v) => v.ms).join(', ')} ms`);
      assert.ok(verdicts.filter((v) => v.verdict === 'echo').length > verdicts.length / 2, 'mostly judged echo');
    });
  }

  it('calls another voice mixed into the echo the user, within 200 ms of its onset', () => {
    const atMs = 1500;
    const mic = mix(reply.length, reply, 200, 1, { pcm: user, atMs });
    const verdicts = run(new EchoDetector(), mic, reply, 500);
    
    // flite starts with a short silence: the speech itself begins at its first loud sample.
    const onsetMs = atMs + (user.findIndex((sample) => Math.abs(sample) > 1000) / RATE) * 1000;
    assert.ok(!verdicts.some((v) => v.ms < onsetMs && v.verdict === 'user'), 'no user before the user speaks');
    const first = verdicts.find((v) => v.ms >= onsetMs && v.verdict === 'user');
    assert.ok(first && first.ms - onsetMs <= 200, `user first judged at ${first?.ms} ms (speech at ${onsetMs} ms)`);
  });

  it('calls the user the user when there is no echo at all (headphones)', () => {
    // A quiet microphone while the reply plays (1.5 s) shows there is no echo path.
    const mic = mix(RATE * 3, new Int16Array(0), 0, 0, { pcm: user, atMs: 1500 });
    const verdicts = run(new EchoDetector(), mic, reply, 1500);
    assert.ok(!verdicts.some((v) => v.verdict === 'echo'), `echo at ${verdicts.filter((v) => v.verdict === 'echo').map((v) => v.ms).join(', ')} ms`);
    assert.ok(verdicts.some((v) => v.verdict === 'user'));
  });

  it('reports silence for a quiet microphone and unknown without reply audio', () => {
    const detector = new EchoDetector();
    detector.addMic(Buffer.alloc(CHUNK * 2 * 20), 'pcm_16000', 400);
    assert.equal(detector.judge().verdict, 'silence');
    detector.addMic(toBuffer(user.subarray(0, RATE / 2)), 'pcm_16000', 900);
    assert.equal(detector.judge().verdict, 'unknown', 'speech but no reply known');
    detector.startReply(undefined);
    assert.equal(detector.judge().verdict, 'unknown', 'compressed reply audio');
  });

  it('keeps bounded histories', () => {
    const detector = new EchoDetector({ maxReplyFrames: 50, maxMicFrames: 30 });
    detector.startReply({ codec: 'pcm', sampleRate: RATE });
    detector.addReply(toBuffer(reply), 0);
    assert.equal(detector.replyFrames, 50);
    for (let i = 0; i < 100; i++) detector.addMic(Buffer.alloc(CHUNK * 2), 'pcm_16000', i * 20);
    assert.equal(detector.micFrames, 30);
    // Past the tracked reply, it does not guess.
    detector.addMic(toBuffer(user.subarray(0, RATE / 2)), 'pcm_16000', 5000);
    assert.equal(detector.judge().verdict, 'unknown');
  });

  it('learns a reverberation tail only from a reverberant echo path, and only when asked (experimental model)', () => {
    const delay = (100 * RATE) / 1000;
    const played = new Int16Array(reply.length + delay + RATE);
    played.set(reply, delay);
    const toPcm = (x: Float32Array) => Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v))));
    const plain = toPcm(Float32Array.from(played));
    const room = toPcm(roomEcho(played, { rt60Ms: 500, wet: 1, seed: 5 }));
    const learned = (mic: Int16Array, reverberation: boolean) => {
      const detector = new EchoDetector(undefined, { reverberation });
      run(detector, mic, reply);
      return { decay: detector.reverberationDecayDb, headroom: detector.reverberationHeadroomDb };
    };
    // A 500 ms RT60 decays 1.2 dB per 10 ms frame; the learned rate is the slow end of what the tail needs.
    const reverberant = learned(room, true);
    assert.ok(reverberant.decay !== undefined && reverberant.decay >= 0.4 && reverberant.decay <= 2, `room decay ${reverberant.decay}`);
    assert.ok(reverberant.headroom !== undefined && reverberant.headroom > 1, `room headroom ${reverberant.headroom}`);
    const direct = learned(plain, true);
    assert.equal(direct.decay, undefined, 'plain echo has no tail');
    assert.ok(direct.headroom !== undefined && direct.headroom < 1, `plain headroom ${direct.headroom}`);
    assert.deepEqual(learned(room, false), { decay: undefined, headroom: undefined }, 'off by default');
  });

  // The session rule: 3 "user" verdicts in a row (20 ms apart) interrupt.
  const interruptsAt = (verdicts: { ms: number; verdict: EchoVerdict }[]) => verdicts.find((v, i) => i >= 2 && verdicts.slice(i - 2, i + 1).every((w) => w.verdict === 'user'))?.ms;
  const toPcm = (x: Float32Array) => Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v))));

  it('once it has heard a room, calls its reverberant echo echo, and another voice over it the user', async () => {
    // The reply through the room, 100 ms late; a user near the microphone is heard directly.
    const echo = toPcm(roomEcho(mix(reply.length + RATE, reply, 100, 1), { rt60Ms: 500, wet: 1, seed: 5 }));
    const through = (extra?: { pcm: Int16Array; atMs: number }) => mix(echo.length, echo, 0, 1, extra);
    const detector = new EchoDetector();
    run(detector, through(), reply); // the first reply: the path is seen and learned
    const echoOnly = run(detector, through(), reply, 300);
    assert.equal(interruptsAt(echoOnly), undefined, `the room's echo would interrupt at ${interruptsAt(echoOnly)} ms`);
    const atMs = 2000;
    const question = new Int16Array((await flite.synthesize({ text: 'tell me about the weather in london instead', voice: 'awb', sampleRate: RATE, speed: 1 })).pcm);
    const onsetMs = atMs + (question.findIndex((sample) => Math.abs(sample) > 1000) / RATE) * 1000;
    const withUser = interruptsAt(run(detector, through({ pcm: question, atMs }), reply, 300));
    // Measured 950 ms after the onset (the spectrum's 300 ms mean must pass 30 %); a shorter question
    // ("what time is it now") over this echo is not called the user at all (closing note, issue 10).
    assert.ok(withUser !== undefined && withUser >= onsetMs && withUser - onsetMs <= 1200, `the user (from ${onsetMs} ms) interrupts at ${withUser} ms`);
  });

  // A session's first reply: no echo path learned yet. Its echo must lock on from the reply's first
  // sounds (loudness and spectral fine structure), and a user who starts talking as the reply starts
  // must not lock on as echo.

  it("locks on to the echo of a session's first reply through a room (and a speakerphone, all but 1 of 8): no 3 \"user\" verdicts in a row", async () => {
    const texts = ['Pack a warm jacket, because it gets cold after sunset even in the middle of summer.', 'The drive takes about two and a half hours, so leaving early on Saturday morning means you arrive before lunch.'];
    const failures: string[] = [];
    let fine = -1;
    for (const voice of ['slt', 'kal16', 'rms', 'awb'] as const) {
      for (const text of texts) {
        const pcm = new Int16Array((await flite.synthesize({ text, voice, sampleRate: RATE, speed: 1 })).pcm);
        for (const room of [
          { rt60Ms: 500, wet: 1, seed: 5 },
          { rt60Ms: 500, wet: 1, speakerphone: true, seed: 9 },
        ]) {
          const echo = toPcm(roomEcho(mix(pcm.length + RATE, pcm, 100, 1), room));
          const verdicts = run(new EchoDetector(), echo, pcm);
          fine = Math.max(fine, ...verdicts.map((v) => v.judgement.fineMatch ?? -1));
          const at = interruptsAt(verdicts);
          if (at !== undefined) failures.push(`${voice}${room.speakerphone ? ' speakerphone' : ''} "${text.slice(0, 12)}" at ${at} ms`);
        }
      }
    }
    // Without the lock (LOCK_JUDGEMENTS out of reach) 10 of these 16 would interrupt. One speakerphone
    // echo still does (awb, "Pack a warm", at 460 ms: its clipped harmonics match at 0.4-0.5).
    assert.deepEqual(failures.filter((f) => !f.includes('speakerphone')), [], 'the room echo alone would interrupt');
    assert.ok(failures.length <= 1, `the speakerphone echo alone would interrupt: ${failures.join(', ')}`);
    assert.ok(fine >= 0.5, `the echo's fine structure matches the reply (${fine})`);
  });

  it('does not lock on to a user who starts talking as the reply starts (headphones: no echo)', async () => {
    const question = new Int16Array((await flite.synthesize({ text: 'tell me about the weather in london instead', voice: 'awb', sampleRate: RATE, speed: 1 })).pcm);
    const onsetMs = (question.findIndex((sample) => Math.abs(sample) > 1000) / RATE) * 1000;
    for (const atMs of [0, 100, 200]) {
      const verdicts = run(new EchoDetector(), mix(reply.length, new Int16Array(0), 0, 1, { pcm: question, atMs }), reply);
      const at = interruptsAt(verdicts);
      // Measured 80-100 ms after the onset; the session also waits for min_speech_ms (300 ms) of VAD speech.
      assert.ok(at !== undefined && at - (atMs + onsetMs) <= 300, `the user (from ${atMs + onsetMs} ms) is called the user at ${at} ms`);
      const fine = Math.max(...verdicts.map((v) => v.judgement.fineMatch ?? -1));
      assert.ok(fine < 0.5, `the user's fine structure does not match the reply's (${fine})`);
    }
  });

  it("calls a user in the reply's own voice who starts 300-500 ms into it the user from 300 ms of speech on (headphones: no echo)", async () => {
    // The envelope of a voice that starts as the reply is starting follows the reply's onset (0.95-0.99
    // at the lag between them), and the same voice's envelope keeps resembling the reply's; only the
    // fine structure at the onset (-0.1 to 0.3) says it is not the echo. Without that, "echo" verdicts
    // broke the run of "user" verdicts as the VAD reached min_speech_ms (service: 511-557 ms).
    const slow: string[] = [];
    for (const text of ['tell me about the weather in london instead', 'what time is it now']) {
      const question = new Int16Array((await flite.synthesize({ text, voice: 'slt', sampleRate: RATE, speed: 1 })).pcm);
      const onsetMs = (question.findIndex((sample) => Math.abs(sample) > 1000) / RATE) * 1000;
      for (const atMs of [300, 400, 500]) {
        const verdicts = run(new EchoDetector(), mix(reply.length, new Int16Array(0), 0, 1, { pcm: question, atMs }), reply);
        // The session's moment: VAD speech of min_speech_ms (300 ms after the onset), then the first 3 "user" verdicts in a row (measured: 60 ms after it; without the onset's verdict, 300 ms).
        const from = atMs + onsetMs + 300;
        const at = verdicts.find((v, i) => v.ms >= from && i >= 2 && verdicts.slice(i - 2, i + 1).every((w) => w.verdict === 'user'))?.ms;
        if (at === undefined || at - from > 100) slow.push(`"${text.slice(0, 12)}" at ${atMs} ms: ${at === undefined ? 'never' : `${Math.round(at - from)} ms late`}`);
      }
    }
    assert.deepEqual(slow, []);
  });

  it('keeps its microphone clock with real time when the client pauses for less than a gap (the echo stays echo)', () => {
    // A client streams 1 s of silence, pauses 200 ms (sends nothing), then streams on in real time; the
    // reply starts playing as it resumes and comes back 100 ms later. Left 200 ms behind, the clock
    // would put the echo 100 ms before the reply, outside the lag search.
    const detector = new EchoDetector();
    const silentChunk = toBuffer(new Int16Array(CHUNK));
    for (let ms = 20; ms <= 1000; ms += 20) detector.addMic(silentChunk, 'pcm_16000', ms);
    const resumeAt = 1200;
    detector.startReply({ codec: 'pcm', sampleRate: RATE });
    for (let i = 0; i < reply.length; i += 1600) detector.addReply(toBuffer(reply.subarray(i, i + 1600)), resumeAt);
    const mic = mix(reply.length + RATE, reply, 100, 1);
    const verdicts: { ms: number; verdict: EchoVerdict }[] = [];
    for (let i = 0; i + CHUNK <= mic.length; i += CHUNK) {
      const ms = ((i + CHUNK) / RATE) * 1000;
      detector.addMic(toBuffer(mic.subarray(i, i + CHUNK)), 'pcm_16000', resumeAt + ms);
      verdicts.push({ ms, verdict: detector.judge().verdict });
    }
    assert.equal(interruptsAt(verdicts), undefined, `the echo is called the user ${interruptsAt(verdicts)} ms into it`);
    assert.ok(verdicts.filter((v) => v.verdict === 'echo').length > verdicts.length / 2, 'and mostly echo');
  });

  it('builds envelopes across odd chunk boundaries and from mu-law', () => {
    const tone = new Int16Array(160).fill(1000);
    const bytes = toBuffer(tone);
    const whole = new EnvelopeBuilder('pcm', RATE).push(bytes);
    const builder = new EnvelopeBuilder('pcm', RATE);
    const split = [...builder.push(bytes.subarray(0, 3)), ...builder.push(bytes.subarray(3))];
    assert.deepEqual(split, whole);
    assert.equal(whole.length, 1);
    assert.ok(Math.abs(whole[0]! - 60) < 0.01, `1000 LSB is 60 dB, got ${whole[0]}`);
    // mu-law 0x80 decodes to +32124 (the largest positive step); 0xff is 0.
    const ulaw = new EnvelopeBuilder('ulaw', 8000);
    assert.equal(ulaw.push(Buffer.alloc(80, 0xff))[0], 26, 'mu-law zero is the floor');
    assert.ok(ulaw.push(Buffer.alloc(80, 0x80))[0]! > 85);
    assert.deepEqual(envelopeFormat('ulaw_8000'), { codec: 'ulaw', sampleRate: 8000 });
    assert.equal(envelopeFormat('mp3_44100_128'), undefined);
  });
});

describe('LagSearch', () => {
  /** The definition: Pearson correlation of the window with the reply at every lag, floor outside the reply. */
  const naive = (mic: Float64Array, base: Int32Array, count: number, frames: Float32Array, length: number) => {
    let best = { correlation: -1, lag: 0 };
    const m = Array.from(mic.subarray(0, count));
    const mMean = m.reduce((a, b) => a + b, 0) / count;
    const mDev = Math.sqrt(m.reduce((a, b) => a + (b - mMean) ** 2, 0));
    if (mDev < 1e-3) return { correlation: 0, lag: 0 };
    for (let lag = -5; lag <= 150; lag++) {
      const e = m.map((_, i) => {
        const index = base[i]! - lag;
        return index >= 0 && index < length ? frames[index]! : 26;
      });
      const eMean = e.reduce((a, b) => a + b, 0) / count;
      const eDev = Math.sqrt(e.reduce((a, b) => a + (b - eMean) ** 2, 0));
      if (eDev < 1e-3) continue;
      const correlation = m.reduce((a, v, i) => a + (v - mMean) * (e[i]! - eMean), 0) / (mDev * eDev);
      if (correlation > best.correlation) best = { correlation, lag };
    }
    return best.correlation === -1 ? { correlation: 0, lag: 0 } : best;
  };

  it('finds the lag and correlation of the definition, for contiguous and jumping frame stamps', () => {
    const search = new LagSearch(50);
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    let contiguousRuns = 0;
    for (let run = 0; run < 300; run++) {
      const length = 50 + Math.floor(random() * 400);
      const frames = new Float32Array(length);
      // Syllable-like envelopes with steps, flat stretches (a constant reply) and the floor.
      for (let i = 0; i < length; i++) frames[i] = run % 17 === 0 ? 40 : 26 + Math.max(0, 50 * Math.sin(i / (3 + (run % 5))) + 10 * random());
      const count = 20 + Math.floor(random() * 31);
      const mic = new Float64Array(50);
      const base = new Int32Array(50);
      const lag = Math.floor(random() * 150);
      const start = Math.floor(random() * length);
      const jump = run % 3 === 0 ? 1 + Math.floor(random() * 40) : 0;
      if (jump === 0) contiguousRuns++;
      for (let i = 0; i < count; i++) {
        base[i] = start + i + (i >= count / 2 ? jump : 0);
        const index = base[i]! - lag;
        mic[i] = (index >= 0 && index < length ? frames[index]! : 26) - 10 + (run % 4 === 0 ? 20 * random() : random());
      }
      const expected = naive(mic, base, count, frames, length);
      const actual = search.search(mic, base, count, frames, length);
      assert.equal(actual.lag, expected.lag, `run ${run}: lag`);
      assert.ok(Math.abs(actual.correlation - expected.correlation) < 1e-9, `run ${run}: correlation ${actual.correlation} vs ${expected.correlation}`);
    }
    assert.ok(contiguousRuns > 150 && contiguousRuns < 300, 'both paths ran');
  });

  it('takes well under 100 us per search of 50 frames over 156 lags', () => {
    const search = new LagSearch(50);
    const frames = new Float32Array(3000).map((_, i) => 26 + 40 * Math.abs(Math.sin(i / 4)));
    const mic = new Float64Array(50).map((_, i) => 20 + 40 * Math.abs(Math.sin((i + 7) / 4)));
    const base = new Int32Array(50).map((_, i) => 1000 + i);
    for (let i = 0; i < 2000; i++) search.search(mic, base, 50, frames, 3000);
    const started = performance.now();
    const rounds = 5000;
    for (let i = 0; i < rounds; i++) search.search(mic, base, 50, frames, 3000);
    const us = ((performance.now() - started) / rounds) * 1000;
    console.log(`LagSearch: ${us.toFixed(1)} us per search (the judgement before it: 130-170 us)`);
    assert.ok(us < 100, `${us} us`);
  });
});
