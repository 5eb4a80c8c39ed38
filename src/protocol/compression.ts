/**
 * Record-batch compression codecs (attributes bits 0-2).
 *
 * - gzip: node:zlib
 * - snappy: raw snappy blocks on output; input may be raw snappy (librdkafka, kafkajs) or the Java
 *   client's xerial framing (`\x82SNAPPY\0`, int32 version, int32 compat, then [int32 len][block]...).
 * - lz4: the LZ4 *frame* format (what Kafka uses for magic 2).
 * - zstd: a standard zstd frame.
 *
 * Decompression is always bounded: `decompress` and `decompressAsync` take the largest output they may
 * produce and throw InflateLimitError as soon as the data would inflate beyond it, without allocating the
 * whole output first. Per codec (details in docs/protocol.md, "Compressed input"):
 * - gzip streams through zlib's `maxOutputLength`, which stops at the limit;
 * - snappy states each block's uncompressed length up front (raw: one block; xerial: one per chunk), checked
 *   before the block is inflated;
 * - lz4: every block of a frame inflates to at most the frame's block maximum size, so the block headers give
 *   an upper bound (checked, with the optional content size) before anything is inflated;
 * - zstd: a frame that states its content size is checked before inflating and inflated into a buffer of
 *   exactly that size; one that does not is streamed in chunks, stopping at the limit. The decoder's window is
 *   limited to the output limit, so a tiny frame cannot make it allocate a large window either.
 * `decompressAsync` keeps the event loop free: gzip, snappy and lz4 run on libuv's thread pool, zstd is
 * streamed in slices with a yield to the event loop between them.
 */
import type * as ZlibModule from 'node:zlib';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { createRequire } from 'node:module';
import type * as SnappyModule from 'snappy';
import type * as Lz4Module from 'lz4-napi';
import type * as ZstdModule from 'zstd-napi';
import type ZstdBinding from 'zstd-napi/binding.js';
import { ErrorCode, KafkaError } from './errors.js';
import { lz4FrameOutputBound } from './lz4-frame.js';

// The codecs (native addons, and node:zlib) are each loaded on first use, so a process that never meets that codec (the CLI's
// admin commands, a broker whose clients do not compress) does not pay for loading it.
const requireNative = createRequire(import.meta.url);
let snappyLib: typeof SnappyModule | undefined;
let lz4Lib: typeof Lz4Module | undefined;
let zstdLib: typeof ZstdModule | undefined;
let zstdBinding: typeof ZstdBinding | undefined;
const snappyCodec = (): typeof SnappyModule => (snappyLib ??= requireNative('snappy') as typeof SnappyModule);
const lz4Codec = (): typeof Lz4Module => (lz4Lib ??= requireNative('lz4-napi') as typeof Lz4Module);
const zstdCodec = (): typeof ZstdModule => (zstdLib ??= requireNative('zstd-napi') as typeof ZstdModule);
const zstdNative = (): typeof ZstdBinding => (zstdBinding ??= requireNative('zstd-napi/binding.js') as typeof ZstdBinding);
let zlibLib: typeof ZlibModule | undefined;
const zlib = (): typeof ZlibModule => (zlibLib ??= requireNative('node:zlib') as typeof ZlibModule);
const gzipSync = (buf: Buffer): Buffer => zlib().gzipSync(buf);
const gunzipSync: typeof ZlibModule.gunzipSync = (...args) => zlib().gunzipSync(...args);
const gunzip = (buf: Buffer, options: ZlibModule.ZlibOptions, callback: ZlibModule.CompressCallback): void => zlib().gunzip(buf, options, callback);
const snappyCompress = (buf: Buffer): Buffer => snappyCodec().compressSync(buf);
const snappyUncompress: typeof SnappyModule.uncompressSync = (...args) => snappyCodec().uncompressSync(...args);
const snappyUncompressAsync: typeof SnappyModule.uncompress = (...args) => snappyCodec().uncompress(...args);
const lz4Compress = (buf: Buffer): Buffer => lz4Codec().compressFrameSync(buf);
const lz4Decompress = (buf: Buffer): Buffer => lz4Codec().decompressFrameSync(buf);
const lz4DecompressAsync = (buf: Buffer): Promise<Buffer> => lz4Codec().decompressFrame(buf);
const zstdCompress = (buf: Buffer): Buffer => zstdCodec().compress(buf);

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

/**
 * The output limit of callers that have no better one (reading the log, the cleaner, a consumer): what the
 * produce path accepts at most (see uncompressedLimit), so data that was accepted can always be read back.
 */
export const MAX_INFLATED_BYTES = 1 << 30;

/** Thrown when compressed data would inflate beyond the caller's limit. */
export class InflateLimitError extends Error {
  constructor(readonly limit: number) {
    super(`compressed data inflates beyond the limit of ${limit} bytes`);
    this.name = 'InflateLimitError';
  }
}

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

/**
 * Inflates `buf`, synchronously, to at most `limit` bytes (InflateLimitError beyond). Other errors mean the
 * data is not valid for the codec.
 */
