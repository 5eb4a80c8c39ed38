/**
 * The consumer, assign mode: a set of (topic, partition, offset | 'earliest' | 'latest') positions.
 * Earliest/latest are resolved with ListOffsets; then one Fetch per leader broker at a time (max_wait_ms,
 * min_bytes), records below the requested offset skipped (the broker returns the whole batch that contains
 * the fetch offset), control batches and (read_committed) aborted transactions dropped.
 *
 * Fetching runs one step ahead, as Kafka's Fetcher does: when poll() hands out what one fetch brought, the next
 * fetch for those partitions is already on its way (from the offset after the last whole batch received), so
 * the network round trip overlaps the caller's processing. A partition's *position* is what the caller has
 * been given; its *fetch offset* may be ahead of it by the data fetched and not yet handed out.
 *
 * Records come out of poll() / the async iterator as ConsumerRecord objects, or out of pollEach() as one
 * reused RecordView (record-view.ts), which allocates nothing per record unless the callback asks for a key,
 * value or headers.
 */
import type { ClientSecurity } from '../security/client-security.js';
import { ClusterClient, METADATA_ERROR_CODES, RETRIABLE_ERROR_CODES, backoffMs, clusterFrom, isRetriable } from './cluster-client.js';
import { ConnectionError } from './connection.js';
import { decodeRecordBatch, forEachBatch, type RecordHeader } from '../protocol/records.js';
import { batchLastOffset } from '../protocol/record-batch-header.js';
import { RecordViewWalker, type RecordView } from './record-view.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { ZERO_UUID } from '../protocol/primitives.js';
import type { FetchResponse } from '../protocol/generated/fetch.js';
import type { ListOffsetsResponse } from '../protocol/generated/list-offsets.js';

export type IsolationLevel = 'read_uncommitted' | 'read_committed';
export type OffsetSpec = number | 'earliest' | 'latest';

export interface ConsumerRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CreateTime' | 'LogAppendTime';
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface Assignment {
  topic: string;
  partition: number;
  /** A concrete offset, or 'earliest' / 'latest' (default 'latest'). */
  offset?: OffsetSpec;
}

export interface ConsumerOptions {
  bootstrap?: string | readonly string[];
  cluster?: ClusterClient;
  clientId?: string;
  /** TLS and SASL (with `bootstrap`); default PLAINTEXT. */
  security?: ClientSecurity;
  isolationLevel?: IsolationLevel;
  /** Fetch max_wait_ms (default 500). */
  maxWaitMs?: number;
  /** Fetch min_bytes (default 1). */
  minBytes?: number;
  /** Fetch max_bytes (default 50 MiB). */
  maxBytes?: number;
  /** Per-partition max bytes (default 1 MiB). */
  maxPartitionBytes?: number;
  /** Where to go on OFFSET_OUT_OF_RANGE (default 'latest'; 'none' = fail). */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  retryBackoffMs?: number;
  /** Ask the broker to auto-create assigned topics that do not exist (default false). */
  allowAutoTopicCreation?: boolean;
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to hand out (resolved), or a spec still to resolve. */
  position: OffsetSpec;
  /** Next offset to fetch: the position, or beyond it by the data fetched and not handed out yet. */
  fetchOffset: number;
  /** A fetch for this partition is on its way. */
  fetching: boolean;
  /** Skip records below this offset (set when the position is resolved). */
  highWatermark: number;
  /** Not fetched before this time (after an error). */
  pausedUntil: number;
}

const ISOLATION: Record<IsolationLevel, number> = { read_uncommitted: 0, read_committed: 1 };

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Resolves 'earliest'/'latest'/timestamps for a set of partitions with ListOffsets (by leader). */
/** What ListOffsets looks up: the log start, the end, the record with the largest timestamp, or the first at a time. */
export type ListOffsetSpec = 'earliest' | 'latest' | 'max-timestamp' | { timestamp: number };

