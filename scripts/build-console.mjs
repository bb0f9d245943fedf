// Builds the /test console into dist/src/console/web: main.ts and @voice-layer/client (already
// built into packages/client/dist) bundled into one ES module by esbuild, the page and stylesheet,
// and the package's own modules (the capture worklet the console loads; pcm.js and player.js for
// the browser tests).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const source = `${root}src/console/web/`;
const out = `${root}dist/src/console/web/`;
const pkg = `${root}packages/client/dist/`;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${source}main.ts`],
  outfile: `${out}main.js`,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css']) cpSync(`${source}${file}`, `${out}${file}`);
for (const file of readdirSync(pkg).filter((name) => name.endsWith('.js'))) cpSync(`${pkg}${file}`, `${out}${file}`);
