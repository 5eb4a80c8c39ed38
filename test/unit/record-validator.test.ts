/**
 * The produce path's record validation (src/protocol/record-validator.ts, record-walk.ts): a table of hand-made
 * bad batches, each refused with Kafka's code for that case; compression bombs refused without inflating them
 * whole; property tests that every batch our encoder builds is accepted and that any single-byte mutation of
 * the records (CRC recomputed) is either refused or still decodes cleanly.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compressSync as snappyCompress } from 'snappy';
import { compressFrameSync as lz4Compress } from 'lz4-napi';
import zstd from 'zstd-napi/binding.js';
import {
  INLINE_BUDGET_BYTES,
  MAX_CONCURRENT_ASYNC,
  uncompressedLimit,
  validateProducedBatch,
  type ProduceRecordRules,
  type ProduceValidation,
} from '../../src/protocol/record-validator.js';
import { buildRecordBatch, decodeRecordBatch, setBatchCrc, type RecordInput } from '../../src/protocol/records.js';
import { CompressionType, InflateLimitError, compress, decompress, decompressAsync } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Writer, writeInt64 } from '../../src/protocol/primitives.js';
import {
  ATTRIBUTES,
  BASE_SEQUENCE,
  CONTROL_FLAG,
  CRC,
  LAST_OFFSET_DELTA,
  MAX_TIMESTAMP,
  PRODUCER_EPOCH,
  PRODUCER_ID,
  RECORDS,
  RECORDS_COUNT,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG,
  batchAttributes,
  batchMaxTimestamp,
  setBatchBaseOffset,
} from '../../src/protocol/record-batch-header.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { OrderedAppends } from '../../src/replication/ordered-appends.js';

const NOW = Date.now();
const MAX = 1_048_588;
const DELETE: ProduceRecordRules = { maxMessageBytes: MAX, cleanupPolicy: ['delete'] };
const COMPACT: ProduceRecordRules = { maxMessageBytes: MAX, cleanupPolicy: ['compact'] };
const CODECS = [CompressionType.none, CompressionType.gzip, CompressionType.snappy, CompressionType.lz4, CompressionType.zstd];
const b = (s: string): Buffer => Buffer.from(s);

const validate = async (records: Buffer, rules = DELETE): Promise<ProduceValidation> => validateProducedBatch(records, rules);

// ---------------------------------------------------------------------------------------------
// Hand-made records

/** One record's fields; `raw` replaces the body, `length` overrides the length varint. */
interface RawRecord {
  tsDelta?: number;
  offsetDelta: number;
  key?: Buffer | null;
  keyLength?: number;
  value?: Buffer | null;
  valueLength?: number;
  headers?: { key: Buffer; keyLength?: number; value: Buffer | null; valueLength?: number }[];
  headerCount?: number;
  length?: number;
  /** bytes appended after the fields, inside the record */
  extra?: Buffer;
}

function varint(v: number): Buffer {
  const w = new Writer(Buffer.alloc(10), 0);
  w.varint(v);
  return w.buf.subarray(0, w.pos);
}
function varlong(v: number): Buffer {
  const w = new Writer(Buffer.alloc(10), 0);
  w.varlong(v);
  return w.buf.subarray(0, w.pos);
}
const bytesField = (buf: Buffer | null | undefined, len?: number): Buffer[] => {
  if (buf === null || buf === undefined) return [varint(len ?? -1)];
  return [varint(len ?? buf.length), buf];
};

function recordBytes(r: RawRecord): Buffer {
  const parts: Buffer[] = [Buffer.from([0]), varlong(r.tsDelta ?? 0), varint(r.offsetDelta)];
  parts.push(...bytesField(r.key === undefined ? b('k') : r.key, r.keyLength));
  parts.push(...bytesField(r.value === undefined ? b('v') : r.value, r.valueLength));
  const headers = r.headers ?? [];
  parts.push(varint(r.headerCount ?? headers.length));
  for (const h of headers) parts.push(...bytesField(h.key, h.keyLength), ...bytesField(h.value, h.valueLength));
  if (r.extra) parts.push(r.extra);
  const body = Buffer.concat(parts);
  return Buffer.concat([varint(r.length ?? body.length), body]);
}

