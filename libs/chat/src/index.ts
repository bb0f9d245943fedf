export * from './chat-contract.js';
export * from './chat-engine.js';
export * from './local-responder.js';
export * from './openai-compatible.js';
export * from './chat-stream.js';
