/**
 * Issue 8 items 2 and 3 against a real broker process, with hand-built Produce requests on raw sockets:
 * - a batch whose CRC-32C is right but whose records are garbage is refused (INVALID_RECORD, with record_errors
 *   in Produce v9, without in v3), nothing is stored, other partitions of the same request are appended, and
 *   kcat and kafka-python still read the partition cleanly (before, the batch was stored and every consumer of
 *   the partition failed);
 * - keyless records on a compacted topic and timestamps outside message.timestamp.before.max.ms are refused;
 * - compression bombs (1 GiB of zeros in gzip and in zstd, about 1 MB and 32 KB on the wire) are refused with
 *   MESSAGE_TOO_LARGE, the broker's peak RSS stays far below what inflating them would take, and another client
 *   is answered while they are processed.
 */
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import zstd from 'zstd-napi/binding.js';
import {
  FrameSplitter,
  REPO_ROOT,
  kcat,
  python,
  registerCleanup,
  startBrokerProcess,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readResponseHeader } from '../../src/protocol/generated/response-header.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import type { ProduceResponse } from '../../src/protocol/generated/produce.js';
import type { ListOffsetsResponse } from '../../src/protocol/generated/list-offsets.js';
import { buildRecordBatch, setBatchCrc } from '../../src/protocol/records.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { ATTRIBUTES, RECORDS } from '../../src/protocol/record-batch-header.js';

registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');
/** Large enough for the ~1.08 MB gzip bomb; its records may inflate to 64 x this (76.8 MB). */
const MESSAGE_MAX_BYTES = 1_200_000;
const T0 = Date.now();

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: { 'message.max.bytes': String(MESSAGE_MAX_BYTES), 'num.partitions': '2' } });
});

// ---------------------------------------------------------------------------------------------
// A raw Kafka connection: requests built with the generated codecs, responses read as frames.

class Raw {
  private readonly frames: Buffer[] = [];
  private readonly splitter = new FrameSplitter();
  private nextCorrelationId = 1;
  closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.frames.push(...this.splitter.push(chunk)));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => (this.closed = true));
  }

  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  /** Sends a request; returns a function that waits for its response body. */
  send<T>(apiKey: number, version: number, body: unknown): { response: (timeoutMs?: number) => Promise<T>; answered: () => boolean } {
    const correlationId = this.nextCorrelationId++;
    const codec = API_CODECS.get(apiKey)!;
    const hv = requestHeaderVersion(apiKey, version);
    const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'kfk-record-validation' };
    const size = sizeRequestHeader(header, hv) + codec.sizeRequest(body, version);
    const w = Writer.alloc(4 + size);
    w.int32(size);
    writeRequestHeader(w, header, hv);
    codec.writeRequest(w, body, version);
    this.socket.write(w.finish());
    const find = (): Buffer | undefined => this.frames.find((f) => f.readInt32BE(4) === correlationId);
    return {
      answered: () => find() !== undefined,
      response: async (timeoutMs = 30_000) => {
        await waitFor(() => find() !== undefined || this.closed, { timeoutMs, intervalMs: 5, message: `response ${correlationId} (api ${apiKey})` });
        const frame = find();
        if (!frame) throw new Error(`connection closed before response ${correlationId}`);
        const r = new Reader(frame, 4);
        readResponseHeader(r, responseHeaderVersion(apiKey, version));
        const decoded = codec.readResponse(r, version) as T;
        expect(r.remaining).toBe(0);
        return decoded;
      },
    };
  }

  async request<T>(apiKey: number, version: number, body: unknown): Promise<T> {
    return this.send<T>(apiKey, version, body).response();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

let conn: Raw;
beforeAll(async () => {
  conn = await Raw.open(broker.port);
});
afterAll(() => conn?.destroy());

interface PartitionRecords {
  index: number;
  records: Buffer;
}

function produce(topic: string, partitions: PartitionRecords[], version: number, c = conn) {
  return c.send<ProduceResponse>(0, version, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: partitions }],
  });
}

