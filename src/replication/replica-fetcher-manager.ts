/**
 * The replica fetchers of a broker (Kafka's AbstractFetcherManager): num.replica.fetchers per source broker,
 * each partition on fetcher abs(31 * hash(topic) + partition) % num.replica.fetchers of its leader, as Kafka
 * spreads them. Fetchers with no partitions left are shut down.
 */
import { javaStringHashCode, kafkaAbs } from '../group/offsets-topic.js';
import { ReplicaFetcher, fetchStateKey, type FollowTarget, type ReplicaFetcherHost, type SourceBroker } from './replica-fetcher.js';

export class ReplicaFetcherManager {
  private readonly fetchers = new Map<string, ReplicaFetcher>();
  /** Which fetcher follows each partition (by fetchStateKey). */
  private readonly assigned = new Map<string, ReplicaFetcher>();

  constructor(private readonly host: ReplicaFetcherHost) {}

  fetcherId(topic: string, partition: number): number {
    return kafkaAbs((Math.imul(31, javaStringHashCode(topic)) + partition) | 0) % this.host.config.numReplicaFetchers;
  }

  /** The source broker a partition is fetched from, if any. */
  sourceOf(topic: string, partition: number): SourceBroker | undefined {
    return this.assigned.get(fetchStateKey(topic, partition))?.sourceBroker;
  }

  fetcherOf(topic: string, partition: number): ReplicaFetcher | undefined {
    return this.assigned.get(fetchStateKey(topic, partition));
  }

  allFetchers(): ReplicaFetcher[] {
    return [...this.fetchers.values()];
  }

  /** Kafka's ReplicaFetcherManager MaxLag: the largest lag, in records, of any partition this broker follows. */
  maxLag(): number {
    let max = 0;
    for (const f of this.fetchers.values()) max = Math.max(max, f.maxLag);
    return max;
  }

  /**
   * Every followed partition's lag with the fetcher following it, named as Kafka names its fetcher threads'
   * metrics (ReplicaFetcherThread-<fetcher id>-<leader id>).
   */
  partitionLags(): Array<{ clientId: string; topic: string; partition: number; lag: number }> {
    const out: Array<{ clientId: string; topic: string; partition: number; lag: number }> = [];
    for (const f of this.fetchers.values()) {
      const clientId = `ReplicaFetcherThread-${f.fetcherId}-${f.sourceBroker.id}`;
      for (const l of f.partitionLags()) out.push({ clientId, ...l });
    }
    return out;
  }

  /** Follows the partition from `source` (removing it from another fetcher first). */
  async addPartition(target: FollowTarget, source: SourceBroker): Promise<void> {
    const key = fetchStateKey(target.topic, target.partition);
    await this.removePartitions([key]);
    const id = this.fetcherId(target.topic, target.partition);
    const fkey = `${source.id}:${id}`;
    let f = this.fetchers.get(fkey);
    if (f !== undefined && (f.sourceBroker.host !== source.host || f.sourceBroker.port !== source.port)) f.retarget(source);
    if (f === undefined) this.fetchers.set(fkey, (f = new ReplicaFetcher(source, id, this.host)));
    f.addPartitions([target]);
    this.assigned.set(key, f);
  }

  /** Stops following these partitions; resolves once their fetchers no longer touch them. */
  async removePartitions(keys: readonly string[]): Promise<void> {
    const byFetcher = new Map<ReplicaFetcher, string[]>();
    for (const k of keys) {
      const f = this.assigned.get(k);
      if (f === undefined) continue;
      this.assigned.delete(k);
      let list = byFetcher.get(f);
      if (!list) byFetcher.set(f, (list = []));
      list.push(k);
    }
    await Promise.all([...byFetcher].map(([f, ks]) => f.removePartitions(ks)));
    await this.shutdownIdleFetchers();
  }

  /** A source broker's endpoint changed (it restarted elsewhere): its fetchers reconnect there. */
  retarget(source: SourceBroker): void {
    for (const f of this.fetchers.values()) {
      const s = f.sourceBroker;
      if (s.id === source.id && (s.host !== source.host || s.port !== source.port)) f.retarget(source);
    }
  }

  private async shutdownIdleFetchers(): Promise<void> {
    const idle: ReplicaFetcher[] = [];
    for (const [k, f] of this.fetchers) {
      if (f.partitionCount === 0) {
        this.fetchers.delete(k);
        idle.push(f);
      }
    }
    await Promise.all(idle.map((f) => f.shutdown()));
  }

  async shutdown(): Promise<void> {
    const all = [...this.fetchers.values()];
    this.fetchers.clear();
    this.assigned.clear();
    await Promise.all(all.map((f) => f.shutdown()));
  }
}
