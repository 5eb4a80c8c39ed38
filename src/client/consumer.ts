/**
 * The consumer, assign mode: a set of (topic, partition, offset | 'earliest' | 'latest') positions.
 * Earliest/latest are resolved with ListOffsets; then one Fetch per leader broker at a time (max_wait_ms,
 * min_bytes), record batches decoded, records below the requested offset skipped (the broker returns the
 * whole batch that contains the fetch offset), control batches and (read_committed) aborted transactions
 * dropped. Records come out of poll() or the async iterator.
 */
import { ClusterClient, METADATA_ERROR_CODES, RETRIABLE_ERROR_CODES, backoffMs, clusterFrom } from './cluster-client.js';
import { ConnectionError } from './connection.js';
import { decodeRecordBatch, forEachBatch, type RecordHeader } from '../protocol/records.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/apis.js';
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
  /** Resolved offset, or a spec still to resolve. */
  position: OffsetSpec;
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
export async function listOffsets(
  cluster: ClusterClient,
  requests: Array<{ topic: string; partition: number; spec: 'earliest' | 'latest' | { timestamp: number } }>,
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
          const ts = r.spec === 'earliest' ? -2 : r.spec === 'latest' ? -1 : r.spec.timestamp;
          list.push({ partitionIndex: r.partition, currentLeaderEpoch: -1, timestamp: ts, maxNumOffsets: 1 });
        }
        const version = conn.versionFor(ApiKey.ListOffsets);
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
  private buffer: ConsumerRecord[] = [];
  private bufferPos = 0;
  private closed = false;
  private errorStreak = 0;
  private wakeup: (() => void) | undefined;

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
      this.partitions.set(key(a.topic, a.partition), {
        topic: a.topic,
        partition: a.partition,
        position: offset,
        highWatermark: -1,
        pausedUntil: 0,
      });
    }
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
    this.buffer = this.buffer.slice(this.bufferPos).filter((r) => this.partitions.has(key(r.topic, r.partition)));
    this.bufferPos = 0;
  }

  assignment(): Array<{ topic: string; partition: number }> {
    return [...this.partitions.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
  }

  /** The next offset to be returned for a partition (undefined until resolved). */
  position(topic: string, partition: number): number | undefined {
    const p = this.partitions.get(key(topic, partition));
    return p && typeof p.position === 'number' ? p.position : undefined;
  }

  /** Moves a partition's position. */
  seek(topic: string, partition: number, offset: OffsetSpec): void {
    const p = this.partitions.get(key(topic, partition));
    if (!p) throw new Error(`${topic}-${partition} is not assigned`);
    p.position = offset;
    this.buffer = this.buffer.slice(this.bufferPos).filter((r) => !(r.topic === topic && r.partition === partition));
    this.bufferPos = 0;
  }

  /** The high watermark seen in the last fetch of a partition (-1 before any). */
  highWatermark(topic: string, partition: number): number {
    return this.partitions.get(key(topic, partition))?.highWatermark ?? -1;
  }

  /**
   * One fetch round: resolves with the records that arrived (possibly none, after max_wait_ms).
   * Buffered records from an earlier round are returned first.
   */
  async poll(opts: { maxWaitMs?: number } = {}): Promise<ConsumerRecord[]> {
    const maxWaitMs = Math.max(0, Math.min(opts.maxWaitMs ?? this.maxWaitMs, this.maxWaitMs));
    if (this.bufferPos < this.buffer.length) {
      const out = this.buffer.slice(this.bufferPos);
      this.buffer = [];
      this.bufferPos = 0;
      return out;
    }
    if (this.closed) return [];
    if (this.partitions.size === 0) {
      await this.interruptibleSleep(maxWaitMs);
      return [];
    }
    await this.resolvePositions();
    const now = Date.now();
    const byLeader = new Map<number, PartitionState[]>();
    const stale = new Set<string>();
    for (const p of this.partitions.values()) {
      if (typeof p.position !== 'number' || p.pausedUntil > now) continue;
      let leader: number;
      try {
        leader = await this.cluster.leaderFor(p.topic, p.partition);
      } catch (err) {
        if (err instanceof KafkaError && RETRIABLE_ERROR_CODES.has(err.code)) {
          p.pausedUntil = now + this.retryBackoffMs;
          stale.add(p.topic);
          continue;
        }
        throw err;
      }
      if (leader < 0) {
        stale.add(p.topic);
        p.pausedUntil = now + this.retryBackoffMs;
        continue;
      }
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push(p);
    }
    if (stale.size > 0) await this.refresh([...stale]);
    if (byLeader.size === 0) {
      await this.interruptibleSleep(Math.min(maxWaitMs, backoffMs(this.errorStreak++, this.retryBackoffMs, 1000)));
      return [];
    }
    const results = await Promise.all([...byLeader].map(([leader, ps]) => this.fetchFrom(leader, ps, maxWaitMs)));
    const records = results.flat();
    if (records.length > 0) this.errorStreak = 0;
    return records;
  }

  /** Records one at a time; ends when close() is called. */
  async *records(): AsyncGenerator<ConsumerRecord, void, undefined> {
    try {
      while (!this.closed) {
        if (this.bufferPos >= this.buffer.length) {
          const batch = await this.poll();
          if (this.closed) return;
          this.buffer = batch;
          this.bufferPos = 0;
          continue;
        }
        yield this.buffer[this.bufferPos++]!;
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
    if (this.ownsCluster) await this.cluster.close();
  }

  // ------------------------------------------------------------------------------------------------

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
      if (o && this.partitions.get(key(p.topic, p.partition)) === p) p.position = o.offset;
    }
  }

  private async fetchFrom(leader: number, parts: PartitionState[], maxWaitMs: number): Promise<ConsumerRecord[]> {
    const byTopic = new Map<string, PartitionState[]>();
    for (const p of parts) {
      let list = byTopic.get(p.topic);
      if (!list) byTopic.set(p.topic, (list = []));
      list.push(p);
    }
    const requested = new Map(parts.map((p) => [key(p.topic, p.partition), p.position as number]));
    let resp: FetchResponse;
    try {
      const conn = await this.cluster.connection(leader);
      resp = await conn.request<FetchResponse>(
        ApiKey.Fetch,
        {
          clusterId: null,
          replicaId: -1,
          replicaState: { replicaId: -1, replicaEpoch: -1 },
          maxWaitMs,
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
              fetchOffset: p.position as number,
              lastFetchedEpoch: -1,
              logStartOffset: -1,
              partitionMaxBytes: this.maxPartitionBytes,
            })),
          })),
          forgottenTopicsData: [],
          rackId: '',
        },
        { timeoutMs: maxWaitMs + 30_000 },
      );
    } catch (err) {
      if (this.closed) return [];
      if ((err instanceof ConnectionError && err.retriable) || (err instanceof KafkaError && RETRIABLE_ERROR_CODES.has(err.code))) {
        const until = Date.now() + backoffMs(this.errorStreak++, this.retryBackoffMs, 1000);
        for (const p of parts) p.pausedUntil = until;
        await this.refresh([...byTopic.keys()]);
        return [];
      }
      throw err;
    }
    if (resp.errorCode !== ErrorCode.NONE) {
      throw new KafkaError(resp.errorCode, `Fetch from broker ${leader} failed: ${errorName(resp.errorCode)}`);
    }
    const out: ConsumerRecord[] = [];
    const stale = new Set<string>();
    for (const t of resp.responses) {
      for (const pd of t.partitions) {
        const k = key(t.topic, pd.partitionIndex);
        const st = this.partitions.get(k);
        // Ignore answers for partitions unassigned or moved while the fetch was in flight.
        if (!st || st.position !== requested.get(k)) continue;
        if (pd.errorCode !== ErrorCode.NONE) {
          this.handlePartitionError(st, pd.errorCode, stale);
          continue;
        }
        st.highWatermark = pd.highWatermark;
        if (pd.records && pd.records.length > 0) this.decode(st, pd.records, pd.abortedTransactions, out);
      }
    }
    if (stale.size > 0) await this.refresh([...stale]);
    return out;
  }

  private handlePartitionError(st: PartitionState, code: number, stale: Set<string>): void {
    if (code === ErrorCode.OFFSET_OUT_OF_RANGE) {
      if (this.autoOffsetReset === 'none') {
        throw new KafkaError(code, `offset ${String(st.position)} is out of range for ${st.topic}-${st.partition}`);
      }
      st.position = this.autoOffsetReset;
      return;
    }
    if (RETRIABLE_ERROR_CODES.has(code)) {
      if (METADATA_ERROR_CODES.has(code)) stale.add(st.topic);
      st.pausedUntil = Date.now() + backoffMs(this.errorStreak++, this.retryBackoffMs, 1000);
      return;
    }
    throw new KafkaError(code, `Fetch ${st.topic}-${st.partition}: ${errorName(code)}`);
  }

  private decode(
    st: PartitionState,
    buf: Buffer,
    aborted: FetchResponse['responses'][number]['partitions'][number]['abortedTransactions'],
    out: ConsumerRecord[],
  ): void {
    const fetchOffset = st.position as number;
    let next = fetchOffset;
    const readCommitted = this.isolationLevel === 'read_committed';
    const abortedTxns = readCommitted && aborted ? [...aborted].sort((a, b) => a.firstOffset - b.firstOffset) : [];
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
    st.position = next;
  }
}

export function createConsumer(opts: ConsumerOptions): Consumer {
  return new Consumer(opts);
}
