/**
 * The `output_format` values of ElevenLabs' TTS HTTP API that the emulator produces: every documented
 * one except Opus. Raw formats are mono; PCM is signed 16-bit little-endian without a header.
 */
export type EmulatedFormat =
  | { codec: 'pcm' | 'ulaw' | 'alaw'; sampleRate: number; contentType: string }
  | { codec: 'mp3'; sampleRate: number; kbps: number; contentType: string };

const PCM_RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000];
const MP3_VARIANTS: Array<[number, number]> = [[22050, 32], [24000, 48], [44100, 32], [44100, 64], [44100, 96], [44100, 128], [44100, 192]];

export const EMULATED_FORMATS: ReadonlyMap<string, EmulatedFormat> = new Map<string, EmulatedFormat>([
  ...PCM_RATES.map((rate): [string, EmulatedFormat] => [`pcm_${rate}`, { codec: 'pcm', sampleRate: rate, contentType: 'audio/pcm' }]),
  ['ulaw_8000', { codec: 'ulaw', sampleRate: 8000, contentType: 'audio/basic' }],
  ['alaw_8000', { codec: 'alaw', sampleRate: 8000, contentType: 'audio/x-alaw-basic' }],
  ...MP3_VARIANTS.map(([rate, kbps]): [string, EmulatedFormat] => [`mp3_${rate}_${kbps}`, { codec: 'mp3', sampleRate: rate, kbps, contentType: 'audio/mpeg' }]),
]);

/** ElevenLabs' default when `output_format` is absent. */
export const DEFAULT_OUTPUT_FORMAT = 'mp3_44100_128';
