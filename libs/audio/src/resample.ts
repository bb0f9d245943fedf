import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { float32ToInt16, int16ToFloat32 } from './pcm.js';

const { ConverterType, create } = libsamplerate;
type Converter = Awaited<ReturnType<typeof create>>;

/**
 * Band-limited sample-rate conversion (libsamplerate's sinc converter compiled to WASM).
 * CPU cost grows with buffer length: call it from worker threads for long buffers.
 * Converters are cached per rate pair for the life of the thread.
 */
const converters = new Map<string, Promise<Converter>>();

function converterFor(fromRate: number, toRate: number): Promise<Converter> {
  const key = `${fromRate}:${toRate}`;
  let converter = converters.get(key);
  if (!converter) {
    converter = create(1, fromRate, toRate, { converterType: ConverterType.SRC_SINC_MEDIUM_QUALITY });
    converters.set(key, converter);
  }
  return converter;
}

/** Resamples a whole buffer of mono PCM16 (one call per independent piece of audio). */
export async function resamplePcm16(samples: Int16Array, fromRate: number, toRate: number): Promise<Int16Array> {
  if (fromRate === toRate || samples.length === 0) return samples;
  const converter = await converterFor(fromRate, toRate);
  return float32ToInt16(converter.simple(int16ToFloat32(samples)));
}
