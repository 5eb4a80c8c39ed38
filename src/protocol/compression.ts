/**
 * Record-batch compression codecs (attributes bits 0-2). All functions are synchronous.
 *
 * - gzip: node:zlib
 * - snappy: raw snappy blocks on output; input may be raw snappy (librdkafka, kafkajs) or the Java
 *   client's xerial framing (`\x82SNAPPY\0`, int32 version, int32 compat, then [int32 len][block]...).
 * - lz4: the LZ4 *frame* format (what Kafka uses for magic 2).
 * - zstd: a standard zstd frame.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy';
import { compressFrameSync as lz4Compress, decompressFrameSync as lz4Decompress } from 'lz4-napi';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';
import { ErrorCode, KafkaError } from './errors.js';

export const CompressionType = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
} as const;

export type CompressionName = keyof typeof CompressionType;
export type CompressionCode = (typeof CompressionType)[CompressionName];

const NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Name of a codec id ("none", "gzip", ...); throws for an unknown id. */
export function compressionName(type: number): CompressionName {
  const name = NAMES[type];
  if (name === undefined) throw unsupported(type);
  return name;
}

/** Parses a codec name as used by configs/CLI (case-insensitive; "uncompressed" = none). */
export function compressionFromName(name: string): CompressionCode {
  const n = String(name).trim().toLowerCase();
  if (n === 'uncompressed' || n === '') return CompressionType.none;
  if (Object.prototype.hasOwnProperty.call(CompressionType, n)) {
    return CompressionType[n as CompressionName];
  }
  throw new Error(`unknown compression type '${name}' (expected one of: ${NAMES.join(', ')})`);
}

function unsupported(type: number): KafkaError {
  return new KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unsupported compression type ${type}`);
}

export function compress(type: number, buf: Buffer): Buffer {
  switch (type) {
    case CompressionType.none:
      return buf;
    case CompressionType.gzip:
      return gzipSync(buf);
    case CompressionType.snappy:
      return snappyCompress(buf);
    case CompressionType.lz4:
      return lz4Compress(buf);
    case CompressionType.zstd:
      return zstdCompress(buf);
    default:
      throw unsupported(type);
  }
}

export function decompress(type: number, buf: Buffer): Buffer {
  switch (type) {
    case CompressionType.none:
      return buf;
    case CompressionType.gzip:
      return gunzipSync(buf);
    case CompressionType.snappy:
      return snappyDecompress(buf);
    case CompressionType.lz4:
      return lz4Decompress(buf);
    case CompressionType.zstd:
      return zstdDecompress(buf);
    default:
      throw unsupported(type);
  }
}

/** Java client (xerial snappy-java) stream header: magic(8) + version int32 + compatible int32. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;

export function isXerialSnappy(buf: Buffer): boolean {
  return buf.length >= XERIAL_HEADER_SIZE && buf.compare(XERIAL_MAGIC, 0, 8, 0, 8) === 0;
}

function rawSnappy(buf: Buffer): Buffer {
  return snappyUncompress(buf, { asBuffer: true }) as Buffer;
}

function snappyDecompress(buf: Buffer): Buffer {
  if (!isXerialSnappy(buf)) return rawSnappy(buf);
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error('truncated xerial snappy block length');
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > buf.length) throw new Error(`invalid xerial snappy block length ${len}`);
    const block = rawSnappy(buf.subarray(pos, pos + len));
    pos += len;
    blocks.push(block);
    total += block.length;
  }
  return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks, total);
}
