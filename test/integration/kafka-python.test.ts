/**
 * kafka-python 2.0.2 (Debian python3-kafka) against a kfk broker process, driven by test/clients/kp_client.py:
 * the version probe, KafkaProducer with acks 1/all/0 and every codec the client can load, KafkaConsumer by
 * assignment reading everything back, offsets_for_times, beginning_offsets and end_offsets.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  SYSTEM_PYTHON,
  python,
  registerCleanup,
  skipUnless,
  startBrokerProcess,
  startRecordingProxy,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

const SCRIPT = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
const PARTITIONS = 3;

// Which codecs the *client* can use here: python3-kafka has gzip built in; snappy, lz4 and zstd need the optional
// Debian packages below, which .ci/run installs. Without one the case is skipped (with that reason) on a developer's
// machine, and fails in CI (CI=true), where a missing package is a bug of .ci/run.
const clientCodecs = JSON.parse(execFileSync(SYSTEM_PYTHON, [SCRIPT, 'codecs'], { encoding: 'utf8' })) as Record<
  'gzip' | 'snappy' | 'lz4' | 'zstd',
  boolean
>;
const CODEC_PACKAGE = { gzip: 'python3-kafka', snappy: 'python3-snappy', lz4: 'python3-lz4', zstd: 'python3-zstandard' } as const;
const codecsRequired = process.env.CI === 'true';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: { 'num.partitions': String(PARTITIONS) } });
});

interface InRecord {
  key?: string | null;
  value: string | null;
  headers?: [string, string | null][];
  timestamp_ms?: number;
  partition?: number;
}
interface ProduceResult {
  api_version: number[];
  results: { partition: number; offset: number; timestamp: number }[];
}
interface OutRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp: number;
  timestamp_type: number;
}
interface ConsumeResult {
  records: OutRecord[];
  end_offsets: Record<string, number>;
}
interface OffsetsResult {
  beginning: Record<string, number>;
  end: Record<string, number>;
  for_times: Record<string, Record<string, [number, number] | null>>;
}

async function kp<T>(command: string, args: Record<string, unknown>, bootstrap = broker.bootstrap): Promise<T> {
  const res = await python(SCRIPT, [command, JSON.stringify({ bootstrap, ...args })], { timeoutMs: 40_000 });
  expect(res.code, `${command} failed:\n${res.stderr}`).toBe(0);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

function sampleRecords(tag: string, n = 15): InRecord[] {
  const base = 1_700_000_000_000;
  return Array.from({ length: n }, (_, i) => ({
    key: `${tag}-key-${i}`,
    value: `${tag} value ${i} ${'data '.repeat(i * 3)}ü€`,
    headers: i % 3 === 0 ? [] : [['trace', `t-${i}`], ['empty', ''], ['trace', 'repeated key']], // kafka-python: header values must be bytes (no null)
    timestamp_ms: base + i * 1000,
  }));
}

/** Compression codes of every stored batch of the topic (Kafka's on-disk layout `<topic>-<p>/<offset>.log`). */
function storedCompressionCodes(topic: string): number[] {
  const codes: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = path.join(broker.dataDir, `${topic}-${p}`);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log'))) {
      codes.push(...decodeRecordBatches(fs.readFileSync(path.join(dir, f))).map((b) => b.compression));
    }
  }
  return codes;
}

