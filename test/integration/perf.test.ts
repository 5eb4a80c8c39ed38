/**
 * kfk perf produce / consume / e2e against a kfk broker process: their output has the shape of Kafka's
 * kafka-producer-perf-test.sh, kafka-consumer-perf-test.sh and EndToEndLatency, and their counts are right
 * (checked with kcat, a third-party client, and on disk). No timing is asserted: speed is bench/'s business.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kcat, kfk, makeTempDir, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

let broker: BrokerProcess;
let B: string;

beforeAll(async () => {
  // no initial rebalance delay: perf consume joins a new group in every test
  broker = await startBrokerProcess({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  B = broker.bootstrap;
});

const FINAL_PRODUCE_LINE =
  /^(\d+) records sent, \d+\.\d{6} records\/sec \(\d+\.\d{2} MB\/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$/;
const WINDOW_LINE = /^\d+ records sent, \d+\.\d records\/sec \(\d+\.\d{2} MB\/sec\), \d+\.\d ms avg latency, \d+\.\d ms max latency\.$/;
const CSV_HEADER =
  'start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec';
const DATE = '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}:\\d{3}';
const DECIMAL = '-?\\d+\\.\\d{4}';

async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const res = await kfk(args, { timeoutMs: 120_000 });
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res;
}

async function createTopic(topic: string, partitions = 1): Promise<void> {
  await ok(['topics', '--bootstrap-server', B, '--create', '--topic', topic, '--partitions', String(partitions)]);
}

/** Every value in the topic, read back with kcat. */
async function kcatValues(topic: string, expected: number, format = '%s\n'): Promise<string[]> {
  const res = await kcat(['-b', B, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', format, '-c', String(expected)], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l !== '');
}

/** How many records the topic holds, counted by kcat (one line per record: partition and offset). */
async function kcatCount(topic: string, atMost: number): Promise<number> {
  return (await kcatValues(topic, atMost + 1, '%p %o\n')).length;
}

describe('kfk perf produce', () => {
  it("sends --num-records records of --record-size random capital letters and prints Kafka's lines", async () => {
    await createTopic('perf-produce', 3);
    const { stdout } = await ok([
      'perf', 'produce', '--bootstrap-server', B, '--topic', 'perf-produce', '--num-records', '20000', '--record-size', '100',
      '--throughput', '20000', '--reporting-interval', '1', '--producer-props', 'acks=1', 'linger.ms=5', 'batch.size=65536', '--print-metrics',
    ]);
    const lines = stdout.split('\n').filter((l) => l !== '');
    const finalLine = lines.find((l) => FINAL_PRODUCE_LINE.test(l));
    expect(finalLine, stdout).toBeDefined();
    expect(FINAL_PRODUCE_LINE.exec(finalLine!)![1]).toBe('20000');
    // A throttled run of 20,000 records lasts about a second: with a 1 ms reporting interval it prints windows.
    expect(lines.filter((l) => WINDOW_LINE.test(l)).length, stdout).toBeGreaterThan(0);
    expect(stdout).toMatch(/^Metric Name +Value$/m);
    expect(stdout).toMatch(/^producer-metrics:record-send-total:\{client-id=perf-producer-client\} +: 20000\.000$/m);

    const values = await kcatValues('perf-produce', 20000);
    expect(values).toHaveLength(20000);
    // one payload, made once, sent every time (Kafka's tool)
    expect(new Set(values).size).toBe(1);
    expect(values[0]).toMatch(/^[A-Z]{100}$/);
    // batched: far fewer batches than records on disk
    const batches = [0, 1, 2].flatMap((p) => {
      const dir = path.join(broker.dataDir, `perf-produce-${p}`);
      return fs.readdirSync(dir).filter((f) => f.endsWith('.log')).flatMap((f) => decodeRecordBatches(fs.readFileSync(path.join(dir, f))));
    });
    expect(batches.reduce((n, b) => n + b.recordsCount, 0)).toBe(20000);
    expect(batches.length).toBeLessThan(2000);
  });

  it('sends records from --payload-file split at --payload-delimiter', async () => {
    await createTopic('perf-payloads');
    const file = path.join(makeTempDir('perf-payload'), 'payloads.txt');
    fs.writeFileSync(file, 'alpha|beta|gamma|');
    const { stdout } = await ok([
      'perf', 'produce', '--bootstrap-server', B, '--topic', 'perf-payloads', '--num-records', '3000', '--payload-file', file,
      '--payload-delimiter', '|', '--throughput', '-1', '--producer-props', 'acks=all',
    ]);
    expect(stdout).toContain('Number of messages read: 3');
    expect(stdout.split('\n').find((l) => FINAL_PRODUCE_LINE.test(l))).toMatch(/^3000 records sent/);
    const values = await kcatValues('perf-payloads', 3000);
    expect(values).toHaveLength(3000);
    expect(new Set(values)).toEqual(new Set(['alpha', 'beta', 'gamma']));
  });

  it('takes producer settings from --producer.config (client.id shows in the metrics)', async () => {
    await createTopic('perf-config');
    const file = path.join(makeTempDir('perf-config'), 'producer.properties');
    fs.writeFileSync(file, 'client.id=from-file\nacks=all\nlinger.ms=0\n');
    const { stdout } = await ok([
      'perf', 'produce', '--bootstrap-server', B, '--topic', 'perf-config', '--num-records', '500', '--record-size', '10',
      '--producer.config', file, '--producer-props', 'linger.ms=2', '--print-metrics',
    ]);
    expect(stdout).toMatch(/^500 records sent/m);
    expect(stdout).toMatch(/^producer-metrics:record-send-total:\{client-id=from-file\} +: 500\.000$/m);
    expect(await kcatCount('perf-config', 500)).toBe(500);
  });

  it('sends in transactions with --transactional-id, committed every --transaction-duration-ms', async () => {
    const txn = await kfk(['perf', 'produce', '--bootstrap-server', B, '--topic', 'perf-txn', '--num-records', '300', '--record-size', '10', '--transactional-id', 'perf-txn', '--transaction-duration-ms', '20']);
    expect(txn.code, txn.stderr).toBe(0);
    expect(txn.stdout).toMatch(/^300 records sent/m);
    expect(await kcatCount('perf-txn', 300)).toBe(300); // kcat reads with read_committed by default
    const list = await kfk(['transactions', '--bootstrap-server', B, 'list']);
    expect(list.stdout).toMatch(/^perf-txn\s.*\tCompleteCommit\s*\t$/m);
  });

  it('refuses a missing payload option and idempotence, each with one line', async () => {
    const noPayload = await kfk(['perf', 'produce', '--bootstrap-server', B, '--topic', 't', '--num-records', '1']);
    expect(noPayload.code).toBe(1);
    expect(noPayload.stderr).toMatch(/^Error: Exactly one of --record-size, --payload-file or --payload-monotonic is required/);
    const idem = await kfk(['perf', 'produce', '--bootstrap-server', B, '--topic', 't', '--num-records', '1', '--record-size', '1', '--producer-props', 'enable.idempotence=true']);
    expect(idem.code).toBe(1);
    expect(idem.stderr).toMatch(/^Error: enable.idempotence=true is not supported/);
  });
});

describe('kfk perf consume', () => {
  beforeAll(async () => {
    await createTopic('perf-consume', 2);
    // produced by a third-party client: 5,000 records of 100 bytes
    const input = Array.from({ length: 5000 }, (_, i) => String(i).padStart(100, 'x')).join('\n') + '\n';
    const res = await kcat(['-b', B, '-P', '-t', 'perf-consume', '-X', 'linger.ms=5'], { input, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
  });

  it("reads --messages records and prints Kafka's CSV with the right counts", async () => {
    const { stdout } = await ok(['perf', 'consume', '--bootstrap-server', B, '--topic', 'perf-consume', '--messages', '5000', '--timeout', '30000']);
    const lines = stdout.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe(CSV_HEADER);
    const row = new RegExp(`^(${DATE}), (${DATE}), (${DECIMAL}), ${DECIMAL}, (\\d+), ${DECIMAL}, (\\d+), (\\d+), ${DECIMAL}, ${DECIMAL}$`).exec(lines[1]!);
    expect(row, lines[1]).not.toBeNull();
    expect(row![3]).toBe((500_000 / (1024 * 1024)).toFixed(4)); // 5,000 × 100 bytes, in MiB
    expect(row![4]).toBe('5000');
    expect(lines).toHaveLength(2);
  });

  it('--group commits what it read (a second run starts there); --from-latest starts at the end', async () => {
    const first = await ok(['perf', 'consume', '--bootstrap-server', B, '--topic', 'perf-consume', '--messages', '5000', '--group', 'perf-g', '--timeout', '30000', '--hide-header']);
    expect(first.stdout.trim().split(', ')[4]).toBe('5000');
    const described = await ok(['consumer-groups', '--bootstrap-server', B, '--describe', '--group', 'perf-g']);
    const rows = described.stdout.split('\n').filter((l) => l.startsWith('perf-g '));
    expect(rows).toHaveLength(2);
    const committed = rows.map((l) => l.trim().split(/\s+/)).map((cols) => ({ current: Number(cols[3]), lag: Number(cols[5]) }));
    expect(committed.reduce((n, r) => n + r.current, 0)).toBe(5000);
    expect(committed.every((r) => r.lag === 0)).toBe(true);

    const again = await kfk(['perf', 'consume', '--bootstrap-server', B, '--topic', 'perf-consume', '--messages', '1', '--group', 'perf-g', '--timeout', '1000', '--hide-header']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split(', ')[4]).toBe('0');
    expect(again.stderr).toContain('WARNING: Exiting before consuming the expected number of messages');
    const latest = await kfk(['perf', 'consume', '--bootstrap-server', B, '--topic', 'perf-consume', '--messages', '1', '--from-latest', '--timeout', '1000', '--hide-header']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stdout.trim().split(', ')[4]).toBe('0');
  });

  it('with --show-detailed-stats prints rows per interval, and on a timeout says so and counts what it read', async () => {
    const res = await kfk(
      ['perf', 'consume', '--bootstrap-server', B, '--topic', 'perf-consume', '--messages', '6000', '--timeout', '1500', '--show-detailed-stats', '--reporting-interval', '1'],
      { timeoutMs: 120_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe(
      'time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec',
    );
    const rows = lines.slice(1).map((l) => new RegExp(`^${DATE}, 0, ${DECIMAL}, ${DECIMAL}, (\\d+), ${DECIMAL}, \\d+, \\d+, ${DECIMAL}, ${DECIMAL}$`).exec(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r !== null), res.stdout).toBe(true);
    // the counts only grow, and end at all 5,000 records of the topic
    const counts = rows.map((r) => Number(r![1]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts[counts.length - 1]).toBe(5000);
    expect(res.stderr).toContain('WARNING: Exiting before consuming the expected number of messages: timeout (1500 ms) exceeded.');
  });
});

describe('kfk perf e2e', () => {
  const LATENCY = /^Avg latency: \d+\.\d{4} ms\nPercentiles: 50th = \d+, 99th = \d+, 99\.9th = \d+\n/m;

  it("measures one record at a time as Kafka's EndToEndLatency (flags and positional form)", async () => {
    await createTopic('perf-e2e');
    const flags = await ok(['perf', 'e2e', '--bootstrap-server', B, '--topic', 'perf-e2e', '--num-records', '300', '--producer-acks', 'all']);
    expect(flags.stdout).toMatch(LATENCY);
    expect(flags.stdout).toMatch(/^0\t\d+(\.\d+)?$/m); // the first record's latency (every 1000th is printed)
    const positional = await ok(['perf', 'e2e', B, 'perf-e2e', '200', '1', '64']);
    expect(positional.stdout).toMatch(LATENCY);
    // every record of both runs is on the topic
    expect(await kcatCount('perf-e2e', 500)).toBe(500);
  });

  it('measures at a set rate after warm-up records, receiving every record', async () => {
    await createTopic('perf-e2e-rate', 2);
    const { stdout } = await ok(['perf', 'e2e', '--bootstrap-server', B, '--topic', 'perf-e2e-rate', '--num-records', '1000', '--throughput', '1000', '--warmup-records', '100']);
    expect(stdout).toMatch(LATENCY);
    expect(stdout).toMatch(/^Latency \(ms\): avg \d+\.\d{3}, 50th \d+\.\d{3}, 99th \d+\.\d{3}, 99\.9th \d+\.\d{3}, max \d+\.\d{3} at 1000 records\/s$/m);
    expect(await kcatCount('perf-e2e-rate', 1100)).toBe(1100); // warm-up records are sent too
  });
});
