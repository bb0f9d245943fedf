/** Audio format names of the contract (ElevenLabs naming: `<codec>_<rate>[_<bitrate>]`). */

export type AudioCodec = 'pcm' | 'ulaw' | 'mp3';

export interface AudioFormat {
  readonly name: string;
  readonly codec: AudioCodec;
  readonly sampleRate: number;
  /** MIME type sent as `content_type` with audio events. */
  readonly contentType: string;
}

/** `content_type` for raw PCM16LE (and mu-law) audio, as the contract fixes it. */
export const RAW_AUDIO_CONTENT_TYPE = 'application/octet-stream';

/** Input formats a client may stream (`stt.audio_format`). */
export const STT_INPUT_FORMATS = [
  'pcm_8000',
  'pcm_16000',
  'pcm_22050',
  'pcm_24000',
  'pcm_44100',
  'pcm_48000',
  'ulaw_8000',
] as const;
export type SttInputFormat = (typeof STT_INPUT_FORMATS)[number];

export const STT_SAMPLE_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;

/** Every output format name the contract knows; each provider supports a subset. */
export const TTS_OUTPUT_FORMATS = [
  'pcm_8000',
  'pcm_16000',
  'pcm_22050',
  'pcm_24000',
  'pcm_44100',
  'pcm_48000',
  'ulaw_8000',
  'mp3_22050_32',
  'mp3_44100_32',
  'mp3_44100_64',
  'mp3_44100_96',
  'mp3_44100_128',
  'mp3_44100_192',
] as const;
export type TtsOutputFormat = (typeof TTS_OUTPUT_FORMATS)[number];

const FORMAT_PATTERN = /^(pcm|ulaw|mp3)_(\d{4,5})(?:_(\d{2,3}))?$/;

/** Parses a format name; returns undefined for names outside the contract. */
export function parseAudioFormat(name: string): AudioFormat | undefined {
  const match = FORMAT_PATTERN.exec(name);
  if (!match) return undefined;
  const codec = match[1] as AudioCodec;
  const sampleRate = Number(match[2]);
  if (codec === 'mp3' && match[3] === undefined) return undefined;
  if (codec !== 'mp3' && match[3] !== undefined) return undefined;
  return {
    name,
    codec,
    sampleRate,
    contentType: codec === 'mp3' ? 'audio/mpeg' : RAW_AUDIO_CONTENT_TYPE,
  };
}

/** Bytes per second of a raw (PCM16 or mu-law) format; undefined for compressed ones. */
export function rawBytesPerSecond(format: AudioFormat): number | undefined {
  if (format.codec === 'pcm') return format.sampleRate * 2;
  if (format.codec === 'ulaw') return format.sampleRate;
  return undefined;
}
