export * from './flite/flite-synthesizer.js';
export * from './flite/flite.types.js';
export * from './sentences.js';
