/** PCM16LE helpers. Buffers handed to these are little-endian signed 16-bit mono samples. */

export function pcm16Samples(bytes: Buffer): Int16Array {
  if (bytes.byteLength % 2 !== 0) throw new RangeError('PCM16 data needs an even byte count');
  // Copy when unaligned: Int16Array views need 2-byte alignment.
  if (bytes.byteOffset % 2 !== 0) bytes = Buffer.from(bytes);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

export function samplesToBuffer(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

export function int16ToFloat32(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! / 32768;
  return out;
}

export function float32ToInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    out[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
  return out;
}

/** Root mean square level of PCM16 samples, 0..1. */
export function rmsLevel(samples: Int16Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length) / 32768;
}

/**
 * Re-chunks a byte stream into fixed-size pieces (the last one may be shorter), so streamed audio
 * reaches clients in steady ~100-200 ms chunks whatever sizes the provider produced.
 */
export class ByteChunker {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly chunkBytes: number) {
    if (!Number.isInteger(chunkBytes) || chunkBytes <= 0) throw new RangeError('chunkBytes must be a positive integer');
  }

  /** Adds bytes and returns the whole chunks now available. */
  push(bytes: Buffer): Buffer[] {
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    const out: Buffer[] = [];
    if (this.pendingBytes < this.chunkBytes) return out;
    let all = Buffer.concat(this.pending, this.pendingBytes);
    while (all.byteLength >= this.chunkBytes) {
      out.push(all.subarray(0, this.chunkBytes));
      all = all.subarray(this.chunkBytes);
    }
    this.pending = all.byteLength > 0 ? [all] : [];
    this.pendingBytes = all.byteLength;
    return out;
  }

  /** Returns what is left (possibly empty) and resets. */
  flush(): Buffer | undefined {
    if (this.pendingBytes === 0) return undefined;
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }
}
