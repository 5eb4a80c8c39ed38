/**
 * The controller's view of the cluster (Kafka's ControllerContext): live brokers with their broker
 * epochs, brokers in a controlled shutdown, every topic's assignment and every partition's leader,
 * ISR and state-znode version. It is loaded from the registry when a broker becomes controller and
 * kept current by re-reading what each watch covers; it is never the source of truth, so a write
 * that finds the registry moved on (a version mismatch) re-reads and recomputes.
 */
import type { PartitionState } from '../registry/paths.js';

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export interface ControllerTopic {
  name: string;
  /** Kafka Uuid string from the assignment znode (null when written by an old Kafka). */
  topicId: string | null;
  /** partition → replicas (the first is the preferred replica). */
  assignment: Map<number, number[]>;
  addingReplicas: Map<number, number[]>;
  removingReplicas: Map<number, number[]>;
  /** The assignment znode's version (compare-and-set for assignment changes). */
  assignmentVersion: number;
}

export interface PartitionStateWithVersion {
  state: PartitionState;
  /** The state znode's version: the expected version of the next write. */
  version: number;
}

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
export const tpName = (tp: TopicPartitionRef): string => `${tp.topic}-${tp.partition}`;

export class ControllerContext {
  epoch = 0;
  epochZkVersion = -1;
  /** broker id → broker epoch (the czxid of /brokers/ids/<id>). */
  liveBrokerEpochs = new Map<number, number>();
  /** Brokers that asked for a controlled shutdown and are still registered. */
  readonly shuttingDownBrokerIds = new Set<number>();
  readonly topics = new Map<string, ControllerTopic>();
  private readonly states = new Map<string, PartitionStateWithVersion>();
  /**
   * broker id → its replicas in failed log dirs (tpKey), as the broker recorded them under /kfk/offline_replicas
   * (Kafka's controller learns them from LeaderAndIsr answers: replicasOnOfflineDirs). Such a replica is treated as
   * dead for its partition — never elected, out of the ISR — until the broker restarts.
   */
  readonly offlineReplicas = new Map<number, Set<string>>();

  /** Registered brokers, shutting down ones included (Kafka's liveOrShuttingDownBrokerIds). */
  aliveBrokers(): Set<number> {
    return new Set(this.liveBrokerEpochs.keys());
  }

  /** Brokers that may be elected: registered and not shutting down (Kafka's liveBrokerIds). */
  eligibleBrokers(): Set<number> {
    const out = new Set<number>();
    for (const id of this.liveBrokerEpochs.keys()) if (!this.shuttingDownBrokerIds.has(id)) out.add(id);
    return out;
  }

  isReplicaOffline(broker: number, topic: string, partition: number): boolean {
    return this.offlineReplicas.get(broker)?.has(tpKey(topic, partition)) ?? false;
  }

  /** `brokers` without those whose replica of the partition is in a failed log dir (the same set when there is none). */
  forPartition(brokers: Set<number>, tp: TopicPartitionRef): Set<number> {
    let out = brokers;
    for (const [broker, keys] of this.offlineReplicas) {
      if (!out.has(broker) || !keys.has(tpKey(tp.topic, tp.partition))) continue;
      if (out === brokers) out = new Set(brokers);
      out.delete(broker);
    }
    return out;
  }

  replicas(topic: string, partition: number): number[] | undefined {
    return this.topics.get(topic)?.assignment.get(partition);
  }

  partitionState(topic: string, partition: number): PartitionStateWithVersion | undefined {
    return this.states.get(tpKey(topic, partition));
  }

  setPartitionState(topic: string, partition: number, s: PartitionStateWithVersion): void {
    this.states.set(tpKey(topic, partition), s);
  }

  removePartitionState(topic: string, partition: number): void {
    this.states.delete(tpKey(topic, partition));
  }

  removeTopic(topic: string): void {
    const t = this.topics.get(topic);
    if (!t) return;
    for (const p of t.assignment.keys()) this.states.delete(tpKey(topic, p));
    this.topics.delete(topic);
  }

  /** Every partition of every topic, sorted by topic then partition. */
  allPartitions(): TopicPartitionRef[] {
    const out: TopicPartitionRef[] = [];
    for (const name of [...this.topics.keys()].sort()) {
      for (const p of [...this.topics.get(name)!.assignment.keys()].sort((a, b) => a - b)) out.push({ topic: name, partition: p });
    }
    return out;
  }

  /** Partitions with a replica on `broker`. */
  partitionsOnBroker(broker: number): TopicPartitionRef[] {
    return this.allPartitions().filter((tp) => this.replicas(tp.topic, tp.partition)!.includes(broker));
  }

  /** Partitions whose state names `broker` as leader. */
  partitionsLedBy(broker: number): TopicPartitionRef[] {
    return this.allPartitions().filter((tp) => this.partitionState(tp.topic, tp.partition)?.state.leader === broker);
  }

  /** Partitions being reassigned (adding or removing replicas). */
  partitionsBeingReassigned(): TopicPartitionRef[] {
    return this.allPartitions().filter((tp) => {
      const t = this.topics.get(tp.topic)!;
      return (t.addingReplicas.get(tp.partition)?.length ?? 0) > 0 || (t.removingReplicas.get(tp.partition)?.length ?? 0) > 0;
    });
  }

  /** Partitions without a leader among the eligible brokers. */
  offlinePartitionCount(): number {
    const eligible = this.eligibleBrokers();
    return this.allPartitions().filter((tp) => {
      const s = this.partitionState(tp.topic, tp.partition);
      return !s || !eligible.has(s.state.leader);
    }).length;
  }

  reset(): void {
    this.epoch = 0;
    this.epochZkVersion = -1;
    this.liveBrokerEpochs = new Map();
    this.shuttingDownBrokerIds.clear();
    this.topics.clear();
    this.states.clear();
    this.offlineReplicas.clear();
  }
}
