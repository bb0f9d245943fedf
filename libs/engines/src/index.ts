export * from './fair-scheduler.js';
export * from './flite/flite-synthesizer.js';
export * from './flite/flite.types.js';
export * from './sentences.js';
export * from './synthesis-pacer.js';
export * from './stt/local-stt.pool.js';
export type { CommitReason, LocalSttStreamConfig, TimedWord, VadSettings } from './stt/local-stt.protocol.js';
export { DEBIAN_PACKAGES as LOCAL_STT_DEBIAN_PACKAGES } from './stt/errors.js';
