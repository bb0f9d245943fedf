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
/** `content_type` for MP3 audio. */
export const MP3_CONTENT_TYPE = 'audio/mpeg';
/** Every `content_type` audio events carry. */
export const AUDIO_CONTENT_TYPES = [RAW_AUDIO_CONTENT_TYPE, MP3_CONTENT_TYPE] as const;

/** Sample rates of the PCM formats, for input (`stt.sample_rate`) and output alike. */
export const STT_SAMPLE_RATES = [8000, 16000, 22050, 24000, 44100, 48000] as const;

/** Raw formats: PCM16LE at each rate, and 8-bit mu-law at 8 kHz. */
const RAW_FORMATS = [...STT_SAMPLE_RATES.map((rate) => `pcm_${rate}` as const), 'ulaw_8000'] as const;

/** Input formats a client may stream (`stt.audio_format`). */
export const STT_INPUT_FORMATS: readonly string[] = RAW_FORMATS;

/** Every output format name the contract knows; each provider supports a subset. */
export const TTS_OUTPUT_FORMATS: readonly string[] = [
  ...RAW_FORMATS,
  ...(['22050_32', '44100_32', '44100_64', '44100_96', '44100_128', '44100_192'] as const).map((v) => `mp3_${v}` as const),
];

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
    contentType: codec === 'mp3' ? MP3_CONTENT_TYPE : RAW_AUDIO_CONTENT_TYPE,
  };
}

/** Bytes per second of a raw (PCM16 or mu-law) format; undefined for compressed ones. */
export function rawBytesPerSecond(format: AudioFormat): number | undefined {
  if (format.codec === 'pcm') return format.sampleRate * 2;
  if (format.codec === 'ulaw') return format.sampleRate;
  return undefined;
}
