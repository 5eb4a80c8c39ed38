/**
 * confluent-kafka-python 1.7.0 (on librdkafka 2.0.2) against a kfk broker process, driven by
 * test/clients/ck_client.py: AdminClient.create_topics / list_topics, Producer with lz4 and delivery reports,
 * Consumer by assignment (OFFSET_BEGINNING) reading everything back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, python, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

const SCRIPT = path.join(REPO_ROOT, 'test', 'clients', 'ck_client.py');

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess();
});

interface InRecord {
  key?: string | null;
  value: string | null;
  headers?: [string, string | null][];
  partition?: number;
  timestamp?: number;
}
interface Report {
  error: string | null;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
}
interface OutRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp: number;
}
interface TopicsListing {
  brokers: { id: number; host: string; port: number }[];
  controller_id: number;
  topics: Record<string, { partitions: number[]; leaders: Record<string, number>; error: string | null }>;
}

async function ck<T>(command: string, args: Record<string, unknown>): Promise<T> {
  const res = await python(SCRIPT, [command, JSON.stringify({ bootstrap: broker.bootstrap, ...args })], { timeoutMs: 40_000 });
  expect(res.code, `${command} failed:\n${res.stderr}`).toBe(0);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

function storedCompressionCodes(topic: string, partitions: number): number[] {
  const codes: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const dir = path.join(broker.dataDir, `${topic}-${p}`);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log'))) {
      codes.push(...decodeRecordBatches(fs.readFileSync(path.join(dir, f))).map((b) => b.compression));
    }
  }
  return codes;
}

function sampleRecords(tag: string, n: number): InRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `${tag}-${i}`,
    value: `${tag} value ${i}: ${'lz4 likes repetition '.repeat(5 + i)}ß`,
    headers: i % 2 === 0 ? [['idx', String(i)], ['tag', tag]] : [],
    timestamp: 1_700_000_000_000 + i * 10,
  }));
}

function expected(records: InRecord[], partitions: number): OutRecord[] {
  const next = new Array<number>(partitions).fill(0);
  return records
    .map((r) => {
      const partition = r.partition ?? partitionForKey(Buffer.from(r.key!), partitions);
      return {
        partition,
        offset: next[partition]!++,
        key: r.key ?? null,
        value: r.value,
        headers: r.headers ?? [],
        timestamp: r.timestamp!,
      };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

describe('AdminClient', () => {
  it('create_topics, then list_topics shows them with their partition counts', async () => {
    const created = await ck<Record<string, string | null>>('create_topics', {
      topics: [
        { name: 'ck-admin-four', partitions: 4 },
        { name: 'ck-admin-one', partitions: 1 },
      ],
    });
    expect(created).toEqual({ 'ck-admin-four': null, 'ck-admin-one': null });

    const listing = await ck<TopicsListing>('list_topics', {});
    expect(listing.brokers).toEqual([{ id: 0, host: '127.0.0.1', port: broker.port }]);
    expect(listing.controller_id).toBe(0);
    expect(listing.topics['ck-admin-four']).toEqual({ partitions: [0, 1, 2, 3], leaders: { 0: 0, 1: 0, 2: 0, 3: 0 }, error: null });
    expect(listing.topics['ck-admin-one']).toEqual({ partitions: [0], leaders: { 0: 0 }, error: null });
  });

  it('create_topics of an existing topic fails with TOPIC_ALREADY_EXISTS', async () => {
    await ck('create_topics', { topics: [{ name: 'ck-admin-dup', partitions: 2 }] });
    const again = await ck<Record<string, string | null>>('create_topics', { topics: [{ name: 'ck-admin-dup', partitions: 2 }] });
    expect(again['ck-admin-dup']).toMatch(/TOPIC_ALREADY_EXISTS/);
    const listing = await ck<TopicsListing>('list_topics', {});
    expect(listing.topics['ck-admin-dup']!.partitions).toEqual([0, 1]);
  });
});

describe('Producer (lz4) and Consumer by assignment', () => {
  const PARTITIONS = 3;

  it('compression.type=lz4: every delivery report succeeds; assign(OFFSET_BEGINNING) reads everything back', async () => {
    const topic = 'ck-lz4';
    await ck('create_topics', { topics: [{ name: topic, partitions: PARTITIONS }] });
    const records = sampleRecords('lz4', 30);
    const out = await ck<{ reports: Report[]; undelivered: number }>('produce', {
      topic,
      records,
      config: { 'compression.type': 'lz4', partitioner: 'murmur2_random', acks: 'all' },
    });
    expect(out.undelivered).toBe(0);
    expect(out.reports).toHaveLength(records.length);
    expect(out.reports.filter((r) => r.error !== null)).toEqual([]);
    const want = expected(records, PARTITIONS);
    expect(
      out.reports.map((r) => [r.partition, r.offset, r.key, r.timestamp]).sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number)),
    ).toEqual(want.map((r) => [r.partition, r.offset, r.key, r.timestamp]));

    const consumed = await ck<{ records: OutRecord[]; high: Record<string, number> }>('consume', {
      topic,
      partitions: [0, 1, 2],
    });
    expect(consumed.records).toEqual(want);
    expect(consumed.high).toEqual(
      Object.fromEntries([0, 1, 2].map((p) => [String(p), want.filter((r) => r.partition === p).length])),
    );
  });

  // librdkafka 2.0.2 silently produces gzip/snappy/lz4 batches uncompressed unless the broker's Produce range
  // contains v0 (see the report in kcat.test.ts); the stored batches show what the client really sent.
  it('compression.type=lz4: the producer really sends (and the broker stores) lz4 batches', async () => {
    const topic = 'ck-lz4-stored';
    await ck('create_topics', { topics: [{ name: topic, partitions: 1 }] });
    const out = await ck<{ reports: Report[] }>('produce', {
      topic,
      records: sampleRecords('stored', 10),
      config: { 'compression.type': 'lz4' },
    });
    expect(out.reports.filter((r) => r.error !== null)).toEqual([]);
    expect(new Set(storedCompressionCodes(topic, 1))).toEqual(new Set([CompressionType.lz4]));
  });

  it('explicit partitions, null keys and null values', async () => {
    const topic = 'ck-explicit';
    await ck('create_topics', { topics: [{ name: topic, partitions: 2 }] });
    const records: InRecord[] = [
      { key: null, value: 'keyless', partition: 1, timestamp: 1_700_000_000_000 },
      { key: 'deleted', value: null, partition: 1, timestamp: 1_700_000_000_001 },
      { key: 'p0', value: 'on zero', partition: 0, timestamp: 1_700_000_000_002 },
    ];
    const out = await ck<{ reports: Report[] }>('produce', { topic, records });
    expect(out.reports.filter((r) => r.error !== null)).toEqual([]);
    const consumed = await ck<{ records: OutRecord[] }>('consume', { topic, partitions: [0, 1] });
    expect(consumed.records).toEqual(expected(records, 2));
  });
});
