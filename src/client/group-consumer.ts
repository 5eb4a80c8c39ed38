/**
 * The group consumer (classic consumer group protocol, eager rebalancing): subscribes to topics as a
 * member of a group, and fetches through the assign-mode Consumer (consumer.ts) the partitions the group
 * leader gave it.
 *
 * Membership: FindCoordinator (retried on COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR) → JoinGroup
 * (MEMBER_ID_REQUIRED answered by joining again with the id the coordinator handed out, KIP-394) → the
 * leader computes the assignment (range or roundrobin) from every member's subscription → SyncGroup →
 * OffsetFetch gives the starting positions (none committed: auto.offset.reset). A heartbeat loop runs
 * every heartbeat.interval.ms on its own connection to the coordinator; REBALANCE_IN_PROGRESS,
 * ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID make the next poll() rejoin, committing what was consumed first
 * (commit on revoke). Offsets are committed every auto.commit.interval.ms from poll(), on revoke and on
 * close(); close() then sends LeaveGroup.
 *
 * The committed position of a partition is the offset after the last record handed to the application,
 * so records fetched but not yet returned (poll's maxRecords) are not committed.
 */
import { ClusterClient, backoffMs, sleep, clusterFrom } from './cluster-client.js';
import { BrokerConnection, ConnectionError } from './connection.js';
import { Consumer, type ConsumerOptions, type ConsumerRecord, type OffsetSpec } from './consumer.js';
import type { RecordView } from './record-view.js';
import { assignorByName, decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription, type Assignor, type TopicPartition } from './assignors.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { FindCoordinatorResponse } from '../protocol/generated/find-coordinator.js';
import type { JoinGroupResponse } from '../protocol/generated/join-group.js';
import type { SyncGroupResponse } from '../protocol/generated/sync-group.js';
import type { HeartbeatResponse } from '../protocol/generated/heartbeat.js';
import type { OffsetCommitResponse } from '../protocol/generated/offset-commit.js';
import type { OffsetFetchResponse } from '../protocol/generated/offset-fetch.js';

export const CONSUMER_PROTOCOL_TYPE = 'consumer';

export interface GroupConsumerOptions extends Omit<ConsumerOptions, 'autoOffsetReset'> {
  groupId: string;
  /** Topics to subscribe to. */
  topics: readonly string[];
  /** Static membership (group.instance.id), KIP-345. */
  groupInstanceId?: string | null;
  /** session.timeout.ms (default 45 000). */
  sessionTimeoutMs?: number;
  /** max.poll.interval.ms, sent as the rebalance timeout (default 300 000). */
  rebalanceTimeoutMs?: number;
  /** heartbeat.interval.ms (default 3 000). */
  heartbeatIntervalMs?: number;
  /** enable.auto.commit (default true). */
  autoCommit?: boolean;
  /** auto.commit.interval.ms (default 5 000). */
  autoCommitIntervalMs?: number;
  /** auto.offset.reset: where to start without a committed offset (default 'latest'). */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** partition.assignment.strategy, in preference order (default ['range']). */
  assignors?: ReadonlyArray<string | Assignor>;
}

export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

/** A commit the coordinator rejected because the group rebalanced (the member must rejoin). */
export class CommitFailedError extends KafkaError {
  constructor(code: number, message: string) {
    super(code, message);
    this.name = 'CommitFailedError';
  }
}

