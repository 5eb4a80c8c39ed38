/**
 * Retention and DeleteRecords against a kfk broker process (retention checked every 200 ms, small segments):
 * topics created by `kfk topics --create --config retention.ms=... / retention.bytes=...` lose their old
 * segments; kcat `-o beginning` then starts at the new log start offset and kafka-python's beginning_offsets
 * follows. DeleteRecords from kafkajs (admin.deleteTopicRecords) moves the log start offset; confluent-kafka
 * 1.7's AdminClient has no delete_records, so that client is skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { REPO_ROOT, kcat, kfk, python, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
const SEGMENT_BYTES = 1024;

let broker: BrokerProcess;
let admin: Admin;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: {
      'log.retention.check.interval.ms': '200',
      'log.segment.bytes': String(SEGMENT_BYTES),
      'log.segment.delete.delay.ms': '100',
    },
  });
  admin = new Kafka({ clientId: 'kfk-retention-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
});

async function createTopic(topic: string, configs: string[]): Promise<void> {
  const args = ['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', topic, '--partitions', '1', '--replication-factor', '1'];
  for (const c of configs) args.push('--config', c);
  const res = await kfk(args);
  expect(res.code, res.stderr).toBe(0);
}

/** `n` records of ~300 bytes, one batch each (so a 1 KiB segment holds about three). */
async function produce(topic: string, n: number, from = 0): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => `k${from + i}:v${from + i}-${'x'.repeat(280)}`);
  const res = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-K:', '-X', 'batch.num.messages=1', '-X', 'linger.ms=0'], {
    input: lines.join('\n') + '\n',
  });
  expect(res.code, res.stderr).toBe(0);
}

const partitionDir = (topic: string): string => path.join(broker.dataDir, `${topic}-0`);

function segmentFiles(topic: string): { base: number; size: number }[] {
  return fs
    .readdirSync(partitionDir(topic))
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => ({ base: Number(f.slice(0, 20)), size: fs.statSync(path.join(partitionDir(topic), f)).size }));
}

async function beginningAndEnd(topic: string): Promise<{ beginning: number; end: number }> {
  const res = await python(KP, ['offsets', JSON.stringify({ bootstrap: broker.bootstrap, topic, partitions: [0] })]);
  expect(res.code, res.stderr).toBe(0);
  const out = JSON.parse(res.stdout) as { beginning: Record<string, number>; end: Record<string, number> };
  return { beginning: out.beginning['0']!, end: out.end['0']! };
}

