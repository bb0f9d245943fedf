import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VoiceClient, type VoiceClientEvents } from '@voice-layer/client/node';
import { decodeWav } from '@app/audio';
import { localReply } from '@app/chat';
import { FliteSynthesizer } from '@app/engines';
import { startStandInServer, synthesizeSpeech, wordErrorRate, writeSpeechWav } from '@app/testing';
import { openChromium } from './utils/browser.js';
import { startTestApp, type TestApp } from './utils/test-app.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE_DIST = join(ROOT, 'packages/client/dist');
const PROMPT = 'what is the weather like in paris today';

/** Collects a client's events of `types` in order. */
function record(client: VoiceClient, types: Array<keyof VoiceClientEvents>): string[] {
  const seen: string[] = [];
  for (const type of types) client.on(type, (event) => seen.push(`${type}${'attempt' in (event as object) ? `#${(event as { attempt: number }).attempt}` : ''}`));
  return seen;
}

async function until(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('@voice-layer/client against the service', () => {
  let testApp: TestApp;
  let flite: FliteSynthesizer;
  let dir: string;

  before(async () => {
    testApp = await startTestApp();
    flite = new FliteSynthesizer({ threads: 1 });
    dir = mkdtempSync(join(tmpdir(), 'voice-layer-sdk-'));
  });
  after(async () => {
    await testApp.close();
    await flite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Node: a typed text conversation, with the state sequence', async () => {
    const client = new VoiceClient();
    const states: string[] = [];
    client.on('state', ({ state }) => states.push(state));
    const reply = new Promise<string>((resolve) => client.on('assistant.message', (event) => resolve(event.text)));
    const ended = new Promise<number>((resolve) => client.on('assistant.audio.end', (event) => resolve(event.chunk_count)));
    try {
      const ready = await client.connect(testApp.wsUrl);
      assert.equal(ready.type, 'session.ready');
      const configured = await client.configure({ session_id: 'sdk-node-1' });
      assert.equal(configured.session_id, 'sdk-node-1');
      client.prompt('hello');
      assert.equal(await reply, localReply('hello'));
      assert.ok((await ended) > 0);
      await until('back to listening', () => client.state === 'listening');
      assert.deepEqual(states, ['listening', 'thinking', 'speaking', 'listening']);
      await assert.rejects(client.configure({ stt: { vad_threshold: 2 } }), /already_configured|invalid_message/);
    } finally {
      client.close();
    }
  });

  it('the Node example streams a WAV file and saves the spoken reply', async () => {
    const input = join(dir, 'question.wav');
    const output = join(dir, 'reply.wav');
    writeSpeechWav(input, await synthesizeSpeech(flite, PROMPT, 16000), 16000, 0.5, 0.5);
    const { stdout } = await run(process.execPath, [join(ROOT, 'packages/client/examples/stream-wav.mjs'), testApp.wsUrl, input, output], { timeout: 60_000 });
    const heard = /^you: (.*)$/m.exec(stdout)?.[1];
    assert.ok(heard !== undefined, stdout);
    assert.ok(wordErrorRate(PROMPT, heard) <= 0.25, `heard "${heard}"`);
    assert.match(stdout, new RegExp(`^assistant: ${localReply(heard).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(stdout, /^state: user_speaking$/m);
    const wav = decodeWav(readFileSync(output));
    assert.equal(wav.sampleRate, 24000);
    assert.ok(wav.samples.length / wav.sampleRate > 0.5, `${wav.samples.length / wav.sampleRate} s of reply saved`);
  });

  it('reconnects after a drain close with backoff, sends the configure again with the session id, and stops on a client error', async () => {
    const server = await startStandInServer();
    const client = new VoiceClient({ reconnect: { baseDelayMs: 50, maxDelayMs: 200 } });
    const steps = record(client, ['open', 'close', 'reconnecting', 'reconnected', 'reconnect_failed']);
    try {
      await client.connect(server.url, { token: 'abc.def.ghi' });
      await client.configure({ tts: { output_format: 'pcm_16000' } });
      assert.equal(client.sessionId, 'generated-1');
      assert.deepEqual(server.protocols[0]?.split(/,\s*/), ['voice-layer.v1', 'bearer.abc.def.ghi'], 'the token rides as a subprotocol');
      server.sockets[0]!.close(1012, 'restarting');
      await until('reconnected', () => steps.includes('reconnected#1'));
      assert.deepEqual(steps, ['open#0', 'close', 'reconnecting#1', 'open#1', 'reconnected#1']);
      const configures = server.received.map((r) => r.message).filter((m) => m['type'] === 'session.configure');
      assert.deepEqual(configures[1], { type: 'session.configure', tts: { output_format: 'pcm_16000' }, session_id: 'generated-1' });
      assert.equal(client.state, 'listening');
      server.sockets[1]!.close(1008, 'policy');
      await until('closed', () => steps.filter((s) => s === 'close').length === 2);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(server.sockets.length, 2, 'no reconnect after a policy close');
      assert.equal(client.state, 'idle');
    } finally {
      client.close();
      await server.close();
    }
  });

  it('gives up after the attempts run out, and never retries a refused token (HTTP 401)', async () => {
    const refusing = await startStandInServer({ refuse: 401 });
    const client = new VoiceClient({ reconnect: { baseDelayMs: 20, maxDelayMs: 40 } });
    const closes: VoiceClientEvents['close'][] = [];
    client.on('close', (event) => closes.push(event));
    try {
      await assert.rejects(client.connect(refusing.url, { token: 'expired' }), /HTTP 401/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(closes.length, 1);
      assert.equal(closes[0]!.handshake_status, 401);
      assert.equal(closes[0]!.reconnecting, false);
    } finally {
      client.close();
      await refusing.close();
    }

    const server = await startStandInServer();
    const limited = new VoiceClient({ reconnect: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 40 } });
    const steps = record(limited, ['reconnecting', 'reconnect_failed']);
    try {
      await limited.connect(server.url);
      const closing = server.close();
      server.sockets[0]!.terminate();
      await closing;
      await until('gave up', () => steps.includes('reconnect_failed'), 5000);
      assert.deepEqual(steps, ['reconnecting#1', 'reconnecting#2', 'reconnect_failed']);
    } finally {
      limited.close();
    }
  });

  it('Chromium: a page using only the built package has a spoken conversation through the fake microphone', async () => {
    const wavPath = writeSpeechWav(join(dir, 'prompt-48k.wav'), await synthesizeSpeech(flite, PROMPT, 48000), 48000);
    // A plain static server on loopback: the page, and the package's dist as is under /sdk/ (no console code).
    const pages = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const file = /^\/sdk\/([a-z-]+\.js)$/.exec(path)?.[1];
      if (path === '/sdk-page.html') response.writeHead(200, { 'content-type': 'text/html' }).end(SDK_PAGE);
      else if (file && existsSync(join(PACKAGE_DIST, file))) response.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(PACKAGE_DIST, file)));
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const session = await openChromium({ fakeMicrophone: wavPath });
    try {
      const { page } = session;
      await page.goto(`http://127.0.0.1:${(pages.address() as AddressInfo).port}/sdk-page.html`);
      await page.evaluate((url) => (window as unknown as { start(url: string): Promise<void> }).start(url), testApp.wsUrl);
      const result = await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, undefined, { timeout: 45_000 }).then((handle) => handle.jsonValue());
      const { states, sent, heard, reply, stats } = result as {
        states: string[];
        sent: string[];
        heard: string;
        reply: string;
        stats: { chunks: number; seconds: number; underruns: number; outputPeak: number; format: string };
      };
      assert.ok(wordErrorRate(PROMPT, heard) <= 0.25, `heard "${heard}"`);
      assert.equal(reply, localReply(heard));
      assert.deepEqual(states, ['listening', 'user_speaking', 'thinking', 'speaking', 'listening'], states.join(' → '));
      assert.ok(stats.chunks > 5 && stats.seconds > 0.5, `${stats.chunks} chunks, ${stats.seconds} s scheduled`);
      assert.equal(stats.format, 'pcm_24000');
      assert.ok(stats.outputPeak > 0.05, `output peak ${stats.outputPeak}`);
      assert.ok(sent.filter((type) => type === 'binary').length > 20, 'microphone frames went as binary');
      assert.ok(sent.filter((type) => type === 'assistant.audio.played').length >= 2, `played reports: ${sent.join(',')}`);
      assert.deepEqual(session.problems, []);
    } finally {
      await session.close();
      await new Promise((resolve) => pages.close(resolve));
    }
  });

  it('Chromium: the microphone explains an insecure page instead of failing obscurely', async () => {
    // voice.test maps to loopback, but unlike 127.0.0.1 or localhost it is not a secure context over http.
    const pages = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(INSECURE_PAGE));
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    const port = (pages.address() as AddressInfo).port;
    const sdk = createServer((request, response) => {
      const file = /^\/sdk\/([a-z-]+\.js)$/.exec(request.url ?? '')?.[1];
      if (file && existsSync(join(PACKAGE_DIST, file))) response.writeHead(200, { 'content-type': 'text/javascript', 'access-control-allow-origin': '*' }).end(readFileSync(join(PACKAGE_DIST, file)));
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => sdk.listen(0, '127.0.0.1', resolve));
    const session = await openChromium({ args: ['--host-resolver-rules=MAP voice.test 127.0.0.1'] });
    try {
      await session.page.goto(`http://voice.test:${port}/`);
      const outcome = await session.page.evaluate(async (sdkPort) => {
        const { Microphone } = (await import(`http://127.0.0.1:${sdkPort}/sdk/index.js`)) as { Microphone: new () => { start(options: object): Promise<void> } };
        try {
          await new Microphone().start({ sampleRate: 16000, onFrame: () => undefined });
          return { secure: window.isSecureContext, error: null };
        } catch (error) {
          return { secure: window.isSecureContext, error: { name: (error as Error).name, code: (error as { code?: string }).code, message: (error as Error).message } };
        }
      }, (sdk.address() as AddressInfo).port);
      assert.equal(outcome.secure, false);
      assert.equal(outcome.error?.name, 'MicrophoneError');
      assert.equal(outcome.error?.code, 'insecure_origin');
      assert.match(outcome.error?.message ?? '', /secure pages.*http:\/\/voice\.test.*https:\/\/.*localhost/);
    } finally {
      await session.close();
      await new Promise((resolve) => pages.close(resolve));
      await new Promise((resolve) => sdk.close(resolve));
    }
  });

  it('Chromium: the plain-JS example of FRONTEND_HANDOFF.md runs as written', async () => {
    const handoff = readFileSync(join(ROOT, 'FRONTEND_HANDOFF.md'), 'utf8');
    const example = /^### Plain JavaScript$[\s\S]*?```html\n([\s\S]*?)```/m.exec(handoff)?.[1];
    assert.ok(example, 'the handoff has the example');
    // The page and node_modules/@voice-layer/client as an app would serve them; the voice socket is
    // passed through to the service, so the example's own-origin URL works.
    const service = new URL(testApp.httpUrl);
    const app = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      const file = /^\/node_modules\/@voice-layer\/client\/dist\/([a-z-]+\.js)$/.exec(path)?.[1];
      if (path === '/') response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">${example}`);
      else if (file && existsSync(join(PACKAGE_DIST, file))) response.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(PACKAGE_DIST, file)));
      else response.writeHead(404).end();
    });
    app.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      const upstream = connect(Number(service.port), service.hostname, () => {
        const headers = Object.entries(request.headers).map(([name, value]) => `${name}: ${String(value)}`);
        upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
        upstream.write(head);
        upstream.pipe(socket).pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const wavPath = writeSpeechWav(join(dir, 'prompt-16k.wav'), await synthesizeSpeech(flite, PROMPT, 16000));
    const session = await openChromium({ fakeMicrophone: wavPath });
    try {
      const { page } = session;
      await page.goto(`http://127.0.0.1:${(app.address() as AddressInfo).port}/`);
      await page.click('#talk');
      await page.waitForFunction(() => /^assistant: /m.test(document.getElementById('log')?.textContent ?? ''), undefined, { timeout: 45_000 });
      const log = (await page.textContent('#log')) ?? '';
      const heard = /^you: (.*)$/m.exec(log)?.[1];
      assert.ok(heard !== undefined, log);
      assert.ok(wordErrorRate(PROMPT, heard) <= 0.25, `heard "${heard}"`);
      assert.ok(log.includes(`assistant: ${localReply(heard)}`), log);
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'listening', undefined, { timeout: 30_000 });
      assert.deepEqual(session.problems, []);
    } finally {
      await session.close();
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
  });
});

const INSECURE_PAGE = '<!doctype html><meta charset="utf-8"><title>insecure</title><link rel="icon" href="data:,">';

/** The minimal page: the package's public API only. */
const SDK_PAGE = `<!doctype html><meta charset="utf-8"><title>sdk</title><link rel="icon" href="data:,">
<script type="module">
import { VoiceClient, Microphone, Player } from '/sdk/index.js';
window.start = async (url) => {
  const player = new Player();
  player.unlock(24000);
  setInterval(() => player.level(), 20);
  const client = new VoiceClient({ player });
  const states = [], sent = [];
  let heard = '', reply = '';
  client.on('state', (e) => states.push(e.state));
  client.on('sent', (e) => sent.push('message' in e ? e.message.type : 'binary'));
  client.on('transcript.committed', (e) => { if (e.text) heard = e.text; });
  client.on('assistant.message', (e) => { reply = e.text; });
  client.on('state', (e) => {
    if (e.previous === 'speaking' && e.state === 'listening') {
      setTimeout(() => { window.result = { states, sent, heard, reply, stats: player.stats() }; }, 300);
    }
  });
  await client.connect(url);
  await client.configure({ tts: { output_format: 'pcm_24000' } });
  if (!client.stt) await new Promise((resolve) => client.once('stt.session_started', resolve));
  const mic = new Microphone();
  await mic.start({ sampleRate: client.stt.sample_rate, onFrame: (frame) => client.sendAudio(frame.audio) });
};
</script>`;
