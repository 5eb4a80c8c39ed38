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
