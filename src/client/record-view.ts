/**
 * Walks the records of fetched batches in place and shows each through one reused RecordView, so consuming
 * costs no JavaScript object per record unless the caller asks for one (a key, value or headers is made on
 * access, as a view into the fetched bytes). Batches are filtered as the consumer's decode() filters them:
 * records below the fetch position, control batches, and (read_committed) aborted transactions are skipped.
 *
 * Record layout (docs/protocol-notes.md §3): length varint | attributes int8 | timestampDelta varlong |
 * offsetDelta varint | keyLength varint | key | valueLength varint | value | headerCount varint | headers.
 */
import {
  BASE_TIMESTAMP,
  COMPRESSION_MASK,
  CONTROL_FLAG,
  RECORDS,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG,
  batchAttributes,
  batchBaseOffset,
  batchLastOffset,
  batchMaxTimestamp,
  batchProducerId,
  batchRecordsCount,
  batchSize,
} from '../protocol/record-batch-header.js';
import { readInt64, ProtocolError, Reader } from '../protocol/primitives.js';
import { CompressionType, decompress } from '../protocol/compression.js';
import type { RecordHeader } from '../protocol/records.js';

/** One record as pollEach() shows it: valid only during the callback (the object is reused for the next one). */
export interface RecordView {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly timestampType: 'CreateTime' | 'LogAppendTime';
  /** Byte lengths; -1 for a null key or value. */
  readonly keyLength: number;
  readonly valueLength: number;
  /** Made on access: views into the fetched bytes (copy them to keep them past the callback). */
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeader[];
}

class View implements RecordView {
  topic = '';
  partition = 0;
  offset = 0;
  timestamp = 0;
  timestampType: 'CreateTime' | 'LogAppendTime' = 'CreateTime';
  keyLength = -1;
  valueLength = -1;
  data: Buffer = Buffer.alloc(0);
  keyStart = 0;
  valueStart = 0;
  headersStart = 0;
  recordEnd = 0;

  get key(): Buffer | null {
    return this.keyLength < 0 ? null : this.data.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  get value(): Buffer | null {
    return this.valueLength < 0 ? null : this.data.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  get headers(): RecordHeader[] {
    const r = new Reader(this.data, this.headersStart, this.recordEnd);
    const count = r.varint();
    const out: RecordHeader[] = [];
    for (let i = 0; i < count; i++) {
      const keyLength = r.varint();
      const key = r.rawBytes(keyLength).toString('utf8');
      const valueLength = r.varint();
      out.push({ key, value: valueLength < 0 ? null : r.rawBytes(valueLength) });
    }
    return out;
  }
}

/** Position after the last varint read. */
let cursor = 0;

function malformed(what: string, pos: number): never {
  throw new ProtocolError(`malformed record in fetched batch: ${what} at ${pos}`);
}

/** Zig-zag varint (32 bits), one byte inline. */
function varint(buf: Buffer, pos: number, end: number): number {
  if (pos < end) {
    const b0 = buf[pos]!;
    if (b0 < 0x80) {
      cursor = pos + 1;
      return (b0 >>> 1) ^ -(b0 & 1);
    }
  }
  return longVarint(buf, pos, end);
}

function longVarint(buf: Buffer, pos: number, end: number): number {
  let raw = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) break;
    const b = buf[pos++]!;
    raw |= (b & 0x7f) << shift;
    if (b < 0x80) {
      cursor = pos;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  return malformed('varint', pos);
}

/** Zig-zag varlong as a number (exact below 2^53). */
function varlong(buf: Buffer, pos: number, end: number): number {
  if (pos < end) {
    const b0 = buf[pos]!;
    if (b0 < 0x80) {
      cursor = pos + 1;
      return (b0 >>> 1) ^ -(b0 & 1);
    }
  }
  let result = 0;
  let mult = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) break;
    const b = buf[pos++]!;
    result += (b & 0x7f) * mult;
    if (b < 0x80) {
      cursor = pos;
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    }
    mult *= 128;
  }
  return malformed('varlong', pos);
}

export class RecordViewWalker {
  private readonly view = new View();
  /** Records shown by the last walk. */
  delivered = 0;

