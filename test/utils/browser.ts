import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';

/** Debian's chromium (scripts/setup.sh --test installs it); never a downloaded browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Screenshots and other artifacts of the browser tests (gitignored). */
export const TEST_RESULTS_DIR = fileURLToPath(new URL('../../../test-results/', import.meta.url));

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface BrowserSession {
  page: Page;
  /** Page errors and console errors seen so far; a test that passes expects none. */
  problems: string[];
  /** Saves a screenshot under test-results/ and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export interface ChromiumOptions {
  /** A WAV file Chromium's fake microphone plays once (`%noloop`), then silence. */
  fakeMicrophone?: string;
  /** More Chromium switches. */
  args?: string[];
}

/** Headless Chromium with a fresh profile, optionally with a fake microphone fed from a file. */
export async function openChromium(options: ChromiumOptions = {}): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: run \`bash scripts/setup.sh --test\`, which installs Debian's chromium.`);
  const profile = mkdtempSync(join(tmpdir(), 'voice-layer-chromium-'));
  const args = [...CHROMIUM_ARGS, ...(options.args ?? [])];
  if (options.fakeMicrophone) {
    args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${options.fakeMicrophone}%noloop`);
  }
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args, viewport: { width: 1440, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return {
    page,
    problems,
    async screenshot(name) {
      mkdirSync(TEST_RESULTS_DIR, { recursive: true });
      const path = join(TEST_RESULTS_DIR, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