interface HeaderOpts {
  count?: number;
  lastOffsetDelta?: number;
  compression?: number;
  attributes?: number;
  baseTimestamp?: number;
  maxTimestamp?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
}

/** A batch around the given records section (compressed with opts.compression), with a correct CRC. */
function batchAround(recordsSection: Buffer, count: number, opts: HeaderOpts = {}): Buffer {
  const body = opts.compression ? compress(opts.compression, recordsSection) : recordsSection;
  const out = Buffer.alloc(RECORDS + body.length);
  body.copy(out, RECORDS);
  writeInt64(out, 0, 0);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(-1, 12);
  out.writeInt8(2, 16);
  out.writeInt16BE(opts.attributes ?? opts.compression ?? 0, ATTRIBUTES);
  out.writeInt32BE(opts.lastOffsetDelta ?? (opts.count ?? count) - 1, LAST_OFFSET_DELTA);
  writeInt64(out, opts.baseTimestamp ?? NOW, 27);
  writeInt64(out, opts.maxTimestamp ?? NOW, MAX_TIMESTAMP);
  writeInt64(out, opts.producerId ?? -1, PRODUCER_ID);
  out.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH);
  out.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE);
  out.writeInt32BE(opts.count ?? count, RECORDS_COUNT);
  setBatchCrc(out);
  return out;
}

function batchOf(records: RawRecord[], opts: HeaderOpts = {}): Buffer {
  return batchAround(Buffer.concat(records.map(recordBytes)), records.length, opts);
}

const two = (): RawRecord[] => [{ offsetDelta: 0 }, { offsetDelta: 1 }];

// ---------------------------------------------------------------------------------------------

describe('accepted batches', () => {
  it('hand-made and encoder-made batches pass, with every codec', async () => {
    expect(await validate(batchOf(two()))).toEqual({ errorCode: ErrorCode.NONE, recordCount: 2 });
    for (const compression of CODECS) {
      expect(await validate(batchOf(two(), { compression }))).toEqual({ errorCode: ErrorCode.NONE, recordCount: 2 });
      const idempotent = buildRecordBatch([{ key: null, value: b('v') }], { compression, producerId: 5, producerEpoch: 0, baseSequence: 0 });
      expect((await validate(idempotent)).errorCode).toBe(ErrorCode.NONE);
    }
  });

  it('null keys and values (-1), empty ones, headers with null values', async () => {
    const batch = batchOf([
      { offsetDelta: 0, key: null, value: null },
      { offsetDelta: 1, key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [{ key: b('h'), value: null }, { key: b('é'), value: b('x') }] },
    ]);
    expect((await validate(batch)).errorCode).toBe(ErrorCode.NONE);
  });

  it('answers small batches synchronously, and leaves a correct batch untouched', () => {
    const batch = batchOf(two(), { maxTimestamp: NOW });
    const copy = Buffer.from(batch);
    expect(validateProducedBatch(batch, DELETE)).not.toBeInstanceOf(Promise);
    expect(batch.equals(copy)).toBe(true);
  });
});

