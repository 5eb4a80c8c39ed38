/**
 * The transaction coordinator (Kafka's TransactionCoordinator + TransactionStateManager): owns the transactional ids
 * whose `__transaction_state` partition this broker leads (NOT_COORDINATOR for the others, COORDINATOR_LOAD_IN_PROGRESS
 * while a partition is replayed), and runs their state machine (transaction-metadata.ts).
 *
 * Event-sourced like the group coordinator: every transition is written to `__transaction_state` (acks=all) before it
 * is applied or answered. A broker that becomes leader of a partition replays it (the coordinator epoch is that
 * partition's leader epoch) and resumes what was in flight: a transaction in PrepareCommit or PrepareAbort gets its
 * markers (again); an Ongoing one is aborted at its timeout.
 *
 * - InitProducerId with a transactional id: a producer id for a new id, else epoch + 1 (fencing the previous
 *   instance); an open transaction of the previous instance is aborted first, with a bumped epoch, and the client gets
 *   CONCURRENT_TRANSACTIONS until that is done. transaction.timeout.ms above transaction.max.timeout.ms (or ≤ 0):
 *   INVALID_TRANSACTION_TIMEOUT.
 * - AddPartitionsToTxn / AddOffsetsToTxn: the partitions join the transaction (Ongoing).
 * - EndTxn: PrepareCommit / PrepareAbort is written, the client is answered, the markers go to every partition's
 *   leader (txn-marker-channel.ts), then CompleteCommit / CompleteAbort is written.
 * - Every transaction.abort.timed.out.transaction.cleanup.interval.ms, transactions open longer than their timeout are
 *   aborted with a bumped epoch (the producer is fenced); every transaction.remove.expired.transaction.cleanup.interval.ms
 *   ids idle longer than transactional.id.expiration.ms (and not in a transaction) are removed with a tombstone.
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { buildRecordBatch, decodeRecordBatches } from '../protocol/records.js';
import { TRANSACTION_STATE_TOPIC } from '../cluster/topic-names.js';
import type { AppendResult, FetchResult } from '../replication/replica-manager.js';
import { silentLogger, type Logger } from '../server/logger.js';
import {
  IllegalTxnTransitionError,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  TXN_STATES,
  TransactionMetadata,
  isEpochExhausted,
  type TopicPartition,
  type TxnState,
  type TxnTransit,
} from './transaction-metadata.js';
import { decodeTransactionLogKey, decodeTransactionLogValue, transactionLogKey, transactionLogValue, transactionStatePartitionFor } from './transaction-log.js';
import type { MarkerJob } from './txn-marker-channel.js';

/** What the coordinator needs of the replica manager (an interface, so tests can give it a fake log). */
export interface TransactionStateLog {
  appendRecords(topic: string, partition: number, records: Buffer | null, acks: number, timeoutMs: number): AppendResult | Promise<AppendResult>;
  fetchPartition(topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean, readCommitted: boolean, upToLogEnd?: boolean): Promise<FetchResult>;
}

export interface TransactionConfig {
  /** transaction.max.timeout.ms */
  transactionMaxTimeoutMs: number;
  /** transactional.id.expiration.ms */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  abortTimedOutTransactionsIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms */
  removeExpiredTransactionalIdsIntervalMs: number;
  /** transaction.state.log.load.buffer.size */
  loadBufferSize: number;
  /** How long a write to __transaction_state may wait for its replicas (Kafka: request.timeout.ms). */
  writeTimeoutMs: number;
}

export const DEFAULT_TRANSACTION_CONFIG: TransactionConfig = {
  transactionMaxTimeoutMs: 900000,
  transactionalIdExpirationMs: 604800000,
  abortTimedOutTransactionsIntervalMs: 10000,
  removeExpiredTransactionalIdsIntervalMs: 3600000,
  loadBufferSize: 5242880,
  writeTimeoutMs: 30000,
};

