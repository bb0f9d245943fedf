import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { WebSocket } from 'ws';
import { CapturedOutput, VoiceTestClient } from '@app/testing';
import { handshake } from './utils/handshake.js';
import { startTestApp, type TestApp } from './utils/test-app.js';

const SECRET = 'canary-hs256-secret-0123456789-abcdefghijkl';
const SERVICE_KEY = 'canary-service-key-9876543210';
const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'voice-layer';
const now = () => Math.floor(Date.now() / 1000);

async function hs256(claims: Record<string, unknown>, options: { secret?: string; exp?: number | null; iss?: string; aud?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? now() + 300);
  jwt = jwt.setIssuer(options.iss ?? ISSUER).setAudience(options.aud ?? AUDIENCE);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** Opens a socket with a bearer header and reads up to `session.ready`. */
async function connectWith(url: string, token: string): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(url, 5000, { headers: { authorization: `Bearer ${token}` } });
  await client.expect('session.ready');
  return client;
}

describe('WS_AUTH=token with an HS256 secret', () => {
  let app: TestApp;
  let output: CapturedOutput;
  const tokens: string[] = [];
  const remember = (token: string) => (tokens.push(token), token);

  before(async () => {
    output = CapturedOutput.start();
    app = await startTestApp({ WS_AUTH: 'token', WS_AUTH_SECRET: SECRET, WS_AUTH_ISSUER: ISSUER, WS_AUTH_AUDIENCE: AUDIENCE, SERVICE_API_KEY: SERVICE_KEY });
  });
  after(async () => {
    await app.close();
    output.stop();
    for (const secret of [SECRET, SERVICE_KEY, ...tokens]) assert.ok(!output.text.includes(secret), 'no secret or token in the log');
  });

  it('refuses handshakes without a valid token with HTTP 401, before any socket exists', async () => {
    const cases: Array<[string, Promise<string | undefined>]> = [
      ['no token', Promise.resolve(undefined)],
      ['a bad signature', hs256({ sub: 'u1' }, { secret: 'another-secret-of-enough-length-000000000' })],
      ['an expired token', hs256({ sub: 'u1' }, { exp: now() - 120 })],
      ['no exp claim', hs256({ sub: 'u1' }, { exp: null })],
      ['the wrong issuer', hs256({ sub: 'u1' }, { iss: 'https://evil.example/' })],
      ['the wrong audience', hs256({ sub: 'u1' }, { aud: 'someone-else' })],
      ['garbage', Promise.resolve('not.a.jwt')],
      ['alg none', Promise.resolve(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"exp":${now() + 60}}`).toString('base64url')}.`)],
    ];
    for (const [name, pending] of cases) {
      const token = await pending;
      if (token) remember(token);
      const result = await handshake(app.wsUrl, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      assert.equal(result.status, 401, name);
      assert.match(String(result.headers?.['www-authenticate']), /^Bearer error="invalid_token"/, name);
    }
    assert.match(output.text, /refused a handshake \(401\): token expired/);
    assert.match(output.text, /refused a handshake \(401\): token claim iss is not accepted/);
  });

  it('accepts the token as a header, as a subprotocol entry and as an access_token query', async () => {
    const token = remember(await hs256({ sub: 'user-1' }));
    assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${token}` } })).first?.type, 'session.ready');

    const viaProtocol = await handshake(app.wsUrl, { protocols: ['voice-layer.v1', `bearer.${token}`] });
    assert.equal(viaProtocol.first?.type, 'session.ready');
    assert.equal(viaProtocol.protocol, 'voice-layer.v1', 'the server selects voice-layer.v1, never the token entry');

    assert.equal((await handshake(`${app.wsUrl}?access_token=${token}`)).first?.type, 'session.ready');
    assert.equal((await handshake(`${app.wsUrl}?access_token=${token.slice(0, -3)}abc`)).status, 401);
  });

  it('binds the session to the token registration_id and session_id', async () => {
    const token = remember(await hs256({ sub: 'user-2', registration_id: 'reg_bound', session_id: 'conv-bound-1' }));
    const other = await connectWith(app.wsUrl, token);
    other.send({ type: 'session.configure', backend: { registration_id: 'reg_other' } });
    assert.equal((await other.expect('error')).code, 'session_binding_mismatch');
    other.send({ type: 'session.configure', backend: { provider: 'local' } });
    assert.equal((await other.expect('error')).code, 'session_binding_mismatch');
    other.send({ type: 'session.configure', session_id: 'conv-other' });
    const mismatch = await other.expect('error');
    assert.equal(mismatch.code, 'session_binding_mismatch');
    assert.match(mismatch.message, /session_id/);
    other.send({ type: 'session.configure', session_id: 'conv-bound-1', backend: { registration_id: 'reg_bound' } });
    assert.equal((await other.expect('session.configured')).session_id, 'conv-bound-1');
    await other.close();

    const plain = await connectWith(app.wsUrl, token);
    plain.send({ type: 'session.configure' });
    assert.equal((await plain.expect('session.configured')).session_id, 'conv-bound-1', 'the bound id is used when the client sends none');
    await plain.close();
  });

  it('mints tokens for server-side callers holding SERVICE_API_KEY', async () => {
    const mint = (body: unknown, key: string | null = SERVICE_KEY) =>
      fetch(`${app.httpUrl}/v1/voice/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      });
    assert.equal((await mint({}, null)).status, 401);
    assert.equal((await mint({}, 'canary-service-key-9876543211')).status, 401);
    const tooLong = await mint({ ttl_seconds: 3601 });
    assert.equal(tooLong.status, 400);
    assert.match(((await tooLong.json()) as { message: string }).message, /ttl_seconds/);
    assert.equal((await mint({ sessionId: 'x' })).status, 400);

    const response = await mint({ ttl_seconds: 120, sub: 'user-3', session_id: 'minted-conv' });
    assert.equal(response.status, 200);
    const { token, expires_at } = (await response.json()) as { token: string; expires_at: number };
    remember(token);
    assert.ok(Math.abs(expires_at - (now() + 120)) <= 2, `expires_at ${expires_at}`);
    const client = await connectWith(app.wsUrl, token);
    client.send({ type: 'session.configure' });
    assert.equal((await client.expect('session.configured')).session_id, 'minted-conv');
    await client.close();

    const defaults = (await (await mint(undefined)).json()) as { expires_at: number };
    assert.ok(Math.abs(defaults.expires_at - (now() + 600)) <= 2, 'ttl_seconds defaults to 600');
    const docs = (await (await fetch(`${app.httpUrl}/docs/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(docs.paths['/v1/voice/tokens'], 'documented in Swagger');
  });

  it('does not cut a session whose token expires, but refuses the token for a new connection', { timeout: 30_000 }, async () => {
    // exp 25 s ago is inside the 30 s clock tolerance now, and outside it in 6 s.
    const token = remember(await hs256({ sub: 'user-4' }, { exp: now() - 25 }));
    const client = await connectWith(app.wsUrl, token);
    client.send({ type: 'session.configure' });
    await client.nextOf('session.configured');
    await new Promise((resolve) => setTimeout(resolve, 6000));
    client.send({ type: 'text.prompt', text: 'still here?' });
    assert.ok(await client.nextOf('assistant.message', { timeoutMs: 15_000 }));
    assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${token}` } })).status, 401);
    await client.close();
  });
});

