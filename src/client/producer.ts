/**
 * The producer: a per-partition accumulator (linger.ms, batch.size, buffer.memory), compression, acks,
 * several Produce requests in flight per broker, retries of retriable errors, and Kafka's partitioning
 * (murmur2 for keys, sticky for unkeyed records).
 *
 * With `transactionalId`, transactions as the Java producer's: initTransactions() (a producer id and epoch from the
 * transaction coordinator; older instances are fenced), beginTransaction(), sends whose batches carry the producer
 * id, epoch and per-partition sequence numbers and the transactional bit (each partition is added to the transaction
 * before its first batch), sendOffsetsToTransaction(), commitTransaction() (flushes, then EndTxn) and
 * abortTransaction(). acks is all and one Produce request is in flight per broker, so sequences stay in order.
 * A fenced producer (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH) can do nothing more; a record that failed otherwise
 * makes the transaction abortable only.
 *
 * The network side is behind ProducerTransport so the batching logic can be tested without a broker;
 * ClusterTransport is the real one.
 */
import type { ClientSecurity } from '../security/client-security.js';
import { ClusterClient, RETRIABLE_ERROR_CODES, METADATA_ERROR_CODES, backoffMs, type ClusterClientOptions } from './cluster-client.js';
import { ConnectionError } from './connection.js';
import { partitionForKey } from './partitioner.js';
import { RecordBatchBuilder } from '../protocol/record-batch-builder.js';
import { CompressionType, compressionFromName, type CompressionName } from '../protocol/compression.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { ProduceResponse } from '../protocol/generated/produce.js';
import { FATAL_TRANSACTION_ERRORS, TransactionManager, type ConsumerGroupMetadata, type TransactionalOffset } from './transaction-manager.js';

export type { ConsumerGroupMetadata, TransactionalOffset } from './transaction-manager.js';

export type Acks = 0 | 1 | -1;

export interface ProducerRecord {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  /** A list (duplicates allowed, order kept) or an object. */
  headers?: ReadonlyArray<{ key: string; value: Buffer | string | null }> | Record<string, Buffer | string | null>;
  /** Explicit partition; otherwise murmur2(key) or the sticky partition. */
  partition?: number;
  /** Epoch millis (CreateTime); default: now. */
  timestamp?: number;
}

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0. */
  offset: number;
  timestamp: number;
}

export interface ProducerOptions {
  /** Bootstrap servers; or pass `cluster` to share a ClusterClient. */
  bootstrap?: string | readonly string[];
  cluster?: ClusterClient;
  clientId?: string;
  /** TLS and SASL (with `bootstrap`); default PLAINTEXT. */
  security?: ClientSecurity;
  /** 0, 1 or -1/'all' (default -1, as Kafka 3). */
  acks?: Acks | 'all' | '-1' | '0' | '1';
  compression?: CompressionName | number;
  /** Wait up to this long for more records before sending a batch (default 5). */
  lingerMs?: number;
  /** Max bytes per partition batch (default 16384). */
  batchSize?: number;
  /** Produce requests in flight per broker (default 5). */
  maxInFlight?: number;
  /** Retries per batch for retriable errors (default 10). */
  retries?: number;
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  /** Network request timeout; also sent as the Produce timeout_ms (default 30 000). */
  requestTimeoutMs?: number;
  /** A record fails if not acknowledged within this long after it was queued (default 120 000). */
  deliveryTimeoutMs?: number;
  /** Bytes of records queued before waitForBufferSpace() blocks (default 32 MiB). */
  bufferMemory?: number;
  /** Largest Produce request / single record accepted (default 1 MiB). */
  maxRequestSize?: number;
  /** Ask the broker to auto-create unknown topics (default true, as the Java producer). */
  allowAutoTopicCreation?: boolean;
  /** Custom partitioner for keyed records (default: Kafka's murmur2). */
  partitioner?: (key: Buffer, numPartitions: number) => number;
  connectTimeoutMs?: number;
  /** Network layer; tests inject a fake. */
  transport?: ProducerTransport;
  /** Makes the producer transactional (needs a real cluster transport, not an injected fake). */
  transactionalId?: string;
  /** transaction.timeout.ms: the coordinator aborts a transaction open longer than this (default 60 000). */
  transactionTimeoutMs?: number;
  /** max.block.ms: how long a transactional call retries a busy coordinator (default 60 000). */
  maxBlockMs?: number;
}

export interface TopicPartitions {
  /** leader id per partition index (-1 = no leader). */
  leaders: number[];
}

/** One closed batch as handed to the transport. */
export interface ProduceBatch {
  topic: string;
  partition: number;
  records: Buffer;
  recordCount: number;
}

export interface PartitionResult {
  errorCode: number;
  errorMessage?: string | null;
  baseOffset: number;
  logAppendTimeMs?: number;
}

