import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type * as Service from '@app/protocol';
import type * as Package from './protocol.js';

/** Compile-time: the package's types and libs/protocol's are the same in both directions. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const checks: Array<true> = [
  true satisfies Same<Package.ServerEvent, Service.ServerEvent>,
  true satisfies Same<Package.ClientMessage, Service.ClientMessage>,
  true satisfies Same<Package.ServerEventType, Service.ServerEventType>,
  true satisfies Same<Package.ClientMessageType, Service.ClientMessageType>,
  true satisfies Same<Package.SessionConfigureMessage, Service.SessionConfigureMessage>,
  true satisfies Same<Package.ErrorCode, Service.ErrorCode>,
];

describe('package protocol types', () => {
  it('match libs/protocol: the generated protocol.d.ts is up to date', () => {
    assert.equal(checks.length, 6);
    const script = fileURLToPath(new URL('../../../../packages/client/scripts/protocol-types.mjs', import.meta.url));
    // Exits 1, naming the fix, when libs/protocol changed and protocol.d.ts was not regenerated.
    execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' });
  });
});
