/**
 * Record batch v2 (magic 2) encoding and decoding, plus the header-only checks used by the log's
 * recovery scan. Layout: docs/protocol-notes.md §3 and record-batch-header.ts.
 *
 * The produce path's checks of every record are in record-validator.ts.
 *
 * Decoded keys, values and header values are views (subarrays) into the input buffer for
 * uncompressed batches, or into the decompressed buffer otherwise; copy them if the source buffer is
 * going to be reused.
 */
import {
  ATTRIBUTES,
  BASE_OFFSET,
  BASE_SEQUENCE,
  BASE_TIMESTAMP,
  BATCH_LENGTH,
  COMPRESSION_MASK,
  CONTROL_FLAG,
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
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG,
  batchAttributes,
  batchBaseOffset,
  batchBaseSequence,
  batchBaseTimestamp,
  batchCrc,
  batchLastOffsetDelta,
  batchMagic,
  batchMaxTimestamp,
  batchProducerEpoch,
  batchProducerId,
  batchRecordsCount,
  batchSize,
} from './record-batch-header.js';
import { ProtocolError, Reader, Writer, sizeOfVarint, sizeOfVarlong, writeInt64 } from './primitives.js';
import { crc32c } from './crc32c.js';
import { CompressionType, compress, decompress } from './compression.js';

export const MAGIC_V2 = 2;

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Epoch millis; defaults to Date.now() (sampled once per batch). */
  timestamp?: number;
}

export interface BuildBatchOptions {
  compression?: number;
  baseOffset?: number;
  /** Defaults to the first record's timestamp. */
  baseTimestamp?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  /** Sets the control bit (transaction markers); clients must not send these. */
  isControl?: boolean;
  /** Sets the LogAppendTime bit in attributes. */
  timestampType?: 'CreateTime' | 'LogAppendTime';
  partitionLeaderEpoch?: number;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  baseOffset: number;
  lastOffset: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: number;
  timestampType: 'CreateTime' | 'LogAppendTime';
  isTransactional: boolean;
  isControl: boolean;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
  sizeInBytes: number;
  records: DecodedRecord[];
}

// ---------------------------------------------------------------------------------------------
// Encoding

function sizeOfNullableBytes(b: Buffer | null): number {
  return b === null ? 1 : sizeOfVarint(b.length) + b.length;
}

/** Size of a record's body (everything after its own length varint). */
function recordBodySize(r: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let size = 1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta);
  size += sizeOfNullableBytes(r.key) + sizeOfNullableBytes(r.value);
  const headers = r.headers;
  if (headers === undefined || headers.length === 0) return size + 1;
  size += sizeOfVarint(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    const n = Buffer.byteLength(h.key, 'utf8');
    size += sizeOfVarint(n) + n + sizeOfNullableBytes(h.value);
  }
  return size;
}

function writeNullableBytes(w: Writer, b: Buffer | null): void {
  if (b === null) {
    w.varint(-1);
  } else {
    w.varint(b.length);
    w.rawBytes(b);
  }
}

function writeRecord(w: Writer, r: RecordInput, bodySize: number, timestampDelta: number, offsetDelta: number): void {
  w.varint(bodySize);
  w.int8(0); // record attributes (unused)
  w.varlong(timestampDelta);
  w.varint(offsetDelta);
  writeNullableBytes(w, r.key);
  writeNullableBytes(w, r.value);
  const headers = r.headers;
  if (headers === undefined || headers.length === 0) {
    w.varint(0);
    return;
  }
  w.varint(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    w.varint(Buffer.byteLength(h.key, 'utf8'));
    w.pos += w.buf.write(h.key, w.pos, 'utf8');
    writeNullableBytes(w, h.value);
  }
}

/**
 * Encodes records as one v2 record batch. Sizes are computed first; uncompressed batches are written
 * straight into the final buffer, compressed ones go through one intermediate buffer for the codec.
 */