export interface ProducerTransport {
  /** Partition leaders of a topic (refreshing metadata; may auto-create). Rejects if the topic is unknown. */
  topic(topic: string, refresh: boolean): Promise<TopicPartitions>;
  /** Cached leader, -1 when unknown. */
  leader(topic: string, partition: number): number;
  /** Refresh metadata for these topics (after NOT_LEADER etc.). */
  refresh(topics: string[]): Promise<void>;
  /** Send one Produce request to `leader`; results are in `batches` order (undefined entries = missing). */
  produce(leader: number, acks: Acks, timeoutMs: number, batches: ProduceBatch[]): Promise<Array<PartitionResult | undefined>>;
  close(): Promise<void>;
  /** produce-throttle-time-avg and -max: the throttle_time_ms of Produce responses (client quotas). */
  throttleMetrics?(): Record<string, number>;
}

/** The transport over a ClusterClient. */
export class ClusterTransport implements ProducerTransport {
  constructor(
    readonly cluster: ClusterClient,
    private readonly allowAutoTopicCreation: boolean,
    private readonly ownsCluster: boolean,
  ) {}

  async topic(topic: string, refresh: boolean): Promise<TopicPartitions> {
    const t = await this.cluster.topicMetadata(topic, {
      refresh,
      allowAutoTopicCreation: this.allowAutoTopicCreation,
      retryUnknown: this.allowAutoTopicCreation,
    });
    const leaders: number[] = [];
    for (const p of t.partitions) leaders[p.partition] = p.leader;
    for (let i = 0; i < leaders.length; i++) if (leaders[i] === undefined) leaders[i] = -1;
    return { leaders };
  }

  leader(topic: string, partition: number): number {
    const t = this.cluster.metadata.topics.get(topic);
    const p = t?.partitions[partition];
    return p && p.partition === partition ? p.leader : (t?.partitions.find((x) => x.partition === partition)?.leader ?? -1);
  }

  async refresh(topics: string[]): Promise<void> {
    await this.cluster.refreshMetadata(topics, { allowAutoTopicCreation: false });
  }

  async produce(leader: number, acks: Acks, timeoutMs: number, batches: ProduceBatch[]): Promise<Array<PartitionResult | undefined>> {
    const conn = await this.cluster.connection(leader);
    const byTopic = new Map<string, Array<{ index: number; records: Buffer }>>();
    for (const b of batches) {
      let list = byTopic.get(b.topic);
      if (!list) byTopic.set(b.topic, (list = []));
      list.push({ index: b.partition, records: b.records });
    }
    const body = {
      transactionalId: null,
      acks,
      timeoutMs,
      topicData: [...byTopic].map(([name, partitionData]) => ({ name, partitionData })),
    };
    if (acks === 0) {
      await conn.request(ApiKey.Produce, body, { expectResponse: false });
      return batches.map(() => ({ errorCode: ErrorCode.NONE, baseOffset: -1 }));
    }
    const resp = await conn.request<ProduceResponse>(ApiKey.Produce, body, { timeoutMs: timeoutMs + 5000 });
    const results = new Map<string, PartitionResult>();
    for (const t of resp.responses) {
      for (const p of t.partitionResponses) {
        results.set(`${t.name}\u0000${p.index}`, {
          errorCode: p.errorCode,
          errorMessage: p.errorMessage,
          baseOffset: p.baseOffset,
          logAppendTimeMs: p.logAppendTimeMs,
        });
      }
    }
    return batches.map((b) => results.get(`${b.topic}\u0000${b.partition}`));
  }

  async close(): Promise<void> {
    if (this.ownsCluster) await this.cluster.close();
  }

  throttleMetrics(): Record<string, number> {
    const t = this.cluster.throttle.get(ApiKey.Produce);
    return { 'produce-throttle-time-avg': t && t.count > 0 ? t.totalMs / t.count : 0, 'produce-throttle-time-max': t?.maxMs ?? 0 };
  }
}

/**
 * Called once per record when it is acknowledged (error null) or has failed for good, as the callback of Java's
 * `send(record, callback)`. `metadata` is built only for callbacks that declare a second parameter.
 */
export type ProduceCallback = (error: Error | null, metadata?: RecordMetadata) => void;

interface Batch {
  topic: string;
  partition: number;
  /** Records are encoded into it as they are appended; null once the batch is closed and encoded. */
  builder: RecordBatchBuilder | null;
  /** Per record, in append order: its callback (or undefined) and timestamp. */
  callbacks: Array<ProduceCallback | undefined>;
  timestamps: number[];
  /** Records with a callback (none: completion skips the per-record loop). */
  withCallback: number;
  count: number;
  /** Bytes of records held (buffer.memory accounting). */
  bytes: number;
  createdAt: number;
  encoded?: Buffer;
  attempts: number;
  retryAt: number;
}

interface PartitionQueue {
  topic: string;
  partition: number;
  open: Batch | undefined;
  /** Closed batches waiting to be sent, oldest first. */
  ready: Batch[];
}

interface TopicState {
  status: 'loading' | 'ready';
  numPartitions: number;
  waiting: Array<{ record: ProducerRecord; size: number; cb: ProduceCallback | undefined }>;
  sticky: number;
  stickyBytes: number;
}

