/**
 * Owns the partitions this broker hosts and performs appends, reads and offset look-ups on them.
 * Produced records are validated by record-validator.ts (every record, as Kafka's LogValidator); fetch returns
 * file slices as they are.
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { decodeRecordBatches } from '../protocol/records.js';
import { validateProducedBatch, type ProduceValidation, type RecordError } from '../protocol/record-validator.js';
import type { LogManager } from '../log/log-manager.js';
import { logConfig, type LogConfig } from '../log/log-config.js';
import { FetchPurgatory, partitionKey } from './fetch-purgatory.js';
import { Partition } from './partition.js';
import { OrderedAppends } from './ordered-appends.js';

export interface AppendResult {
  errorCode: number;
  errorMessage?: string;
  /** The records at fault when the batch was refused (Produce v8+ record_errors). */
  recordErrors?: RecordError[];
  baseOffset: number;
  logAppendTime: number;
  logStartOffset: number;
}

export interface FetchResult {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  records: Buffer | null;
}

export interface ListOffsetResult {
  errorCode: number;
  offset: number;
  timestamp: number;
  leaderEpoch: number;
}

const LATEST = -1;
const EARLIEST = -2;

export class ReplicaManager {
  private readonly partitions = new Map<string, Partition>();
  readonly purgatory = new FetchPurgatory();
  /** Appends of a partition in arrival order, also when a batch's validation is asynchronous. */
  private readonly appendOrder = new OrderedAppends<Partition>();

  constructor(private readonly logManager: LogManager) {}

  getPartition(topic: string, partition: number): Partition | undefined {
    return this.partitions.get(partitionKey(topic, partition));
  }

  hostedPartitions(): Partition[] {
    return [...this.partitions.values()];
  }

  /** Makes this broker the leader of a partition, opening or creating its log. */
  async becomeLeader(topic: string, partition: number, topicId: Buffer, leaderEpoch: number, config: Partial<LogConfig>): Promise<Partition> {
    const key = partitionKey(topic, partition);
    const existing = this.partitions.get(key);
    if (existing) {
      existing.leaderEpoch = leaderEpoch;
      return existing;
    }
    const log =
      this.logManager.getLog(topic, partition) ?? (await this.logManager.createLog(topic, partition, topicId, logConfig(config)));
    const p = new Partition(topic, partition, topicId, log, leaderEpoch);
    this.partitions.set(key, p);
    return p;
  }

  /** Stops hosting a partition; deletes its log when the topic is deleted. */
  async stopReplica(topic: string, partition: number, deleteLog: boolean): Promise<void> {
    const key = partitionKey(topic, partition);
    this.partitions.delete(key);
    if (deleteLog) await this.logManager.deleteLog(topic, partition);
    this.purgatory.notify(key);
  }

  appendRecords(topic: string, partition: number, records: Buffer | null, _acks: number, _timeoutMs: number): AppendResult | Promise<AppendResult> {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return failed(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    if (!records || records.length === 0) return failed(ErrorCode.CORRUPT_MESSAGE, 'empty record set');
    const verdict = validateProducedBatch(records, p.log.config);
    return this.appendOrder.run(p, verdict, (check) => this.appendValidated(p, records, check));
  }

  /** Appends a validated batch (or answers why it was refused); called in arrival order per partition. */
  private appendValidated(p: Partition, records: Buffer, check: ProduceValidation): AppendResult | Promise<AppendResult> {
    if (check.errorCode !== ErrorCode.NONE) return { ...failed(check.errorCode, check.errorMessage), recordErrors: check.recordErrors };
    // The partition may have gone while an asynchronous validation ran.
    if (this.partitions.get(partitionKey(p.topic, p.partition)) !== p) return failed(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    // Produce request buffers are slices of the frame we own, so offsets can be written in place.
    try {
      const info = p.log.append(records, p.leaderEpoch, true);
      const result = { errorCode: ErrorCode.NONE, baseOffset: info.baseOffset, logAppendTime: info.logAppendTime, logStartOffset: info.logStartOffset };
      // A flush policy (flush.messages) that covers this write: acknowledge only once it is on disk.
      if (info.flushed) return info.flushed.then(() => result, (err: Error) => failed(ErrorCode.KAFKA_STORAGE_ERROR, err.message));
      return result;
    } catch (err) {
      if (err instanceof KafkaError) return failed(err.code, err.message);
      throw err;
    }
  }

  async fetchPartition(topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean, readCommitted: boolean): Promise<FetchResult> {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null };
    if (p.log.isOffline) return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null };
    const hw = p.highWatermark;
    const base = { highWatermark: hw, lastStableOffset: p.lastStableOffset, logStartOffset: p.log.logStartOffset };
    if (offset < p.log.logStartOffset || offset > p.log.logEndOffset) {
      return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, records: null };
    }
    const upTo = readCommitted ? p.lastStableOffset : hw;
    if (offset >= upTo || (maxBytes <= 0 && !minOneBatch)) return { ...base, errorCode: ErrorCode.NONE, records: null };
    try {
      const read = await p.log.read(offset, Math.max(maxBytes, 1), upTo, minOneBatch);
      return { ...base, errorCode: ErrorCode.NONE, records: read.records.length > 0 ? read.records : null };
    } catch (err) {
      // The log may have moved (retention, truncation) between the range check and the read.
      if (err instanceof KafkaError) return { ...base, errorCode: err.code, records: null };
      throw err;
    }
  }

  waitForData(keys: string[], timeoutMs: number): Promise<void> {
    return this.purgatory.wait(keys, timeoutMs);
  }

  async listOffset(topic: string, partition: number, timestamp: number, readCommitted: boolean): Promise<ListOffsetResult> {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, offset: -1, timestamp: -1, leaderEpoch: -1 };
    if (p.log.isOffline) return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, offset: -1, timestamp: -1, leaderEpoch: -1 };
    const found = (offset: number, ts = -1) => ({ errorCode: ErrorCode.NONE, offset, timestamp: ts, leaderEpoch: p.leaderEpoch });
    if (timestamp === LATEST) return found(readCommitted ? p.lastStableOffset : p.highWatermark);
    if (timestamp === EARLIEST) return found(p.log.logStartOffset);
    const batch = await p.log.offsetForTimestamp(timestamp, p.highWatermark);
    if (!batch) return found(-1);
    // The log finds the first batch whose max timestamp reaches the target; Kafka answers with the
    // first record in it that does, so look inside that one batch.
    const read = await p.log.read(batch.offset, 1, p.highWatermark);
    if (read.records.length > 0) {
      for (const b of decodeRecordBatches(read.records)) {
        for (const rec of b.records) {
          if (rec.offset >= batch.offset && rec.timestamp >= timestamp) return found(rec.offset, rec.timestamp);
        }
      }
    }
    return found(batch.offset, batch.timestamp);
  }

  async close(): Promise<void> {
    this.purgatory.wakeAll();
    this.partitions.clear();
  }
}

function failed(errorCode: number, errorMessage?: string): AppendResult {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 };
}
