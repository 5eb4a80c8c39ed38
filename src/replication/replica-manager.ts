/**
 * Owns the partition replicas this broker hosts (Kafka's ReplicaManager): applies the roles reconciliation
 * decides (become leader, become follower, stop), serves appends, reads and offset look-ups on them, and runs
 * what replication needs around that:
 * - the replica fetchers (followers copy their leaders' logs);
 * - the leader's ISR upkeep: shrink every replica.lag.time.max.ms / 2 when followers lag, expand when they catch
 *   up, each written as a compare-and-set on the partition state znode (IsrWriter);
 * - acks=all and DeleteRecords waiting in purgatories, completed by follower fetches and ISR changes;
 * - long-polling fetches: follower fetches wake when a log end offset moves, consumer fetches when a high
 *   watermark moves.
 * Produced records are validated by record-validator.ts (every record, as Kafka's LogValidator); fetch returns
 * file slices as they are.
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { decodeRecordBatches } from '../protocol/records.js';
import { RECORD_BATCH_OVERHEAD, batchLastOffset, batchSize } from '../protocol/record-batch-header.js';
import { validateProducedBatch, type ProduceValidation, type RecordError } from '../protocol/record-validator.js';
import type { LogManager } from '../log/log-manager.js';
import type { Log } from '../log/log.js';
import type { AppendOrigin } from '../log/producer-state.js';
import { buildTxnMarkerBatch } from '../protocol/control-records.js';
import { logConfig, type LogConfig } from '../log/log-config.js';
import { deleteRecordsBefore } from '../log/retention.js';
import type { MetadataCache } from '../cluster/metadata-cache.js';
import type { Registry } from '../registry/registry.js';
import { silentLogger, type Logger } from '../server/logger.js';
import { DelayedOperationPurgatory } from './delayed-operations.js';
import { DelayedDeleteRecords, DelayedProduce } from './delayed-produce.js';
import { FetchPurgatory, partitionKey } from './fetch-purgatory.js';
import { IsrWriter } from './isr-writer.js';
import { Partition, type LeaderAndIsr, type PendingIsrChange } from './partition.js';
import { ReplicaFetcherManager } from './replica-fetcher-manager.js';
import type { ReplicaFetcherHost } from './replica-fetcher.js';
import { DEFAULT_REPLICATION_CONFIG, type ReplicationConfig } from './replication-config.js';
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
  /** Set when the fetch's last_fetched_epoch shows the fetcher's log diverged (Fetch v12+). */
  divergingEpoch?: { epoch: number; endOffset: number };
  /** read_committed consumers: the aborted transactions overlapping the records returned. */
  abortedTransactions?: { producerId: number; firstOffset: number }[];
}

export interface ListOffsetResult {
  errorCode: number;
  offset: number;
  timestamp: number;
  leaderEpoch: number;
}

export interface EpochEndOffsetResult {
  errorCode: number;
  leaderEpoch: number;
  endOffset: number;
}

/** Who is fetching and how far it may read (Kafka's FetchParams / FetchIsolation). */
export interface FetchParams {
  /** >= 0: a follower broker; -1: a consumer; -2: a debugging client (may read from followers). */
  replicaId: number;
  /** READ_COMMITTED (1) or READ_UNCOMMITTED (0); followers read to the log end whatever this says. */
  isolationLevel: number;
}

export interface PartitionFetch {
  topic: string;
  partition: number;
  fetchOffset: number;
  /** -1: not checked (KIP-320). */
  currentLeaderEpoch: number;
  /** -1: unknown (no divergence check). */
  lastFetchedEpoch: number;
  /** The follower's log start offset (-1 for consumers). */
  logStartOffset: number;
  maxBytes: number;
  minOneBatch: boolean;
}

export interface ReplicaManagerOptions {
  brokerId: number;
  logManager: LogManager;
  registry: Registry;
  metadata: MetadataCache;
  config?: Partial<ReplicationConfig>;
  logger?: Logger;
  time?: () => number;
  /**
   * The registry holds a newer state for a partition this broker leads (its ISR write was refused by another
   * leader epoch or leader): re-read that topic and apply it.
   */
  onStaleLeadership?: (topic: string) => void;
}

const LATEST = -1;
const EARLIEST = -2;
/** ListOffsets v7+ (KIP-734): the record with the largest timestamp. */
const MAX_TIMESTAMP = -3;
const FOLLOWER_ID_MIN = 0;
const DEBUGGING_REPLICA_ID = -2;
const CONSUMER_REPLICA_ID = -1;
/** Pause between retries of an ISR write whose outcome is unknown (registry connection lost). */
const ISR_WRITE_RETRY_MS = 1000;

