/**
 * Writes the COMMIT or ABORT markers of a transaction to every partition in it (Kafka's TransactionMarkerChannelManager):
 * the partitions are grouped by their leader (from the metadata cache) and each leader gets a WriteTxnMarkers request
 * (key 27) over an inter-broker connection, the same client connection the replica fetchers and the controller channel
 * use — also when the leader is this broker, as Kafka does. Per partition:
 *
 * - NONE: done. A partition whose topic was deleted is dropped (nothing left to mark).
 * - NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT,
 *   KAFKA_STORAGE_ERROR, a lost connection, no leader: retried (the leader is looked up again), backing off up to 1 s.
 * - INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED: this coordinator was superseded (a newer epoch wrote
 *   there); the job is dropped, the newer coordinator completes the transaction.
 *
 * A job keeps going until every partition has its marker, or `isCurrent()` says the coordinator no longer owns the
 * transaction at that coordinator epoch (the __transaction_state partition moved: the new leader reloads it and sends
 * the markers again). Then `onComplete` writes CompleteCommit / CompleteAbort.
 */
import { InterBrokerConnections, type PeerRequestOptions } from '../cluster/inter-broker-connections.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { WriteTxnMarkersRequestInput, WriteTxnMarkersResponse } from '../protocol/generated/write-txn-markers.js';
import { ErrorCode, errorName } from '../protocol/errors.js';
import { tpKey, type TopicPartition } from './transaction-metadata.js';

export interface MarkerJob {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
  commit: boolean;
  partitions: TopicPartition[];
  /** False once the coordinator lost the transaction (unloaded, moved, another epoch): the job stops. */
  isCurrent(): boolean;
  /** Every marker is written. */
  onComplete(): void;
}

export interface TxnMarkerChannelOptions extends PeerRequestOptions {
  /** Per-request timeout of WriteTxnMarkers (Kafka: request.timeout.ms). */
  requestTimeoutMs?: number;
  /** The first retry's backoff; doubled up to maxBackoffMs. */
  retryBackoffMs?: number;
  maxBackoffMs?: number;
}

const RETRIABLE = new Set<number>([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
]);
const FENCED = new Set<number>([ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.TRANSACTION_COORDINATOR_FENCED, ErrorCode.PRODUCER_FENCED]);

export class TxnMarkerChannel {
  private readonly connections: InterBrokerConnections;
  private readonly sleeping = new Map<NodeJS.Timeout, () => void>();
  private closed = false;
  /** Jobs running now (tests and shutdown). */
  private readonly running = new Set<MarkerJob>();

  constructor(private readonly opts: TxnMarkerChannelOptions) {
    this.connections = new InterBrokerConnections({
      metadata: opts.metadata,
      clientId: `broker-${opts.brokerId}-txn-marker-channel`,
      ...(opts.listenerName !== undefined ? { listenerName: opts.listenerName } : {}),
      ...(opts.security ? { security: opts.security } : {}),
    });
  }

  get pendingJobs(): number {
    return this.running.size;
  }

  /** Starts writing a transaction's markers (in the background; failures are retried or end the job, never thrown). */
  add(job: MarkerJob): void {
    if (this.closed) return;
    this.running.add(job);
    void this.run(job)
      .catch((err: unknown) => this.opts.logger.error(`writing the markers of transaction ${job.transactionalId} failed: ${(err as Error).stack ?? err}`))
      .finally(() => this.running.delete(job));
  }

  private async run(job: MarkerJob): Promise<void> {
    const remaining = new Map<string, TopicPartition>(job.partitions.map((tp) => [tpKey(tp.topic, tp.partition), tp]));
    let backoff = this.opts.retryBackoffMs ?? 100;
    for (;;) {
      if (this.closed || !job.isCurrent()) return;
      const byLeader = new Map<number, TopicPartition[]>();
      for (const [key, tp] of remaining) {
        const topic = this.opts.metadata.topic(tp.topic);
        if (topic === undefined || !topic.partitions.some((p) => p.partition === tp.partition)) {
          remaining.delete(key); // deleted: nothing to mark any more
          continue;
        }
        const leader = this.opts.metadata.partition(tp.topic, tp.partition)?.leader ?? -1;
        if (leader < 0 || !this.opts.metadata.brokers.has(leader)) continue; // no leader now: the next round
        let list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, (list = []));
        list.push(tp);
      }
      if (remaining.size === 0) break;
      const outcomes = await Promise.all([...byLeader].map(([leader, tps]) => this.send(leader, job, tps)));
      let fenced = false;
      for (const outcome of outcomes) {
        for (const [key, code] of outcome) {
          if (code === ErrorCode.NONE) remaining.delete(key);
          else if (FENCED.has(code)) fenced = true;
          else if (!RETRIABLE.has(code)) {
            // Kafka treats other codes as a bug of the coordinator; kfk logs it and keeps retrying: a marker is never skipped.
            this.opts.logger.warn(`transaction ${job.transactionalId}: marker for ${key.replace('\u0000', '-')} failed with ${errorName(code)}; retrying`);
          }
        }
      }
      if (fenced) {
        this.opts.logger.info(`transaction ${job.transactionalId} (producer ${job.producerId}, epoch ${job.producerEpoch}): a newer coordinator or producer epoch was seen writing markers; leaving the transaction to it`);
        return;
      }
      if (remaining.size === 0) break;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 1000);
    }
    if (this.closed || !job.isCurrent()) return;
    job.onComplete();
  }

  /** One WriteTxnMarkers request to `leader` for these partitions; a failed request counts as retriable for all. */
  private async send(leader: number, job: MarkerJob, tps: TopicPartition[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const byTopic = new Map<string, number[]>();
    for (const tp of tps) {
      out.set(tpKey(tp.topic, tp.partition), ErrorCode.REQUEST_TIMED_OUT);
      let ids = byTopic.get(tp.topic);
      if (ids === undefined) byTopic.set(tp.topic, (ids = []));
      ids.push(tp.partition);
    }
    const request: WriteTxnMarkersRequestInput = {
      markers: [
        {
          producerId: job.producerId,
          producerEpoch: job.producerEpoch,
          transactionResult: job.commit,
          topics: [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
          coordinatorEpoch: job.coordinatorEpoch,
        },
      ],
    };
    try {
      const conn = await this.connections.get(leader);
      const response = await conn.request<WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, request, { timeoutMs: this.opts.requestTimeoutMs ?? 30_000 });
      for (const m of response.markers) {
        for (const t of m.topics) for (const p of t.partitions) out.set(tpKey(t.name, p.partitionIndex), p.errorCode);
      }
    } catch (err) {
      this.opts.logger.debug(`WriteTxnMarkers to broker ${leader} failed: ${(err as Error).message}`);
      this.connections.drop(leader);
    }
    return out;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeping.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.sleeping.set(t, resolve);
    });
  }

  /** Stops every job (at its next step) and closes the connections. */
  close(): void {
    this.closed = true;
    for (const [t, wake] of this.sleeping) {
      clearTimeout(t);
      wake(); // the job sees `closed` and ends
    }
    this.sleeping.clear();
    this.connections.close();
  }
}
