import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildRecordBatch,
  checkBatchStructure,
  decodeRecordBatch,
  decodeRecordBatches,
  forEachBatch,
  setBatchCrc,
  verifyBatchCrc,
  type RecordInput,
} from '../../src/protocol/records.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { validateProducedBatch } from '../../src/protocol/record-validator.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  ATTRIBUTES,
  CONTROL_FLAG,
  CRC,
  LAST_OFFSET_DELTA,
  MAGIC,
  RECORDS_COUNT,
  batchLastOffset,
  batchSize,
  setBatchBaseOffset,
} from '../../src/protocol/record-batch-header.js';

const CODECS = [0, 1, 2, 3, 4];
const T0 = 1_700_000_000_000;
const b = (s: string) => Buffer.from(s);

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''), 'hex');
}

describe('golden bytes', () => {
  it('matches the hand-written v2 layout for two small records', () => {
    const batch = buildRecordBatch(
      [
        { key: b('k'), value: b('v'), headers: [{ key: 'h', value: b('x') }], timestamp: T0 },
        { key: null, value: b('vv'), timestamp: T0 + 5 },
      ],
      {},
    );
    const record1 = hex(`
      18     // length 12 (zig-zag 24)
      00     // attributes
      00     // timestampDelta 0
      00     // offsetDelta 0
      02 6b  // key length 1, "k"
      02 76  // value length 1, "v"
      02     // headers count 1
      02 68  // header key length 1, "h"
      02 78  // header value length 1, "x"
    `);
    const record2 = hex('10 00 0a 02 01 04 7676 00'); // len 8, attrs, tsDelta 5, offDelta 1, key null, value "vv", 0 headers
    const header = hex(`
      0000000000000000
      00000047
      ffffffff
      02
      00000000
      0000
      00000001
      0000018bcfe56800
      0000018bcfe56805
      ffffffffffffffff
      ffff
      ffffffff
      00000002
    `);
    const expected = Buffer.concat([header, record1, record2]);
    expected.writeUInt32BE(crc32c(expected, 21, expected.length), 17);
    expect(record1.length).toBe(13);
    expect(batch.toString('hex')).toBe(expected.toString('hex'));
    // and a known CRC-32C: stable across implementations
    expect(batch.readUInt32BE(CRC)).toBe(crc32c(batch, ATTRIBUTES));
  });
});

