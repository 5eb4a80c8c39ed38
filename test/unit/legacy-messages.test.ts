/**
 * Legacy message sets (magic 0/1) as carried by Produce v0-2: parsing, checks (CRC-32, magic, nested
 * compression, partial trailing messages) and up-conversion to one record batch v2. Message sets are built
 * byte by byte here following the old-format layout in Kafka's docs, plus a few byte strings produced by
 * kafka-python 2.0.2's LegacyRecordBatchBuilder as an independent reference.
 */
import { describe, expect, it } from 'vitest';
import { crc32 } from '@node-rs/crc32';
import { compressFrameSync as lz4Frame } from 'lz4-napi';
import { compress, CompressionType } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  isLegacyMessageSet,
  parseLegacyMessageSet,
  upConvertToBatch,
  withCorrectLz4HeaderChecksum,
  xxh32Short,
  type LegacyError,
  type LegacyMessageSet,
} from '../../src/protocol/legacy-messages.js';
import { decodeRecordBatch, verifyBatchCrc } from '../../src/protocol/records.js';
import { validateProducedBatch } from '../../src/protocol/record-validator.js';

// ---- byte-level builders (old-format layout) ------------------------------------------------------------

interface Msg {
  magic: 0 | 1;
  /** attributes byte: bits 0-2 codec, bit 3 LogAppendTime (magic 1) */
  attributes?: number;
  /** magic 1 only */
  timestamp?: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
}