describe('refused batches (hand-made, CRC correct unless the case is the CRC)', () => {
  type Case = [name: string, batch: () => Buffer, code: number, rules?: ProduceRecordRules];
  const I = ErrorCode.INVALID_RECORD;
  const cases: Case[] = [
    // records section structure (Kafka: InvalidRecordException → INVALID_RECORD)
    ['record length varint longer than 5 bytes', () => batchAround(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.alloc(20)]), 1), I],
    ['record length varint with bits beyond 32', () => batchAround(Buffer.concat([Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), Buffer.alloc(20)]), 1), I],
    ['negative record length', () => batchOf([{ offsetDelta: 0, length: -3 }]), I],
    ['record length past the end of the batch', () => batchOf([{ offsetDelta: 0, length: 200 }]), I],
    ['record length shorter than its fields', () => batchOf([{ offsetDelta: 0, value: b('value'), length: 9 }, { offsetDelta: 1 }]), I],
    ['record length longer than its fields', () => batchOf([{ offsetDelta: 0, extra: Buffer.from([0, 0]) }]), I],
    ['fewer records than the header count', () => batchOf(two(), { count: 3 }), I],
    ['bytes after the last record', () => batchAround(Buffer.concat([...two().map(recordBytes), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])]), 2), I],
    ['offset deltas 0, 0', () => batchOf([{ offsetDelta: 0 }, { offsetDelta: 0 }]), I],
    ['offset deltas 1, 2', () => batchOf([{ offsetDelta: 1 }, { offsetDelta: 2 }]), I],
    ['offset deltas 0, 2', () => batchOf([{ offsetDelta: 0 }, { offsetDelta: 2 }]), I],
    ['key length -2', () => batchOf([{ offsetDelta: 0, key: null, keyLength: -2 }]), I],
    ['value length -5', () => batchOf([{ offsetDelta: 0, value: null, valueLength: -5 }]), I],
    ['key length past the record', () => batchOf([{ offsetDelta: 0, key: b('k'), keyLength: 40 }]), I],
    ['negative header count', () => batchOf([{ offsetDelta: 0, headerCount: -1 }]), I],
    ['header count larger than the record', () => batchOf([{ offsetDelta: 0, headerCount: 1000 }]), I],
    ['negative header key length', () => batchOf([{ offsetDelta: 0, headers: [{ key: b('h'), keyLength: -1, value: null }] }]), I],
    ['header key that is not UTF-8', () => batchOf([{ offsetDelta: 0, headers: [{ key: Buffer.from([0xc3, 0x28]), value: null }] }]), I],
    ['header value length -2', () => batchOf([{ offsetDelta: 0, headers: [{ key: b('h'), value: null, valueLength: -2 }] }]), I],
    ['records that are all garbage', () => batchAround(Buffer.alloc(64, 0x7f), 1), I],
    ['compressed records that are garbage', () => batchAround(Buffer.alloc(64, 0x7f), 1, { compression: CompressionType.gzip }), I],
    ['compressed bytes that do not decompress (gzip)', () => batchAround(b('not gzip at all'), 1, { attributes: CompressionType.gzip }), I],
    ['compressed bytes that do not decompress (zstd)', () => batchAround(b('not zstd at all'), 1, { attributes: CompressionType.zstd }), I],
    ['compressed bytes that do not decompress (lz4)', () => batchAround(b('not lz4 at all'), 1, { attributes: CompressionType.lz4 }), I],
    ['compressed bytes that do not decompress (snappy)', () => batchAround(Buffer.from([0x05, 0xff, 0xff]), 1, { attributes: CompressionType.snappy }), I],
    // header (Kafka's validateBatch and analyzeAndValidateRecords)
    ['lastOffsetDelta != count - 1', () => batchOf(two(), { lastOffsetDelta: 5 }), I],
    ['record count 0', () => batchAround(Buffer.alloc(0), 0, { count: 0, lastOffsetDelta: 0 }), I],
    ['control batch from a client', () => batchOf(two(), { attributes: CONTROL_FLAG }), I],
    ['producer id without a base sequence', () => batchOf(two(), { producerId: 7, producerEpoch: 0, baseSequence: -1 }), I],
    ['producer id with epoch -1', () => batchOf(two(), { producerId: 7, producerEpoch: -1, baseSequence: 0 }), I],
    ['transactional batch without a producer id', () => batchOf(two(), { attributes: TRANSACTIONAL_FLAG }), I],
    ['base offset 5', () => {
      const x = batchOf(two());
      setBatchBaseOffset(x, 5);
      return x;
    }, I],
    ['two batches', () => Buffer.concat([batchOf(two()), batchOf(two())]), I],
    ['nothing at all', () => Buffer.alloc(0), I],
    ['a CRC mismatch', () => {
      const x = batchOf(two());
      x[x.length - 1] ^= 1;
      return x;
    }, ErrorCode.CORRUPT_MESSAGE],
    ['a batch size below 61', () => {
      const x = batchOf(two());
      x.writeInt32BE(30, 8);
      return x;
    }, ErrorCode.CORRUPT_MESSAGE],
    ['a truncated batch', () => batchOf(two()).subarray(0, 40), ErrorCode.CORRUPT_MESSAGE],
    ['magic 1', () => {
      const x = batchOf(two());
      x[16] = 1;
      return x;
    }, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT],
    ['a batch above max.message.bytes', () => batchOf(two()), ErrorCode.MESSAGE_TOO_LARGE, { maxMessageBytes: 70, cleanupPolicy: ['delete'] }],
    ['codec 6', () => batchOf(two(), { attributes: 6 }), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE],
  ];

  for (const [name, make, code, rules] of cases) {
    it(`${name} → ${code}`, async () => {
      const batch = make();
      const copy = Buffer.from(batch);
      const r = await validate(batch, rules);
      expect(r.errorCode, r.errorMessage).toBe(code);
      expect(r.errorMessage).toBeTruthy();
      expect(batch.equals(copy), 'a refused batch is not modified').toBe(true);
    });
  }

  it('a record that cannot be read is named in record_errors', async () => {
    const r = await validate(batchOf([{ offsetDelta: 0 }, { offsetDelta: 1 }, { offsetDelta: 7 }]));
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(r.recordErrors).toEqual([{ batchIndex: 2, message: expect.stringMatching(/offset delta 7/) }]);
  });
});

