/**
 * Validation of one partition's records in a Produce request, as Kafka's broker does it
 * (UnifiedLog.analyzeAndValidateRecords, LogValidator, DefaultRecordBatch/DefaultRecord): the batch header,
 * then every record (record-walk.ts), decompressing the batch when it is compressed. Nothing is appended
 * here; a batch that fails any check must not be stored. The checks, in Kafka's order, and their codes:
 *
 *  1. exactly one v2 batch filling the partition's bytes, base offset 0        INVALID_RECORD
 *     (a non-2 magic → UNSUPPORTED_FOR_MESSAGE_FORMAT; the Produce handler answers INVALID_RECORD for v3+)
 *  2. batch size ≤ max.message.bytes                                             MESSAGE_TOO_LARGE
 *  3. size ≥ 61 and the CRC-32C matches                                          CORRUPT_MESSAGE
 *  4. recordsCount > 0 and = lastOffsetDelta + 1; no control batch;
 *     a producer id needs a base sequence ≥ 0 and an epoch ≥ 0, and a transactional batch a producer id
 *                                                                                INVALID_RECORD
 *  5. a known codec                                                              UNSUPPORTED_COMPRESSION_TYPE
 *  6. the records: inflated (a codec error → INVALID_RECORD; more than uncompressedLimit() bytes →
 *     MESSAGE_TOO_LARGE, checked before or while inflating), then each record read exactly (lengths,
 *     varints, offset deltas 0..n-1, key/value lengths ≥ -1, header counts and keys), the records filling the
 *     batch exactly                                                              INVALID_RECORD + record_errors
 *  7. per record: a key on compacted topics                                      INVALID_RECORD + record_errors
 *     CreateTime timestamps within message.timestamp.before/after.max.ms, and no LogAppendTime batch from a
 *     producer where Kafka refuses it                                            INVALID_TIMESTAMP + record_errors
 *
 * On success the header's maxTimestamp is set to the largest record timestamp (CreateTime topics), with a new
 * CRC when it changes, as Kafka's LogValidator does, so the time index and retention see the real times.
 *
 * Cost and the event loop. Uncompressed records are walked in place; compressed ones are inflated once. Work
 * that fits the per-turn budget (INLINE_BUDGET_BYTES of records walked or inflated per event-loop turn) is done
 * inline and the result is returned synchronously; anything larger returns a promise and runs in slices
 * (ASYNC_SLICE_BYTES of records walked per slice, decompression on libuv's thread pool or in slices, see
 * compression.ts), at most MAX_CONCURRENT_ASYNC batches at a time, so neither one huge batch nor a request
 * with many partitions can stall other clients, and memory stays bounded by that many inflated batches.
 */
