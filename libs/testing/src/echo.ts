import { RoomSimulator, type RoomOptions } from './room.js';
import type { VoiceTestClient } from './voice-test-client.js';

export interface EchoPlaybackOptions {
  turnId: number;
  /** The session's reply audio must be `pcm_16000`; it is fed back as 16 kHz microphone audio. */
  gain?: number;
  /** From playing a sample to hearing it in the microphone. */
  delayMs?: number;
  /** User speech (16 kHz PCM16) mixed into the microphone, starting this many ms after playback starts. */
  user?: { pcm: Buffer; atMs: number };
  /** The reply reaches the microphone through a room (reverb) and optionally a speakerphone (band limit, clipping); default: delay and gain only. */
  room?: RoomOptions;
  /** Microphone audio after the playback and the user speech ended. */
  tailMs?: number;
  /** Report `assistant.audio.played` every 250 ms, as a real client does. */
  report?: boolean;
}

export interface EchoPlaybackResult {
  /** Ms after playback started when `assistant.interrupted` for the turn arrived, if it did. */
  interruptedAtMs?: number;
  /** Ms after playback started when the last audio chunk of the turn arrived. */
  lastChunkAtMs: number;
  playedMs: number;
}

const FRAME_MS = 20;
const FRAME_SAMPLES = 16 * FRAME_MS;

/**
 * A speakerphone without echo cancellation: plays the turn's audio in real time from its first
 * chunk and sends what the microphone hears (that audio, delayed, plus optional user speech) back to
 * the service in 20 ms frames. Playback stops when the turn is interrupted, as a client must.
 */
export async function playWithEcho(client: VoiceTestClient, options: EchoPlaybackOptions): Promise<EchoPlaybackResult> {
  const gain = options.gain ?? 1;
  const delayMs = options.delayMs ?? 100;
  let tailMs = options.tailMs ?? 1500;
  const isChunk = (e: { type: string; turn_id?: number }) => e.type === 'assistant.audio.chunk' && e.turn_id === options.turnId;
  await client.until((e) => isChunk(e), { timeoutMs: 20_000 });
  const t0 = performance.now();
  const reply: Buffer[] = [];
  let audio = Buffer.alloc(0);
  let seen = 0;
  let replyBytes = 0;
  let ended = false;
  let interruptedAtMs: number | undefined;
  let lastChunkAtMs = 0;
  let lastReport = 0;
  const userStart = options.user ? (options.user.atMs * 16) | 0 : 0;
  const userEnd = options.user ? userStart + options.user.pcm.length / 2 : 0;
  const room = options.room ? new RoomSimulator(options.room) : undefined;
  const heard = new Float32Array(FRAME_SAMPLES);
  for (let frame = 0; frame < 60_000 / FRAME_MS; frame++) {
    const due = t0 + frame * FRAME_MS;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    const now = performance.now() - t0;
    for (; seen < client.events.length; seen++) {
      const event = client.events[seen]!;
      if (event.type === 'assistant.audio.chunk' && event.turn_id === options.turnId) {
        reply.push(Buffer.from(event.audio, 'base64'));
        replyBytes += reply.at(-1)!.length;
        lastChunkAtMs = now;
      } else if (event.type === 'assistant.audio.end' && event.turn_id === options.turnId) {
        ended = true;
      } else if (event.type === 'assistant.interrupted' && event.turn_id === options.turnId) {
        interruptedAtMs ??= now;
      }
    }
    const played = Math.min(now, replyBytes / 32);
    if (options.report && interruptedAtMs === undefined && now - lastReport >= 250) {
      client.send({ type: 'assistant.audio.played', turn_id: options.turnId, played_ms: Math.floor(played) });
      lastReport = now;
    }
    // The sample index of the reply the microphone hears now (played delayMs ago), while playing. On
    // the audio clock (the frame's place in the microphone stream), as a loudspeaker and a microphone
    // run: not from the timer's wake-up, whose jitter would skip or repeat a few ms of the echo at
    // every frame boundary, a discontinuity no real echo has.
    const micStart = frame * FRAME_SAMPLES;
    const echoFrom = micStart - Math.round(delayMs * 16);
    if (audio.length !== replyBytes) audio = Buffer.concat(reply);
    const mic = Buffer.alloc(FRAME_SAMPLES * 2);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const e = echoFrom + i;
      const playing = interruptedAtMs === undefined || e < interruptedAtMs * 16;
      heard[i] = playing && e >= 0 && e * 2 + 1 < audio.length ? audio.readInt16LE(e * 2) * gain : 0;
    }
    const echo = room ? room.process(heard) : heard;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      let sample = echo[i]!;
      const u = micStart + i;
      if (options.user && u >= userStart && u < userEnd) sample += options.user.pcm.readInt16LE((u - userStart) * 2);
      mic.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(sample))), i * 2);
    }
    client.sendRaw(mic);
    const replyDone = interruptedAtMs !== undefined || (ended && now - delayMs >= replyBytes / 32);
    const userDone = !options.user || micStart >= userEnd;
    if (replyDone && userDone) {
      if ((tailMs -= FRAME_MS) <= 0) break;
    }
  }
  return { ...(interruptedAtMs !== undefined ? { interruptedAtMs } : {}), lastChunkAtMs, playedMs: Math.min(performance.now() - t0, replyBytes / 32) };
}
