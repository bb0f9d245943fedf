import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FliteSynthesizer } from '@app/engines';
import type { ServerEvent } from '@app/protocol';
import { freePort, silence, speechSpan, streamAudio, synthesizeSpeech } from '@app/testing';
import { connectConfigured, startTestApp, type TestApp } from './utils/test-app.js';

type TurnMetrics = Record<string, number | string> & { turn_id: number; outcome: string };

/** Parses the Prometheus text format into `name{labels}` -> value. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]));
  }
  return values;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

const stageSum = (m: TurnMetrics, keys: string[]) => keys.reduce((sum, key) => sum + (m[key] as number), 0);
/**
 * Stages run back to back, so they add up to user_to_first_audio to within the few synchronous
 * steps between them (typically under 1 ms).
 */
const ADD_UP_MS = 5;

describe('metrics and turn.metrics', () => {
  let testApp: TestApp;
  let flite: FliteSynthesizer;

  before(async () => {
    testApp = await startTestApp();
    flite = new FliteSynthesizer({ threads: 1 });
  });
  after(async () => {
    await testApp.close();
    await flite.close();
  });

  it('reports a text turn in turn.metrics, matching what the client saw, and in /metrics', async (t) => {
    const diagnostic = (text: string) => t.diagnostic(text);
    const client = await connectConfigured(testApp);
    const during = await scrape(`${testApp.httpUrl}/metrics`);
    const provider = testApp.sttAvailable ? 'local' : 'none';
    assert.equal(during.get(`voice_layer_sessions_active{stt_provider="${provider}",tts_provider="local"}`), 1);

    // Three turns: each must be consistent; the medians must be tight (one turn on a loaded machine
    // can lose a GC pause or a scheduler slice between two stages, seen up to 73 ms).
    const gaps: number[] = [];
    const clientLags: number[] = [];
    for (let turn = 1; turn <= 3; turn++) {
      const sentAt = performance.now();
      client.send({ type: 'text.prompt', text: 'What is the weather like in Paris today?' });
      await client.nextOf('assistant.audio.chunk', { timeoutMs: 20_000 });
      const clientFirstAudioMs = performance.now() - sentAt;
      const events = await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
      const types = events.map((e) => e.type);
      assert.equal(types.at(-2), 'assistant.audio.end', "turn.metrics follows the turn's last event");
      const m = events.at(-1) as unknown as TurnMetrics;
      diagnostic(`text turn: ${JSON.stringify(m)}; client-observed first audio ${clientFirstAudioMs.toFixed(1)} ms`);
      assert.equal(m.turn_id, turn);
      assert.equal(m.outcome, 'completed');
      assert.equal(m['end_of_speech_to_commit_ms'], undefined, 'no speech, no end_of_speech_to_commit');
      for (const key of ['backend_first_byte_ms', 'backend_complete_ms', 'tts_first_audio_ms', 'user_to_first_audio_ms']) {
        assert.equal(typeof m[key], 'number', key);
      }
      const total = m['user_to_first_audio_ms'] as number;
      // Stages run back to back (backend, then synthesis to the first chunk): never more than the total.
      const gap = total - stageSum(m, ['backend_complete_ms', 'tts_first_audio_ms']);
      assert.ok(gap >= -0.2 && gap < 250, JSON.stringify(m));
      gaps.push(gap);
      // The client saw its first audio one loopback hop (and its own event handling) later.
      assert.ok(clientFirstAudioMs >= total - 1, `client ${clientFirstAudioMs.toFixed(1)} ms, server ${total} ms`);
      clientLags.push(clientFirstAudioMs - total);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    assert.ok(median(gaps) <= ADD_UP_MS, `stage sums vs totals: ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
    // The client's times are taken when the test reads the event (its event loop is busy on a loaded machine).
    assert.ok(median(clientLags) < 60, `client minus server first-audio times: ${clientLags.map((g) => g.toFixed(1)).join(', ')} ms`);

    const metrics = await scrape(`${testApp.httpUrl}/metrics`);
    assert.ok((metrics.get('voice_layer_turns_total{outcome="completed"}') ?? 0) >= 1);
    for (const stage of ['backend_first_byte', 'backend_complete', 'tts_first_audio', 'user_to_first_audio']) {
      assert.ok((metrics.get(`voice_layer_turn_stage_seconds_count{stage="${stage}"}`) ?? 0) >= 1, stage);
    }
    const under10s = metrics.get('voice_layer_turn_stage_seconds_bucket{le="10",stage="user_to_first_audio"}');
    assert.equal(under10s, metrics.get('voice_layer_turn_stage_seconds_count{stage="user_to_first_audio"}'));
    assert.ok(metrics.has('voice_layer_event_loop_lag_seconds{quantile="0.99"}'));
    assert.ok(metrics.has('voice_layer_worker_pool_queue_depth{pool="tts"}'));
    assert.ok(metrics.has('voice_layer_worker_pool_queue_depth{pool="echo"}'));
    assert.ok(metrics.has('voice_layer_send_buffer_closes_total'));

    client.send({ type: 'text.prompt', text: '' });
    await client.nextOf('error');
    const afterError = await scrape(`${testApp.httpUrl}/metrics`);
    assert.ok([...afterError.keys()].some((key) => key.startsWith('voice_layer_errors_total{code="')), 'errors are counted by code');
    await client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = await scrape(`${testApp.httpUrl}/metrics`);
    assert.equal(closed.get(`voice_layer_sessions_active{stt_provider="${provider}",tts_provider="local"}`), 0);
    assert.ok(![...closed.keys()].some((key) => key.includes('demo-session')), 'no session ids in labels');
  });

  it('times a spoken turn from the end of speech, and the stages add up', async (t) => {
    if (!testApp.sttAvailable) return t.skip('local STT not installed');
    const client = await connectConfigured(testApp, { stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 0.8, include_timestamps: true } });
    const speech = await synthesizeSpeech(flite, 'what is the weather like in paris today', 16000);
    const audio = Buffer.concat([silence(0.3), speech, silence(1.5)]);
    const speechEndSecs = 0.3 + speechSpan(speech).end;
    const chunkSentAt: number[] = [];
    const sending = streamAudio(client, audio, { bytesPerSecond: 32000, chunkMs: 20, sampleRate: 16000, onChunk: (i) => (chunkSentAt[i] = performance.now()) });
    await client.nextOf('transcript.committed', { timeoutMs: 20_000 });
    const committedAt = performance.now();
    await client.nextOf('assistant.audio.chunk', { timeoutMs: 20_000 });
    const firstAudioAt = performance.now();
    await sending;
    const events: ServerEvent[] = await client.until((e) => e.type === 'turn.metrics', { timeoutMs: 20_000 });
    const m = events.at(-1) as unknown as TurnMetrics;
    assert.equal(m.outcome, 'completed');
    const total = m['user_to_first_audio_ms'] as number;
    // (Precision is checked on the text turns; one turn may lose a GC pause between stages.)
    const gap = total - stageSum(m, ['end_of_speech_to_commit_ms', 'backend_complete_ms', 'tts_first_audio_ms']);
    assert.ok(gap >= -0.2 && gap < 100, JSON.stringify(m));
    // From the commit on, client and server see the same span of time (one loopback hop apart). The
    // client's times are taken when the test reads each event, a few ms after it arrived, hence the slack.
    const serverAfterCommit = total - (m['end_of_speech_to_commit_ms'] as number);
    const clientAfterCommit = firstAudioAt - committedAt;
    assert.ok(clientAfterCommit >= serverAfterCommit - 15 && clientAfterCommit - serverAfterCommit < 150, `after the commit: client ${clientAfterCommit.toFixed(1)} ms, server ${serverAfterCommit.toFixed(1)} ms`);
    // The VAD waits for 0.8 s of silence: the commit comes at least that long after the speech ended.
    assert.ok((m['end_of_speech_to_commit_ms'] as number) >= 600, JSON.stringify(m));
    // The client's own view: from sending the chunk where its speech ended to the first audio.
    const clientSpeechEnd = chunkSentAt[Math.floor((speechEndSecs * 1000) / 20)]!;
    const clientMs = firstAudioAt - clientSpeechEnd;
    t.diagnostic(`spoken turn: ${JSON.stringify(m)}; client-observed end of speech to first audio ${clientMs.toFixed(0)} ms`);
    // The end of speech itself: the recogniser's last word end against the signal's energy, which
    // differ by up to a few hundred ms (trailing phones, frame rounding, a loaded worker).
    assert.ok(Math.abs(clientMs - total) < 400, `client ${clientMs.toFixed(0)} ms, server ${total} ms`);
  });

  it('serves /metrics on METRICS_PORT only when it is set', async () => {
    const port = await freePort();
    const app = await startTestApp({ METRICS_PORT: String(port) });
    try {
      const main = await fetch(`${app.httpUrl}/metrics`);
      assert.equal(main.status, 404);
      const metrics = await scrape(`http://127.0.0.1:${port}/metrics`);
      assert.equal(metrics.get('voice_layer_turns_total{outcome="completed"}'), 0);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
      const docs = (await (await fetch(`${app.httpUrl}/docs/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(docs.paths['/metrics'], '/metrics is in the OpenAPI document');
    } finally {
      await app.close();
    }
  });
});