/** Bytes a record adds to a batch beyond key, value and headers (Kafka's worst-case estimate). */
const RECORD_OVERHEAD = 21;
/** Record batch v2 header. */
const BATCH_OVERHEAD = 61;

function bytesOf(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
}

/** Upper bound of a record's encoded size (for max.request.size and buffer.memory). */
function estimateRecordSize(record: ProducerRecord): number {
  let size = RECORD_OVERHEAD + bytesOf(record.key) + bytesOf(record.value);
  const h = record.headers;
  if (h) {
    if (Array.isArray(h)) for (const x of h) size += Buffer.byteLength(x.key) + bytesOf(x.value) + 10;
    else for (const k of Object.keys(h)) size += Buffer.byteLength(k) + bytesOf((h as Record<string, Buffer | string | null>)[k]) + 10;
  }
  return size;
}

function checkRecordBytes(v: unknown, what: string): void {
  if (v === null || v === undefined || typeof v === 'string' || Buffer.isBuffer(v)) return;
  throw new TypeError(`the record's ${what} must be a Buffer, a string or null`);
}

/** A user's callback threw: the producer's state stays consistent, and the error surfaces as uncaught. */
function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export function normalizeAcks(acks: ProducerOptions['acks']): Acks {
  if (acks === undefined || acks === 'all' || acks === '-1' || acks === -1) return -1;
  if (acks === 0 || acks === '0') return 0;
  if (acks === 1 || acks === '1') return 1;
  throw new Error(`invalid acks '${String(acks)}' (expected 0, 1, -1 or all)`);
}

export class Producer {
  readonly acks: Acks;
  readonly compression: number;
  readonly lingerMs: number;
  readonly batchSize: number;
  readonly maxInFlight: number;
  readonly retries: number;
  readonly requestTimeoutMs: number;
  readonly deliveryTimeoutMs: number;
  readonly bufferMemory: number;
  readonly maxRequestSize: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly partitioner: (key: Buffer, n: number) => number;
  private readonly transport: ProducerTransport;

  private readonly topics = new Map<string, TopicState>();
  private readonly queues = new Map<string, Map<number, PartitionQueue>>();
  /** The queue the last record went to (records mostly follow one another to the same partition). */
  private lastQueue: PartitionQueue | undefined;
  private readonly inFlight = new Map<number, number>();
  private buffered = 0;
  private unacked = 0;
  private readonly stats = {
    recordsAcked: 0,
    recordErrors: 0,
    recordRetries: 0,
    requests: 0,
    batches: 0,
    batchBytes: 0,
    batchBytesMax: 0,
    batchRecords: 0,
    requestLatencyTotal: 0,
    requestLatencyMax: 0,
  };
  private flushing = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private drainScheduled = false;
  private refreshing = false;
  private refreshAttempt = 0;
  private readonly refreshTopics = new Set<string>();
  private spaceWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  /** Set for a transactional producer. */
  private readonly txn: TransactionManager | null = null;
  private txnState: 'uninitialized' | 'ready' | 'in-transaction' | 'ending' | 'abortable' | 'fatal' = 'uninitialized';
  private txnError: Error | null = null;
  /** Partitions added to the open transaction, and those being added. */
  private readonly txnPartitions = new Set<string>();
  private readonly txnAdding = new Set<string>();
  private txnAddRunning = false;
  /** The coordinator knows the open transaction (a partition or offsets were added): EndTxn is needed to end it. */
  private txnStarted = false;
  /** Next sequence number per partition (idempotence; reset with a new producer epoch). */
  private readonly sequences = new Map<string, number>();

