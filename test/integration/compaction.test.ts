/**
 * Log compaction against a kfk broker process (1 KiB segments, the cleaner polling every 100 ms): a topic created
 * with `cleanup.policy=compact` and `min.cleanable.dirty.ratio=0.01` receives many updates per key from kcat; the
 * cleaner shrinks its segments and moves cleaner-offset-checkpoint; then kcat `-o beginning` and kafka-python see
 * only the latest value per key, at their original offsets (with gaps). Tombstones go after delete.retention.ms.
 * A record without a key is refused with INVALID_RECORD.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { REPO_ROOT, kcat, kfk, python, registerCleanup, sleep, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
const SEGMENT_BYTES = 1024;
const KEYS = 10;
const ROUNDS = 12;

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: {
      'log.segment.bytes': String(SEGMENT_BYTES),
      'log.cleaner.backoff.ms': '100',
      'log.segment.delete.delay.ms': '100',
    },
  });
});

async function createTopic(topic: string, configs: string[]): Promise<void> {
  const args = ['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1'];
  for (const c of configs) args.push('--config', c);
  const res = await kfk(args);
  expect(res.code, res.stderr).toBe(0);
}

/** `key:value` lines, one batch each (~300 bytes, so a 1 KiB segment holds about three). */
async function produce(topic: string, lines: string[], extra: string[] = []): Promise<{ code: number | null; stderr: string }> {
  return kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-K:', '-X', 'batch.num.messages=1', '-X', 'linger.ms=0', ...extra], {
    input: lines.join('\n') + '\n',
  });
}

const pad = (s: string): string => `${s}-${'x'.repeat(280)}`;

/** kcat's view from the beginning: `key=value@offset` (values without their padding). */
async function kcatView(topic: string): Promise<string[]> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-Z', '-f', '%k=%s@%o\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/-x+@/, '@'));
}

const partitionDir = (topic: string): string => path.join(broker.dataDir, `${topic}-0`);
const logBytes = (topic: string): number =>
  fs
    .readdirSync(partitionDir(topic))
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + fs.statSync(path.join(partitionDir(topic), f)).size, 0);

function cleanerCheckpoint(topic: string): number | undefined {
  const file = path.join(broker.dataDir, 'cleaner-offset-checkpoint');
  if (!fs.existsSync(file)) return undefined;
  const line = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${topic} 0 `));
  return line === undefined ? undefined : Number(line.split(' ')[2]);
}

describe('log compaction', () => {
  it('keeps the latest value per key at its offset; kcat and kafka-python read the compacted log', async () => {
    const topic = 'compacted';
    await createTopic(topic, ['cleanup.policy=compact', `segment.bytes=${SEGMENT_BYTES}`, 'min.cleanable.dirty.ratio=0.01']);
    const lines: string[] = [];
    for (let r = 0; r < ROUNDS; r++) for (let k = 0; k < KEYS; k++) lines.push(`k${k}:${pad(`r${r}`)}`);
    // unique keys last, so the active segment holds no older value of k0..k9
    for (let f = 0; f < 6; f++) lines.push(`filler${f}:${pad('f')}`);
    const res = await produce(topic, lines);
    expect(res.code, res.stderr).toBe(0);
    const total = lines.length;
    const bytesProduced = total * 300; // at least: each record is one batch of more than 300 bytes

    // the latest value of key k is at offset (ROUNDS-1)*KEYS + k
    const expectedKeys = Array.from({ length: KEYS }, (_, k) => `k${k}=r${ROUNDS - 1}@${(ROUNDS - 1) * KEYS + k}`);
    let view: string[] = [];
    await waitFor(
      async () => {
        view = await kcatView(topic);
        return view.filter((l) => l.startsWith('k')).length === KEYS;
      },
      { timeoutMs: 30_000, intervalMs: 300, message: 'the cleaner to compact the topic' },
    );
    expect(view.slice(0, KEYS)).toEqual(expectedKeys);
    expect(view.slice(KEYS).every((l) => l.startsWith('filler'))).toBe(true);
    expect(logBytes(topic)).toBeLessThan(bytesProduced / 3);
    expect(cleanerCheckpoint(topic)).toBeGreaterThan((ROUNDS - 1) * KEYS + KEYS - 1);

    // kafka-python reads the same records at the same offsets, skipping the gaps
    const kp = await python(KP, ['consume', JSON.stringify({ bootstrap: broker.bootstrap, topic, partitions: [0] })]);
    expect(kp.code, kp.stderr).toBe(0);
    const consumed = (JSON.parse(kp.stdout) as { records: { key: string; value: string; offset: number }[]; end_offsets: Record<string, number> });
    expect(consumed.end_offsets['0']).toBe(total);
    expect(consumed.records.map((r) => `${r.key}=${r.value.replace(/-x+$/, '')}@${r.offset}`)).toEqual(view);

    // appends continue at the log end offset
    const more = await produce(topic, [`k0:${pad('after')}`]);
    expect(more.code, more.stderr).toBe(0);
    expect((await kcatView(topic)).at(-1)).toBe(`k0=after@${total}`);
  });

  it('removes a tombstone once delete.retention.ms has passed', async () => {
    const topic = 'tombstones';
    await createTopic(topic, ['cleanup.policy=compact', `segment.bytes=${SEGMENT_BYTES}`, 'min.cleanable.dirty.ratio=0.01', 'delete.retention.ms=4000']);
    const lines = [`a:${pad('1')}`, `b:${pad('1')}`, `a:${pad('2')}`, 'a:'];
    for (let f = 0; f < 6; f++) lines.push(`filler${f}:${pad('f')}`);
    expect((await produce(topic, lines, ['-Z'])).code).toBe(0);
    // the first clean keeps the tombstone (younger than 4 s)
    let view: string[] = [];
    await waitFor(
      async () => {
        view = await kcatView(topic);
        return !view.some((l) => l.startsWith('a=1') || l.startsWith('a=2'));
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'the first clean' },
    );
    expect(view.slice(0, 2)).toEqual(['b=1@1', 'a=NULL@3']); // -Z: a null value shows as NULL
    // once it is older than delete.retention.ms, the next clean (made due by new records) drops it; waiting out the
    // 4 s is the point here (the tombstone must age by the broker's clock), not synchronisation
    await sleep(4100);
    const more: string[] = [];
    for (let f = 0; f < 6; f++) more.push(`later${f}:${pad('f')}`);
    expect((await produce(topic, more)).code).toBe(0);
    await waitFor(async () => !(await kcatView(topic)).some((l) => l.startsWith('a=')), {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'the tombstone to be removed',
    });
    expect((await kcatView(topic))[0]).toBe('b=1@1');
  });

  it('refuses a record without a key with INVALID_RECORD', async () => {
    const topic = 'compacted-keyless';
    await createTopic(topic, ['cleanup.policy=compact']);
    const res = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0'], { input: 'no key here\n' });
    // librdkafka's text for INVALID_RECORD (87)
    expect(res.stdout + res.stderr).toMatch(/Broker failed to validate record/);
    // kafkajs names the error code (kafka-python 2.0 predates code 87 and reports UnknownError)
    const kafka = new Kafka({ clientId: 'kfk-compaction-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      const err = await producer.send({ topic, messages: [{ value: 'v', partition: 0 }] }).then(
        () => null,
        (e: unknown) => e as { type?: string; message?: string },
      );
      expect(err?.type).toBe('INVALID_RECORD');
    } finally {
      await producer.disconnect();
    }
    // with a key it is accepted
    expect((await produce(topic, ['k:v'])).code).toBe(0);
    expect(await kcatView(topic)).toEqual(['k=v@0']);
  });
});