const REJOIN_CODES: ReadonlySet<number> = new Set([
  ErrorCode.REBALANCE_IN_PROGRESS,
  ErrorCode.ILLEGAL_GENERATION,
  ErrorCode.UNKNOWN_MEMBER_ID,
]);
const COORDINATOR_CODES: ReadonlySet<number> = new Set([
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
]);

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class GroupConsumer {
  readonly cluster: ClusterClient;
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly consumer: Consumer;
  private readonly ownsCluster: boolean;
  private readonly groupInstanceId: string | null;
  private readonly sessionTimeoutMs: number;
  private readonly rebalanceTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private readonly autoOffsetReset: 'earliest' | 'latest' | 'none';
  private readonly assignors: Assignor[];
  private readonly retryBackoffMs: number;

  private coordinator: BrokerConnection | undefined;
  private memberId = '';
  private generationId = -1;
  private protocolName: string | null = null;
  private leaderId = '';
  private needsJoin = true;
  private assigned: TopicPartition[] = [];
  /** Records fetched and not yet handed out. */
  private buffer: ConsumerRecord[] = [];
  /** Offset after the last record handed out, per partition. */
  private readonly delivered = new Map<string, number>();
  /** Last committed offset per partition (to skip commits that change nothing). */
  private readonly lastCommitted = new Map<string, number>();
  private nextAutoCommit = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatGeneration = -1;
  private closed = false;
  private closing: Promise<void> | undefined;
  private fatal: Error | undefined;
  private rebalanceMs = 0;

  constructor(opts: GroupConsumerOptions) {
    if (!opts.groupId) throw new Error('createGroupConsumer: groupId is required');
    if (!opts.topics || opts.topics.length === 0) throw new Error('createGroupConsumer: topics is required');
    const { cluster, owned } = clusterFrom(opts, 'createGroupConsumer', 'kfk-consumer');
    this.cluster = cluster;
    this.ownsCluster = owned;
    this.groupId = opts.groupId;
    this.topics = [...new Set(opts.topics)].sort();
    this.groupInstanceId = opts.groupInstanceId ?? null;
    this.sessionTimeoutMs = opts.sessionTimeoutMs ?? 45_000;
    this.rebalanceTimeoutMs = opts.rebalanceTimeoutMs ?? 300_000;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 3_000;
    this.autoCommit = opts.autoCommit ?? true;
    this.autoCommitIntervalMs = opts.autoCommitIntervalMs ?? 5_000;
    this.autoOffsetReset = opts.autoOffsetReset ?? 'latest';
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.assignors = (opts.assignors && opts.assignors.length > 0 ? opts.assignors : ['range']).map((a) =>
      typeof a === 'string' ? assignorByName(a) : a,
    );
    this.consumer = new Consumer({ ...opts, cluster: this.cluster, autoOffsetReset: this.autoOffsetReset });
  }

  /** Time spent joining and rebalancing so far, in ms (Kafka's consumer perf test reports it as rebalance.time.ms). */
  get rebalanceTimeMs(): number {
    return this.rebalanceMs;
  }

  /** The current member id ('' before the first join). */
  /** What a transactional producer's sendOffsetsToTransaction needs of this member (Java's groupMetadata()). */
  groupMetadata(): { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null } {
    return { groupId: this.groupId, generationId: this.generationId, memberId: this.memberId, groupInstanceId: this.groupInstanceId };
  }

  get member(): { memberId: string; generationId: number; leader: boolean } {
    return { memberId: this.memberId, generationId: this.generationId, leader: this.memberId !== '' && this.memberId === this.leaderId };
  }

  /** The partitions assigned to this member by the last completed rebalance. */
  assignment(): TopicPartition[] {
    return this.assigned.map((tp) => ({ ...tp }));
  }

  /**
   * Joins the group if needed (or rejoins after a rebalance), then fetches. Resolves with at most
   * `maxRecords` records (the rest stay buffered for the next call); [] after `maxWaitMs` without any.
   */
  async poll(opts: { maxWaitMs?: number; maxRecords?: number } = {}): Promise<ConsumerRecord[]> {
    if (this.fatal) throw this.fatal;
    if (this.closed || this.closing) return [];
    if (this.needsJoin) {
      await this.rejoin();
      if (this.closed) return [];
    }
    if (this.buffer.length === 0) {
      const recs = await this.consumer.poll({ maxWaitMs: opts.maxWaitMs });
      if (this.closed) return [];
      if (this.needsJoin) {
        // Fetched for an assignment that is being revoked: drop, they will be fetched again.
        return [];
      }
      this.buffer = recs;
    }
    const max = opts.maxRecords !== undefined && opts.maxRecords > 0 ? opts.maxRecords : this.buffer.length;
    const out = this.buffer.slice(0, max);
    this.buffer = this.buffer.slice(out.length);
    for (const r of out) this.delivered.set(tpKey(r.topic, r.partition), r.offset + 1);
    if (this.autoCommit && Date.now() >= this.nextAutoCommit) {
      this.nextAutoCommit = Date.now() + this.autoCommitIntervalMs;
      await this.commit().catch((err: unknown) => {
        if (!(err instanceof CommitFailedError) && !isTransient(err)) throw err;
      });
    }
    return out;
  }

  /**
   * As poll(), but shows each record to `fn` through one reused RecordView (consumer.ts pollEach): no object per
   * record. Resolves with the number of records.
   */
  async pollEach(fn: (record: RecordView) => void, opts: { maxWaitMs?: number } = {}): Promise<number> {
    if (this.fatal) throw this.fatal;
    if (this.closed || this.closing) return 0;
    if (this.needsJoin) {
      await this.rejoin();
      if (this.closed) return 0;
    }
    let n: number;
    if (this.buffer.length > 0) {
      // records a poll() with maxRecords left behind come first
      const buffered = this.buffer;
      this.buffer = [];
      for (const r of buffered) {
        fn({ ...r, keyLength: r.key?.length ?? -1, valueLength: r.value?.length ?? -1 });
        this.delivered.set(tpKey(r.topic, r.partition), r.offset + 1);
      }
      n = buffered.length;
    } else {
      n = await this.consumer.pollEach(fn, { maxWaitMs: opts.maxWaitMs, deliverIf: () => !this.closed && !this.needsJoin });
      if (n > 0) {
        for (const tp of this.assigned) {
          const position = this.consumer.position(tp.topic, tp.partition);
          if (position !== undefined) this.delivered.set(tpKey(tp.topic, tp.partition), position);
        }
      }
    }
    if (this.autoCommit && Date.now() >= this.nextAutoCommit) {
      this.nextAutoCommit = Date.now() + this.autoCommitIntervalMs;
      await this.commit().catch((err: unknown) => {
        if (!(err instanceof CommitFailedError) && !isTransient(err)) throw err;
      });
    }
    return n;
  }

  /** Records one at a time; ends when close() is called. */
  async *records(): AsyncGenerator<ConsumerRecord, void, undefined> {
    try {
      while (!this.closed) {
        const batch = await this.poll();
        for (const r of batch) {
          if (this.closed) return;
          yield r;
        }
      }
    } finally {
      await this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ConsumerRecord, void, undefined> {
    return this.records();
  }

  /** The offsets a commit would write now: after the last record handed out, else the fetch position. */
  consumedOffsets(): Map<string, { topic: string; partition: number; offset: number }> {
    const out = new Map<string, { topic: string; partition: number; offset: number }>();
    const firstBuffered = new Map<string, number>();
    for (const r of this.buffer) {
      const k = tpKey(r.topic, r.partition);
      if (!firstBuffered.has(k)) firstBuffered.set(k, r.offset);
    }
    for (const tp of this.assigned) {
      const k = tpKey(tp.topic, tp.partition);
      const offset = this.delivered.get(k) ?? firstBuffered.get(k) ?? this.consumer.position(tp.topic, tp.partition);
      if (offset !== undefined) out.set(k, { topic: tp.topic, partition: tp.partition, offset });
    }
    return out;
  }

  /**
   * Commits offsets (default: what was consumed) with this member's generation. Rejects with
   * CommitFailedError when the group has rebalanced (the next poll rejoins).
   */
  async commit(offsets?: ReadonlyArray<{ topic: string; partition: number; offset: number; metadata?: string | null }>): Promise<void> {
    const list: Array<{ topic: string; partition: number; offset: number; metadata?: string | null }> = offsets
      ? [...offsets]
      : [...this.consumedOffsets().entries()].filter(([k, o]) => this.lastCommitted.get(k) !== o.offset).map(([, o]) => o);
    if (list.length === 0 || this.memberId === '' || this.generationId < 0) return;
    let pending = list;
    for (let attempt = 0; ; attempt++) {
      const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; commitTimestamp: number; committedMetadata: string | null }>>();
      for (const o of pending) {
        let ps = byTopic.get(o.topic);
        if (!ps) byTopic.set(o.topic, (ps = []));
        ps.push({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: o.metadata ?? '' });
      }
      const resp = await this.coordinatorRequest<OffsetCommitResponse>(ApiKey.OffsetCommit, {
        groupId: this.groupId,
        generationIdOrMemberEpoch: this.generationId,
        memberId: this.memberId,
        groupInstanceId: this.groupInstanceId,
        retentionTimeMs: -1,
        topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      });
      let failure: KafkaError | undefined;
      const retry: typeof pending = [];
      for (const t of resp.topics) {
        for (const p of t.partitions) {
          const sent = pending.find((o) => o.topic === t.name && o.partition === p.partitionIndex);
          if (p.errorCode === ErrorCode.NONE) {
            if (sent) this.lastCommitted.set(tpKey(t.name, p.partitionIndex), sent.offset);
          } else if (REJOIN_CODES.has(p.errorCode)) {
            this.requestRejoin(p.errorCode);
            failure ??= new CommitFailedError(p.errorCode, `Offset commit for group '${this.groupId}' failed: the group has rebalanced (${errorName(p.errorCode)})`);
          } else if (sent && (COORDINATOR_CODES.has(p.errorCode) || p.errorCode === ErrorCode.REQUEST_TIMED_OUT) && attempt < 10) {
            // The coordinator moved or is still loading: find it again and retry these partitions.
            if (COORDINATOR_CODES.has(p.errorCode)) this.dropCoordinator();
            retry.push(sent);
          } else {
            failure ??= new KafkaError(p.errorCode, `Offset commit for ${t.name}-${p.partitionIndex} failed: ${errorName(p.errorCode)}`);
          }
        }
      }
      if (failure) throw failure;
      if (retry.length === 0 || this.closed) return;
      pending = retry;
      await sleep(backoffMs(attempt, this.retryBackoffMs, 1000));
    }
  }

  /** Committed offsets of the group for the given partitions (absent: none committed). */
  async committed(partitions: readonly TopicPartition[]): Promise<Map<string, CommittedOffset>> {
    return this.fetchCommitted(partitions);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Joins the group now (poll() does it too); resolves once this member has an assignment. */
  async ensureJoined(): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (!this.closed && this.needsJoin) await this.rejoin();
  }

  /** Commits what was consumed (auto commit), leaves the group and closes the connections. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /**
   * The final auto-commit may fail the expected ways (the group rebalanced, the coordinator moved): the next
   * owner then reads again from the last commit (at-least-once), as when Kafka's consumer closes. Any other
   * failure is thrown by close(), after the member has left and the connections are closed.
   */
  private async doClose(): Promise<void> {
    if (this.closed) return;
    this.stopHeartbeat();
    let commitError: { error: unknown } | null = null;
    try {
      if (!this.fatal && this.memberId !== '') {
        if (this.autoCommit && !this.needsJoin) {
          await this.commit().catch((err: unknown) => {
            if (!(err instanceof CommitFailedError) && !isTransient(err)) commitError = { error: err };
          });
        }
        // Leaving only speeds up the rebalance: a member that cannot say goodbye is removed by the coordinator
        // after session.timeout.ms, and close must release the connections either way.
        await this.leave().catch(() => {});
      }
    } finally {
      this.closed = true;
      await this.consumer.close();
      this.coordinator?.close();
      this.coordinator = undefined;
      if (this.ownsCluster) await this.cluster.close();
    }
    if (commitError !== null) throw (commitError as { error: unknown }).error;
  }

  // ------------------------------------------------------------------------------------------------
  // Coordinator

  private dropCoordinator(): void {
    this.coordinator?.close();
    this.coordinator = undefined;
  }

  /** A connection of its own to the group coordinator (so heartbeats never queue behind a fetch). */
  private async coordinatorConnection(): Promise<BrokerConnection> {
    if (this.coordinator && !this.coordinator.closed) return this.coordinator;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new ConnectionError('consumer is closed', 'ECLOSED', false);
      try {
        const conn = await this.cluster.anyConnection();
        const v = conn.versionFor(ApiKey.FindCoordinator);
        const resp = await conn.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, {
          key: this.groupId,
          keyType: 0,
          coordinatorKeys: [this.groupId],
        });
        const c = v >= 4 ? resp.coordinators[0] : resp;
        if (!c) throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator returned no coordinator');
        if (c.errorCode !== ErrorCode.NONE) {
          throw new KafkaError(c.errorCode, `FindCoordinator for group '${this.groupId}': ${c.errorMessage ?? errorName(c.errorCode)}`);
        }
        const opened = await BrokerConnection.connect({
          host: c.host,
          port: c.port,
          clientId: this.cluster.clientId,
          ...(this.cluster.security ? { security: this.cluster.security } : {}),
        });
        if (this.closed) {
          opened.close();
          throw new ConnectionError('consumer is closed', 'ECLOSED', false);
        }
        this.coordinator = opened;
        return opened;
      } catch (err) {
        if (!isTransient(err) || attempt >= 30) throw err;
        await sleep(backoffMs(attempt, this.retryBackoffMs, 1000));
      }
    }
  }

  /** Sends a request to the coordinator, rediscovering it on coordinator errors (top-level) and network failures. */
  private async coordinatorRequest<T>(apiKey: number, body: unknown, timeoutMs?: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await this.coordinatorConnection();
        const resp = await conn.request<T>(apiKey, body, timeoutMs !== undefined ? { timeoutMs } : {});
        const code = (resp as { errorCode?: number }).errorCode ?? ErrorCode.NONE;
        if (COORDINATOR_CODES.has(code)) throw new KafkaError(code);
        return resp;
      } catch (err) {
        if (err instanceof KafkaError && COORDINATOR_CODES.has(err.code)) this.dropCoordinator();
        if (err instanceof ConnectionError) this.dropCoordinator();
        if (this.closed || !isTransient(err) || attempt >= 20) throw err;
        await sleep(backoffMs(attempt, this.retryBackoffMs, 1000));
      }
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Membership

  private requestRejoin(code: number): void {
    if (code === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = '';
      this.generationId = -1;
    } else if (code === ErrorCode.ILLEGAL_GENERATION) {
      this.generationId = -1;
    }
    this.needsJoin = true;
    this.stopHeartbeat();
  }

  /** Revokes the current assignment (committing it first) and runs JoinGroup + SyncGroup until it succeeds. */
  private async rejoin(): Promise<void> {
    const started = Date.now();
    try {
      await this.rejoinGroup();
    } finally {
      this.rebalanceMs += Date.now() - started;
    }
  }

  private async rejoinGroup(): Promise<void> {
    this.stopHeartbeat();
    if (this.assigned.length > 0) {
      if (this.autoCommit && this.generationId >= 0) {
        // as the periodic auto-commit: a generation that moved on or a moving coordinator only means the new
        // owner re-reads from the last commit (at-least-once); anything else fails the poll
        await this.commit().catch((err: unknown) => {
          if (!(err instanceof CommitFailedError) && !isTransient(err)) throw err;
        });
      }
      this.consumer.unassign();
      this.assigned = [];
      this.buffer = [];
      this.delivered.clear();
    }
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const assignment = await this.joinAndSync();
        if (assignment === undefined) continue; // rejoin at once (MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS)
        await this.startFetching(assignment);
        this.needsJoin = false;
        this.nextAutoCommit = Date.now() + this.autoCommitIntervalMs;
        this.startHeartbeat();
        return;
      } catch (err) {
        if (this.closed) return;
        if (!isTransient(err) || attempt >= 50) {
          this.fatal = err as Error;
          throw err;
        }
        await sleep(backoffMs(attempt, this.retryBackoffMs, 1000));
      }
    }
  }

  /** One JoinGroup + SyncGroup round; undefined when it must be repeated. */
  private async joinAndSync(): Promise<TopicPartition[] | undefined> {
    const metadata = encodeSubscription(this.topics);
    const join = await this.coordinatorRequest<JoinGroupResponse>(
      ApiKey.JoinGroup,
      {
        groupId: this.groupId,
        sessionTimeoutMs: this.sessionTimeoutMs,
        rebalanceTimeoutMs: this.rebalanceTimeoutMs,
        memberId: this.memberId,
        groupInstanceId: this.groupInstanceId,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocols: this.assignors.map((a) => ({ name: a.name, metadata })),
        reason: null,
      },
      this.rebalanceTimeoutMs + 5_000,
    );
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      this.memberId = join.memberId;
      return undefined;
    }
    if (join.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = '';
      return undefined;
    }
    if (join.errorCode === ErrorCode.REBALANCE_IN_PROGRESS || join.errorCode === ErrorCode.ILLEGAL_GENERATION) return undefined;
    if (join.errorCode !== ErrorCode.NONE) {
      throw new KafkaError(join.errorCode, `JoinGroup for group '${this.groupId}' failed: ${errorName(join.errorCode)}`);
    }
    this.memberId = join.memberId;
    this.generationId = join.generationId;
    this.leaderId = join.leader;
    this.protocolName = join.protocolName ?? this.assignors[0]!.name;

    let assignments: Array<{ memberId: string; assignment: Buffer }> = [];
    if (join.leader === join.memberId && !join.skipAssignment) assignments = await this.computeAssignment(join);
    const sync = await this.coordinatorRequest<SyncGroupResponse>(
      ApiKey.SyncGroup,
      {
        groupId: this.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: this.groupInstanceId,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocolName: this.protocolName,
        assignments,
      },
      this.rebalanceTimeoutMs + 5_000,
    );
    if (REJOIN_CODES.has(sync.errorCode)) {
      if (sync.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
      return undefined;
    }
    if (sync.errorCode !== ErrorCode.NONE) {
      throw new KafkaError(sync.errorCode, `SyncGroup for group '${this.groupId}' failed: ${errorName(sync.errorCode)}`);
    }
    return decodeAssignment(sync.assignment);
  }

  /** Leader: every member's subscription → partitions, with the protocol the coordinator chose. */
  private async computeAssignment(join: JoinGroupResponse): Promise<Array<{ memberId: string; assignment: Buffer }>> {
    const assignor = this.assignors.find((a) => a.name === join.protocolName) ?? assignorByName(join.protocolName ?? 'range');
    const members = join.members.map((m) => {
      let topics: string[] = [];
      try {
        topics = decodeSubscription(m.metadata).topics;
      } catch {
        // a member whose subscription this leader cannot read (another client's format) is given no partitions,
        // as Kafka's assignors give nothing to an empty subscription; the others are still assigned
      }
      return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics };
    });
    const allTopics = [...new Set(members.flatMap((m) => m.topics))];
    const counts = new Map<string, number>();
    if (allTopics.length > 0) {
      const md = await this.cluster.retry(() => this.cluster.refreshMetadata(allTopics));
      for (const t of allTopics) {
        const tm = md.topics.get(t);
        if (tm) counts.set(t, tm.partitions.length);
      }
    }
    const result = assignor.assign(members, counts);
    return members.map((m) => ({ memberId: m.memberId, assignment: encodeAssignment(result.get(m.memberId) ?? []) }));
  }

  /** Positions the fetcher on the new assignment: committed offsets, else auto.offset.reset. */
  private async startFetching(assignment: TopicPartition[]): Promise<void> {
    const committed = assignment.length > 0 ? await this.fetchCommitted(assignment) : new Map<string, CommittedOffset>();
    this.lastCommitted.clear();
    const specs = assignment.map((tp) => {
      const c = committed.get(tpKey(tp.topic, tp.partition));
      let offset: OffsetSpec;
      if (c && c.offset >= 0) {
        offset = c.offset;
        this.lastCommitted.set(tpKey(tp.topic, tp.partition), c.offset);
      } else if (this.autoOffsetReset === 'none') {
        throw new KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE, `No committed offset for ${tp.topic}-${tp.partition} and auto.offset.reset=none`);
      } else {
        offset = this.autoOffsetReset;
      }
      return { ...tp, offset };
    });
    this.consumer.unassign();
    this.consumer.assign(specs);
    this.assigned = assignment.map((tp) => ({ ...tp }));
    this.buffer = [];
    this.delivered.clear();
  }

  private async fetchCommitted(partitions: readonly TopicPartition[]): Promise<Map<string, CommittedOffset>> {
    const byTopic = new Map<string, number[]>();
    for (const tp of partitions) {
      let ps = byTopic.get(tp.topic);
      if (!ps) byTopic.set(tp.topic, (ps = []));
      ps.push(tp.partition);
    }
    const topics = [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes }));
    for (let attempt = 0; ; attempt++) {
      const resp = await this.coordinatorRequest<OffsetFetchResponse>(ApiKey.OffsetFetch, {
        groupId: this.groupId,
        topics,
        groups: [{ groupId: this.groupId, memberId: null, memberEpoch: -1, topics }],
        requireStable: true,
      });
      try {
        return parseOffsetFetch(resp);
      } catch (err) {
        if (err instanceof KafkaError && COORDINATOR_CODES.has(err.code)) this.dropCoordinator();
        if (!isTransient(err) || attempt >= 20) throw err;
        await sleep(backoffMs(attempt, this.retryBackoffMs, 1000));
      }
    }
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatGeneration = this.generationId;
    const beat = async (): Promise<void> => {
      this.heartbeatTimer = undefined;
      if (this.closed || this.needsJoin || this.heartbeatGeneration !== this.generationId) return;
      try {
        const conn = await this.coordinatorConnection();
        const resp = await conn.request<HeartbeatResponse>(ApiKey.Heartbeat, {
          groupId: this.groupId,
          generationId: this.generationId,
          memberId: this.memberId,
          groupInstanceId: this.groupInstanceId,
        });
        if (REJOIN_CODES.has(resp.errorCode)) {
          this.requestRejoin(resp.errorCode);
          return;
        }
        if (COORDINATOR_CODES.has(resp.errorCode)) this.dropCoordinator();
        else if (resp.errorCode === ErrorCode.FENCED_INSTANCE_ID) {
          this.fatal = new KafkaError(resp.errorCode, `group.instance.id '${String(this.groupInstanceId)}' was fenced by another member`);
          return;
        }
      } catch (err) {
        if (err instanceof ConnectionError) this.dropCoordinator();
      }
      if (!this.closed && !this.needsJoin && this.heartbeatGeneration === this.generationId) {
        this.heartbeatTimer = setTimeout(() => void beat(), this.heartbeatIntervalMs);
        this.heartbeatTimer.unref();
      }
    };
    this.heartbeatTimer = setTimeout(() => void beat(), this.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.heartbeatGeneration = -1;
  }

  private async leave(): Promise<void> {
    const conn = this.coordinator && !this.coordinator.closed ? this.coordinator : await this.coordinatorConnection();
    await conn.request(
      ApiKey.LeaveGroup,
      {
        groupId: this.groupId,
        memberId: this.memberId,
        members: [{ memberId: this.memberId, groupInstanceId: this.groupInstanceId, reason: 'the consumer is being closed' }],
      },
      { timeoutMs: 5_000 },
    );
    this.memberId = '';
    this.generationId = -1;
  }
}

