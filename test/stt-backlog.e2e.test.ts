import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerEvent } from '@app/protocol';
import { normalizeWords, readSharedRecording, SHARED_RECORDINGS, silence, wordErrorRate } from '@app/testing';
import { LocalSttProvider } from '../src/stt/local-stt.provider.js';
import { STT_PROVIDERS, type SttProvider, type SttStream } from '../src/stt/stt-provider.js';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';

const MAX_BACKLOG_SECONDS = 3;
const CLIPS = ['librivox-austen-0870.wav', 'librivox-austen-0880.wav', 'librivox-austen-0890.wav'];

async function sttBacklogSeconds(app: TestApp): Promise<number> {
  const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('voice_layer_stt_backlog_seconds{stat="max"}'));
  assert.ok(line, 'the backlog gauge is exported');
  return Number(line.split(' ').at(-1));
}

describe('recognition backlog (STT_MAX_BACKLOG_SECONDS) on the embedded engines', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ STT_MAX_BACKLOG_SECONDS: String(MAX_BACKLOG_SECONDS) });
  });
  after(() => app.close());

  it('a client uploading speech at once is slowed to recognition speed: the queue stays bounded and every utterance is transcribed', async (t) => {
    if (!app.sttAvailable) return t.skip('local STT packages are not installed');
    // About 40 s of human speech, nine utterances with 1.5 s pauses, sent as fast as the socket takes it.
    const clips = [...CLIPS, ...CLIPS, ...CLIPS];
    const audio = Buffer.concat(clips.flatMap((name) => [readSharedRecording(name), silence(1.5)]));
    const client = await connectConfigured(app, { stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 1.0 } });
    for (let offset = 0; offset < audio.length; offset += 32_000) client.sendRaw(audio.subarray(offset, offset + 32_000));

    let maxBacklog = 0;
    const sampling = (async () => {
      while (client.events.filter((e) => e.type === 'transcript.committed').length < clips.length) {
        maxBacklog = Math.max(maxBacklog, await sttBacklogSeconds(app));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const committed = (await client.until((e) => e.type === 'transcript.committed' && client.events.filter((x) => x.type === 'transcript.committed').length === clips.length, { timeoutMs: 120_000 }))
      .filter((e): e is Extract<ServerEvent, { type: 'transcript.committed' }> => e.type === 'transcript.committed')
      .map((e) => e.text);
    await sampling;

    t.diagnostic(`largest backlog seen ${maxBacklog} s (limit ${MAX_BACKLOG_SECONDS} s), ${committed.length} commits`);
    const errors = client.events.filter((e) => e.type === 'error');
    assert.deepEqual(errors, [], 'nothing dropped: no rate_limited, no other error');
    // Unbounded, the worker would hold ~40 s of this client's audio at once; with backpressure the
    // service reads on only while under the limit (plus the frames the socket had already read).
    assert.ok(maxBacklog > 0, 'the upload did queue (the gauge moves)');
    assert.ok(maxBacklog <= MAX_BACKLOG_SECONDS + 3, `largest backlog seen: ${maxBacklog} s (limit ${MAX_BACKLOG_SECONDS} s)`);
    const reference = clips.map((name) => SHARED_RECORDINGS[name]!).join(' ');
    const wer = wordErrorRate(reference, normalizeWords(committed.join(' ')));
    t.diagnostic(`WER ${wer.toFixed(2)}`);
    assert.ok(wer < 0.5, `all nine utterances recognised (WER ${wer.toFixed(2)}): ${committed.join(' | ')}`);
  });
});

/**
 * A recogniser whose queue the test controls (the embedded provider's settings and formats, its
 * recognition replaced): what the session does at STT_MAX_BACKLOG_SECONDS and at twice it.
 */
class ControlledBacklog {
  seconds = 0;
  pushes = 0;
  private waiters: Array<{ seconds: number; callback: () => void }> = [];

  /** Sets the queue and runs the waits it satisfies (as the worker's progress reports would). */
  set(seconds: number): void {
    this.seconds = seconds;
    const due = this.waiters.filter((w) => w.seconds >= seconds);
    this.waiters = this.waiters.filter((w) => w.seconds < seconds);
    for (const waiter of due) waiter.callback();
  }

  provider(local: SttProvider): SttProvider {
    return {
      id: local.id,
      info: () => local.info(),
      resolveConfig: (dto) => local.resolveConfig(dto),
      open: (sessionId, config, listener): SttStream => {
        queueMicrotask(() => listener.started({ session_id: sessionId, config }));
        return {
          push: () => void this.pushes++,
          commit: () => undefined,
          close: () => undefined,
          backlog: {
            seconds: () => this.seconds,
            whenAtMost: (seconds, callback) => (this.seconds <= seconds ? callback() : this.waiters.push({ seconds, callback })),
          },
        };
      },
    };
  }
}

describe('recognition backlog limits with a recogniser the test controls', () => {
  const backlog = new ControlledBacklog();
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ STT_MAX_BACKLOG_SECONDS: '2' }, (builder) =>
      builder.overrideProvider(STT_PROVIDERS).useFactory({ inject: [LocalSttProvider], factory: (local: LocalSttProvider) => [backlog.provider(local)] }),
    );
  });
  after(() => app.close());

  const chunk = Buffer.alloc(3200); // 100 ms of 16 kHz PCM16
  const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
  const waitFor = async (condition: () => boolean) => {
    for (let waited = 0; !condition() && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  };

  it('over the limit the session stops reading its socket, and reads on once half of it is recognised', async () => {
    const client = await connectConfigured(app, { stt: { commit_strategy: 'manual' } });
    backlog.set(0);
    client.sendRaw(chunk);
    await settle();
    const before = backlog.pushes;
    assert.ok(before >= 1, 'audio reaches the recogniser');
    backlog.seconds = 2.5; // the next chunk finds the queue over the 2 s limit
    client.sendRaw(chunk);
    await settle();
    const paused = backlog.pushes;
    assert.equal(paused, before + 1, 'that chunk is taken');
    for (let i = 0; i < 20; i++) client.sendRaw(chunk);
    await settle();
    assert.equal(backlog.pushes, paused, 'nothing more is read while the queue is over the limit');
    backlog.set(1.5); // still over half the limit
    await settle();
    assert.equal(backlog.pushes, paused, 'still paused above half the limit');
    backlog.set(1);
    await waitFor(() => backlog.pushes === paused + 20);
    assert.equal(backlog.pushes, paused + 20, 'every chunk sent meanwhile is read once half is recognised: nothing dropped');
    assert.deepEqual(client.events.filter((e) => e.type === 'error'), [], 'no error on this path');
  });

  it('past twice the limit a chunk is refused with rate_limited, and the session goes on', async () => {
    const client = await connectConfigured(app, { stt: { commit_strategy: 'manual' } });
    backlog.set(4.5); // more than 2 x 2 s: reading could not be paused in time
    const pushes = backlog.pushes;
    client.sendRaw(chunk);
    const error = await client.nextOf('error');
    assert.equal(error.code, 'rate_limited');
    assert.match(error.message, /more than 4 s behind/);
    assert.match(error.message, /Send audio as it is captured/);
    assert.equal(backlog.pushes, pushes, 'the chunk was not queued');
    backlog.set(0);
    client.sendRaw(chunk);
    await waitFor(() => backlog.pushes === pushes + 1);
    assert.equal(backlog.pushes, pushes + 1, 'the next chunk is taken once the recogniser caught up');
    assert.equal(client.events.filter((e) => e.type === 'error').length, 1, 'one error');
  });
});