const bytes = (b: Buffer | string | null): Buffer | null => (b === null ? null : Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8'));

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

function lengthPrefixed(b: Buffer | null): Buffer {
  return b === null ? int32(-1) : Buffer.concat([int32(b.length), b]);
}

/** Crc Magic Attributes [Timestamp] Key Value, with a correct CRC-32 over Magic..Value. */
function message(m: Msg): Buffer {
  const body = Buffer.concat([
    Buffer.from([m.magic, m.attributes ?? 0]),
    m.magic === 1 ? int64(m.timestamp ?? 0) : Buffer.alloc(0),
    lengthPrefixed(bytes(m.key)),
    lengthPrefixed(bytes(m.value)),
  ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([crc, body]);
}

/** Offset MessageSize Message */
function entry(offset: number, msg: Buffer): Buffer {
  return Buffer.concat([int64(offset), int32(msg.length), msg]);
}

function messageSet(msgs: Msg[], firstOffset = 0): Buffer {
  return Buffer.concat(msgs.map((m, i) => entry(firstOffset + i, message(m))));
}

/** A compressed wrapper message whose value is `inner` compressed with `codec`. */
function wrapper(magic: 0 | 1, codec: number, inner: Buffer, opts: { timestamp?: number; logAppendTime?: boolean; compressed?: Buffer } = {}): Buffer {
  return message({
    magic,
    attributes: codec | (opts.logAppendTime ? 0x08 : 0),
    timestamp: opts.timestamp,
    key: null,
    value: opts.compressed ?? compress(codec, inner),
  });
}

function ok(r: LegacyMessageSet | LegacyError): LegacyMessageSet {
  if ('errorCode' in r) throw new Error(`unexpected error ${r.errorCode}: ${r.errorMessage}`);
  return r;
}

function err(r: LegacyMessageSet | LegacyError | Buffer): LegacyError {
  if (Buffer.isBuffer(r) || !('errorCode' in r)) throw new Error('expected an error');
  return r;
}

const str = (b: Buffer | null | undefined): string | null => (b === null || b === undefined ? null : b.toString('utf8'));

function keyValues(set: LegacyMessageSet): [string | null, string | null, number | undefined][] {
  return set.records.map((r) => [str(r.key), str(r.value), r.timestamp]);
}

const T0 = 1_700_000_000_000;

const THREE_V0: Msg[] = [
  { magic: 0, key: 'k0', value: 'v0' },
  { magic: 0, key: null, value: 'value one' },
  { magic: 0, key: 'k2', value: null },
];
const THREE_V1: Msg[] = [
  { magic: 1, timestamp: T0, key: 'k0', value: 'v0' },
  { magic: 1, timestamp: T0 + 1, key: null, value: 'value one' },
  { magic: 1, timestamp: T0 + 2, key: 'k2', value: null },
];

// Java's xerial snappy-java stream framing, as the Java client writes magic 0/1 snappy.
function xerialSnappy(data: Buffer): Buffer {
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  const block = compress(CompressionType.snappy, data);
  return Buffer.concat([header, int32(block.length), block]);
}

// ---- tests ---------------------------------------------------------------------------------------------

describe('isLegacyMessageSet', () => {
  it('looks at the magic byte at offset 16', () => {
    expect(isLegacyMessageSet(messageSet(THREE_V0))).toBe(true);
    expect(isLegacyMessageSet(messageSet(THREE_V1))).toBe(true);
    const v2 = Buffer.from(messageSet(THREE_V1));
    v2[16] = 2;
    expect(isLegacyMessageSet(v2)).toBe(false);
    expect(isLegacyMessageSet(Buffer.alloc(16))).toBe(false);
    expect(isLegacyMessageSet(null)).toBe(false);
  });
});

describe('parseLegacyMessageSet: uncompressed', () => {
  it('magic 0: keys, values (null too), no timestamps (-1)', () => {
    const set = ok(parseLegacyMessageSet(messageSet(THREE_V0)));
    expect(set.magic).toBe(0);
    expect(set.compression).toBe(CompressionType.none);
    expect(set.timestampType).toBe('NoTimestampType');
    expect(keyValues(set)).toEqual([
      ['k0', 'v0', -1],
      [null, 'value one', -1],
      ['k2', null, -1],
    ]);
    expect(set.records.every((r) => r.headers === undefined || r.headers.length === 0)).toBe(true);
  });

  it('magic 1: timestamps are kept', () => {
    const set = ok(parseLegacyMessageSet(messageSet(THREE_V1, 100)));
    expect(set.magic).toBe(1);
    expect(set.timestampType).toBe('CreateTime');
    expect(keyValues(set)).toEqual([
      ['k0', 'v0', T0],
      [null, 'value one', T0 + 1],
      ['k2', null, T0 + 2],
    ]);
  });

  it('empty key and value are not null', () => {
    const set = ok(parseLegacyMessageSet(messageSet([{ magic: 1, timestamp: 5, key: '', value: '' }])));
    expect(keyValues(set)).toEqual([['', '', 5]]);
  });

  it('matches byte strings written by kafka-python (magic 0 and 1)', () => {
    const v0 = Buffer.from(
      '0000000000000000000000128697724c0000000000026b30000000027630000000000000000100000017ecc1449e0000ffffffff0000000976616c7565206f6e650000000000000002000000108b23e3da0000000000026b32ffffffff',
      'hex',
    );
    const v1 = Buffer.from(
      '00000000000000000000001a74aa514001000000018bcfe56800000000026b3000000002763000000000000000010000001f7eddea5201000000018bcfe56801ffffffff0000000976616c7565206f6e65000000000000000200000018f585012201000000018bcfe56802000000026b32ffffffff',
      'hex',
    );
    // our builder writes the same bytes
    expect(messageSet(THREE_V0).equals(v0)).toBe(true);
    expect(messageSet(THREE_V1).equals(v1)).toBe(true);
    expect(keyValues(ok(parseLegacyMessageSet(v0)))).toEqual([
      ['k0', 'v0', -1],
      [null, 'value one', -1],
      ['k2', null, -1],
    ]);
    expect(keyValues(ok(parseLegacyMessageSet(v1))).map((r) => r[2])).toEqual([T0, T0 + 1, T0 + 2]);
  });
});

describe('parseLegacyMessageSet: compressed wrappers', () => {
  for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
    it(`magic 1 ${codec}: inner relative offsets, wrapper offset = last inner offset`, () => {
      const inner = messageSet(THREE_V1, 0);
      const set = ok(parseLegacyMessageSet(entry(2, wrapper(1, CompressionType[codec], inner, { timestamp: T0 + 2 }))));
      expect(set.compression).toBe(CompressionType[codec]);
      expect(set.magic).toBe(1);
      expect(keyValues(set)).toEqual([
        ['k0', 'v0', T0],
        [null, 'value one', T0 + 1],
        ['k2', null, T0 + 2],
      ]);
    });

    it(`magic 0 ${codec}: inner absolute offsets, no timestamps`, () => {
      const inner = messageSet(THREE_V0, 40);
      const set = ok(parseLegacyMessageSet(entry(42, wrapper(0, CompressionType[codec], inner))));
      expect(set.compression).toBe(CompressionType[codec]);
      expect(set.magic).toBe(0);
      expect(keyValues(set)).toEqual([
        ['k0', 'v0', -1],
        [null, 'value one', -1],
        ['k2', null, -1],
      ]);
    });
  }

  it('snappy in the Java client\'s xerial framing', () => {
    const inner = messageSet(THREE_V1);
    const set = ok(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.snappy, inner, { compressed: xerialSnappy(inner) }))));
    expect(set.compression).toBe(CompressionType.snappy);
    expect(set.records).toHaveLength(3);
  });

  it('magic 1 wrapper offset 0 (kafka-python, some librdkafka versions) is accepted', () => {
    const set = ok(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.gzip, messageSet(THREE_V1)))));
    expect(set.records).toHaveLength(3);
  });

  it('kafka-python gzip byte strings (magic 1 and magic 0)', () => {
    const v1 = Buffer.from(
      '00000000000000000000006f5268c07201010000000000000000ffffffff000000591f8b08002804076b02ff63608003a99255810e8c400663f7f9a7192011a66c031059660055019294afbbfb2a08ae8af13f1000399c658939a5a90af979a950a54c402cf1b5955109ae94096ca011480300e4584b0875000000',
      'hex',
    );
    const v0 = Buffer.from(
      '00000000000000000000005c911f5f8b0001ffffffff0000004e1f8b08002804076b02ff63608003a1b6e9453e601653b601882c3380ca3002b1f89b832ef31818fe030190c7599698539aaa909f970a55c204c402ddca8f6f410d3002290400b47efde45d000000',
      'hex',
    );
    const s1 = ok(parseLegacyMessageSet(v1));
    expect(s1.compression).toBe(CompressionType.gzip);
    expect(keyValues(s1)).toEqual([
      ['k0', 'v0', T0],
      [null, 'value one', T0 + 1],
      ['k2', null, T0 + 2],
    ]);
    const s0 = ok(parseLegacyMessageSet(v0));
    expect(s0.compression).toBe(CompressionType.gzip);
    expect(keyValues(s0).map((r) => r[2])).toEqual([-1, -1, -1]);
  });

  it('a LogAppendTime wrapper gives its timestamp to the inner messages', () => {
    const set = ok(parseLegacyMessageSet(entry(2, wrapper(1, CompressionType.gzip, messageSet(THREE_V1), { timestamp: 42, logAppendTime: true }))));
    expect(set.timestampType).toBe('LogAppendTime');
    expect(set.records.map((r) => r.timestamp)).toEqual([42, 42, 42]);
  });

  it('mixed uncompressed and compressed messages: all records, the wrapper codec', () => {
    const buf = Buffer.concat([
      entry(0, message({ magic: 1, timestamp: 1, key: 'a', value: 'plain' })),
      entry(3, wrapper(1, CompressionType.snappy, messageSet(THREE_V1))),
      entry(4, message({ magic: 1, timestamp: 9, key: 'z', value: 'last' })),
    ]);
    const set = ok(parseLegacyMessageSet(buf));
    expect(set.compression).toBe(CompressionType.snappy);
    expect(set.records.map((r) => str(r.key))).toEqual(['a', 'k0', null, 'k2', 'z']);
  });
});