/** OffsetFetch response (v0-7 top-level topics, v8+ per group) → committed offsets; throws on errors. */
export function parseOffsetFetch(resp: OffsetFetchResponse): Map<string, CommittedOffset> {
  const out = new Map<string, CommittedOffset>();
  const groupLevel = resp.groups.length > 0 ? resp.groups[0]!.errorCode : resp.errorCode;
  if (groupLevel !== undefined && groupLevel !== ErrorCode.NONE) throw new KafkaError(groupLevel, `OffsetFetch failed: ${errorName(groupLevel)}`);
  const topics =
    resp.groups.length > 0
      ? resp.groups[0]!.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, committedOffset: p.committedOffset, metadata: p.metadata, errorCode: p.errorCode })),
        }))
      : resp.topics;
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.errorCode !== ErrorCode.NONE) throw new KafkaError(p.errorCode, `OffsetFetch ${t.name}-${p.partitionIndex}: ${errorName(p.errorCode)}`);
      if (p.committedOffset >= 0) out.set(tpKey(t.name, p.partitionIndex), { offset: p.committedOffset, metadata: p.metadata });
    }
  }
  return out;
}

function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionError) return err.retriable;
  if (err instanceof KafkaError) {
    return (
      COORDINATOR_CODES.has(err.code) ||
      err.code === ErrorCode.UNSTABLE_OFFSET_COMMIT ||
      err.code === ErrorCode.REQUEST_TIMED_OUT ||
      err.code === ErrorCode.NETWORK_EXCEPTION ||
      err.code === ErrorCode.LEADER_NOT_AVAILABLE ||
      REJOIN_CODES.has(err.code)
    );
  }
  return false;
}

export function createGroupConsumer(opts: GroupConsumerOptions): GroupConsumer {
  return new GroupConsumer(opts);
}
