/**
 * What the scrape-time gauges of BrokerMetrics read from a running broker. Called only on a scrape: it may
 * walk every hosted partition and every group.
 */
import type { BrokerStateSource, HostedPartitionState } from './broker-metrics.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import type { MetadataCache } from '../cluster/metadata-cache.js';
import type { Controller } from '../cluster/controller.js';
import type { GroupCoordinator } from '../group/group-coordinator.js';
import { tpKey, type RemoteHighWatermarks } from './remote-high-watermarks.js';

export interface BrokerInternals {
  readonly replicaManager: ReplicaManager;
  readonly metadata: MetadataCache;
  readonly controller: Controller;
  readonly groupCoordinator: GroupCoordinator | null;
  connectionCounts(): Iterable<[string, number]>;
  /** High watermarks of partitions led by other brokers (src/metrics/remote-high-watermarks.ts). */
  readonly remoteHighWatermarks: RemoteHighWatermarks;
}

export function brokerStateSource(b: BrokerInternals): BrokerStateSource {
  return {
    *partitions(): Iterable<HostedPartitionState> {
      for (const p of b.replicaManager.hostedPartitions()) {
        const offline = p.log.isOffline || p.log.isClosed;
        yield {
          topic: p.topic,
          partition: p.partition,
          isLeader: p.isLeader,
          replicas: p.replicas,
          isr: p.isr,
          minInsyncReplicas: p.minInsyncReplicas,
          offline,
          size: offline ? 0 : p.log.size,
          segments: offline ? 0 : p.log.segments.length,
          logStartOffset: offline ? -1 : p.log.logStartOffset,
          logEndOffset: offline ? -1 : p.log.logEndOffset,
        };
      }
    },
    isActiveController: () => b.controller.isActive,
    *clusterPartitions() {
      for (const t of b.metadata.topics()) for (const p of t.partitions) yield { topic: t.name, partition: p.partition, leader: p.leader, replicas: p.replicas };
    },
    liveBrokerIds: () => new Set(b.metadata.brokers.keys()),
    topicCount: () => b.metadata.topics().length,
    topicNames: () => new Set(b.metadata.topics().map((t) => t.name)),
    purgatorySizes: () => ({
      produce: b.replicaManager.delayedProduce.size,
      fetch: b.replicaManager.highWatermarkPurgatory.size + b.replicaManager.purgatory.size,
      deleteRecords: b.replicaManager.delayedDeleteRecords.size,
    }),
    connectionCounts: () => b.connectionCounts(),
    async groupOffsets() {
      const gc = b.groupCoordinator;
      if (gc === null) return [];
      const out: { group: string; topic: string; partition: number; committed: number; highWatermark: number | null }[] = [];
      const elsewhere: { topic: string; partition: number }[] = [];
      for (const g of gc.listGroups()) {
        const fetched = gc.fetchOffsets(g.groupId, null);
        if (fetched.errorCode !== 0) continue;
        for (const o of fetched.offsets) {
          if (o.errorCode !== 0 || o.offset < 0) continue;
          const p = b.replicaManager.getPartition(o.topic, o.partition);
          const ledHere = p !== undefined && p.isLeader;
          const highWatermark = ledHere && !p.log.isOffline ? p.highWatermark : null;
          if (!ledHere) elsewhere.push({ topic: o.topic, partition: o.partition });
          out.push({ group: g.groupId, topic: o.topic, partition: o.partition, committed: o.offset, highWatermark });
        }
      }
      if (elsewhere.length > 0) {
        const remote = await b.remoteHighWatermarks.read(elsewhere);
        for (const o of out) if (o.highWatermark === null) o.highWatermark = remote.get(tpKey(o.topic, o.partition)) ?? null;
      }
      return out;
    },
    replicaMaxLag: () => b.replicaManager.fetcherManager.maxLag(),
    replicaPartitionLags: () => b.replicaManager.fetcherManager.partitionLags(),
    eventCounts: () => ({
      isrShrinks: b.replicaManager.isrChangeCounts.shrinks,
      isrExpands: b.replicaManager.isrChangeCounts.expands,
      leaderElections: b.controller.electionCounts.leaderElections,
      uncleanLeaderElections: b.controller.electionCounts.uncleanLeaderElections,
    }),
  };
}
