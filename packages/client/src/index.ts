/**
 * @voice-layer/client: a typed client for the Voice Layer WebSocket protocol (browser entry).
 * `VoiceClient` runs the session, `Microphone` captures speech, `Player` plays the reply.
 */
export { VoiceClient, VoiceClientError, VOICE_SUBPROTOCOL } from './client.js';
export type { ConnectOptions, SessionConfig, SocketFactory, SocketLike, VoiceClientEvents, VoiceClientOptions } from './client.js';
export { Microphone, MicrophoneError } from './microphone.js';
export type { MicrophoneFrame, MicrophoneOptions, MicrophoneStartOptions } from './microphone.js';
export { Player, parseFormat } from './player.js';
export type { AudioOutput, PlaybackListener, PlaybackStats, PlayerOptions } from './player.js';
export { PlaybackSchedule, LEAD_SECONDS } from './scheduler.js';
export { initialState, nextState } from './state.js';
export type { StateInput, StateMachine, VoiceState } from './state.js';
export { backoffDelay, closeDecision, DRAIN_CLOSE_CODES } from './reconnect.js';
export type { CloseDecision, CloseFacts, ReconnectOptions } from './reconnect.js';
export { base64ToBytes, bytesToBase64, floatToMulaw, floatToPcm16, mulawToFloat, pcm16ToFloat, rms, StreamResampler } from './pcm.js';
export type * from './protocol.js';