describe('buildRecordBatch / decodeRecordBatch', () => {
  it('fills header fields from options and defaults', () => {
    const before = Date.now();
    const batch = buildRecordBatch([{ key: null, value: b('a') }, { key: b('x'), value: null }]);
    const d = decodeRecordBatch(batch);
    expect(d.baseOffset).toBe(0);
    expect(d.lastOffset).toBe(1);
    expect(d.partitionLeaderEpoch).toBe(-1);
    expect(d.producerId).toBe(-1);
    expect(d.producerEpoch).toBe(-1);
    expect(d.baseSequence).toBe(-1);
    expect(d.magic).toBe(2);
    expect(d.isTransactional).toBe(false);
    expect(d.isControl).toBe(false);
    expect(d.timestampType).toBe('CreateTime');
    expect(d.baseTimestamp).toBeGreaterThanOrEqual(before);
    expect(d.records[0]!.timestamp).toBe(d.baseTimestamp);
    expect(d.records[1]!.timestamp).toBe(d.baseTimestamp);
    expect(d.sizeInBytes).toBe(batch.length);
    expect(d.recordsCount).toBe(2);
    expect(d.records.map((r) => r.offset)).toEqual([0, 1]);
    expect(d.records[0]!.key).toBeNull();
    expect(d.records[1]!.value).toBeNull();

    const big = 2 ** 40 + 17;
    const b2 = buildRecordBatch(
      [
        { key: null, value: b('a'), timestamp: T0 + 10 },
        { key: null, value: b('b'), timestamp: T0 - 50 },
        { key: null, value: b('c'), timestamp: T0 + 99 },
      ],
      {
        baseOffset: big,
        producerId: 123456789012,
        producerEpoch: 7,
        baseSequence: 42,
        transactional: true,
        partitionLeaderEpoch: 3,
        compression: CompressionType.zstd,
      },
    );
    const d2 = decodeRecordBatch(b2);
    expect(d2.baseOffset).toBe(big);
    expect(d2.lastOffset).toBe(big + 2);
    expect(batchLastOffset(b2)).toBe(big + 2);
    expect(d2.producerId).toBe(123456789012);
    expect(d2.producerEpoch).toBe(7);
    expect(d2.baseSequence).toBe(42);
    expect(d2.isTransactional).toBe(true);
    expect(d2.partitionLeaderEpoch).toBe(3);
    expect(d2.compression).toBe(CompressionType.zstd);
    expect(d2.attributes).toBe(0x10 | 4);
    expect(d2.baseTimestamp).toBe(T0 + 10);
    expect(d2.maxTimestamp).toBe(T0 + 99);
    expect(d2.records.map((r) => r.timestamp)).toEqual([T0 + 10, T0 - 50, T0 + 99]);
    expect(d2.records.map((r) => r.offset)).toEqual([big, big + 1, big + 2]);
    expect(verifyBatchCrc(b2)).toBe(true);
  });

  it('LogAppendTime: every record timestamp is maxTimestamp', () => {
    const batch = buildRecordBatch(
      [
        { key: null, value: b('a'), timestamp: T0 },
        { key: null, value: b('b'), timestamp: T0 + 1 },
      ],
      { timestampType: 'LogAppendTime' },
    );
    // broker-style rewrite of maxTimestamp, then CRC refresh
    batch.writeUInt32BE(0, 35);
    batch.writeUInt32BE(12345, 39);
    setBatchCrc(batch);
    expect(verifyBatchCrc(batch)).toBe(true);
    const d = decodeRecordBatch(batch);
    expect(d.timestampType).toBe('LogAppendTime');
    expect(d.records.map((r) => r.timestamp)).toEqual([12345, 12345]);
  });

  it('handles unicode header keys, empty and null header values, empty keys/values', () => {
    const recs: RecordInput[] = [
      {
        key: Buffer.alloc(0),
        value: Buffer.alloc(0),
        headers: [
          { key: 'ключ-🔑', value: b('v') },
          { key: '', value: null },
          { key: 'e', value: Buffer.alloc(0) },
        ],
        timestamp: T0,
      },
    ];
    for (const compression of CODECS) {
      const d = decodeRecordBatch(buildRecordBatch(recs, { compression }));
      const r = d.records[0]!;
      expect(r.key).toEqual(Buffer.alloc(0));
      expect(r.value).toEqual(Buffer.alloc(0));
      expect(r.headers).toEqual([
        { key: 'ключ-🔑', value: b('v') },
        { key: '', value: null },
        { key: 'e', value: Buffer.alloc(0) },
      ]);
    }
  });

  it('decodes at a non-zero position', () => {
    const one = buildRecordBatch([{ key: b('a'), value: b('1'), timestamp: T0 }]);
    const two = buildRecordBatch([{ key: b('b'), value: b('2'), timestamp: T0 }], { baseOffset: 1 });
    const buf = Buffer.concat([one, two]);
    expect(decodeRecordBatch(buf, one.length).records[0]!.offset).toBe(1);
    expect(verifyBatchCrc(buf, one.length)).toBe(true);
    expect(checkBatchStructure(buf, one.length, buf.length)).toBeNull();
  });

  it('rejects another magic and truncation', () => {
    const batch = buildRecordBatch([{ key: null, value: b('x'), timestamp: T0 }]);
    expect(() => decodeRecordBatch(batch.subarray(0, 40))).toThrow(/truncated/);
    expect(() => decodeRecordBatch(batch.subarray(0, batch.length - 1))).toThrow();
    const m1 = Buffer.from(batch);
    m1[MAGIC] = 1;
    expect(() => decodeRecordBatch(m1)).toThrow(/magic/);
  });

  it('property: build -> decode is the identity', () => {
    const bytes = fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { nil: null });
    const header = fc.record({ key: fc.string({ maxLength: 12, unit: 'grapheme' }), value: bytes });
    const record = fc.record({
      key: bytes,
      value: bytes,
      headers: fc.array(header, { maxLength: 4 }),
      timestamp: fc.integer({ min: 0, max: 2 ** 45 }),
    });
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 20 }),
        fc.constantFrom(...CODECS),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.integer({ min: -1, max: 2 ** 40 }),
        (records, compression, baseOffset, producerId) => {
          const batch = buildRecordBatch(records, { compression, baseOffset, producerId });
          expect(verifyBatchCrc(batch)).toBe(true);
          expect(checkBatchStructure(batch, 0, batch.length)).toBeNull();
          expect(batchSize(batch)).toBe(batch.length);
          const d = decodeRecordBatch(batch);
          expect(d.compression).toBe(compression);
          expect(d.recordsCount).toBe(records.length);
          expect(d.baseOffset).toBe(baseOffset);
          expect(d.producerId).toBe(producerId);
          expect(d.maxTimestamp).toBe(Math.max(...records.map((r) => r.timestamp)));
          expect(d.records.length).toBe(records.length);
          d.records.forEach((r, i) => {
            const src = records[i]!;
            expect(r.offset).toBe(baseOffset + i);
            expect(r.timestamp).toBe(src.timestamp);
            expect(r.key === null ? null : r.key.toString('hex')).toBe(src.key === null ? null : src.key.toString('hex'));
            expect(r.value === null ? null : r.value.toString('hex')).toBe(
              src.value === null ? null : src.value.toString('hex'),
            );
            expect(r.headers.map((h) => [h.key, h.value?.toString('hex') ?? null])).toEqual(
              src.headers.map((h) => [h.key, h.value?.toString('hex') ?? null]),
            );
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('CRC', () => {
  it('detects corruption anywhere in [21, end), ignores baseOffset and leader epoch', () => {
    const batch = buildRecordBatch(
      [{ key: b('key'), value: b('value'.repeat(20)), timestamp: T0 }],
      { compression: CompressionType.gzip },
    );
    expect(verifyBatchCrc(batch)).toBe(true);
    for (const at of [21, 30, 61, batch.length - 1]) {
      const c = Buffer.from(batch);
      c[at] = c[at]! ^ 0x01;
      expect(verifyBatchCrc(c)).toBe(false);
      expect(checkBatchStructure(c, 0, c.length)).toMatch(/CRC/);
    }
    const c = Buffer.from(batch);
    c[CRC] = c[CRC]! ^ 0xff;
    expect(verifyBatchCrc(c)).toBe(false);
    const moved = Buffer.from(batch);
    setBatchBaseOffset(moved, 999);
    moved.writeInt32BE(5, 12);
    expect(verifyBatchCrc(moved)).toBe(true);
    expect(verifyBatchCrc(batch.subarray(0, 30))).toBe(false);
  });
});

describe('forEachBatch', () => {
  const batches = [0, 1, 2].map((i) =>
    buildRecordBatch([{ key: null, value: b(`v${i}`), timestamp: T0 }], { baseOffset: i, compression: i }),
  );
  const all = Buffer.concat(batches);

  it('iterates concatenated batches', () => {
    const seen: [number, number][] = [];
    expect(forEachBatch(all, (pos, size) => seen.push([pos, size]))).toBe(all.length);
    expect(seen).toEqual([
      [0, batches[0]!.length],
      [batches[0]!.length, batches[1]!.length],
      [batches[0]!.length + batches[1]!.length, batches[2]!.length],
    ]);
    expect(decodeRecordBatches(all).map((d) => d.records[0]!.value!.toString())).toEqual(['v0', 'v1', 'v2']);
  });

  it('stops silently at a partial trailing batch', () => {
    const firstTwo = batches[0]!.length + batches[1]!.length;
    for (const cut of [1, 11, 12, 40, batches[2]!.length - 1]) {
      const buf = all.subarray(0, firstTwo + cut);
      let n = 0;
      expect(forEachBatch(buf, () => n++)).toBe(firstTwo);
      expect(n).toBe(2);
      expect(decodeRecordBatches(buf).length).toBe(2);
    }
    expect(forEachBatch(Buffer.alloc(0), () => expect.unreachable())).toBe(0);
  });

  it('throws on an impossible batch length', () => {
    const bad = Buffer.from(all);
    bad.writeInt32BE(0, 8);
    expect(() => forEachBatch(bad, () => {})).toThrow();
  });
});

describe('checkBatchStructure', () => {
  const good = buildRecordBatch([{ key: null, value: b('x'), timestamp: T0 }, { key: null, value: b('y') }]);
  it('accepts a good batch and reports reasons', () => {
    expect(checkBatchStructure(good, 0, good.length)).toBeNull();
    expect(checkBatchStructure(good, 0, 60)).toMatch(/header/);
    expect(checkBatchStructure(good, 0, good.length - 1)).toMatch(/past end/);
    const small = Buffer.from(good);
    small.writeInt32BE(40, 8);
    expect(checkBatchStructure(small, 0, small.length)).toMatch(/minimum/);
    const m = Buffer.from(good);
    m[MAGIC] = 1;
    expect(checkBatchStructure(m, 0, m.length)).toMatch(/magic/);
    const cnt = Buffer.from(good);
    cnt.writeInt32BE(5, RECORDS_COUNT);
    setBatchCrc(cnt);
    expect(checkBatchStructure(cnt, 0, cnt.length)).toMatch(/lastOffsetDelta/);
    const empty = buildRecordBatch([]);
    expect(checkBatchStructure(empty, 0, empty.length)).toMatch(/count/);
  });
});

describe('interop with kafkajs record batch codec', () => {
  const require = createRequire(import.meta.url);
  const KjsRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/index.js').RecordBatch;
  const KjsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js');
  const kjsDecodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js');
  const KjsDecoder = require('kafkajs/src/protocol/decoder.js');

  for (const compression of [CompressionType.none, CompressionType.gzip]) {
    it(`kafkajs decodes our batches (codec ${compression})`, async () => {
      const batch = buildRecordBatch(
        [
          { key: b('k1'), value: b('v1'), headers: [{ key: 'h', value: b('hv') }], timestamp: T0 },
          { key: null, value: b('v2'), timestamp: T0 + 3 },
        ],
        { compression, baseOffset: 10 },
      );
      const d = await kjsDecodeBatch(new KjsDecoder(batch));
      expect(d.records.map((r: { offset: string }) => r.offset)).toEqual(['10', '11']);
      expect(d.records[0].key.toString()).toBe('k1');
      expect(d.records[0].headers.h.toString()).toBe('hv');
      expect(d.records[1].key).toBeNull();
      expect(d.records[1].value.toString()).toBe('v2');
      expect(d.records[1].timestamp).toBe(String(T0 + 3));
    });

    it(`we decode kafkajs batches and accept their CRC (codec ${compression})`, async () => {
      const encoder = await KjsRecordBatch({
        compression,
        firstTimestamp: T0,
        maxTimestamp: T0 + 1,
        lastOffsetDelta: 1,
        partitionLeaderEpoch: -1,
        records: [
          KjsRecord({ offsetDelta: 0, timestampDelta: 0, key: b('a'), value: b('1'), headers: { x: b('y') } }),
          KjsRecord({ offsetDelta: 1, timestampDelta: 1, key: null, value: b('2') }),
        ],
      });
      const buf: Buffer = encoder.buffer;
      expect(verifyBatchCrc(buf)).toBe(true);
      expect(validateProducedBatch(buf, { maxMessageBytes: 1_000_000, cleanupPolicy: ['delete'] })).toEqual({ errorCode: 0, recordCount: 2 });
      const d = decodeRecordBatch(buf);
      expect(d.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value!.toString()])).toEqual([
        [0, T0, 'a', '1'],
        [1, T0 + 1, null, '2'],
      ]);
      expect(d.records[0]!.headers).toEqual([{ key: 'x', value: b('y') }]);
    });
  }
});