export function decompress(type: number, buf: Buffer, limit = MAX_INFLATED_BYTES): Buffer {
  switch (type) {
    case CompressionType.none:
      if (buf.length > limit) throw new InflateLimitError(limit);
      return buf;
    case CompressionType.gzip:
      try {
        return gunzipSync(buf, { maxOutputLength: limit, chunkSize: gzipChunkSize(buf, limit) });
      } catch (err) {
        throw isZlibLimit(err) ? new InflateLimitError(limit) : err;
      }
    case CompressionType.snappy:
      return snappyDecompress(buf, limit);
    case CompressionType.lz4:
      checkLz4Bound(buf, limit);
      return lz4Decompress(buf);
    case CompressionType.zstd:
      return zstdDecompressSync(buf, limit);
    default:
      throw unsupported(type);
  }
}

/**
 * As decompress, without blocking the event loop for long: gzip, snappy and lz4 inflate on libuv's thread
 * pool; zstd inflates in slices of ZSTD_SLICE bytes with a yield between them.
 */
export async function decompressAsync(type: number, buf: Buffer, limit = MAX_INFLATED_BYTES): Promise<Buffer> {
  switch (type) {
    case CompressionType.none:
      if (buf.length > limit) throw new InflateLimitError(limit);
      return buf;
    case CompressionType.gzip:
      return new Promise((resolve, reject) => {
        // 256 KiB chunks: few thread-pool round trips, and the limit is checked after each one.
        gunzip(buf, { maxOutputLength: limit, chunkSize: 256 * 1024 }, (err, out) => {
          if (err) reject(isZlibLimit(err) ? new InflateLimitError(limit) : err);
          else resolve(out);
        });
      });
    case CompressionType.snappy:
      return snappyDecompressAsync(buf, limit);
    case CompressionType.lz4:
      checkLz4Bound(buf, limit);
      return lz4DecompressAsync(buf);
    case CompressionType.zstd:
      return zstdDecompressAsync(buf, limit);
    default:
      throw unsupported(type);
  }
}

/** Upper bound of what the data may inflate to, when the codec states it before inflating; null when not. */
export function declaredInflatedBound(type: number, buf: Buffer): number | null {
  try {
    switch (type) {
      case CompressionType.none:
        return buf.length;
      case CompressionType.snappy:
        return snappyDeclaredLength(buf);
      case CompressionType.lz4:
        return lz4FrameOutputBound(buf);
      case CompressionType.zstd:
        return zstdDeclaredContentSize(buf);
      default:
        return null;
    }
  } catch {
    return null; // malformed: the decompression itself reports it
  }
}

/**
 * Output chunk size for an inflate: a gzip member ends with its uncompressed size (mod 2^32), so an honest
 * stream of up to 8 MiB inflates into one chunk (no concatenation of 16 KiB chunks); a lying one costs at most
 * one chunk of min(limit + 1, 8 MiB).
 */
function gzipChunkSize(buf: Buffer, limit: number): number {
  const stated = buf.length >= 18 ? buf.readUInt32LE(buf.length - 4) : 0;
  return Math.max(64 * 1024, Math.min(stated + 64, limit + 1, 8 << 20));
}

function isZlibLimit(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

function checkLz4Bound(buf: Buffer, limit: number): void {
  if (lz4FrameOutputBound(buf) > limit) throw new InflateLimitError(limit);
}

// ---------------------------------------------------------------------------------------------
// snappy

/** Java client (xerial snappy-java) stream header: magic(8) + version int32 + compatible int32. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;

export function isXerialSnappy(buf: Buffer): boolean {
  return buf.length >= XERIAL_HEADER_SIZE && buf.compare(XERIAL_MAGIC, 0, 8, 0, 8) === 0;
}

/** The uncompressed length a raw snappy block starts with (a little-endian base-128 varint, at most 2^32-1). */
export function snappyRawLength(block: Buffer): number {
  let result = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= block.length) throw new Error('truncated snappy length');
    const b = block[i]!;
    result += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return result;
  }
  throw new Error('invalid snappy length');
}

/** The xerial blocks of buf as [start, end) pairs; throws on a malformed framing. */
function xerialBlocks(buf: Buffer): number[] {
  const out: number[] = [];
  let pos = XERIAL_HEADER_SIZE;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error('truncated xerial snappy block length');
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > buf.length) throw new Error(`invalid xerial snappy block length ${len}`);
    out.push(pos, pos + len);
    pos += len;
  }
  return out;
}

function snappyDeclaredLength(buf: Buffer): number {
  if (!isXerialSnappy(buf)) return snappyRawLength(buf);
  const blocks = xerialBlocks(buf);
  let total = 0;
  for (let i = 0; i < blocks.length; i += 2) total += snappyRawLength(buf.subarray(blocks[i]!, blocks[i + 1]!));
  return total;
}

function rawSnappy(block: Buffer): Buffer {
  return snappyUncompress(block, { asBuffer: true }) as Buffer;
}