describe('keys on compacted topics', () => {
  const records = (keys: (string | null)[]): RecordInput[] => keys.map((k) => ({ key: k === null ? null : b(k), value: b('v'), timestamp: NOW }));

  it('every record needs a key: each keyless one is in record_errors (compressed or not)', async () => {
    for (const compression of CODECS) {
      const ok = await validate(buildRecordBatch(records(['a', 'b']), { compression }), COMPACT);
      expect(ok.errorCode).toBe(ErrorCode.NONE);
      const r = await validate(buildRecordBatch(records(['a', null, 'c', null]), { compression }), COMPACT);
      expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
      expect(r.recordErrors!.map((e) => e.batchIndex)).toEqual([1, 3]);
      expect(r.recordErrors![0]!.message).toMatch(/Compacted topic cannot accept message without key/);
      expect(r.errorMessage).toMatch(/2 record errors/);
    }
  });

  it('a topic with cleanup.policy delete takes keyless records', async () => {
    expect((await validate(buildRecordBatch(records([null]))))).toEqual({ errorCode: ErrorCode.NONE, recordCount: 1 });
  });
});

describe('timestamps', () => {
  const at = (...ts: number[]): Buffer => buildRecordBatch(ts.map((t) => ({ key: null, value: b('v'), timestamp: t })));
  const HOUR = 3_600_000;

  it('message.timestamp.before.max.ms / after.max.ms bound CreateTime timestamps (INVALID_TIMESTAMP)', async () => {
    const rules = { ...DELETE, messageTimestampBeforeMaxMs: HOUR, messageTimestampAfterMaxMs: HOUR };
    expect((await validate(at(NOW, NOW - HOUR / 2, NOW + HOUR / 2), rules)).errorCode).toBe(ErrorCode.NONE);
    const r = await validate(at(NOW, NOW - 2 * HOUR, NOW + 2 * HOUR), rules);
    expect(r.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect(r.recordErrors!.map((e) => e.batchIndex)).toEqual([1, 2]);
    expect(r.recordErrors![0]!.message).toMatch(/out of range/);
    // -1 (no timestamp) is never out of range
    expect((await validate(at(-1), rules)).errorCode).toBe(ErrorCode.NONE);
  });

  it('message.timestamp.difference.max.ms applies where before/after are not set (Kafka 3.6+ precedence)', async () => {
    const rules = { ...DELETE, messageTimestampDifferenceMaxMs: HOUR };
    expect((await validate(at(NOW - 2 * HOUR), rules)).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await validate(at(NOW + 2 * HOUR), rules)).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await validate(at(NOW - 2 * HOUR), { ...rules, messageTimestampBeforeMaxMs: 3 * HOUR })).errorCode).toBe(ErrorCode.NONE);
    // the configs' default (Long.MAX_VALUE) means no bound
    expect((await validate(at(0), { ...DELETE, messageTimestampDifferenceMaxMs: 2 ** 63 })).errorCode).toBe(ErrorCode.NONE);
  });

  it('a LogAppendTime batch from a producer is refused on a LogAppendTime topic, taken as CreateTime otherwise (as Kafka)', async () => {
    const lat = buildRecordBatch([{ key: null, value: b('v'), timestamp: NOW }], { timestampType: 'LogAppendTime' });
    const r = await validate(Buffer.from(lat), { ...DELETE, messageTimestampType: 'LogAppendTime' });
    expect(r.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    const copy = Buffer.from(lat);
    expect((await validate(copy, DELETE)).errorCode).toBe(ErrorCode.NONE);
    expect(batchAttributes(copy) & TIMESTAMP_TYPE_MASK).toBe(0);
    expect(copy.readUInt32BE(CRC)).toBe(crc32c(copy, ATTRIBUTES));
  });

  it("the header's maxTimestamp is set to the records' largest timestamp (CreateTime), with a new CRC", async () => {
    const batch = batchOf([{ offsetDelta: 0, tsDelta: 0 }, { offsetDelta: 1, tsDelta: 5000 }], { baseTimestamp: NOW, maxTimestamp: NOW });
    expect((await validate(batch)).errorCode).toBe(ErrorCode.NONE);
    expect(batchMaxTimestamp(batch)).toBe(NOW + 5000);
    expect(batch.readUInt32BE(CRC)).toBe(crc32c(batch, ATTRIBUTES));
    expect(decodeRecordBatch(batch).maxTimestamp).toBe(NOW + 5000);
  });
});