describe('LZ4 frame header checksum (KAFKA-3160)', () => {
  it('xxh32Short matches the reference values and lz4-napi\'s own header checksum', () => {
    expect(xxh32Short(Buffer.alloc(0))).toBe(0x02cc5d05);
    expect(xxh32Short(Buffer.from('a'))).toBe(0x550d7456);
    expect(xxh32Short(Buffer.from('abc'))).toBe(0x32d153ff);
    const frame = lz4Frame(Buffer.from('hello hello hello hello'));
    expect(withCorrectLz4HeaderChecksum(frame)!.equals(frame)).toBe(true);
  });

  /** The pre-0.10 Kafka checksum: over the frame magic number and the descriptor, not the descriptor alone. */
  function brokenChecksumFrame(data: Buffer): Buffer {
    const frame = Buffer.from(lz4Frame(data));
    const flg = frame[4]!;
    const hcPos = 4 + 2 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0);
    frame[hcPos] = (xxh32Short(frame.subarray(0, hcPos)) >>> 8) & 0xff;
    expect(frame.equals(lz4Frame(data))).toBe(false);
    return frame;
  }

  it('magic 0 accepts the broken checksum', () => {
    const inner = messageSet(THREE_V0);
    const set = ok(parseLegacyMessageSet(entry(2, wrapper(0, CompressionType.lz4, inner, { compressed: brokenChecksumFrame(inner) }))));
    expect(set.compression).toBe(CompressionType.lz4);
    expect(keyValues(set).map((r) => r[1])).toEqual(['v0', 'value one', null]);
  });

  it('magic 1 requires a correct checksum (CORRUPT_MESSAGE)', () => {
    const inner = messageSet(THREE_V1);
    const r = err(parseLegacyMessageSet(entry(2, wrapper(1, CompressionType.lz4, inner, { compressed: brokenChecksumFrame(inner) }))));
    expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });
});

