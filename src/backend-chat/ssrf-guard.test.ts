import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { addressProblem, assertClientUrl, pinnedFetch, UrlRefused } from './ssrf-guard.js';

describe('SSRF guard', () => {
  it('classifies addresses', () => {
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '169.254.169.254', 'fd00:ec2::254', '::ffff:127.0.0.1', '0.0.0.0', '100.64.1.1', 'fe80::1']) {
      assert.ok(addressProblem(address), address);
    }
    for (const address of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '8.8.8.8']) assert.equal(addressProblem(address), undefined, address);
    assert.equal(addressProblem('10.1.2.3', ['10.0.0.0/8']), undefined, 'an operator-permitted range');
  });

  it('applies the host allow-list', async () => {
    const resolve = async () => [{ address: '93.184.216.34', family: 4 }];
    await assertClientUrl('https://llm.example.com/v1', { allowHosts: ['*.example.com'], resolve });
    await assert.rejects(assertClientUrl('https://example.org/v1', { allowHosts: ['*.example.com'], resolve }), /CLIENT_BASE_URL_ALLOWLIST/);
  });

  it('connects only to the address it checked, so DNS rebinding cannot reach a private address', async () => {
    const server = createServer((_req, res) => res.writeHead(200).end('{"ok":true}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let calls = 0;
    let connected = false;
    server.on('connection', () => (connected = true));
    try {
      // First answer public (passes the configure-time check), later answers loopback (rebinding).
      const resolve = async () => (calls++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
      const policy = { resolve };
      await assertClientUrl(`http://rebind.example:${port}/v1`, policy);
      await assert.rejects(pinnedFetch(policy)(`http://rebind.example:${port}/v1/chat/completions`, { method: 'POST', body: '{}' }), (error: unknown) => {
        assert.ok(error instanceof UrlRefused, String(error));
        assert.match(error.message, /loopback/);
        return true;
      });
      assert.equal(connected, false, 'no connection was made to the rebound address');

      // The same name, permitted explicitly, is reached through the checked address.
      const permitted = pinnedFetch({ resolve: async () => [{ address: '127.0.0.1', family: 4 }], allowCidrs: ['127.0.0.1/32'] });
      const response = await permitted(`http://rebind.example:${port}/x`, {});
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ok: true });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
