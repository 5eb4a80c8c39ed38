/**
 * The CLI against a kfk broker process: walkthrough step 1 exactly as written (create, list, describe with
 * the tab-separated shape, produce, consume from the beginning), keyed records landing where murmur2 says,
 * every compression codec through console-producer → console-consumer (and on disk), headers and the
 * print.* / JSON formats, and the error cases (existing topic, missing topic, bad flag, no broker).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, kfk, kfkSpawn, makeTempDir, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { decodeRecordBatches, type DecodedBatch } from '../../src/protocol/records.js';

registerCleanup();

let broker: BrokerProcess;
let B: string;

beforeAll(async () => {
  broker = await startBrokerProcess();
  B = broker.bootstrap;
});

/** Runs kfk and asserts exit code 0 (showing stderr otherwise). */
async function ok(args: string[], input?: string): Promise<string> {
  const res = await kfk(args, { input });
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res.stdout;
}

/** The record batches stored in a partition's segment files. */
function storedBatches(topic: string, partition: number): DecodedBatch[] {
  const dir = path.join(broker.dataDir, `${topic}-${partition}`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  return files.flatMap((f) => decodeRecordBatches(fs.readFileSync(path.join(dir, f))));
}

async function createTopic(topic: string, partitions: number): Promise<void> {
  expect(await ok(['topics', '--bootstrap-server', B, '--create', '--topic', topic, '--partitions', String(partitions), '--replication-factor', '1'])).toBe(
    `Created topic ${topic}.\n`,
  );
}

describe('walkthrough step 1', () => {
  it('creates, lists, describes, produces and consumes as written', async () => {
    const create = await kfk(['topics', '--bootstrap-server', B, '--create', '--topic', 'test', '--partitions', '2', '--replication-factor', '1']);
    expect(create.code, create.stderr).toBe(0);
    expect(create.stdout).toBe('Created topic test.\n');

    const list = await kfk(['topics', '--bootstrap-server', B, '--list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n').filter(Boolean).filter((t) => !t.startsWith('__'))).toEqual(['test']);

    const describe = await kfk(['topics', '--bootstrap-server', B, '--describe', '--topic', 'test']);
    expect(describe.code, describe.stderr).toBe(0);
    expect(describe.stdout).toBe(
      'Topic: test\tPartitionCount: 2\tReplicationFactor: 1\tConfigs:\n' +
        '\tTopic: test\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n' +
        '\tTopic: test\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n',
    );

    const produce = await kfk(['console-producer', '--broker-list', B, '--topic', 'test'], { input: 'hello\nworld\n' });
    expect(produce.code, produce.stderr).toBe(0);
    expect(produce.stdout).toBe('');

    const consume = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', 'test', '--from-beginning', '--max-messages', '2']);
    expect(consume.code, consume.stderr).toBe(0);
    expect(consume.stdout.split('\n').filter(Boolean).sort()).toEqual(['hello', 'world']);
    expect(consume.stderr).toContain('Processed a total of 2 messages');
  });

  it('lists topics sorted, one per line', async () => {
    await createTopic('zeta', 1);
    await createTopic('alpha', 1);
    const names = (await ok(['topics', '--bootstrap-server', B, '--list'])).split('\n').filter(Boolean);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['alpha', 'zeta']));
  });
});

