/** Machine-readable failure codes of the local speech recogniser. */
export type LocalSttErrorCode =
  /** libpocketsphinx, koffi or the acoustic/language model is missing or fails to load. */
  | 'local_stt_unavailable'
  /** The worker thread serving the stream died; open a new stream. */
  | 'local_stt_worker_crashed'
  /** PocketSphinx returned an error while decoding this stream. */
  | 'local_stt_decode_failed'
  /** push()/commit() on a stream that was closed. */
  | 'local_stt_stream_closed'
  /** The pool was closed while the call was pending. */
  | 'local_stt_pool_closed';

export class LocalSttError extends Error {
  override readonly name = 'LocalSttError';

  constructor(
    readonly code: LocalSttErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Debian packages that provide the native library and the en-US model. */
export const DEBIAN_PACKAGES = ['libpocketsphinx3', 'pocketsphinx-en-us'] as const;

export function unavailable(detail: string, cause?: unknown): LocalSttError {
  return new LocalSttError(
    'local_stt_unavailable',
    `PocketSphinx is not available: ${detail}. Install the Debian packages: apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`,
    cause === undefined ? undefined : { cause },
  );
}
