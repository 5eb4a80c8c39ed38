import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RecordBatchBuilder } from '../../src/protocol/record-batch-builder.js';
import { buildRecordBatch, decodeRecordBatch, verifyBatchCrc } from '../../src/protocol/records.js';
import { validateProducedBatch } from '../../src/protocol/record-validator.js';
import { ErrorCode } from '../../src/protocol/errors.js';

const T0 = 1_700_000_000_000;
const rules = { maxMessageBytes: 64 << 20, cleanupPolicy: ['delete'] };

describe('RecordBatchBuilder', () => {
  it('encodes exactly what buildRecordBatch encodes (keys, values, nulls, strings, headers), for every codec', () => {
    for (const compression of [0, 1, 2, 3, 4]) {
      const builder = new RecordBatchBuilder(1 << 20);
      builder.append(T0, 'k1', Buffer.from('v1'));
      builder.append(T0 + 5, null, 'é unicode', [{ key: 'h', value: 'x' }, { key: 'h', value: null }]);
      builder.append(T0 - 3, Buffer.alloc(0), null, { a: Buffer.from([1, 2]), b: null });
      const built = builder.build({ compression });
      const expected = buildRecordBatch(
        [
          { key: Buffer.from('k1'), value: Buffer.from('v1'), timestamp: T0 },
          { key: null, value: Buffer.from('é unicode'), headers: [{ key: 'h', value: Buffer.from('x') }, { key: 'h', value: null }], timestamp: T0 + 5 },
          { key: Buffer.alloc(0), value: null, headers: [{ key: 'a', value: Buffer.from([1, 2]) }, { key: 'b', value: null }], timestamp: T0 - 3 },
        ],
        { compression },
      );
      if (compression === 0) expect(built.equals(expected)).toBe(true);
      expect(verifyBatchCrc(built)).toBe(true);
      const decoded = decodeRecordBatch(built);
      expect(decoded.compression).toBe(compression);
      expect(decoded.maxTimestamp).toBe(T0 + 5);
      expect(decoded.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
        [0, T0, 'k1', 'v1'],
        [1, T0 + 5, null, 'é unicode'],
        [2, T0 - 3, '', null],
      ]);
      expect(decoded.records[1]!.headers.map((h) => [h.key, h.value?.toString() ?? null])).toEqual([
        ['h', 'x'],
        ['h', null],
      ]);
      const validation = validateProducedBatch(Buffer.from(built), rules);
      expect(validation).toMatchObject({ errorCode: ErrorCode.NONE, recordCount: 3 });
    }
  });

  it('refuses a record that would pass the limit once it holds one, and takes an oversized first record alone', () => {
    const builder = new RecordBatchBuilder(200);
    const value = Buffer.alloc(60, 1);
    expect(builder.append(T0, null, value)).toBeGreaterThan(60);
    expect(builder.append(T0, null, value)).toBeGreaterThan(60);
    expect(builder.append(T0, null, value)).toBe(-1); // 61 + 3 × ~66 > 200
    expect(builder.count).toBe(2);
    expect(decodeRecordBatch(builder.build()).records).toHaveLength(2);

    const alone = new RecordBatchBuilder(100);
    expect(alone.append(T0, null, Buffer.alloc(10_000, 2))).toBeGreaterThan(10_000);
    expect(alone.append(T0, null, Buffer.alloc(1))).toBe(-1);
    const decoded = decodeRecordBatch(alone.build());
    expect(decoded.records).toHaveLength(1);
    expect(decoded.records[0]!.value!.equals(Buffer.alloc(10_000, 2))).toBe(true);
  });

  it('round-trips random records through growth of its buffer', () => {
    const record = fc.record({
      key: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
      value: fc.option(fc.uint8Array({ maxLength: 3000 }), { nil: null }),
      delta: fc.integer({ min: -100_000, max: 100_000 }),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 60 }), (records) => {
        const builder = new RecordBatchBuilder(1 << 30);
        for (const r of records) {
          builder.append(T0 + r.delta, r.key && Buffer.from(r.key), r.value && Buffer.from(r.value));
        }
        const decoded = decodeRecordBatch(builder.build());
        expect(decoded.records).toHaveLength(records.length);
        decoded.records.forEach((d, i) => {
          const r = records[i]!;
          expect(d.timestamp).toBe(T0 + r.delta);
          expect(d.key === null ? null : [...d.key]).toEqual(r.key === null ? null : [...r.key]);
          expect(d.value === null ? null : [...d.value]).toEqual(r.value === null ? null : [...r.value]);
        });
      }),
      { numRuns: 100 },
    );
  });
});
