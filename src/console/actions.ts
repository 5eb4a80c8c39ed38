/**
 * The console's changes to the cluster: create and delete topics, reset a group's committed offsets. Each
 * destructive one needs a confirmation naming its target (the browser asks the user to type it), so a stray
 * or forged request cannot delete a topic or move a group by accident. Rules as in Kafka's tools: offsets of
 * a group are reset only while it has no members, and new offsets are clamped to the partition's log.
 */
import type { Admin, GroupOffset } from '../client/admin.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { ACTIVE_GROUP_STATES } from './cluster-view.js';

/** A request the console refuses before asking the cluster (HTTP 400, or `status`). */
export class ConsoleRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ConsoleRequestError';
  }
}

export interface CreateTopicRequest {
  name: string;
  partitions: number | null;
  replicationFactor: number | null;
  configs: Record<string, string>;
}

export async function createTopic(admin: Admin, req: CreateTopicRequest): Promise<{ name: string; partitions: number; replicationFactor: number }> {
  const [created] = await admin.createTopics([
    {
      name: req.name,
      ...(req.partitions !== null ? { numPartitions: req.partitions } : {}),
      ...(req.replicationFactor !== null ? { replicationFactor: req.replicationFactor } : {}),
      configs: req.configs,
    },
  ]);
  return { name: req.name, partitions: created?.numPartitions ?? -1, replicationFactor: created?.replicationFactor ?? -1 };
}

export async function deleteTopic(admin: Admin, name: string, confirm: unknown): Promise<void> {
  if (confirm !== name) throw new ConsoleRequestError(`to delete topic '${name}', confirm with its name`);
  await admin.deleteTopics([name]);
}

export type ResetTo = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset'; offset: number } | { kind: 'timestamp'; timestamp: number } | { kind: 'shift'; by: number };

export interface ResetRequest {
  groupId: string;
  /** null: every partition the group has committed offsets for. */
  topic: string | null;
  to: ResetTo;
  /** Must equal groupId unless dryRun. */
  confirm: unknown;
  dryRun: boolean;
}

export interface ResetResult {
  dryRun: boolean;
  offsets: Array<{ topic: string; partition: number; previousOffset: number | null; newOffset: number }>;
}

/** kafka-consumer-groups --reset-offsets: plan the new offsets and (unless dryRun) commit them. */
export async function resetGroupOffsets(admin: Admin, req: ResetRequest): Promise<ResetResult> {
  if (!req.dryRun && req.confirm !== req.groupId) throw new ConsoleRequestError(`to reset the offsets of group '${req.groupId}', confirm with its id`);
  const desc = await admin.describeGroup(req.groupId);
  if (ACTIVE_GROUP_STATES.has(desc.state)) {
    throw new ConsoleRequestError(`Assignments can only be reset if the group '${req.groupId}' is inactive, but the current state is ${desc.state}.`, 409);
  }
  const committed = desc.state === 'Dead' ? [] : await admin.listGroupOffsets(req.groupId);
  const previous = new Map(committed.filter((c) => c.offset >= 0).map((c) => [`${c.topic}\u0000${c.partition}`, c.offset]));
  let partitions: Array<{ topic: string; partition: number }>;
  if (req.topic !== null) {
    const [t] = await admin.describeTopics([req.topic]);
    partitions = (t?.partitions ?? []).map((p) => ({ topic: req.topic!, partition: p.partition }));
  } else {
    partitions = committed.map((c) => ({ topic: c.topic, partition: c.partition }));
  }
  if (partitions.length === 0) throw new ConsoleRequestError(`group '${req.groupId}' has no committed offsets to reset; choose a topic`);

  const offsets: ResetResult['offsets'] = [];
  for (const topic of new Set(partitions.map((p) => p.topic))) {
    const ps = partitions.filter((p) => p.topic === topic).map((p) => p.partition);
    const [earliest, latest] = await Promise.all([admin.listOffsets(topic, 'earliest', { partitions: ps }), admin.listOffsets(topic, 'latest', { partitions: ps })]);
    const byTimestamp = req.to.kind === 'timestamp' ? await admin.listOffsets(topic, { timestamp: req.to.timestamp }, { partitions: ps }) : [];
    for (const partition of ps) {
      const lo = earliest.find((o) => o.partition === partition)?.offset ?? 0;
      const hi = latest.find((o) => o.partition === partition)?.offset ?? 0;
      const prev = previous.get(`${topic}\u0000${partition}`) ?? null;
      let target: number;
      switch (req.to.kind) {
        case 'earliest':
          target = lo;
          break;
        case 'latest':
          target = hi;
          break;
        case 'offset':
          target = req.to.offset;
          break;
        case 'shift':
          target = (prev ?? lo) + req.to.by;
          break;
        case 'timestamp': {
          const found = byTimestamp.find((o) => o.partition === partition)?.offset ?? -1;
          target = found < 0 ? hi : found;
          break;
        }
      }
      offsets.push({ topic, partition, previousOffset: prev, newOffset: Math.min(Math.max(target, lo), hi) });
    }
  }
  if (!req.dryRun) {
    const commit: GroupOffset[] = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.newOffset }));
    try {
      await admin.alterGroupOffsets(req.groupId, commit);
    } catch (err) {
      // A member joined between the check and the commit: the coordinator refuses it as Kafka's does.
      if (err instanceof KafkaError && (err.code === ErrorCode.UNKNOWN_MEMBER_ID || err.code === ErrorCode.ILLEGAL_GENERATION)) {
        throw new ConsoleRequestError(`group '${req.groupId}' became active; offsets not reset`, 409);
      }
      throw err;
    }
  }
  return { dryRun: req.dryRun, offsets };
}
