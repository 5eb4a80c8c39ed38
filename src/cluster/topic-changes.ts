/**
 * Topic creation, partition addition and topic deletion as the controller performs them: checks
 * and replica assignment with Kafka's wording (AdminZkClient / AdminManager), and the znode
 * operations that make the change (written by the controller in one fenced multi-op).
 *
 * New partitions start as Kafka's NewPartition → OnlinePartition: the first eligible replica leads,
 * the eligible replicas form the ISR, leader epoch 0. A partition none of whose replicas is
 * eligible gets no state znode yet; the controller initializes it when one of its brokers appears.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../protocol/errors.js';
import { uuidToString } from '../protocol/primitives.js';
import type { MultiOp, Registry } from '../registry/registry.js';
import {
  deleteTopicPath,
  encodePartitionState,
  encodeTopicAssignment,
  encodeTopicConfig,
  partitionPath,
  partitionStatePath,
  topicConfigPath,
  topicPartitionsPath,
  topicPath,
  type PartitionState,
} from '../registry/paths.js';
import type { ControllerTopic } from './controller-context.js';
import { initialLeaderAndIsr } from './leader-election.js';
import { assignReplicas } from './replica-assignment.js';
import { invalidTopicNameReason } from './topic-names.js';

export interface CreateTopicRequest {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  assignments?: Map<number, number[]>;
  configs?: Record<string, string>;
  validateOnly?: boolean;
}

export interface CreatePartitionsRequest {
  name: string;
  /** The new total partition count. */
  count: number;
  /** Replicas for each new partition, in partition order (optional). */
  assignments?: number[][];
  validateOnly?: boolean;
}

export interface TopicChangeError {
  errorCode: number;
  errorMessage: string;
}

/** A partition's first state, or null when none of its replicas is eligible yet. */
export interface NewPartitionPlan {
  partition: number;
  replicas: number[];
  state: PartitionState | null;
}

export interface TopicCreationPlan {
  name: string;
  topicId: Buffer;
  assignment: Map<number, number[]>;
  partitions: NewPartitionPlan[];
  configs: Record<string, string>;
}

const fail = (errorCode: number, errorMessage: string): TopicChangeError => ({ errorCode, errorMessage });

/**
 * Checks a CreateTopics entry and plans the new topic: the assignment (given, or Kafka's
 * rack-unaware round-robin over the registered brokers) and each partition's first state.
 */
export function planTopicCreation(
  req: CreateTopicRequest,
  env: {
    exists: boolean;
    /** Registered brokers (shutting-down ones included, as Kafka's AdminZkClient counts them). */
    brokers: readonly number[];
    eligible: ReadonlySet<number>;
    controllerEpoch: number;
    validateTopicConfig: (configs: Record<string, string>) => string | null;
  },
): TopicCreationPlan | TopicChangeError {
  const invalid = invalidTopicNameReason(req.name);
  if (invalid) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, invalid);
  if (env.exists) return fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${req.name}' already exists.`);
  const registered = new Set(env.brokers);
  let assignment: Map<number, number[]>;
  if (req.assignments) {
    assignment = new Map([...req.assignments.entries()].sort((a, b) => a[0] - b[0]));
    for (let p = 0; p < assignment.size; p++) {
      const replicas = assignment.get(p);
      if (!replicas || replicas.length === 0 || new Set(replicas).size !== replicas.length) {
        return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Invalid replica assignment for partition ${p}.`);
      }
      const unknown = replicas.filter((r) => !registered.has(r));
      if (unknown.length) return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Unknown broker(s) ${unknown.join(',')} in replica assignment.`);
    }
  } else {
    if (req.numPartitions < 1) return fail(ErrorCode.INVALID_PARTITIONS, 'Number of partitions must be larger than 0.');
    if (req.replicationFactor < 1) return fail(ErrorCode.INVALID_REPLICATION_FACTOR, 'Replication factor must be larger than 0.');
    if (req.replicationFactor > env.brokers.length) {
      return fail(ErrorCode.INVALID_REPLICATION_FACTOR, `Replication factor: ${req.replicationFactor} larger than available brokers: ${env.brokers.length}.`);
    }
    assignment = assignReplicas(env.brokers, req.numPartitions, req.replicationFactor);
  }
  const configs = req.configs ?? {};
  const configError = env.validateTopicConfig(configs);
  if (configError) return fail(ErrorCode.INVALID_CONFIG, configError);
  return {
    name: req.name,
    topicId: newTopicId(),
    assignment,
    configs,
    partitions: [...assignment.entries()].map(([partition, replicas]) => ({
      partition,
      replicas,
      state: firstState(replicas, env.eligible, env.controllerEpoch),
    })),
  };
}

