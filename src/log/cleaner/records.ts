/**
 * Record-level work of the log cleaner on v2 batches, without making objects per record: walk the records of a
 * batch (decompressed when needed) as raw byte ranges, and rebuild a batch from the ranges it keeps.
 *
 * A record's bytes carry its own offset delta and timestamp delta, relative to the batch's base offset and base
 * timestamp; the rebuilt batch keeps the original header (base offset, lastOffsetDelta, base timestamp,
 * producer id/epoch, base sequence, partition leader epoch, attributes and so the codec), so the kept records
 * are copied as they are and keep their offsets and timestamps. Only batchLength, recordsCount, maxTimestamp
 * (CreateTime: the largest kept timestamp) and the CRC change.
 */
import {
  ATTRIBUTES,
  BATCH_LENGTH,
  COMPRESSION_MASK,
  CONTROL_FLAG,
  LOG_OVERHEAD,
  MAX_TIMESTAMP,
  RECORDS,
  RECORDS_COUNT,
  TIMESTAMP_TYPE_MASK,
  batchAttributes,
  batchBaseOffset,
  batchBaseTimestamp,
  batchMaxTimestamp,
  batchRecordsCount,
} from '../../protocol/record-batch-header.js';
import { CompressionType, compress, decompress } from '../../protocol/compression.js';
import { ProtocolError, Reader, writeInt64 } from '../../protocol/primitives.js';
import { setBatchCrc } from '../../protocol/records.js';

/** One record of a batch, as positions in the batch's (decompressed) records data. */
export interface RawRecord {
  /** [start, end): the whole record including its length varint. */
  start: number;
  end: number;
  offset: number;
  timestamp: number;
  /** The key's bytes (a view), or null. */
  key: Buffer | null;
  /** True when the value is null (a tombstone). */
  nullValue: boolean;
}

export function isControlBatch(buf: Buffer, pos: number): boolean {
  return (batchAttributes(buf, pos) & CONTROL_FLAG) !== 0;
}

/**
 * The records data of the batch at [pos, pos + size), decompressed (bounded by MAX_INFLATED_BYTES, what the
 * produce path accepts at most, so a batch that was accepted can always be read here).
 */
export function batchRecordsData(buf: Buffer, pos: number, size: number): Buffer {
  const codec = batchAttributes(buf, pos) & COMPRESSION_MASK;
  const body = buf.subarray(pos + RECORDS, pos + size);
  return codec === CompressionType.none ? body : decompress(codec, body);
}

/**
 * Calls visit for each record of the batch at pos (size bytes), with the decompressed data its positions refer
 * to. The RawRecord object is reused between calls. Throws ProtocolError on malformed records.
 */
export function forEachRawRecord(buf: Buffer, pos: number, size: number, visit: (r: RawRecord, data: Buffer) => void): Buffer {
  const data = batchRecordsData(buf, pos, size);
  const count = batchRecordsCount(buf, pos);
  const baseOffset = batchBaseOffset(buf, pos);
  const baseTimestamp = batchBaseTimestamp(buf, pos);
  const logAppendTime = (batchAttributes(buf, pos) & TIMESTAMP_TYPE_MASK) !== 0;
  const maxTimestamp = batchMaxTimestamp(buf, pos);
  const r = new Reader(data, 0, data.length);
  const rec: RawRecord = { start: 0, end: 0, offset: 0, timestamp: 0, key: null, nullValue: false };
  for (let i = 0; i < count; i++) {
    const start = r.pos;
    const len = r.varint();
    if (len < 0 || len > r.remaining) throw new ProtocolError(`invalid record length ${len}`);
    const end = r.pos + len;
    r.int8(); // attributes
    const tsDelta = r.varlong();
    const offsetDelta = r.varint();
    const keyLen = r.varint();
    const key = keyLen < 0 ? null : r.rawBytes(keyLen);
    const valueLen = r.varint();
    rec.start = start;
    rec.end = end;
    rec.offset = baseOffset + offsetDelta;
    rec.timestamp = logAppendTime ? maxTimestamp : baseTimestamp + tsDelta;
    rec.key = key;
    rec.nullValue = valueLen < 0;
    visit(rec, data);
    r.pos = end;
  }
  return data;
}

/**
 * The batch at pos rebuilt with only the records whose ranges are in `kept` (in order, from `data`, the batch's
 * decompressed records): same header, same codec, new count, maxTimestamp and CRC.
 */
export function rebuildBatch(
  buf: Buffer,
  pos: number,
  data: Buffer,
  kept: readonly { start: number; end: number }[],
  keptMaxTimestamp: number,
): Buffer {
  const codec = batchAttributes(buf, pos) & COMPRESSION_MASK;
  let n = 0;
  for (const k of kept) n += k.end - k.start;
  const raw = Buffer.allocUnsafe(n);
  let w = 0;
  for (const k of kept) w += data.copy(raw, w, k.start, k.end);
  const body = codec === CompressionType.none ? raw : compress(codec, raw);
  const out = Buffer.allocUnsafe(RECORDS + body.length);
  buf.copy(out, 0, pos, pos + RECORDS);
  body.copy(out, RECORDS);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH);
  out.writeInt32BE(kept.length, RECORDS_COUNT);
  if ((out.readInt16BE(ATTRIBUTES) & TIMESTAMP_TYPE_MASK) === 0) writeInt64(out, keptMaxTimestamp, MAX_TIMESTAMP);
  setBatchCrc(out, 0);
  return out;
}
