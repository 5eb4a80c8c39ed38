/**
 * Driving the web console (src/console) in a real browser, as a person would: open a page by its URL, read what
 * a table shows, fill a form, confirm a dialog. Shared by the console's browser tests against one broker and
 * against a three-broker cluster. Every wait polls the page with a deadline (waitFor), never a fixed sleep.
 */
import type { Page } from 'playwright-core';
import { waitFor } from './wait.js';

/** Opens `#/<route>` of the console at `base` (http://host:port/) and waits for the view's first data. */
export async function open(page: Page, base: string, route: string, readySelector: string): Promise<void> {
  await page.goto(`${base}#/${route}`);
  await page.locator(readySelector).first().waitFor({ state: 'visible' });
}

/** The text of the first element matching `selector`, trimmed ('' when absent). */
export async function text(page: Page, selector: string): Promise<string> {
  const loc = page.locator(selector).first();
  if ((await loc.count()) === 0) return '';
  return (await loc.innerText()).trim();
}

/** Waits until the text of `selector` satisfies `check` (the page updates itself: live mode). */
export async function waitForText(page: Page, selector: string, check: (t: string) => boolean, message: string, timeoutMs = 30_000): Promise<string> {
  let last = '';
  await waitFor(
    async () => {
      last = await text(page, selector);
      return check(last);
    },
    { timeoutMs, intervalMs: 200, message: `${message} (last text of ${selector}: ${JSON.stringify(last)})` },
  );
  return last;
}

/** The cells of each body row of a table, as text. */
export async function tableRows(page: Page, tableId: string): Promise<string[][]> {
  return page.locator(`#${tableId} tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => (c as HTMLElement).innerText.trim())));
}

/** Answers the typed confirmation dialog: checks Confirm stays disabled for a wrong answer, then confirms. */
export async function confirmDialog(page: Page, expected: string): Promise<void> {
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({ state: 'visible' });
  await page.fill('#confirm-input', `${expected}-not`);
  if (!(await page.locator('#confirm-ok').isDisabled())) throw new Error('Confirm is enabled for a wrong confirmation');
  await page.fill('#confirm-input', expected);
  await page.click('#confirm-ok');
  await dialog.waitFor({ state: 'hidden' });
}

/** The console's live lag of a group (the "Total lag" card), as a number (NaN if unknown). */
export async function shownLag(page: Page): Promise<number> {
  return Number((await text(page, '#group-lag')).replace(/,/g, ''));
}
