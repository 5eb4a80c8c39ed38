/**
 * Walks the records of one v2 batch in place and checks each of them, as Kafka's DefaultRecord reader and
 * LogValidator do for a produced batch, without making a JavaScript object per record: the loop reads the
 * zig-zag varints inline and keeps its position in a few numbers. Layout of a record (docs/protocol-notes §3):
 *
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headerCount varint |
 *   [headerKeyLength varint | headerKey (UTF-8) | headerValueLength varint | headerValue] * headerCount
 *
 * Structure (a record that cannot be read, or records that do not fill the batch exactly) stops the walk at
 * that record; per-record rule violations (a missing key on a compacted topic, a timestamp out of range) are
 * collected, as Kafka collects them, and the walk goes on. A walk can stop after a byte budget and resume
 * later (step), so a large batch can be checked in slices between which the event loop runs.
 */
import { isUtf8 } from 'node:buffer';

/** Smallest record: one byte each for length, attributes, timestamp delta, offset delta, key, value, header count. */
export const MIN_RECORD_SIZE = 7;
/** At most this many per-record errors are reported (Kafka lists all; the rest are counted in the message). */
export const MAX_REPORTED_RECORD_ERRORS = 100;

export interface RecordError {
  batchIndex: number;
  message: string;
}

/** What a walk checks besides structure. */
export interface RecordRules {
  /** Every record must have a key (cleanup.policy contains compact). */
  requireKeys: boolean;
  /** The topic's message.timestamp.type. */
  logAppendTimeTopic: boolean;
  /** CreateTime records must lie in [now - beforeMaxMs, now + afterMaxMs]; Infinity = no bound. */
  timestampBeforeMaxMs: number;
  timestampAfterMaxMs: number;
  /** The broker's time, sampled once per batch as Kafka does. */
  now: number;
}

/** The batch header fields a walk needs. */
export interface BatchFacts {
  count: number;
  baseTimestamp: number;
  /** The header's maxTimestamp: every record's timestamp when the batch says LogAppendTime. */
  headerMaxTimestamp: number;
  logAppendTimeBatch: boolean;
}

/** Position after the last varint read, or -1 when it was malformed or ran past its limit. */
let cursor = 0;

/**
 * Zig-zag varint of at most 5 bytes whose value fits 32 bits (what every client writes). Kept this small so
 * that V8 inlines it at each call site of the walk; longer varints take the out-of-line path.
 */
function readVarint(buf: Buffer, pos: number, limit: number): number {
  if (pos < limit) {
    const b0 = buf[pos]!;
    if (b0 < 0x80) {
      cursor = pos + 1;
      return (b0 >>> 1) ^ -(b0 & 1);
    }
  }
  return readLongerVarint(buf, pos, limit);
}

function readLongerVarint(buf: Buffer, pos: number, limit: number): number {
  // Two and three bytes (values up to ±2^20) cover nearly every other length and delta: no loop for them.
  if (pos + 2 < limit) {
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    if (b1 < 0x80) {
      const raw = (b0 & 0x7f) | (b1 << 7);
      cursor = pos + 2;
      return (raw >>> 1) ^ -(raw & 1);
    }
    const b2 = buf[pos + 2]!;
    if (b2 < 0x80) {
      const raw = (b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14);
      cursor = pos + 3;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  let raw = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= limit) break;
    const b = buf[pos++]!;
    if (shift === 28 && b > 0x0f) break; // bits beyond 32: Java would drop them, Python would not
    raw |= (b & 0x7f) << shift;
    if (b < 0x80) {
      cursor = pos;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  cursor = -1;
  return 0;
}

/** Zig-zag varlong of at most 10 bytes, as a number (exact below 2^53). */
function readVarlong(buf: Buffer, pos: number, limit: number): number {
  if (pos < limit) {
    const first = buf[pos]!;
    if (first < 0x80) {
      cursor = pos + 1;
      return (first >>> 1) ^ -(first & 1);
    }
  }
  let result = 0;
  let mult = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit) break;
    const b = buf[pos++]!;
    if (i === 9 && b > 0x01) break;
    result += (b & 0x7f) * mult;
    if (b < 0x80) {
      cursor = pos;
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    }
    mult *= 128;
  }
  cursor = -1;
  return 0;
}

