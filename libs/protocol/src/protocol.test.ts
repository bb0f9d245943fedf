import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAudioFormat, TextPromptMessage, validateClientMessage, VoiceError } from './index.js';

describe('validateClientMessage', () => {
  it('accepts the full session.configure of the contract', () => {
    const message = validateClientMessage('session.configure', {
      type: 'session.configure',
      session_id: 'abc-1',
      backend: { registration_id: 'reg_1', provider: 'openai', api_key: 'k', model: 'm', base_url: 'https://x/v1', system_prompt: 'p' },
      stt: {
        model_id: 'scribe_v2_realtime', sample_rate: 16000, audio_format: 'pcm_16000', language_code: 'en', commit_strategy: 'manual',
        vad_threshold: 0.1, vad_silence_threshold_secs: 3, min_speech_duration_ms: 50, min_silence_duration_ms: 2000, include_timestamps: true,
      },
      tts: { voice_id: 'v', model_id: 'eleven_flash_v2_5', output_format: 'pcm_44100', voice_settings: { stability: 0, similarity_boost: 1, style: 0.2, use_speaker_boost: true, speed: 0.7 } },
    });
    assert.equal(message.stt?.vad_threshold, 0.1);
  });

  it('names the nested path of each problem', () => {
    assert.throws(
      () => validateClientMessage('session.configure', { type: 'session.configure', stt: { vad_threshold: 1 }, tts: { voice_settings: { speed: 0.1 } } }),
      (error: unknown) =>
        error instanceof VoiceError && error.code === 'invalid_message' && /stt\.vad_threshold/.test(error.message) && /tts\.voice_settings\.speed/.test(error.message),
    );
  });

  it('ignores prototype keys without polluting anything', () => {
    const message = validateClientMessage('text.prompt', JSON.parse('{"type":"text.prompt","text":"hi","__proto__":{"polluted":1}}'));
    assert.equal(Object.getPrototypeOf(message), TextPromptMessage.prototype);
    assert.equal((message as unknown as Record<string, unknown>)['polluted'], undefined);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('parseAudioFormat', () => {
  it('parses contract format names', () => {
    assert.deepEqual(parseAudioFormat('pcm_24000'), { name: 'pcm_24000', codec: 'pcm', sampleRate: 24000, contentType: 'application/octet-stream' });
    assert.equal(parseAudioFormat('mp3_44100_128')?.contentType, 'audio/mpeg');
    assert.equal(parseAudioFormat('ulaw_8000')?.codec, 'ulaw');
    for (const bad of ['pcm', 'mp3_44100', 'pcm_16000_1', 'wav_16000']) assert.equal(parseAudioFormat(bad), undefined, bad);
  });
});
