/**
 * Legacy message sets (magic 0 and 1, "message format v0/v1"), as carried by Produce v0-2, and their
 * up-conversion to one record batch v2 (magic 2), which is the only format kfk stores.
 *
 * Layout (Kafka docs, "Messages" in the old format):
 *
 *   MessageSet => [Offset(int64) MessageSize(int32) Message]
 *   Message    => Crc(uint32) Magic(int8) Attributes(int8) [Timestamp(int64), magic 1 only] Key(bytes) Value(bytes)
 *
 * Crc is a CRC-32 (not CRC-32C) over Magic..end of Value. Attributes bits 0-2 are the codec (0 none, 1 gzip,
 * 2 snappy, 3 lz4); bit 3 is the timestamp type (LogAppendTime) in magic 1. A compressed message (a "wrapper")
 * has a null key and, as its value, a compressed inner message set. In magic 1 the inner offsets are relative
 * (0..n-1) and the wrapper's offset is the last inner message's absolute offset (or 0 from some producers);
 * in magic 0 they are absolute. The broker assigns offsets anyway, so they are checked, not used.
 *
 * Checks follow Kafka's broker (ByteBufferLogInputStream, AbstractLegacyRecordBatch, LogValidator):
 * - a trailing partial message is dropped, in the outer set and inside a wrapper;
 * - a message shorter than the v0 overhead (14 bytes), a CRC mismatch, an unknown magic, or key/value
 *   lengths that do not fit the message → CORRUPT_MESSAGE;
 * - a compressed message inside a wrapper, an inner magic that differs from the wrapper's, a wrapper with a
 *   null value or no inner messages, a magic 1 wrapper offset below its last inner offset (and not 0),
 *   a magic 2 batch mixed into a legacy set → INVALID_RECORD;
 * - codec 4 (zstd, magic 2 only) and 5-7 → UNSUPPORTED_COMPRESSION_TYPE; a wrapper that does not decompress
 *   → CORRUPT_MESSAGE; wrappers that together inflate beyond the caller's bound (the v2 path's
 *   uncompressedLimit) → MESSAGE_TOO_LARGE, found without inflating beyond it. Inflation is synchronous here
 *   (only Produce v0-2 clients send these); the up-converted batch then takes the v2 validation path.
 *
 * Timestamps: magic 0 messages have none, so their records get -1 (NO_TIMESTAMP), as in Kafka's up-conversion.
 * Inner magic 1 messages keep their own timestamp unless the wrapper says LogAppendTime, in which case they
 * take the wrapper's.
 *
 * LZ4 and magic 0: Kafka before 0.10 wrote the LZ4 frame header checksum over the wrong bytes (KAFKA-3160),
 * and Kafka's reader does not check it for magic 0. lz4-napi (lz4_flex) always verifies it and has no option
 * not to, so for magic 0 a frame that fails to decode is retried with its header checksum byte recomputed
 * (XXH32 of the frame descriptor), which amounts to not checking it. Magic 1 requires a correct checksum, as
 * in Kafka.
 */
import { crc32 } from '@node-rs/crc32';
import { CompressionType, InflateLimitError, MAX_INFLATED_BYTES, decompress } from './compression.js';
import { xxh32Short } from './lz4-frame.js';
import { ErrorCode } from './errors.js';
import { readInt64 } from './primitives.js';
import { buildRecordBatch, type RecordInput } from './records.js';

export { xxh32Short };

export type LegacyTimestampType = 'NoTimestampType' | 'CreateTime' | 'LogAppendTime';

export interface LegacyMessageSet {
  /** Keys and values are views into the input buffer (or into a decompressed wrapper value). */
  records: RecordInput[];
  /** Codec of the last compressed wrapper in the set (Kafka's "source codec"); 0 when none is compressed. */
  compression: number;
  /** Magic of the first message. */
  magic: 0 | 1;
  /** NoTimestampType for magic 0; for magic 1 what the first message's attributes say. */
  timestampType: LegacyTimestampType;
}

export interface LegacyError {
  errorCode: number;
  errorMessage: string;
}

/** Offset(8) + MessageSize(4): the part of an entry before the message itself. */
const LOG_OVERHEAD = 12;
/** Position of the magic byte in an entry (after offset, size and crc); same place as in a v2 batch. */
const MAGIC_POS = 16;
/** Crc(4) Magic(1) Attributes(1) KeyLength(4) ValueLength(4). */
const MESSAGE_OVERHEAD_V0 = 14;
/** v0 plus Timestamp(8). */
const MESSAGE_OVERHEAD_V1 = 22;
const CODEC_MASK = 0x07;
const TIMESTAMP_TYPE_MASK = 0x08;
const NO_TIMESTAMP = -1;

