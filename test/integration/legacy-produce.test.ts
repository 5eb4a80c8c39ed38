/**
 * Produce v0-2 (legacy message sets, magic 0 and 1) against a kfk broker process: kafka-python 2.0.2 forced to
 * the old formats (api_version=(0,10) → Produce v2 + magic 1, api_version=(0,9) → Produce v1 + magic 0), with
 * and without gzip, read back with kcat; the stored batches are record batches v2 with the producer's codec.
 * Then hand-built requests over a raw connection: v0/v1/v2 acknowledged with the right offsets, CRC failures,
 * a magic 1 set in Produce v3+ (INVALID_RECORD), and a v2 batch in Produce v2 (accepted, as Kafka does).
 *
 * Old-format *consumers* are not served (Fetch starts at v4), so everything is read back with kcat.
 * kcat's own -z gzip/snappy/lz4 (which needs Produce ∋ 0 in the broker's range) is checked in kcat.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '@node-rs/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  kcat,
  pythonCode,
  registerCleanup,
  startBrokerProcess,
  startRecordingProxy,
  type BrokerProcess,
  type RecordingProxy,
} from '../helpers/index.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { compress, CompressionType } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { requestHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readProduceRequest, type ProduceResponse } from '../../src/protocol/generated/produce.js';
import { readRequestHeader } from '../../src/protocol/generated/request-header.js';
import { Reader } from '../../src/protocol/primitives.js';
import { buildRecordBatch, decodeRecordBatches, type DecodedBatch } from '../../src/protocol/records.js';

registerCleanup();

let broker: BrokerProcess;
/** In front of the broker, which advertises the proxy's address: every client connection is recorded. */
let proxy: RecordingProxy;

beforeAll(async () => {
  const port = await freePort();
  proxy = await startRecordingProxy(port);
  broker = await startBrokerProcess({
    port,
    overrides: { 'num.partitions': '1', 'advertised.listeners': `PLAINTEXT://${proxy.address}` },
  });
});

afterAll(async () => {
  await proxy?.close();
});

// ---- helpers -------------------------------------------------------------------------------------------

/** kafka-python KafkaProducer with a fixed api_version (no ApiVersions probe); prints RecordMetadata as JSON. */
const KP_PRODUCE = `
import json, sys
from kafka import KafkaProducer
cfg = json.loads(sys.argv[1])
p = KafkaProducer(bootstrap_servers=cfg['bootstrap'], api_version=tuple(cfg['api_version']),
                  compression_type=cfg.get('compression'), linger_ms=50, retries=0)
enc = lambda s: None if s is None else s.encode('utf-8')
futs = [p.send(cfg['topic'], key=enc(r.get('key')), value=enc(r.get('value')), timestamp_ms=r.get('timestamp_ms'))
        for r in cfg['records']]
p.flush()
out = []
for f in futs:
    m = f.get(timeout=15)
    out.append([m.partition, m.offset, m.timestamp])
p.close()
print(json.dumps(out))
`;

interface InRecord {
  key: string | null;
  value: string | null;
  timestamp_ms?: number;
}

async function kafkaPython(bootstrap: string, apiVersion: [number, number], topic: string, records: InRecord[], compression?: string): Promise<number[][]> {
  const res = await pythonCode(KP_PRODUCE, [JSON.stringify({ bootstrap, api_version: apiVersion, topic, records, compression })], {
    timeoutMs: 40_000,
  });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as number[][];
}

interface Consumed {
  key: string | null;
  value: string | null;
  timestamp: number;
  offset: number;
}

/** Reads the whole (single-partition) topic with kcat; %K/%S (lengths, -1 for null) tell null from empty. */
async function consumeAll(topic: string): Promise<Consumed[]> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%K|%k|%S|%s|%T|%o\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [kl, k, vl, v, ts, off] = line.split('|') as [string, string, string, string, string, string];
      return { key: kl === '-1' ? null : k, value: vl === '-1' ? null : v, timestamp: Number(ts), offset: Number(off) };
    });
}

/** Every batch of the topic's partition 0 as stored on disk (Kafka's `<topic>-0/<offset>.log` layout). */
function storedBatches(topic: string): DecodedBatch[] {
  const dir = path.join(broker.dataDir, `${topic}-0`);
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .flatMap((f) => decodeRecordBatches(fs.readFileSync(path.join(dir, f))));
}

