/**
 * Stable machine codes carried by every `error` event. The message beside a code is for people;
 * frontends branch on the code. The description is the documentation source (README, handoff,
 * /v1/voice/config) and says what a client should do.
 */
export const ERROR_CODES = {
  invalid_json: 'A text frame was not a JSON object. Fix the client; the session is still usable.',
  unknown_type: 'The message `type` is missing or not one this service accepts.',
  invalid_message: 'A field is missing, of the wrong type or out of range; the message says which.',
  not_configured: 'Send `session.configure` first; this message was ignored.',
  already_configured: 'The session is already configured; open a new connection to change it.',
  frontend_backend_auth_forbidden:
    'The client sent backend credentials or URLs, which this server does not accept (ALLOW_FRONTEND_BACKEND_AUTH=false). Use `backend.registration_id` or server defaults.',
  backend_not_configured: 'No chat backend registration could be chosen; configure one on the server or send `backend`.',
  registration_failed: 'The chat backend refused or failed the registration; check the backend fields.',
  unknown_registration: 'The chat backend does not know this registration_id; send a valid one or let the server register.',
  backend_unavailable: 'The chat backend could not be reached or failed; retry the turn later.',
  backend_timeout: 'The chat backend did not answer in time; retry the turn.',
  backend_bad_response: 'The chat backend answered without a reply text, or a streamed reply held malformed data.',
  backend_error: 'The chat backend reported an error in its reply stream; the message is its own text. Text already delivered stays valid.',
  reply_too_large: 'The chat backend reply exceeded the size limit; the text up to the limit was delivered.',
  invalid_audio: 'Audio was not canonical base64 or not whole 16-bit samples; the chunk was dropped.',
  sample_rate_mismatch: 'The chunk `sample_rate` differs from the session rate; the chunk was dropped.',
  stt_unavailable: 'Speech input is not available on this server or session; use `text.prompt`.',
  unsupported_output_format: 'The TTS provider cannot produce that `output_format`; pick one listed in /v1/voice/config.',
  unsupported_language: 'The STT provider does not support this `stt.language_code`.',
  provider_unavailable: 'The requested STT/TTS provider is not available on this server.',
  tts_failed: 'Speech synthesis failed; the reply text was still delivered in `assistant.message`.',
  turn_queue_full: 'Too many turns are waiting; this prompt was dropped. Wait for the current reply.',
  internal_error: 'Unexpected server error; the session is still usable. Report it with the time.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * A typed, coded error thrown by domain code. The edge turns it into an `error` event:
 * `message` must be safe to show a user (no secrets, URLs of upstreams or stack traces).
 */
export class VoiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VoiceError';
  }
}

export function isVoiceError(value: unknown): value is VoiceError {
  return value instanceof VoiceError;
}