// ---------------------------------------------------------------------------------------------
// Compression bombs

const ZEROS_MIB = Buffer.alloc(1 << 20);

/** A gzip stream of n MiB of zeros: n concatenated members (gunzip reads them all), ~1 KB each. */
function gzipBomb(mib: number): Buffer {
  return Buffer.concat(Array(mib).fill(gzipSync(ZEROS_MIB, { level: 9 })));
}

/** One zstd frame of n MiB of zeros that does not state its content size (streamed). */
function zstdStreamBomb(mib: number): Buffer {
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

describe('bounded decompression', () => {
  const LIMIT = 4 << 20;

  it('every codec refuses to inflate past the limit, sync and async, and inflates up to it', async () => {
    const big = Buffer.alloc(LIMIT + 1);
    const exact = Buffer.alloc(LIMIT);
    for (const codec of CODECS.slice(1)) {
      const bomb = compress(codec, big);
      expect(() => decompress(codec, bomb, LIMIT), `codec ${codec}`).toThrow(InflateLimitError);
      await expect(decompressAsync(codec, bomb, LIMIT), `codec ${codec}`).rejects.toThrow(InflateLimitError);
      expect(decompress(codec, compress(codec, exact), LIMIT).length).toBe(LIMIT);
      expect((await decompressAsync(codec, compress(codec, exact), LIMIT)).length).toBe(LIMIT);
    }
  });

  it('gzip and zstd without a stated size stop at the limit (a 1 GiB bomb is refused without inflating it)', async () => {
    const gz = gzipBomb(1024);
    expect(gz.length).toBeLessThan(2 << 20);
    expect(() => decompress(CompressionType.gzip, gz, LIMIT)).toThrow(InflateLimitError);
    await expect(decompressAsync(CompressionType.gzip, gz, LIMIT)).rejects.toThrow(InflateLimitError);
    const zs = zstdStreamBomb(1024);
    expect(zs.length).toBeLessThan(1 << 20);
    expect(zstd.getFrameContentSize(zs)).toBeNull();
    expect(() => decompress(CompressionType.zstd, zs, LIMIT)).toThrow(InflateLimitError);
    await expect(decompressAsync(CompressionType.zstd, zs, LIMIT)).rejects.toThrow(InflateLimitError);
    // the same streamed frame below the limit inflates
    expect(decompress(CompressionType.zstd, zstdStreamBomb(3), LIMIT).length).toBe(3 << 20);
  });
});

describe('compression bombs in produced batches', () => {
  // The records: one record whose value is `mib` MiB of zeros (valid records, just too big).
  const bigRecord = (mib: number): Buffer => recordBytes({ offsetDelta: 0, key: b('k'), value: Buffer.alloc(mib << 20) });
  const LIMIT_MIB = uncompressedLimit(MAX) >> 20;

  it('the limit is 64 x max.message.bytes, at least 16 MiB, at most 1 GiB', () => {
    expect(uncompressedLimit(1_048_588)).toBe(64 * 1_048_588);
    expect(uncompressedLimit(10_000)).toBe(16 << 20);
    expect(uncompressedLimit(100 << 20)).toBe(1 << 30);
  });

  it('codecs that state sizes (lz4, snappy, zstd with a content size) are refused before inflating, synchronously', () => {
    const section = bigRecord(LIMIT_MIB + 1);
    for (const codec of [CompressionType.lz4, CompressionType.snappy, CompressionType.zstd]) {
      const r = validateProducedBatch(batchAround(section, 1, { compression: codec }), DELETE);
      expect(r, `codec ${codec}`).not.toBeInstanceOf(Promise);
      expect((r as ProduceValidation).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    }
  });

  it('a gzip bomb and a streamed zstd bomb of 1 GiB of zeros are refused (MESSAGE_TOO_LARGE), asynchronously', async () => {
    const rules = { ...DELETE, maxMessageBytes: 2 << 20 }; // the gzip bomb is just above 1 MiB
    for (const [codec, body] of [
      [CompressionType.gzip, gzipBomb(1024)],
      [CompressionType.zstd, zstdStreamBomb(1024)],
    ] as const) {
      const r = validateProducedBatch(batchAround(body, 1, { attributes: codec }), rules);
      expect(r).toBeInstanceOf(Promise);
      expect((await r).errorCode, `codec ${codec}`).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    }
  });

  it('valid records just under the limit are accepted by every codec', async () => {
    const section = bigRecord(LIMIT_MIB - 1);
    // (snappy compresses at most about 21x, so a snappy batch within max.message.bytes never nears the limit)
    expect((await validate(batchAround(bigRecord(15), 1, { compression: CompressionType.snappy }))).errorCode).toBe(ErrorCode.NONE);
    for (const codec of [CompressionType.gzip, CompressionType.lz4, CompressionType.zstd]) {
      const r = await validate(batchAround(section, 1, { compression: codec }));
      expect(r.errorCode, `codec ${codec}: ${r.errorMessage}`).toBe(ErrorCode.NONE);
    }
  });
});

describe('large batches are validated asynchronously', () => {
  it('an uncompressed batch above the per-turn budget gets a promise with the same verdict', async () => {
    const n = Math.ceil(INLINE_BUDGET_BYTES / 1000) + 10;
    const records = Array.from({ length: n }, (_, i) => ({ key: b(`k${i}`), value: Buffer.alloc(1000, 0x61), timestamp: NOW }));
    const good = buildRecordBatch(records);
    const r = validateProducedBatch(good, { ...DELETE, maxMessageBytes: 64 << 20 });
    expect(r).toBeInstanceOf(Promise);
    expect(await r).toEqual({ errorCode: ErrorCode.NONE, recordCount: n });
    records[n - 1]!.key = null as unknown as Buffer;
    const bad = validateProducedBatch(buildRecordBatch(records), { ...COMPACT, maxMessageBytes: 64 << 20 });
    expect(bad).toBeInstanceOf(Promise);
    expect((await bad).recordErrors).toEqual([{ batchIndex: n - 1, message: expect.any(String) }]);
  });

  it(`several at once all complete (at most ${MAX_CONCURRENT_ASYNC} run at a time)`, async () => {
    const bombs = Array.from({ length: 5 }, () => validateProducedBatch(batchAround(gzipBomb(80), 1, { attributes: CompressionType.gzip }), DELETE));
    const results = await Promise.all(bombs);
    expect(results.map((r) => r.errorCode)).toEqual(Array(5).fill(ErrorCode.MESSAGE_TOO_LARGE));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const header = fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a))) });
const record = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
  value: fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))),
  headers: fc.array(header, { maxLength: 4 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 42 }),
});