function snappyDecompress(buf: Buffer, limit: number): Buffer {
  if (snappyDeclaredLength(buf) > limit) throw new InflateLimitError(limit);
  if (!isXerialSnappy(buf)) return rawSnappy(buf);
  const blocks = xerialBlocks(buf);
  const parts: Buffer[] = [];
  for (let i = 0; i < blocks.length; i += 2) parts.push(rawSnappy(buf.subarray(blocks[i]!, blocks[i + 1]!)));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

async function snappyDecompressAsync(buf: Buffer, limit: number): Promise<Buffer> {
  if (snappyDeclaredLength(buf) > limit) throw new InflateLimitError(limit);
  if (!isXerialSnappy(buf)) return (await snappyUncompressAsync(buf, { asBuffer: true })) as Buffer;
  const blocks = xerialBlocks(buf);
  const parts: Buffer[] = [];
  for (let i = 0; i < blocks.length; i += 2) {
    parts.push((await snappyUncompressAsync(buf.subarray(blocks[i]!, blocks[i + 1]!), { asBuffer: true })) as Buffer);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// zstd

/** Output produced per zstd streaming step; decompressAsync yields to the event loop after each. */
const ZSTD_SLICE = 256 * 1024;

/** Sum of the content sizes of the frames in buf, or null when a frame does not state its size. */
function zstdDeclaredContentSize(buf: Buffer): number | null {
  let total = 0;
  let frame = buf;
  while (frame.length > 0) {
    const size = zstdNative().getFrameContentSize(frame);
    if (size === null) return null;
    total += size;
    frame = frame.subarray(zstdNative().findFrameCompressedSize(frame));
  }
  return total;
}

/** Smallest window always allowed (8 MiB, what zstd's level 19 uses); above it, the window may not exceed the limit. */
const ZSTD_MIN_WINDOW_LOG = 23;

/** A decompression context whose window (memory) stays within the output limit (or 8 MiB). */
function zstdContext(limit: number): InstanceType<typeof ZstdBinding.DCtx> {
  const dctx = new (zstdNative().DCtx)();
  const { lowerBound, upperBound } = zstdNative().dParamGetBounds(zstdNative().DParameter.windowLogMax);
  const wanted = Math.max(ZSTD_MIN_WINDOW_LOG, Math.ceil(Math.log2(Math.max(limit, 1))));
  dctx.setParameter(zstdNative().DParameter.windowLogMax, Math.min(upperBound, Math.max(lowerBound, wanted)));
  return dctx;
}

/**
 * Inflates a zstd input step by step: `step()` produces up to ZSTD_SLICE more bytes and returns true once the
 * input is fully consumed and every frame ended. Throws InflateLimitError past the limit, Error on a malformed
 * or truncated input.
 */
class ZstdInflater {
  private readonly dctx: InstanceType<typeof ZstdBinding.DCtx>;
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private input: Buffer;
  /** The result buffer when every frame states its content size; else chunks are collected. */
  private readonly exact: Buffer | null;
  /** zstd's last return value: 0 once a frame is completely decoded and flushed. */
  private pending = 1;

  constructor(buf: Buffer, private readonly limit: number) {
    this.input = buf;
    const declared = zstdDeclaredContentSizeOrNull(buf);
    if (declared !== null && declared > limit) throw new InflateLimitError(limit);
    this.exact = declared !== null ? Buffer.allocUnsafe(declared) : null;
    this.dctx = zstdContext(limit);
  }

  step(): boolean {
    let produced = 0;
    while (produced < ZSTD_SLICE) {
      if (this.input.length === 0 && this.pending === 0) return true;
      // One byte more than the limit (or than the declared size) is enough to detect an excess.
      const out = this.exact
        ? this.total < this.exact.length
          ? this.exact.subarray(this.total)
          : Buffer.allocUnsafe(1)
        : Buffer.allocUnsafe(Math.min(ZSTD_SLICE, this.limit - this.total + 1));
      const [ret, written, consumed] = this.dctx.decompressStream(out, this.input);
      this.input = this.input.subarray(consumed);
      this.pending = ret;
      if (written === 0 && consumed === 0) throw new Error('truncated zstd frame');
      if (written > 0) {
        if (this.exact && this.total >= this.exact.length) throw new Error('zstd frame inflates beyond its declared content size');
        this.total += written;
        if (this.total > this.limit) throw new InflateLimitError(this.limit);
        if (!this.exact) this.chunks.push(out.subarray(0, written));
        produced += written;
      }
    }
    return this.input.length === 0 && this.pending === 0;
  }

  result(): Buffer {
    if (this.exact) {
      if (this.total !== this.exact.length) throw new Error('zstd frame is shorter than its declared content size');
      return this.exact;
    }
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total);
  }
}

function zstdDeclaredContentSizeOrNull(buf: Buffer): number | null {
  try {
    return zstdDeclaredContentSize(buf);
  } catch {
    return null; // not a well-formed frame sequence: the streaming decoder says why
  }
}

function zstdDecompressSync(buf: Buffer, limit: number): Buffer {
  const inflater = new ZstdInflater(buf, limit);
  while (!inflater.step()) {
    // keep going
  }
  return inflater.result();
}

async function zstdDecompressAsync(buf: Buffer, limit: number): Promise<Buffer> {
  const inflater = new ZstdInflater(buf, limit);
  while (!inflater.step()) await yieldToEventLoop();
  return inflater.result();
}
