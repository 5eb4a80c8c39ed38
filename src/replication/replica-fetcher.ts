/**
 * One replica fetcher (Kafka's ReplicaFetcherThread / AbstractFetcherThread): a loop on the event loop that
 * copies, for every partition this broker follows from one source broker (one of num.replica.fetchers per
 * source), the leader's batches byte for byte into the local log, over the ordinary Fetch API with
 * replica_id = this broker's id.
 *
 * Each partition is in one of two states:
 * - truncating: just added (became follower, or the leader epoch changed). Before fetching anything the
 *   follower asks the leader OffsetsForLeaderEpoch for its latest epoch and truncates a divergent tail
 *   (KIP-101/279), repeating until the epochs agree. Never to the high watermark.
 * - fetching: Fetch v12 from the log end offset with current_leader_epoch (KIP-320) and last_fetched_epoch; a
 *   diverging_epoch in the answer truncates the same way inline.
 * Errors pause the partition for replica.fetch.backoff.ms (connection failures: all of them) and retry;
 * fencing errors wait for this broker's reconciliation to apply the newer leader epoch.
 *
 * Removing a partition waits for the processing under way (an append or truncation), so that once it returns
 * the caller may change the partition's role (become leader) with no fetcher writing to its log.
 */
import { ErrorCode, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/apis.js';
import type { FetchRequestInput, FetchResponse } from '../protocol/generated/fetch.js';
import type { OffsetForLeaderEpochResponse } from '../protocol/generated/offset-for-leader-epoch.js';
import type { ListOffsetsResponse } from '../protocol/generated/list-offsets.js';
import { BATCH_LENGTH, LOG_OVERHEAD, batchBaseOffset, batchLastOffset, batchSize } from '../protocol/record-batch-header.js';
import { BrokerConnection } from '../client/connection.js';
import { deleteLogStartOffsetBreachedSegments } from '../log/retention.js';
import type { Logger } from '../server/logger.js';
import { offsetTruncationState, type EpochEndOffset } from './follower-truncation.js';
import type { Partition } from './partition.js';
import type { ReplicationConfig } from './replication-config.js';

/** The Fetch version followers send: flexible, with last_fetched_epoch and diverging_epoch, topics by name. */
const FOLLOWER_FETCH_VERSION = 12;
const LATEST_TIMESTAMP = -1;
const EARLIEST_TIMESTAMP = -2;

export interface SourceBroker {
  id: number;
  host: string;
  port: number;
}

/** A partition to follow from the source broker, at the leader epoch this broker applied. */
export interface FollowTarget {
  topic: string;
  partition: number;
  leaderEpoch: number;
}

export interface ReplicaFetcherHost {
  readonly brokerId: number;
  readonly config: ReplicationConfig;
  readonly logger: Logger;
  /** The local replica being followed, while it is a follower. */
  followerPartition(topic: string, partition: number): Partition | undefined;
  /** After the follower's log or high watermark changed (wakes waiters, checkpoints). */
  onFollowerUpdate(p: Partition): void;
}

interface FetchState {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  state: 'truncating' | 'fetching';
  fetchOffset: number;
  delayedUntil: number;
  /** Records behind the leader at the last fetch response: its high watermark minus our log end offset (Kafka's FetcherLagMetrics). */
  lag: number;
}

export const fetchStateKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class ReplicaFetcher {
  readonly name: string;
  private readonly partitions = new Map<string, FetchState>();
  private conn: BrokerConnection | null = null;
  private connecting: Promise<BrokerConnection> | null = null;
  /** The loop's waits for `connecting`, which shutdown() and retarget() cut short. */
  private readonly pendingConnects = new Set<(err: Error) => void>();
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  /** The processing step under way (appends, truncations); removals wait for it. */
  private processing: Promise<void> = Promise.resolve();
  private readonly loop: Promise<void>;
  private failing = false;

  constructor(
    private source: SourceBroker,
    readonly fetcherId: number,
    private readonly host: ReplicaFetcherHost,
  ) {
    this.name = `ReplicaFetcher-${host.brokerId}-${fetcherId}-${source.id}`;
    this.loop = this.run();
  }

  get sourceBroker(): SourceBroker {
    return this.source;
  }

  get partitionCount(): number {
    return this.partitions.size;
  }

  /** The largest lag, in records, of the partitions this fetcher follows (0 when it follows none). */
  get maxLag(): number {
    let max = 0;
    for (const s of this.partitions.values()) if (s.lag > max) max = s.lag;
    return max;
  }

  /** Each followed partition's lag, in records, at its last fetch response (Kafka's FetcherLagMetrics ConsumerLag). */
  *partitionLags(): IterableIterator<{ topic: string; partition: number; lag: number }> {
    for (const s of this.partitions.values()) yield { topic: s.topic, partition: s.partition, lag: s.lag };
  }

  has(key: string): boolean {
    return this.partitions.has(key);
  }

  /** The fetch state of a partition (tests, diagnostics). */
  stateOf(topic: string, partition: number): { state: 'truncating' | 'fetching'; fetchOffset: number; leaderEpoch: number } | undefined {
    const s = this.partitions.get(fetchStateKey(topic, partition));
    return s && { state: s.state, fetchOffset: s.fetchOffset, leaderEpoch: s.leaderEpoch };
  }

  /** The source broker moved to another endpoint: reconnect there. */
  retarget(source: SourceBroker): void {
    this.source = source;
    this.dropConnection();
    this.abandonConnect('fetcher retargeted while connecting');
    this.wake();
  }

  /** Starts following these partitions (truncation check first). */
  addPartitions(targets: readonly FollowTarget[]): void {
    for (const t of targets) {
      const p = this.host.followerPartition(t.topic, t.partition);
      const key = fetchStateKey(t.topic, t.partition);
      this.partitions.set(key, {
        key,
        topic: t.topic,
        partition: t.partition,
        leaderEpoch: t.leaderEpoch,
        state: 'truncating',
        fetchOffset: p?.log.logEndOffset ?? 0,
        delayedUntil: 0,
        lag: 0,
      });
    }
    this.wake();
  }

  /** Stops following these partitions; resolves once no processing step can touch them any more. */
  async removePartitions(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.partitions.delete(k);
    await this.processing;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    this.partitions.clear();
    this.dropConnection();
    this.abandonConnect('fetcher stopped while connecting');
    this.wake();
    await this.loop;
    await this.processing;
  }

  // ---------------------------------------------------------------------------------------------

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** Waits for a partition to become ready (its backoff ends) or for a change (added partitions, shutdown). */
  private idle(): Promise<void> {
    let earliest = Infinity;
    for (const s of this.partitions.values()) earliest = Math.min(earliest, s.delayedUntil);
    return new Promise((resolve) => {
      const timer = earliest === Infinity ? undefined : setTimeout(done, Math.max(1, earliest - Date.now()));
      function done(): void {
        if (timer) clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const ready = [...this.partitions.values()].filter((s) => s.delayedUntil <= now);
      if (ready.length === 0) {
        await this.idle();
        continue;
      }
      try {
        const conn = await this.connection();
        const truncating = ready.filter((s) => s.state === 'truncating');
        if (truncating.length > 0) await this.truncate(conn, truncating);
        else await this.fetch(conn, ready);
        if (this.failing) {
          this.failing = false;
          this.host.logger.info(`${this.name}: fetching from broker ${this.source.id} at ${this.source.host}:${this.source.port} again`);
        }
      } catch (err) {
        if (this.stopped) break;
        this.dropConnection();
        if (!this.failing) {
          this.failing = true;
          this.host.logger.warn(`${this.name}: fetching from broker ${this.source.id} at ${this.source.host}:${this.source.port} failed: ${(err as Error).message}`);
        }
        const until = Date.now() + this.host.config.replicaFetchBackoffMs;
        for (const s of this.partitions.values()) s.delayedUntil = Math.max(s.delayedUntil, until);
      }
    }
  }

  private async connection(): Promise<BrokerConnection> {
    if (this.conn !== null && !this.conn.closed) return this.conn;
    if (this.connecting === null) {
      const { host, port } = this.source;
      const timeout = this.host.config.replicaSocketTimeoutMs;
      const attempt: Promise<BrokerConnection> = BrokerConnection.connect({
        host,
        port,
        clientId: `broker-${this.host.brokerId}-fetcher-${this.fetcherId}`,
        connectTimeoutMs: timeout,
        requestTimeoutMs: timeout,
        ...(this.host.config.interBrokerSecurity ? { security: this.host.config.interBrokerSecurity } : {}),
      }).then((conn) => {
        if (this.stopped || this.source.host !== host || this.source.port !== port) {
          conn.close();
          throw new Error('fetcher stopped or retargeted while connecting');
        }
        this.conn = conn;
        return conn;
      });
      this.connecting = attempt;
      const settled = (): void => {
        if (this.connecting === attempt) this.connecting = null;
      };
      attempt.then(settled, settled);
    }
    // A leader that is paused or cut off still has its TCP connections accepted (by the kernel) but never answers
    // ApiVersions: shutdown() and retarget() give such an attempt up at once instead of waiting up to
    // replica.socket.timeout.ms for it, since the reconciliation (becoming leader included) waits for them. The
    // attempt closes what it opens once it settles.
    let giveUp!: (err: Error) => void;
    const givenUp = new Promise<never>((_, reject) => (giveUp = reject));
    this.pendingConnects.add(giveUp);
    try {
      return await Promise.race([this.connecting, givenUp]);
    } finally {
      this.pendingConnects.delete(giveUp);
    }
  }

  /** Gives up a connect under way (shutdown, retarget): the loop stops waiting for it. */
  private abandonConnect(why: string): void {
    this.connecting = null;
    for (const giveUp of this.pendingConnects) giveUp(new Error(why));
    this.pendingConnects.clear();
  }

  private dropConnection(): void {
    this.conn?.close();
    this.conn = null;
  }

  private delay(s: FetchState, why: string, ms = this.host.config.replicaFetchBackoffMs): void {
    s.delayedUntil = Date.now() + ms;
    this.host.logger.debug(`${this.name}: ${s.topic}-${s.partition} paused for ${ms} ms: ${why}`);
  }

  /** Runs a processing step (log changes) so that removals can wait for it. */
  private process(step: () => Promise<void>): Promise<void> {
    const run = this.processing.then(step);
    this.processing = run.catch(() => undefined);
    return run;
  }

  /** The fetch state if the partition is still followed as it was when the request went out. */
  private current(s: FetchState): { s: FetchState; p: Partition } | null {
    if (this.partitions.get(s.key) !== s) return null;
    const p = this.host.followerPartition(s.topic, s.partition);
    if (p === undefined || p.isLeader || p.log.isClosed) {
      // Not a follower here (any more) but still assigned: wait rather than spin until it is removed.
      this.delay(s, 'not a follower on this broker');
      return null;
    }
    return { s, p };
  }

  // ---------------------------------------------------------------------------------------------
  // Truncation (OffsetsForLeaderEpoch)

  private async truncate(conn: BrokerConnection, states: FetchState[]): Promise<void> {
    const asked: { s: FetchState; epoch: number }[] = [];
    await this.process(async () => {
      for (const s of states) {
        const c = this.current(s);
        if (c === null) continue;
        const latest = c.p.log.leaderEpochCache.latestEpoch;
        if (latest < 0) {
          // No epoch in the log (it is empty): nothing can diverge (Kafka truncates to the high watermark here).
          if (c.p.highWatermark < c.p.log.logEndOffset) await this.truncateLog(c.p, c.p.highWatermark, 'no leader epoch in the log');
          this.startFetching(s, c.p);
        } else {
          asked.push({ s, epoch: latest });
        }
      }
    });
    if (asked.length === 0) return;
    const byTopic = new Map<string, { partition: number; currentLeaderEpoch: number; leaderEpoch: number }[]>();
    for (const { s, epoch } of asked) {
      let list = byTopic.get(s.topic);
      if (!list) byTopic.set(s.topic, (list = []));
      list.push({ partition: s.partition, currentLeaderEpoch: s.leaderEpoch, leaderEpoch: epoch });
    }
    const resp = await conn.request<OffsetForLeaderEpochResponse>(ApiKey.OffsetForLeaderEpoch, {
      replicaId: this.host.brokerId,
      topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
    });
    const answers = new Map<string, { errorCode: number; leaderEpoch: number; endOffset: number }>();
    for (const t of resp.topics) for (const p of t.partitions) answers.set(fetchStateKey(t.topic, p.partition), p);
    await this.process(async () => {
      for (const { s } of asked) {
        const c = this.current(s);
        if (c === null || s.state !== 'truncating') continue;
        const a = answers.get(s.key);
        if (a === undefined) {
          this.delay(s, 'no answer for it in OffsetsForLeaderEpoch');
          continue;
        }
        if (a.errorCode !== ErrorCode.NONE) {
          this.delay(s, `OffsetsForLeaderEpoch: ${errorName(a.errorCode)}`);
          continue;
        }
        await this.truncateToLeaderEpoch(s, c.p, { leaderEpoch: a.leaderEpoch, endOffset: a.endOffset }, 'OffsetsForLeaderEpoch');
      }
    });
  }

  /** Applies the leader's end offset for an epoch (KIP-279): truncate, then fetch or ask again. */
  private async truncateToLeaderEpoch(s: FetchState, p: Partition, leader: EpochEndOffset, source: string): Promise<void> {
    const log = p.log;
    const t = offsetTruncationState(leader, {
      logEndOffset: log.logEndOffset,
      endOffsetFor: (epoch) => {
        const r = log.leaderEpochCache.endOffsetFor(epoch, log.logEndOffset);
        return { leaderEpoch: r.epoch, endOffset: r.endOffset };
      },
    });
    if (t.offset < log.logEndOffset) {
      await this.truncateLog(p, t.offset, `${source}: leader epoch ${leader.leaderEpoch} ends at ${leader.endOffset} on the leader`);
    } else {
      // No record to cut; an epoch this broker recorded at its log end as a short-lived leader, which the leader
      // never saw, still goes (else the next fetch diverges at the same place again, and again).
      await log.truncateTo(t.offset);
    }
    if (t.completed) this.startFetching(s, p);
    else s.state = 'truncating';
  }

  private startFetching(s: FetchState, p: Partition): void {
    s.state = 'fetching';
    s.fetchOffset = p.log.logEndOffset;
  }

  private async truncateLog(p: Partition, offset: number, why: string): Promise<void> {
    const before = p.log.logEndOffset;
    await p.log.truncateTo(offset);
    p.onLogTruncated();
    this.host.logger.info(`${this.name}: truncated ${p.topic}-${p.partition} from ${before} to ${p.log.logEndOffset} (${why})`);
    this.host.onFollowerUpdate(p);
  }

  // ---------------------------------------------------------------------------------------------
  // Fetch

  private async fetch(conn: BrokerConnection, ready: FetchState[]): Promise<void> {
    const cfg = this.host.config;
    const requested: { s: FetchState; offset: number }[] = [];
    const byTopic = new Map<string, NonNullable<FetchRequestInput['topics']>[number]>();
    for (const s of ready) {
      const c = this.current(s);
      if (c === null || s.state !== 'fetching') continue;
      let t = byTopic.get(s.topic);
      if (!t) byTopic.set(s.topic, (t = { topic: s.topic, partitions: [] }));
      t.partitions!.push({
        partition: s.partition,
        currentLeaderEpoch: s.leaderEpoch,
        fetchOffset: s.fetchOffset,
        lastFetchedEpoch: c.p.log.leaderEpochCache.latestEpoch,
        logStartOffset: c.p.log.logStartOffset,
        partitionMaxBytes: cfg.replicaFetchMaxBytes,
      });
      requested.push({ s, offset: s.fetchOffset });
    }
    if (requested.length === 0) return;
    const version = Math.min(FOLLOWER_FETCH_VERSION, conn.versionFor(ApiKey.Fetch));
    if (version < 4) throw new Error(`broker ${this.source.id} does not serve Fetch v4+`);
    const body: FetchRequestInput = {
      replicaId: this.host.brokerId,
      maxWaitMs: cfg.replicaFetchWaitMaxMs,
      minBytes: cfg.replicaFetchMinBytes,
      maxBytes: cfg.replicaFetchResponseMaxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...byTopic.values()],
      forgottenTopicsData: [],
      rackId: '',
    };
    const resp = await conn.request<FetchResponse>(ApiKey.Fetch, body, {
      version,
      timeoutMs: cfg.replicaSocketTimeoutMs + cfg.replicaFetchWaitMaxMs,
    });
    if (resp.errorCode !== ErrorCode.NONE) throw new Error(`Fetch failed: ${errorName(resp.errorCode)}`);
    const results = new Map<string, FetchResponse['responses'][number]['partitions'][number]>();
    for (const t of resp.responses) for (const p of t.partitions) results.set(fetchStateKey(t.topic, p.partitionIndex), p);
    await this.process(async () => {
      for (const { s, offset } of requested) {
        const c = this.current(s);
        if (c === null || s.state !== 'fetching' || s.fetchOffset !== offset) continue;
        const r = results.get(s.key);
        if (r === undefined) continue;
        try {
          await this.processPartition(conn, s, c.p, r);
        } catch (err) {
          this.host.logger.error(`${this.name}: ${s.topic}-${s.partition} at offset ${s.fetchOffset}: ${(err as Error).message}`);
          this.delay(s, (err as Error).message);
        }
      }
    });
  }

  private async processPartition(
    conn: BrokerConnection,
    s: FetchState,
    p: Partition,
    r: FetchResponse['responses'][number]['partitions'][number],
  ): Promise<void> {
    switch (r.errorCode) {
      case ErrorCode.NONE:
        break;
      case ErrorCode.OFFSET_OUT_OF_RANGE:
        await this.handleOffsetOutOfRange(conn, s, p);
        return;
      default:
        // FENCED_LEADER_EPOCH: the leader is at a newer epoch than this broker applied (reconciliation follows);
        // UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER: the leader has not applied it yet. Retry after a pause.
        this.delay(s, `Fetch: ${errorName(r.errorCode)}`);
        return;
    }
    if (r.divergingEpoch.epoch >= 0 || r.divergingEpoch.endOffset >= 0) {
      await this.truncateToLeaderEpoch(s, p, { leaderEpoch: r.divergingEpoch.epoch, endOffset: r.divergingEpoch.endOffset }, 'diverging epoch in Fetch');
      return;
    }
    const log = p.log;
    const records = wholeBatches(r.records);
    if (records.length > 0) {
      const first = batchBaseOffset(records, 0);
      const end = log.logEndOffset;
      if (first < end && batchLastOffset(records, 0) >= end) {
        if (end === log.logStartOffset) {
          // The leader's log start offset (DeleteRecords) fell inside this batch and this log starts there: start
          // the log at the batch instead, so that it holds the leader's batches whole (Kafka does the same).
          log.truncateFullyAndStartAt(first);
          p.onLogTruncated();
        } else {
          // This log ends inside one of the leader's batches: its tail has other batch boundaries than the
          // leader's (possible only after an unclean election cut it at the leader's log end), so it diverges.
          await this.truncateLog(p, first, `its log ends inside the leader's batch at ${first}`);
        }
      }
      log.appendAsFollower(records);
    }
    s.fetchOffset = log.logEndOffset;
    s.lag = Math.max(0, r.highWatermark - s.fetchOffset);
    p.updateFollowerHighWatermark(r.highWatermark);
    // The leader's log start offset (retention, DeleteRecords) reaches the follower this way.
    if (r.logStartOffset > log.logStartOffset && r.logStartOffset <= p.highWatermark) {
      if (log.maybeIncrementLogStartOffset(r.logStartOffset)) deleteLogStartOffsetBreachedSegments(log);
    }
    this.host.onFollowerUpdate(p);
  }

  /**
   * The leader has no data at our fetch offset (Kafka's fetchOffsetAndTruncate): a leader log ending below ours
   * (possible after an unclean election) → truncate to its end; ours ending below its start (it deleted old
   * segments while we were away) → start over at its log start offset.
   */
  private async handleOffsetOutOfRange(conn: BrokerConnection, s: FetchState, p: Partition): Promise<void> {
    const log = p.log;
    const leaderEnd = await this.listOffset(conn, s, LATEST_TIMESTAMP);
    if (leaderEnd === null) return;
    if (leaderEnd < log.logEndOffset) {
      await this.truncateLog(p, leaderEnd, `the leader's log ends at ${leaderEnd}`);
      s.fetchOffset = log.logEndOffset;
      return;
    }
    const leaderStart = await this.listOffset(conn, s, EARLIEST_TIMESTAMP);
    if (leaderStart === null) return;
    if (leaderStart > log.logEndOffset) {
      const before = log.logEndOffset;
      log.truncateFullyAndStartAt(leaderStart);
      p.onLogTruncated();
      this.host.logger.info(`${this.name}: ${p.topic}-${p.partition} restarted at the leader's log start offset ${leaderStart} (its log ended at ${before})`);
      this.host.onFollowerUpdate(p);
    }
    s.fetchOffset = Math.max(leaderStart, log.logEndOffset);
  }

  /** ListOffsets as a replica (latest = the leader's log end offset); null after pausing the partition on an error. */
  private async listOffset(conn: BrokerConnection, s: FetchState, timestamp: number): Promise<number | null> {
    const resp = await conn.request<ListOffsetsResponse>(ApiKey.ListOffsets, {
      replicaId: this.host.brokerId,
      isolationLevel: 0,
      topics: [{ name: s.topic, partitions: [{ partitionIndex: s.partition, currentLeaderEpoch: s.leaderEpoch, timestamp, maxNumOffsets: 1 }] }],
    });
    const r = resp.topics.find((t) => t.name === s.topic)?.partitions.find((x) => x.partitionIndex === s.partition);
    if (r === undefined || r.errorCode !== ErrorCode.NONE) {
      this.delay(s, `ListOffsets: ${r === undefined ? 'no answer' : errorName(r.errorCode)}`);
      return null;
    }
    return r.offset;
  }
}

/** The complete batches at the start of `records` (a leader may cut the last one short at the byte limit). */
export function wholeBatches(records: Buffer | null): Buffer {
  if (records === null) return Buffer.alloc(0);
  let pos = 0;
  while (records.length - pos >= BATCH_LENGTH + 4) {
    const size = batchSize(records, pos);
    if (size < LOG_OVERHEAD || pos + size > records.length) break;
    pos += size;
  }
  return pos === records.length ? records : records.subarray(0, pos);
}