describe('console-producer / console-consumer', () => {
  it('puts keyed records on the partition murmur2 gives (as the Java client does)', async () => {
    await createTopic('keyed', 4);
    const keys = ['a', 'b', 'c', 'd', 'user-1', 'user-2', 'user-3', 'hello'];
    const input = keys.map((k, i) => `${k}:${i}\n`).join('');
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'keyed', '--property', 'parse.key=true', '--property', 'key.separator=:'], input);
    const out = await ok([
      'console-consumer', '--bootstrap-server', B, '--topic', 'keyed', '--from-beginning', '--max-messages', String(keys.length),
      '--property', 'print.key=true', '--property', 'print.partition=true',
    ]);
    const seen = out.split('\n').filter(Boolean).map((l) => l.split('\t'));
    expect(seen).toHaveLength(keys.length);
    for (const [partition, key, value] of seen) {
      expect(partition).toBe(`Partition:${partitionForKey(Buffer.from(key!), 4)}`);
      expect(value).toBe(String(keys.indexOf(key!)));
    }
  });

  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const)('round-trips records compressed with %s', async (codec) => {
    const topic = `codec-${codec}`;
    await createTopic(topic, 1);
    const lines = Array.from({ length: 200 }, (_, i) => `${codec} record ${i} ${'payload '.repeat(5)}`);
    await ok(['console-producer', '--bootstrap-server', B, '--topic', topic, '--compression-codec', codec], lines.join('\n') + '\n');
    const out = await ok(['console-consumer', '--bootstrap-server', B, '--topic', topic, '--from-beginning', '--max-messages', '200']);
    expect(out.split('\n').filter(Boolean)).toEqual(lines);
    // The batches on disk carry the codec: the broker stores the producer's bytes as they are.
    const segment = path.join(broker.dataDir, `${topic}-0`, '00000000000000000000.log');
    const batches = decodeRecordBatches(fs.readFileSync(segment));
    expect(batches.length).toBeGreaterThan(0);
    expect(new Set(batches.map((b) => b.compression))).toEqual(new Set([CompressionType[codec]]));
  });

  it('treats a bare --compression-codec as gzip', async () => {
    await createTopic('codec-bare', 1);
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'codec-bare', '--compression-codec'], 'x\n');
    const batches = decodeRecordBatches(fs.readFileSync(path.join(broker.dataDir, 'codec-bare-0', '00000000000000000000.log')));
    expect(batches[0]!.compression).toBe(CompressionType.gzip);
  });

  it('parses headers and prints them, and formats JSON', async () => {
    await createTopic('headers', 1);
    await ok(
      ['console-producer', '--bootstrap-server', B, '--topic', 'headers', '--property', 'parse.headers=true', '--property', 'parse.key=true'],
      'h1:v1,h2:v2\tk1\tvalue one\n\tk2\tvalue two\n',
    );
    const plain = await ok([
      'console-consumer', '--bootstrap-server', B, '--topic', 'headers', '--from-beginning', '--max-messages', '2',
      '--property', 'print.headers=true', '--property', 'print.key=true', '--property', 'print.offset=true', '--property', 'print.timestamp=true',
    ]);
    const lines = plain.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^CreateTime:\d+\tOffset:0\th1:v1,h2:v2\tk1\tvalue one$/);
    expect(lines[1]).toMatch(/^CreateTime:\d+\tOffset:1\tNO_HEADERS\tk2\tvalue two$/);
    const json = await ok(['console-consumer', '--bootstrap-server', B, '--topic', 'headers', '--from-beginning', '--max-messages', '2', '--formatter', 'json']);
    const objs = json.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs[0]).toMatchObject({ topic: 'headers', partition: 0, offset: 0, key: 'k1', value: 'value one', headers: { h1: 'v1', h2: 'v2' } });
    expect(objs[1]).toMatchObject({ offset: 1, key: 'k2', value: 'value two', headers: {} });
    expect(typeof objs[0]!.timestamp).toBe('number');
  });

  it('reads from --partition/--offset and exits after --timeout-ms without new records', async () => {
    await createTopic('offsets', 1);
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'offsets', '--request-required-acks', '1'], 'r0\nr1\nr2\nr3\n');
    const res = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', 'offsets', '--partition', '0', '--offset', '2', '--timeout-ms', '1000']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('r2\nr3\n');
    expect(res.stderr).toContain('Processed a total of 2 messages');
  });

  it('starts at the latest offset without --from-beginning, and stops cleanly on SIGTERM', async () => {
    await createTopic('live', 2);
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'live'], 'old\n');
    const consumer = kfkSpawn(['console-consumer', '--bootstrap-server', B, '--topic', 'live']);
    // The consumer prints nothing until it knows where "latest" is (it resolves every partition in one ListOffsets
    // before its first fetch): produce probe records until it prints one.
    let probes = 0;
    await waitFor(
      async () => {
        await ok(['console-producer', '--bootstrap-server', B, '--topic', 'live', '--acks', 'all'], `probe${probes++}\n`);
        return consumer.stdout().includes('probe');
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'the console consumer to print a probe record' },
    );
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'live', '--acks', 'all'], 'new1\nnew2\n');
    await consumer.waitForOutput(/new2/);
    const res = await consumer.stop('SIGTERM');
    const lines = res.stdout.split('\n').filter(Boolean);
    expect(lines).not.toContain('old');
    expect(lines.filter((l) => !l.startsWith('probe')).sort()).toEqual(['new1', 'new2']);
    expect(res.stderr).toContain(`Processed a total of ${lines.length} messages`);
    expect(res.code).toBe(0);
  });

  it('loads a large input through batching and in-flight requests', async () => {
    await createTopic('bulk', 3);
    const n = 100_000;
    const input = Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n';
    await ok(['console-producer', '--bootstrap-server', B, '--topic', 'bulk'], input);
    const res = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', 'bulk', '--from-beginning', '--max-messages', String(n)], { timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    const got = res.stdout.split('\n').filter(Boolean);
    expect(got).toHaveLength(n);
    expect(new Set(got).size).toBe(n);
    // Batched: the log holds far fewer batches than records (one produce per line would store one batch per line).
    // (How fast it loads is a benchmark: bench/, docs/benchmarks.md.)
    const batches = [0, 1, 2].flatMap((p) => storedBatches('bulk', p));
    expect(batches.reduce((sum, b) => sum + b.recordsCount, 0)).toBe(n);
    expect(batches.length).toBeLessThan(n / 50);
  });
});

