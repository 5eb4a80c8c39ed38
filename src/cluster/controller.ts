/**
 * The controller: the broker holding the ephemeral /controller znode. It creates and deletes
 * topics by writing Kafka's znodes (assignment with topic id, partition states carrying the
 * controller epoch). Brokers never act on its calls directly: they reconcile from the registry.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../protocol/errors.js';
import { uuidToString } from '../protocol/primitives.js';
import { isRegistryError, type MultiOp, type Registry } from '../registry/registry.js';
import {
  controllerEpochPath,
  controllerPath,
  decodeControllerEpoch,
  decodeTopicAssignment,
  encodeController,
  encodeControllerEpoch,
  encodePartitionState,
  encodeTopicAssignment,
  encodeTopicConfig,
  partitionPath,
  partitionStatePath,
  topicConfigPath,
  topicPartitionsPath,
  topicPath,
} from '../registry/paths.js';
import type { MetadataCache, TopicInfo } from './metadata-cache.js';
import { assignReplicas } from './replica-assignment.js';
import { invalidTopicNameReason, isInternalTopic } from './topic-names.js';

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

export interface ControllerResult {
  errorCode: number;
  errorMessage?: string;
  topic?: TopicInfo;
}

export interface ControllerOptions {
  registry: Registry;
  brokerId: number;
  metadata: MetadataCache;
  /** Validates topic config overrides; returns an error message or null. */
  validateTopicConfig: (configs: Record<string, string>) => string | null;
  /** Re-reads the registry into the metadata cache (level-triggered reconciliation). */
  reconcile: () => Promise<void>;
}

export class Controller {
  controllerEpoch = 0;
  private active = false;

  constructor(private readonly opts: ControllerOptions) {}

  get isActive(): boolean {
    return this.active;
  }

  /** Tries to become the controller; watches /controller to retry when it goes away. */
  async elect(): Promise<void> {
    const { registry, brokerId } = this.opts;
    try {
      await registry.create(controllerPath, encodeController({ brokerId, timestamp: Date.now() }), 'ephemeral');
    } catch (err) {
      if (!isRegistryError(err, 'NODE_EXISTS')) throw err;
      this.active = false;
      const exists = await registry.exists(controllerPath, () => void this.elect().catch(() => {}));
      if (exists) return;
      return this.elect();
    }
    this.active = true;
    // Bump the controller epoch so that writes of an older controller can be told apart.
    const current = await registry.get(controllerEpochPath);
    if (current) {
      this.controllerEpoch = decodeControllerEpoch(current.data) + 1;
      await registry.set(controllerEpochPath, encodeControllerEpoch(this.controllerEpoch), current.stat.version);
    } else {
      this.controllerEpoch = 1;
      await registry.create(controllerEpochPath, encodeControllerEpoch(1), 'persistent');
    }
    await registry.exists(controllerPath, () => void this.elect().catch(() => {}));
  }

