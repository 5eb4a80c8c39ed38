/**
 * The crash test of the storage engine (issue 3): kill -9 during a produce load (kafka-python, acks=all,
 * recording every acknowledged offset), garbage appended to the active segment and a damaged `.index` before
 * the restart; after it every acknowledged record is read back exactly once and in order (kcat) and new appends
 * continue right after them. Also: a flush.messages=1 topic, LogAppendTime through kcat `%T`, and the
 * leader-epoch-checkpoint / replication-offset-checkpoint files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  SYSTEM_PYTHON,
  kcat,
  kfk,
  python,
  registerCleanup,
  spawnProcess,
  startBrokerProcess,
  waitFor,
  type BackgroundProcess,
  type BrokerProcess,
} from '../helpers/index.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');

/** kafka-python: sends `<prefix><i>` for i = 0, 1, ... (acks=all, a few in flight) until killed; prints `ack <value> <offset>`. */
const LOAD_PRODUCER = `
import sys, json, time
from kafka import KafkaProducer
args = json.loads(sys.argv[1])
p = KafkaProducer(bootstrap_servers=args['bootstrap'], acks='all', linger_ms=2, retries=0,
                  max_in_flight_requests_per_connection=1, request_timeout_ms=3000)
print('ready', flush=True)
def on_ok(value):
    return lambda md: print('ack %s %d' % (value, md.offset), flush=True)
def on_fail(value):
    return lambda err: print('fail %s %s' % (value, type(err).__name__), flush=True)
i = 0
while True:
    v = '%s%d-%s' % (args['prefix'], i, 'x' * 200)
    try:
        p.send(args['topic'], value=v.encode(), partition=0).add_callback(on_ok(v)).add_errback(on_fail(v))
    except Exception:
        time.sleep(0.05)  # the buffer is full: back off (pacing, not synchronisation)
    i += 1
    if i % 50 == 0:
        time.sleep(0.002)  # pacing: leave the broker some CPU on a 2-core machine
`;

