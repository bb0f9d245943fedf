import { MPEGDecoder } from 'mpg123-decoder';

export interface DecodedMp3 {
  sampleRate: number;
  /** Samples per channel. */
  samples: number;
  /** Frames mpg123 could not decode. */
  errors: number;
}

/** Decodes MP3 bytes with mpg123 (WASM) to check that they are real MPEG audio of the right length. */
export async function decodeMp3(bytes: Uint8Array): Promise<DecodedMp3> {
  const decoder = new MPEGDecoder();
  await decoder.ready;
  try {
    const decoded = decoder.decode(bytes);
    return { sampleRate: decoded.sampleRate, samples: decoded.samplesDecoded, errors: decoded.errors.length };
  } finally {
    decoder.free();
  }
}

/** True when `bytes` start like an MP3 file: an ID3v2 tag or an MPEG audio frame sync (11 set bits). */
export function startsLikeMp3(bytes: Uint8Array): boolean {
  const id3 = bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33;
  return id3 || (bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0);
}