  async createTopic(req: CreateTopicRequest): Promise<ControllerResult> {
    const { metadata, registry } = this.opts;
    const invalid = invalidTopicNameReason(req.name);
    if (invalid) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: invalid };
    if (metadata.topic(req.name) || (await registry.exists(topicPath(req.name)))) {
      return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${req.name}' already exists.` };
    }
    const liveBrokers = [...metadata.brokers.keys()];
    let assignment: Map<number, number[]>;
    if (req.assignments) {
      assignment = req.assignments;
      const count = assignment.size;
      for (let p = 0; p < count; p++) {
        const replicas = assignment.get(p);
        if (!replicas || replicas.length === 0 || new Set(replicas).size !== replicas.length) {
          return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Invalid replica assignment for partition ${p}.` };
        }
        const unknown = replicas.filter((r) => !metadata.brokers.has(r));
        if (unknown.length) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Unknown broker(s) ${unknown.join(',')} in replica assignment.` };
      }
    } else {
      if (req.numPartitions < 1) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Number of partitions must be larger than 0.' };
      if (req.replicationFactor < 1) return { errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: 'Replication factor must be larger than 0.' };
      if (req.replicationFactor > liveBrokers.length) {
        return {
          errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
          errorMessage: `Replication factor: ${req.replicationFactor} larger than available brokers: ${liveBrokers.length}.`,
        };
      }
      assignment = assignReplicas(liveBrokers, req.numPartitions, req.replicationFactor);
    }
    const configs = req.configs ?? {};
    const configError = this.opts.validateTopicConfig(configs);
    if (configError) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: configError };

    const topicId = newTopicId();
    const partitions = [...assignment.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([partition, replicas]) => {
        const isr = replicas.filter((r) => metadata.brokers.has(r));
        return { partition, replicas, isr, leader: isr[0] ?? -1, leaderEpoch: 0 };
      });
    const info: TopicInfo = { name: req.name, topicId, partitions, config: configs, internal: isInternalTopic(req.name) };
    if (req.validateOnly) return { errorCode: ErrorCode.NONE, topic: info };

    const ops: MultiOp[] = [];
    // Kafka writes the config before the assignment, so brokers never see a topic without its config.
    if (await registry.exists(topicConfigPath(req.name))) ops.push({ op: 'set', path: topicConfigPath(req.name), data: encodeTopicConfig(configs), version: -1 });
    else ops.push({ op: 'create', path: topicConfigPath(req.name), data: encodeTopicConfig(configs), mode: 'persistent' });
    ops.push({ op: 'create', path: topicPath(req.name), data: encodeTopicAssignment({ partitions: assignment, topicId: uuidToString(topicId) }), mode: 'persistent' });
    ops.push({ op: 'create', path: topicPartitionsPath(req.name), data: null, mode: 'persistent' });
    for (const p of partitions) {
      ops.push({ op: 'create', path: partitionPath(req.name, p.partition), data: null, mode: 'persistent' });
      ops.push({
        op: 'create',
        path: partitionStatePath(req.name, p.partition),
        data: encodePartitionState({ controllerEpoch: this.controllerEpoch, leader: p.leader, leaderEpoch: 0, isr: p.isr }),
        mode: 'persistent',
      });
    }
    try {
      await registry.multi(ops);
    } catch (err) {
      if (isRegistryError(err, 'NODE_EXISTS')) return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${req.name}' already exists.` };
      throw err;
    }
    await this.opts.reconcile();
    return { errorCode: ErrorCode.NONE, topic: metadata.topic(req.name) ?? info };
  }

  /**
   * Adds partitions to a topic (CreatePartitions): the new partitions get replicas from `assignments`
   * (one broker list per new partition) or from Kafka's assignment continued from partition 0's leader,
   * and partition states led by their first live replica. Errors and wording follow Kafka's AdminManager.
   */
  async createPartitions(req: CreatePartitionsRequest, attempt = 0): Promise<ControllerResult> {
    const { metadata, registry } = this.opts;
    const node = await registry.get(topicPath(req.name));
    if (!node) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `The topic '${req.name}' does not exist.` };
    const existing = decodeTopicAssignment(req.name, node.data);
    if (existing.addingReplicas.size > 0 || existing.removingReplicas.size > 0) {
      return { errorCode: ErrorCode.REASSIGNMENT_IN_PROGRESS, errorMessage: `A partition reassignment is in progress for the topic '${req.name}'.` };
    }
    const oldCount = existing.partitions.size;
    const increment = req.count - oldCount;
    if (increment < 0) {
      return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Topic currently has ${oldCount} partitions, which is higher than the requested ${req.count}.` };
    }
    if (increment === 0) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Topic already has ${oldCount} partitions.` };
    const replicationFactor = existing.partitions.get(0)?.length ?? [...existing.partitions.values()][0]?.length ?? 1;
    const liveBrokers = [...metadata.brokers.keys()].sort((a, b) => a - b);
    const added = new Map<number, number[]>();
    if (req.assignments) {
      const unknown = [...new Set(req.assignments.flat())].filter((b) => !metadata.brokers.has(b));
      if (unknown.length) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Unknown broker(s) in replica assignment: ${unknown.join(', ')}.` };
      if (req.assignments.length !== increment) {
        return {
          errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          errorMessage: `Increasing the number of partitions by ${increment} but ${req.assignments.length} assignments provided.`,
        };
      }
      for (let i = 0; i < req.assignments.length; i++) {
        const replicas = req.assignments[i]!;
        const p = oldCount + i;
        if (replicas.length === 0) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Cannot have replication factor of 0 for partition id ${p}.` };
        if (new Set(replicas).size !== replicas.length) {
          return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Duplicate brokers not allowed in replica assignment: ${replicas.join(', ')} for partition id ${p}.` };
        }
        if (replicas.length !== replicationFactor) {
          return {
            errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            errorMessage: `Inconsistent replication factor between partitions, partition 0 has ${replicationFactor} while partitions [${p}] have replication factors [${replicas.length}], respectively.`,
          };
        }
        added.set(p, replicas);
      }
    } else {
      if (replicationFactor > liveBrokers.length) {
        return {
          errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
          errorMessage: `Replication factor: ${replicationFactor} larger than available brokers: ${liveBrokers.length}.`,
        };
      }
      // Kafka continues the assignment from the index of partition 0's leader, for both the start
      // index and the replica shift (AdminZkClient.createNewPartitionsAssignment).
      const leader0 = existing.partitions.get(0)?.[0];
      const startIndex = Math.max(0, leader0 === undefined ? 0 : liveBrokers.indexOf(leader0));
      const fixed = (startIndex + 0.5) / liveBrokers.length;
      const all = assignReplicas(liveBrokers, req.count, replicationFactor, () => fixed);
      for (let p = oldCount; p < req.count; p++) added.set(p, all.get(p)!);
    }
    const partitions = [...added.entries()].map(([partition, replicas]) => {
      const isr = replicas.filter((r) => metadata.brokers.has(r));
      return { partition, replicas, isr, leader: isr[0] ?? -1, leaderEpoch: 0 };
    });
    if (req.validateOnly) return { errorCode: ErrorCode.NONE };

    const assignment = new Map(existing.partitions);
    for (const [p, r] of added) assignment.set(p, r);
    const ops: MultiOp[] = [
      {
        op: 'set',
        path: topicPath(req.name),
        data: encodeTopicAssignment({ partitions: assignment, topicId: existing.topicId }),
        version: node.stat.version,
      },
    ];
    if (!(await registry.exists(topicPartitionsPath(req.name)))) ops.push({ op: 'create', path: topicPartitionsPath(req.name), data: null, mode: 'persistent' });
    for (const p of partitions) {
      ops.push({ op: 'create', path: partitionPath(req.name, p.partition), data: null, mode: 'persistent' });
      ops.push({
        op: 'create',
        path: partitionStatePath(req.name, p.partition),
        data: encodePartitionState({ controllerEpoch: this.controllerEpoch, leader: p.leader, leaderEpoch: 0, isr: p.isr }),
        mode: 'persistent',
      });
    }
    try {
      await registry.multi(ops);
    } catch (err) {
      // The assignment changed in between (another writer): start again from the new one.
      if ((isRegistryError(err, 'BAD_VERSION') || isRegistryError(err, 'NODE_EXISTS')) && attempt < 3) return this.createPartitions(req, attempt + 1);
      if (isRegistryError(err, 'NO_NODE')) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `The topic '${req.name}' does not exist.` };
      throw err;
    }
    await this.opts.reconcile();
    return { errorCode: ErrorCode.NONE, topic: metadata.topic(req.name) };
  }

  async deleteTopic(name: string): Promise<ControllerResult> {
    const { registry } = this.opts;
    if (!(await registry.exists(topicPath(name)))) {
      return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${name}' does not exist.` };
    }
    await registry.deleteRecursive(topicPath(name));
    try {
      await registry.delete(topicConfigPath(name));
    } catch (err) {
      if (!isRegistryError(err, 'NO_NODE')) throw err;
    }
    await this.opts.reconcile();
    return { errorCode: ErrorCode.NONE };
  }
}

function newTopicId(): Buffer {
  // Kafka reserves the all-zero and all-but-last-one ids; random 16 bytes never hit them in practice.
  for (;;) {
    const id = randomBytes(16);
    if (!id.equals(Buffer.alloc(16)) && !(id.readBigUInt64BE(0) === 0n && id.readBigUInt64BE(8) === 1n)) return id;
  }
}
