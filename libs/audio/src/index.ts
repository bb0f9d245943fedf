export * from './base64.js';
export * from './pcm.js';
export * from './resample.js';
export * from './wav.js';
export * from './stream-resampler.js';
