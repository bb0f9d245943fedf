/**
 * @voice-layer/client/node: the same VoiceClient for Node (servers, tests, bots), on the `ws`
 * package. No Microphone or Player: send audio with `sendAudio`, read reply audio from the events.
 */
import WebSocket from 'ws';
import { VoiceClient as BaseVoiceClient, type SocketLike, type VoiceClientOptions } from './client.js';

export class VoiceClient extends BaseVoiceClient {
  constructor(options: VoiceClientOptions = {}) {
    super({ createSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike, ...options });
  }
}

export { VoiceClientError, VOICE_SUBPROTOCOL } from './client.js';
export type { ConnectOptions, SessionConfig, SocketFactory, SocketLike, VoiceClientEvents, VoiceClientOptions } from './client.js';
export type { AudioOutput, PlaybackListener } from './player.js';
export { PlaybackSchedule } from './scheduler.js';
export { initialState, nextState } from './state.js';
export type { StateInput, StateMachine, VoiceState } from './state.js';
export { backoffDelay, closeDecision, DRAIN_CLOSE_CODES } from './reconnect.js';
export type { CloseDecision, CloseFacts, ReconnectOptions } from './reconnect.js';
export { base64ToBytes, bytesToBase64, floatToMulaw, floatToPcm16, mulawToFloat, pcm16ToFloat, rms, StreamResampler } from './pcm.js';
export type * from './protocol.js';
