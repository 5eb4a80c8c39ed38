/**
 * Transaction markers (Kafka's ControlRecordType and EndTransactionMarker): a control batch (attributes: control and
 * transactional bits set) holding one record, written by a partition's leader when the transaction coordinator
 * commits or aborts a producer's transaction there.
 *
 * - key   = int16 version (0) + int16 type (0 = ABORT, 1 = COMMIT)
 * - value = int16 version (0) + int32 coordinator epoch
 *
 * The batch carries the producer's id and epoch, base sequence -1, and is never compressed, so the record can be read
 * in place from the batch's bytes (`readControlRecord`) without decoding the batch.
 */
import { CONTROL_FLAG, RECORDS, RECORD_BATCH_OVERHEAD, batchAttributes, batchSize } from './record-batch-header.js';
import { buildRecordBatch } from './records.js';

export const CONTROL_TYPE_ABORT = 0;
export const CONTROL_TYPE_COMMIT = 1;
const CONTROL_KEY_VERSION = 0;
const END_TXN_MARKER_VERSION = 0;

export interface ControlRecord {
  /** CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, or another (unknown) type Kafka may add. */
  type: number;
  /** The marker's coordinator epoch (-1 when the value is missing or not an end-transaction marker). */
  coordinatorEpoch: number;
}

export interface TxnMarkerInput {
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
  timestamp?: number;
}

/** A control batch holding one COMMIT or ABORT marker, base offset 0 (the log assigns it). */
export function buildTxnMarkerBatch(m: TxnMarkerInput): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(CONTROL_KEY_VERSION, 0);
  key.writeInt16BE(m.commit ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(END_TXN_MARKER_VERSION, 0);
  value.writeInt32BE(m.coordinatorEpoch, 2);
  return buildRecordBatch([{ key, value, timestamp: m.timestamp ?? Date.now() }], {
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    baseSequence: -1,
    transactional: true,
    isControl: true,
  });
}

export function isControlBatch(buf: Buffer, pos = 0): boolean {
  return (batchAttributes(buf, pos) & CONTROL_FLAG) !== 0;
}

/** Reads an unsigned-zigzag varint at `pos`; returns [value, next position], or null past `end`. */
function varint(buf: Buffer, pos: number, end: number): [number, number] | null {
  let raw = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end || shift > 28) return null;
    const b = buf[pos++]!;
    raw |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
  }
  return [(raw >>> 1) ^ -(raw & 1), pos];
}

/** Skips a zigzag varlong at `pos`; returns the next position, or null past `end`. */
function skipVarlong(buf: Buffer, pos: number, end: number): number | null {
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return null;
    if ((buf[pos++]! & 0x80) === 0) return pos;
  }
  return null;
}

/**
 * The first record of the control batch at `pos`, read in place (control batches are never compressed); null when the
 * batch is not a control batch or its record cannot be read.
 */
export function readControlRecord(buf: Buffer, pos = 0): ControlRecord | null {
  if (pos + RECORD_BATCH_OVERHEAD > buf.length || !isControlBatch(buf, pos)) return null;
  const end = Math.min(buf.length, pos + batchSize(buf, pos));
  let p: number | null = pos + RECORDS;
  const len = varint(buf, p, end);
  if (len === null) return null;
  p = len[1] + 1; // attributes (int8)
  p = skipVarlong(buf, p, end); // timestamp delta
  if (p === null) return null;
  const offsetDelta = varint(buf, p, end);
  if (offsetDelta === null) return null;
  const keyLen = varint(buf, offsetDelta[1], end);
  if (keyLen === null || keyLen[0] < 4 || keyLen[1] + keyLen[0] > end) return null;
  const keyPos = keyLen[1];
  const type = buf.readInt16BE(keyPos + 2);
  let coordinatorEpoch = -1;
  const valueLen = varint(buf, keyPos + keyLen[0], end);
  if (valueLen !== null && valueLen[0] >= 6 && valueLen[1] + valueLen[0] <= end) coordinatorEpoch = buf.readInt32BE(valueLen[1] + 2);
  return { type, coordinatorEpoch };
}

export function controlTypeName(type: number): string {
  return type === CONTROL_TYPE_COMMIT ? 'COMMIT' : type === CONTROL_TYPE_ABORT ? 'ABORT' : `UNKNOWN(${type})`;
}
