import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/client');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** A strict consumer: typed handlers compile, and mistakes do not. */
const CONSUMER = `
import { Microphone, Player, VoiceClient, type ServerEventOf, type VoiceState } from '@voice-layer/client';
import { VoiceClient as NodeVoiceClient } from '@voice-layer/client/node';

const client = new VoiceClient({ player: new Player(), reconnect: { maxAttempts: 3 } });
client.on('assistant.message', (e) => {
  const text: string = e.text;
  const turn: number = e.turn_id;
  console.log(text, turn);
});
client.on('assistant.interrupted', (e) => console.log(e.heard_text, e.played_ms, e.reason === 'client_cancel'));
client.on('error', (e) => console.log(e.code === 'backend_timeout'));
client.on('state', ({ state }) => {
  const s: VoiceState = state;
  console.log(s);
});
client.on('event', (e) => {
  if (e.type === 'assistant.audio.chunk') console.log(e.chunk_index, e.output_format);
});
const chunk: ServerEventOf<'assistant.audio.chunk'> | undefined = undefined;
console.log(chunk);
// @ts-expect-error: assistant.message has no field 'audio'
client.on('assistant.message', (e) => console.log(e.audio));
// @ts-expect-error: not an event of this protocol
client.on('assistant.mesage', () => undefined);
// @ts-expect-error: text.prompt needs text
client.send({ type: 'text.prompt' });
async function main(): Promise<void> {
  await client.connect('wss://voice.example.com/v1/voice/ws', { token: () => 'jwt' });
  const configured = await client.configure({ stt: { commit_strategy: 'vad', vad_silence_threshold_secs: 1.5 }, tts: { output_format: 'pcm_24000' } });
  console.log(configured.session_id);
  const mic = new Microphone();
  await mic.start({ sampleRate: client.stt?.sample_rate ?? 16000, onFrame: (f) => client.sendAudio(f.audio) });
  client.prompt('hello');
  client.cancel();
  const node = new NodeVoiceClient();
  node.on('transcript.committed', (e) => console.log(e.text, e.turn_id));
}
void main();
`;

const REACT_SHIM = `
declare module 'react' {
  export function useRef<T>(initial: T): { current: T };
  export function useState<T>(initial: T): [T, (next: T | ((previous: T) => T)) => void];
  export function useEffect(effect: () => void | (() => void), deps?: unknown[]): void;
}
declare module 'react/jsx-runtime' {
  export namespace JSX {
    type Element = object;
    interface IntrinsicElements { [name: string]: { [attribute: string]: unknown } }
    interface IntrinsicAttributes { key?: unknown }
  }
  export function jsx(type: unknown, props: unknown, key?: unknown): JSX.Element;
  export function jsxs(type: unknown, props: unknown, key?: unknown): JSX.Element;
  export const Fragment: unknown;
}
`;

describe('@voice-layer/client tarball', () => {
  it('packs a clean file list, installs offline into an empty folder, and its types compile in a strict project', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voice-layer-pack-'));
    try {
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PACKAGE });
      const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const files = packed!.files.map((file) => file.path).sort();
      for (const expected of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/protocol.d.ts', 'dist/capture-worklet.js', 'examples/stream-wav.mjs']) {
        assert.ok(files.includes(expected), `${expected} is packed`);
      }
      const unwanted = files.filter((path) => /\.test\.|^src\/|^scripts\/|tsconfig|\.map$/.test(path));
      assert.deepEqual(unwanted, [], 'no sources, tests, scripts or maps');

      const app = join(dir, 'app');
      await run('mkdir', ['-p', app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      await run('npm', ['install', join(dir, packed!.filename), '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app });
      writeFileSync(join(app, 'main.ts'), CONSUMER);
      // The React example of FRONTEND_HANDOFF.md, against a minimal stand-in for React's types (no
      // React here, offline): it checks the example's use of the SDK, not React.
      const handoff = readFileSync(join(ROOT, 'FRONTEND_HANDOFF.md'), 'utf8');
      const react = /^### React$[\s\S]*?```tsx\n([\s\S]*?)```/m.exec(handoff)?.[1];
      assert.ok(react, 'the handoff has the React example');
      writeFileSync(join(app, 'voice-chat.tsx'), react);
      writeFileSync(join(app, 'react-shim.d.ts'), REACT_SHIM);
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023', 'dom'], strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noEmit: true, types: [], jsx: 'react-jsx' }, files: ['main.ts', 'voice-chat.tsx', 'react-shim.d.ts'] }),
      );
      await run(process.execPath, [TSC, '-p', app]).catch((error: { stdout?: string }) => assert.fail(`the consumer does not compile:\n${error.stdout}`));
      // The browser entry loads anywhere (nothing touches the DOM at import time).
      const { stdout: exported } = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('@voice-layer/client'); console.log(Object.keys(m).sort().join(','))"], { cwd: app });
      for (const name of ['VoiceClient', 'Microphone', 'Player', 'nextState']) assert.ok(exported.split(',').includes(name), name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