/**
 * The fast path's varint: an unsigned varint of one to three bytes within [pos, limit), returned as
 * `raw << 2 | byteCount` (at most 2^23: a small integer, no allocation, no shared state), or -1 for anything
 * else (longer, truncated), which the general path then reads and judges.
 */
function shortVarint(buf: Buffer, pos: number, limit: number): number {
  if (pos >= limit) return -1;
  const b0 = buf[pos]!;
  if (b0 < 0x80) return (b0 << 2) | 1;
  if (pos + 1 >= limit) return -1;
  const b1 = buf[pos + 1]!;
  if (b1 < 0x80) return (((b0 & 0x7f) | (b1 << 7)) << 2) | 2;
  if (pos + 2 >= limit) return -1;
  const b2 = buf[pos + 2]!;
  if (b2 < 0x80) return (((b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14)) << 2) | 3;
  return -1;
}

/** Zig-zag decoding of shortVarint's raw value. */
function zigzag(packed: number): number {
  // signed shifts only: packed < 2^23, and >>> would make V8 reason about uint32 (doubles) here
  const raw = packed >> 2;
  return (raw >> 1) ^ -(raw & 1);
}

/** True if buf[start, end) is valid UTF-8 (ASCII checked inline, the rest natively). */
function validUtf8(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) return isUtf8(buf.subarray(start, end));
  }
  return true;
}

/** Records walked and their largest timestamp, by the last fastRecords call. */
let fastCount = 0;
let fastMaxTimestamp = -1;

/**
 * Walks records from `pos` while each is the plain kind every client writes: varints of at most three bytes, no
 * headers, a key when keys are required, a CreateTime timestamp within range (checkRange). Stops before the first
 * other record (or at `stopAt`); returns the position reached, with fastCount / fastMaxTimestamp set. A small
 * function with one tight loop, so that V8 optimizes it on its own.
 */
function fastRecords(
  buf: Buffer,
  pos: number,
  stopAt: number,
  end: number,
  index: number,
  count: number,
  requireKeys: boolean,
  checkRange: boolean,
  baseTimestamp: number,
  now: number,
  beforeMaxMs: number,
  afterMaxMs: number,
): number {
  const first = index;
  // the largest timestamp delta, as a small integer: no floating-point work per record unless bounds are checked
  let maxDelta = -0x80000000;
  while (index < count && pos < stopAt) {
    let v = shortVarint(buf, pos, end);
    if (v < 0) break;
    const length = zigzag(v);
    let p = pos + (v & 3);
    const recordEnd = p + length;
    if (length < MIN_RECORD_SIZE - 1 || recordEnd > end) break;
    p++; // attributes
    v = shortVarint(buf, p, recordEnd);
    if (v < 0) break;
    const timestampDelta = zigzag(v);
    p += v & 3;
    v = shortVarint(buf, p, recordEnd);
    if (v < 0 || zigzag(v) !== index) break;
    p += v & 3;
    v = shortVarint(buf, p, recordEnd);
    if (v < 0) break;
    const keyLength = zigzag(v);
    if (keyLength < -1 || (keyLength < 0 && requireKeys)) break;
    p += (v & 3) + (keyLength > 0 ? keyLength : 0);
    v = shortVarint(buf, p, recordEnd);
    if (v < 0) break;
    const valueLength = zigzag(v);
    if (valueLength < -1) break;
    p += (v & 3) + (valueLength > 0 ? valueLength : 0);
    // no headers: one zero byte, the record's last
    if (p + 1 !== recordEnd || buf[p] !== 0) break;
    if (checkRange) {
      const timestamp = baseTimestamp + timestampDelta;
      if (timestamp !== -1 && (now - timestamp > beforeMaxMs || timestamp - now > afterMaxMs)) break;
    }
    if (timestampDelta > maxDelta) maxDelta = timestampDelta;
    pos = recordEnd;
    index++;
  }
  fastCount = index - first;
  fastMaxTimestamp = fastCount > 0 ? baseTimestamp + maxDelta : -1;
  return pos;
}

