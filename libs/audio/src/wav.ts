import wavefile from 'wavefile';

export interface PcmAudio {
  sampleRate: number;
  samples: Int16Array;
}

/** Reads a WAV file (any PCM bit depth or channel count) as mono PCM16. */
export function decodeWav(bytes: Uint8Array): PcmAudio {
  const wav = new wavefile.WaveFile(bytes);
  wav.toBitDepth('16');
  const fmt = wav.fmt as { sampleRate: number; numChannels: number };
  const raw = wav.getSamples(true, Int16Array) as unknown as Int16Array;
  if (fmt.numChannels === 1) return { sampleRate: fmt.sampleRate, samples: raw };
  const frames = raw.length / fmt.numChannels;
  const mono = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < fmt.numChannels; c++) sum += raw[i * fmt.numChannels + c]!;
    mono[i] = Math.round(sum / fmt.numChannels);
  }
  return { sampleRate: fmt.sampleRate, samples: mono };
}

/** Writes mono PCM16 as a WAV file. */
export function encodeWav(audio: PcmAudio): Buffer {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, audio.sampleRate, '16', audio.samples);
  return Buffer.from(wav.toBuffer());
}
