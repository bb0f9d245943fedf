import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricsService } from './metrics.service.js';
import { AudioClock, TurnTimeline } from './turn-timeline.js';

describe('TurnTimeline', () => {
  it('yields the stages of a spoken turn from its marks; the first mark of a name wins', () => {
    const timeline = new TurnTimeline(1000, 1800);
    timeline.mark('backend_request', 1801);
    timeline.mark('backend_first_byte', 1900);
    timeline.mark('backend_first_byte', 1950);
    timeline.mark('backend_complete', 2300);
    timeline.mark('tts_request', 2300.5);
    timeline.mark('first_audio', 2450);
    assert.deepEqual(timeline.stagesMs(), {
      end_of_speech_to_commit: 800,
      backend_first_byte: 99,
      backend_complete: 499,
      tts_first_audio: 149.5,
      user_to_first_audio: 1450,
    });
    assert.deepEqual(timeline.eventFields(4, 'completed'), {
      turn_id: 4,
      outcome: 'completed',
      end_of_speech_to_commit_ms: 800,
      backend_first_byte_ms: 99,
      backend_complete_ms: 499,
      tts_first_audio_ms: 149.5,
      user_to_first_audio_ms: 1450,
    });
  });

  it('leaves out stages that did not happen (a text turn whose backend failed)', () => {
    const timeline = new TurnTimeline(50);
    timeline.mark('backend_request', 51);
    assert.deepEqual(timeline.eventFields(1, 'failed'), { turn_id: 1, outcome: 'failed' });
  });
});

describe('AudioClock', () => {
  it('maps audio positions to the arrival of the chunk holding them, and keeps a bounded history', () => {
    const clock = new AudioClock(32_000, 4);
    for (let i = 0; i < 20; i++) clock.push(3200, 1000 + i * 100); // 100 ms chunks, 100 ms apart
    assert.equal(clock.receivedSecs, 2);
    assert.equal(clock.arrivalOf(1.95), 2900);
    assert.equal(clock.arrivalOf(1.85), 2800);
    assert.equal(clock.arrivalOf(0), clock.arrivalOf(0.1), 'positions older than the history map to its oldest');
    assert.equal(new AudioClock(32_000).arrivalOf(1), undefined);
  });
});

describe('MetricsService', () => {
  it('counts turns, stages, errors, sessions and recoveries with bounded labels', async () => {
    const metrics = new MetricsService();
    try {
      const end = metrics.sessionOpened('local', 'elevenlabs');
      metrics.turnEnded('completed', { user_to_first_audio: 640, backend_complete: 300 });
      metrics.turnEnded('failed', {});
      metrics.errorSent('backend_timeout');
      metrics.upstreamRecovery('elevenlabs_tts', 'retry');
      metrics.sendBufferHighWaterClose();
      metrics.watchWorkerPool('tts', () => 3);
      let text = await metrics.render();
      assert.match(text, /^voice_layer_sessions_active\{stt_provider="local",tts_provider="elevenlabs"\} 1$/m);
      assert.match(text, /^voice_layer_turns_total\{outcome="completed"\} 1$/m);
      assert.match(text, /^voice_layer_turns_total\{outcome="interrupted"\} 0$/m);
      assert.match(text, /^voice_layer_turn_stage_seconds_bucket\{le="1",stage="user_to_first_audio"\} 1$/m);
      assert.match(text, /^voice_layer_turn_stage_seconds_bucket\{le="0.6",stage="user_to_first_audio"\} 0$/m);
      assert.match(text, /^voice_layer_turn_stage_seconds_bucket\{le="0.01",stage="backend_complete"\} 0$/m);
      assert.match(text, /^voice_layer_errors_total\{code="backend_timeout"\} 1$/m);
      assert.match(text, /^voice_layer_upstream_recoveries_total\{upstream="elevenlabs_tts",kind="retry"\} 1$/m);
      assert.match(text, /^voice_layer_send_buffer_closes_total 1$/m);
      assert.match(text, /^voice_layer_worker_pool_queue_depth\{pool="tts"\} 3$/m);
      end();
      end();
      text = await metrics.render();
      assert.match(text, /^voice_layer_sessions_active\{stt_provider="local",tts_provider="elevenlabs"\} 0$/m, 'ending twice counts once');
    } finally {
      metrics.onModuleDestroy();
    }
  });
});
