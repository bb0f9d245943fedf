import { after, before, beforeEach } from 'node:test';
import { startElevenLabsEmulator, type ElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { FliteSynthesizer } from '@app/engines';
import { CapturedOutput } from '@app/testing';
import { startTestApp, type TestApp } from './test-app.js';

/** What an ElevenLabs suite runs against; the fields are set once the suite's `before` hook ran. */
export interface ElevenLabsStack {
  emulator: ElevenLabsEmulator;
  testApp: TestApp;
  /** A flite synthesiser for the suite's own audio (prompts, reference renderings). */
  flite: FliteSynthesizer;
  /** Everything the process printed during the suite, to check that no secret reached a log line. */
  output: CapturedOutput;
}

/**
 * Registers, in the calling `describe`, the hooks that start the ElevenLabs emulator (with `apiKey`
 * as its only accepted key) and the service pointed at it with that key, reset the emulator's faults
 * and records before each test, and stop everything after the suite.
 */
export function useElevenLabsStack(apiKey: string, env: Record<string, string> = {}): ElevenLabsStack {
  const stack = {} as ElevenLabsStack;
  before(async () => {
    stack.output = CapturedOutput.start();
    stack.emulator = await startElevenLabsEmulator({ apiKey });
    stack.testApp = await startTestApp({ ELEVENLABS_API_KEY: apiKey, ELEVENLABS_BASE_URL: stack.emulator.baseUrl, ...env });
    stack.flite = new FliteSynthesizer({ threads: 1 });
  });
  beforeEach(() => stack.emulator.reset());
  after(async () => {
    await stack.testApp?.close();
    await stack.emulator?.close();
    await stack.flite?.close();
    stack.output?.stop();
  });
  return stack;
}
