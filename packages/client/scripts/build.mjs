// Builds the package into dist/: the protocol types from libs/protocol, ES modules and declarations
// (tsc), and the capture worklet as one self-contained module (esbuild), so bundlers can copy it as is.
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generate } from './protocol-types.mjs';

const here = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
writeFileSync(`${here}src/protocol.d.ts`, generate());
rmSync(`${here}dist`, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', `${here}tsconfig.json`], { stdio: 'inherit' });
copyFileSync(`${here}src/protocol.d.ts`, `${here}dist/protocol.d.ts`);
await build({
  entryPoints: [`${here}src/capture-worklet.ts`],
  outfile: `${here}dist/capture-worklet.js`,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
});
