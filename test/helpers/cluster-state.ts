/**
 * Cluster-state helpers for controller tests: the partition states and controller znodes as the
 * registry has them, and Metadata as a third-party client (kcat) sees it from one broker.
 */
import type { Registry } from '../../src/registry/registry.js';
import {
  controllerEpochPath,
  controllerPath,
  decodeController,
  decodeControllerEpoch,
  decodePartitionState,
  decodeTopicAssignment,
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