describe('parseLegacyMessageSet: partial trailing messages', () => {
  it('a truncated last message is dropped', () => {
    const full = messageSet(THREE_V1);
    const lastStart = full.length - entry(2, message(THREE_V1[2]!)).length;
    for (const cut of [1, 5, 12, 20]) {
      const set = ok(parseLegacyMessageSet(full.subarray(0, lastStart + cut)));
      expect(set.records.map((r) => str(r.key))).toEqual(['k0', null]);
    }
  });

  it('a set holding only a partial message parses to no records; up-conversion refuses it', () => {
    const partial = messageSet(THREE_V0).subarray(0, 20);
    expect(ok(parseLegacyMessageSet(partial)).records).toEqual([]);
    expect(err(upConvertToBatch(partial)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('a truncated inner message in a wrapper is dropped too', () => {
    const inner = messageSet(THREE_V1);
    const set = ok(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.gzip, inner.subarray(0, inner.length - 3)))));
    expect(set.records).toHaveLength(2);
  });
});

describe('parseLegacyMessageSet: errors', () => {
  it('CRC mismatch → CORRUPT_MESSAGE', () => {
    const buf = Buffer.from(messageSet(THREE_V1));
    buf[buf.length - 20] ^= 0x01; // inside the last message
    const r = err(parseLegacyMessageSet(buf));
    expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect(r.errorMessage).toMatch(/crc/i);
  });

  it('a corrupt stored CRC → CORRUPT_MESSAGE', () => {
    const buf = Buffer.from(messageSet(THREE_V0));
    buf[12] ^= 0x80;
    expect(err(parseLegacyMessageSet(buf)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('an inner message with a bad CRC → CORRUPT_MESSAGE', () => {
    const inner = Buffer.from(messageSet(THREE_V1));
    inner[inner.length - 1] ^= 0x01;
    expect(err(parseLegacyMessageSet(entry(2, wrapper(1, CompressionType.gzip, inner)))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('unknown magic → CORRUPT_MESSAGE; a v2 batch mixed in → INVALID_RECORD', () => {
    const m = Buffer.from(message(THREE_V0[0]!));
    m[4] = 3;
    expect(err(parseLegacyMessageSet(entry(0, m))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    m[4] = -1 & 0xff;
    expect(err(parseLegacyMessageSet(entry(0, m))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const v2 = Buffer.from(message(THREE_V1[0]!));
    v2[4] = 2;
    const mixed = Buffer.concat([messageSet(THREE_V0), entry(3, v2)]);
    expect(err(parseLegacyMessageSet(mixed)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  it('message size below 14 → CORRUPT_MESSAGE', () => {
    const buf = Buffer.concat([int64(0), int32(13), Buffer.alloc(13)]);
    expect(err(parseLegacyMessageSet(buf)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('key or value length past the end of the message → CORRUPT_MESSAGE', () => {
    // a magic 0 message claiming a 100-byte key, with a valid CRC
    const body = Buffer.concat([Buffer.from([0, 0]), int32(100), Buffer.from('abcd'), int32(-1)]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    const r = err(parseLegacyMessageSet(entry(0, Buffer.concat([crc, body]))));
    expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    // trailing bytes after the value
    const body2 = Buffer.concat([Buffer.from([0, 0]), int32(-1), int32(1), Buffer.from('xy')]);
    crc.writeUInt32BE(crc32(body2) >>> 0);
    expect(err(parseLegacyMessageSet(entry(0, Buffer.concat([crc, body2])))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('nested compression → INVALID_RECORD', () => {
    const innerWrapper = entry(2, wrapper(1, CompressionType.gzip, messageSet(THREE_V1)));
    expect(err(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.gzip, innerWrapper)))).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  it('inner magic different from the wrapper\'s → INVALID_RECORD', () => {
    expect(err(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.gzip, messageSet(THREE_V0))))).errorCode).toBe(
      ErrorCode.INVALID_RECORD,
    );
  });

  it('wrapper with a null value or no inner messages → INVALID_RECORD', () => {
    const nullValue = message({ magic: 1, attributes: CompressionType.gzip, timestamp: 0, key: null, value: null });
    expect(err(parseLegacyMessageSet(entry(0, nullValue))).errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(err(parseLegacyMessageSet(entry(0, wrapper(1, CompressionType.gzip, Buffer.alloc(0))))).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  it('magic 1 wrapper offset below the last inner offset (and not 0) → INVALID_RECORD', () => {
    expect(err(parseLegacyMessageSet(entry(1, wrapper(1, CompressionType.gzip, messageSet(THREE_V1))))).errorCode).toBe(
      ErrorCode.INVALID_RECORD,
    );
  });

  it('wrappers that together inflate beyond the bound → MESSAGE_TOO_LARGE, each codec', () => {
    const big: Msg[] = [{ magic: 1, attributes: 0, timestamp: T0, key: null, value: Buffer.alloc(40_000) }];
    for (const codec of [CompressionType.gzip, CompressionType.snappy, CompressionType.lz4]) {
      const one = entry(0, wrapper(1, codec, messageSet(big)));
      const times = (n: number) => Buffer.concat(Array(n).fill(one));
      // four wrappers of ~40 KB fit 200 KB, five do not: the bound is for the whole set (for lz4 each wrapper
      // may take a whole 64 KiB block until inflated, which still leaves room for the fourth)
      expect(ok(parseLegacyMessageSet(times(4), 200_000)).records).toHaveLength(4);
      const r = err(parseLegacyMessageSet(times(5), 200_000));
      expect(r.errorCode, `codec ${codec}`).toBe(ErrorCode.MESSAGE_TOO_LARGE);
      expect(err(upConvertToBatch(times(5), 200_000)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    }
  });

  it('codec 4+ (zstd is magic 2 only) → UNSUPPORTED_COMPRESSION_TYPE; undecompressable value → CORRUPT_MESSAGE', () => {
    const zstd = wrapper(1, CompressionType.zstd, messageSet(THREE_V1));
    expect(err(parseLegacyMessageSet(entry(2, zstd))).errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    const seven = message({ magic: 0, attributes: 7, key: null, value: 'x' });
    expect(err(parseLegacyMessageSet(entry(0, seven))).errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    const garbage = wrapper(1, CompressionType.gzip, Buffer.alloc(0), { compressed: Buffer.from('not gzip at all') });
    expect(err(parseLegacyMessageSet(entry(0, garbage))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });
});

describe('upConvertToBatch', () => {
  function up(buf: Buffer): Buffer {
    const out = upConvertToBatch(buf);
    if (!Buffer.isBuffer(out)) throw new Error(`unexpected error ${out.errorCode}: ${out.errorMessage}`);
    // ready for the produce path: one v2 batch, base offset 0, valid CRC-32C
    // (CreateTime topic, every record accepted: the validator leaves the batch as it is)
    const copy = Buffer.from(out);
    expect(validateProducedBatch(copy, { maxMessageBytes: 1 << 20, cleanupPolicy: ['delete'] })).toEqual({
      errorCode: ErrorCode.NONE,
      recordCount: decodeRecordBatch(out).recordsCount,
    });
    expect(copy.equals(out)).toBe(true);
    expect(verifyBatchCrc(out)).toBe(true);
    return out;
  }

  const decoded = (batch: Buffer) =>
    decodeRecordBatch(batch).records.map((r) => [r.offset, str(r.key), str(r.value), r.timestamp, r.headers.length]);

  it('magic 0 uncompressed → one uncompressed v2 batch, timestamps -1', () => {
    const b = decodeRecordBatch(up(messageSet(THREE_V0, 7)));
    expect(b.magic).toBe(2);
    expect(b.baseOffset).toBe(0);
    expect(b.compression).toBe(CompressionType.none);
    expect(b.timestampType).toBe('CreateTime');
    expect(b.producerId).toBe(-1);
    expect(b.maxTimestamp).toBe(-1);
    expect(decoded(up(messageSet(THREE_V0, 7)))).toEqual([
      [0, 'k0', 'v0', -1, 0],
      [1, null, 'value one', -1, 0],
      [2, 'k2', null, -1, 0],
    ]);
  });

  it('magic 1 uncompressed keeps the timestamps', () => {
    const batch = up(messageSet(THREE_V1));
    expect(decodeRecordBatch(batch).maxTimestamp).toBe(T0 + 2);
    expect(decoded(batch)).toEqual([
      [0, 'k0', 'v0', T0, 0],
      [1, null, 'value one', T0 + 1, 0],
      [2, 'k2', null, T0 + 2, 0],
    ]);
  });

  for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
    it(`magic 1 ${codec} wrapper → one ${codec} v2 batch with the same records`, () => {
      const batch = up(entry(2, wrapper(1, CompressionType[codec], messageSet(THREE_V1))));
      expect(decodeRecordBatch(batch).compression).toBe(CompressionType[codec]);
      expect(decoded(batch)).toEqual([
        [0, 'k0', 'v0', T0, 0],
        [1, null, 'value one', T0 + 1, 0],
        [2, 'k2', null, T0 + 2, 0],
      ]);
    });

    it(`magic 0 ${codec} wrapper → one ${codec} v2 batch, timestamps -1`, () => {
      const batch = up(entry(2, wrapper(0, CompressionType[codec], messageSet(THREE_V0))));
      expect(decodeRecordBatch(batch).compression).toBe(CompressionType[codec]);
      expect(decoded(batch)).toEqual([
        [0, 'k0', 'v0', -1, 0],
        [1, null, 'value one', -1, 0],
        [2, 'k2', null, -1, 0],
      ]);
    });
  }

  it('several wrappers become one batch', () => {
    const a = entry(2, wrapper(1, CompressionType.gzip, messageSet(THREE_V1)));
    const b = entry(2, wrapper(1, CompressionType.gzip, messageSet(THREE_V1.map((m) => ({ ...m, timestamp: m.timestamp! + 10 })))));
    const batch = up(Buffer.concat([a, b]));
    const d = decodeRecordBatch(batch);
    expect(d.recordsCount).toBe(6);
    expect(d.compression).toBe(CompressionType.gzip);
    expect(d.records.map((r) => r.timestamp)).toEqual([T0, T0 + 1, T0 + 2, T0 + 10, T0 + 11, T0 + 12]);
  });

  it('passes errors through', () => {
    const buf = Buffer.from(messageSet(THREE_V0));
    buf[buf.length - 1] ^= 0xff;
    expect(err(upConvertToBatch(buf)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });
});
