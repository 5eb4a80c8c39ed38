/**
 * Builds one v2 record batch incrementally, as Kafka's MemoryRecordsBuilder does: each record is encoded into
 * the batch's buffer when it is appended, so a producer holds bytes, not one JavaScript object per record.
 * The buffer is the batch's limit (batch.size) up to 1 MiB, and doubles from there up to the limit (a first record
 * larger than the limit gets a buffer of its own size, as Kafka lets one oversized record form a batch alone).
 *
 * Record layout (docs/protocol-notes.md §3): length varint | attributes int8 | timestampDelta varlong |
 * offsetDelta varint | keyLength varint | key | valueLength varint | value | headerCount varint | headers.
 */
import {
  ATTRIBUTES,
  BASE_OFFSET,
  BASE_SEQUENCE,
  BASE_TIMESTAMP,
  BATCH_LENGTH,
  COMPRESSION_MASK,
  CRC,
  LAST_OFFSET_DELTA,
  LOG_OVERHEAD,
  MAGIC,
  MAX_TIMESTAMP,
  PARTITION_LEADER_EPOCH,
  PRODUCER_EPOCH,
  PRODUCER_ID,
  RECORD_BATCH_OVERHEAD,
  RECORDS,
  RECORDS_COUNT,
  TRANSACTIONAL_FLAG,
} from './record-batch-header.js';
import { sizeOfVarlong, writeInt64 } from './primitives.js';
import { crc32c } from './crc32c.js';
import { CompressionType, compress } from './compression.js';

/** A key, value or header value as a producer accepts it. */
export type RecordBytes = Buffer | string | null | undefined;
/** Record headers: a list (duplicates allowed, order kept) or an object. */
export type RecordHeadersInput = ReadonlyArray<{ key: string; value: RecordBytes }> | Readonly<Record<string, RecordBytes>> | undefined;

/** A batch's first buffer: its whole limit up to this (Kafka allocates batch.size at once), then doubling. */
const MAX_INITIAL_CAPACITY = 1 << 20;

/** Bytes of a zig-zag varint (32-bit value), without a loop. */
function sizeOfVarint(v: number): number {
  const u = ((v << 1) ^ (v >> 31)) >>> 0;
  return u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5;
}

function byteLength(v: RecordBytes): number {
  if (v === null || v === undefined) return -1;
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
}

/** Size of the headers section (count varint + entries); `lengths` receives each key's and value's byte length. */
function headersSize(headers: RecordHeadersInput, lengths: number[]): number {
  lengths.length = 0;
  if (headers === undefined || headers === null) return 1;
  let count = 0;
  let size = 0;
  const add = (key: string, value: RecordBytes): void => {
    const k = Buffer.byteLength(key, 'utf8');
    const v = byteLength(value);
    lengths.push(k, v);
    size += sizeOfVarint(k) + k + sizeOfVarint(v) + (v > 0 ? v : 0);
    count++;
  };
  if (Array.isArray(headers)) {
    for (const h of headers as ReadonlyArray<{ key: string; value: RecordBytes }>) add(h.key, h.value);
  } else {
    for (const key of Object.keys(headers)) add(key, (headers as Record<string, RecordBytes>)[key]);
  }
  return sizeOfVarint(count) + size;
}

function writeUvarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  const u = ((v << 1) ^ (v >> 31)) >>> 0;
  if (u < 0x80) {
    buf[pos] = u;
    return pos + 1;
  }
  return writeUvarint(buf, pos, u);
}

function writeVarlong(buf: Buffer, pos: number, v: number): number {
  return writeUvarint(buf, pos, v >= 0 ? v * 2 : -v * 2 - 1);
}

function writeBytes(buf: Buffer, pos: number, v: RecordBytes, length: number): number {
  pos = writeVarint(buf, pos, length);
  if (length <= 0) return pos;
  if (typeof v === 'string') buf.write(v, pos, length, 'utf8');
  else (v as Buffer).copy(buf, pos);
  return pos + length;
}

export interface BatchHeaderOptions {
  compression?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
}

export class RecordBatchBuilder {
  private buf: Buffer;
  private pos = RECORDS;
  private readonly headerLengths: number[] = [];
  /** Records appended. */
  count = 0;
  baseTimestamp = -1;
  maxTimestamp = -1;

  /** `limit`: the batch's size in bytes (batch.size); more records are refused once it would be passed. */
  constructor(readonly limit: number) {
    this.buf = Buffer.allocUnsafe(Math.min(Math.max(limit, RECORD_BATCH_OVERHEAD), MAX_INITIAL_CAPACITY));
  }

