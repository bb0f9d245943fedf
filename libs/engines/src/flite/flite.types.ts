/** Voices built into the flite WASI binary (all 16 kHz but `kal`, which is 8 kHz). */
export const FLITE_VOICES = ['slt', 'awb', 'rms', 'kal16', 'kal'] as const;
export type FliteVoice = (typeof FLITE_VOICES)[number];

export function isFliteVoice(value: string): value is FliteVoice {
  return (FLITE_VOICES as readonly string[]).includes(value);
}

export interface FliteJob {
  text: string;
  voice: FliteVoice;
  /** Output sample rate; flite's native rate is resampled in the worker. */
  sampleRate: number;
  /** Speaking rate, 1 = normal (ElevenLabs `voice_settings.speed`, 0.7-1.2). */
  speed: number;
}

export interface FliteResult {
  /** PCM16LE mono at `sampleRate`. */
  pcm: ArrayBuffer;
  sampleRate: number;
  synthMs: number;
}
