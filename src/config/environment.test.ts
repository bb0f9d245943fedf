import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, it } from 'node:test';
import { buildAppConfig } from './app-config.js';
import { ConfigurationError, EnvironmentVariables, validateEnvironment } from './environment.js';

const exampleFile = new URL('../../../.env.example', import.meta.url);

describe('environment', () => {
  it('.env.example lists every variable and validates as it is', () => {
    const example = parseEnv(readFileSync(exampleFile, 'utf8'));
    const known = Object.keys(validateEnvironment({}));
    for (const key of known) assert.ok(key in example, `.env.example is missing ${key}`);
    for (const key of Object.keys(example)) assert.ok(key in validateEnvironment(example), `.env.example has unknown ${key}`);
    const config = buildAppConfig(validateEnvironment(example));
    assert.equal(config.http.port, 8000);
    assert.equal(config.backend.baseUrl, undefined);
  });

  it('applies defaults and converts types', () => {
    const env = validateEnvironment({ PORT: '9000', ALLOW_FRONTEND_BACKEND_AUTH: 'yes', BACKEND_BASE_URL: 'https://chat.example.com/' });
    assert.ok(env instanceof EnvironmentVariables);
    const config = buildAppConfig(env);
    assert.equal(config.http.port, 9000);
    assert.equal(config.backend.allowFrontendAuth, true);
    assert.equal(config.backend.baseUrl, 'https://chat.example.com');
    assert.equal(config.tts.outputFormat, 'pcm_24000');
  });

  for (const value of ['https://chat.example.com/v1/register', 'https://chat.example.com/v1/chat/', 'chat.example.com', 'ftp://x', 'https://user:pw@x.example']) {
    it(`rejects BACKEND_BASE_URL=${value}`, () => {
      assert.throws(() => validateEnvironment({ BACKEND_BASE_URL: value }), (e: unknown) => e instanceof ConfigurationError && e.problems.some((p) => p.startsWith('BACKEND_BASE_URL')));
    });
  }

  it('never prints secret values', () => {
    try {
      validateEnvironment({ LLM_API_KEY: 42 as unknown as string });
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, /LLM_API_KEY=\(hidden\)/);
    }
  });
});
