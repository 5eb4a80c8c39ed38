/**
 * The producer's side of Kafka's transaction protocol (the Java client's TransactionManager, reduced to what the kfk
 * producer needs): find the transaction coordinator (FindCoordinator key type 1), InitProducerId with the
 * transactional id, AddPartitionsToTxn before a partition's first batch of a transaction, AddOffsetsToTxn and
 * TxnOffsetCommit (to the group's coordinator) for consumed offsets, and EndTxn.
 *
 * Every request is retried while the answer is retriable (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR — the coordinator
 * is looked up again —, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, lost connections) within
 * `maxBlockMs`. PRODUCER_FENCED, INVALID_PRODUCER_EPOCH and TRANSACTIONAL_ID_AUTHORIZATION_FAILED are fatal: the
 * producer cannot go on, as in the Java client.
 */
import { ClusterClient, backoffMs, kafkaError, sleep } from './cluster-client.js';
import { ConnectionError, type BrokerConnection } from './connection.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { FindCoordinatorResponse } from '../protocol/generated/find-coordinator.js';
import type { InitProducerIdResponse } from '../protocol/generated/init-producer-id.js';
import type { AddPartitionsToTxnResponse } from '../protocol/generated/add-partitions-to-txn.js';
import type { AddOffsetsToTxnResponse } from '../protocol/generated/add-offsets-to-txn.js';
import type { EndTxnResponse } from '../protocol/generated/end-txn.js';
import type { TxnOffsetCommitResponse } from '../protocol/generated/txn-offset-commit.js';

/** The consumer group whose offsets a transaction commits (Java's ConsumerGroupMetadata). */
export interface ConsumerGroupMetadata {
  groupId: string;
  /** -1 (the default) when the committer is not a member of the group. */
  generationId?: number;
  memberId?: string;
  groupInstanceId?: string | null;
}

export interface TransactionalOffset {
  topic: string;
  partition: number;
  /** The next offset to consume (the last processed + 1). */
  offset: number;
  leaderEpoch?: number;
  metadata?: string | null;
}

const RETRIABLE = new Set<number>([
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.CONCURRENT_TRANSACTIONS,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
]);

export const FATAL_TRANSACTION_ERRORS: ReadonlySet<number> = new Set<number>([
  ErrorCode.PRODUCER_FENCED,
  ErrorCode.INVALID_PRODUCER_EPOCH,
  ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  ErrorCode.INVALID_PRODUCER_ID_MAPPING,
]);

const COORDINATOR_MOVED = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE]);

export class TransactionManager {
  producerId = -1;
  producerEpoch = -1;
  private coordinator: { nodeId: number; host: string; port: number } | null = null;

  constructor(
    private readonly cluster: ClusterClient,
    readonly transactionalId: string,
    readonly transactionTimeoutMs: number,
    private readonly maxBlockMs: number,
    private readonly retryBackoffMs: number,
    private readonly retryBackoffMaxMs: number,
  ) {}

