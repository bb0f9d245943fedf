import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BINARY_AUDIO_EVENT, INVALID_FRAME_EVENT, parseVoiceFrame } from './voice-ws.adapter.js';

describe('parseVoiceFrame', () => {
  it('routes JSON on `type` and keeps the whole message', () => {
    assert.deepEqual(parseVoiceFrame('{"type":"text.prompt","text":"hi"}'), { event: 'text.prompt', data: { type: 'text.prompt', text: 'hi' } });
  });

  it('turns every binary shape into audio', () => {
    const pcm = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(parseVoiceFrame(pcm), { event: BINARY_AUDIO_EVENT, data: pcm });
    assert.deepEqual(parseVoiceFrame([pcm.subarray(0, 2), pcm.subarray(2)]).data, pcm);
    assert.deepEqual(parseVoiceFrame(new Uint8Array(pcm).buffer).data, pcm);
  });

  it('never returns nothing for bad frames', () => {
    for (const [frame, code] of [['nope', 'invalid_json'], ['null', 'invalid_json'], ['[]', 'invalid_json'], ['{}', 'unknown_type'], ['{"type":"audio.binary"}', 'unknown_type'], ['{"type":"constructor"}', 'unknown_type']] as const) {
      const parsed = parseVoiceFrame(frame);
      assert.equal(parsed.event, INVALID_FRAME_EVENT, frame);
      assert.equal((parsed.data as { code: string }).code, code, frame);
    }
  });
});
