/**
 * Cluster-state helpers for controller tests: the partition states and controller znodes as the
 * registry has them, Metadata as a third-party client (kcat) sees it from one broker, and a
 * stand-in for a partition leader's own ISR change (compare-and-set on the state znode plus an
 * /isr_change_notification node, exactly the protocol a leader follows).
 */
import type { Registry } from '../../src/registry/registry.js';
import {
  controllerEpochPath,
  controllerPath,
  decodeController,
  decodeControllerEpoch,
  decodePartitionState,
  decodeTopicAssignment,
  encodeIsrChangeNotification,
  encodePartitionState,
  isrChangeNotificationPath,
  isrChangePrefix,
  partitionStatePath,
  topicPath,
  type PartitionState,
} from '../../src/registry/paths.js';
import { kcat } from './run.js';

export async function partitionStates(registry: Registry, topic: string): Promise<Map<number, PartitionState & { version: number }>> {
  const out = new Map<number, PartitionState & { version: number }>();
  const node = await registry.get(topicPath(topic));
  if (!node) return out;
  for (const p of decodeTopicAssignment(topic, node.data).partitions.keys()) {
    const st = await registry.get(partitionStatePath(topic, p));
    if (st) out.set(p, { ...decodePartitionState(st.data), version: st.stat.version });
  }
  return out;
}

export async function assignment(registry: Registry, topic: string): Promise<Map<number, number[]>> {
  const node = await registry.get(topicPath(topic));
  return node ? decodeTopicAssignment(topic, node.data).partitions : new Map();
}

export async function controllerId(registry: Registry): Promise<number> {
  const node = await registry.get(controllerPath);
  return node ? decodeController(node.data).brokerId : -1;
}

export async function controllerEpoch(registry: Registry): Promise<number> {
  const node = await registry.get(controllerEpochPath);
  return node ? decodeControllerEpoch(node.data) : 0;
}

/**
 * What a partition leader does when a follower catches up (Kafka's ZooKeeper-era Partition.expandIsr):
 * compare-and-set the state znode with the ISR grown (leader and leader epoch unchanged), then
 * announce it under /isr_change_notification. No-op when the broker is already in the ISR.
 */
export async function leaderExpandsIsr(registry: Registry, topic: string, partition: number, broker: number): Promise<void> {
  for (;;) {
    const node = await registry.get(partitionStatePath(topic, partition));
    if (!node) throw new Error(`no state for ${topic}-${partition}`);
    const state = decodePartitionState(node.data);
    if (state.isr.includes(broker)) return;
    try {
      await registry.set(partitionStatePath(topic, partition), encodePartitionState({ ...state, isr: [...state.isr, broker] }), node.stat.version);
    } catch (err) {
      if ((err as { code?: string }).code === 'BAD_VERSION') continue;
      throw err;
    }
    await registry.create(`${isrChangeNotificationPath}/${isrChangePrefix}`, encodeIsrChangeNotification([{ topic, partition }]), 'persistent_sequential');
    return;
  }
}

export interface KcatPartition {
  partition: number;
  leader: number;
  replicas: number[];
  isrs: number[];
  error?: string;
}

export interface KcatMetadata {
  controllerid: number;
  brokers: Array<{ id: number; name: string }>;
  topics: Array<{ topic: string; error?: string; partitions: KcatPartition[] }>;
}

/** Metadata as kcat (librdkafka) gets it from one broker: `kcat -b <broker> -L -J [-t topic]`. */
export async function kcatMetadata(broker: string, topic?: string): Promise<KcatMetadata> {
  const res = await kcat(['-b', broker, '-L', '-J', ...(topic ? ['-t', topic] : [])], { timeoutMs: 20_000 });
  if (res.code !== 0) throw new Error(`kcat -L failed against ${broker}: ${res.stderr}`);
  const raw = JSON.parse(res.stdout) as {
    controllerid: number;
    brokers: Array<{ id: number; name: string }>;
    topics: Array<{ topic: string; error?: string; partitions: Array<{ partition: number; leader: number; error?: string; replicas: Array<{ id: number }>; isrs: Array<{ id: number }> }> }>;
  };
  return {
    controllerid: raw.controllerid,
    brokers: raw.brokers,
    topics: raw.topics.map((t) => ({
      topic: t.topic,
      ...(t.error ? { error: t.error } : {}),
      partitions: t.partitions
        .map((p) => ({ partition: p.partition, leader: p.leader, replicas: p.replicas.map((r) => r.id), isrs: p.isrs.map((r) => r.id), ...(p.error ? { error: p.error } : {}) }))
        .sort((a, b) => a.partition - b.partition),
    })),
  };
}