  /** Runs `fn` until it succeeds, or fails with an error that is not retriable, or maxBlockMs passes. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.maxBlockMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = err instanceof KafkaError ? err.code : -1;
        const retriable = err instanceof ConnectionError ? err.retriable : RETRIABLE.has(code);
        if (!retriable || Date.now() >= deadline) {
          if (retriable) throw new KafkaError(ErrorCode.REQUEST_TIMED_OUT, `${what}: no success within ${this.maxBlockMs} ms (last: ${(err as Error).message})`);
          throw err;
        }
        if (err instanceof ConnectionError || COORDINATOR_MOVED.has(code)) this.coordinator = null;
        await sleep(backoffMs(attempt, this.retryBackoffMs, this.retryBackoffMaxMs));
      }
    }
  }

  private async findCoordinator(key: string, keyType: number): Promise<{ nodeId: number; host: string; port: number }> {
    const conn = await this.cluster.anyConnection();
    const v = conn.versionFor(ApiKey.FindCoordinator);
    const resp = await conn.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, { key, keyType, coordinatorKeys: [key] });
    const c = v >= 4 ? resp.coordinators[0] : resp;
    if (!c) throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (c.errorCode !== ErrorCode.NONE) throw kafkaError(c.errorCode, c.errorMessage, `FindCoordinator for '${key}'`);
    return { nodeId: c.nodeId, host: c.host, port: c.port };
  }

  private async coordinatorConnection(): Promise<BrokerConnection> {
    this.coordinator ??= await this.findCoordinator(this.transactionalId, 1);
    return this.cluster.connectTo(this.coordinator.host, this.coordinator.port);
  }

  /** InitProducerId: this producer's id and (bumped) epoch; fences any older instance of the transactional id. */
  async initProducerId(): Promise<void> {
    await this.retrying('InitProducerId', async () => {
      const conn = await this.coordinatorConnection();
      const r = await conn.request<InitProducerIdResponse>(ApiKey.InitProducerId, {
        transactionalId: this.transactionalId,
        transactionTimeoutMs: this.transactionTimeoutMs,
        producerId: -1,
        producerEpoch: -1,
      });
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `InitProducerId for transactional id '${this.transactionalId}'`);
      this.producerId = r.producerId;
      this.producerEpoch = r.producerEpoch;
    });
  }

  /** AddPartitionsToTxn (v0-3): the partitions join the open transaction. */
  async addPartitions(partitions: readonly { topic: string; partition: number }[]): Promise<void> {
    const byTopic = new Map<string, number[]>();
    for (const tp of partitions) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    await this.retrying('AddPartitionsToTxn', async () => {
      const conn = await this.coordinatorConnection();
      const r = await conn.request<AddPartitionsToTxnResponse>(
        ApiKey.AddPartitionsToTxn,
        {
          v3AndBelowTransactionalId: this.transactionalId,
          v3AndBelowProducerId: this.producerId,
          v3AndBelowProducerEpoch: this.producerEpoch,
          v3AndBelowTopics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps })),
        },
        { version: Math.min(3, conn.versionFor(ApiKey.AddPartitionsToTxn)) },
      );
      for (const t of r.resultsByTopicV3AndBelow) {
        for (const p of t.resultsByPartition) {
          if (p.partitionErrorCode !== ErrorCode.NONE) throw kafkaError(p.partitionErrorCode, null, `AddPartitionsToTxn ${t.name}-${p.partitionIndex}`);
        }
      }
    });
  }

  /** AddOffsetsToTxn then TxnOffsetCommit: the offsets are committed with the transaction. */
  async sendOffsets(group: ConsumerGroupMetadata, offsets: readonly TransactionalOffset[]): Promise<void> {
    await this.retrying('AddOffsetsToTxn', async () => {
      const conn = await this.coordinatorConnection();
      const r = await conn.request<AddOffsetsToTxnResponse>(ApiKey.AddOffsetsToTxn, {
        transactionalId: this.transactionalId,
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
        groupId: group.groupId,
      });
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `AddOffsetsToTxn for group '${group.groupId}'`);
    });
    const byTopic = new Map<string, TransactionalOffset[]>();
    for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o]);
    let groupCoordinator: { nodeId: number; host: string; port: number } | null = null;
    await this.retrying('TxnOffsetCommit', async () => {
      try {
        groupCoordinator ??= await this.findCoordinator(group.groupId, 0);
        const conn = await this.cluster.connectTo(groupCoordinator.host, groupCoordinator.port);
        const r = await conn.request<TxnOffsetCommitResponse>(ApiKey.TxnOffsetCommit, {
          transactionalId: this.transactionalId,
          groupId: group.groupId,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          generationId: group.generationId ?? -1,
          memberId: group.memberId ?? '',
          groupInstanceId: group.groupInstanceId ?? null,
          topics: [...byTopic].map(([name, os]) => ({
            name,
            partitions: os.map((o) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: o.leaderEpoch ?? -1, committedMetadata: o.metadata ?? '' })),
          })),
        });
        for (const t of r.topics) {
          for (const p of t.partitions) {
            if (p.errorCode !== ErrorCode.NONE) throw kafkaError(p.errorCode, null, `TxnOffsetCommit ${t.name}-${p.partitionIndex} for group '${group.groupId}'`);
          }
        }
      } catch (err) {
        if (err instanceof ConnectionError || (err instanceof KafkaError && COORDINATOR_MOVED.has(err.code))) groupCoordinator = null;
        throw err;
      }
    });
  }

  /** EndTxn: commit or abort. */
  async endTxn(commit: boolean): Promise<void> {
    await this.retrying('EndTxn', async () => {
      const conn = await this.coordinatorConnection();
      const r = await conn.request<EndTxnResponse>(ApiKey.EndTxn, {
        transactionalId: this.transactionalId,
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
        committed: commit,
      });
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `EndTxn (${commit ? 'commit' : 'abort'})`);
    });
  }
}