/** [api version, magic byte, codec of the first message] of every Produce request the proxy saw. */
function produceRequests(): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const f of proxy.requests(0)) {
    const r = new Reader(f.bytes, 4);
    const header = readRequestHeader(r, requestHeaderVersion(0, f.apiVersion!));
    const req = readProduceRequest(r, header.requestApiVersion);
    for (const t of req.topicData) {
      for (const p of t.partitionData) {
        // legacy message: attributes right after crc and magic (byte 17); v2 batch: int16 attributes at byte 21
        const magic = p.records!.readInt8(16);
        const codec = (magic < 2 ? p.records!.readInt8(17) : p.records!.readInt16BE(21)) & 0x07;
        out.push([header.requestApiVersion, magic, codec]);
      }
    }
  }
  return out;
}

function sampleRecords(tag: string, withTimestamps: boolean): InRecord[] {
  const base = 1_700_000_000_000;
  return Array.from({ length: 8 }, (_, i) => ({
    key: i === 3 ? null : `${tag}-key-${i}`,
    value: i === 5 ? null : `${tag} value ${i} ${'compressible '.repeat(8)}ü€`,
    ...(withTimestamps ? { timestamp_ms: base + i * 1000 } : {}),
  }));
}

// ---- kafka-python --------------------------------------------------------------------------------------

describe('kafka-python forced to the old message formats, read back with kcat', () => {
  const cases = [
    { apiVersion: [0, 10] as [number, number], produceVersion: 2, magic: 1, compression: 'none' as const },
    { apiVersion: [0, 10] as [number, number], produceVersion: 2, magic: 1, compression: 'gzip' as const },
    { apiVersion: [0, 9] as [number, number], produceVersion: 1, magic: 0, compression: 'none' as const },
    { apiVersion: [0, 9] as [number, number], produceVersion: 1, magic: 0, compression: 'gzip' as const },
  ];
  for (const c of cases) {
    it(`api_version=(${c.apiVersion.join(',')}), compression=${c.compression}: Produce v${c.produceVersion} with magic ${c.magic} is stored as a v2 batch (${c.compression})`, async () => {
      const topic = `legacy-kp-${c.apiVersion.join('')}-${c.compression}`;
      const records = sampleRecords(topic, c.magic === 1);
      const before = proxy.requests(0).length;
      const meta = await kafkaPython(proxy.address, c.apiVersion, topic, records, c.compression === 'none' ? undefined : c.compression);

      // what kafka-python really sent
      const sent = produceRequests().slice(before);
      expect(sent.length).toBeGreaterThan(0);
      for (const s of sent) expect(s).toEqual([c.produceVersion, c.magic, CompressionType[c.compression]]);

      // acknowledged with consecutive offsets
      expect(meta.map((m) => [m[0], m[1]])).toEqual(records.map((_, i) => [0, i]));

      // read back: keys and values (null too); magic 1 keeps CreateTime, magic 0 has none (-1)
      const got = await consumeAll(topic);
      expect(got).toEqual(
        records.map((r, i) => ({ key: r.key, value: r.value, timestamp: c.magic === 1 ? r.timestamp_ms! : -1, offset: i })),
      );

      // stored: record batches v2 with the producer's codec, no producer id, offsets continuous
      const batches = storedBatches(topic);
      expect(batches.length).toBeGreaterThan(0);
      for (const b of batches) {
        expect(b.magic).toBe(2);
        expect(b.compression).toBe(CompressionType[c.compression]);
        expect(b.producerId).toBe(-1);
      }
      expect(batches.flatMap((b) => b.records.map((r) => r.offset))).toEqual(records.map((_, i) => i));
    });
  }
});

// ---- hand-built requests -------------------------------------------------------------------------------

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function int64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}
const lengthPrefixed = (s: string | Buffer | null): Buffer =>
  s === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(s)), Buffer.isBuffer(s) ? s : Buffer.from(s)]);

