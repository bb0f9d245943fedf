export * from './audio-formats.js';
export * from './client-messages.js';
export * from './error-codes.js';
export * from './limits.js';
export * from './server-events.js';