export interface TransactionCoordinatorOptions {
  brokerId: number;
  log: TransactionStateLog;
  /** Partition count of __transaction_state (from metadata; transaction.state.log.num.partitions before it exists). */
  numPartitions(): number;
  producerIds: { generateProducerId(): Promise<number> };
  /** Where the markers of completed transactions go (TxnMarkerChannel). */
  markers: { add(job: MarkerJob): void };
  config?: Partial<TransactionConfig>;
  time?: () => number;
  logger?: Logger;
  /**
   * Test-only fault hook (commands/test-faults.ts): called once PrepareCommit/PrepareAbort is in the log, before the
   * markers are sent and before the client is answered. Returning true halts this coordinator right there: no marker
   * is sent and it serves nothing any more (the hook kills its broker), so a failover between PrepareCommit and the
   * markers is reproduced exactly.
   */
  beforeSendingMarkers?: (transactionalId: string, commit: boolean) => boolean;
}

export interface InitProducerIdResult {
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

export interface TransactionDescription {
  errorCode: number;
  transactionalId: string;
  state: string;
  timeoutMs: number;
  startTimeMs: number;
  producerId: number;
  producerEpoch: number;
  partitions: TopicPartition[];
}

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: TxnState;
}

interface OwnedPartition {
  status: 'loading' | 'loaded';
  coordinatorEpoch: number;
}

/** Maps an error of a __transaction_state write to what the transaction APIs answer (Kafka's appendTransactionToLog). */
function appendError(code: number): number {
  switch (code) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return code;
  }
}