/** One entry of a legacy message set: Offset MessageSize Crc Magic Attributes [Timestamp] Key Value. */
function legacyEntry(offset: number, magic: 0 | 1, key: string | null, value: string | Buffer | null, opts: { attributes?: number; timestamp?: number } = {}): Buffer {
  const body = Buffer.concat([
    Buffer.from([magic, opts.attributes ?? 0]),
    magic === 1 ? int64(opts.timestamp ?? 0) : Buffer.alloc(0),
    lengthPrefixed(key),
    lengthPrefixed(value),
  ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([int64(offset), int32(4 + body.length), crc, body]);
}

async function createTopic(conn: BrokerConnection, topic: string): Promise<void> {
  const res = await conn.request<{ topics: { name: string; errorCode: number }[] }>(
    19,
    { topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false },
    { version: 4 },
  );
  expect(res.topics).toMatchObject([{ name: topic, errorCode: 0 }]);
}

async function produce(conn: BrokerConnection, version: number, topic: string, records: Buffer) {
  const res = await conn.request<ProduceResponse>(
    0,
    { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] },
    { version },
  );
  return res.responses[0]!.partitionResponses[0]!;
}

describe('hand-built Produce requests', () => {
  let conn: BrokerConnection;
  beforeAll(async () => {
    conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port, clientId: 'legacy-produce-test' });
  });
  afterAll(() => {
    conn?.close();
  });

  it('ApiVersions advertises Produce v0-11', () => {
    expect(conn.brokerVersions.get(0)).toEqual({ min: 0, max: 11 });
  });

  it('v0, v1 and v2 append with consecutive offsets; a trailing partial message is dropped', async () => {
    const topic = 'legacy-raw';
    await createTopic(conn, topic);
    const v0 = Buffer.concat([legacyEntry(0, 0, 'a', 'v0-first'), legacyEntry(1, 0, null, 'v0-second')]);
    expect(await produce(conn, 0, topic, v0)).toMatchObject({ errorCode: 0, baseOffset: 0 });
    const gzipped = legacyEntry(1, 1, null, compress(CompressionType.gzip, Buffer.concat([
      legacyEntry(0, 1, 'b', 'v1-gzip-first', { timestamp: 1000 }),
      legacyEntry(1, 1, 'c', 'v1-gzip-second', { timestamp: 2000 }),
    ])), { attributes: CompressionType.gzip, timestamp: 2000 });
    expect(await produce(conn, 1, topic, gzipped)).toMatchObject({ errorCode: 0, baseOffset: 2 });
    const withPartial = Buffer.concat([legacyEntry(0, 1, 'd', 'v2-only', { timestamp: 3000 }), legacyEntry(1, 1, 'e', 'cut off').subarray(0, 20)]);
    expect(await produce(conn, 2, topic, withPartial)).toMatchObject({ errorCode: 0, baseOffset: 4, logAppendTimeMs: -1 });

    expect(await consumeAll(topic)).toEqual([
      { key: 'a', value: 'v0-first', timestamp: -1, offset: 0 },
      { key: null, value: 'v0-second', timestamp: -1, offset: 1 },
      { key: 'b', value: 'v1-gzip-first', timestamp: 1000, offset: 2 },
      { key: 'c', value: 'v1-gzip-second', timestamp: 2000, offset: 3 },
      { key: 'd', value: 'v2-only', timestamp: 3000, offset: 4 },
    ]);
    expect(storedBatches(topic).map((b) => [b.baseOffset, b.recordsCount, b.compression])).toEqual([
      [0, 2, CompressionType.none],
      [2, 2, CompressionType.gzip],
      [4, 1, CompressionType.none],
    ]);
  });

  it('errors: bad CRC → CORRUPT_MESSAGE, nested compression → INVALID_RECORD, magic 0/1 in v3+ → INVALID_RECORD; nothing appended', async () => {
    const topic = 'legacy-raw-errors';
    await createTopic(conn, topic);
    const bad = Buffer.from(legacyEntry(0, 1, 'k', 'value', { timestamp: 1 }));
    bad[bad.length - 1] ^= 0x01;
    expect(await produce(conn, 2, topic, bad)).toMatchObject({ errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1 });

    const inner = legacyEntry(0, 1, null, compress(CompressionType.gzip, legacyEntry(0, 1, 'k', 'v', { timestamp: 1 })), { attributes: 1, timestamp: 1 });
    const nested = legacyEntry(0, 1, null, compress(CompressionType.gzip, inner), { attributes: 1, timestamp: 1 });
    expect(await produce(conn, 2, topic, nested)).toMatchObject({ errorCode: ErrorCode.INVALID_RECORD });

    const good = legacyEntry(0, 1, 'k', 'v', { timestamp: 1 });
    for (const version of [3, 7, 11]) {
      expect(await produce(conn, version, topic, good)).toMatchObject({ errorCode: ErrorCode.INVALID_RECORD, baseOffset: -1 });
    }
    expect(await consumeAll(topic)).toEqual([]);

    // an unknown partition is reported as such, before the records are looked at
    expect(await produce(conn, 1, 'legacy-no-such-topic', good)).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  });

  it('a record batch v2 in Produce v2 is accepted as is (Kafka does not check the magic below v3)', async () => {
    const topic = 'legacy-raw-v2-batch';
    await createTopic(conn, topic);
    const batch = buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('batch v2'), timestamp: 1234, headers: [{ key: 'h', value: Buffer.from('x') }] }]);
    expect(await produce(conn, 2, topic, batch)).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect(await consumeAll(topic)).toEqual([{ key: 'k', value: 'batch v2', timestamp: 1234, offset: 0 }]);
    expect(storedBatches(topic)[0]!.records[0]!.headers).toEqual([{ key: 'h', value: Buffer.from('x') }]);
  });
});
