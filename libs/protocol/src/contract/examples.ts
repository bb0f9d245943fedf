import type { ClientMessageType } from '../client-messages.js';
import type { ServerEventType } from '../server-events.js';

/**
 * One working example of each message, shown in /asyncapi.json. The /test console starts from the
 * `session.configure` example, and the contract tests check that every example passes both the
 * DTOs and the JSON Schemas.
 */
export const CLIENT_MESSAGE_EXAMPLES: Record<ClientMessageType, Record<string, unknown>> = {
  'session.configure': {
    type: 'session.configure',
    backend: { registration_id: 'console-demo' },
    stt: {
      sample_rate: 16000,
      audio_format: 'pcm_16000',
      commit_strategy: 'vad',
      vad_threshold: 0.4,
      vad_silence_threshold_secs: 1.0,
      min_speech_duration_ms: 100,
      min_silence_duration_ms: 100,
    },
    tts: { voice_id: 'slt', output_format: 'pcm_24000' },
  },
  'audio.append': { type: 'audio.append', audio: 'AAABAAIA/f/+/w==', sample_rate: 16000 },
  'audio.commit': { type: 'audio.commit' },
  'text.prompt': { type: 'text.prompt', text: 'What is the weather like in Paris today?' },
  'assistant.audio.played': { type: 'assistant.audio.played', turn_id: 1, played_ms: 1250 },
  'assistant.cancel': { type: 'assistant.cancel' },
};

export const SERVER_EVENT_EXAMPLES: Record<ServerEventType, Record<string, unknown>> = {
  'session.ready': { type: 'session.ready', message: 'Connected. Send session.configure to begin.' },
  'session.configured': { type: 'session.configured', session_id: '0b6f3c52-2f4e-4a57-9d6e-2c1f0e4b8a11' },
  'stt.session_started': {
    type: 'stt.session_started',
    session_id: '0b6f3c52-2f4e-4a57-9d6e-2c1f0e4b8a11',
    config: {
      provider: 'local',
      model_id: 'pocketsphinx-en-us',
      audio_format: 'pcm_16000',
      sample_rate: 16000,
      language_code: 'en',
      commit_strategy: 'vad',
      vad_threshold: 0.4,
      vad_silence_threshold_secs: 1.0,
      min_speech_duration_ms: 100,
      min_silence_duration_ms: 100,
      include_timestamps: false,
    },
  },
  'transcript.partial': { type: 'transcript.partial', text: 'what is the weather' },
  'transcript.committed': { type: 'transcript.committed', text: 'what is the weather like in paris today', turn_id: 1 },
  'user.speech_started': { type: 'user.speech_started' },
  'assistant.started': { type: 'assistant.started', text: 'what is the weather like in paris today', turn_id: 1 },
  'assistant.message.delta': { type: 'assistant.message.delta', turn_id: 1, text: 'I cannot check the live weather' },
  'assistant.message': {
    type: 'assistant.message',
    text: 'I cannot check the live weather from here, but I hope it is pleasant where you are.',
    metadata: { provider: 'local', model: 'local-responder', turn: 1 },
    turn_id: 1,
  },
  'assistant.audio.start': { type: 'assistant.audio.start', turn_id: 1, content_type: 'application/octet-stream', output_format: 'pcm_24000' },
  'assistant.audio.chunk': {
    type: 'assistant.audio.chunk',
    turn_id: 1,
    audio: 'AAABAAIA/f/+/w==',
    content_type: 'application/octet-stream',
    output_format: 'pcm_24000',
    chunk_index: 1,
  },
  'assistant.audio.end': { type: 'assistant.audio.end', turn_id: 1, content_type: 'application/octet-stream', output_format: 'pcm_24000', chunk_count: 14 },
  'assistant.audio': { type: 'assistant.audio', audio: 'SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4LjI5LjEwMAAAAAAAAAAAAAAA', content_type: 'audio/mpeg', output_format: 'mp3_44100_128' },
  'assistant.interrupted': { type: 'assistant.interrupted', turn_id: 1, reason: 'user_speech', played_ms: 1250, heard_text: 'I cannot check the live weather' },
  'turn.metrics': {
    type: 'turn.metrics',
    turn_id: 1,
    outcome: 'completed',
    end_of_speech_to_commit_ms: 212,
    backend_first_byte_ms: 310,
    backend_complete_ms: 1490,
    tts_first_audio_ms: 95,
    user_to_first_audio_ms: 640,
  },
  error: { type: 'error', code: 'invalid_message', message: 'session.configure: stt.vad_threshold must not be greater than 0.9' },
};
