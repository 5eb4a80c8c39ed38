/**
 * The broker's view of the cluster, rebuilt from the registry (the source of truth) whenever it
 * changes: live brokers, the controller, topics with their ids, assignments and partition states.
 */
import { uuidToString } from '../protocol/primitives.js';

export interface BrokerEndpoint {
  id: number;
  /** The endpoint other brokers use (the inter-broker listener's). */
  host: string;
  port: number;
  rack: string | null;
  /** Every advertised endpoint by listener name: clients are told those of the listener they connected to. */
  listeners?: ReadonlyMap<string, { readonly host: string; readonly port: number }>;
}

/** A broker's endpoint on a listener (Kafka's getAliveBrokerNode(id, listenerName)); undefined when it has none there. */
export function endpointOn(b: BrokerEndpoint, listenerName: string): { host: string; port: number } | undefined {
  if (b.listeners === undefined) return { host: b.host, port: b.port };
  return b.listeners.get(listenerName);
}

export interface PartitionInfo {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

export interface TopicInfo {
  name: string;
  topicId: Buffer;
  partitions: PartitionInfo[];
  /** Per-topic config overrides (from /config/topics/<topic>). */
  config: Record<string, string>;
  internal: boolean;
}

export class MetadataCache {
  clusterId = '';
  controllerId = -1;
  brokers = new Map<number, BrokerEndpoint>();
  /** Broker id → its replicas in failed log dirs, as `<topic>-<partition>` (/kfk/offline_replicas). */
  offlineReplicas = new Map<number, ReadonlySet<string>>();
  private topicsByName = new Map<string, TopicInfo>();
  private topicsById = new Map<string, TopicInfo>();

  replaceTopics(topics: Iterable<TopicInfo>): void {
    this.topicsByName = new Map();
    this.topicsById = new Map();
    for (const t of topics) {
      this.topicsByName.set(t.name, t);
      this.topicsById.set(uuidToString(t.topicId), t);
    }
  }

  /** Adds or replaces one topic (reconciliation of a single topic). */
  upsertTopic(t: TopicInfo): void {
    const old = this.topicsByName.get(t.name);
    if (old !== undefined) this.topicsById.delete(uuidToString(old.topicId));
    this.topicsByName.set(t.name, t);
    this.topicsById.set(uuidToString(t.topicId), t);
  }

  removeTopic(name: string): void {
    const old = this.topicsByName.get(name);
    if (old === undefined) return;
    this.topicsByName.delete(name);
    this.topicsById.delete(uuidToString(old.topicId));
  }

  topic(name: string): TopicInfo | undefined {
    return this.topicsByName.get(name);
  }

  topicById(id: Buffer): TopicInfo | undefined {
    return this.topicsById.get(uuidToString(id));
  }

  topics(): TopicInfo[] {
    return [...this.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Whether `broker`'s replica of the partition is in one of its failed log dirs. */
  isReplicaInFailedDir(broker: number, topic: string, partition: number): boolean {
    return this.offlineReplicas.get(broker)?.has(`${topic}-${partition}`) ?? false;
  }

  partition(topic: string, partition: number): PartitionInfo | undefined {
    return this.topicsByName.get(topic)?.partitions[partition];
  }
}
