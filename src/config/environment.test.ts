import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, it } from 'node:test';
import { getMetadataStorage } from 'class-validator';
import { buildAppConfig, resolveLogFormat } from './app-config.js';
import { ConfigurationError, EnvironmentVariables, validateEnvironment } from './environment.js';

const exampleFile = new URL('../../../.env.example', import.meta.url);
const readmeFile = new URL('../../../README.md', import.meta.url);

/** Every variable EnvironmentVariables declares, optional ones (no default) included. */
function declaredVariables(): Set<string> {
  return new Set(getMetadataStorage().getTargetValidationMetadatas(EnvironmentVariables, '', true, false).map((meta) => meta.propertyName));
}

/** The variables named in the first column of README's "Configuration" table. */
function readmeConfigurationVariables(): string[] {
  const readme = readFileSync(readmeFile, 'utf8');
  const section = /^## Configuration$([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
}

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

  it('.env.example names every declared variable once, each with its default; README\'s table names each once', () => {
    const declared = declaredVariables();
    assert.ok(declared.size >= 50 && declared.has('LOG_FORMAT') && declared.has('PORT'), `declared: ${[...declared].join(', ')}`);
    const lines = [...readFileSync(exampleFile, 'utf8').matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => ({ name: m[1]!, value: m[2]! }));
    const listed = lines.map((line) => line.name);
    assert.deepEqual(listed.filter((name, i) => listed.indexOf(name) !== i), [], 'named more than once in .env.example');
    assert.deepEqual([...declared].filter((name) => !listed.includes(name)), [], 'missing from .env.example');
    assert.deepEqual(listed.filter((name) => !declared.has(name)), [], 'in .env.example but not in EnvironmentVariables');
    // The file says every value is the default unless unset (empty).
    const defaults = validateEnvironment({}) as unknown as Record<string, string | number | boolean | undefined>;
    for (const { name, value } of lines) {
      assert.equal(value, defaults[name] === undefined ? '' : String(defaults[name]), `${name} in .env.example is not its default`);
    }
    const inReadme = readmeConfigurationVariables();
    assert.deepEqual(inReadme.filter((name, i) => inReadme.indexOf(name) !== i), [], 'named more than once in README\'s configuration table');
    assert.deepEqual([...declared].filter((name) => !inReadme.includes(name)), [], 'missing from README\'s configuration table');
    assert.deepEqual(inReadme.filter((name) => !declared.has(name)), [], 'in README\'s configuration table but not in EnvironmentVariables');
  });

  it('takes WS_ALLOWED_ORIGINS as origins, and says which entry is not one', () => {
    const config = buildAppConfig(validateEnvironment({ WS_ALLOWED_ORIGINS: ' https://App.Example.com , http://localhost:5173, https://x.example.com:443' }));
    assert.deepEqual(config.ws.allowedOrigins, ['https://app.example.com', 'http://localhost:5173', 'https://x.example.com']);
    assert.deepEqual(buildAppConfig(validateEnvironment({})).ws.allowedOrigins, []);
    assert.throws(
      () => validateEnvironment({ WS_ALLOWED_ORIGINS: 'https://ok.example.com,app.example.com,https://x.example.com/path' }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.problems.length === 2 &&
        error.problems[0]!.includes('"app.example.com" is not an origin') &&
        error.problems[1]!.includes('"https://x.example.com/path"'),
    );
  });

  it('reads the observability settings: LOG_FORMAT, METRICS_PORT, OpenTelemetry endpoints', () => {
    const defaults = buildAppConfig(validateEnvironment({}));
    assert.equal(defaults.metrics.port, undefined);
    assert.equal(defaults.tracing.tracesUrl, undefined, 'tracing is off without an endpoint');
    const config = buildAppConfig(validateEnvironment({ METRICS_PORT: '9464', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', LOG_FORMAT: 'pretty' }));
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.tracing.tracesUrl, 'http://collector:4318/v1/traces');
    assert.equal(config.logFormat, 'pretty');
    const explicit = buildAppConfig(validateEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' }));
    assert.equal(explicit.tracing.tracesUrl, 'http://b:4318/traces');
    assert.equal(buildAppConfig(validateEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' })).tracing.tracesUrl, undefined);
    assert.throws(() => validateEnvironment({ PORT: '9000', METRICS_PORT: '9000' }), /METRICS_PORT=9000: must differ from PORT/);
    assert.throws(() => validateEnvironment({ LOG_FORMAT: 'xml' }), /LOG_FORMAT/);
    assert.throws(() => validateEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT: must use http or https/);
    // Unset LOG_FORMAT: JSON in production or without a terminal, pretty on a terminal otherwise.
    assert.equal(resolveLogFormat(undefined, 'production', true), 'json');
    assert.equal(resolveLogFormat(undefined, undefined, false), 'json');
    assert.equal(resolveLogFormat(undefined, 'development', true), 'pretty');
    assert.equal(resolveLogFormat('pretty', 'production', false), 'pretty');
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

  it('takes ECHO_WORKERS from 0 (the event loop) to 16, default 1', () => {
    assert.equal(buildAppConfig(validateEnvironment({})).echo.workers, 1);
    assert.equal(buildAppConfig(validateEnvironment({ ECHO_WORKERS: '0' })).echo.workers, 0);
    for (const value of ['-1', '17', 'two']) {
      assert.throws(() => validateEnvironment({ ECHO_WORKERS: value }), (e: unknown) => e instanceof ConfigurationError && e.problems.some((p) => p.startsWith(`ECHO_WORKERS=`) && p.includes(value)));
    }
  });

  for (const value of ['https://chat.example.com/v1/register', 'https://chat.example.com/v1/chat/', 'chat.example.com', 'ftp://x', 'https://user:pw@x.example']) {
    it(`rejects BACKEND_BASE_URL=${value}`, () => {
      assert.throws(() => validateEnvironment({ BACKEND_BASE_URL: value }), (e: unknown) => e instanceof ConfigurationError && e.problems.some((p) => p.startsWith('BACKEND_BASE_URL')));
    });
  }

  describe('registration store', () => {
    const problemsOf = (raw: Record<string, string>): string[] => {
      try {
        validateEnvironment(raw);
        return [];
      } catch (error) {
        assert.ok(error instanceof ConfigurationError);
        return error.problems;
      }
    };

    it('defaults to the in-memory store and ignores REDIS_URL then', () => {
      const config = buildAppConfig(validateEnvironment({ REDIS_URL: 'not a url' }));
      assert.deepEqual(config.registrationStore, { kind: 'memory', redisUrl: undefined, ttlSeconds: 86_400, keyPrefix: 'voice-layer:registration:' });
    });

    it('takes a redis:// or rediss:// URL with REGISTRATION_STORE=redis', () => {
      for (const url of ['redis://localhost', 'redis://:p%40ss@redis.internal:6380/2', 'rediss://user:pw@cache.example.com:6380', 'redis://[::1]:6379/']) {
        const config = buildAppConfig(validateEnvironment({ REGISTRATION_STORE: 'redis', REDIS_URL: url, REGISTRATION_TTL_SECONDS: '3600', REDIS_KEY_PREFIX: 'vl:' }));
        assert.deepEqual(config.registrationStore, { kind: 'redis', redisUrl: url, ttlSeconds: 3600, keyPrefix: 'vl:' });
      }
    });

    it('requires REDIS_URL with REGISTRATION_STORE=redis, in one readable line', () => {
      assert.deepEqual(problemsOf({ REGISTRATION_STORE: 'redis' }), ['REDIS_URL: required when REGISTRATION_STORE=redis (e.g. redis://:password@redis.internal:6379/0)']);
      assert.deepEqual(problemsOf({ REGISTRATION_STORE: 'redis', REDIS_URL: ' ' }), ['REDIS_URL: required when REGISTRATION_STORE=redis (e.g. redis://:password@redis.internal:6379/0)']);
      assert.match(problemsOf({ REGISTRATION_STORE: 'postgres' })[0]!, /^REGISTRATION_STORE="postgres": .*memory, redis/);
    });

    const password = 'pw-canary-91ac';
    for (const [url, reason] of [
      [`http://:${password}@redis.internal:6379`, /must use redis:\/\/ or rediss:\/\//],
      [`${password}@redis.internal`, /must be an absolute URL/],
      [`redis://:${password}@redis.internal/cache`, /database number/],
      [`redis://:${password}@redis.internal/0?timeout=1`, /query/],
      [`redis://:${password}%zz@redis.internal`, /percent-encoding/],
    ] as const) {
      it(`rejects REDIS_URL ${url.replace(password, '<password>')} without printing it`, () => {
        const problems = problemsOf({ REGISTRATION_STORE: 'redis', REDIS_URL: url });
        assert.equal(problems.length, 1);
        assert.match(problems[0]!, /^REDIS_URL=\(hidden\): /);
        assert.match(problems[0]!, reason);
        assert.ok(!problems[0]!.includes(password) && !problems[0]!.includes('redis.internal'));
      });
    }

    it('bounds REGISTRATION_TTL_SECONDS', () => {
      assert.match(problemsOf({ REGISTRATION_TTL_SECONDS: '59' })[0]!, /^REGISTRATION_TTL_SECONDS=59: .*not be less than 60/);
      assert.match(problemsOf({ REGISTRATION_TTL_SECONDS: '2592001' })[0]!, /not be greater than 2592000/);
      assert.equal(validateEnvironment({ REGISTRATION_TTL_SECONDS: '2592000' }).REGISTRATION_TTL_SECONDS, 2_592_000);
    });
  });

  it('never prints secret values', () => {
    try {
      validateEnvironment({ LLM_API_KEY: 42 });
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof ConfigurationError);
      assert.match(error.message, /LLM_API_KEY=\(hidden\)/);
    }
  });
});
