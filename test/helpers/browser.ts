/**
 * A real headless Chromium for browser tests (the web console): Debian's /usr/bin/chromium driven by
 * playwright-core (which downloads no browser of its own). Import this module directly (not through
 * helpers/index.ts), so only browser tests load playwright-core.
 *
 *   const browser = await launchBrowser();            // one per test file (beforeAll), closed in afterAll
 *   const page = await browser.newPage();
 *   await page.goto(url);
 *   await browser.screenshot(page, 'topics');         // saved and its path printed
 *
 * Screenshots go to $KFK_CONSOLE_SCREENSHOTS, or else to a kfk-console-screenshots-* directory in the base temp dir
 * (the OS temp dir, not the test file's private TMPDIR, which is removed after the file): they are the evidence a
 * person looks at after the run, so they outlive it. Each path is printed on stdout.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Whether Debian's chromium is installed (browser tests are skipped with a reason otherwise). */
export const hasChromium = existsSync(CHROMIUM_PATH);

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Where this file's screenshots go. */
  readonly screenshotDir: string;
  newPage(opts?: { width?: number; height?: number }): Promise<Page>;
  /** Saves a full-page PNG named `<name>.png`, prints and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Launches Chromium headless with a fresh profile (--user-data-dir in a new temp dir, removed by close()) and
 * the flags that keep it quiet and offline: no sandbox (CI runs as root), no GPU, no background networking,
 * component updates or sync.
 */
export async function launchBrowser(label: string): Promise<TestBrowser> {
  const { chromium } = await import('playwright-core');
  const base = process.env.KFK_TEST_BASE_TMPDIR ?? tmpdir();
  const profile = mkdtempSync(join(tmpdir(), 'kfk-chromium-profile-'));
  const screenshotDir = process.env.KFK_CONSOLE_SCREENSHOTS
    ? join(process.env.KFK_CONSOLE_SCREENSHOTS, label)
    : mkdtempSync(join(base, `kfk-console-screenshots-${label}-`));
  mkdirSync(screenshotDir, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(20_000);
  return {
    context,
    screenshotDir,
    async newPage(opts = {}) {
      const page = await context.newPage();
      if (opts.width !== undefined) await page.setViewportSize({ width: opts.width, height: opts.height ?? 800 });
      return page;
    },
    async screenshot(page, name) {
      const path = join(screenshotDir, `${basename(name)}.png`);
      await page.screenshot({ path, fullPage: true });
      process.stdout.write(`[console screenshot] ${path}\n`);
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Collects what would show that the page misbehaved: uncaught errors and console errors. Chromium's own line for an
 * HTTP error status ("Failed to load resource: ... 409") is left out: an API refusal is an answer the page shows.
 */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/^Failed to load resource: the server responded with a status of \d+/.test(msg.text())) errors.push(`console.error: ${msg.text()}`);
  });
  return errors;
}
