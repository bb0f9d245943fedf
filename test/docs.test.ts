import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CLIENT_MESSAGES, ERROR_CODES, SERVER_EVENTS } from '@app/protocol';
import { CLOSE_SLOW_CONSUMER } from '../src/voice/session/socket-writer.js';
import { CLOSE_MESSAGE_TOO_BIG } from '../src/voice/voice-ws.adapter.js';
import { CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER } from '../src/voice/voice-session.registry.js';

/** The prose documents that must stay in step with libs/protocol and the close codes the server sends. */
const read = (name: string): string => readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');

/** The text of the section under `heading` (a whole line such as `## Error codes`), up to the next heading of its level or above. */
function section(document: string, heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = document.split('\n').indexOf(heading);
  assert.ok(start >= 0, `no section "${heading}"`);
  const lines = document.split('\n').slice(start + 1);
  const end = lines.findIndex((line) => new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(0, end === -1 ? undefined : end).join('\n');
}

/** The backticked names in the first column of every table row of `text` (`| \`name\` | ...`). */
function firstColumn(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('| '))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

/** The numbers in the first column of every table row of `text` (`| 1002, 1007 | ...`). */
function firstColumnNumbers(text: string): number[] {
  return text
    .split('\n')
    .filter((line) => /^\| \d/.test(line))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/\d{4}/g)].map((m) => Number(m[0])));
}

const handoff = read('FRONTEND_HANDOFF.md');
const readme = read('README.md');

describe('FRONTEND_HANDOFF.md and README.md against the protocol', () => {
  it('the handoff explains every error code, and only real ones', () => {
    const documented = firstColumn(section(handoff, '## Error codes'));
    const codes = Object.keys(ERROR_CODES);
    assert.deepEqual(codes.filter((code) => !documented.includes(code)), [], 'error codes missing from FRONTEND_HANDOFF.md "Error codes"');
    assert.deepEqual(documented.filter((code) => !codes.includes(code)), [], 'codes in FRONTEND_HANDOFF.md that libs/protocol does not have');
    assert.deepEqual(documented.filter((code, i) => documented.indexOf(code) !== i), [], 'codes listed twice');
  });

  it('the handoff says what to do on every close code the server sends', () => {
    const documented = firstColumnNumbers(section(handoff, '## Error codes'));
    for (const code of [CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER, CLOSE_MESSAGE_TOO_BIG, CLOSE_SLOW_CONSUMER, 1006]) {
      assert.ok(documented.includes(code), `close code ${code} is not in FRONTEND_HANDOFF.md's close codes table`);
    }
  });

  it('the handoff and README list every server event, and README every client message', () => {
    const events = Object.keys(SERVER_EVENTS);
    const handoffEvents = firstColumn(section(handoff, '## Server events'));
    assert.deepEqual(events.filter((type) => !handoffEvents.includes(type)), [], 'server events missing from FRONTEND_HANDOFF.md "Server events"');
    const contract = section(readme, '## The WebSocket contract');
    const readmeNames = firstColumn(contract).flatMap((cell) => cell.split(/\s*\/\s*/));
    assert.deepEqual(events.filter((type) => !readmeNames.includes(type)), [], 'server events missing from README\'s contract tables');
    const messages = Object.keys(CLIENT_MESSAGES);
    assert.deepEqual(messages.filter((type) => !readmeNames.includes(type)), [], 'client messages missing from README\'s contract tables');
    const handoffMessages = section(handoff, '## Client messages');
    for (const type of messages) assert.ok(handoffMessages.includes(`\`${type}\``), `${type} is not described under FRONTEND_HANDOFF.md "Client messages"`);
  });
});
