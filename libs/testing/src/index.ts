export * from './audio-events.js';
export * from './fake-openai.js';
export * from './voice-test-client.js';
export * from './speech.js';
