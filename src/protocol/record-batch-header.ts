/**
 * Byte layout of a record batch v2 (magic 2) header, as on the wire and on disk.
 * The produce and fetch paths and the log read these fields in place; they never decode records.
 */
import { readInt64, writeInt64 } from './primitives.js';

export const BASE_OFFSET = 0; // int64
export const BATCH_LENGTH = 8; // int32: bytes after this field
export const PARTITION_LEADER_EPOCH = 12; // int32, not covered by the CRC
export const MAGIC = 16; // int8 = 2
export const CRC = 17; // uint32 CRC-32C over [ATTRIBUTES, end)
export const ATTRIBUTES = 21; // int16
export const LAST_OFFSET_DELTA = 23; // int32
export const BASE_TIMESTAMP = 27; // int64
export const MAX_TIMESTAMP = 35; // int64
export const PRODUCER_ID = 43; // int64
export const PRODUCER_EPOCH = 51; // int16
export const BASE_SEQUENCE = 53; // int32
export const RECORDS_COUNT = 57; // int32
export const RECORDS = 61;

/** Size of the batch header; also the smallest valid batch. */
export const RECORD_BATCH_OVERHEAD = 61;
/** baseOffset + batchLength: the part of the header not counted by batchLength. */
export const LOG_OVERHEAD = 12;

export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_FLAG = 0x10;
export const CONTROL_FLAG = 0x20;

export const batchBaseOffset = (buf: Buffer, pos = 0): number => readInt64(buf, pos + BASE_OFFSET);
export const setBatchBaseOffset = (buf: Buffer, offset: number, pos = 0): void =>
  writeInt64(buf, offset, pos + BASE_OFFSET);
/** Total size in bytes of the batch starting at pos (batchLength + 12). */
export const batchSize = (buf: Buffer, pos = 0): number => buf.readInt32BE(pos + BATCH_LENGTH) + LOG_OVERHEAD;
export const batchMagic = (buf: Buffer, pos = 0): number => buf.readInt8(pos + MAGIC);
export const batchCrc = (buf: Buffer, pos = 0): number => buf.readUInt32BE(pos + CRC);
export const batchAttributes = (buf: Buffer, pos = 0): number => buf.readInt16BE(pos + ATTRIBUTES);
export const batchLastOffsetDelta = (buf: Buffer, pos = 0): number => buf.readInt32BE(pos + LAST_OFFSET_DELTA);
export const batchLastOffset = (buf: Buffer, pos = 0): number =>
  batchBaseOffset(buf, pos) + batchLastOffsetDelta(buf, pos);
export const batchBaseTimestamp = (buf: Buffer, pos = 0): number => readInt64(buf, pos + BASE_TIMESTAMP);
export const batchMaxTimestamp = (buf: Buffer, pos = 0): number => readInt64(buf, pos + MAX_TIMESTAMP);
export const batchProducerId = (buf: Buffer, pos = 0): number => readInt64(buf, pos + PRODUCER_ID);
export const batchProducerEpoch = (buf: Buffer, pos = 0): number => buf.readInt16BE(pos + PRODUCER_EPOCH);
export const batchBaseSequence = (buf: Buffer, pos = 0): number => buf.readInt32BE(pos + BASE_SEQUENCE);
export const batchRecordsCount = (buf: Buffer, pos = 0): number => buf.readInt32BE(pos + RECORDS_COUNT);
export const setBatchPartitionLeaderEpoch = (buf: Buffer, epoch: number, pos = 0): void => {
  buf.writeInt32BE(epoch, pos + PARTITION_LEADER_EPOCH);
};