export async function listOffsets(
  cluster: ClusterClient,
  requests: Array<{ topic: string; partition: number; spec: ListOffsetSpec }>,
  isolationLevel: IsolationLevel = 'read_uncommitted',
): Promise<Map<string, { offset: number; timestamp: number }>> {
  const out = new Map<string, { offset: number; timestamp: number }>();
  let pending = requests;
  await cluster.retry(async (attempt) => {
    if (attempt > 0) await cluster.refreshMetadata([...new Set(pending.map((r) => r.topic))]);
    const byLeader = new Map<number, typeof requests>();
    for (const r of pending) {
      const leader = await cluster.leaderFor(r.topic, r.partition, attempt > 0);
      if (leader < 0) throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `no leader for ${r.topic}-${r.partition}`);
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(r);
    }
    const failed: typeof requests = [];
    let firstError: KafkaError | undefined;
    await Promise.all(
      [...byLeader].map(async ([leader, reqs]) => {
        const conn = await cluster.connection(leader);
        const byTopic = new Map<string, Array<{ partitionIndex: number; currentLeaderEpoch: number; timestamp: number; maxNumOffsets: number }>>();
        for (const r of reqs) {
          let list = byTopic.get(r.topic);
          if (!list) byTopic.set(r.topic, (list = []));
          const ts = r.spec === 'earliest' ? -2 : r.spec === 'latest' ? -1 : r.spec === 'max-timestamp' ? -3 : r.spec.timestamp;
          list.push({ partitionIndex: r.partition, currentLeaderEpoch: -1, timestamp: ts, maxNumOffsets: 1 });
        }
        const version = conn.versionFor(ApiKey.ListOffsets);
        // Below v7 a broker would take -3 for a timestamp: refuse, as Kafka's admin client does.
        if (version < 7 && reqs.some((r) => r.spec === 'max-timestamp')) {
          throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `broker ${leader} does not serve ListOffsets v7 (max-timestamp, KIP-734)`);
        }
        const resp = await conn.request<ListOffsetsResponse>(ApiKey.ListOffsets, {
          replicaId: -1,
          isolationLevel: ISOLATION[isolationLevel],
          topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
          timeoutMs: 30_000,
        });
        for (const t of resp.topics) {
          for (const p of t.partitions) {
            const req = reqs.find((r) => r.topic === t.name && r.partition === p.partitionIndex);
            if (!req) continue;
            if (p.errorCode !== ErrorCode.NONE) {
              failed.push(req);
              firstError ??= new KafkaError(p.errorCode, `ListOffsets ${t.name}-${p.partitionIndex}: ${errorName(p.errorCode)}`);
              continue;
            }
            const offset = version === 0 ? (p.oldStyleOffsets[0] ?? -1) : p.offset;
            out.set(key(t.name, p.partitionIndex), { offset, timestamp: p.timestamp });
          }
        }
      }),
    );
    pending = failed;
    if (firstError) throw firstError;
  });
  return out;
}

type AbortedTransactions = FetchResponse['responses'][number]['partitions'][number]['abortedTransactions'];

/** The records one fetch brought for one partition, not handed out yet. */
interface CompletedFetch {
  st: PartitionState;
  /** The partition's position when the data was requested: records below it are skipped. */
  fromOffset: number;
  /** Offset after the last whole batch of `data`. */
  nextOffset: number;
  data: Buffer;
  aborted: AbortedTransactions;
}

export class Consumer {
  readonly cluster: ClusterClient;
  readonly isolationLevel: IsolationLevel;
  private readonly ownsCluster: boolean;
  private readonly maxWaitMs: number;
  private readonly minBytes: number;
  private readonly maxBytes: number;
  private readonly maxPartitionBytes: number;
  private readonly autoOffsetReset: 'earliest' | 'latest' | 'none';
  private readonly retryBackoffMs: number;
  private readonly allowAutoTopicCreation: boolean;
  private readonly partitions = new Map<string, PartitionState>();
  /** Fetched data waiting to be handed out, in arrival order. */
  private completed: CompletedFetch[] = [];
  /** Fetches on their way, one per leader at most. */
  private readonly inFlight = new Map<number, Promise<void>>();
  /** A failure of a fetch that ran ahead, thrown by the next poll. */
  private pendingError: Error | undefined;
  /** Wakes a poll that waits for fetched data. */
  private dataArrived: (() => void) | undefined;
  private closed = false;
  private errorStreak = 0;
  private wakeup: (() => void) | undefined;
  private readonly walker = new RecordViewWalker();
  private readonly stats = { fetches: 0, fetchLatencyTotal: 0, fetchLatencyMax: 0, bytesFetched: 0 };