describe('WS_AUTH=token with RS256/ES256 keys from WS_AUTH_JWKS_URL', () => {
  let jwksServer: Server;
  let app: TestApp;
  const keys: Record<string, { privateKey: CryptoKey; jwk: JWK }> = {};

  before(async () => {
    for (const [kid, alg] of [['rsa-1', 'RS256'], ['ec-1', 'ES256']] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      keys[kid] = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
    }
    jwksServer = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: Object.values(keys).map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    app = await startTestApp({ WS_AUTH: 'token', WS_AUTH_JWKS_URL: jwksUrl, WS_AUTH_ISSUER: ISSUER });
  });
  after(async () => {
    await app.close();
    jwksServer.closeAllConnections();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  const sign = (kid: string, alg: 'RS256' | 'ES256', key: CryptoKey, exp = now() + 300) =>
    new SignJWT({ sub: `user-${kid}` }).setProtectedHeader({ alg, kid }).setIssuer(ISSUER).setExpirationTime(exp).sign(key);

  it('accepts tokens signed by the published keys and refuses others', async () => {
    for (const [kid, alg] of [['rsa-1', 'RS256'], ['ec-1', 'ES256']] as const) {
      const token = await sign(kid, alg, keys[kid]!.privateKey);
      assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${token}` } })).first?.type, 'session.ready', alg);
    }
    const stranger = await generateKeyPair('ES256');
    const forged = await sign('ec-1', 'ES256', stranger.privateKey);
    assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${forged}` } })).status, 401, 'a key not in the JWKS');
    const expired = await sign('rsa-1', 'RS256', keys['rsa-1']!.privateKey, now() - 120);
    assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${expired}` } })).status, 401, 'expired');
    const hs = await hs256({}, { iss: ISSUER });
    assert.equal((await handshake(app.wsUrl, { headers: { authorization: `Bearer ${hs}` } })).status, 401, 'HS256 without a secret configured');
  });
});

describe('WS_AUTH=none (the default)', () => {
  it('lets anyone in, and mints no tokens without SERVICE_API_KEY', async () => {
    const app = await startTestApp({});
    try {
      assert.equal((await handshake(app.wsUrl)).first?.type, 'session.ready');
      const response = await fetch(`${app.httpUrl}/v1/voice/tokens`, { method: 'POST', headers: { authorization: 'Bearer anything-at-all-here' } });
      assert.equal(response.status, 404);
      // A client that offers only other subprotocols still gets one selected, never a bearer entry.
      const ws = new WebSocket(app.wsUrl, ['bearer.abc', 'chat.v2']);
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      assert.equal(ws.protocol, 'chat.v2');
      ws.close();
    } finally {
      await app.close();
    }
  });
});