/** Offsets kcat reads with `-o beginning` to the end of the partition. */
async function kcatOffsets(topic: string): Promise<number[]> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l !== '').map(Number);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('retention', () => {
  it('retention.ms: old segments go, the active one stays, and consumers start at the new log start offset', async () => {
    const topic = 'ret-time';
    await createTopic(topic, ['retention.ms=1500', `segment.bytes=${SEGMENT_BYTES}`]);
    await produce(topic, 12); // about four segments of three batches
    // all but the active segment expire 1.5 s after their records' CreateTime
    await waitFor(() => segmentFiles(topic).length === 1, { timeoutMs: 15_000, intervalMs: 100, message: 'expired segments to be deleted' });
    const [active] = segmentFiles(topic);
    expect(active!.base).toBeGreaterThan(0);
    // .deleted files are removed after log.segment.delete.delay.ms
    await waitFor(() => !fs.readdirSync(partitionDir(topic)).some((f) => f.endsWith('.deleted')), { timeoutMs: 10_000, message: '.deleted files to go' });
    expect(await beginningAndEnd(topic)).toEqual({ beginning: active!.base, end: 12 });
    expect(await kcatOffsets(topic)).toEqual(range(active!.base, 12));
  });

  it('retention.bytes: the oldest segments go until the log minus its oldest segment is below retention.bytes', async () => {
    const topic = 'ret-size';
    const retentionBytes = 2 * SEGMENT_BYTES;
    await createTopic(topic, [`retention.bytes=${retentionBytes}`, `segment.bytes=${SEGMENT_BYTES}`]);
    await produce(topic, 20);
    await waitFor(
      () => {
        const segs = segmentFiles(topic);
        const total = segs.reduce((n, s) => n + s.size, 0);
        return segs[0]!.base > 0 && total - segs[0]!.size < retentionBytes;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: 'size retention to delete the oldest segments' },
    );
    const first = segmentFiles(topic)[0]!.base;
    expect(await beginningAndEnd(topic)).toEqual({ beginning: first, end: 20 });
    expect(await kcatOffsets(topic)).toEqual(range(first, 20));
  });

  it('without retention settings nothing is deleted', async () => {
    const topic = 'ret-none';
    await createTopic(topic, [`segment.bytes=${SEGMENT_BYTES}`]);
    await produce(topic, 9);
    const before = segmentFiles(topic).map((s) => s.base);
    // A negative check, with a control topic under retention.bytes in the same broker to show that retention checks
    // ran meanwhile: once the control lost segments in two separate checks (each goes over every log), 'ret-none' has
    // been through at least one whole check.
    const control = 'ret-none-control';
    await createTopic(control, [`retention.bytes=${SEGMENT_BYTES}`, `segment.bytes=${SEGMENT_BYTES}`]);
    for (const round of [0, 1]) {
      await produce(control, 9, round * 9);
      await waitFor(() => segmentFiles(control)[0]!.base > round * 9, {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: `retention check ${round + 1} on the control topic`,
      });
    }
    expect(segmentFiles(topic).map((s) => s.base)).toEqual(before);
    expect(await beginningAndEnd(topic)).toEqual({ beginning: 0, end: 9 });
  });
});

describe('DeleteRecords', () => {
  it('kafkajs admin.deleteTopicRecords moves the log start offset; consumers and ListOffsets follow', async () => {
    const topic = 'delrec-kafkajs';
    await createTopic(topic, [`segment.bytes=${SEGMENT_BYTES}`]);
    await produce(topic, 10);
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs finds the leader in its cached metadata
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '5' }] });
    expect(await beginningAndEnd(topic)).toEqual({ beginning: 5, end: 10 });
    expect(await kcatOffsets(topic)).toEqual(range(5, 10));
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '5', high: '10' })]);
    // segments wholly below the new start are gone
    expect(segmentFiles(topic).every((s, i, all) => i === all.length - 1 || all[i + 1]!.base > 5)).toBe(true);

    // -1: up to the high watermark
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '-1' }] });
    expect(await beginningAndEnd(topic)).toEqual({ beginning: 10, end: 10 });
    expect(await kcatOffsets(topic)).toEqual([]);
    // new records are appended after it and readable
    await produce(topic, 2, 10);
    expect(await kcatOffsets(topic)).toEqual([10, 11]);
  });

  it('an offset above the high watermark is OFFSET_OUT_OF_RANGE', async () => {
    const topic = 'delrec-range';
    await createTopic(topic, []);
    await produce(topic, 3);
    await admin.fetchTopicMetadata({ topics: [topic] });
    const err = await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '99' }] }).then(
      () => null,
      (e: unknown) => (e as { cause?: { partitions?: { partition: number; error: { type: string } }[] } }).cause,
    );
    expect(err?.partitions?.map((p) => [p.partition, p.error.type])).toEqual([[0, 'OFFSET_OUT_OF_RANGE']]);
    expect(await beginningAndEnd(topic)).toEqual({ beginning: 0, end: 3 });
  });

  it('the log start offset survives a broker restart', async () => {
    const topic = 'delrec-restart';
    await createTopic(topic, []);
    await produce(topic, 6);
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] });
    await admin.disconnect();
    broker = await broker.restart();
    admin = new Kafka({ clientId: 'kfk-retention-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
    await admin.connect();
    expect(await beginningAndEnd(topic)).toEqual({ beginning: 4, end: 6 });
    expect(await kcatOffsets(topic)).toEqual([4, 5]);
  });

  // confluent-kafka-python 1.7 (the Debian package) predates AdminClient.delete_records, so DeleteRecords is
  // proven with kafkajs above.
});
