export * from './audio-formats.js';
export * from './client-messages.js';
export * from './contract/asyncapi.js';
export * from './contract/json-schemas.js';
export * from './error-codes.js';
export * from './limits.js';
export * from './server-events.js';
export * from './validation.js';
