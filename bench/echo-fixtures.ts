import { FliteSynthesizer } from '@app/engines';
import { roomEcho, synthesizeEspeak, type RoomOptions } from '@app/testing';

/** Replies the echo benches play back into the microphone (barge-in, echo-reverb, pitch-probe). */
export const ECHO_REPLIES = [
  'Rome was founded in the eighth century before Christ, and its roads reached every corner of the empire.',
  'The drive takes about two and a half hours, so leaving early on Saturday morning means you arrive before lunch.',
  'There is a family hotel near the harbour that costs one hundred and thirty dollars a night, with breakfast.',
  'Pack a warm jacket, because the wind off the sea gets cold after sunset, even in the middle of summer.',
  'The museum opens at nine, and the guided tour of the old town leaves from the square every hour.',
];

/** flite voices the replies rotate through (the detector was tuned on slt only). */
export const ECHO_VOICES = ['slt', 'kal16', 'rms', 'awb'] as const;

/** Echo paths: plain delay and gain, a reverberant room, and a speakerphone (the room, band-limited and clipped). */
export const ECHO_CONDITIONS: Record<string, RoomOptions | undefined> = {
  plain: undefined,
  room: { rt60Ms: 500, wet: 1, seed: 5 },
  speakerphone: { rt60Ms: 500, wet: 1, speakerphone: true, seed: 9 },
};

/** Float samples of PCM16 bytes (flite's ArrayBuffer or espeak-ng's Buffer). */
export function floatSamples(pcm: ArrayBuffer | Uint8Array): Float32Array {
  const b = pcm instanceof Uint8Array ? pcm : new Uint8Array(pcm);
  return Float32Array.from(new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
}

/**
 * The offline echo probes' tracks at 16 kHz: `replyCount` replies (ECHO_REPLIES in ECHO_VOICES, in
 * turn) and three users who talk over them (flite awb, espeak-ng, flite slt: the last one shares a
 * reply voice).
 */
export async function echoProbeTracks(replyCount: number): Promise<{ replies: Float32Array[]; users: Float32Array[] }> {
  const flite = new FliteSynthesizer({ threads: 1 });
  try {
    const say = async (text: string, voice: (typeof ECHO_VOICES)[number]) => floatSamples((await flite.synthesize({ text, voice, sampleRate: 16000, speed: 1 })).pcm);
    const replies: Float32Array[] = [];
    for (let i = 0; i < replyCount; i++) replies.push(await say(ECHO_REPLIES[i % ECHO_REPLIES.length]!, ECHO_VOICES[i % ECHO_VOICES.length]!));
    const users = [
      await say('tell me about the weather in london instead', 'awb'),
      floatSamples(await synthesizeEspeak('wait a moment, what time is it now', 'en-us')),
      await say('no stop, I want to book a table for two', 'slt'),
    ];
    return { replies, users };
  } finally {
    await flite.close();
  }
}

/** What the microphone hears of `reply` through `room` (none: plain), `delayMs` late. */
export function echoedMic(reply: Float32Array, room: RoomOptions | undefined, delayMs: number): Float32Array {
  const heard = room ? roomEcho(Int16Array.from(reply, (v) => Math.max(-32768, Math.min(32767, Math.round(v)))), room) : reply;
  const delay = (delayMs * 16000) / 1000;
  const mic = new Float32Array(heard.length + delay);
  mic.set(heard, delay);
  return mic;
}
