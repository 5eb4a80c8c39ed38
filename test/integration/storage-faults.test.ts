/**
 * A log dir that runs out of space, for real (issue 8, item 5): a 4 MiB tmpfs mounted as a log dir, filled by
 * producing with confluent-kafka (acks=all, no retries, a delivery report per record), until the broker answers
 * KAFKA_STORAGE_ERROR.
 *
 * - Two log dirs: the full one goes offline (logged once with the dir and ENOSPC, a log dir event notification
 *   in the registry, Fetch, ListOffsets and DeleteRecords answer KAFKA_STORAGE_ERROR for its partition), the partition in the
 *   other dir keeps taking and serving records (kcat), and after the space is freed and the broker restarted
 *   every acknowledged record is there, exactly once and nothing else.
 * - One log dir: the broker shuts itself down and exits non-zero; after freeing space and a restart every
 *   acknowledged record is there.
 *
 * Mounting needs root (CI runs as root); elsewhere the tests are skipped, visibly. Every mount is unmounted in
 * teardown, also when a test fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  kcat,
  kfk,
  makeTempDir,
  pythonCode,
  registerCleanup,
  run,
  startBrokerProcess,
  stopAllBrokers,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { ErrorCode } from '../../src/protocol/errors.js';

registerCleanup();

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const TMPFS_BYTES = 4 * 1024 * 1024;
/** Space left free in the tmpfs before producing: what the broker can write before ENOSPC. */
const HEADROOM_BYTES = 192 * 1024;
const VALUE_BYTES = 1000;

const mounts: string[] = [];

async function mountTmpfs(): Promise<string> {
  const dir = makeTempDir('kfk-tmpfs-');
  const res = await run('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', dir]);
  if (res.code !== 0) throw new Error(`cannot mount a tmpfs on ${dir} (as root): ${res.stderr}`);
  mounts.push(dir);
  return dir;
}

async function unmountAll(): Promise<void> {
  await stopAllBrokers(); // a broker holding files keeps the mount busy
  for (const dir of mounts.splice(0)) {
    const res = await run('umount', [dir]);
    if (res.code !== 0) await run('umount', ['-l', dir]); // detach it anyway; never leave a mount behind
  }
}

/** Fills the tmpfs with a ballast file so that only `headroom` bytes stay free; returns the ballast's path. */
function fillLeaving(dir: string, headroom: number): string {
  const st = fs.statfsSync(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  const ballast = path.join(dir, 'ballast.bin');
  fs.writeFileSync(ballast, Buffer.alloc(Math.max(0, free - headroom), 0x5a));
  return ballast;
}

/**
 * confluent-kafka: sends `count` records of `<prefix>-<i>-xxx...` to partition 0, acks=all and no retries, one
 * delivery report each; prints {"acked": [[offset, value], ...], "failed": {"<error name>": n}}.
 */
const PRODUCER = `
import sys, json
from confluent_kafka import Producer
a = json.loads(sys.argv[1])
p = Producer({'bootstrap.servers': a['bootstrap'], 'acks': 'all', 'retries': 0, 'enable.idempotence': False,
              'linger.ms': 2, 'batch.num.messages': 16, 'message.timeout.ms': 6000, 'socket.timeout.ms': 6000})
acked = []
failed = {}
def report(err, msg):
    if err is None:
        acked.append([msg.offset(), msg.value().decode()])
    else:
        failed[err.name()] = failed.get(err.name(), 0) + 1
for i in range(a['count']):
    v = ('%s-%05d-' % (a['prefix'], i)).ljust(a['size'], 'x')
    while True:
        try:
            p.produce(a['topic'], value=v.encode(), partition=0, on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    p.poll(0)
p.flush(30)
print(json.dumps({'acked': acked, 'failed': failed}))
`;

interface ProduceOutcome {
  acked: [number, string][];
  failed: Record<string, number>;
}

async function produce(bootstrap: string, topic: string, count: number, prefix: string): Promise<ProduceOutcome> {
  const res = await pythonCode(PRODUCER, [JSON.stringify({ bootstrap, topic, count, prefix, size: VALUE_BYTES })], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as ProduceOutcome;
}

/** Every record of partition 0 as [offset, value], with kcat. */
async function readAll(b: BrokerProcess, topic: string): Promise<[number, string][]> {
  const r = await kcat(['-b', b.bootstrap, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o %s\\n'], { timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [o, v] = l.split(' ');
      return [Number(o), v!] as [number, string];
    });
}

async function createTopic(b: BrokerProcess, topic: string): Promise<void> {
  const res = await kfk(['topics', '--bootstrap-server', b.bootstrap, '--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1']);
  expect(res.code, res.stderr).toBe(0);
}

/** Fetch (v4), ListOffsets (v1) and DeleteRecords (v0, below offset 0: a no-op) error codes for partition 0 of `topic`. */
async function partitionErrors(b: BrokerProcess, topic: string): Promise<{ fetch: number; listOffsets: number; deleteRecords: number }> {
  const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: b.port, clientId: 'storage-faults-test' });
  try {
    const fetched = await conn.request(
      1,
      { replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }] },
      { version: 4 },
    );
    const listed = await conn.request(2, { replicaId: -1, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -2 }] }] }, { version: 1 });
    const deleted = await conn.request(21, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset: 0 }] }], timeoutMs: 5000 }, { version: 0 });
    return {
      fetch: fetched.responses[0].partitions[0].errorCode,
      listOffsets: listed.topics[0].partitions[0].errorCode,
      deleteRecords: deleted.topics[0].partitions[0].errorCode,
    };
  } finally {
    conn.close();
  }
}