export function buildRecordBatch(records: RecordInput[], opts: BuildBatchOptions = {}): Buffer {
  const compression = opts.compression ?? CompressionType.none;
  const n = records.length;
  let now = -1;
  const tsOf = (r: RecordInput): number => {
    if (r.timestamp !== undefined) return r.timestamp;
    if (now < 0) now = Date.now();
    return now;
  };

  const baseTimestamp = opts.baseTimestamp ?? (n > 0 ? tsOf(records[0]!) : Date.now());
  let maxTimestamp = n > 0 ? -Infinity : baseTimestamp;
  const bodySizes = new Array<number>(n);
  let recordsBytes = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    const ts = tsOf(r);
    if (ts > maxTimestamp) maxTimestamp = ts;
    const body = recordBodySize(r, ts - baseTimestamp, i);
    bodySizes[i] = body;
    recordsBytes += sizeOfVarint(body) + body;
  }

  let out: Buffer;
  if (compression === CompressionType.none) {
    out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + recordsBytes);
    const w = new Writer(out, RECORDS);
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      writeRecord(w, r, bodySizes[i]!, tsOf(r) - baseTimestamp, i);
    }
  } else {
    const raw = Buffer.allocUnsafe(recordsBytes);
    const w = new Writer(raw, 0);
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      writeRecord(w, r, bodySizes[i]!, tsOf(r) - baseTimestamp, i);
    }
    const compressed = compress(compression, raw);
    out = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD + compressed.length);
    compressed.copy(out, RECORDS);
  }

  let attributes = compression & COMPRESSION_MASK;
  if (opts.timestampType === 'LogAppendTime') attributes |= TIMESTAMP_TYPE_MASK;
  if (opts.transactional) attributes |= TRANSACTIONAL_FLAG;
  if (opts.isControl) attributes |= CONTROL_FLAG;

  writeInt64(out, opts.baseOffset ?? 0, BASE_OFFSET);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
  out.writeInt32BE(opts.partitionLeaderEpoch ?? -1, PARTITION_LEADER_EPOCH);
  out.writeInt8(MAGIC_V2, MAGIC);
  out.writeInt16BE(attributes, ATTRIBUTES);
  out.writeInt32BE(n - 1, LAST_OFFSET_DELTA);
  writeInt64(out, baseTimestamp, BASE_TIMESTAMP);
  writeInt64(out, maxTimestamp, MAX_TIMESTAMP);
  writeInt64(out, opts.producerId ?? -1, PRODUCER_ID);
  out.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH);
  out.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE);
  out.writeInt32BE(n, RECORDS_COUNT);
  out.writeUInt32BE(crc32c(out, ATTRIBUTES, out.length), CRC);
  return out;
}

