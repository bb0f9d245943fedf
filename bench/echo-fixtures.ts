import type { RoomOptions } from '@app/testing';

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
