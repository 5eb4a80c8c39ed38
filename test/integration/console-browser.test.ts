/**
 * The web console in a real headless Chromium (Debian's, through playwright-core), served by `kfk console` (a
 * process, signed in over SASL/PLAIN with --command-config) against a broker process: every page renders; the message browser finds a record kcat produced
 * (JSON pretty-printed, headers shown, hostile keys and values shown as text, never run), by offset, and in
 * follow mode; a record produced from the browser is read back by kcat; a reset of a group's offsets (with a
 * typed confirmation) changes the lag shown, which also follows new records live; a topic created and deleted
 * in the browser appears and vanishes for kcat; the pages fit a phone screen; changes from another origin are
 * refused. Screenshots of each page are saved and their paths printed (test/helpers/browser.ts).
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { freePorts, kcat, kfk, kfkSpawn, makeTempDir, registerCleanup, skipUnless, spawnProcess, startBrokerProcess, waitFor, type BackgroundProcess, type BrokerProcess } from '../helpers/index.js';
import { hasChromium, launchBrowser, watchPageErrors, type TestBrowser } from '../helpers/browser.js';
import { confirmDialog, open, shownLag, tableRows, text, waitForText } from '../helpers/console-ui.js';

registerCleanup();

const TOPIC = 'orders';

describe('web console in Chromium, one broker', skipUnless(hasChromium, 'no Chromium at /usr/bin/chromium (Debian: apt-get install chromium)'), () => {
  let broker: BrokerProcess;
  /** The SASL listener's port, where the console connects (Metadata there advertises that listener). */
  let consolePort: number;
  let consoleProc: BackgroundProcess;
  let base: string;
  let browser: TestBrowser;
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    // The console signs in over SASL/PLAIN (--command-config, as every kfk tool); kcat and the CLI use PLAINTEXT.
    const [plainPort, saslPort] = await freePorts(2);
    consolePort = saslPort!;
    broker = await startBrokerProcess({
      overrides: {
        listeners: `PLAINTEXT://127.0.0.1:${plainPort},SASL_PLAINTEXT://127.0.0.1:${saslPort}`,
        'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
        'inter.broker.listener.name': 'PLAINTEXT',
        'sasl.enabled.mechanisms': 'PLAIN',
        'listener.name.sasl_plaintext.plain.sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";',
        'num.partitions': '2',
        'group.initial.rebalance.delay.ms': '0',
        'offsets.topic.num.partitions': '3',
      },
    });
    const clientConfig = join(makeTempDir('kfk-console-client-'), 'client.properties');
    writeFileSync(
      clientConfig,
      'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";\n',
    );
    await ok(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', TOPIC, '--partitions', '2']);
    consoleProc = kfkSpawn(['console', '--bootstrap-server', `127.0.0.1:${saslPort}`, '--command-config', clientConfig, '--port', '0']);
    await consoleProc.waitForOutput(/ at http:\/\/\S+\//, { timeoutMs: 30_000 });
    base = /at (http:\/\/\S+\/)/.exec(consoleProc.stdout())![1]!;
    browser = await launchBrowser('one-broker');
    page = await browser.newPage();
    pageErrors = watchPageErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await consoleProc?.stop('SIGTERM');
  });

  async function ok(args: string[]): Promise<string> {
    const res = await kfk(args, { timeoutMs: 30_000 });
    expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
    return res.stdout;
  }

  it('renders every page: brokers and controller, topics, a topic, groups, a group, messages', async () => {
    await open(page, base, '', '#brokers-table tr[data-broker="0"]');
    expect(await tableRows(page, 'brokers-table')).toEqual([['0', '127.0.0.1', String(consolePort), '—', 'controller']]);
    expect(await text(page, '#controller-id')).toBe('broker 0');
    expect(await text(page, '#cluster-id')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await browser.screenshot(page, 'brokers');

    await open(page, base, 'brokers/0', '#configs-table tbody tr');
    expect((await tableRows(page, 'configs-table')).find((r) => r[0] === 'num.partitions')?.[1]).toBe('2');
    await browser.screenshot(page, 'broker-0');

    await open(page, base, 'topics', `#topics-table tr[data-topic="${TOPIC}"]`);
    const row = (await tableRows(page, 'topics-table')).find((r) => r[0] === TOPIC);
    expect(row?.slice(1, 5)).toEqual(['healthy', '2', '1', '0']);
    await browser.screenshot(page, 'topics');

    await produceWithKcat(TOPIC, 0, [['k', 'v']]);
    await open(page, base, `topics/${TOPIC}`, '#partitions-table tbody tr');
    let partitions: string[][] = [];
    await waitFor(
      async () => {
        partitions = await tableRows(page, 'partitions-table');
        expect(partitions.map((p) => p.slice(0, 7))).toEqual([
          ['0', '0', '0', '0', '0', '1', '1'],
          ['1', '0', '0', '0', '0', '0', '0'],
        ]);
        return true;
      },
      { message: 'partitions with their offsets' },
    );
    // Sizes come from DescribeLogDirs: the bytes of the partition's segment files on disk. A broker that answers it
    // unsupported makes them "unknown", with the reason.
    const sizes = partitions.map((p) => p[7]);
    if ((await page.locator('#size-note').count()) > 0) {
      expect(await text(page, '#size-note')).toContain('DescribeLogDirs');
      expect(sizes).toEqual(['unknown', 'unknown']);
    } else {
      expect(sizes).toEqual([0, 1].map((p) => `${segmentBytes(join(broker.dataDir, `${TOPIC}-${p}`))} B`));
    }
    await browser.screenshot(page, 'topic');

    // A group with committed offsets, so the groups pages have something to show.
    await consumeAsGroup('render-group', TOPIC);
    await open(page, base, 'groups', '#groups-table tr[data-group="render-group"]');
    expect((await tableRows(page, 'groups-table')).find((r) => r[0] === 'render-group')?.slice(0, 3)).toEqual(['render-group', 'Empty', '0']);
    await browser.screenshot(page, 'groups');

    await open(page, base, 'groups/render-group', '#offsets-table tbody tr[data-tp]');
    expect(await text(page, '#group-state')).toBe('Empty');
    await browser.screenshot(page, 'group');

    await open(page, base, `messages/${TOPIC}`, '#records .record');
    await browser.screenshot(page, 'messages');
    expect(pageErrors).toEqual([]);
  });

  it('finds a record kcat produced: key, headers, JSON pretty-printed, hostile text shown and not run; by offset; in follow mode', async () => {
    const key = '<img src=x onerror="window.__xss=1">';
    const value = JSON.stringify({ id: 42, item: '<script>window.__xss=2</script>', tags: ['a', 'b'] });
    await produceWithKcat(TOPIC, 1, [[key, value]], ['-H', 'trace-id=<b>abc</b>']);
    const offset = await lastOffset(TOPIC, 1);

    await open(page, base, `messages/${TOPIC}`, '#browse-topic');
    await page.selectOption('#browse-partition', '1');
    await page.selectOption('#browse-from', 'offset');
    await page.fill('#browse-at', String(offset));
    await page.click('#browse-read');
    const card = page.locator(`#records .record[data-partition="1"][data-offset="${offset}"]`);
    await card.waitFor();
    expect(await page.locator('#records .record').first().getAttribute('data-offset')).toBe(String(offset));
    expect((await card.locator('.field.key').innerText()).replace(/^key\s*/, '')).toBe(key);
    expect((await card.locator('.field.headers').innerText()).replace(/^headers\s*/, '')).toBe('trace-id=<b>abc</b>');
    expect(await card.locator('pre.value').innerText()).toBe(JSON.stringify(JSON.parse(value), null, 2));
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('#records img, #records script, #records b').count()).toBe(0);
    await browser.screenshot(page, 'message-found');

    // Follow mode: a record produced afterwards appears without another Read.
    await page.check('#browse-follow');
    await produceWithKcat(TOPIC, 1, [['followed', 'arrived later']]);
    await page.locator(`#records .record[data-offset="${offset + 1}"][data-partition="1"]`).waitFor();
    expect(await text(page, `#records .record[data-offset="${offset + 1}"][data-partition="1"] pre.value`)).toBe('arrived later');
    await page.uncheck('#browse-follow');
    await browser.screenshot(page, 'message-follow');

    // By date-time: from the later record's timestamp, the earlier one is left out.
    const meta = await text(page, `#records .record[data-offset="${offset + 1}"][data-partition="1"] .meta`);
    const at = /CreateTime (\S+)/.exec(meta)![1]!;
    await page.selectOption('#browse-from', 'timestamp');
    await page.fill('#browse-at', at);
    await page.click('#browse-read');
    await waitFor(async () => (await page.locator('#records .record').first().getAttribute('data-offset')) === String(offset + 1), {
      timeoutMs: 20_000,
      message: `the first record from ${at} is offset ${offset + 1}`,
    });
    expect(pageErrors).toEqual([]);
  });

  it('produces a test record from the browser that kcat reads back', async () => {
    await open(page, base, `messages/${TOPIC}`, '#browse-topic');
    await page.fill('#produce-key', 'from-browser');
    await page.fill('#produce-value', '{"hello":"kcat"}');
    await page.fill('#produce-headers', 'source=console');
    await page.fill('#produce-partition', '0');
    await page.click('#produce-send');
    const msg = await waitForText(page, '.message.ok', (t) => t.startsWith('Produced to partition 0 at offset'), 'the produce confirmation');
    const offset = Number(/offset (\d+)/.exec(msg)![1]);
    const res = await kcat(['-b', broker.bootstrap, '-C', '-t', TOPIC, '-p', '0', '-o', String(offset), '-c', '1', '-e', '-f', '%k|%s|%h\n']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('from-browser|{"hello":"kcat"}|source=console\n');
  });

  it('resets a group\'s offsets after a typed confirmation, and the lag shown changes (and follows new records live)', async () => {
    const topic = 'lag-topic';
    const group = 'lag-group';
    await ok(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', topic, '--partitions', '1']);
    await produceWithKcat(topic, 0, [1, 2, 3, 4, 5].map((i) => [`k${i}`, `v${i}`]));
    await consumeAsGroup(group, topic);

    await open(page, base, `groups/${group}`, '#offsets-table tbody tr[data-tp]');
    await waitFor(async () => (await shownLag(page)) === 0, { timeoutMs: 30_000, message: 'lag 0 after consuming everything' });
    // Live: three more records raise the lag shown, without a reload.
    await produceWithKcat(topic, 0, [6, 7, 8].map((i) => [`k${i}`, `v${i}`]));
    await waitFor(async () => (await shownLag(page)) === 3, { timeoutMs: 30_000, message: 'lag 3 shown live after 3 more records' });
    await browser.screenshot(page, 'group-lag-before-reset');

    await page.selectOption('#reset-topic', topic);
    await page.selectOption('#reset-to', 'earliest');
    await page.click('#reset-preview');
    await page.locator('#reset-plan-table tbody tr').first().waitFor();
    expect(await tableRows(page, 'reset-plan-table')).toEqual([[topic, '0', '5', '0']]);
    expect(await shownLag(page)).toBe(3); // a preview changes nothing

    await page.click('#reset-execute');
    await confirmDialog(page, group);
    await waitForText(page, '.message.ok', (t) => t.includes('reset'), 'the reset confirmation');
    await waitFor(async () => (await shownLag(page)) === 8, { timeoutMs: 30_000, message: 'lag 8 after the reset to earliest' });
    expect((await tableRows(page, 'offsets-table'))[0]!.slice(0, 5)).toEqual([topic, '0', '0', '8', '8']);
    await browser.screenshot(page, 'group-lag-after-reset');

    // Kafka's tool agrees.
    const described = await ok(['consumer-groups', '--bootstrap-server', broker.bootstrap, '--describe', '--group', group]);
    const line = described.split('\n').find((l) => l.startsWith(group));
    expect(line?.trim().split(/\s+/).slice(1, 6)).toEqual([topic, '0', '0', '8', '8']);
    expect(pageErrors).toEqual([]);
  });

  it('refuses to reset the offsets of a group with active members, and says why', async () => {
    const group = 'active-group';
    const member = spawnProcess('kcat', ['-b', broker.bootstrap, '-G', group, '-q', TOPIC]);
    try {
      await open(page, base, `groups/${group}`, '#group-id');
      await waitForText(page, '#group-state', (t) => t === 'Stable', 'the kcat member joined', 60_000);
      expect((await tableRows(page, 'members-table')).length).toBe(1);
      await browser.screenshot(page, 'group-active');
      await page.selectOption('#reset-to', 'earliest');
      await page.click('#reset-execute');
      await confirmDialog(page, group);
      await waitForText(
        page,
        '.message.error',
        (t) => t === `Assignments can only be reset if the group '${group}' is inactive, but the current state is Stable.`,
        'the refusal',
      );
    } finally {
      await member.stop('SIGTERM');
    }
  });

  it('creates a topic with a config, then deletes it after a typed confirmation', async () => {
    const topic = 'made-in-browser';
    await open(page, base, 'topics', '#topics-table');
    await page.fill('#new-topic-name', topic);
    await page.fill('#new-topic-partitions', '3');
    await page.fill('#new-topic-configs', 'retention.ms=3600000');
    await page.click('#create-topic');
    await waitForText(page, '.message.ok', (t) => t.includes(`Created topic ${topic} with 3 partitions`), 'the create confirmation');
    await page.locator(`#topics-table tr[data-topic="${topic}"]`).waitFor();
    await waitFor(async () => (await kcatPartitions(topic)) === 3, { timeoutMs: 30_000, message: 'kcat sees the new topic with 3 partitions' });
    await browser.screenshot(page, 'topic-created');

    await open(page, base, `topics/${topic}`, '#partitions-table tbody tr');
    expect((await tableRows(page, 'configs-table')).find((r) => r[0] === 'retention.ms')?.[1]).toBe('3600000');
    await page.click('#delete-topic');
    await confirmDialog(page, topic);
    await waitForText(page, '.message.ok', (t) => t === `Topic ${topic} deleted.`, 'the delete confirmation');
    await waitFor(async () => (await kcatPartitions(topic)) === 0, { timeoutMs: 30_000, message: 'kcat no longer sees the deleted topic' });
    await open(page, base, 'topics', `#topics-table tr[data-topic="${TOPIC}"]`);
    expect(await page.locator(`#topics-table tr[data-topic="${topic}"]`).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('fits a phone screen (no sideways scrolling of the page)', async () => {
    const phone = await browser.newPage({ width: 390, height: 844 });
    try {
      for (const [route, ready, name] of [
        ['topics', `#topics-table tr[data-topic="${TOPIC}"]`, 'phone-topics'],
        [`topics/${TOPIC}`, '#partitions-table tbody tr', 'phone-topic'],
        ['groups/lag-group', '#offsets-table tbody tr', 'phone-group'],
        [`messages/${TOPIC}`, '#records .record', 'phone-messages'],
      ] as const) {
        await open(phone, base, route, ready);
        const widths = await phone.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
        expect(widths.doc, `${route} is wider than the screen`).toBeLessThanOrEqual(widths.view);
        await browser.screenshot(phone, name);
      }
    } finally {
      await phone.close();
    }
  });

  it('kfk console refuses a port in use with one line, exit 1', async () => {
    const port = new URL(base).port;
    const res = await kfk(['console', '--bootstrap-server', broker.bootstrap, '--port', port]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`Error: port ${port} on 127.0.0.1 is already in use (choose another with --port)\n`);
  });

  it('refuses changes that are not same-origin JSON, and changes nothing', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${base}api/topics`, { method: 'POST', headers, body: JSON.stringify({ name: 'forged' }) });
    expect((await post({ 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post({ 'Content-Type': 'application/json', Origin: 'http://evil.example' })).status).toBe(403);
    const del = await fetch(`${base}api/topics/${TOPIC}`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(del.status).toBe(400);
    expect(((await del.json()) as { error: string }).error).toContain('confirm');
    expect(await kcatPartitions('forged')).toBe(0);
    expect(await kcatPartitions(TOPIC)).toBe(2);
  });

  // ---- helpers ----

  async function produceWithKcat(topic: string, partition: number, records: Array<[string, string]>, extra: string[] = []): Promise<void> {
    const input = records.map(([k, v]) => `${k}\u0001${v}\n`).join('');
    const res = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', String(partition), '-K', '\u0001', ...extra], { input });
    expect(res.code, res.stderr).toBe(0);
  }

  async function lastOffset(topic: string, partition: number): Promise<number> {
    const res = await kcat(['-b', broker.bootstrap, '-Q', '-t', `${topic}:${partition}:-1`]);
    expect(res.code, res.stderr).toBe(0);
    return Number(/offset (\d+)/.exec(res.stdout)![1]) - 1;
  }

  /** Consumes the whole topic as a kcat group member, which commits its offsets when it leaves. */
  async function consumeAsGroup(group: string, topic: string): Promise<void> {
    const res = await kcat(['-b', broker.bootstrap, '-G', group, '-o', 'beginning', '-e', '-q', '-X', 'enable.auto.commit=true', topic], { timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    await waitFor(
      async () => {
        const d = await kfk(['consumer-groups', '--bootstrap-server', broker.bootstrap, '--describe', '--group', group]);
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...: every partition committed, lag 0.
        const rows = d.stdout.split('\n').filter((l) => l.startsWith(`${group} `)).map((l) => l.trim().split(/\s+/));
        return d.code === 0 && rows.length > 0 && rows.every((r) => r[3] !== '-' && r[5] === '0');
      },
      { timeoutMs: 30_000, message: `group ${group} committed its offsets` },
    );
  }

  /** Bytes of a partition directory's segment (.log) files, as Kafka's DescribeLogDirs partition_size counts them. */
  function segmentBytes(dir: string): number {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  }

  async function kcatPartitions(topic: string): Promise<number> {
    const res = await kcat(['-b', broker.bootstrap, '-L', '-J']);
    const meta = JSON.parse(res.stdout) as { topics: Array<{ topic: string; partitions: unknown[] }> };
    return meta.topics.find((t) => t.topic === topic)?.partitions.length ?? 0;
  }
});