  /**
   * Shows every record of the whole batches in `data` at or above `fromOffset` to `fn`; returns the offset
   * after the last batch walked (the next position). `aborted`: read_committed's aborted transactions, sorted
   * by first offset (null: keep every transactional batch).
   */
  walk(
    topic: string,
    partition: number,
    data: Buffer,
    fromOffset: number,
    aborted: ReadonlyArray<{ producerId: number; firstOffset: number }> | null,
    fn: (record: RecordView) => void,
  ): number {
    const view = this.view;
    view.topic = topic;
    view.partition = partition;
    this.delivered = 0;
    let next = fromOffset;
    let abortIdx = 0;
    const abortedProducers = aborted ? new Set<number>() : null;
    let pos = 0;
    while (pos + 12 <= data.length) {
      const size = batchSize(data, pos);
      if (size < RECORDS) throw new ProtocolError(`invalid record batch size ${size} in fetched data`);
      if (pos + size > data.length) break; // a partial batch at the end (max_bytes cut it)
      const batchPos = pos;
      pos += size;
      const lastOffset = batchLastOffset(data, batchPos);
      if (lastOffset < fromOffset) continue;
      if (lastOffset + 1 > next) next = lastOffset + 1;
      const attributes = batchAttributes(data, batchPos);
      const producerId = batchProducerId(data, batchPos);
      if (abortedProducers && aborted) {
        while (abortIdx < aborted.length && aborted[abortIdx]!.firstOffset <= lastOffset) abortedProducers.add(aborted[abortIdx++]!.producerId);
      }
      if ((attributes & CONTROL_FLAG) !== 0) {
        abortedProducers?.delete(producerId);
        continue;
      }
      if (abortedProducers && (attributes & TRANSACTIONAL_FLAG) !== 0 && abortedProducers.has(producerId)) continue;
      this.walkBatch(data, batchPos, size, attributes, fromOffset, fn);
    }
    view.data = EMPTY; // do not keep the fetched bytes alive
    return next;
  }

  private walkBatch(data: Buffer, batchPos: number, size: number, attributes: number, fromOffset: number, fn: (record: RecordView) => void): void {
    const view = this.view;
    const baseOffset = batchBaseOffset(data, batchPos);
    const logAppendTime = (attributes & TIMESTAMP_TYPE_MASK) !== 0;
    const baseTimestamp = readInt64(data, batchPos + BASE_TIMESTAMP);
    const maxTimestamp = batchMaxTimestamp(data, batchPos);
    const count = batchRecordsCount(data, batchPos);
    const codec = attributes & COMPRESSION_MASK;
    let buf: Buffer;
    let pos: number;
    let end: number;
    if (codec === CompressionType.none) {
      buf = data;
      pos = batchPos + RECORDS;
      end = batchPos + size;
    } else {
      buf = decompress(codec, data.subarray(batchPos + RECORDS, batchPos + size));
      pos = 0;
      end = buf.length;
    }
    view.data = buf;
    view.timestampType = logAppendTime ? 'LogAppendTime' : 'CreateTime';
    for (let i = 0; i < count; i++) {
      const length = varint(buf, pos, end);
      pos = cursor;
      const recordEnd = pos + length;
      if (length < 6 || recordEnd > end) malformed(`record length ${length}`, pos);
      const timestampDelta = varlong(buf, pos + 1, recordEnd);
      const offsetDelta = varint(buf, cursor, recordEnd);
      const keyLength = varint(buf, cursor, recordEnd);
      const keyStart = cursor;
      const valueLength = varint(buf, keyStart + (keyLength > 0 ? keyLength : 0), recordEnd);
      const valueStart = cursor;
      const headersStart = valueStart + (valueLength > 0 ? valueLength : 0);
      if (headersStart >= recordEnd || keyLength < -1 || valueLength < -1) malformed('key or value length', keyStart);
      pos = recordEnd;
      const offset = baseOffset + offsetDelta;
      if (offset < fromOffset) continue;
      view.offset = offset;
      view.timestamp = logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta;
      view.keyLength = keyLength;
      view.valueLength = valueLength;
      view.keyStart = keyStart;
      view.valueStart = valueStart;
      view.headersStart = headersStart;
      view.recordEnd = recordEnd;
      this.delivered++;
      fn(view);
    }
  }
}

const EMPTY = Buffer.alloc(0);
