/**
 * Values for `records` fields: valid v2 batches (every codec, idempotent and transactional
 * headers), valid batches with one header field set to a hostile value (CRC recomputed, so the
 * broker's checks beyond the CRC are what stands in the way), garbage records under a correct
 * header and CRC, compressed garbage, small compressed batches that inflate a lot, legacy message
 * sets, and plain random bytes.
 */
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { buildRecordBatch, type RecordInput } from '../../src/protocol/records.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { compress } from '../../src/protocol/compression.js';

/** Offsets in a v2 batch header. */
const HEADER_FIELDS: readonly { offset: number; size: 1 | 2 | 4 | 8 }[] = [
  { offset: 0, size: 8 }, // baseOffset
  { offset: 8, size: 4 }, // batchLength
  { offset: 12, size: 4 }, // partitionLeaderEpoch
  { offset: 16, size: 1 }, // magic
  { offset: 21, size: 2 }, // attributes
  { offset: 23, size: 4 }, // lastOffsetDelta
  { offset: 27, size: 8 }, // baseTimestamp
  { offset: 35, size: 8 }, // maxTimestamp
  { offset: 43, size: 8 }, // producerId
  { offset: 51, size: 2 }, // producerEpoch
  { offset: 53, size: 4 }, // baseSequence
  { offset: 57, size: 4 }, // recordsCount
];
const RECORDS_START = 61;

const HOSTILE_INTS = [0, 1, -1, 2, 3, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000, 1000000] as const;

const smallBytes = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));
const recordArb: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(smallBytes, { nil: null }),
  value: fc.option(smallBytes, { nil: null, freq: 8 }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(smallBytes, { nil: null }) }), { maxLength: 2 }),
  timestamp: fc.oneof(
    { arbitrary: fc.constant(1_700_000_000_000), weight: 6 },
    { arbitrary: fc.constantFrom(-1, 0, 8.64e15, -8.64e15), weight: 1 },
  ),
});

export const validBatchArb: fc.Arbitrary<Buffer> = fc
  .record({
    records: fc.array(recordArb, { minLength: 1, maxLength: 3 }),
    compression: fc.constantFrom(0, 0, 0, 1, 2, 3, 4),
    idempotent: fc.boolean(),
    producerId: fc.constantFrom(0, 1, 1000, 2 ** 40),
    producerEpoch: fc.constantFrom(0, 1, 32767),
    baseSequence: fc.constantFrom(0, 1, 5, 0x7fffffff),
    transactional: fc.boolean(),
    isControl: fc.constantFrom(false, false, false, true),
    logAppendTime: fc.constantFrom(false, false, true),
  })
  .map((o) =>
    buildRecordBatch(o.records, {
      compression: o.compression,
      producerId: o.idempotent ? o.producerId : -1,
      producerEpoch: o.idempotent ? o.producerEpoch : -1,
      baseSequence: o.idempotent ? o.baseSequence : -1,
      transactional: o.idempotent && o.transactional,
      isControl: o.isControl,
      timestampType: o.logAppendTime ? 'LogAppendTime' : 'CreateTime',
    }),
  );

function setField(buf: Buffer, offset: number, size: number, value: number): void {
  switch (size) {
    case 1:
      buf.writeInt8(((value << 24) >> 24), offset);
      break;
    case 2:
      buf.writeInt16BE(((value << 16) >> 16), offset);
      break;
    case 4:
      buf.writeInt32BE(value | 0, offset);
      break;
    default:
      buf.writeBigInt64BE(BigInt(Math.trunc(value)), offset);
  }
}

/** Recomputes the CRC-32C over the bytes actually there (attributes to the end). */
function fixCrc(buf: Buffer): Buffer {
  if (buf.length >= RECORDS_START) buf.writeUInt32BE(crc32c(buf, 21, buf.length) >>> 0, 17);
  return buf;
}

const mutatedHeaderArb = fc
  .tuple(validBatchArb, fc.constantFrom(...HEADER_FIELDS), fc.constantFrom(...HOSTILE_INTS), fc.boolean())
  .map(([batch, field, value, recrc]) => {
    const b = Buffer.from(batch);
    setField(b, field.offset, field.size, value);
    return recrc ? fixCrc(b) : b;
  });

function withBody(header: Buffer, body: Buffer, attributes: number | null): Buffer {
  const b = Buffer.concat([header.subarray(0, RECORDS_START), body]);
  b.writeInt32BE(b.length - 12, 8);
  if (attributes !== null) b.writeInt16BE(attributes, 21);
  return fixCrc(b);
}

const garbageRecordsArb = fc
  .tuple(validBatchArb, fc.uint8Array({ maxLength: 64 }), fc.constantFrom(null, 0, 1, 2, 3, 4, 5, 7))
  .map(([batch, garbage, attributes]) => withBody(batch, Buffer.from(garbage), attributes));

/** Records sections that compress well but inflate far beyond their size. */
const bombCache = new Map<string, Buffer>();
function bomb(codec: number, inflated: number): Buffer {
  const key = `${codec}:${inflated}`;
  let b = bombCache.get(key);
  if (!b) {
    b = compress(codec, Buffer.alloc(inflated));
    bombCache.set(key, b);
  }
  return b;
}
const bombArb = fc
  .tuple(validBatchArb, fc.constantFrom(1, 2, 3, 4), fc.constantFrom(1 << 16, 1 << 20, 8 << 20))
  .map(([batch, codec, inflated]) => withBody(batch, bomb(codec, inflated), codec));

/** Magic 0 and 1 message sets, with a correct or wrong CRC-32. */
const legacyArb = fc
  .record({
    magic: fc.constantFrom(0, 1),
    attributes: fc.constantFrom(0, 1, 2, 3, 4, 8, 0x80),
    key: fc.option(smallBytes, { nil: null }),
    value: fc.option(smallBytes, { nil: null }),
    rightCrc: fc.boolean(),
    offset: fc.constantFrom(0, 5, -1),
  })
  .map((m) => {
    const kv = (b: Buffer | null): Buffer => {
      const len = Buffer.alloc(4);
      len.writeInt32BE(b ? b.length : -1);
      return b ? Buffer.concat([len, b]) : len;
    };
    const ts = m.magic === 1 ? Buffer.alloc(8) : Buffer.alloc(0);
    const body = Buffer.concat([Buffer.from([m.magic, m.attributes]), ts, kv(m.key), kv(m.value)]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(m.rightCrc ? crc32(body) >>> 0 : 0xdeadbeef);
    const msg = Buffer.concat([crc, body]);
    const head = Buffer.alloc(12);
    head.writeBigInt64BE(BigInt(m.offset), 0);
    head.writeInt32BE(msg.length, 8);
    return Buffer.concat([head, msg]);
  });

export const recordsValueArb: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: validBatchArb, weight: 8 },
  { arbitrary: mutatedHeaderArb, weight: 4 },
  { arbitrary: garbageRecordsArb, weight: 3 },
  { arbitrary: bombArb, weight: 1 },
  { arbitrary: legacyArb, weight: 2 },
  { arbitrary: fc.tuple(validBatchArb, validBatchArb).map(([a, b]) => Buffer.concat([a, b])), weight: 1 },
  { arbitrary: fc.tuple(validBatchArb, fc.integer({ min: 1, max: 60 })).map(([a, n]) => a.subarray(0, Math.max(0, a.length - n))), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)), weight: 1 },
);