  /** A few of the Java consumer's fetch metrics (consumer-fetch-manager-metrics), from counters kept per fetch. */
  metrics(): Record<string, number> {
    const m = this.stats;
    return {
      'fetch-total': m.fetches,
      'fetch-latency-avg': m.fetches > 0 ? m.fetchLatencyTotal / m.fetches : 0,
      'fetch-latency-max': m.fetchLatencyMax,
      'bytes-fetched-total': m.bytesFetched,
      'fetch-size-avg': m.fetches > 0 ? m.bytesFetched / m.fetches : 0,
      ...this.throttleMetrics(),
    };
  }

  /** fetch-throttle-time-avg and -max: the throttle_time_ms of Fetch responses (client quotas). */
  private throttleMetrics(): Record<string, number> {
    const t = this.cluster.throttle.get(ApiKey.Fetch);
    return { 'fetch-throttle-time-avg': t && t.count > 0 ? t.totalMs / t.count : 0, 'fetch-throttle-time-max': t?.maxMs ?? 0 };
  }

  constructor(opts: ConsumerOptions) {
    const { cluster, owned } = clusterFrom(opts, 'createConsumer', 'kfk-consumer');
    this.cluster = cluster;
    this.ownsCluster = owned;
    this.isolationLevel = opts.isolationLevel ?? 'read_uncommitted';
    if (!(this.isolationLevel in ISOLATION)) throw new Error(`invalid isolation level '${String(this.isolationLevel)}'`);
    this.maxWaitMs = opts.maxWaitMs ?? 500;
    this.minBytes = opts.minBytes ?? 1;
    this.maxBytes = opts.maxBytes ?? 50 * 1024 * 1024;
    this.maxPartitionBytes = opts.maxPartitionBytes ?? 1024 * 1024;
    this.autoOffsetReset = opts.autoOffsetReset ?? 'latest';
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.allowAutoTopicCreation = opts.allowAutoTopicCreation ?? false;
  }

  /** Adds (or repositions) partitions. */
  assign(assignments: readonly Assignment[]): void {
    for (const a of assignments) {
      const offset = a.offset ?? 'latest';
      if (typeof offset === 'number' && (!Number.isInteger(offset) || offset < 0)) {
        throw new Error(`invalid offset ${offset} for ${a.topic}-${a.partition}`);
      }
      // A new state object: data fetched for the old one is dropped when it arrives.
      this.partitions.set(key(a.topic, a.partition), {
        topic: a.topic,
        partition: a.partition,
        position: offset,
        fetchOffset: typeof offset === 'number' ? offset : -1,
        fetching: false,
        highWatermark: -1,
        pausedUntil: 0,
      });
    }
    this.dropStale();
  }

  /** Assigns every partition of `topic` at `offset` (waits for the topic's metadata). */
  async assignTopic(topic: string, offset: OffsetSpec = 'latest'): Promise<number[]> {
    const t = await this.cluster.topicMetadata(topic, { refresh: true, allowAutoTopicCreation: this.allowAutoTopicCreation });
    const ids = t.partitions.map((p) => p.partition);
    this.assign(ids.map((partition) => ({ topic, partition, offset })));
    return ids;
  }

  /** Removes partitions (all when called without arguments). */
  unassign(assignments?: ReadonlyArray<{ topic: string; partition: number }>): void {
    if (!assignments) this.partitions.clear();
    else for (const a of assignments) this.partitions.delete(key(a.topic, a.partition));
    this.dropStale();
  }

