import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerEvent } from '@app/protocol';
import { normalizeWords, readSharedRecording, SHARED_RECORDINGS, silence, wordErrorRate } from '@app/testing';
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