export class RecordsWalk {
  /** Position of the next record in the data. */
  pos: number;
  /** Index of the next record. */
  index = 0;
  /** Largest record timestamp seen (-1 when none, as Kafka's NO_TIMESTAMP). */
  maxTimestamp = -1;
  /** Why the records cannot be read, at which record; null while they can. */
  failure: RecordError | null = null;
  readonly recordErrors: RecordError[] = [];
  recordErrorCount = 0;
  timestampErrors = false;
  private done = false;

  constructor(
    private readonly data: Buffer,
    start: number,
    private readonly end: number,
    private readonly batch: BatchFacts,
    private readonly rules: RecordRules,
  ) {
    this.pos = start;
    const bytes = end - start;
    if (batch.count > Math.floor(bytes / MIN_RECORD_SIZE)) {
      this.fail(0, `record count ${batch.count} cannot fit in the ${bytes} bytes of records`);
    }
  }

  get finished(): boolean {
    return this.done;
  }

  private fail(index: number, message: string): void {
    this.failure = { batchIndex: index, message };
    this.done = true;
  }

  private recordError(index: number, message: string): void {
    this.recordErrorCount++;
    if (this.recordErrors.length < MAX_REPORTED_RECORD_ERRORS) this.recordErrors.push({ batchIndex: index, message });
  }