/** Recomputes and stores the CRC of the batch at pos (after rewriting attributes or timestamps). */
export function setBatchCrc(buf: Buffer, pos = 0): void {
  const end = pos + batchSize(buf, pos);
  buf.writeUInt32BE(crc32c(buf, pos + ATTRIBUTES, end), pos + CRC);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function readNullableBytes(r: Reader): Buffer | null {
  const len = r.varint();
  if (len < 0) return null;
  return r.rawBytes(len);
}

function readHeaders(r: Reader): RecordHeader[] {
  const count = r.varint();
  if (count === 0) return [];
  if (count < 0) throw new ProtocolError(`invalid negative header count ${count}`);
  if (count > r.remaining) throw new ProtocolError(`header count ${count} exceeds record size`);
  const headers = new Array<RecordHeader>(count);
  for (let i = 0; i < count; i++) {
    const keyLen = r.varint();
    if (keyLen < 0) throw new ProtocolError(`invalid negative header key size ${keyLen}`);
    const keyBytes = r.rawBytes(keyLen);
    const key = keyBytes.toString('utf8');
    headers[i] = { key, value: readNullableBytes(r) };
  }
  return headers;
}

/**
 * Decodes the v2 batch at pos, decompressing if needed. Does not verify the CRC (see
 * verifyBatchCrc). Throws ProtocolError on truncated/malformed input or another magic.
 */
export function decodeRecordBatch(buf: Buffer, pos = 0): DecodedBatch {
  if (pos + RECORD_BATCH_OVERHEAD > buf.length) {
    throw new ProtocolError(`truncated record batch at ${pos}: ${buf.length - pos} bytes`);
  }
  const magic = batchMagic(buf, pos);
  if (magic !== MAGIC_V2) throw new ProtocolError(`unsupported record batch magic ${magic}`);
  const size = batchSize(buf, pos);
  const end = pos + size;
  if (size < RECORD_BATCH_OVERHEAD || end > buf.length) {
    throw new ProtocolError(`invalid record batch size ${size} at ${pos} (buffer ${buf.length})`);
  }
  const attributes = batchAttributes(buf, pos);
  const compression = attributes & COMPRESSION_MASK;
  const logAppendTime = (attributes & TIMESTAMP_TYPE_MASK) !== 0;
  const baseOffset = batchBaseOffset(buf, pos);
  const baseTimestamp = batchBaseTimestamp(buf, pos);
  const maxTimestamp = batchMaxTimestamp(buf, pos);
  const recordsCount = batchRecordsCount(buf, pos);
  if (recordsCount < 0) throw new ProtocolError(`invalid negative record count ${recordsCount}`);

  let data: Buffer;
  if (compression === CompressionType.none) data = buf.subarray(pos + RECORDS, end);
  else data = decompress(compression, buf.subarray(pos + RECORDS, end));

  const r = new Reader(data, 0, data.length);
  if (recordsCount > data.length) {
    throw new ProtocolError(`record count ${recordsCount} exceeds batch data size ${data.length}`);
  }
  const records = new Array<DecodedRecord>(recordsCount);
  for (let i = 0; i < recordsCount; i++) {
    const len = r.varint();
    if (len < 0 || len > r.remaining) throw new ProtocolError(`invalid record length ${len}`);
    const recordEnd = r.pos + len;
    r.int8(); // attributes (unused)
    const timestampDelta = r.varlong();
    const offsetDelta = r.varint();
    const key = readNullableBytes(r);
    const value = readNullableBytes(r);
    const headers = readHeaders(r);
    if (r.pos !== recordEnd) {
      throw new ProtocolError(`record ${i} length ${len} does not match its contents`);
    }
    records[i] = {
      offset: baseOffset + offsetDelta,
      timestamp: logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
  }

  return {
    baseOffset,
    lastOffset: baseOffset + batchLastOffsetDelta(buf, pos),
    partitionLeaderEpoch: buf.readInt32BE(pos + PARTITION_LEADER_EPOCH),
    magic,
    crc: batchCrc(buf, pos),
    attributes,
    compression,
    timestampType: logAppendTime ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
    isControl: (attributes & CONTROL_FLAG) !== 0,
    baseTimestamp,
    maxTimestamp,
    producerId: batchProducerId(buf, pos),
    producerEpoch: batchProducerEpoch(buf, pos),
    baseSequence: batchBaseSequence(buf, pos),
    recordsCount,
    sizeInBytes: size,
    records,
  };
}

/** Smallest possible legacy (magic 0) message after the log overhead; anything below is garbage. */
const MIN_BATCH_LENGTH = 14;

/**
 * Calls fn(pos, size) for each complete batch in buf (concatenated batches, as in fetch responses and
 * log segments). Stops silently at a partial trailing batch; returns the number of bytes consumed
 * (the end of the last complete batch). Throws ProtocolError on an impossible batch length.
 */
export function forEachBatch(buf: Buffer, fn: (pos: number, size: number) => void): number {
  let pos = 0;
  const len = buf.length;
  while (pos + LOG_OVERHEAD <= len) {
    const batchLength = buf.readInt32BE(pos + BATCH_LENGTH);
    if (batchLength < MIN_BATCH_LENGTH) {
      throw new ProtocolError(`invalid record batch length ${batchLength} at ${pos}`);
    }
    const size = batchLength + LOG_OVERHEAD;
    if (pos + size > len) break;
    fn(pos, size);
    pos += size;
  }
  return pos;
}

/** Decodes every complete batch in buf (a trailing partial batch is ignored). */
export function decodeRecordBatches(buf: Buffer): DecodedBatch[] {
  const out: DecodedBatch[] = [];
  forEachBatch(buf, (pos) => {
    out.push(decodeRecordBatch(buf, pos));
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation (header only)

/** True if the batch at pos fits in buf and its stored CRC-32C matches [ATTRIBUTES, end). */
export function verifyBatchCrc(buf: Buffer, pos = 0): boolean {
  if (pos + RECORD_BATCH_OVERHEAD > buf.length) return false;
  const size = batchSize(buf, pos);
  if (size < RECORD_BATCH_OVERHEAD || pos + size > buf.length) return false;
  return crc32c(buf, pos + ATTRIBUTES, pos + size) === batchCrc(buf, pos);
}

/**
 * Structural check of the batch at pos within [pos, end): returns null if valid, else a short reason.
 * Checks size, magic, CRC and the record count (at most lastOffsetDelta + 1: compacted batches have gaps);
 * never decompresses.
 */
export function checkBatchStructure(buf: Buffer, pos: number, end: number): string | null {
  if (end > buf.length) end = buf.length;
  if (end - pos < RECORD_BATCH_OVERHEAD) return `only ${Math.max(0, end - pos)} bytes left, below the batch header size`;
  const size = batchSize(buf, pos);
  if (size < RECORD_BATCH_OVERHEAD) return `batch size ${size} below minimum ${RECORD_BATCH_OVERHEAD}`;
  if (pos + size > end) return `batch size ${size} extends past end (${end - pos} bytes available)`;
  const magic = batchMagic(buf, pos);
  if (magic !== MAGIC_V2) return `unsupported magic ${magic}`;
  if (crc32c(buf, pos + ATTRIBUTES, pos + size) !== batchCrc(buf, pos)) return 'CRC mismatch';
  const count = batchRecordsCount(buf, pos);
  const lastOffsetDelta = batchLastOffsetDelta(buf, pos);
  if (count <= 0) return `invalid record count ${count}`;
  // A batch rewritten by the log cleaner keeps its lastOffsetDelta but holds fewer records (offset gaps),
  // as Kafka's: so only more records than offsets is wrong here (the produce path checks equality).
  if (lastOffsetDelta + 1 < count) return `lastOffsetDelta ${lastOffsetDelta} is too small for record count ${count}`;
  return null;
}