describe('errors', () => {
  it('refuses to create an existing topic (unless --if-not-exists)', async () => {
    await createTopic('dup', 1);
    const res = await kfk(['topics', '--bootstrap-server', B, '--create', '--topic', 'dup']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe("Error: Topic 'dup' already exists.\n");
    await ok(['topics', '--bootstrap-server', B, '--create', '--topic', 'dup', '--if-not-exists']);
  });

  it('reports a missing topic on describe and delete', async () => {
    for (const action of ['--describe', '--delete']) {
      const res = await kfk(['topics', '--bootstrap-server', B, action, '--topic', 'no-such-topic']);
      expect(res.code).toBe(1);
      expect(res.stderr).toBe("Error: Topic 'no-such-topic' does not exist.\n");
    }
  });

  it('deletes a topic', async () => {
    await createTopic('doomed', 1);
    await ok(['topics', '--bootstrap-server', B, '--delete', '--topic', 'doomed']);
    const names = (await ok(['topics', '--bootstrap-server', B, '--list'])).split('\n');
    expect(names).not.toContain('doomed');
  });

  it('rejects an invalid name and a replication factor above the live brokers in one line', async () => {
    const bad = await kfk(['topics', '--bootstrap-server', B, '--create', '--topic', 'bad name!']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error: .*illegal.*\n$/);
    const rf = await kfk(['topics', '--bootstrap-server', B, '--create', '--topic', 'rf3', '--replication-factor', '3']);
    expect(rf.code).toBe(1);
    expect(rf.stderr).toMatch(/^Error: .*[Rr]eplication factor.*\n$/);
  });

  it('names an unknown flag', async () => {
    const res = await kfk(['topics', '--bootstrap-server', B, '--list', '--no-such-flag']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('--no-such-flag');
  });

  it('says there is no broker at a closed port, for every command', async () => {
    const port = await freePort();
    const where = `127.0.0.1:${port}`;
    const runs = await Promise.all([
      kfk(['topics', '--bootstrap-server', where, '--list']),
      kfk(['console-producer', '--bootstrap-server', where, '--topic', 't'], { input: 'x\n' }),
      kfk(['console-consumer', '--bootstrap-server', where, '--topic', 't', '--timeout-ms', '2000']),
    ]);
    for (const res of runs) {
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`Error: no broker at ${where} (connection refused)`);
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('fails the producer with the reason when a line cannot be parsed', async () => {
    const res = await kfk(['console-producer', '--bootstrap-server', B, '--topic', 'test', '--property', 'parse.key=true'], { input: 'no separator\n' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("Error: No key separator found on line number 1: 'no separator'");
  });

  it('names an unreachable ZooKeeper, and refuses --group with --partition as Kafka does', async () => {
    const port = await freePort();
    const zk = await kfk(['topics', '--zookeeper', `127.0.0.1:${port}`, '--list']);
    expect(zk.code).toBe(1);
    expect(zk.stderr).toMatch(new RegExp(`^Error: no ZooKeeper at 127.0.0.1:${port}`));
    expect(zk.stderr.trim().split('\n')).toHaveLength(1);
    const group = await kfk(['console-consumer', '--bootstrap-server', B, '--topic', 'test', '--group', 'g', '--partition', '0']);
    expect(group.code).toBe(1);
    expect(group.stderr).toBe('Error: Options group and partition cannot be specified together.\n');
  });
});

describe('server start errors', () => {
  it('names a bad config value, a missing file and an unknown option in one line, exit 1', async () => {
    const dataDir = await makeTempDir('kfk-bad-config');
    const cases: [string[], RegExp][] = [
      [['--override', 'num.partitions=abc'], /^Error: Invalid value abc for configuration num\.partitions/],
      [['/nonexistent/server.properties'], /^Error: Cannot read config file \/nonexistent\/server\.properties/],
      [['--bogus'], /^Error: unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await kfk(['server', 'start', '--override', `log.dirs=${dataDir}`, ...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('says when the listener port is taken', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const dataDir = await makeTempDir('kfk-port-taken');
      const r = await kfk(['server', 'start', '--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', `log.dirs=${dataDir}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^Error: cannot listen on 127\\.0\\.0\\.1:${port} .*address already in use`));
    } finally {
      blocker.close();
    }
  });
});

describe('invocation', () => {
  it('answers --version and --help quickly', async () => {
    const v = await kfk(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = await kfk(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/console-producer/);
  });
});