  /**
   * Walks on until about `budget` more bytes of records are checked or the walk is finished; returns
   * `finished`.
   */
  step(budget = Infinity): boolean {
    if (this.done) return true;
    const buf = this.data;
    const end = this.end;
    const count = this.batch.count;
    const { requireKeys, logAppendTimeTopic, timestampBeforeMaxMs, timestampAfterMaxMs, now } = this.rules;
    const checkRange = !logAppendTimeTopic && (timestampBeforeMaxMs !== Infinity || timestampAfterMaxMs !== Infinity);
    const logAppendTimeBatch = this.batch.logAppendTimeBatch;
    const baseTimestamp = this.batch.baseTimestamp;
    const headerMax = this.batch.headerMaxTimestamp;
    let pos = this.pos;
    let index = this.index;
    let maxTimestamp = this.maxTimestamp;
    const stopAt = budget === Infinity ? end : Math.min(end, pos + budget);

    while (index < count) {
      if (pos >= stopAt && pos < end) break; // budget spent: resume later
      if (pos >= end) {
        this.fail(index, `the batch declares ${count} records but its data ends after ${index}`);
        break;
      }

      // Fast path: the records every client writes, as many as follow one another (fastRecords); `pos` stops at
      // the first other one, which the general path below reads and judges.
      if (!logAppendTimeBatch) {
        const fastEnd = Math.min(stopAt, end);
        const next = fastRecords(buf, pos, fastEnd, end, index, count, requireKeys, checkRange, baseTimestamp, now, timestampBeforeMaxMs, timestampAfterMaxMs);
        if (next !== pos) {
          index += fastCount;
          if (fastMaxTimestamp > maxTimestamp) maxTimestamp = fastMaxTimestamp;
          pos = next;
          continue;
        }
      }

      const length = readVarint(buf, pos, end);
      if (cursor < 0) {
        this.fail(index, 'malformed record length varint');
        break;
      }
      pos = cursor;
      const recordEnd = pos + length;
      if (length < MIN_RECORD_SIZE - 1 || recordEnd > end) {
        this.fail(index, `invalid record length ${length} (${end - pos} bytes left in the batch)`);
        break;
      }
      pos++; // attributes: unused in v2, and not checked by Kafka either
      const timestampDelta = readVarlong(buf, pos, recordEnd);
      if (cursor < 0) {
        this.fail(index, 'malformed timestamp delta');
        break;
      }
      const offsetDelta = readVarint(buf, cursor, recordEnd);
      if (cursor < 0) {
        this.fail(index, 'malformed offset delta');
        break;
      }
      if (offsetDelta !== index) {
        this.fail(index, `record ${index} has offset delta ${offsetDelta}; the offset deltas of a batch must be 0..${count - 1} in order`);
        break;
      }
      const keyLength = readVarint(buf, cursor, recordEnd);
      if (cursor < 0 || keyLength < -1 || cursor + keyLength > recordEnd) {
        this.fail(index, cursor < 0 ? 'malformed key length' : `invalid key length ${keyLength}`);
        break;
      }
      pos = cursor + (keyLength > 0 ? keyLength : 0);
      const valueLength = readVarint(buf, pos, recordEnd);
      if (cursor < 0 || valueLength < -1 || cursor + valueLength > recordEnd) {
        this.fail(index, cursor < 0 ? 'malformed value length' : `invalid value length ${valueLength}`);
        break;
      }
      pos = cursor + (valueLength > 0 ? valueLength : 0);
      const headerCount = readVarint(buf, pos, recordEnd);
      if (cursor < 0 || headerCount < 0 || headerCount * 2 > recordEnd - cursor) {
        this.fail(index, cursor < 0 ? 'malformed header count' : `invalid header count ${headerCount}`);
        break;
      }
      pos = cursor;
      let headerProblem: string | null = null;
      for (let h = 0; h < headerCount; h++) {
        const headerKeyLength = readVarint(buf, pos, recordEnd);
        if (cursor < 0 || headerKeyLength < 0 || cursor + headerKeyLength > recordEnd) {
          headerProblem = cursor < 0 ? `malformed key length of header ${h}` : `invalid key length ${headerKeyLength} of header ${h}`;
          break;
        }
        if (!validUtf8(buf, cursor, cursor + headerKeyLength)) {
          headerProblem = `the key of header ${h} is not valid UTF-8`;
          break;
        }
        pos = cursor + headerKeyLength;
        const headerValueLength = readVarint(buf, pos, recordEnd);
        if (cursor < 0 || headerValueLength < -1 || cursor + headerValueLength > recordEnd) {
          headerProblem = cursor < 0 ? `malformed value length of header ${h}` : `invalid value length ${headerValueLength} of header ${h}`;
          break;
        }
        pos = cursor + (headerValueLength > 0 ? headerValueLength : 0);
      }
      if (headerProblem !== null) {
        this.fail(index, headerProblem);
        break;
      }
      if (pos !== recordEnd) {
        this.fail(index, `record ${index} states ${length} bytes but its fields take ${length - (recordEnd - pos)}`);
        break;
      }

      // Rules Kafka checks per record (LogValidator.validateKey / validateTimestamp).
      if (requireKeys && keyLength < 0) this.recordError(index, 'Compacted topic cannot accept message without key.');
      const timestamp = logAppendTimeBatch ? headerMax : baseTimestamp + timestampDelta;
      if (!logAppendTimeTopic && timestamp !== -1) {
        if (checkRange && (now - timestamp > timestampBeforeMaxMs || timestamp - now > timestampAfterMaxMs)) {
          this.timestampErrors = true;
          this.recordError(
            index,
            `Timestamp ${timestamp} of message with offset ${index} is out of range. The timestamp should be within [${
              now - timestampBeforeMaxMs
            }, ${now + timestampAfterMaxMs}]`,
          );
        }
      } else if (logAppendTimeBatch) {
        this.timestampErrors = true;
        this.recordError(index, 'Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime.');
      }
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      index++;
    }

    this.pos = pos;
    this.index = index;
    this.maxTimestamp = maxTimestamp;
    if (!this.done && index >= count) {
      if (pos !== end) this.fail(index - 1, `${end - pos} bytes follow the last of the batch's ${count} records`);
      this.done = true;
    }
    return this.done;
  }
}
