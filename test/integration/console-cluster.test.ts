/**
 * The web console in a real headless Chromium against a three-broker cluster (startCluster()), with the console
 * handler on its own node:http server (startConsoleServer, as an admin listener would mount it): the brokers and
 * the one controller, a replicated topic's leaders, replicas and ISR; a record kcat produced found in the browser;
 * a group reset that changes the lag shown; a replicated topic created and deleted in the browser; and a killed
 * broker showing live as under-replicated partitions, healthy again after its restart. Screenshots are saved and
 * their paths printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startCluster, type StartedCluster } from '../../src/index.js';
import { startConsoleServer, type ConsoleServer } from '../../src/console/index.js';
import { createAdmin, type Admin } from '../../src/client/index.js';
import { kcat, registerCleanup, skipUnless, waitFor } from '../helpers/index.js';
import { hasChromium, launchBrowser, watchPageErrors, type TestBrowser } from '../helpers/browser.js';
import { confirmDialog, open, shownLag, tableRows, text, waitForText } from '../helpers/console-ui.js';

registerCleanup();

const TOPIC = 'payments';

describe('web console in Chromium, three brokers', skipUnless(hasChromium, 'no Chromium at /usr/bin/chromium (Debian: apt-get install chromium)'), () => {
  let cluster: StartedCluster;
  let admin: Admin;
  let server: ConsoleServer;
  let base: string;
  let browser: TestBrowser;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 });
    admin = createAdmin({ bootstrap: cluster.bootstrap });
    await admin.createTopics([{ name: TOPIC, numPartitions: 3, replicationFactor: 3 }]);
    server = await startConsoleServer({ bootstrapServers: cluster.bootstrap, port: 0 });
    base = server.url;
    browser = await launchBrowser('three-brokers');
    page = await browser.newPage();
    pageErrors = watchPageErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await admin?.close();
    await cluster?.stop();
  });

  it('shows the three brokers, the controller, and each partition\'s leader, replicas and ISR', async () => {
    const controller = (await admin.describeCluster()).controllerId;
    await open(page, base, '', '#brokers-table tr[data-broker="2"]');
    const brokers = await tableRows(page, 'brokers-table');
    expect(brokers.map((b) => [b[0], b[2]])).toEqual(cluster.brokers.map((b) => [String(b.id), String(b.port)]));
    expect(brokers.filter((b) => b[4] === 'controller').map((b) => b[0])).toEqual([String(controller)]);
    expect(await text(page, '#controller-id')).toBe(`broker ${controller}`);
    expect(await text(page, '#broker-count')).toBe('3');
    await browser.screenshot(page, 'brokers');

    await open(page, base, `topics/${TOPIC}`, '#partitions-table tbody tr');
    const [desc] = await admin.describeTopics([TOPIC]);
    await waitFor(
      async () => {
        const rows = await tableRows(page, 'partitions-table');
        const want = desc!.partitions.map((p) => [String(p.partition), String(p.leader), p.replicas.join(', '), p.isr.join(', ')]);
        expect(rows.map((r) => r.slice(0, 4))).toEqual(want);
        return true;
      },
      { timeoutMs: 30_000, message: 'the partitions table matches Metadata' },
    );
    expect(desc!.partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3)).toBe(true);
    await browser.screenshot(page, 'topic');
    expect(pageErrors).toEqual([]);
  });

  it('finds a record kcat produced to the cluster, among all partitions', async () => {
    const value = JSON.stringify({ order: 7, amount: 12.5 });
    const res = await kcat(['-b', cluster.bootstrap, '-P', '-t', TOPIC, '-K', '|', '-H', 'region=eu'], { input: `customer-7|${value}\n` });
    expect(res.code, res.stderr).toBe(0);
    await open(page, base, `messages/${TOPIC}`, '#browse-topic');
    // The page reads the newest records of every partition when opened with a topic.
    const card = page.locator('#records .record', { hasText: 'customer-7' });
    await card.waitFor();
    expect(await card.locator('pre.value').innerText()).toBe(JSON.stringify(JSON.parse(value), null, 2));
    expect((await card.locator('.field.headers').innerText()).replace(/^headers\s*/, '')).toBe('region=eu');
    await browser.screenshot(page, 'message-found');
  });

  it('resets a group to the earliest offsets and the lag shown changes', async () => {
    const group = 'cluster-lag-group';
    const input = Array.from({ length: 6 }, (_, i) => `k${i}|v${i}\n`).join('');
    const produced = await kcat(['-b', cluster.bootstrap, '-P', '-t', TOPIC, '-K', '|'], { input });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kcat(['-b', cluster.bootstrap, '-G', group, '-o', 'beginning', '-e', '-q', TOPIC], { timeoutMs: 60_000 });
    expect(consumed.code, consumed.stderr).toBe(0);
    const total = 7; // the record of the previous test and these six

    await open(page, base, `groups/${group}`, '#group-lag');
    await waitFor(async () => (await shownLag(page)) === 0 && (await tableRows(page, 'offsets-table')).length === 3, { timeoutMs: 30_000, message: 'lag 0 over 3 committed partitions' });
    await page.selectOption('#reset-to', 'earliest');
    await page.click('#reset-execute');
    await confirmDialog(page, group);
    await waitForText(page, '.message.ok', (t) => t.includes('reset'), 'the reset confirmation');
    await waitFor(async () => (await shownLag(page)) === total, { timeoutMs: 30_000, message: `lag ${total} after the reset` });
    const committed = await admin.listGroupOffsets(group);
    expect(committed.map((c) => c.offset)).toEqual([0, 0, 0]);
    await browser.screenshot(page, 'group-after-reset');
  });

  it('creates a replicated topic and deletes it', async () => {
    const topic = 'replicated-in-browser';
    await open(page, base, 'topics', '#topics-table');
    await page.fill('#new-topic-name', topic);
    await page.fill('#new-topic-partitions', '2');
    await page.fill('#new-topic-rf', '3');
    await page.click('#create-topic');
    await waitForText(page, '.message.ok', (t) => t.includes(`Created topic ${topic} with 2 partitions, replication factor 3`), 'the create confirmation');
    await waitFor(async () => (await kcatReplicas(topic)).join() === '3,3', { timeoutMs: 30_000, message: 'kcat sees 2 partitions of 3 replicas' });

    await open(page, base, `topics/${topic}`, '#partitions-table tbody tr');
    await page.click('#delete-topic');
    await confirmDialog(page, topic);
    await waitForText(page, '.message.ok', (t) => t === `Topic ${topic} deleted.`, 'the delete confirmation');
    await waitFor(async () => (await kcatReplicas(topic)).length === 0, { timeoutMs: 30_000, message: 'kcat no longer sees the topic' });
  });

  it('shows a killed broker\'s partitions as under-replicated, live, and healthy again after its restart', async () => {
    const victim = 2;
    await open(page, base, 'topics', `#topics-table tr[data-topic="${TOPIC}"]`);
    await waitForText(page, `#topics-table tr[data-topic="${TOPIC}"] td.health`, (t) => t === 'healthy', 'a healthy topic first');
    await cluster.killBroker(victim);
    await waitForText(page, `#topics-table tr[data-topic="${TOPIC}"] td.health`, (t) => t === '3 under-replicated', 'every partition under-replicated', 60_000);
    await browser.screenshot(page, 'under-replicated');
    await open(page, base, `topics/${TOPIC}`, '#partitions-table tbody tr');
    expect(await page.locator('#partitions-table .missing').count()).toBe(3);
    await browser.screenshot(page, 'topic-under-replicated');
    await open(page, base, '', '#brokers-table tr[data-broker="0"]');
    await waitFor(async () => (await tableRows(page, 'brokers-table')).length === 2, { timeoutMs: 30_000, message: 'two brokers listed' });

    await cluster.restartBroker(victim);
    await open(page, base, 'topics', `#topics-table tr[data-topic="${TOPIC}"]`);
    await waitForText(page, `#topics-table tr[data-topic="${TOPIC}"] td.health`, (t) => t === 'healthy', 'healthy after the restart', 60_000);
    expect(pageErrors).toEqual([]);
  });

  async function kcatReplicas(topic: string): Promise<number[]> {
    const res = await kcat(['-b', cluster.bootstrap, '-L', '-J']); // (no -t: asking for a topic could auto-create it)
    if (res.code !== 0) return [];
    const meta = JSON.parse(res.stdout) as { topics: Array<{ topic: string; error?: string; partitions: Array<{ replicas: unknown[] }> }> };
    const t = meta.topics.find((x) => x.topic === topic && !x.error);
    return t ? t.partitions.map((p) => p.replicas.length) : [];
  }
});
