import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compressSync as snappyRaw } from 'snappy';
import {
  CompressionType,
  compress,
  compressionFromName,
  compressionName,
  decompress,
  isXerialSnappy,
} from '../../src/protocol/compression.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { KafkaError, ErrorCode } from '../../src/protocol/errors.js';

const CODECS = [
  CompressionType.none,
  CompressionType.gzip,
  CompressionType.snappy,
  CompressionType.lz4,
  CompressionType.zstd,
];

function xerialFrame(blocks: Buffer[]): Buffer {
  const header = Buffer.alloc(16);
  Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]).copy(header, 0);
  header.writeInt32BE(1, 8); // version
  header.writeInt32BE(1, 12); // min compatible version
  const parts: Buffer[] = [header];
  for (const b of blocks) {
    const c = snappyRaw(b);
    const len = Buffer.alloc(4);
    len.writeInt32BE(c.length, 0);
    parts.push(len, c);
  }
  return Buffer.concat(parts);
}

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
  it('is unsigned and honours start/end', () => {
    const buf = Buffer.from('xx123456789yy');
    expect(crc32c(buf, 2, 11)).toBe(0xe3069283);
    expect(crc32c(buf, 2, 11)).toBeGreaterThan(0x7fffffff);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    // RFC 3720 B.4 vector: 32 bytes of zeros
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });
});

describe('compression codecs', () => {
  const samples = [
    Buffer.alloc(0),
    Buffer.from('hello'),
    Buffer.from('abcdefgh'.repeat(10_000)),
    Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff)),
  ];

  for (const codec of CODECS) {
    it(`round-trips ${compressionName(codec)}`, () => {
      for (const s of samples) {
        const c = compress(codec, s);
        expect(Buffer.isBuffer(c)).toBe(true);
        expect(decompress(codec, c).equals(s)).toBe(true);
      }
    });
  }

  it('actually compresses repetitive data', () => {
    const s = Buffer.from('abcdefgh'.repeat(10_000));
    for (const codec of CODECS.slice(1)) expect(compress(codec, s).length).toBeLessThan(s.length / 10);
  });

  it('uses the right wire formats', () => {
    const s = Buffer.from('some payload some payload');
    expect(compress(CompressionType.gzip, s).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    // LZ4 frame magic 0x184D2204 (little endian), FLG version 01 with independent blocks
    const lz = compress(CompressionType.lz4, s);
    expect(lz.readUInt32LE(0)).toBe(0x184d2204);
    expect(lz[4]! & 0xc0).toBe(0x40);
    expect(compress(CompressionType.zstd, s).readUInt32LE(0)).toBe(0xfd2fb528);
    // snappy output is raw (not xerial-framed)
    expect(isXerialSnappy(compress(CompressionType.snappy, s))).toBe(false);
  });

  it('property: every codec round-trips arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CODECS), fc.uint8Array({ maxLength: 4096 }), (codec, arr) => {
        const s = Buffer.from(arr);
        expect(decompress(codec, compress(codec, s)).equals(s)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('snappy xerial framing (Java client)', () => {
  it('decodes a hand-built xerial stream with several blocks', () => {
    const a = Buffer.from('first block '.repeat(100));
    const b = Buffer.from('second block, different '.repeat(50));
    const framed = xerialFrame([a, b]);
    expect(isXerialSnappy(framed)).toBe(true);
    expect(decompress(CompressionType.snappy, framed).equals(Buffer.concat([a, b]))).toBe(true);
  });
  it('decodes a single-block and an empty xerial stream', () => {
    const a = Buffer.from('only block');
    expect(decompress(CompressionType.snappy, xerialFrame([a])).equals(a)).toBe(true);
    expect(decompress(CompressionType.snappy, xerialFrame([])).length).toBe(0);
  });
  it('rejects a truncated xerial stream', () => {
    const framed = xerialFrame([Buffer.from('x'.repeat(1000))]);
    expect(() => decompress(CompressionType.snappy, framed.subarray(0, framed.length - 3))).toThrow();
  });
  it('still decodes raw snappy', () => {
    const a = Buffer.from('raw snappy as librdkafka and kafkajs send it');
    expect(decompress(CompressionType.snappy, snappyRaw(a)).equals(a)).toBe(true);
  });
});

describe('codec names and errors', () => {
  it('parses names', () => {
    expect(compressionFromName('none')).toBe(0);
    expect(compressionFromName('GZIP')).toBe(1);
    expect(compressionFromName('snappy')).toBe(2);
    expect(compressionFromName('lz4')).toBe(3);
    expect(compressionFromName('zstd')).toBe(4);
    expect(compressionFromName('uncompressed')).toBe(0);
  });
  it('names the bad value', () => {
    expect(() => compressionFromName('brotli')).toThrow(/brotli/);
  });
  it('throws UNSUPPORTED_COMPRESSION_TYPE for an unknown codec id', () => {
    for (const fn of [() => compress(5, Buffer.from('x')), () => decompress(7, Buffer.from('x'))]) {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(KafkaError);
        expect((e as KafkaError).code).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
      }
    }
  });
});