/** The log dir event notifications in the embedded registry's file (kfk-registry.json in the first log dir). */
function logDirEvents(firstLogDir: string): { path: string; text: string | undefined }[] {
  const snap = JSON.parse(fs.readFileSync(path.join(firstLogDir, 'kfk-registry.json'), 'utf8')) as { nodes: { path: string; text?: string }[] };
  return snap.nodes.filter((n) => n.path.startsWith('/log_dir_event_notification/log_dir_event_')).map((n) => ({ path: n.path, text: n.text }));
}

function valueIndex(v: string): number {
  return Number(/^[a-z]+-(\d+)-/.exec(v)![1]);
}

describe('a log dir that fills up', () => {
  afterEach(unmountAll);
  afterAll(unmountAll);

  it.skipIf(!isRoot)('with two log dirs: the full one goes offline, the other keeps serving, nothing acknowledged is lost', async () => {
    const normalDir = makeTempDir('kfk-dir-');
    const smallDir = await mountTmpfs();
    let broker = await startBrokerProcess({ overrides: { 'log.dirs': `${normalDir},${smallDir}` } });
    // new logs go to the dir with the fewest logs (the first on a tie): 'steady' lands in the normal dir,
    // 'filling' on the tmpfs
    await createTopic(broker, 'steady');
    await createTopic(broker, 'filling');
    expect(fs.existsSync(path.join(normalDir, 'steady-0'))).toBe(true);
    expect(fs.existsSync(path.join(smallDir, 'filling-0'))).toBe(true);

    const ballast = fillLeaving(smallDir, HEADROOM_BYTES);
    const outcome = await produce(broker.bootstrap, 'filling', 400, 'f');
    expect(outcome.acked.length).toBeGreaterThan(20);
    expect(outcome.acked.length).toBeLessThan(400);
    expect(outcome.failed.KAFKA_STORAGE_ERROR ?? 0).toBeGreaterThan(0);
    expect(Object.values(outcome.failed).reduce((s, n) => s + n, 0) + outcome.acked.length).toBe(400);

    // logged once, with the dir and the cause; the partition is offline for fetch and list offsets too
    const resolvedSmall = path.resolve(smallDir);
    await waitFor(() => broker.stderr().includes(`Log dir ${resolvedSmall} is offline`), { message: 'the offline log line' });
    const causeLines = broker.stderr().split('\n').filter((l) => l.includes(`in dir ${resolvedSmall}: ENOSPC`));
    expect(causeLines, broker.stderr()).toHaveLength(1);
    expect(await partitionErrors(broker, 'filling')).toEqual({
      fetch: ErrorCode.KAFKA_STORAGE_ERROR,
      listOffsets: ErrorCode.KAFKA_STORAGE_ERROR,
      deleteRecords: ErrorCode.KAFKA_STORAGE_ERROR,
    });
    // and the controller is told, the way Kafka tells it (a log dir event notification, which it reads and deletes),
    // with the replicas in the failed dir recorded for it: the partition (its only replica offline) goes offline
    // (two lines of one process, in no fixed order: the broker logs its write once the registry answered it, and the
    // controller's watch may fire first)
    await waitFor(() => /controller: broker \d+ has 1 replica\(s\) in failed log dirs: filling-0/.test(broker.stderr()), { message: 'the controller told' });
    await waitFor(() => /wrote \/log_dir_event_notification\/log_dir_event_\d+ for the failure of log dir /.test(broker.stderr()), {
      message: 'the broker logged the notification it wrote',
    });
    await waitFor(() => logDirEvents(normalDir).length === 0, { message: 'the notification processed and deleted' });
    expect(await partitionErrors(broker, 'filling')).toEqual({
      fetch: ErrorCode.KAFKA_STORAGE_ERROR,
      listOffsets: ErrorCode.KAFKA_STORAGE_ERROR,
      deleteRecords: ErrorCode.KAFKA_STORAGE_ERROR,
    });

    // the other dir keeps taking and serving records
    const steady = await kcat(['-b', broker.bootstrap, '-P', '-t', 'steady', '-p', '0', '-X', 'acks=all'], { input: 'one\ntwo\nthree\n' });
    expect(steady.code, steady.stderr).toBe(0);
    expect((await readAll(broker, 'steady')).map(([, v]) => v)).toEqual(['one', 'two', 'three']);
    expect(await partitionErrors(broker, 'steady')).toEqual({ fetch: ErrorCode.NONE, listOffsets: ErrorCode.NONE, deleteRecords: ErrorCode.NONE });

    // a clean stop: the healthy dir is marked clean, the failed one is not (it is recovered at the next start)
    expect(await broker.stop()).toBe(0);
    expect(fs.existsSync(path.join(normalDir, '.kafka_cleanshutdown'))).toBe(true);
    expect(fs.existsSync(path.join(smallDir, '.kafka_cleanshutdown'))).toBe(false);

    // space freed, restarted: exactly the acknowledged records, in order, at the offsets they were acknowledged at
    fs.rmSync(ballast);
    broker = await startBrokerProcess({ port: broker.port, overrides: { 'log.dirs': `${normalDir},${smallDir}` } });
    const got = await readAll(broker, 'filling');
    expect(got).toEqual([...outcome.acked].sort((x, y) => x[0] - y[0]));
    got.forEach(([o], i) => expect(o).toBe(i));
    for (let i = 1; i < got.length; i++) expect(valueIndex(got[i]![1])).toBeGreaterThan(valueIndex(got[i - 1]![1]));
    expect((await readAll(broker, 'steady')).map(([, v]) => v)).toEqual(['one', 'two', 'three']);
    // and the recovered dir takes writes again
    const more = await produce(broker.bootstrap, 'filling', 5, 'g');
    expect(more.failed).toEqual({});
    expect(more.acked.map(([o]) => o)).toEqual([0, 1, 2, 3, 4].map((i) => got.length + i));
    expect(await broker.stop()).toBe(0);
  });

  it.skipIf(!isRoot)('with one log dir: the broker shuts down cleanly and exits non-zero; after freeing space every acknowledged record is there', async () => {
    const onlyDir = await mountTmpfs();
    let broker = await startBrokerProcess({ dataDir: onlyDir });
    await createTopic(broker, 'filling');
    const ballast = fillLeaving(onlyDir, HEADROOM_BYTES);
    const outcome = await produce(broker.bootstrap, 'filling', 400, 'f');
    expect(outcome.acked.length).toBeGreaterThan(20);
    expect(outcome.acked.length).toBeLessThan(400);
    // the produce that met the full disk is answered before the broker goes (the rest fail on the closed socket)
    expect(outcome.failed.KAFKA_STORAGE_ERROR ?? 0, JSON.stringify(outcome.failed)).toBeGreaterThan(0);

    const exit = await broker.exited;
    expect(exit.code).toBe(1);
    const resolved = path.resolve(onlyDir);
    expect(broker.stderr()).toContain(`Shutdown broker because all log dirs in ${resolved} have failed`);
    expect(broker.stderr().split('\n').filter((l) => l.includes(`in dir ${resolved}: ENOSPC`))).toHaveLength(1);
    expect(fs.existsSync(path.join(onlyDir, '.kafka_cleanshutdown'))).toBe(false);

    fs.rmSync(ballast);
    broker = await startBrokerProcess({ port: broker.port, dataDir: onlyDir });
    const got = await readAll(broker, 'filling');
    expect(got).toEqual([...outcome.acked].sort((x, y) => x[0] - y[0]));
    expect(await broker.stop()).toBe(0);
  });
});