/** The znode operations that create a planned topic (config first, as Kafka writes it). */
export function topicCreationOps(plan: TopicCreationPlan, configNodeExists: boolean): MultiOp[] {
  const ops: MultiOp[] = [];
  const config = encodeTopicConfig(plan.configs);
  if (configNodeExists) ops.push({ op: 'set', path: topicConfigPath(plan.name), data: config, version: -1 });
  else ops.push({ op: 'create', path: topicConfigPath(plan.name), data: config, mode: 'persistent' });
  ops.push({
    op: 'create',
    path: topicPath(plan.name),
    data: encodeTopicAssignment({ partitions: plan.assignment, topicId: uuidToString(plan.topicId) }),
    mode: 'persistent',
  });
  ops.push({ op: 'create', path: topicPartitionsPath(plan.name), data: null, mode: 'persistent' });
  for (const p of plan.partitions) ops.push(...newPartitionOps(plan.name, p));
  return ops;
}

export interface PartitionAdditionPlan {
  name: string;
  assignment: Map<number, number[]>;
  added: NewPartitionPlan[];
}

/** Checks a CreatePartitions entry against the topic's current assignment (Kafka's AdminManager wording). */
export function planPartitionAddition(
  req: CreatePartitionsRequest,
  topic: ControllerTopic | undefined,
  env: { brokers: readonly number[]; eligible: ReadonlySet<number>; controllerEpoch: number },
): PartitionAdditionPlan | TopicChangeError {
  if (!topic) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${req.name}' does not exist.`);
  if (topic.addingReplicas.size > 0 || topic.removingReplicas.size > 0) {
    return fail(ErrorCode.REASSIGNMENT_IN_PROGRESS, `A partition reassignment is in progress for the topic '${req.name}'.`);
  }
  const oldCount = topic.assignment.size;
  const increment = req.count - oldCount;
  if (increment < 0) return fail(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${oldCount} partitions, which is higher than the requested ${req.count}.`);
  if (increment === 0) return fail(ErrorCode.INVALID_PARTITIONS, `Topic already has ${oldCount} partitions.`);
  const replicationFactor = topic.assignment.get(0)?.length ?? [...topic.assignment.values()][0]?.length ?? 1;
  const brokers = [...env.brokers].sort((a, b) => a - b);
  const registered = new Set(brokers);
  const added = new Map<number, number[]>();
  if (req.assignments) {
    const unknown = [...new Set(req.assignments.flat())].filter((b) => !registered.has(b));
    if (unknown.length) return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Unknown broker(s) in replica assignment: ${unknown.join(', ')}.`);
    if (req.assignments.length !== increment) {
      return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${increment} but ${req.assignments.length} assignments provided.`);
    }
    for (let i = 0; i < req.assignments.length; i++) {
      const replicas = req.assignments[i]!;
      const p = oldCount + i;
      if (replicas.length === 0) return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Cannot have replication factor of 0 for partition id ${p}.`);
      if (new Set(replicas).size !== replicas.length) {
        return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Duplicate brokers not allowed in replica assignment: ${replicas.join(', ')} for partition id ${p}.`);
      }
      if (replicas.length !== replicationFactor) {
        return fail(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Inconsistent replication factor between partitions, partition 0 has ${replicationFactor} while partitions [${p}] have replication factors [${replicas.length}], respectively.`,
        );
      }
      added.set(p, replicas);
    }
  } else {
    if (replicationFactor > brokers.length) {
      return fail(ErrorCode.INVALID_REPLICATION_FACTOR, `Replication factor: ${replicationFactor} larger than available brokers: ${brokers.length}.`);
    }
    // Kafka continues the assignment from the index of partition 0's first replica, for both the
    // start index and the replica shift (AdminZkClient.createNewPartitionsAssignment).
    const leader0 = topic.assignment.get(0)?.[0];
    const startIndex = Math.max(0, leader0 === undefined ? 0 : brokers.indexOf(leader0));
    const fixed = (startIndex + 0.5) / brokers.length;
    const all = assignReplicas(brokers, req.count, replicationFactor, () => fixed);
    for (let p = oldCount; p < req.count; p++) added.set(p, all.get(p)!);
  }
  const assignment = new Map(topic.assignment);
  for (const [p, r] of added) assignment.set(p, r);
  return {
    name: req.name,
    assignment,
    added: [...added.entries()].map(([partition, replicas]) => ({ partition, replicas, state: firstState(replicas, env.eligible, env.controllerEpoch) })),
  };
}