  constructor(opts: ProducerOptions = {}) {
    this.acks = normalizeAcks(opts.acks);
    if (opts.transactionalId !== undefined && this.acks !== -1) throw new Error('a transactional producer needs acks=all');
    this.compression =
      typeof opts.compression === 'number' ? opts.compression : compressionFromName(opts.compression ?? 'none');
    if (!(this.compression >= CompressionType.none && this.compression <= CompressionType.zstd)) {
      throw new Error(`invalid compression type ${String(opts.compression)}`);
    }
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchSize = Math.max(1, opts.batchSize ?? 16384);
    // A transactional producer keeps one request in flight per broker: a retry then never overtakes a later batch.
    this.maxInFlight = opts.transactionalId !== undefined ? 1 : Math.max(1, opts.maxInFlight ?? 5);
    this.retries = opts.retries ?? 10;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 1000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 120_000;
    this.bufferMemory = opts.bufferMemory ?? 32 * 1024 * 1024;
    this.maxRequestSize = opts.maxRequestSize ?? 1024 * 1024;
    this.partitioner = opts.partitioner ?? partitionForKey;
    if (opts.transport) {
      this.transport = opts.transport;
    } else {
      const allowAuto = opts.allowAutoTopicCreation ?? true;
      if (opts.cluster) {
        this.transport = new ClusterTransport(opts.cluster, allowAuto, false);
      } else {
        if (opts.bootstrap === undefined) throw new Error('createProducer: bootstrap (or cluster) is required');
        const clusterOpts: ClusterClientOptions = {
          bootstrap: opts.bootstrap,
          clientId: opts.clientId ?? 'kfk-producer',
          requestTimeoutMs: this.requestTimeoutMs + 5000,
          connectTimeoutMs: opts.connectTimeoutMs,
          ...(opts.security ? { security: opts.security } : {}),
        };
        this.transport = new ClusterTransport(new ClusterClient(clusterOpts), allowAuto, true);
      }
    }
    if (opts.transactionalId !== undefined) {
      if (opts.transactionalId === '') throw new Error('transactionalId must not be empty');
      if (!(this.transport instanceof ClusterTransport)) throw new Error('a transactional producer needs a cluster, not an injected transport');
      this.txn = new TransactionManager(
        this.transport.cluster,
        opts.transactionalId,
        opts.transactionTimeoutMs ?? 60_000,
        opts.maxBlockMs ?? 60_000,
        this.retryBackoffMs,
        this.retryBackoffMaxMs,
      );
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Transactions

  private requireTxn(...states: Producer['txnState'][]): TransactionManager {
    if (this.txn === null) throw new Error('the producer has no transactionalId');
    if (this.txnState === 'fatal') throw this.txnError ?? new Error('the producer was fenced');
    if (!states.includes(this.txnState)) throw new Error(`invalid transaction state ${this.txnState} (expected ${states.join(' or ')})`);
    return this.txn;
  }

  /** Fences older instances of the transactional id and gets this producer's id and epoch. Call once, first. */
  async initTransactions(): Promise<void> {
    const txn = this.requireTxn('uninitialized');
    await this.txnCall(() => txn.initProducerId());
    this.sequences.clear();
    this.txnState = 'ready';
  }

  /** Starts a transaction: the records sent until commit or abort belong to it. */
  beginTransaction(): void {
    this.requireTxn('ready');
    this.txnPartitions.clear();
    this.txnStarted = false;
    this.txnState = 'in-transaction';
  }

  /** Commits these consumed offsets of `group` with the transaction (AddOffsetsToTxn, TxnOffsetCommit). */
  async sendOffsetsToTransaction(offsets: readonly TransactionalOffset[], group: ConsumerGroupMetadata | string): Promise<void> {
    const txn = this.requireTxn('in-transaction');
    await this.txnCall(() => txn.sendOffsets(typeof group === 'string' ? { groupId: group } : group, offsets));
    this.txnStarted = true;
  }

  /**
   * Sends every record of the transaction and commits it. Rejects (and the transaction must be aborted) if a record
   * failed; rejects for good once the producer is fenced.
   */
  async commitTransaction(): Promise<void> {
    const txn = this.requireTxn('in-transaction', 'abortable');
    if (this.txnState === 'abortable') throw new Error(`the transaction cannot be committed, abort it: ${this.txnError?.message}`);
    await this.flush();
    this.requireTxn('in-transaction', 'abortable');
    // (a record may have failed while flushing)
    if ((this.txnState as Producer['txnState']) === 'abortable') throw new Error(`the transaction cannot be committed, abort it: ${this.txnError?.message}`);
    this.txnState = 'ending';
    if (this.txnStarted) await this.txnCall(() => txn.endTxn(true), 'in-transaction');
    this.txnState = 'ready';
  }

  /** Aborts the transaction: its records (sent or not) are never seen by read_committed consumers. */
  async abortTransaction(): Promise<void> {
    const txn = this.requireTxn('in-transaction', 'abortable');
    await this.flush();
    this.requireTxn('in-transaction', 'abortable');
    this.txnState = 'ending';
    // a transaction the coordinator never heard of has nothing to abort there
    if (this.txnStarted) await this.txnCall(() => txn.endTxn(false), 'abortable');
    this.txnError = null;
    this.txnState = 'ready';
  }

  /** Runs a coordinator call; a fatal answer fences this producer for good, another failure goes back to `onError`. */
  private async txnCall(fn: () => Promise<void>, onError?: Producer['txnState']): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof KafkaError && FATAL_TRANSACTION_ERRORS.has(err.code)) this.fenced(err);
      else if (onError !== undefined) this.txnState = onError;
      throw err;
    }
  }

  private fenced(err: Error): void {
    this.txnState = 'fatal';
    this.txnError = err;
  }

  /** Adds the partitions waiting for their first batch to the transaction, then sends them. */
  private addTxnPartitions(): void {
    if (this.txnAddRunning || this.txnAdding.size === 0 || this.txn === null) return;
    this.txnAddRunning = true;
    const keys = [...this.txnAdding];
    const tps = keys.map((k) => {
      const [topic, partition] = k.split('\u0000');
      return { topic: topic!, partition: Number(partition) };
    });
    this.txn
      .addPartitions(tps)
      .then(
        () => {
          for (const k of keys) {
            this.txnAdding.delete(k);
            this.txnPartitions.add(k);
          }
          this.txnStarted = true;
        },
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          if (e instanceof KafkaError && FATAL_TRANSACTION_ERRORS.has(e.code)) this.fenced(e);
          else {
            this.txnState = 'abortable';
            this.txnError = e;
          }
          // the records of those partitions cannot join the transaction: they fail
          for (const k of keys) {
            this.txnAdding.delete(k);
            const [topic, partition] = k.split('\u0000');
            const q = this.queues.get(topic!)?.get(Number(partition));
            if (!q) continue;
            this.closeBatch(q);
            for (const b of q.ready.splice(0)) this.failBatch(b, e);
          }
        },
      )
      .finally(() => {
        this.txnAddRunning = false;
        this.drain();
      });
  }

  /**
   * A few of the Java producer's metrics (producer-metrics group), computed from counters kept per batch and
   * per request: what `kfk perf produce --print-metrics` prints.
   */
  metrics(): Record<string, number> {
    const m = this.stats;
    return {
      'record-send-total': m.recordsAcked,
      'record-error-total': m.recordErrors,
      'record-retry-total': m.recordRetries,
      'request-total': m.requests,
      'batch-size-avg': m.batches > 0 ? m.batchBytes / m.batches : 0,
      'batch-size-max': m.batchBytesMax,
      'records-per-request-avg': m.requests > 0 ? m.batchRecords / m.requests : 0,
      'request-latency-avg': m.requests > 0 ? m.requestLatencyTotal / m.requests : 0,
      'request-latency-max': m.requestLatencyMax,
      'outgoing-byte-total': m.batchBytes,
      'buffer-total-bytes': this.bufferMemory,
      'buffer-available-bytes': Math.max(0, this.bufferMemory - this.buffered),
      ...this.transport.throttleMetrics?.(),
    };
  }

  /** Records queued or in flight and not yet acknowledged. */
  get pendingCount(): number {
    return this.unacked;
  }

  /** Bytes of records held by the producer (queued or in flight). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Queues a record; resolves once the broker acknowledged it (per `acks`), rejects when it failed for
   * good. Ordering per partition is kept for records sent one after another (retries aside).
   */
  send(topic: string, record: ProducerRecord): Promise<RecordMetadata> {
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.produce(topic, record, (err, metadata) => (err ? reject(err) : resolve(metadata!)));
    });
  }

  /**
   * Queues a record without a promise (Java's `send(record, callback)`): the cheapest way to send many. The
   * callback, if any, is called once: `(null, metadata)` when acknowledged, `(error)` when the record failed
   * for good; never before produce() returns. The record is encoded into its partition's batch at once (once the
   * topic's metadata is known; before that, the first records wait as they are), so the producer keeps no
   * reference to `record` or its buffers after that.
   */
  produce(topic: string, record: ProducerRecord, callback?: ProduceCallback): void {
    let size: number;
    try {
      if (this.closed) throw new Error('producer is closed');
      if (this.txn !== null && this.txnState !== 'in-transaction') {
        throw this.txnState === 'fatal' ? (this.txnError ?? new Error('the producer was fenced')) : new Error(`cannot send outside a transaction (state ${this.txnState}): call beginTransaction() first`);
      }
      checkRecordBytes(record.key, 'key');
      checkRecordBytes(record.value, 'value');
      size = estimateRecordSize(record);
      if (size + BATCH_OVERHEAD > this.maxRequestSize) {
        throw new KafkaError(
          ErrorCode.MESSAGE_TOO_LARGE,
          `The message is ${size + BATCH_OVERHEAD} bytes when serialized which is larger than ${this.maxRequestSize}, the maximum request size`,
        );
      }
    } catch (err) {
      if (callback) queueMicrotask(() => callback(err as Error));
      return;
    }
    this.unacked++;
    this.buffered += size;
    let ts = this.topics.get(topic);
    if (ts && ts.status === 'ready') {
      this.append(topic, ts, record, size, callback);
      return;
    }
    if (!ts) {
      ts = { status: 'loading', numPartitions: 0, waiting: [], sticky: -1, stickyBytes: 0 };
      this.topics.set(topic, ts);
      this.loadTopic(topic, ts);
    }
    ts.waiting.push({ record, size, cb: callback });
  }

  /**
   * The topic's partition count, loading its metadata (Java's partitionsFor): lets a caller wait for what the
   * first send would otherwise wait for. Rejects if the topic is unknown (and not auto-created).
   */
  async partitionsFor(topic: string): Promise<number> {
    const known = this.topics.get(topic);
    if (known?.status === 'ready') return known.numPartitions;
    const info = await this.transport.topic(topic, true);
    if (!this.topics.has(topic)) {
      this.topics.set(topic, { status: 'ready', numPartitions: info.leaders.length, waiting: [], sticky: -1, stickyBytes: 0 });
    }
    return info.leaders.length;
  }

  /** Resolves when fewer than bufferMemory bytes are held (use it to stream large inputs). */
  waitForBufferSpace(): Promise<void> {
    if (this.buffered < this.bufferMemory) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Sends everything queued now (ignoring linger) and resolves when every record is settled. */
  async flush(): Promise<void> {
    if (this.unacked === 0) return;
    this.flushing++;
    try {
      this.scheduleDrain();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    } finally {
      this.flushing--;
    }
  }

  /** Flushes, then closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.transport.close();
  }

  // ------------------------------------------------------------------------------------------------

  /** Records and bytes leave the producer (acknowledged or failed); wakes waiters. */
  private settled(records: number, bytes: number): void {
    this.unacked -= records;
    this.buffered -= bytes;
    if (this.buffered < this.bufferMemory && this.spaceWaiters.length > 0) {
      const w = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const f of w) f();
    }
    if (this.unacked === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** A record that never made it into a batch failed. */
  private failRecord(size: number, cb: ProduceCallback | undefined, err: Error): void {
    this.settled(1, size);
    if (cb) queueMicrotask(() => cb(err));
  }

  private loadTopic(topic: string, ts: TopicState): void {
    this.transport.topic(topic, true).then(
      (info) => {
        ts.status = 'ready';
        ts.numPartitions = info.leaders.length;
        const waiting = ts.waiting;
        ts.waiting = [];
        for (const w of waiting) this.append(topic, ts, w.record, w.size, w.cb);
      },
      (err: unknown) => {
        this.topics.delete(topic);
        const waiting = ts.waiting;
        ts.waiting = [];
        const e = err instanceof Error ? err : new Error(String(err));
        for (const w of waiting) this.failRecord(w.size, w.cb, e);
      },
    );
  }

  private nextSticky(topic: string, ts: TopicState): number {
    const n = ts.numPartitions;
    const start = ts.sticky < 0 ? Math.floor(Math.random() * n) : (ts.sticky + 1) % n;
    for (let i = 0; i < n; i++) {
      const p = (start + i) % n;
      if (this.transport.leader(topic, p) >= 0) return p;
    }
    return start;
  }

  private append(topic: string, ts: TopicState, record: ProducerRecord, size: number, cb: ProduceCallback | undefined): void {
    const n = ts.numPartitions;
    let partition: number;
    if (record.partition !== undefined && record.partition !== null) {
      partition = record.partition;
      if (!Number.isInteger(partition) || partition < 0 || partition >= n) {
        this.failRecord(
          size,
          cb,
          new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Partition ${partition} of topic '${topic}' with partition count ${n} is not present in metadata`),
        );
        return;
      }
    } else if (record.key !== null && record.key !== undefined) {
      partition = this.partitioner(typeof record.key === 'string' ? Buffer.from(record.key, 'utf8') : record.key, n);
    } else {
      if (ts.sticky < 0 || ts.stickyBytes >= this.batchSize) {
        ts.sticky = this.nextSticky(topic, ts);
        ts.stickyBytes = 0;
      }
      partition = ts.sticky;
      ts.stickyBytes += size;
    }
    const q = this.queue(topic, partition);
    const timestamp = record.timestamp ?? Date.now();
    let batch = q.open;
    if (batch && batch.builder!.append(timestamp, record.key, record.value, record.headers) < 0) {
      // full: close it and start a new one
      this.closeBatch(q);
      this.scheduleDrain();
      batch = undefined;
    } else if (batch === undefined) {
      // fall through to open one below
    } else {
      this.recordAppended(batch, cb, timestamp, size);
      this.maybeSend(q, batch);
      return;
    }
    batch = {
      topic,
      partition,
      builder: new RecordBatchBuilder(this.batchSize),
      callbacks: [],
      timestamps: [],
      withCallback: 0,
      count: 0,
      bytes: 0,
      createdAt: Date.now(),
      attempts: 0,
      retryAt: 0,
    };
    q.open = batch;
    this.armTimer(batch.createdAt + this.lingerMs);
    batch.builder!.append(timestamp, record.key, record.value, record.headers); // the first record always fits
    this.recordAppended(batch, cb, timestamp, size);
    this.maybeSend(q, batch);
  }

  private recordAppended(batch: Batch, cb: ProduceCallback | undefined, timestamp: number, size: number): void {
    batch.callbacks.push(cb);
    batch.timestamps.push(timestamp);
    if (cb) batch.withCallback++;
    batch.count++;
    batch.bytes += size;
  }

  /** Closes a full batch, and has batches sent now when linger does not apply. */
  private maybeSend(q: PartitionQueue, batch: Batch): void {
    const full = batch.builder!.sizeInBytes >= this.batchSize;
    if (full || this.lingerMs <= 0 || this.flushing > 0) {
      if (full) this.closeBatch(q);
      this.scheduleDrain();
    }
  }

  private queue(topic: string, partition: number): PartitionQueue {
    const last = this.lastQueue;
    if (last !== undefined && last.partition === partition && last.topic === topic) return last; // the common case
    let byPartition = this.queues.get(topic);
    if (!byPartition) this.queues.set(topic, (byPartition = new Map()));
    let q = byPartition.get(partition);
    if (!q) byPartition.set(partition, (q = { topic, partition, open: undefined, ready: [] }));
    this.lastQueue = q;
    return q;
  }

  private closeBatch(q: PartitionQueue): void {
    if (!q.open) return;
    q.ready.push(q.open);
    q.open = undefined;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.closed) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private armTimer(at: number): void {
    if (this.closed) return;
    if (at >= this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.drain();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Closes lingered batches, expires old ones, and sends what can be sent. */
  private drain(): void {
    if (this.closed) return;
    const now = Date.now();
    let nextWake = Infinity;
    const byLeader = new Map<number, PartitionQueue[]>();
    const missingLeader = new Set<string>();
    for (const byPartition of this.queues.values()) {
      for (const q of byPartition.values()) {
        if (q.open) {
          if (this.flushing > 0 || now - q.open.createdAt >= this.lingerMs) this.closeBatch(q);
          else nextWake = Math.min(nextWake, q.open.createdAt + this.lingerMs);
        }
        // Expire batches that waited too long (leaderless partitions, endless retries).
        while (q.ready.length > 0 && now - q.ready[0]!.createdAt >= this.deliveryTimeoutMs) {
          const b = q.ready.shift()!;
          this.failBatch(
            b,
            new KafkaError(
              ErrorCode.REQUEST_TIMED_OUT,
              `Expiring ${b.count} record(s) for ${b.topic}-${b.partition}: ${now - b.createdAt} ms has passed since batch creation`,
            ),
          );
        }
        if (q.ready.length === 0) continue;
        const head = q.ready[0]!;
        if (head.retryAt > now) {
          nextWake = Math.min(nextWake, head.retryAt);
          continue;
        }
        const leader = this.transport.leader(q.topic, q.partition);
        if (leader < 0) {
          missingLeader.add(q.topic);
          continue;
        }
        if (this.txn !== null) {
          // a partition joins the transaction (AddPartitionsToTxn) before its first batch is sent
          const key = `${q.topic}\u0000${q.partition}`;
          if (!this.txnPartitions.has(key)) {
            this.txnAdding.add(key);
            continue;
          }
        }
        let list = byLeader.get(leader);
        if (!list) byLeader.set(leader, (list = []));
        list.push(q);
      }
    }
    for (const [leader, qs] of byLeader) {
      while ((this.inFlight.get(leader) ?? 0) < this.maxInFlight) {
        const batches: Batch[] = [];
        let bytes = 0;
        for (const q of qs) {
          const head = q.ready[0];
          if (!head || head.retryAt > now) continue;
          const encoded = this.encode(head);
          if (batches.length > 0 && bytes + encoded.length > this.maxRequestSize) continue;
          q.ready.shift();
          batches.push(head);
          bytes += encoded.length;
        }
        if (batches.length === 0) break;
        this.sendBatches(leader, batches);
      }
    }
    if (missingLeader.size > 0) this.requestRefresh([...missingLeader]);
    if (this.txnAdding.size > 0) this.addTxnPartitions();
    if (nextWake < Infinity) this.armTimer(nextWake);
  }

  private encode(b: Batch): Buffer {
    if (!b.encoded) {
      const txn = this.txn;
      if (txn !== null) {
        // sequence numbers are given when a batch is first encoded, in send order; a retry re-sends the same bytes
        const key = `${b.topic}\u0000${b.partition}`;
        const seq = this.sequences.get(key) ?? 0;
        this.sequences.set(key, (seq + b.count) % 0x80000000);
        b.encoded = b.builder!.build({ compression: this.compression, producerId: txn.producerId, producerEpoch: txn.producerEpoch, baseSequence: seq, transactional: true });
      } else {
        b.encoded = b.builder!.build({ compression: this.compression });
      }
      b.builder = null;
    }
    return b.encoded;
  }

  private sendBatches(leader: number, batches: Batch[]): void {
    this.inFlight.set(leader, (this.inFlight.get(leader) ?? 0) + 1);
    const m = this.stats;
    const sentAt = Date.now();
    m.requests++;
    for (const b of batches) {
      m.batches++;
      m.batchBytes += b.encoded!.length;
      if (b.encoded!.length > m.batchBytesMax) m.batchBytesMax = b.encoded!.length;
      m.batchRecords += b.count;
    }
    const reqBatches: ProduceBatch[] = batches.map((b) => ({
      topic: b.topic,
      partition: b.partition,
      records: b.encoded!,
      recordCount: b.count,
    }));
    this.transport
      .produce(leader, this.acks, this.requestTimeoutMs, reqBatches)
      .then(
        (results) => {
          const stale = new Set<string>();
          batches.forEach((b, i) => {
            const r = results[i];
            if (!r) {
              this.retryOrFail(b, new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `no response for ${b.topic}-${b.partition}`), true);
              return;
            }
            if (r.errorCode === ErrorCode.NONE) {
              this.completeBatch(b, r);
              return;
            }
            const err = new KafkaError(r.errorCode, r.errorMessage || errorName(r.errorCode));
            if (METADATA_ERROR_CODES.has(r.errorCode)) stale.add(b.topic);
            if (this.txn !== null && FATAL_TRANSACTION_ERRORS.has(r.errorCode)) this.fenced(err);
            this.retryOrFail(b, err, RETRIABLE_ERROR_CODES.has(r.errorCode));
          });
          if (stale.size > 0) this.requestRefresh([...stale]);
        },
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          const retriable = e instanceof ConnectionError ? e.retriable : e instanceof KafkaError && RETRIABLE_ERROR_CODES.has(e.code);
          for (const b of batches) this.retryOrFail(b, e, retriable);
          this.requestRefresh([...new Set(batches.map((b) => b.topic))]);
        },
      )
      .finally(() => {
        const latency = Date.now() - sentAt;
        m.requestLatencyTotal += latency;
        if (latency > m.requestLatencyMax) m.requestLatencyMax = latency;
        this.inFlight.set(leader, (this.inFlight.get(leader) ?? 1) - 1);
        this.drain();
      });
  }

  private completeBatch(b: Batch, r: PartitionResult): void {
    this.stats.recordsAcked += b.count;
    this.settled(b.count, b.bytes);
    if (b.withCallback === 0) return;
    const logAppend = r.logAppendTimeMs !== undefined && r.logAppendTimeMs >= 0 ? r.logAppendTimeMs : undefined;
    const baseOffset = this.acks !== 0 && r.baseOffset >= 0 ? r.baseOffset : -1;
    const callbacks = b.callbacks;
    for (let i = 0; i < callbacks.length; i++) {
      const cb = callbacks[i];
      if (cb === undefined) continue;
      try {
        if (cb.length < 2) cb(null);
        else {
          cb(null, {
            topic: b.topic,
            partition: b.partition,
            offset: baseOffset >= 0 ? baseOffset + i : -1,
            timestamp: logAppend ?? b.timestamps[i]!,
          });
        }
      } catch (err) {
        rethrowLater(err);
      }
    }
  }

  private failBatch(b: Batch, err: Error): void {
    this.settled(b.count, b.bytes);
    for (const cb of b.callbacks) {
      try {
        cb?.(err);
      } catch (thrown) {
        rethrowLater(thrown);
      }
    }
  }

  private retryOrFail(b: Batch, err: Error, retriable: boolean): void {
    b.attempts++;
    if (!retriable || b.attempts > this.retries || this.closed || Date.now() - b.createdAt >= this.deliveryTimeoutMs) {
      this.stats.recordErrors += b.count;
      // a record lost from a transaction: it can only be aborted now
      if (this.txn !== null && this.txnState !== 'fatal') {
        this.txnState = 'abortable';
        this.txnError = err;
      }
      this.failBatch(b, err);
      return;
    }
    this.stats.recordRetries += b.count;
    b.retryAt = Date.now() + backoffMs(b.attempts - 1, this.retryBackoffMs, this.retryBackoffMaxMs);
    const q = this.queue(b.topic, b.partition);
    q.ready.unshift(b);
    this.armTimer(b.retryAt);
  }

  /** Refreshes metadata for topics: one refresh at a time, backing off while partitions stay leaderless. */
  private requestRefresh(topics: string[]): void {
    for (const t of topics) this.refreshTopics.add(t);
    if (this.refreshing || this.closed) return;
    this.refreshing = true;
    const delay = this.refreshAttempt === 0 ? 0 : backoffMs(this.refreshAttempt - 1, this.retryBackoffMs, this.retryBackoffMaxMs);
    this.refreshAttempt++;
    setTimeout(() => {
      const list = [...this.refreshTopics];
      this.refreshTopics.clear();
      this.transport
        .refresh(list)
        .then(async () => {
          // Partitions may have been added (kfk topics --alter): keyed records then spread over all of them.
          for (const t of list) {
            const ts = this.topics.get(t);
            if (!ts || ts.status !== 'ready') continue;
            // the refresh just succeeded; a topic it cannot describe now is left as it is and retried with the
            // next refresh (the partition count only grows, so keeping the old one loses nothing)
            const info = await this.transport.topic(t, false).catch(() => undefined);
            if (info && info.leaders.length > ts.numPartitions) ts.numPartitions = info.leaders.length;
          }
        })
        .catch(() => {
          for (const t of list) this.refreshTopics.add(t);
        })
        .finally(() => {
          this.refreshing = false;
          this.drain(); // asks again (with a longer delay) if partitions are still leaderless
          if (!this.refreshing && this.refreshTopics.size > 0 && !this.closed) this.requestRefresh([]);
          if (!this.refreshing) this.refreshAttempt = 0;
        });
    }, delay);
  }
}

export function createProducer(opts: ProducerOptions): Producer {
  return new Producer(opts);
}