export class ReplicaManager implements ReplicaFetcherHost {
  readonly brokerId: number;
  readonly config: ReplicationConfig;
  readonly logger: Logger;
  private readonly partitions = new Map<string, Partition>();
  /** Follower fetches: woken when a partition's log end offset moves. */
  readonly purgatory = new FetchPurgatory();
  /** Consumer fetches: woken when a partition's high watermark moves. */
  readonly highWatermarkPurgatory = new FetchPurgatory();
  readonly delayedProduce = new DelayedOperationPurgatory();
  readonly delayedDeleteRecords = new DelayedOperationPurgatory();
  /** ISR changes this broker proposed as a leader (IsrShrinksPerSec / IsrExpandsPerSec; src/metrics). */
  readonly isrChangeCounts = { shrinks: 0, expands: 0 };
  readonly fetcherManager: ReplicaFetcherManager;
  private readonly isrWriter: IsrWriter;
  private readonly time: () => number;
  private isrTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /**
   * Set when this broker's controlled shutdown begins: no follower starts fetching any more (a partition whose
   * leader or leader epoch changes stops fetching), so the controller's removal of this broker from an ISR is
   * never undone by a leader seeing it catch up at the new epoch. See beginControlledShutdown().
   */
  private shuttingDown = false;
  private readonly logManager: LogManager;
  private readonly metadata: MetadataCache;
  /** Appends of a partition in arrival order, also when a batch's validation is asynchronous. */
  private readonly appendOrder = new OrderedAppends<Partition>();

  constructor(private readonly opts: ReplicaManagerOptions) {
    this.brokerId = opts.brokerId;
    this.logManager = opts.logManager;
    this.metadata = opts.metadata;
    this.config = { ...DEFAULT_REPLICATION_CONFIG, ...(opts.config ?? {}) };
    this.logger = opts.logger ?? silentLogger;
    this.time = opts.time ?? Date.now;
    this.isrWriter = new IsrWriter(opts.registry, this.logger);
    this.fetcherManager = new ReplicaFetcherManager(this);
  }

  /** Starts the ISR expiration check (every replica.lag.time.max.ms / 2, as Kafka). */
  startup(): void {
    const period = Math.max(1, Math.floor(this.config.replicaLagTimeMaxMs / 2));
    this.isrTimer = setInterval(() => this.maybeShrinkIsr(), period);
    this.isrTimer.unref();
  }

  getPartition(topic: string, partition: number): Partition | undefined {
    return this.partitions.get(partitionKey(topic, partition));
  }

  hostedPartitions(): Partition[] {
    return [...this.partitions.values()];
  }

  /** The high watermark to checkpoint for a log: its partition's, else the one checkpointed before (or 0). */
  highWatermarkOf(log: Log): number {
    const p = this.partitions.get(partitionKey(log.topic, log.partition));
    if (p !== undefined && p.log === log) return p.highWatermark;
    return this.logManager.checkpointedHighWatermark(log.topic, log.partition) ?? log.logStartOffset;
  }

  /** The error for a partition this broker does not host: it exists elsewhere, or not at all. */
  private notHostedError(topic: string, partition: number): number {
    const t = this.metadata.topic(topic);
    return t !== undefined && t.partitions.some((p) => p.partition === partition) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  }

  private isLive = (brokerId: number): boolean => this.metadata.brokers.has(brokerId);