function acked(proc: BackgroundProcess): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of proc.stdout().matchAll(/^ack (\S+) (\d+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** Every record of partition 0 as [offset, value], in log order. */
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

function activeSegment(partitionDir: string): string {
  const logs = fs.readdirSync(partitionDir).filter((f) => f.endsWith('.log')).sort();
  return path.join(partitionDir, logs[logs.length - 1]!);
}

describe('crash safety of an acknowledged write', () => {
  let broker: BrokerProcess | undefined;
  afterAll(async () => {
    if (broker && !broker.hasExited()) await broker.stop();
  });

  it('kill -9 under load, garbage and a damaged index: every acknowledged record once, in order, appends continue', async () => {
    broker = await startBrokerProcess({
      overrides: { 'log.segment.bytes': '65536', 'log.index.interval.bytes': '256', 'replica.high.watermark.checkpoint.interval.ms': '200' },
    });
    const created = await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'load', '--partitions', '1', '--replication-factor', '1']);
    expect(created.code, created.stderr).toBe(0);
    const producer = spawnProcess(SYSTEM_PYTHON, ['-c', LOAD_PRODUCER, JSON.stringify({ bootstrap: broker.bootstrap, topic: 'load', prefix: 'v' })], {
      env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    try {
      await producer.waitForOutput('ready\n', { timeoutMs: 15_000 });
      await waitFor(() => acked(producer).size >= 3000, { timeoutMs: 30_000, message: '3000 acknowledged records' });
      const failures = (): number => producer.stdout().match(/^fail /gm)?.length ?? 0;
      const failedBefore = failures();
      await broker.kill9(); // while the producer keeps sending
      // A send failing after the kill shows the producer saw the connection go: every ack the broker sent before
      // dying has been printed by then.
      await waitFor(() => failures() > failedBefore, { timeoutMs: 30_000, message: 'the producer to see the broker gone' });
    } finally {
      await producer.stop('SIGKILL');
    }
    const acks = acked(producer);
    expect(acks.size).toBeGreaterThanOrEqual(3000);

    const partitionDir = path.join(broker.dataDir, 'load-0');
    expect(fs.readdirSync(partitionDir).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(1);
    const active = activeSegment(partitionDir);
    fs.appendFileSync(active, Buffer.from('this is not a record batch, just garbage at the end of the segment'.repeat(3)));
    // damage the newest offset index (the active segment's, unless the kill came before it was created) with
    // non-monotonic entries, and the oldest one so that it is not a whole number of entries
    const indexes = fs.readdirSync(partitionDir).filter((f) => f.endsWith('.index')).sort();
    const index = path.join(partitionDir, indexes[indexes.length - 1]!);
    fs.writeFileSync(index, Buffer.concat([Buffer.alloc(16, 0xff), fs.readFileSync(index).subarray(16)]));
    const older = indexes[0]!;
    fs.truncateSync(path.join(partitionDir, older), Math.max(0, fs.statSync(path.join(partitionDir, older)).size - 3));

    broker = await broker.restart();
    const got = await readAll(broker, 'load');
    // offsets contiguous from 0, values unique and in the order they were sent
    got.forEach(([o], i) => expect(o).toBe(i));
    const values = got.map(([, v]) => v);
    expect(new Set(values).size).toBe(values.length);
    const seq = values.map((v) => Number(/^v(\d+)-/.exec(v)![1]));
    for (let i = 1; i < seq.length; i++) expect(seq[i]!).toBeGreaterThan(seq[i - 1]!);
    // every acknowledged record exactly once, at its acknowledged offset
    const byValue = new Map(got.map(([o, v]) => [v, o]));
    for (const [v, o] of acks) expect(byValue.get(v), v).toBe(o);

    // new appends continue right after the last good record
    const end = got.length;
    const more = await kcat(['-b', broker.bootstrap, '-P', '-t', 'load', '-p', '0', '-X', 'acks=all'], { input: 'after-0\nafter-1\nafter-2\n' });
    expect(more.code, more.stderr).toBe(0);
    const after = await readAll(broker, 'load');
    expect(after.slice(end)).toEqual([
      [end, 'after-0'],
      [end + 1, 'after-1'],
      [end + 2, 'after-2'],
    ]);
    expect(after.slice(0, end)).toEqual(got);

    // leader-epoch-checkpoint: version 0, one epoch starting at offset 0
    expect(fs.readFileSync(path.join(partitionDir, 'leader-epoch-checkpoint'), 'utf8')).toMatch(/^0\n1\n\d+ 0\n$/);
    // replication-offset-checkpoint follows the high watermark (every 200 ms here)
    const hwFile = path.join(broker.dataDir, 'replication-offset-checkpoint');
    await waitFor(() => fs.existsSync(hwFile) && fs.readFileSync(hwFile, 'utf8').includes(`load 0 ${end + 3}\n`), {
      timeoutMs: 10_000,
      message: 'replication-offset-checkpoint with the high watermark',
    });
    expect(fs.readFileSync(hwFile, 'utf8')).toMatch(/^0\n\d+\n/);
  }, 90_000);

  it('flush.messages=1: every acknowledged write is read back after kill -9', async () => {
    if (!broker || broker.hasExited()) broker = await startBrokerProcess();
    const created = await kfk([
      'topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'durable', '--partitions', '1', '--replication-factor', '1',
      '--config', 'flush.messages=1',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const lines = Array.from({ length: 300 }, (_, i) => `d${i}`);
    const r = await kcat(['-b', broker.bootstrap, '-P', '-t', 'durable', '-p', '0', '-X', 'acks=all', '-X', 'linger.ms=1'], { input: lines.map((l) => `${l}\n`).join('') });
    expect(r.code, r.stderr).toBe(0);
    await broker.kill9();
    broker = await broker.restart();
    expect(await readAll(broker, 'durable')).toEqual(lines.map((l, i) => [i, l]));
  }, 60_000);

  it('message.timestamp.type=LogAppendTime: consumers see the broker time (kcat %T)', async () => {
    if (!broker || broker.hasExited()) broker = await startBrokerProcess();
    const created = await kfk([
      'topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'stamped', '--partitions', '1', '--replication-factor', '1',
      '--config', 'message.timestamp.type=LogAppendTime',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const before = Date.now();
    const p = await kcat(['-b', broker.bootstrap, '-P', '-t', 'stamped', '-p', '0', '-X', 'acks=all'], { input: 'x\ny\n' });
    expect(p.code, p.stderr).toBe(0);
    const afterProduce = Date.now();
    const c = await kcat(['-b', broker.bootstrap, '-C', '-t', 'stamped', '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%T %s\\n']);
    expect(c.code, c.stderr).toBe(0);
    const rows = c.stdout.split('\n').filter(Boolean).map((l) => l.split(' '));
    expect(rows.map((r) => r[1])).toEqual(['x', 'y']);
    for (const [ts] of rows) {
      expect(Number(ts)).toBeGreaterThanOrEqual(before - 1000);
      expect(Number(ts)).toBeLessThanOrEqual(afterProduce + 1000);
    }
    // a producer's own (old) CreateTime is replaced by the broker's time, returned as log_append_time
    const kp = await python(KP, ['produce', JSON.stringify({ bootstrap: broker.bootstrap, topic: 'stamped', acks: -1, records: [{ value: 'old', timestamp_ms: 1000, partition: 0 }] })], { timeoutMs: 30_000 });
    expect(kp.code, kp.stderr).toBe(0);
    const [res] = (JSON.parse(kp.stdout) as { results: { offset: number; timestamp: number }[] }).results;
    expect(res!.offset).toBe(2);
    expect(res!.timestamp).toBeGreaterThanOrEqual(before);
    const c2 = await kcat(['-b', broker.bootstrap, '-C', '-t', 'stamped', '-p', '0', '-o', '2', '-e', '-q', '-f', '%T %s\\n']);
    expect(c2.code, c2.stderr).toBe(0);
    expect(c2.stdout).toBe(`${res!.timestamp} old\n`);
  }, 60_000);
});
