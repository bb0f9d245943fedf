import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { float32ToInt16, int16ToFloat32 } from './pcm.js';

const { ConverterType, create } = libsamplerate;

/** Resamples a live stream chunk by chunk; filter state carries across chunks (no clicks at the seams). */
export interface StreamResampler {
  process(samples: Int16Array): Int16Array;
  destroy(): void;
}

export async function createStreamResampler(fromRate: number, toRate: number): Promise<StreamResampler> {
  const converter = await create(1, fromRate, toRate, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY });
  return {
    process: (samples) => (samples.length === 0 ? new Int16Array(0) : float32ToInt16(converter.full(int16ToFloat32(samples)))),
    destroy: () => converter.destroy(),
  };
}