  /** The partition a delayed operation waits on, while it is still the one hosted (not a re-created topic's). */
  private samePartition(key: string, p: Partition): Partition | undefined {
    return this.partitions.get(key) === p ? p : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Roles (called by reconciliation, one partition at a time)

  /**
   * Applies the registry's state for a partition this broker is a replica of: become leader, become follower
   * (of a live leader: fetch; leader -1 or not live: keep the log and wait), or, at the same leader epoch, adopt a
   * newer ISR. A state with an older leader epoch (or an older znode version) than the one applied is ignored.
   */
  async applyLeaderAndIsr(
    topic: string,
    partition: number,
    topicId: Buffer,
    state: LeaderAndIsr,
    config: { log: Partial<LogConfig>; minInsyncReplicas: number },
  ): Promise<Partition> {
    const p = await this.getOrCreatePartition(topic, partition, topicId, config.log);
    p.minInsyncReplicas = config.minInsyncReplicas;
    if (state.leaderEpoch < p.leaderEpoch) return p;
    if (state.leaderEpoch === p.leaderEpoch && state.leader === p.leaderId) {
      if (state.zkVersion > p.zkVersion) {
        p.adoptIsr(state);
        this.onHighWatermarkMaybeChanged(p, p.maybeIncrementLeaderHW(this.time()));
        this.delayedProduce.checkAndComplete(partitionKey(topic, partition));
      } else {
        p.replicas = state.replicas;
      }
      if (!p.isLeader) await this.ensureFetching(p);
      return p;
    }
    if (state.leader === this.brokerId) await this.makeLeader(p, state);
    else await this.makeFollower(p, state);
    return p;
  }

  private async getOrCreatePartition(topic: string, partition: number, topicId: Buffer, config: Partial<LogConfig>): Promise<Partition> {
    const key = partitionKey(topic, partition);
    const existing = this.partitions.get(key);
    if (existing !== undefined) return existing;
    const log = this.logManager.getLog(topic, partition) ?? (await this.logManager.createLog(topic, partition, topicId, logConfig(config)));
    const raced = this.partitions.get(key);
    if (raced !== undefined) return raced;
    const hw = this.logManager.checkpointedHighWatermark(topic, partition) ?? log.logStartOffset;
    const p = new Partition(topic, partition, topicId, log, this.brokerId, hw);
    this.partitions.set(key, p);
    return p;
  }

  private async makeLeader(p: Partition, state: LeaderAndIsr): Promise<void> {
    const key = partitionKey(p.topic, p.partition);
    await this.fetcherManager.removePartitions([key]);
    const { isNewLeader, hwIncreased } = p.makeLeader(state, this.time());
    this.logger.info(
      `${p.topic}-${p.partition}: ${isNewLeader ? 'became leader' : 'leader'} at epoch ${state.leaderEpoch} from offset ${p.leaderEpochStartOffset}, high watermark ${p.highWatermark}, ISR [${state.isr.join(',')}]`,
    );
    this.onHighWatermarkMaybeChanged(p, hwIncreased);
    this.delayedProduce.checkAndComplete(key);
  }

  private async makeFollower(p: Partition, state: LeaderAndIsr): Promise<void> {
    const key = partitionKey(p.topic, p.partition);
    const wasLeader = p.isLeader;
    const changes = p.role !== 'follower' || p.leaderId !== state.leader || p.leaderEpoch !== state.leaderEpoch;
    // A fetcher still copying from the previous leader finishes its step before the epoch changes under it.
    if (changes) await this.fetcherManager.removePartitions([key]);
    p.makeFollower(state);
    if (changes) {
      this.logger.info(
        `${p.topic}-${p.partition}: ${wasLeader ? 'leader became follower' : 'follower'} of ${state.leader < 0 ? 'no leader' : `broker ${state.leader}`} at epoch ${state.leaderEpoch}, log end ${p.log.logEndOffset}, high watermark ${p.highWatermark}`,
      );
      // Waiting acks=all produces and DeleteRecords answer NOT_LEADER_OR_FOLLOWER; waiting fetches re-check.
      this.wakeAll(key);
    }
    await this.ensureFetching(p);
  }

  /**
   * A follower fetches from its leader while that broker is live; otherwise it waits. In a controlled shutdown
   * a follower keeps fetching only from the leader and at the leader epoch it already fetches at.
   */
  private async ensureFetching(p: Partition): Promise<void> {
    if (p.isLeader) return;
    const key = partitionKey(p.topic, p.partition);
    if (p.log.isOffline) {
      // Its log dir failed: nothing to append to, and no fetch may tell the leader it is caught up (see onLogDirFailure).
      if (this.fetcherManager.sourceOf(p.topic, p.partition) !== undefined) await this.fetcherManager.removePartitions([key]);
      return;
    }
    const leader = p.leaderId >= 0 && p.leaderId !== this.brokerId ? this.metadata.brokers.get(p.leaderId) : undefined;
    const current = this.fetcherManager.sourceOf(p.topic, p.partition);
    if (leader === undefined) {
      if (current !== undefined) await this.fetcherManager.removePartitions([key]);
      return;
    }
    const source = { id: leader.id, host: leader.host, port: leader.port };
    const fetcher = this.fetcherManager.fetcherOf(p.topic, p.partition);
    if (current !== undefined && current.id === source.id && fetcher?.stateOf(p.topic, p.partition)?.leaderEpoch === p.leaderEpoch) {
      if (current.host !== source.host || current.port !== source.port) this.fetcherManager.retarget(source);
      return;
    }
    if (this.shuttingDown) {
      if (current !== undefined) await this.fetcherManager.removePartitions([key]);
      return;
    }
    await this.fetcherManager.addPartition({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch }, source);
  }

  /**
   * This broker's controlled shutdown begins (before it asks the controller): followers go on fetching at the
   * leader epochs they have, so that acks=all on partitions whose ISR still lists this broker is not held up, but
   * none starts fetching at a new epoch. The controller's answer moves leaderships away and takes this broker out
   * of ISRs, each with a new leader epoch, so the leaders never see it catch up again and never add it back
   * (a fetch sent at the old epoch is fenced once a leader is at the new one).
   */
  beginControlledShutdown(): void {
    this.shuttingDown = true;
  }

  /**
   * The controlled shutdown is over: every follower stops fetching (Kafka's StopReplica without deleting the
   * partition, which the controller sends a broker whose controlled shutdown succeeded). Logs stay open until
   * close(); this broker leads what it still leads.
   */
  async stopFollowing(): Promise<void> {
    this.shuttingDown = true;
    await this.fetcherManager.shutdown();
  }

  /** The live brokers changed: followers start or stop fetching from leaders that came or went. */
  async onBrokersChanged(): Promise<void> {
    for (const p of this.partitions.values()) {
      if (!p.isLeader) await this.ensureFetching(p);
      else this.delayedDeleteRecords.checkAndComplete(partitionKey(p.topic, p.partition));
    }
  }

  /** Stops hosting a partition; deletes its log when it is no longer assigned here (or the topic is gone). */
  async stopReplica(topic: string, partition: number, deleteLog: boolean): Promise<void> {
    const key = partitionKey(topic, partition);
    await this.fetcherManager.removePartitions([key]);
    this.partitions.delete(key);
    this.wakeAll(key);
    if (deleteLog) await this.logManager.deleteLog(topic, partition);
  }

  /**
   * A partition's log dir went offline: whatever waits on it wakes up to answer KAFKA_STORAGE_ERROR, and a follower
   * stops fetching (Kafka removes the fetchers of offline partitions): a replica that fetched on would report its
   * old log end offset to the leader, which would take it back into the ISR once that reached the high watermark.
   */
  onLogDirFailure(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    this.wakeAll(key);
    this.fetcherManager.removePartitions([key]).catch((err: unknown) => this.logger.error(`${topic}-${partition}: could not stop fetching: ${(err as Error).message ?? err}`));
  }

  private wakeAll(key: string): void {
    this.delayedProduce.checkAndComplete(key);
    this.delayedDeleteRecords.checkAndComplete(key);
    this.purgatory.notify(key);
    this.highWatermarkPurgatory.notify(key);
  }

  private onHighWatermarkMaybeChanged(p: Partition, moved: boolean): void {
    if (!moved) return;
    const key = partitionKey(p.topic, p.partition);
    this.highWatermarkPurgatory.notify(key);
    this.delayedProduce.checkAndComplete(key);
  }

  // ---------------------------------------------------------------------------------------------
  // Fetcher host

  followerPartition(topic: string, partition: number): Partition | undefined {
    const p = this.partitions.get(partitionKey(topic, partition));
    return p !== undefined && !p.isLeader ? p : undefined;
  }

  onFollowerUpdate(p: Partition): void {
    this.highWatermarkPurgatory.notify(partitionKey(p.topic, p.partition));
  }

  /** Called after every append to any log (the LogManager's hook): follower fetches may have data now. */
  onLogAppend(log: Log): void {
    this.purgatory.notify(partitionKey(log.topic, log.partition));
  }

  // ---------------------------------------------------------------------------------------------
  // ISR upkeep

  /** The periodic check (Kafka's isr-expiration task): leaders drop followers that stopped catching up. */
  maybeShrinkIsr(): void {
    if (this.closed) return;
    const now = this.time();
    for (const p of this.partitions.values()) {
      const change = p.prepareIsrShrink(now, this.config.replicaLagTimeMaxMs);
      if (change !== null) {
        this.isrChangeCounts.shrinks++;
        this.logger.info(`${p.topic}-${p.partition}: shrinking ISR from [${p.isr.join(',')}] to [${change.isr.join(',')}] (followers lagging more than ${this.config.replicaLagTimeMaxMs} ms)`);
        void this.writeIsr(p, change);
      }
    }
  }

  /** Writes a leader's ISR change and applies the outcome; never rejects. */
  private async writeIsr(p: Partition, change: PendingIsrChange): Promise<void> {
    const key = partitionKey(p.topic, p.partition);
    for (;;) {
      if (this.closed || p.pendingIsr !== change) return;
      try {
        const outcome = await this.isrWriter.write(p.topic, p.partition, this.brokerId, change);
        if (outcome.committed) {
          const moved = p.completeIsrChange(change, outcome);
          this.logger.info(`${p.topic}-${p.partition}: ISR is now [${change.isr.join(',')}] (znode version ${outcome.zkVersion})`);
          this.onHighWatermarkMaybeChanged(p, moved);
        } else {
          const cur = outcome.current;
          const sameLeadership = cur !== null && cur.state.leader === this.brokerId && cur.state.leaderEpoch === change.leaderEpoch;
          const moved = p.completeIsrChange(
            change,
            sameLeadership ? { committed: false, current: { isr: cur.state.isr, zkVersion: cur.zkVersion } } : { committed: false },
          );
          this.onHighWatermarkMaybeChanged(p, moved);
          if (!sameLeadership) {
            // The controller moved on (new leader epoch or leader): this broker must stop acting as leader.
            this.logger.warn(
              `${p.topic}-${p.partition}: ISR change refused, the registry holds ${cur === null ? 'no state' : `leader ${cur.state.leader} at epoch ${cur.state.leaderEpoch}`}; re-reading it`,
            );
            this.opts.onStaleLeadership?.(p.topic);
          } else {
            this.logger.info(`${p.topic}-${p.partition}: ISR change based on an old version; the registry has ISR [${cur.state.isr.join(',')}]`);
          }
        }
        this.delayedProduce.checkAndComplete(key);
        return;
      } catch (err) {
        // Outcome unknown (registry connection lost): keep the change in flight and write it again.
        this.logger.warn(`${p.topic}-${p.partition}: writing ISR [${change.isr.join(',')}] failed: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, ISR_WRITE_RETRY_MS).unref());
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Produce

  /**
   * Appends one partition's records as leader. acks=-1 waits (in the purgatory) until every ISR member has
   * them, at most timeoutMs; an ISR below min.insync.replicas refuses acks=-1 before anything is written.
   */
  appendRecords(
    topic: string,
    partition: number,
    records: Buffer | null,
    acks: number,
    timeoutMs: number,
    origin: AppendOrigin = 'client',
  ): AppendResult | Promise<AppendResult> {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return failed(this.notHostedError(topic, partition));
    // A replica in a failed log dir answers that, whatever its role (Kafka's HostedPartition.Offline).
    if (p.log.isOffline) return failed(ErrorCode.KAFKA_STORAGE_ERROR);
    if (!p.isLeader) return failed(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    if (acks === -1 && p.isr.length < p.minInsyncReplicas) {
      return failed(
        ErrorCode.NOT_ENOUGH_REPLICAS,
        `The size of the current ISR [${p.isr.join(',')}] is insufficient to satisfy the min.isr requirement of ${p.minInsyncReplicas} for partition ${topic}-${partition}`,
      );
    }
    if (!records || records.length === 0) return failed(ErrorCode.CORRUPT_MESSAGE, 'empty record set');
    // The broker's own coordinators build their batches (transaction markers are control batches, which no client
    // may send): only a client's records go through the produce validation.
    const verdict: ProduceValidation | Promise<ProduceValidation> = origin === 'client' ? validateProducedBatch(records, p.log.config) : { errorCode: ErrorCode.NONE };
    return this.appendOrder.run(p, verdict, (check) => this.appendValidated(p, records, check, acks, timeoutMs, origin));
  }

  /**
   * WriteTxnMarkers on the leader (Kafka's handleWriteTxnMarkersRequest): appends the COMMIT or ABORT marker of a
   * producer's transaction as a control batch, with acks=all; the log completes the transaction (its last stable
   * offset moves, an abort is indexed in .txnindex). The producer epoch and coordinator epoch are checked against
   * the partition's producer state (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED).
   */
  appendTxnMarker(
    topic: string,
    partition: number,
    marker: { producerId: number; producerEpoch: number; coordinatorEpoch: number; commit: boolean },
    timeoutMs: number,
  ): AppendResult | Promise<AppendResult> {
    return this.appendRecords(topic, partition, buildTxnMarkerBatch(marker), -1, timeoutMs, 'coordinator');
  }

  /** Appends a validated batch (or answers why it was refused); called in arrival order per partition. */
  private appendValidated(
    p: Partition,
    records: Buffer,
    check: ProduceValidation,
    acks: number,
    timeoutMs: number,
    origin: AppendOrigin,
  ): AppendResult | Promise<AppendResult> {
    if (check.errorCode !== ErrorCode.NONE) return { ...failed(check.errorCode, check.errorMessage), recordErrors: check.recordErrors };
    // The partition may have gone, or this broker stopped leading it, while an asynchronous validation ran.
    if (this.partitions.get(partitionKey(p.topic, p.partition)) !== p || !p.isLeader) return failed(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    // Produce request buffers are slices of the frame we own, so offsets can be written in place.
    try {
      const info = p.log.append(records, p.leaderEpoch, true, origin);
      // The ISR may be the leader alone: the high watermark moves with the append.
      this.onHighWatermarkMaybeChanged(p, p.maybeIncrementLeaderHW(this.time()));
      const result: AppendResult = { errorCode: ErrorCode.NONE, baseOffset: info.baseOffset, logAppendTime: info.logAppendTime, logStartOffset: info.logStartOffset };
      const replicated = (): AppendResult | Promise<AppendResult> =>
        acks === -1 && info.lastOffset >= 0 ? this.waitForReplication(p, info.lastOffset + 1, result, timeoutMs) : result;
      // A flush policy (flush.messages) that covers this write: acknowledge only once it is on disk.
      if (info.flushed) return info.flushed.then(replicated, (err: Error) => failed(ErrorCode.KAFKA_STORAGE_ERROR, err.message));
      return replicated();
    } catch (err) {
      if (err instanceof KafkaError) return failed(err.code, err.message);
      throw err;
    }
  }

  private waitForReplication(p: Partition, requiredOffset: number, result: AppendResult, timeoutMs: number): AppendResult | Promise<AppendResult> {
    const key = partitionKey(p.topic, p.partition);
    const now = p.checkEnoughReplicasReachOffset(requiredOffset);
    if (now.done) return now.errorCode === ErrorCode.NONE ? result : { ...result, errorCode: now.errorCode };
    return new Promise<AppendResult>((resolve) => {
      const op = new DelayedProduce(() => this.samePartition(key, p), requiredOffset, result, resolve);
      this.delayedProduce.tryCompleteElseWatch(op, [key], timeoutMs);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Fetch

  /**
   * Reads one partition for a Fetch (Kafka's Partition.fetchRecords): followers (replicaId >= 0) read to the log
   * end offset and their fetch offset updates the leader's bookkeeping; consumers read to the high watermark (or
   * the last stable offset). Only the leader serves either; current_leader_epoch is checked (KIP-320) and
   * last_fetched_epoch compared with this log (diverging_epoch).
   */
  async readPartition(params: FetchParams, f: PartitionFetch, updateFetchState: boolean): Promise<FetchResult> {
    const none = (errorCode: number): FetchResult => ({ errorCode, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null });
    const p = this.partitions.get(partitionKey(f.topic, f.partition));
    if (!p) return none(this.notHostedError(f.topic, f.partition));
    if (p.log.isOffline) return none(ErrorCode.KAFKA_STORAGE_ERROR);
    const epochError = p.checkLeaderEpoch(f.currentLeaderEpoch);
    if (epochError !== ErrorCode.NONE) return none(epochError);
    const isFollower = params.replicaId >= FOLLOWER_ID_MIN;
    if (!p.isLeader && params.replicaId !== DEBUGGING_REPLICA_ID) return none(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    if (isFollower && !p.replicas.includes(params.replicaId)) {
      return none(f.currentLeaderEpoch >= 0 ? ErrorCode.UNKNOWN_LEADER_EPOCH : ErrorCode.NOT_LEADER_OR_FOLLOWER);
    }
    const log = p.log;
    // Offsets as they were before the read: appends that follow must not keep a follower from catching up.
    const hw = p.highWatermark;
    const logStart = log.logStartOffset;
    const logEnd = log.logEndOffset;
    const base = { highWatermark: hw, lastStableOffset: p.lastStableOffset, logStartOffset: logStart };
    if (f.lastFetchedEpoch >= 0) {
      const end = log.leaderEpochCache.endOffsetFor(f.lastFetchedEpoch, logEnd);
      if (end.epoch < 0 || end.endOffset < 0 || f.fetchOffset < logStart) return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, records: null };
      if (end.epoch < f.lastFetchedEpoch || end.endOffset < f.fetchOffset) {
        return { ...base, errorCode: ErrorCode.NONE, records: null, divergingEpoch: { epoch: end.epoch, endOffset: end.endOffset } };
      }
    }
    if (f.fetchOffset < logStart || f.fetchOffset > logEnd) return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, records: null };
    const readCommitted = !isFollower && params.isolationLevel === 1;
    const upTo = isFollower ? logEnd : readCommitted ? p.lastStableOffset : hw;
    let records: Buffer | null = null;
    let abortedTransactions: { producerId: number; firstOffset: number }[] | undefined;
    if (f.fetchOffset < upTo && (f.maxBytes > 0 || f.minOneBatch)) {
      try {
        // pooled: these records only go into this Fetch response (the connection gives the buffer back once written)
        const read = await log.read(f.fetchOffset, Math.max(f.maxBytes, 1), upTo, f.minOneBatch, true);
        records = read.records.length > 0 ? read.records : null;
        if (readCommitted && records !== null) {
          // Sorted by first offset: kafkajs only looks at the head of the list as it walks the records (librdkafka
          // and the Java client sort it themselves; Kafka sends it in marker order).
          abortedTransactions = log
            .collectAbortedTransactions(f.fetchOffset, endOffsetOfBatches(records))
            .map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset }))
            .sort((x, y) => x.firstOffset - y.firstOffset);
        }
      } catch (err) {
        // The log may have moved (retention, truncation, closed) between the range check and the read.
        if (err instanceof KafkaError) return { ...base, errorCode: err.code, records: null };
        throw err;
      }
    }
    if (isFollower && updateFetchState) {
      const u = p.updateFollowerFetchState(params.replicaId, f.fetchOffset, f.logStartOffset, this.time(), logEnd);
      if (u.isrExpand !== null) {
        this.isrChangeCounts.expands++;
        this.logger.info(`${p.topic}-${p.partition}: expanding ISR from [${p.isr.join(',')}] to [${u.isrExpand.isr.join(',')}] (broker ${params.replicaId} caught up)`);
        void this.writeIsr(p, u.isrExpand);
      }
      this.onHighWatermarkMaybeChanged(p, u.hwIncreased);
      if (u.logStartOffsetChanged) this.delayedDeleteRecords.checkAndComplete(partitionKey(p.topic, p.partition));
      // The follower learns the newest high watermark at once.
      base.highWatermark = p.highWatermark;
      base.lastStableOffset = p.lastStableOffset;
    }
    return { ...base, errorCode: ErrorCode.NONE, records, ...(abortedTransactions !== undefined ? { abortedTransactions } : {}) };
  }

  /**
   * A local read on the leader (the group coordinator's): up to the high watermark, the last stable offset
   * (readCommitted), or the log end offset (upToLogEnd: loading a partition, as Kafka's coordinators do).
   */
  async fetchPartition(topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean, readCommitted: boolean, upToLogEnd = false): Promise<FetchResult> {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return { errorCode: this.notHostedError(topic, partition), highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null };
    if (!p.isLeader) return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null };
    if (p.log.isOffline) return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null };
    const hw = p.highWatermark;
    const base = { highWatermark: hw, lastStableOffset: p.lastStableOffset, logStartOffset: p.log.logStartOffset };
    if (offset < p.log.logStartOffset || offset > p.log.logEndOffset) return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, records: null };
    const upTo = upToLogEnd ? p.log.logEndOffset : readCommitted ? p.lastStableOffset : hw;
    if (offset >= upTo || (maxBytes <= 0 && !minOneBatch)) return { ...base, errorCode: ErrorCode.NONE, records: null };
    try {
      const read = await p.log.read(offset, Math.max(maxBytes, 1), upTo, minOneBatch);
      return { ...base, errorCode: ErrorCode.NONE, records: read.records.length > 0 ? read.records : null };
    } catch (err) {
      if (err instanceof KafkaError) return { ...base, errorCode: err.code, records: null };
      throw err;
    }
  }

  /** Taken before a fetch reads, and passed to waitForData: what arrives while it reads still wakes it. */
  dataMark(forFollower = false): number {
    return (forFollower ? this.purgatory : this.highWatermarkPurgatory).mark();
  }

  /**
   * Waits until one of the partitions may have more to read: its log end (followers) or high watermark (consumers);
   * at once if that happened since `since` (a dataMark()).
   */
  waitForData(keys: string[], timeoutMs: number, forFollower = false, since?: number): Promise<void> {
    return (forFollower ? this.purgatory : this.highWatermarkPurgatory).wait(keys, timeoutMs, since);
  }

  // ---------------------------------------------------------------------------------------------
  // ListOffsets, OffsetsForLeaderEpoch, DeleteRecords

  /**
   * ListOffsets on the leader (Kafka's fetchOffsetForTimestamp). `isolationLevel` null: a replica asking, which
   * sees the log end offset as latest; 0/1: a client, which sees the high watermark (last stable offset), and gets
   * OFFSET_NOT_AVAILABLE while a new leader's high watermark is still below the start of its epoch.
   */
  async listOffset(
    topic: string,
    partition: number,
    timestamp: number,
    isolationLevel: number | null,
    currentLeaderEpoch = -1,
    fetchOnlyFromLeader = true,
  ): Promise<ListOffsetResult> {
    const fail = (errorCode: number): ListOffsetResult => ({ errorCode, offset: -1, timestamp: -1, leaderEpoch: -1 });
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return fail(this.notHostedError(topic, partition));
    if (p.log.isOffline) return fail(ErrorCode.KAFKA_STORAGE_ERROR);
    const epochError = p.checkLeaderEpoch(currentLeaderEpoch);
    if (epochError !== ErrorCode.NONE) return fail(epochError);
    if (fetchOnlyFromLeader && !p.isLeader) return fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    const log = p.log;
    const lastFetchable = isolationLevel === null ? log.logEndOffset : isolationLevel === 1 ? p.lastStableOffset : p.highWatermark;
    const lagging = isolationLevel !== null && p.isLeader && p.leaderEpochStartOffset > p.highWatermark;
    const found = (offset: number, ts = -1, epoch = log.leaderEpochCache.epochForOffset(offset)) => ({ errorCode: ErrorCode.NONE, offset, timestamp: ts, leaderEpoch: epoch });
    if (timestamp === LATEST) return lagging ? fail(ErrorCode.OFFSET_NOT_AVAILABLE) : found(lastFetchable, -1, p.leaderEpoch);
    if (timestamp === EARLIEST) return found(log.logStartOffset);
    if (timestamp === MAX_TIMESTAMP) {
      // The segments know the batch with the largest timestamp (by its last offset); Kafka answers with the first
      // record of that batch carrying the timestamp (KAFKA-16310), and only below the last fetchable offset.
      const max = await log.maxTimestampOffset();
      if (!max) return found(-1, -1, -1);
      let offset = max.offset;
      const read = await log.read(max.offset, 1, log.logEndOffset);
      search: for (const b of decodeRecordBatches(read.records)) {
        for (const rec of b.records) {
          if (rec.timestamp === max.timestamp) {
            offset = rec.offset;
            break search;
          }
        }
      }
      if (offset >= lastFetchable) return lagging ? fail(ErrorCode.OFFSET_NOT_AVAILABLE) : found(-1, -1, -1);
      return found(offset, max.timestamp);
    }
    const batch = await log.offsetForTimestamp(timestamp, lastFetchable);
    if (!batch) return lagging ? fail(ErrorCode.OFFSET_NOT_AVAILABLE) : found(-1, -1, -1);
    // The log finds the first batch whose max timestamp reaches the target; Kafka answers with the
    // first record in it that does, so look inside that one batch.
    const read = await log.read(batch.offset, 1, lastFetchable);
    if (read.records.length > 0) {
      for (const b of decodeRecordBatches(read.records)) {
        for (const rec of b.records) {
          if (rec.offset >= batch.offset && rec.timestamp >= timestamp) return found(rec.offset, rec.timestamp);
        }
      }
    }
    return found(batch.offset, batch.timestamp);
  }

  /**
   * OffsetsForLeaderEpoch on the leader (KIP-101/279): the end offset of `leaderEpoch` in this log (the start of
   * the next epoch, or the log end for the current one) and the largest epoch <= it that this log has.
   */
  lastOffsetForLeaderEpoch(topic: string, partition: number, currentLeaderEpoch: number, leaderEpoch: number): EpochEndOffsetResult {
    const p = this.partitions.get(partitionKey(topic, partition));
    if (!p) return { errorCode: this.notHostedError(topic, partition), leaderEpoch: -1, endOffset: -1 };
    if (p.log.isOffline) return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, leaderEpoch: -1, endOffset: -1 };
    const epochError = p.checkLeaderEpoch(currentLeaderEpoch);
    if (epochError !== ErrorCode.NONE) return { errorCode: epochError, leaderEpoch: -1, endOffset: -1 };
    if (!p.isLeader) return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, leaderEpoch: -1, endOffset: -1 };
    const r = p.log.leaderEpochCache.endOffsetFor(leaderEpoch, p.log.logEndOffset);
    return { errorCode: ErrorCode.NONE, leaderEpoch: r.epoch, endOffset: r.endOffset };
  }

  /**
   * DeleteRecords on the leader: moves the log start offset to `offset` (-1: the high watermark), then waits,
   * at most timeoutMs, until every live follower's log start offset reached it too (Kafka's DelayedDeleteRecords).
   */
  deleteRecords(topic: string, partition: number, offset: number, timeoutMs: number): { errorCode: number; lowWatermark: number } | Promise<{ errorCode: number; lowWatermark: number }> {
    const key = partitionKey(topic, partition);
    const p = this.partitions.get(key);
    if (!p) return { errorCode: this.notHostedError(topic, partition), lowWatermark: -1 };
    if (p.log.isOffline) return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, lowWatermark: -1 }; // its log dir failed
    if (!p.isLeader || p.log.isClosed) return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: -1 };
    if (!p.log.config.cleanupPolicy.includes('delete')) return { errorCode: ErrorCode.POLICY_VIOLATION, lowWatermark: -1 };
    const target = offset === -1 ? p.highWatermark : offset;
    if (target < 0 || target > p.highWatermark) return { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1 };
    try {
      deleteRecordsBefore(p.log, target);
    } catch (err) {
      // a storage failure while removing the segments (the log dir has gone offline): KAFKA_STORAGE_ERROR
      if (err instanceof KafkaError) return { errorCode: err.code, lowWatermark: -1 };
      throw err;
    }
    return new Promise((resolve) => {
      this.delayedDeleteRecords.tryCompleteElseWatch(new DelayedDeleteRecords(() => this.samePartition(key, p), target, this.isLive, resolve), [key], timeoutMs);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.isrTimer !== null) clearInterval(this.isrTimer);
    this.isrTimer = null;
    await this.fetcherManager.shutdown();
    this.purgatory.wakeAll();
    this.highWatermarkPurgatory.wakeAll();
    this.delayedProduce.expireAll();
    this.delayedDeleteRecords.expireAll();
    await this.isrWriter.flushed();
    // The partitions stay known: the log manager's final replication-offset-checkpoint reads their high watermarks.
  }
}

/** The offset after the last whole batch in `records` (batch headers only). */
function endOffsetOfBatches(records: Buffer): number {
  let end = -1;
  for (let pos = 0; pos + RECORD_BATCH_OVERHEAD <= records.length; ) {
    const size = batchSize(records, pos);
    if (size < RECORD_BATCH_OVERHEAD || pos + size > records.length) break;
    end = batchLastOffset(records, pos) + 1;
    pos += size;
  }
  return end;
}

function failed(errorCode: number, errorMessage?: string): AppendResult {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 };
}