async function produceOne(topic: string, records: Buffer, version = 9) {
  const res = await produce(topic, [{ index: 0, records }], version).response();
  return res.responses[0]!.partitionResponses[0]!;
}

async function createTopic(name: string, configs: Record<string, string> = {}, partitions = 1): Promise<void> {
  const res = await conn.request<{ topics: { name: string; errorCode: number; errorMessage: string | null }[] }>(19, 4, {
    topics: [
      {
        name,
        numPartitions: partitions,
        replicationFactor: 1,
        assignments: [],
        configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: v })),
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics[0], res.topics[0]?.errorMessage ?? '').toMatchObject({ name, errorCode: 0 });
}

/** ListOffsets latest (-1) of each partition, on a raw connection. */
async function latestOffsets(topic: string, partitions = [0]): Promise<number[]> {
  const res = await conn.request<ListOffsetsResponse>(2, 1, {
    replicaId: -1,
    topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp: -1 })) }],
  });
  return res.topics[0]!.partitions.map((p) => {
    expect(p.errorCode).toBe(0);
    return p.offset;
  });
}

const good = (value: string, key: string | null = 'k') => buildRecordBatch([{ key: key === null ? null : Buffer.from(key), value: Buffer.from(value), timestamp: T0 }]);

/** A batch with a correct header and CRC-32C whose records section is garbage (what poisoned partitions before). */
function garbageRecords(): Buffer {
  const batch = buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('a value that will be overwritten'), timestamp: T0 }]);
  batch.fill(0x7f, RECORDS);
  setBatchCrc(batch);
  return batch;
}

async function readWithKcat(topic: string, partition = 0): Promise<string> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', String(partition), '-o', 'beginning', '-e', '-q', '-f', '%o:%k:%s\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout;
}

async function readWithKafkaPython(topic: string): Promise<{ offset: number; key: string | null; value: string }[]> {
  const res = await python(KP, ['consume', JSON.stringify({ bootstrap: broker.bootstrap, topic, partitions: [0] })], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { records: { offset: number; key: string | null; value: string }[] };
  return out.records.map(({ offset, key, value }) => ({ offset, key, value }));
}

// ---------------------------------------------------------------------------------------------

describe('a batch with a valid CRC but garbage records', () => {
  it('is refused with INVALID_RECORD (record_errors in v9, none in v3), nothing is stored, and the partition still reads cleanly', async () => {
    const topic = 'rv-garbage';
    await createTopic(topic);
    expect(await produceOne(topic, good('before'))).toMatchObject({ errorCode: 0, baseOffset: 0 });

    const v9 = await produceOne(topic, garbageRecords(), 9);
    expect(v9.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(v9.baseOffset).toBe(-1);
    expect(v9.errorMessage).toMatch(/invalid record 0/);
    expect(v9.recordErrors).toEqual([{ batchIndex: 0, batchIndexErrorMessage: expect.stringMatching(/record length/) }]);

    const v3 = await produceOne(topic, garbageRecords(), 3);
    expect(v3.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(v3.recordErrors).toEqual([]); // not in the v3 wire format: the decoder leaves its default

    expect(await latestOffsets(topic)).toEqual([1]);
    expect(await produceOne(topic, good('after'))).toMatchObject({ errorCode: 0, baseOffset: 1 });

    expect(await readWithKcat(topic)).toBe('0:k:before\n1:k:after\n');
    expect(await readWithKafkaPython(topic)).toEqual([
      { offset: 0, key: 'k', value: 'before' },
      { offset: 1, key: 'k', value: 'after' },
    ]);
  });

  it('other partitions of the same request are appended', async () => {
    const topic = 'rv-two-partitions';
    await createTopic(topic, {}, 2);
    const res = await produce(topic, [
      { index: 0, records: garbageRecords() },
      { index: 1, records: good('fine') },
    ], 9).response();
    const byIndex = Object.fromEntries(res.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode]));
    expect(byIndex).toEqual({ 0: ErrorCode.INVALID_RECORD, 1: 0 });
    expect(await latestOffsets(topic, [0, 1])).toEqual([0, 1]);
    expect(await readWithKcat(topic, 1)).toBe('0:k:fine\n');
  });

  it('the same garbage compressed (gzip, valid CRC) is refused too', async () => {
    const topic = 'rv-garbage-gzip';
    await createTopic(topic);
    const batch = buildRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: T0 }]);
    const body = gzipSync(Buffer.alloc(40, 0x7f));
    const bad = Buffer.concat([batch.subarray(0, RECORDS), body]);
    bad.writeInt32BE(bad.length - 12, 8);
    bad.writeInt16BE(CompressionType.gzip, ATTRIBUTES);
    setBatchCrc(bad);
    expect((await produceOne(topic, bad)).errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(await latestOffsets(topic)).toEqual([0]);
  });
});