  /** Bytes of the batch so far (header included, uncompressed). */
  get sizeInBytes(): number {
    return this.pos;
  }

  /**
   * Appends one record, or returns -1 (appending nothing) when the batch holds records already and this one
   * would take it past its limit. Returns the record's size in bytes otherwise.
   */
  append(timestamp: number, key: RecordBytes, value: RecordBytes, headers?: RecordHeadersInput): number {
    if (this.count === 0) this.baseTimestamp = timestamp;
    const timestampDelta = timestamp - this.baseTimestamp;
    const keyLength = byteLength(key);
    const valueLength = byteLength(value);
    const headerBytes = headers === undefined ? 1 : headersSize(headers, this.headerLengths);
    const body =
      1 +
      (timestampDelta >= -64 && timestampDelta < 64 ? 1 : sizeOfVarlong(timestampDelta)) +
      sizeOfVarint(this.count) +
      sizeOfVarint(keyLength) +
      (keyLength > 0 ? keyLength : 0) +
      sizeOfVarint(valueLength) +
      (valueLength > 0 ? valueLength : 0) +
      headerBytes;
    const size = sizeOfVarint(body) + body;
    const end = this.pos + size;
    if (end > this.limit && this.count > 0) return -1;
    if (end > this.buf.length) this.grow(end);
    const buf = this.buf;
    let p = writeVarint(buf, this.pos, body);
    buf[p++] = 0; // record attributes (unused in v2)
    p = writeVarlong(buf, p, timestampDelta);
    p = writeVarint(buf, p, this.count);
    p = writeBytes(buf, p, key, keyLength);
    p = writeBytes(buf, p, value, valueLength);
    if (headers === undefined) {
      buf[p++] = 0;
    } else {
      p = this.writeHeaders(buf, p, headers);
    }
    this.pos = p;
    this.count++;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    return size;
  }

  private writeHeaders(buf: Buffer, p: number, headers: RecordHeadersInput): number {
    const lengths = this.headerLengths;
    p = writeVarint(buf, p, lengths.length / 2);
    let i = 0;
    const put = (key: string, value: RecordBytes): void => {
      p = writeBytes(buf, p, key, lengths[i]!);
      p = writeBytes(buf, p, value, lengths[i + 1]!);
      i += 2;
    };
    if (Array.isArray(headers)) {
      for (const h of headers as ReadonlyArray<{ key: string; value: RecordBytes }>) put(h.key, h.value);
    } else if (headers) {
      for (const key of Object.keys(headers)) put(key, (headers as Record<string, RecordBytes>)[key]);
    }
    return p;
  }

  private grow(needed: number): void {
    let capacity = this.buf.length * 2;
    while (capacity < needed) capacity *= 2;
    capacity = Math.max(needed, Math.min(capacity, Math.max(this.limit, needed)));
    const next = Buffer.allocUnsafe(capacity);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * Finishes the batch: the header (offsets from 0, as a producer sends them), compression of the records
   * section when asked, and the CRC. The builder must not be used afterwards.
   */
  build(opts: BatchHeaderOptions = {}): Buffer {
    const compression = opts.compression ?? CompressionType.none;
    let out: Buffer;
    if (compression === CompressionType.none) {
      out = this.buf.subarray(0, this.pos);
    } else {
      const compressed = compress(compression, this.buf.subarray(RECORDS, this.pos));
      out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + compressed.length);
      compressed.copy(out, RECORDS);
    }
    const n = this.count;
    writeInt64(out, 0, BASE_OFFSET);
    out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
    out.writeInt32BE(-1, PARTITION_LEADER_EPOCH);
    out.writeInt8(2, MAGIC);
    out.writeInt16BE((compression & COMPRESSION_MASK) | (opts.transactional ? TRANSACTIONAL_FLAG : 0), ATTRIBUTES);
    out.writeInt32BE(n - 1, LAST_OFFSET_DELTA);
    writeInt64(out, this.baseTimestamp, BASE_TIMESTAMP);
    writeInt64(out, this.maxTimestamp, MAX_TIMESTAMP);
    writeInt64(out, opts.producerId ?? -1, PRODUCER_ID);
    out.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH);
    out.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE);
    out.writeInt32BE(n, RECORDS_COUNT);
    out.writeUInt32BE(crc32c(out, ATTRIBUTES, out.length), CRC);
    return out;
  }
}