function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export class TransactionCoordinator {
  private readonly txns = new Map<string, TransactionMetadata>();
  private readonly partitions = new Map<number, OwnedPartition>();
  private readonly loads = new Map<number, Promise<void>>();
  private readonly config: TransactionConfig;
  private readonly logger: Logger;
  private readonly time: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(private readonly opts: TransactionCoordinatorOptions) {
    this.config = { ...DEFAULT_TRANSACTION_CONFIG, ...(opts.config ?? {}) };
    this.logger = opts.logger ?? silentLogger;
    this.time = opts.time ?? Date.now;
    const every = (ms: number, what: string, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.logger.error(`${what} failed: ${stackOf(err)}`)), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.config.abortTimedOutTransactionsIntervalMs, 'aborting timed-out transactions', () => this.abortTimedOutTransactions());
    every(this.config.removeExpiredTransactionalIdsIntervalMs, 'removing expired transactional ids', () => this.removeExpiredTransactionalIds());
  }

  partitionFor(transactionalId: string): number {
    return transactionStatePartitionFor(transactionalId, this.opts.numPartitions());
  }

  /** null when this broker coordinates the id now, else the error to answer. */
  private check(transactionalId: string): number | null {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    const p = this.partitions.get(this.partitionFor(transactionalId));
    if (p === undefined) return ErrorCode.NOT_COORDINATOR;
    if (p.status === 'loading') return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    return null;
  }

  private coordinatorEpochOf(transactionalId: string): number {
    return this.partitions.get(this.partitionFor(transactionalId))?.coordinatorEpoch ?? -1;
  }

  /** True while `meta` is still this coordinator's entry for its id, at `coordinatorEpoch`. */
  private isCurrent(meta: TransactionMetadata, coordinatorEpoch: number): boolean {
    if (this.closed || this.txns.get(meta.transactionalId) !== meta) return false;
    const p = this.partitions.get(this.partitionFor(meta.transactionalId));
    return p !== undefined && p.status === 'loaded' && p.coordinatorEpoch === coordinatorEpoch;
  }

  /** The metadata of a transactional id (tests, tools). */
  metadata(transactionalId: string): TransactionMetadata | undefined {
    return this.txns.get(transactionalId);
  }

  // ------------------------------------------------------------------------------------------
  // Partition ownership (level-triggered: called after every reconciliation of __transaction_state)

  /**
   * Makes the coordinator own exactly these partitions, each at its coordinator epoch (the partition's leader epoch);
   * resolves once new ones are loaded. A partition whose epoch changed is reloaded.
   */
  async setOwnedPartitions(owned: ReadonlyMap<number, number>): Promise<void> {
    if (this.closed) return;
    for (const [p, st] of [...this.partitions]) {
      const epoch = owned.get(p);
      if (epoch === undefined || epoch !== st.coordinatorEpoch) this.unload(p);
    }
    const pending: Promise<void>[] = [];
    for (const [p, epoch] of owned) {
      if (this.partitions.has(p)) {
        const l = this.loads.get(p);
        if (l !== undefined) pending.push(l);
        continue;
      }
      const st: OwnedPartition = { status: 'loading', coordinatorEpoch: epoch };
      this.partitions.set(p, st);
      const l = this.load(p, st)
        .catch((err: unknown) => {
          this.logger.error(`loading ${TRANSACTION_STATE_TOPIC}-${p} failed: ${stackOf(err)}`);
          if (this.partitions.get(p) === st) this.partitions.delete(p);
        })
        .finally(() => {
          if (this.loads.get(p) === l) this.loads.delete(p);
        });
      this.loads.set(p, l);
      pending.push(l);
    }
    await Promise.all(pending);
  }

  ownedPartitions(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  private unload(partition: number): void {
    this.partitions.delete(partition);
    for (const id of [...this.txns.keys()]) if (this.partitionFor(id) === partition) this.txns.delete(id);
    this.logger.info(`transaction coordinator: unloaded ${TRANSACTION_STATE_TOPIC}-${partition}`);
  }

  /** Replays a partition, then resumes the transactions it leaves half-completed. */
  private async load(partition: number, st: OwnedPartition): Promise<void> {
    const loaded = new Map<string, TxnTransit>();
    let unreadable = 0;
    let position = 0;
    for (;;) {
      // Up to the log end, as Kafka's coordinators load: a new leader's high watermark may still lag.
      const r = await this.opts.log.fetchPartition(TRANSACTION_STATE_TOPIC, partition, position, this.config.loadBufferSize, true, false, true);
      if (r.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && position < r.logStartOffset) {
        position = r.logStartOffset;
        continue;
      }
      if (r.errorCode !== ErrorCode.NONE) throw new KafkaError(r.errorCode, `reading ${TRANSACTION_STATE_TOPIC}-${partition} at ${position}`);
      if (!r.records || r.records.length === 0) break;
      const before = position;
      for (const batch of decodeRecordBatches(r.records)) {
        if (batch.lastOffset < position) continue;
        position = batch.lastOffset + 1;
        if (batch.isControl) continue;
        for (const rec of batch.records) {
          // A record that is not Kafka's (something else wrote to the topic) is skipped, not fatal for the partition.
          try {
            const id = rec.key === null ? null : decodeTransactionLogKey(rec.key);
            if (id === null) {
              unreadable++;
              continue;
            }
            if (rec.value === null) loaded.delete(id);
            else loaded.set(id, decodeTransactionLogValue(rec.value));
          } catch {
            unreadable++;
          }
        }
      }
      if (position === before) break;
    }
    if (this.partitions.get(partition) !== st) return; // unloaded meanwhile
    if (unreadable > 0) this.logger.warn(`transaction coordinator: skipped ${unreadable} unreadable records in ${TRANSACTION_STATE_TOPIC}-${partition}`);
    const resume: TransactionMetadata[] = [];
    for (const [id, t] of loaded) {
      if (this.partitionFor(id) !== partition || t.state === 'Dead') continue;
      const meta = TransactionMetadata.fromTransit(id, t);
      this.txns.set(id, meta);
      if (t.state === 'PrepareCommit' || t.state === 'PrepareAbort') resume.push(meta);
    }
    st.status = 'loaded';
    this.logger.info(
      `transaction coordinator: loaded ${loaded.size} transactional ids from ${TRANSACTION_STATE_TOPIC}-${partition} at coordinator epoch ${st.coordinatorEpoch}` +
        (resume.length > 0 ? `; completing ${resume.length} transactions in PrepareCommit/PrepareAbort` : ''),
    );
    for (const meta of resume) this.sendMarkers(meta, st.coordinatorEpoch, meta.state === 'PrepareCommit');
  }

  // ------------------------------------------------------------------------------------------
  // Writing to __transaction_state

  /**
   * Writes `transit` for `meta` (pending already) and applies it once written; returns the error for the client. The
   * pending state is dropped on failure, so the client's retry prepares it again.
   */
  private async appendToLog(meta: TransactionMetadata, transit: TxnTransit, coordinatorEpoch: number): Promise<number> {
    const id = meta.transactionalId;
    let code: number;
    try {
      const value = transit.state === 'Dead' ? null : transactionLogValue(transit);
      const batch = buildRecordBatch([{ key: transactionLogKey(id), value, timestamp: this.time() }]);
      const result = await this.opts.log.appendRecords(TRANSACTION_STATE_TOPIC, this.partitionFor(id), batch, -1, this.config.writeTimeoutMs);
      code = appendError(result.errorCode);
      if (code !== ErrorCode.NONE) {
        this.logger.warn(`transaction ${id}: writing ${transit.state} to ${TRANSACTION_STATE_TOPIC} failed: ${result.errorMessage ?? ''} (error ${result.errorCode})`);
      }
    } catch (err) {
      this.logger.error(`transaction ${id}: writing ${transit.state} to ${TRANSACTION_STATE_TOPIC} failed: ${stackOf(err)}`);
      code = err instanceof KafkaError ? appendError(err.code) : ErrorCode.UNKNOWN_SERVER_ERROR;
    }
    if (code === ErrorCode.NONE && !this.isCurrent(meta, coordinatorEpoch)) code = ErrorCode.NOT_COORDINATOR;
    if (code !== ErrorCode.NONE) {
      if (meta.pendingState === transit.state) meta.pendingState = null;
      return code;
    }
    meta.completeTransitionTo(transit);
    return ErrorCode.NONE;
  }

  // ------------------------------------------------------------------------------------------
  // InitProducerId

  async initProducerId(transactionalId: string, transactionTimeoutMs: number, expected: { producerId: number; producerEpoch: number } | null): Promise<InitProducerIdResult> {
    const fail = (errorCode: number): InitProducerIdResult => ({ errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH });
    if (transactionalId === '') return fail(ErrorCode.INVALID_REQUEST);
    if (transactionTimeoutMs <= 0 || transactionTimeoutMs > this.config.transactionMaxTimeoutMs) return fail(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    let spareProducerId: number | null = null;
    for (;;) {
      const err = this.check(transactionalId);
      if (err !== null) return fail(err);
      let meta = this.txns.get(transactionalId);
      const needsId = meta === undefined || (meta.isProducerEpochExhausted && (expected === null || expected.producerEpoch === meta.producerEpoch));
      if (needsId && spareProducerId === null) {
        try {
          spareProducerId = await this.opts.producerIds.generateProducerId();
        } catch (e) {
          return fail(e instanceof KafkaError ? e.code : ErrorCode.COORDINATOR_NOT_AVAILABLE);
        }
        continue; // anything may have changed while waiting for the id: decide again
      }
      if (meta === undefined) {
        meta = new TransactionMetadata(transactionalId, spareProducerId!, NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_PRODUCER_EPOCH, transactionTimeoutMs, 'Empty', [], -1, this.time());
        spareProducerId = null;
        this.txns.set(transactionalId, meta);
      }
      const coordinatorEpoch = this.coordinatorEpochOf(transactionalId);
      if (meta.pendingTransitionInProgress) return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
      if (expected !== null && !this.isValidProducerId(meta, expected)) return fail(ErrorCode.PRODUCER_FENCED);
      const now = this.time();
      let transit: TxnTransit;
      switch (meta.state) {
        case 'PrepareAbort':
        case 'PrepareCommit':
          return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
        case 'Empty':
        case 'CompleteAbort':
        case 'CompleteCommit': {
          if (meta.isProducerEpochExhausted && (expected === null || expected.producerEpoch === meta.producerEpoch)) {
            if (spareProducerId === null) continue;
            transit = meta.prepareProducerIdRotation(spareProducerId, transactionTimeoutMs, now, expected !== null);
            spareProducerId = null;
          } else {
            const r = meta.prepareIncrementProducerEpoch(transactionTimeoutMs, expected?.producerEpoch ?? null, now);
            if (r === 'PRODUCER_FENCED') return fail(ErrorCode.PRODUCER_FENCED);
            transit = r;
          }
          break;
        }
        case 'Ongoing': {
          // A new instance of the producer: abort the previous one's transaction with a bumped epoch (fencing it), and
          // make this one retry (Kafka answers CONCURRENT_TRANSACTIONS; the retry bumps the epoch once more).
          const fence = meta.prepareFenceProducerEpoch();
          const code = await this.endTransaction(transactionalId, fence.producerId, fence.producerEpoch, false, false);
          return fail(code === ErrorCode.NONE ? ErrorCode.CONCURRENT_TRANSACTIONS : code);
        }
        default:
          return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
      }
      const code = await this.appendToLog(meta, transit, coordinatorEpoch);
      if (code !== ErrorCode.NONE) return fail(code);
      this.logger.debug(`transaction ${transactionalId}: producer id ${meta.producerId} epoch ${meta.producerEpoch}`);
      return { errorCode: ErrorCode.NONE, producerId: meta.producerId, producerEpoch: meta.producerEpoch };
    }
  }

  /** KIP-360: a producer presenting its id/epoch (InitProducerId v3+) must present this id's (Kafka's isValidProducerId). */
  private isValidProducerId(meta: TransactionMetadata, expected: { producerId: number; producerEpoch: number }): boolean {
    return (
      meta.producerEpoch === NO_PRODUCER_EPOCH ||
      expected.producerId === meta.producerId ||
      (expected.producerId === meta.lastProducerId && isEpochExhausted(expected.producerEpoch))
    );
  }

  // ------------------------------------------------------------------------------------------
  // AddPartitionsToTxn, AddOffsetsToTxn

  /** Adds partitions to the producer's transaction; one error code for all of them. */
  async addPartitions(transactionalId: string, producerId: number, producerEpoch: number, partitions: readonly TopicPartition[], verifyOnly = false): Promise<number> {
    if (transactionalId === '') return ErrorCode.INVALID_REQUEST;
    const err = this.check(transactionalId);
    if (err !== null) return err;
    const meta = this.txns.get(transactionalId);
    if (meta === undefined || meta.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (meta.producerEpoch !== producerEpoch) return ErrorCode.PRODUCER_FENCED;
    if (meta.pendingTransitionInProgress) return ErrorCode.CONCURRENT_TRANSACTIONS;
    if (meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort') return ErrorCode.CONCURRENT_TRANSACTIONS;
    const allIn = partitions.every((tp) => meta.partitions.has(`${tp.topic}\u0000${tp.partition}`));
    if (verifyOnly) return meta.state === 'Ongoing' && allIn ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
    if (meta.state === 'Ongoing' && allIn) return ErrorCode.NONE;
    let transit: TxnTransit;
    try {
      transit = meta.prepareAddPartitions(partitions, this.time());
    } catch (e) {
      if (e instanceof IllegalTxnTransitionError) return ErrorCode.INVALID_TXN_STATE;
      throw e;
    }
    return this.appendToLog(meta, transit, this.coordinatorEpochOf(transactionalId));
  }

  // ------------------------------------------------------------------------------------------
  // EndTxn

  /**
   * Commits or aborts (Kafka's endTransaction). `fromClient` false: the coordinator's own abort of a fenced or
   * timed-out transaction, whose epoch is the bumped one. Resolves once PrepareCommit/PrepareAbort is written; the
   * markers and the Complete state follow in the background.
   */
  async endTransaction(transactionalId: string, producerId: number, producerEpoch: number, commit: boolean, fromClient = true): Promise<number> {
    if (transactionalId === '') return ErrorCode.INVALID_REQUEST;
    const err = this.check(transactionalId);
    const meta = this.txns.get(transactionalId);
    const dropFence = (): void => {
      if (!fromClient && meta?.pendingState === 'PrepareEpochFence') meta.pendingState = null;
    };
    if (err !== null) {
      dropFence();
      return err;
    }
    if (meta === undefined || meta.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    const coordinatorEpoch = this.coordinatorEpochOf(transactionalId);
    if ((fromClient && producerEpoch !== meta.producerEpoch) || producerEpoch < meta.producerEpoch) {
      dropFence();
      return ErrorCode.PRODUCER_FENCED;
    }
    if (meta.pendingTransitionInProgress && meta.pendingState !== 'PrepareEpochFence') return ErrorCode.CONCURRENT_TRANSACTIONS;
    let isEpochFence = false;
    let transit: TxnTransit;
    switch (meta.state) {
      case 'Ongoing': {
        const next = commit ? 'PrepareCommit' : 'PrepareAbort';
        if (next === 'PrepareAbort' && meta.pendingState === 'PrepareEpochFence') {
          // The fence's bumped epoch becomes the transaction's: the abort markers carry it, which fences the producer.
          isEpochFence = true;
          meta.pendingState = null;
          meta.producerEpoch = producerEpoch;
          meta.lastProducerEpoch = NO_PRODUCER_EPOCH;
        } else if (meta.pendingTransitionInProgress) {
          return ErrorCode.CONCURRENT_TRANSACTIONS;
        }
        transit = meta.prepareAbortOrCommit(next, this.time());
        break;
      }
      case 'CompleteCommit':
        dropFence();
        return commit ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
      case 'CompleteAbort':
        dropFence();
        return commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE;
      case 'PrepareCommit':
        dropFence();
        return commit ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE;
      case 'PrepareAbort':
        dropFence();
        return commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.CONCURRENT_TRANSACTIONS;
      default:
        dropFence();
        return ErrorCode.INVALID_TXN_STATE;
    }
    const code = await this.appendToLog(meta, transit, coordinatorEpoch);
    if (code !== ErrorCode.NONE) {
      if (isEpochFence && this.isCurrent(meta, coordinatorEpoch)) meta.hasFailedEpochFence = true;
      return code;
    }
    this.logger.debug(`transaction ${transactionalId}: ${transit.state} (producer ${meta.producerId}, epoch ${meta.producerEpoch})`);
    if (this.opts.beforeSendingMarkers?.(transactionalId, commit) === true) {
      this.logger.warn(`transaction coordinator halted by a test fault after writing ${transit.state} for ${transactionalId}, before its markers`);
      this.close();
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    this.sendMarkers(meta, coordinatorEpoch, commit);
    return ErrorCode.NONE;
  }

  /** Writes the markers of `meta`'s transaction (PrepareCommit/PrepareAbort), then its Complete state. */
  private sendMarkers(meta: TransactionMetadata, coordinatorEpoch: number, commit: boolean): void {
    const complete = meta.prepareComplete(this.time());
    this.opts.markers.add({
      transactionalId: meta.transactionalId,
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
      coordinatorEpoch,
      commit,
      partitions: meta.partitionList(),
      isCurrent: () => this.isCurrent(meta, coordinatorEpoch),
      onComplete: () => void this.writeComplete(meta, complete, coordinatorEpoch),
    });
  }

  /** CompleteCommit/CompleteAbort after the markers; retried while __transaction_state is unavailable. */
  private async writeComplete(meta: TransactionMetadata, complete: TxnTransit, coordinatorEpoch: number): Promise<void> {
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, 1000)) {
      if (!this.isCurrent(meta, coordinatorEpoch)) return;
      meta.pendingState = complete.state;
      const code = await this.appendToLog(meta, complete, coordinatorEpoch);
      if (code === ErrorCode.NONE) {
        this.logger.debug(`transaction ${meta.transactionalId}: ${complete.state}`);
        return;
      }
      if (code === ErrorCode.NOT_COORDINATOR) return; // the new coordinator finishes it
      await new Promise((r) => setTimeout(r, backoff).unref());
    }
  }

  // ------------------------------------------------------------------------------------------
  // Timeouts and expiry

  /** Aborts, with a bumped epoch, every transaction open longer than its timeout (Kafka's abortTimedOutTransactions). */
  async abortTimedOutTransactions(): Promise<number> {
    const now = this.time();
    const due: TransactionMetadata[] = [];
    for (const meta of this.txns.values()) {
      if (meta.pendingTransitionInProgress || meta.state !== 'Ongoing') continue;
      if (this.check(meta.transactionalId) !== null) continue;
      if (meta.txnStartTimestamp + meta.txnTimeoutMs < now) due.push(meta);
    }
    let aborted = 0;
    for (const meta of due) {
      if (meta.pendingTransitionInProgress || meta.state !== 'Ongoing') continue;
      this.logger.info(
        `transaction ${meta.transactionalId} (producer ${meta.producerId}, epoch ${meta.producerEpoch}) has been open for ${now - meta.txnStartTimestamp} ms, longer than its timeout of ${meta.txnTimeoutMs} ms: aborting it`,
      );
      const fence = meta.prepareFenceProducerEpoch();
      const code = await this.endTransaction(meta.transactionalId, fence.producerId, fence.producerEpoch, false, false);
      if (code === ErrorCode.NONE) aborted++;
      else this.logger.warn(`aborting timed-out transaction ${meta.transactionalId} failed with error ${code}; trying again later`);
    }
    return aborted;
  }

  /** Removes ids idle past transactional.id.expiration.ms outside a transaction (Kafka's removeExpiredTransactionalIds). */
  async removeExpiredTransactionalIds(): Promise<number> {
    const now = this.time();
    let removed = 0;
    for (const meta of [...this.txns.values()]) {
      if (meta.pendingTransitionInProgress || this.check(meta.transactionalId) !== null) continue;
      if (meta.state !== 'Empty' && meta.state !== 'CompleteCommit' && meta.state !== 'CompleteAbort') continue;
      if (meta.txnLastUpdateTimestamp + this.config.transactionalIdExpirationMs > now) continue;
      const coordinatorEpoch = this.coordinatorEpochOf(meta.transactionalId);
      const code = await this.appendToLog(meta, meta.prepareDead(), coordinatorEpoch);
      if (code === ErrorCode.NONE && this.txns.get(meta.transactionalId) === meta) {
        this.txns.delete(meta.transactionalId);
        removed++;
      }
    }
    if (removed > 0) this.logger.info(`transaction coordinator: removed ${removed} expired transactional ids`);
    return removed;
  }

  // ------------------------------------------------------------------------------------------
  // DescribeTransactions, ListTransactions

  describe(transactionalId: string): TransactionDescription {
    const d = (errorCode: number, meta?: TransactionMetadata): TransactionDescription => ({
      errorCode,
      transactionalId,
      state: meta?.state ?? '',
      timeoutMs: meta?.txnTimeoutMs ?? 0,
      startTimeMs: meta?.txnStartTimestamp ?? -1,
      producerId: meta?.producerId ?? -1,
      producerEpoch: meta?.producerEpoch ?? -1,
      partitions: meta?.partitionList() ?? [],
    });
    const err = this.check(transactionalId);
    if (err !== null) return d(err);
    const meta = this.txns.get(transactionalId);
    if (meta === undefined || meta.state === 'Dead') return d(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    return d(ErrorCode.NONE, meta);
  }

  /** The transactions this coordinator owns, filtered as ListTransactions asks (Kafka's listTransactionStates). */
  list(stateFilters: readonly string[], producerIdFilters: readonly number[], durationFilterMs = -1): { errorCode: number; unknownStateFilters: string[]; transactions: TransactionListing[] } {
    const known = new Set<string>(TXN_STATES);
    const unknownStateFilters = stateFilters.filter((s) => !known.has(s));
    if ([...this.partitions.values()].some((p) => p.status === 'loading')) {
      return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, unknownStateFilters, transactions: [] };
    }
    const states = new Set(stateFilters.filter((s) => known.has(s)));
    const pids = new Set(producerIdFilters);
    const now = this.time();
    const transactions: TransactionListing[] = [];
    for (const meta of this.txns.values()) {
      if (meta.state === 'Dead') continue;
      if (stateFilters.length > 0 && !states.has(meta.state)) continue;
      if (pids.size > 0 && !pids.has(meta.producerId)) continue;
      // as Kafka's listTransactionStates: the time since the (last) transaction started, whatever the state
      if (durationFilterMs >= 0 && now - meta.txnStartTimestamp <= durationFilterMs) continue;
      transactions.push({ transactionalId: meta.transactionalId, producerId: meta.producerId, state: meta.state });
    }
    return { errorCode: ErrorCode.NONE, unknownStateFilters, transactions };
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    this.txns.clear();
    this.partitions.clear();
  }
}