  assignment(): Array<{ topic: string; partition: number }> {
    return [...this.partitions.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
  }

  /** The next offset to be returned for a partition (undefined until resolved). */
  position(topic: string, partition: number): number | undefined {
    const p = this.partitions.get(key(topic, partition));
    return p && typeof p.position === 'number' ? p.position : undefined;
  }

  /** Moves a partition's position (data fetched ahead for it is dropped). */
  seek(topic: string, partition: number, offset: OffsetSpec): void {
    const p = this.partitions.get(key(topic, partition));
    if (!p) throw new Error(`${topic}-${partition} is not assigned`);
    this.assign([{ topic, partition, offset }]);
  }

  /** The high watermark seen in the last fetch of a partition (-1 before any). */
  highWatermark(topic: string, partition: number): number {
    return this.partitions.get(key(topic, partition))?.highWatermark ?? -1;
  }

  /**
   * Resolves with the records of the fetches that arrived (possibly none, after maxWaitMs), and sends the
   * next fetches before returning.
   */
  async poll(opts: { maxWaitMs?: number } = {}): Promise<ConsumerRecord[]> {
    if (!(await this.awaitData(opts.maxWaitMs))) return [];
    const out: ConsumerRecord[] = [];
    for (const c of this.takeCompleted()) this.decode(c, out);
    if (out.length > 0) this.errorStreak = 0;
    this.fetchAhead();
    return out;
  }

  /**
   * As poll(), but calls `fn` once per record with one reused RecordView instead of returning objects: the view
   * is valid only during the call (copy what you keep). Resolves with the number of records.
   */
  async pollEach(fn: (record: RecordView) => void, opts: { maxWaitMs?: number; deliverIf?: () => boolean } = {}): Promise<number> {
    if (!(await this.awaitData(opts.maxWaitMs))) return 0;
    if (opts.deliverIf && !opts.deliverIf()) return 0; // (GroupConsumer: a rebalance began meanwhile)
    let n = 0;
    for (const c of this.takeCompleted()) {
      const next = this.walker.walk(c.st.topic, c.st.partition, c.data, c.fromOffset, this.abortFilter(c.aborted), fn);
      n += this.walker.delivered;
      c.st.position = Math.max(next, c.nextOffset);
    }
    if (n > 0) this.errorStreak = 0;
    this.fetchAhead();
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

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops the consumer: pending poll() calls end with no records, connections are closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeup?.();
    this.dataArrived?.();
    this.completed = [];
    if (this.ownsCluster) await this.cluster.close();
  }

  // ------------------------------------------------------------------------------------------------

  /** Fetched data for assigned partitions, current positions only. */
  private takeCompleted(): CompletedFetch[] {
    const list = this.completed;
    this.completed = [];
    return list.filter((c) => this.partitions.get(key(c.st.topic, c.st.partition)) === c.st && c.st.position === c.fromOffset);
  }

  /** Drops fetched data of partitions unassigned or repositioned. */
  private dropStale(): void {
    if (this.completed.length === 0) return;
    this.completed = this.completed.filter((c) => this.partitions.get(key(c.st.topic, c.st.partition)) === c.st);
  }

  /**
   * Waits until fetched data is ready (sending fetches if none is on its way), at most maxWaitMs; false when
   * there is none (closed, nothing assigned, timed out). Throws a failure of a fetch that ran ahead.
   */
  private async awaitData(maxWaitOpt: number | undefined): Promise<boolean> {
    const maxWaitMs = Math.max(0, Math.min(maxWaitOpt ?? this.maxWaitMs, this.maxWaitMs));
    this.throwPending();
    if (this.completed.length > 0) return true;
    if (this.closed) return false;
    if (this.partitions.size === 0) {
      await this.interruptibleSleep(maxWaitMs);
      return false;
    }
    await this.resolvePositions();
    await this.ensureMetadata();
    const sent = this.fetchAhead();
    if (sent === 0 && this.inFlight.size === 0) {
      // every partition is paused (errors) or leaderless
      await this.interruptibleSleep(Math.min(maxWaitMs, backoffMs(this.errorStreak++, this.retryBackoffMs, 1000)));
      this.throwPending();
      return this.completed.length > 0;
    }
    if (this.completed.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, maxWaitMs);
        const self = this;
        function done(): void {
          clearTimeout(timer);
          if (self.dataArrived === done) self.dataArrived = undefined;
          resolve();
        }
        this.dataArrived = done;
      });
    }
    this.throwPending();
    return this.completed.length > 0;
  }

  private throwPending(): void {
    const err = this.pendingError;
    if (err) {
      this.pendingError = undefined;
      throw err;
    }
  }

  /**
   * Sends a fetch to each leader that has none on its way, for its partitions with a resolved position, no
   * data waiting and no pause; returns the number sent.
   */
  private fetchAhead(): number {
    if (this.closed) return 0;
    const now = Date.now();
    const waiting = new Set(this.completed.map((c) => c.st));
    const byLeader = new Map<number, PartitionState[]>();
    const stale = new Set<string>();
    for (const p of this.partitions.values()) {
      if (typeof p.position !== 'number' || p.fetching || p.pausedUntil > now || waiting.has(p)) continue;
      const leader = this.cluster.cachedLeader(p.topic, p.partition);
      if (leader < 0) {
        stale.add(p.topic);
        p.pausedUntil = now + this.retryBackoffMs;
        continue;
      }
      if (this.inFlight.has(leader)) continue;
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(p);
    }
    if (stale.size > 0) void this.refresh([...stale]).catch((err: unknown) => this.background(err));
    for (const [leader, ps] of byLeader) {
      for (const p of ps) p.fetching = true;
      const done = this.fetchFrom(leader, ps)
        .catch((err: unknown) => this.background(err))
        .finally(() => {
          for (const p of ps) p.fetching = false;
          this.inFlight.delete(leader);
          const wake = this.dataArrived;
          this.dataArrived = undefined;
          wake?.();
        });
      this.inFlight.set(leader, done);
    }
    return byLeader.size;
  }

  /** Keeps a failure of background work for the next poll (never an unhandled rejection). */
  private background(err: unknown): void {
    if (this.closed) return;
    this.pendingError ??= err instanceof Error ? err : new Error(String(err));
  }

  private interruptibleSleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.wakeup === done) self.wakeup = undefined;
        resolve();
      }
      this.wakeup = done;
    });
  }

  private async refresh(topics: string[]): Promise<void> {
    try {
      await this.cluster.refreshMetadata(topics, { allowAutoTopicCreation: this.allowAutoTopicCreation });
    } catch (err) {
      if (!(err instanceof ConnectionError) || !err.retriable) throw err;
    }
  }

  /** Loads the metadata of assigned topics not in the cache yet (fetchAhead reads leaders from the cache only). */
  private async ensureMetadata(): Promise<void> {
    const missing = new Set<string>();
    for (const p of this.partitions.values()) if (!this.cluster.metadata.topics.has(p.topic)) missing.add(p.topic);
    for (const t of missing) {
      try {
        await this.cluster.topicMetadata(t, { allowAutoTopicCreation: this.allowAutoTopicCreation });
      } catch (err) {
        if (!isRetriable(err)) throw err;
      }
    }
  }

  /** Resolves 'earliest'/'latest' positions with ListOffsets. */
  private async resolvePositions(): Promise<void> {
    const todo = [...this.partitions.values()].filter((p) => typeof p.position !== 'number');
    if (todo.length === 0) return;
    const offsets = await listOffsets(
      this.cluster,
      todo.map((p) => ({ topic: p.topic, partition: p.partition, spec: p.position as 'earliest' | 'latest' })),
      this.isolationLevel,
    );
    for (const p of todo) {
      const o = offsets.get(key(p.topic, p.partition));
      if (o && this.partitions.get(key(p.topic, p.partition)) === p) {
        p.position = o.offset;
        p.fetchOffset = o.offset;
      }
    }
  }

  private async fetchFrom(leader: number, parts: PartitionState[]): Promise<void> {
    const byTopic = new Map<string, PartitionState[]>();
    for (const p of parts) {
      let list = byTopic.get(p.topic);
      if (!list) byTopic.set(p.topic, (list = []));
      list.push(p);
    }
    const requested = new Map(parts.map((p) => [key(p.topic, p.partition), { st: p, fetchOffset: p.fetchOffset, position: p.position as number }]));
    let resp: FetchResponse;
    const sentAt = Date.now();
    try {
      const conn = await this.cluster.connection(leader);
      resp = await conn.request<FetchResponse>(
        ApiKey.Fetch,
        {
          clusterId: null,
          replicaId: -1,
          replicaState: { replicaId: -1, replicaEpoch: -1 },
          maxWaitMs: this.maxWaitMs,
          minBytes: this.minBytes,
          maxBytes: this.maxBytes,
          isolationLevel: ISOLATION[this.isolationLevel],
          sessionId: 0,
          sessionEpoch: -1,
          topics: [...byTopic].map(([topic, ps]) => ({
            topic,
            topicId: ZERO_UUID,
            partitions: ps.map((p) => ({
              partition: p.partition,
              currentLeaderEpoch: -1,
              fetchOffset: p.fetchOffset,
              lastFetchedEpoch: -1,
              logStartOffset: -1,
              partitionMaxBytes: this.maxPartitionBytes,
            })),
          })),
          forgottenTopicsData: [],
          rackId: '',
        },
        { timeoutMs: this.maxWaitMs + 30_000 },
      );
    } catch (err) {
      if (this.closed) return;
      if ((err instanceof ConnectionError && err.retriable) || (err instanceof KafkaError && RETRIABLE_ERROR_CODES.has(err.code))) {
        const until = Date.now() + backoffMs(this.errorStreak++, this.retryBackoffMs, 1000);
        for (const p of parts) p.pausedUntil = until;
        await this.refresh([...byTopic.keys()]);
        return;
      }
      throw err;
    }
    if (this.closed) return;
    const latency = Date.now() - sentAt;
    this.stats.fetches++;
    this.stats.fetchLatencyTotal += latency;
    if (latency > this.stats.fetchLatencyMax) this.stats.fetchLatencyMax = latency;
    if (resp.errorCode !== ErrorCode.NONE) {
      throw new KafkaError(resp.errorCode, `Fetch from broker ${leader} failed: ${errorName(resp.errorCode)}`);
    }
    const stale = new Set<string>();
    for (const t of resp.responses) {
      for (const pd of t.partitions) {
        const k = key(t.topic, pd.partitionIndex);
        const req = requested.get(k);
        const st = this.partitions.get(k);
        // Ignore answers for partitions unassigned or moved while the fetch was in flight.
        if (!req || st !== req.st || st.fetchOffset !== req.fetchOffset) continue;
        if (pd.errorCode !== ErrorCode.NONE) {
          this.handlePartitionError(st, pd.errorCode, stale);
          continue;
        }
        st.highWatermark = pd.highWatermark;
        const data = pd.records;
        if (!data || data.length === 0) continue;
        let next = st.fetchOffset;
        forEachBatch(data, (pos) => {
          const last = batchLastOffset(data, pos);
          if (last + 1 > next) next = last + 1;
        });
        if (next === st.fetchOffset) continue; // only a partial batch: the next fetch asks again
        this.stats.bytesFetched += data.length;
        st.fetchOffset = next;
        this.completed.push({ st, fromOffset: req.position, nextOffset: next, data, aborted: pd.abortedTransactions });
      }
    }
    if (stale.size > 0) await this.refresh([...stale]);
  }

  private handlePartitionError(st: PartitionState, code: number, stale: Set<string>): void {
    if (code === ErrorCode.OFFSET_OUT_OF_RANGE) {
      if (this.autoOffsetReset === 'none') {
        throw new KafkaError(code, `offset ${String(st.fetchOffset)} is out of range for ${st.topic}-${st.partition}`);
      }
      st.position = this.autoOffsetReset;
      st.fetchOffset = -1;
      return;
    }
    if (RETRIABLE_ERROR_CODES.has(code)) {
      if (METADATA_ERROR_CODES.has(code)) stale.add(st.topic);
      st.pausedUntil = Date.now() + backoffMs(this.errorStreak++, this.retryBackoffMs, 1000);
      return;
    }
    throw new KafkaError(code, `Fetch ${st.topic}-${st.partition}: ${errorName(code)}`);
  }

  /** read_committed: which producers' transactional batches to drop, as the batches go by. */
  private abortFilter(aborted: AbortedTransactions): AbortedTransactions | null {
    if (this.isolationLevel !== 'read_committed' || !aborted || aborted.length === 0) return null;
    return [...aborted].sort((a, b) => a.firstOffset - b.firstOffset);
  }

  private decode(c: CompletedFetch, out: ConsumerRecord[]): void {
    const { st, data: buf } = c;
    const fetchOffset = c.fromOffset;
    let next = fetchOffset;
    const readCommitted = this.isolationLevel === 'read_committed';
    const abortedTxns = this.abortFilter(c.aborted) ?? [];
    let abortIdx = 0;
    const abortedProducers = new Set<number>();
    forEachBatch(buf, (pos) => {
      const batch = decodeRecordBatch(buf, pos);
      if (batch.lastOffset < fetchOffset) return;
      if (readCommitted) {
        while (abortIdx < abortedTxns.length && abortedTxns[abortIdx]!.firstOffset <= batch.lastOffset) {
          abortedProducers.add(abortedTxns[abortIdx]!.producerId);
          abortIdx++;
        }
      }
      next = Math.max(next, batch.lastOffset + 1);
      if (batch.isControl) {
        // An abort/commit marker ends that producer's transaction.
        if (readCommitted) abortedProducers.delete(batch.producerId);
        return;
      }
      if (readCommitted && batch.isTransactional && abortedProducers.has(batch.producerId)) return;
      for (const r of batch.records) {
        if (r.offset < fetchOffset) continue;
        out.push({
          topic: st.topic,
          partition: st.partition,
          offset: r.offset,
          timestamp: r.timestamp,
          timestampType: batch.timestampType,
          key: r.key,
          value: r.value,
          headers: r.headers,
        });
      }
    });
    st.position = Math.max(next, c.nextOffset);
  }
}

export function createConsumer(opts: ConsumerOptions): Consumer {
  return new Consumer(opts);
}