/** The znode operations that add planned partitions (the assignment set with its expected version). */
export function partitionAdditionOps(plan: PartitionAdditionPlan, topic: ControllerTopic, partitionsNodeExists: boolean): MultiOp[] {
  const ops: MultiOp[] = [
    {
      op: 'set',
      path: topicPath(plan.name),
      data: encodeTopicAssignment({
        partitions: plan.assignment,
        addingReplicas: topic.addingReplicas,
        removingReplicas: topic.removingReplicas,
        topicId: topic.topicId,
      }),
      version: topic.assignmentVersion,
    },
  ];
  if (!partitionsNodeExists) ops.push({ op: 'create', path: topicPartitionsPath(plan.name), data: null, mode: 'persistent' });
  for (const p of plan.added) ops.push(...newPartitionOps(plan.name, p));
  return ops;
}

/** Creates /brokers/topics/<t>/partitions/<p> and, when the partition has a first state, its state znode. */
export function newPartitionOps(topic: string, p: NewPartitionPlan): MultiOp[] {
  const ops: MultiOp[] = [{ op: 'create', path: partitionPath(topic, p.partition), data: null, mode: 'persistent' }];
  if (p.state) ops.push({ op: 'create', path: partitionStatePath(topic, p.partition), data: encodePartitionState(p.state), mode: 'persistent' });
  return ops;
}

export function firstState(replicas: readonly number[], eligible: ReadonlySet<number>, controllerEpoch: number): PartitionState | null {
  const first = initialLeaderAndIsr(replicas, eligible);
  return first ? { controllerEpoch, leader: first.leader, leaderEpoch: 0, isr: first.isr } : null;
}

/**
 * The znode operations that delete a topic: its whole /brokers/topics/<t> subtree (children
 * first), its config and its /admin/delete_topics marker when present. Brokers then stop their
 * replicas and delete the logs, also the ones that were down meanwhile, when they come back.
 */
export async function topicDeletionOps(registry: Registry, topic: string): Promise<MultiOp[]> {
  const ops: MultiOp[] = [];
  const collect = async (path: string): Promise<void> => {
    for (const child of (await registry.children(path)) ?? []) await collect(`${path}/${child}`);
    ops.push({ op: 'delete', path, version: -1 });
  };
  if (await registry.exists(topicPath(topic))) await collect(topicPath(topic));
  if (await registry.exists(topicConfigPath(topic))) ops.push({ op: 'delete', path: topicConfigPath(topic), version: -1 });
  if (await registry.exists(deleteTopicPath(topic))) ops.push({ op: 'delete', path: deleteTopicPath(topic), version: -1 });
  return ops;
}

export function newTopicId(): Buffer {
  // Kafka reserves the all-zero and all-but-last-one ids; random 16 bytes never hit them in practice.
  for (;;) {
    const id = randomBytes(16);
    if (!id.equals(Buffer.alloc(16)) && !(id.readBigUInt64BE(0) === 0n && id.readBigUInt64BE(8) === 1n)) return id;
  }
}