describe('properties', () => {
  it('every batch built by buildRecordBatch validates, with every codec', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 30 }), fc.constantFrom(...CODECS), async (records, compression) => {
        const batch = buildRecordBatch(records as RecordInput[], { compression });
        const r = await validate(batch);
        expect(r).toEqual({ errorCode: ErrorCode.NONE, recordCount: records.length });
      }),
      { numRuns: 300 },
    );
  });

  it('a single-byte mutation of the records (CRC recomputed) is refused, or accepted and then decodes cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 1, maxLength: 10 }),
        fc.constantFrom(...CODECS),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (records, compression, where, xor) => {
          const batch = buildRecordBatch(records as RecordInput[], { compression });
          const at = RECORDS + (where % (batch.length - RECORDS));
          batch[at] ^= xor;
          setBatchCrc(batch);
          const r = await validate(batch);
          if (r.errorCode === ErrorCode.NONE) {
            const decoded = decodeRecordBatch(batch);
            expect(decoded.records).toHaveLength(records.length);
            expect(decoded.records.map((x) => x.offset)).toEqual(records.map((_, i) => i));
          } else {
            expect([ErrorCode.INVALID_RECORD, ErrorCode.MESSAGE_TOO_LARGE]).toContain(r.errorCode);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('arbitrary bytes', () => {
  it('a records section of random bytes (any codec bits, any count) gets a verdict, never an exception', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom(...CODECS),
        async (bytes, count, codec) => {
          const batch = batchAround(Buffer.from(bytes), count, { attributes: codec });
          const r = await validate(batch);
          if (r.errorCode === ErrorCode.NONE) expect(decodeRecordBatch(batch).records).toHaveLength(count);
          else expect(r.errorMessage).toBeTruthy();
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('OrderedAppends', () => {
  it('keeps arrival order per key when an earlier verdict is asynchronous, and stays synchronous otherwise', async () => {
    const q = new OrderedAppends<string>();
    const order: string[] = [];
    expect(q.run('p', 1, (v) => (order.push(`sync${v}`), v))).toBe(1);
    let release!: (v: number) => void;
    const slow = new Promise<number>((r) => (release = r));
    const a = q.run('p', slow, (v) => (order.push(`slow${v}`), v));
    const b2 = q.run('p', 3, (v) => (order.push(`after${v}`), v));
    const other = q.run('q', 4, (v) => (order.push(`other${v}`), v));
    expect(other).toBe(4); // another partition is not held up
    expect(b2).toBeInstanceOf(Promise);
    release(2);
    expect(await a).toBe(2);
    expect(await b2).toBe(3);
    expect(order).toEqual(['sync1', 'other4', 'slow2', 'after3']);
    expect(q.run('p', 5, (v) => v)).toBe(5); // drained: synchronous again
  });

  it('does not wait for what an earlier append returned (a flush or replication wait)', async () => {
    const q = new OrderedAppends<string>();
    const never = new Promise<number>(() => undefined);
    const slow = Promise.resolve(1);
    void q.run('p', slow, () => never);
    expect(await q.run('p', 2, (v) => v)).toBe(2);
  });
});