/** What a consumer should read back: each record on the murmur2 partition of its key, offsets numbered per partition. */
function expected(records: InRecord[]): OutRecord[] {
  const next = new Array<number>(PARTITIONS).fill(0);
  return records
    .map((r) => {
      const partition = r.partition ?? partitionForKey(Buffer.from(r.key!), PARTITIONS);
      return {
        partition,
        offset: next[partition]!++,
        key: r.key ?? null,
        value: r.value,
        headers: r.headers ?? [],
        timestamp: r.timestamp_ms!,
        timestamp_type: 0, // CreateTime
      };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

describe('version probe', () => {
  it('KafkaProducer with default settings (no api_version) connects; the pipelined ApiVersions v0 + Metadata v0 are both answered in order', async () => {
    const proxy = await startRecordingProxy(broker.port);
    try {
      const out = await kp<ProduceResult>(
        'produce',
        { topic: 'kp-probe', records: [{ key: 'k', value: 'v', timestamp_ms: 1_700_000_000_000 }] },
        proxy.address,
      );
      // Inferred from our ApiVersions answer (DescribeAcls ∋ 2 → 2.5.0, its first test): ≥ 0.11 means record batches (magic 2).
      expect(out.api_version).toEqual([2, 5, 0]);
      expect(out.results).toEqual([{ partition: partitionForKey(Buffer.from('k'), PARTITIONS), offset: 0, timestamp: 1_700_000_000_000 }]);

      const probe = proxy.frames().filter((f) => f.connection === 0);
      const requests = probe.filter((f) => f.direction === 'request').slice(0, 2);
      expect(requests.map((f) => [f.apiKey, f.apiVersion])).toEqual([
        [18, 0],
        [3, 0],
      ]);
      const responses = probe.filter((f) => f.direction === 'response').slice(0, 2);
      expect(responses.map((f) => f.correlationId)).toEqual(requests.map((f) => f.correlationId));
    } finally {
      await proxy.close();
    }
  });
});

describe('KafkaProducer then KafkaConsumer (assign + seek_to_beginning)', () => {
  const cases: { acks: 1 | 'all'; compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd' }[] = [
    { acks: 1, compression: 'none' },
    { acks: 'all', compression: 'none' },
    { acks: 1, compression: 'gzip' },
    { acks: 'all', compression: 'gzip' },
    { acks: 'all', compression: 'snappy' },
    { acks: 'all', compression: 'lz4' },
    { acks: 'all', compression: 'zstd' },
  ];
  for (const { acks, compression } of cases) {
    const available = compression === 'none' || clientCodecs[compression];
    const missing = compression === 'none' ? '' : `kafka-python has no ${compression} library here (Debian package ${CODEC_PACKAGE[compression]})`;
    const name = `acks=${acks}, compression=${compression}: reads back keys, values, headers, timestamps, offsets and partitions`;
    it(name, skipUnless(available || codecsRequired, missing), async () => {
      expect(available, missing).toBe(true);
      const topic = `kp-acks-${acks}-${compression}`;
      const records = sampleRecords(`${acks}-${compression}`);
      const produced = await kp<ProduceResult>('produce', {
        topic,
        records,
        acks,
        compression: compression === 'none' ? undefined : compression,
      });
      const want = expected(records);
      // RecordMetadata: partition from murmur2, offsets assigned in order, CreateTime echoed
      expect(
        produced.results.map((r) => [r.partition, r.offset, r.timestamp]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!),
      ).toEqual(want.map((r) => [r.partition, r.offset, r.timestamp]));

      const consumed = await kp<ConsumeResult>('consume', { topic });
      expect(consumed.records).toEqual(want);
      for (let p = 0; p < PARTITIONS; p++) {
        expect(consumed.end_offsets[String(p)]).toBe(want.filter((r) => r.partition === p).length);
      }
      // the broker keeps the producer's compression
      expect(new Set(storedCompressionCodes(topic))).toEqual(new Set([CompressionType[compression]]));
    });
  }

  it('acks=0: no RecordMetadata offsets, but the records are stored', async () => {
    const topic = 'kp-acks-0';
    const records = sampleRecords('zero', 6);
    const produced = await kp<ProduceResult>('produce', { topic, records, acks: 0 });
    expect(produced.results.every((r) => r.offset === -1)).toBe(true);
    // kp_client's consume reads up to the end offsets, polling with a deadline; wait until all are there.
    let consumed: ConsumeResult | undefined;
    await waitFor(
      async () => {
        consumed = await kp<ConsumeResult>('consume', { topic });
        return consumed.records.length >= records.length;
      },
      { timeoutMs: 30_000, message: `kafka-python to read all ${records.length} records` },
    );
    expect(consumed!.records).toEqual(expected(records));
  });

  it('null key and null value round-trip (explicit partition)', async () => {
    const topic = 'kp-nulls';
    const records: InRecord[] = [
      { key: null, value: 'no key', partition: 1, timestamp_ms: 1_700_000_000_000 },
      { key: 'tombstone', value: null, partition: 1, timestamp_ms: 1_700_000_000_001 },
    ];
    await kp<ProduceResult>('produce', { topic, records });
    const consumed = await kp<ConsumeResult>('consume', { topic });
    expect(consumed.records.map((r) => [r.partition, r.offset, r.key, r.value])).toEqual([
      [1, 0, null, 'no key'],
      [1, 1, 'tombstone', null],
    ]);
  });
});

describe('offsets', () => {
  it('offsets_for_times returns the first offset whose timestamp is at or after the target', async () => {
    const topic = 'kp-times';
    // partition 0: one batch per record, increasing timestamps; partition 1: one batch, timestamps out of order
    const p0 = [1000, 2000, 3000, 4000, 5000].map((ts, i) => ({ value: `p0-${i}`, partition: 0, timestamp_ms: ts }));
    await kp('produce', { topic, records: p0, flush_each: true });
    const p1 = [1000, 3000, 2000, 4000].map((ts, i) => ({ value: `p1-${i}`, partition: 1, timestamp_ms: ts }));
    await kp('produce', { topic, records: p1 });

    const times = [0, 1000, 2500, 3000, 5000, 5001];
    const out = await kp<OffsetsResult>('offsets', { topic, partitions: [0, 1, 2], times });
    expect(out.for_times).toEqual({
      // [offset, timestamp of that record]; null when no record is that recent (or the partition is empty)
      '0': { '0': [0, 1000], '1': [0, 1000], '2': null },
      '1000': { '0': [0, 1000], '1': [0, 1000], '2': null },
      '2500': { '0': [2, 3000], '1': [1, 3000], '2': null },
      '3000': { '0': [2, 3000], '1': [1, 3000], '2': null },
      '5000': { '0': [4, 5000], '1': null, '2': null },
      '5001': { '0': null, '1': null, '2': null },
    });
    expect(out.beginning).toEqual({ '0': 0, '1': 0, '2': 0 });
    expect(out.end).toEqual({ '0': 5, '1': 4, '2': 0 });
  });

  it('beginning_offsets / end_offsets follow appends', async () => {
    const topic = 'kp-ends';
    const records = sampleRecords('ends', 10);
    await kp('produce', { topic, records });
    const want = expected(records);
    const out = await kp<OffsetsResult>('offsets', { topic });
    expect(out.beginning).toEqual({ '0': 0, '1': 0, '2': 0 });
    expect(out.end).toEqual(
      Object.fromEntries([0, 1, 2].map((p) => [String(p), want.filter((r) => r.partition === p).length])),
    );
  });
});
