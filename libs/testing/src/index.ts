export * from './audio-events.js';
export * from './captured-output.js';
export * from './fake-openai.js';
export * from './mp3.js';
export * from './voice-test-client.js';
export * from './speech.js';
export * from './redis-server.js';
export * from './echo.js';