import {
  ATTRIBUTES,
  COMPRESSION_MASK,
  CONTROL_FLAG,
  CRC,
  MAGIC,
  MAX_TIMESTAMP,
  RECORD_BATCH_OVERHEAD,
  RECORDS,
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
import { CompressionType, InflateLimitError, compressionName, declaredInflatedBound, decompress, decompressAsync } from './compression.js';
import { crc32c } from './crc32c.js';
import { ErrorCode } from './errors.js';
import { writeInt64 } from './primitives.js';
import { RecordsWalk, type RecordError, type RecordRules } from './record-walk.js';

export type { RecordError } from './record-walk.js';

/**
 * The topic settings validation depends on. LogConfig (src/log/log-config.ts) has this shape, so a log's config
 * can be passed as it is.
 */
export interface ProduceRecordRules {
  /** max.message.bytes */
  maxMessageBytes: number;
  /** cleanup.policy: `compact` requires a key on every record. */
  cleanupPolicy: readonly string[];
  /** message.timestamp.type (default CreateTime). */
  messageTimestampType?: 'CreateTime' | 'LogAppendTime';
  /** message.timestamp.before.max.ms / after.max.ms / difference.max.ms; absent or ≥ 2^53 = no bound. */
  messageTimestampBeforeMaxMs?: number;
  messageTimestampAfterMaxMs?: number;
  messageTimestampDifferenceMaxMs?: number;
}

export interface ProduceValidation {
  errorCode: number;
  errorMessage?: string;
  /** Records at fault (Produce v8+ record_errors), at most MAX_REPORTED_RECORD_ERRORS. */
  recordErrors?: RecordError[];
  recordCount?: number;
}

/** Walked or inflated bytes done inline per event-loop turn; beyond, validation continues asynchronously. */
export const INLINE_BUDGET_BYTES = 8 << 20;
/** Compressed batches inflating to more than this are always inflated asynchronously. */
export const INLINE_INFLATE_BYTES = 2 << 20;
/** Records walked between two yields to the event loop in asynchronous validation. */
export const ASYNC_SLICE_BYTES = 1 << 20;
/** Batches validated asynchronously at the same time; more wait their turn (memory: this many inflated batches). */
export const MAX_CONCURRENT_ASYNC = 2;

/** Factor between max.message.bytes and the largest uncompressed records section a batch may inflate to. */
export const INFLATE_FACTOR = 64;
const MIN_UNCOMPRESSED_LIMIT = 16 << 20;
const MAX_UNCOMPRESSED_LIMIT = 1 << 30;

/**
 * Largest size the records of one compressed batch may inflate to: 64 × max.message.bytes, at least 16 MiB and
 * at most 1 GiB (64 MiB with the default max.message.bytes of 1048588).
 */
export function uncompressedLimit(maxMessageBytes: number): number {
  return Math.min(MAX_UNCOMPRESSED_LIMIT, Math.max(MIN_UNCOMPRESSED_LIMIT, INFLATE_FACTOR * maxMessageBytes));
}

// ---------------------------------------------------------------------------------------------
// The per-turn inline budget and the async slots

let spentThisTurn = 0;
let resetScheduled = false;

function inlineBudgetLeft(): number {
  return INLINE_BUDGET_BYTES - spentThisTurn;
}

function spendInline(bytes: number): void {
  spentThisTurn += bytes;
  if (!resetScheduled) {
    resetScheduled = true;
    setImmediate(() => {
      spentThisTurn = 0;
      resetScheduled = false;
    });
  }
}

let asyncRunning = 0;
const asyncWaiting: (() => void)[] = [];

async function inAsyncSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (asyncRunning >= MAX_CONCURRENT_ASYNC) await new Promise<void>((resolve) => asyncWaiting.push(resolve));
  asyncRunning++;
  try {
    return await fn();
  } finally {
    asyncRunning--;
    asyncWaiting.shift()?.();
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------
// Header checks

const fail = (errorCode: number, errorMessage: string, recordErrors?: RecordError[]): ProduceValidation => ({
  errorCode,
  errorMessage,
  recordErrors,
});

/** Checks 1-5 of the module comment on the batch header only; null when they pass. */
export function checkProducedBatchHeader(records: Buffer, maxMessageBytes: number): ProduceValidation | null {
  const len = records.length;
  if (len === 0) return fail(ErrorCode.INVALID_RECORD, 'produce request must contain one record batch per partition');
  if (len <= MAGIC) return fail(ErrorCode.CORRUPT_MESSAGE, `record batch truncated (${len} bytes)`);
  const magic = batchMagic(records, 0);
  if (magic !== 2) {
    return fail(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `only record batches with magic 2 are supported, got magic ${magic}`);
  }
  const size = len < RECORD_BATCH_OVERHEAD ? -1 : batchSize(records, 0);
  if (size < RECORD_BATCH_OVERHEAD) {
    return fail(ErrorCode.CORRUPT_MESSAGE, `record batch size ${size} is below the minimum of ${RECORD_BATCH_OVERHEAD}`);
  }
  if (size > len) return fail(ErrorCode.CORRUPT_MESSAGE, `record batch size ${size} exceeds the ${len} bytes sent`);
  if (size < len) return fail(ErrorCode.INVALID_RECORD, 'produce request must contain exactly one record batch per partition');
  const baseOffset = batchBaseOffset(records, 0);
  if (baseOffset !== 0) return fail(ErrorCode.INVALID_RECORD, `the base offset of the record batch should be 0, but it is ${baseOffset}`);
  if (size > maxMessageBytes) {
    return fail(ErrorCode.MESSAGE_TOO_LARGE, `record batch of ${size} bytes exceeds max.message.bytes ${maxMessageBytes}`);
  }
  if (crc32c(records, ATTRIBUTES, size) !== batchCrc(records, 0)) return fail(ErrorCode.CORRUPT_MESSAGE, 'record batch CRC mismatch');
  const count = batchRecordsCount(records, 0);
  const lastOffsetDelta = batchLastOffsetDelta(records, 0);
  if (lastOffsetDelta + 1 <= 0) return fail(ErrorCode.INVALID_RECORD, `batch has an invalid offset range: lastOffsetDelta ${lastOffsetDelta}`);
  if (count <= 0) return fail(ErrorCode.INVALID_RECORD, `invalid reported count for record batch: ${count}`);
  if (lastOffsetDelta + 1 !== count) {
    return fail(ErrorCode.INVALID_RECORD, `inconsistent record count ${count} and lastOffsetDelta ${lastOffsetDelta}`);
  }
  const attributes = batchAttributes(records, 0);
  if ((attributes & CONTROL_FLAG) !== 0) return fail(ErrorCode.INVALID_RECORD, 'clients are not allowed to write control records');
  const producerId = batchProducerId(records, 0);
  if (producerId >= 0) {
    const sequence = batchBaseSequence(records, 0);
    if (sequence < 0) return fail(ErrorCode.INVALID_RECORD, `invalid sequence number ${sequence} in record batch with producerId ${producerId}`);
    const epoch = batchProducerEpoch(records, 0);
    if (epoch < 0) return fail(ErrorCode.INVALID_RECORD, `invalid producer epoch ${epoch} in record batch with producerId ${producerId}`);
  } else if ((attributes & TRANSACTIONAL_FLAG) !== 0) {
    return fail(ErrorCode.INVALID_RECORD, 'transactional record batch without a producer id');
  }
  const compression = attributes & COMPRESSION_MASK;
  if (compression > CompressionType.zstd) {
    return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression type ${compression}`);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Whole-batch validation

const UNBOUNDED = 2 ** 53;
const bound = (v: number | undefined): number | undefined => (v === undefined || v >= UNBOUNDED ? undefined : v);

/** The record rules of a topic, with Kafka's precedence: before/after.max.ms when set, else difference.max.ms. */
function recordRules(rules: ProduceRecordRules, now: number): RecordRules {
  const difference = bound(rules.messageTimestampDifferenceMaxMs) ?? Infinity;
  return {
    requireKeys: rules.cleanupPolicy.includes('compact'),
    logAppendTimeTopic: rules.messageTimestampType === 'LogAppendTime',
    timestampBeforeMaxMs: bound(rules.messageTimestampBeforeMaxMs) ?? difference,
    timestampAfterMaxMs: bound(rules.messageTimestampAfterMaxMs) ?? difference,
    now,
  };
}

function outcome(walk: RecordsWalk, records: Buffer, rules: RecordRules, count: number): ProduceValidation {
  if (walk.failure) {
    return fail(ErrorCode.INVALID_RECORD, `invalid record ${walk.failure.batchIndex} of the batch: ${walk.failure.message}`, [walk.failure]);
  }
  if (walk.recordErrorCount > 0) {
    if (walk.timestampErrors) {
      return fail(ErrorCode.INVALID_TIMESTAMP, 'One or more records have been rejected due to invalid timestamp', walk.recordErrors);
    }
    const shown = walk.recordErrors.slice(0, 3).map((e) => `record ${e.batchIndex}: ${e.message}`);
    return fail(
      ErrorCode.INVALID_RECORD,
      `One or more records have been rejected due to ${walk.recordErrorCount} record errors in total, and only showing the first three errors at most: [${shown.join('; ')}]`,
      walk.recordErrors,
    );
  }
  if (!rules.logAppendTimeTopic) setCreateTimeMaxTimestamp(records, walk.maxTimestamp);
  return { errorCode: ErrorCode.NONE, recordCount: count };
}

/** As Kafka's setMaxTimestamp(CREATE_TIME, max): timestamp type CreateTime and the records' max; new CRC if changed. */
function setCreateTimeMaxTimestamp(records: Buffer, maxTimestamp: number): void {
  const attributes = batchAttributes(records, 0);
  if ((attributes & TIMESTAMP_TYPE_MASK) === 0 && batchMaxTimestamp(records, 0) === maxTimestamp) return;
  records.writeInt16BE(attributes & ~TIMESTAMP_TYPE_MASK, ATTRIBUTES);
  writeInt64(records, maxTimestamp, MAX_TIMESTAMP);
  records.writeUInt32BE(crc32c(records, ATTRIBUTES, records.length), CRC);
}

function tooLarge(limit: number): ProduceValidation {
  return fail(ErrorCode.MESSAGE_TOO_LARGE, `the records of the batch inflate beyond ${limit} bytes (64 x max.message.bytes)`);
}

function notDecompressible(codec: number, err: unknown): ProduceValidation {
  return fail(ErrorCode.INVALID_RECORD, `the ${compressionName(codec)} records of the batch cannot be decompressed: ${(err as Error)?.message ?? err}`);
}

/**
 * Validates one partition's records of a Produce request (the checks in the module comment). Returns the
 * result at once when the work fits this event-loop turn's inline budget, else a promise; either way the
 * records must be appended only when errorCode is NONE. May rewrite the header's maxTimestamp and CRC.
 */
export function validateProducedBatch(records: Buffer, rules: ProduceRecordRules): ProduceValidation | Promise<ProduceValidation> {
  const header = checkProducedBatchHeader(records, rules.maxMessageBytes);
  if (header !== null) return header;
  const count = batchRecordsCount(records, 0);
  const attributes = batchAttributes(records, 0);
  const codec = attributes & COMPRESSION_MASK;
  const recRules = recordRules(rules, Date.now());
  const facts = {
    count,
    baseTimestamp: batchBaseTimestamp(records, 0),
    headerMaxTimestamp: batchMaxTimestamp(records, 0),
    logAppendTimeBatch: (attributes & TIMESTAMP_TYPE_MASK) !== 0,
  };

  if (codec === CompressionType.none) {
    const bytes = records.length - RECORDS;
    const walk = new RecordsWalk(records, RECORDS, records.length, facts, recRules);
    if (bytes <= inlineBudgetLeft()) {
      spendInline(bytes);
      walk.step();
      return outcome(walk, records, recRules, count);
    }
    return inAsyncSlot(async () => {
      while (!walk.step(ASYNC_SLICE_BYTES)) await yieldToEventLoop();
      return outcome(walk, records, recRules, count);
    });
  }

  const limit = uncompressedLimit(rules.maxMessageBytes);
  const body = records.subarray(RECORDS);
  const declared = declaredInflatedBound(codec, body);
  if (declared !== null && declared > limit) return tooLarge(limit);
  const inlineLimit = Math.min(limit, INLINE_INFLATE_BYTES);
  if ((declared === null || declared <= inlineLimit) && 2 * inlineLimit <= inlineBudgetLeft()) {
    let data: Buffer | null = null;
    try {
      data = decompress(codec, body, inlineLimit);
    } catch (err) {
      // With the full limit (and so a larger zstd window) the asynchronous attempt below gives the answer.
      if (limit <= inlineLimit) return err instanceof InflateLimitError ? tooLarge(limit) : notDecompressible(codec, err);
      spendInline(inlineLimit);
    }
    if (data !== null) {
      spendInline(2 * data.length);
      const walk = new RecordsWalk(data, 0, data.length, facts, recRules);
      walk.step();
      return outcome(walk, records, recRules, count);
    }
  }
  return inAsyncSlot(async () => {
    let data: Buffer;
    try {
      data = await decompressAsync(codec, body, limit);
    } catch (err) {
      return err instanceof InflateLimitError ? tooLarge(limit) : notDecompressible(codec, err);
    }
    const walk = new RecordsWalk(data, 0, data.length, facts, recRules);
    while (!walk.step(ASYNC_SLICE_BYTES)) await yieldToEventLoop();
    return outcome(walk, records, recRules, count);
  });
}
