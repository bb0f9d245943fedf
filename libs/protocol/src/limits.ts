/** Protocol limits shared by the service, its docs and its clients. */
export const PROTOCOL_VERSION = '1';
export const VOICE_WS_PATH = '/v1/voice/ws';
export const MAX_TEXT_PROMPT_CHARS = 4000;
export const MAX_SESSION_ID_CHARS = 128;
export const MAX_SYSTEM_PROMPT_CHARS = 8000;
export const MAX_PREVIOUS_TEXT_CHARS = 2000;
/** Largest decoded audio chunk (1 s of 48 kHz PCM16). */
export const MAX_AUDIO_CHUNK_BYTES = 96_000;
/** Base64 length of the largest chunk. */
export const MAX_AUDIO_BASE64_CHARS = Math.ceil(MAX_AUDIO_CHUNK_BYTES / 3) * 4;