/** True if buf starts like a legacy message set: magic byte (offset 16) 0 or 1. */
export function isLegacyMessageSet(buf: Buffer | null | undefined): boolean {
  if (!buf || buf.length <= MAGIC_POS) return false;
  const magic = buf.readInt8(MAGIC_POS);
  return magic === 0 || magic === 1;
}

export function isLegacyError(x: unknown): x is LegacyError {
  return typeof x === 'object' && x !== null && !Buffer.isBuffer(x) && 'errorCode' in x;
}

class Invalid extends Error {
  constructor(readonly errorCode: number, message: string) {
    super(message);
  }
}

const corrupt = (message: string): Invalid => new Invalid(ErrorCode.CORRUPT_MESSAGE, message);
const invalid = (message: string): Invalid => new Invalid(ErrorCode.INVALID_RECORD, message);

/** One message as read from an entry. */
interface Message {
  offset: number;
  magic: 0 | 1;
  codec: number;
  logAppendTime: boolean;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * Calls fn for each complete message in buf; a trailing partial message is ignored. `where` names the
 * set in error messages.
 */
function forEachMessage(buf: Buffer, where: string, fn: (m: Message) => void): void {
  let pos = 0;
  const len = buf.length;
  while (pos + LOG_OVERHEAD <= len) {
    const size = buf.readInt32BE(pos + 8);
    if (size < MESSAGE_OVERHEAD_V0) {
      throw corrupt(`${where}: message size ${size} at byte ${pos} is below the minimum of ${MESSAGE_OVERHEAD_V0}`);
    }
    const start = pos + LOG_OVERHEAD;
    const end = start + size;
    if (end > len) break; // partial trailing message
    fn(readMessage(buf, pos, start, end, where));
    pos = end;
  }
}

function readMessage(buf: Buffer, entry: number, start: number, end: number, where: string): Message {
  const magic = buf.readInt8(start + 4);
  if (magic === 2) {
    throw invalid(`${where}: a record batch (magic 2) at byte ${entry} cannot be mixed with magic 0/1 messages`);
  }
  if (magic !== 0 && magic !== 1) throw corrupt(`${where}: invalid magic ${magic} at byte ${entry}`);
  const overhead = magic === 0 ? MESSAGE_OVERHEAD_V0 : MESSAGE_OVERHEAD_V1;
  if (end - start < overhead) {
    throw corrupt(`${where}: magic ${magic} message size ${end - start} at byte ${entry} is below the minimum of ${overhead}`);
  }
  const stored = buf.readUInt32BE(start);
  const computed = crc32(buf.subarray(start + 4, end)) >>> 0;
  if (stored !== computed) {
    throw corrupt(`${where}: message at byte ${entry} is corrupt (stored crc ${stored}, computed crc ${computed})`);
  }
  const attributes = buf.readInt8(start + 5);
  let pos = start + 6;
  let timestamp = NO_TIMESTAMP;
  if (magic === 1) {
    timestamp = readInt64(buf, pos);
    pos += 8;
  }
  const readBytes = (what: string): Buffer | null => {
    if (pos + 4 > end) throw corrupt(`${where}: message at byte ${entry} ends inside its ${what} length`);
    const n = buf.readInt32BE(pos);
    pos += 4;
    if (n === -1) return null;
    if (n < -1 || pos + n > end) throw corrupt(`${where}: invalid ${what} length ${n} in the message at byte ${entry}`);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const key = readBytes('key');
  const value = readBytes('value');
  if (pos !== end) throw corrupt(`${where}: message at byte ${entry} has ${end - pos} bytes after its value`);
  return {
    offset: readInt64(buf, entry),
    magic,
    codec: attributes & CODEC_MASK,
    logAppendTime: magic === 1 && (attributes & TIMESTAMP_TYPE_MASK) !== 0,
    timestamp,
    key,
    value,
  };
}

/** Decompresses a wrapper's value; for magic 0 LZ4 the frame header checksum is not checked (KAFKA-3160). */
function decompressWrapper(codec: number, magic: 0 | 1, data: Buffer, limit: number): Buffer {
  try {
    return decompress(codec, data, limit);
  } catch (err) {
    if (codec === CompressionType.lz4 && magic === 0 && !(err instanceof InflateLimitError)) {
      const fixed = withCorrectLz4HeaderChecksum(data);
      if (fixed) return decompress(codec, fixed, limit);
    }
    throw err;
  }
}

const LZ4_FRAME_MAGIC = 0x184d2204;

/**
 * A copy of an LZ4 frame with its header checksum byte (HC) set to the correct value, or null if data is
 * not an LZ4 frame. HC = (XXH32(descriptor, seed 0) >> 8) & 0xff, the descriptor being FLG, BD and the
 * optional content size (FLG bit 3) and dictionary id (FLG bit 0).
 */
export function withCorrectLz4HeaderChecksum(data: Buffer): Buffer | null {
  if (data.length < 7 || data.readUInt32LE(0) !== LZ4_FRAME_MAGIC) return null;
  const flg = data[4]!;
  const descriptorLength = 2 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0);
  const hcPos = 4 + descriptorLength;
  if (hcPos >= data.length) return null;
  const out = Buffer.from(data);
  out[hcPos] = (xxh32Short(data.subarray(4, hcPos)) >>> 8) & 0xff;
  return out;
}

function parse(buf: Buffer, maxInflatedBytes: number): LegacyMessageSet {
  const records: RecordInput[] = [];
  let inflated = 0;
  let compression: number = CompressionType.none;
  let first: Message | undefined;
  forEachMessage(buf, 'message set', (m) => {
    first ??= m;
    if (m.codec === CompressionType.none) {
      records.push({ key: m.key, value: m.value, timestamp: m.timestamp });
      return;
    }
    if (m.codec > CompressionType.lz4) {
      throw new Invalid(
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
        `compression type ${m.codec} is not valid with magic ${m.magic} (message at offset ${m.offset})`,
      );
    }
    compression = m.codec;
    if (m.value === null) throw invalid(`compressed message (magic ${m.magic}) with a null value`);
    let inner: Buffer;
    try {
      inner = decompressWrapper(m.codec, m.magic, m.value, maxInflatedBytes - inflated);
      inflated += inner.length;
    } catch (err) {
      if (err instanceof InflateLimitError) {
        throw new Invalid(ErrorCode.MESSAGE_TOO_LARGE, `the compressed messages inflate beyond ${maxInflatedBytes} bytes`);
      }
      throw corrupt(`compressed message (magic ${m.magic}, codec ${m.codec}) does not decompress: ${(err as Error).message}`);
    }
    let count = 0;
    let lastInnerOffset = -1;
    forEachMessage(inner, 'compressed message set', (im) => {
      if (im.codec !== CompressionType.none) {
        throw invalid('compressed outer message must not have an inner message with a compression attribute set');
      }
      if (im.magic !== m.magic) throw invalid(`compressed message magic ${im.magic} does not match wrapper magic ${m.magic}`);
      const timestamp = im.magic === 0 ? NO_TIMESTAMP : m.logAppendTime ? m.timestamp : im.timestamp;
      records.push({ key: im.key, value: im.value, timestamp });
      lastInnerOffset = im.offset;
      count++;
    });
    if (count === 0) throw invalid('compressed message set with no inner messages');
    if (m.magic === 1 && m.offset !== 0 && m.offset < lastInnerOffset) {
      throw invalid(
        `wrapper offset ${m.offset} in a compressed v1 message set is below its last inner offset ${lastInnerOffset} and not 0`,
      );
    }
  });
  const magic = first?.magic ?? 0;
  const timestampType: LegacyTimestampType = magic === 0 ? 'NoTimestampType' : first!.logAppendTime ? 'LogAppendTime' : 'CreateTime';
  return { records, compression, magic, timestampType };
}

/**
 * Parses and validates a legacy message set (see the module comment), decompressing wrappers: all of them
 * together may inflate to at most `maxInflatedBytes` (else MESSAGE_TOO_LARGE, as for v2 batches). A trailing
 * partial message is dropped, so `records` may be empty.
 */
export function parseLegacyMessageSet(buf: Buffer, maxInflatedBytes = MAX_INFLATED_BYTES): LegacyMessageSet | LegacyError {
  try {
    return parse(buf, maxInflatedBytes);
  } catch (err) {
    if (err instanceof Invalid) return { errorCode: err.errorCode, errorMessage: err.message };
    // RangeError from a Buffer read: the lengths inside a message do not add up.
    if (err instanceof RangeError) return { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: `malformed message set: ${err.message}` };
    throw err;
  }
}

/**
 * Up-converts a legacy message set to ONE record batch v2 holding all its records, compressed with the
 * codec of the incoming wrappers (the topic's compression.type is `producer`), CreateTime, base offset 0,
 * no producer id: what a Produce v3+ request would carry, ready for the usual validation and append.
 * A set without one complete message is CORRUPT_MESSAGE (kfk answers an empty record set the same way).
 */
export function upConvertToBatch(buf: Buffer, maxInflatedBytes = MAX_INFLATED_BYTES): Buffer | LegacyError {
  const set = parseLegacyMessageSet(buf, maxInflatedBytes);
  if ('errorCode' in set) return set;
  if (set.records.length === 0) {
    return { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: 'message set holds no complete message' };
  }
  return buildRecordBatch(set.records, { compression: set.compression, timestampType: 'CreateTime', baseOffset: 0 });
}
