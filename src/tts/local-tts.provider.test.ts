import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isVoiceError } from '@app/protocol';
import { buildAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { LocalTtsProvider } from './local-tts.provider.js';

describe('LocalTtsProvider limits', () => {
  const provider = new LocalTtsProvider(buildAppConfig(validateEnvironment({ TTS_WORKERS: '1', TTS_MAX_QUEUED_UNITS: '1' })));
  before(() => provider.onModuleInit());
  after(() => provider.onApplicationShutdown());

  it('refuses a sentence beyond TTS_MAX_QUEUED_UNITS with tts_failed naming the limit, and speaks the others', async () => {
    // Three sessions ask for a one-sentence reply at once: one runs on the only worker, one waits, the third is refused.
    const outcomes = await Promise.allSettled(
      ['First session speaking now.', 'Second session waiting.', 'Third session refused.'].map(async (text) => {
        const audio = provider.synthesize(text, provider.resolveConfig(undefined, 'pcm_16000'), new AbortController().signal);
        let bytes = 0;
        for await (const chunk of audio.chunks) bytes += chunk.length;
        return bytes;
      }),
    );
    const spoken = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    assert.equal(spoken.length, 2);
    for (const outcome of spoken) assert.ok(outcome.value > 16_000, 'each spoken reply has audio');
    assert.equal(refused.length, 1);
    const error: unknown = refused[0]!.reason;
    assert.ok(isVoiceError(error) && error.code === 'tts_failed', String(error));
    assert.match(error.message, /TTS_MAX_QUEUED_UNITS/);
    assert.match(error.message, /text was delivered/);
  });
});