describe('rules per record', () => {
  it('a compacted topic refuses keyless records, naming each (record_errors)', async () => {
    const topic = 'rv-compacted';
    await createTopic(topic, { 'cleanup.policy': 'compact' });
    const batch = buildRecordBatch(
      [
        { key: Buffer.from('a'), value: Buffer.from('1'), timestamp: T0 },
        { key: null, value: Buffer.from('2'), timestamp: T0 },
        { key: Buffer.from('c'), value: Buffer.from('3'), timestamp: T0 },
      ],
      { compression: CompressionType.lz4 },
    );
    const r = await produceOne(topic, batch);
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(r.recordErrors).toEqual([{ batchIndex: 1, batchIndexErrorMessage: expect.stringMatching(/without key/) }]);
    expect(await latestOffsets(topic)).toEqual([0]);
  });

  it('a topic with message.timestamp.before.max.ms refuses older CreateTime records (INVALID_TIMESTAMP)', async () => {
    const topic = 'rv-timestamps';
    await createTopic(topic, { 'message.timestamp.before.max.ms': '3600000' });
    const old = buildRecordBatch([
      { key: null, value: Buffer.from('now'), timestamp: Date.now() },
      { key: null, value: Buffer.from('two hours ago'), timestamp: Date.now() - 7_200_000 },
    ]);
    const r = await produceOne(topic, old);
    expect(r.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect(r.recordErrors.map((e) => e.batchIndex)).toEqual([1]);
    expect((await produceOne(topic, buildRecordBatch([{ key: null, value: Buffer.from('ok'), timestamp: Date.now() }]))).errorCode).toBe(0);
  });

  it('zstd in Produce v3-v6 is UNSUPPORTED_COMPRESSION_TYPE, in v7+ accepted', async () => {
    const topic = 'rv-zstd';
    await createTopic(topic);
    const z = () => buildRecordBatch([{ key: null, value: Buffer.from('z'), timestamp: T0 }], { compression: CompressionType.zstd });
    expect((await produceOne(topic, z(), 6)).errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    expect((await produceOne(topic, z(), 7)).errorCode).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

const ZEROS_MIB = Buffer.alloc(1 << 20);

/** Records section: n MiB of zeros gzipped as n concatenated members (gunzip reads them all). */
function gzipBomb(mib: number): Buffer {
  return Buffer.concat(Array(mib).fill(gzipSync(ZEROS_MIB, { level: 9 })));
}

/** One streamed zstd frame of n MiB of zeros, without a content size in its header. */
function zstdBomb(mib: number): Buffer {
  const cctx = new zstd.CCtx();
  const out: Buffer[] = [];
  const dst = Buffer.alloc(1 << 16);
  for (let i = 0; i <= mib; i++) {
    let src = i < mib ? ZEROS_MIB : Buffer.alloc(0);
    const end = i === mib;
    for (;;) {
      const [remaining, written, consumed] = cctx.compressStream2(dst, src, end ? zstd.EndDirective.end : zstd.EndDirective.continue);
      out.push(Buffer.from(dst.subarray(0, written)));
      src = src.subarray(consumed);
      if (end ? remaining === 0 : src.length === 0) break;
    }
  }
  return Buffer.concat(out);
}

function bombBatch(codec: number, body: Buffer): Buffer {
  const head = buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: T0 }]).subarray(0, RECORDS);
  const batch = Buffer.concat([head, body]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(codec, ATTRIBUTES);
  setBatchCrc(batch);
  return batch;
}

function memoryKiB(pid: number | undefined): { rss: number; hwm: number } {
  if (pid === undefined) throw new Error('the broker process has no pid');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

describe('compression bombs', () => {
  it('1 GiB of zeros in gzip and in zstd is refused (MESSAGE_TOO_LARGE); memory stays bounded; others are served meanwhile', async () => {
    const plain = 'rv-bomb';
    const compacted = 'rv-bomb-compacted'; // the compacted-topic key check used to inflate bombs whole, for ~10 s
    await createTopic(plain);
    await createTopic(compacted, { 'cleanup.policy': 'compact' });
    const gz = bombBatch(CompressionType.gzip, gzipBomb(1024));
    const zs = bombBatch(CompressionType.zstd, zstdBomb(1024));
    expect(gz.length).toBeLessThan(MESSAGE_MAX_BYTES);
    expect(zs.length).toBeLessThan(64 * 1024);

    const before = memoryKiB(broker.pid);
    // Four bombs at once on their own connections (two are processed at a time), then a client that only
    // wants ApiVersions and Metadata.
    const bombers = await Promise.all([0, 1, 2, 3].map(() => Raw.open(broker.port)));
    const pending = bombers.map((c, i) =>
      produce(i % 2 === 0 ? compacted : plain, [{ index: 0, records: i < 2 ? gz : zs }], 9, c),
    );
    const other = await Raw.open(broker.port);
    try {
      const versions = other.send<{ errorCode: number }>(18, 3, { clientSoftwareName: 'other', clientSoftwareVersion: '1' });
      // answered within a second while the bombs are being processed (a deadline, not a timing measurement)
      expect((await versions.response(1000)).errorCode).toBe(0);
      const stillBusy = pending.filter((p) => !p.answered()).length;
      const meta = other.send<{ topics: unknown[] }>(3, 4, { topics: [{ name: plain }], allowAutoTopicCreation: false });
      expect((await meta.response(1000)).topics).toHaveLength(1);

      for (const p of pending) {
        const r = (await p.response(60_000)).responses[0]!.partitionResponses[0]!;
        expect(r.errorCode, r.errorMessage ?? '').toBe(ErrorCode.MESSAGE_TOO_LARGE);
        expect(r.errorMessage).toMatch(/inflate beyond/);
      }
      const after = memoryKiB(broker.pid);
      // One bomb inflated whole would take 1 GiB; at most two limits (2 x 76.8 MB) are ever held.
      expect(after.hwm - before.hwm, `VmHWM ${before.hwm} → ${after.hwm} kB (${stillBusy} of 4 bombs were still in progress)`).toBeLessThan(
        400 * 1024,
      );
      expect(broker.hasExited()).toBe(false);
      expect(await latestOffsets(plain)).toEqual([0]);
      expect(await latestOffsets(compacted)).toEqual([0]);
      // and the broker still takes ordinary data on those partitions
      expect(await produceOne(plain, good('after the bombs'))).toMatchObject({ errorCode: 0, baseOffset: 0 });
      expect(await readWithKcat(plain)).toBe('0:k:after the bombs\n');
    } finally {
      other.destroy();
      for (const c of bombers) c.destroy();
    }
  });
});
