import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { AppLogger, createPino, secretScrubber } from './app-logger.js';

function capture(level = 'verbose', secrets: string[] = []): { logger: AppLogger; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let raw = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString();
      done();
    },
  });
  const logger = new AppLogger(createPino({ level, format: 'json', secrets, destination }));
  return { logger, raw: () => raw, lines: () => raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('AppLogger', () => {
  it('writes JSON lines with level, time, context and the fields of its children', () => {
    const { logger, lines } = capture();
    logger.log('booted', 'Bootstrap');
    logger.child({ context: 'VoiceSession', session_id: 's-1' }).child({ turn_id: 3 }).warn('slow turn');
    logger.error('it broke', 'Error: it broke\n    at x (y.js:1:1)', 'Gateway');
    const [boot, turn, error] = lines();
    assert.deepEqual([boot!['level'], boot!['msg'], boot!['context']], ['info', 'booted', 'Bootstrap']);
    assert.match(String(boot!['time']), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual([turn!['level'], turn!['session_id'], turn!['turn_id'], turn!['context']], ['warn', 's-1', 3, 'VoiceSession']);
    assert.deepEqual([error!['level'], error!['context']], ['error', 'Gateway']);
    assert.match(String(error!['stack']), /at x/);
  });

  it('honours LOG_LEVEL', () => {
    const { logger, lines } = capture('warn');
    logger.log('hidden');
    logger.debug('hidden');
    logger.warn('shown');
    assert.deepEqual(lines().map((l) => l['msg']), ['shown']);
  });

  it('masks configured secrets, bearer tokens, xi-api-key values, URL passwords and sk- keys anywhere in a line', () => {
    const { logger, raw } = capture('verbose', ['el-secret-value-123', 'pa"ss']);
    logger.error(new Error('upstream said: el-secret-value-123 is wrong'));
    logger.warn('request headers {"authorization":"Bearer tok-abcdef123","xi-api-key":"xik-999888777"}');
    logger.log({ msg: 'connect', url: 'redis://user:hunter2@redis:6379/0', apiKey: 'field-secret', nested: { api_key: 'nested-secret' } });
    logger.log('llm key sk-proj1234567890abcdef and a quoted pa"ss');
    const text = raw();
    for (const secret of ['el-secret-value-123', 'tok-abcdef123', 'xik-999888777', 'hunter2', 'field-secret', 'nested-secret', 'sk-proj1234567890abcdef', 'pa\\"ss']) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
    assert.ok(text.includes('[REDACTED]'));
    assert.ok(text.includes('redis://user:[REDACTED]@redis:6379/0'));
  });

  it('leaves ordinary text alone', () => {
    const scrub = secretScrubber(['abcd1234']);
    assert.equal(scrub('session 9 configured (backend: http, tts: local)'), 'session 9 configured (backend: http, tts: local)');
    assert.equal(scrub('http://example.com:8080/path'), 'http://example.com:8080/path');
  });
});
