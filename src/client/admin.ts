/**
 * Admin operations: create/delete topics (sent to the controller named by Metadata), list and describe
 * topics (partitions, leader, replicas, ISR, non-default configs), add partitions, list offsets.
 */
import { ClusterClient, kafkaError, type BrokerInfo, type ClusterClientOptions, type TopicMetadata } from './cluster-client.js';
import { listOffsets, type IsolationLevel } from './consumer.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/apis.js';
import { ZERO_UUID, uuidToString } from '../protocol/primitives.js';
import type { CreateTopicsResponse } from '../protocol/generated/create-topics.js';
import type { DeleteTopicsResponse } from '../protocol/generated/delete-topics.js';
import type { CreatePartitionsResponse } from '../protocol/generated/create-partitions.js';
import type { DescribeConfigsResponse } from '../protocol/generated/describe-configs.js';

export interface AdminOptions {
  bootstrap?: string | readonly string[];
  cluster?: ClusterClient;
  clientId?: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Broker-side timeout for create/delete (default 30 000 ms). */
  operationTimeoutMs?: number;
}

export interface NewTopic {
  name: string;
  /** Default: the broker's num.partitions. */
  numPartitions?: number;
  /** Default: the broker's default.replication.factor. */
  replicationFactor?: number;
  configs?: Record<string, string>;
  /** Manual assignment: partition index → broker ids (then numPartitions/replicationFactor are not sent). */
  assignments?: Record<number, number[]>;
}

export interface CreatedTopic {
  name: string;
  topicId: string | null;
  numPartitions: number;
  replicationFactor: number;
}

export interface PartitionDescription {
  partition: number;
  /** -1 when the partition has no leader. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
}

export interface TopicDescription {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: PartitionDescription[];
}

export interface ClusterDescription {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerInfo[];
}

/** A failure about one topic; `code` is the Kafka error code. */
export class TopicError extends KafkaError {
  constructor(
    readonly topic: string,
    code: number,
    message: string,
  ) {
    super(code, message);
    this.name = 'TopicError';
  }
}

/** Kafka's wording for the common per-topic errors, used when the broker sent no message. */
export function topicErrorMessage(topic: string, code: number, brokerMessage?: string | null): string {
  if (code === ErrorCode.TOPIC_ALREADY_EXISTS) return `Topic '${topic}' already exists.`;
  if (code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return `Topic '${topic}' does not exist.`;
  if (brokerMessage) return brokerMessage;
  return kafkaError(code, null, `topic '${topic}'`).message;
}

/** DescribeConfigs config sources (v1+). */
const CONFIG_SOURCE_DYNAMIC_TOPIC = 1;
const RESOURCE_TYPE_TOPIC = 2;

export class Admin {
  readonly cluster: ClusterClient;
  private readonly ownsCluster: boolean;
  private readonly operationTimeoutMs: number;

  constructor(opts: AdminOptions) {
    if (opts.cluster) {
      this.cluster = opts.cluster;
      this.ownsCluster = false;
    } else {
      if (opts.bootstrap === undefined) throw new Error('createAdmin: bootstrap (or cluster) is required');
      const clusterOpts: ClusterClientOptions = {
        bootstrap: opts.bootstrap,
        clientId: opts.clientId ?? 'kfk-admin',
        requestTimeoutMs: opts.requestTimeoutMs,
        connectTimeoutMs: opts.connectTimeoutMs,
      };
      this.cluster = new ClusterClient(clusterOpts);
      this.ownsCluster = true;
    }
    this.operationTimeoutMs = opts.operationTimeoutMs ?? 30_000;
  }

  /** Creates topics; rejects with a TopicError for the first topic that failed. */
  async createTopics(topics: readonly NewTopic[], opts: { validateOnly?: boolean } = {}): Promise<CreatedTopic[]> {
    const body = {
      topics: topics.map((t) => {
        const assignments = t.assignments
          ? Object.entries(t.assignments).map(([p, brokerIds]) => ({ partitionIndex: Number(p), brokerIds }))
          : [];
        return {
          name: t.name,
          numPartitions: assignments.length > 0 ? -1 : (t.numPartitions ?? -1),
          replicationFactor: assignments.length > 0 ? -1 : (t.replicationFactor ?? -1),
          assignments,
          configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
        };
      }),
      timeoutMs: this.operationTimeoutMs,
      validateOnly: opts.validateOnly ?? false,
    };
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<CreateTopicsResponse>(ApiKey.CreateTopics, body, { timeoutMs: this.operationTimeoutMs + 10_000 });
      if (r.topics.some((t) => t.errorCode === ErrorCode.NOT_CONTROLLER)) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      return r;
    });
    const out: CreatedTopic[] = [];
    for (const t of resp.topics) {
      if (t.errorCode !== ErrorCode.NONE) throw new TopicError(t.name, t.errorCode, topicErrorMessage(t.name, t.errorCode, t.errorMessage));
      out.push({
        name: t.name,
        topicId: t.topicId && !t.topicId.equals(ZERO_UUID) ? uuidToString(t.topicId) : null,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
      });
    }
    return out;
  }

  /** Deletes topics; rejects with a TopicError for the first topic that failed. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    const body = {
      topics: names.map((name) => ({ name, topicId: ZERO_UUID })),
      topicNames: [...names],
      timeoutMs: this.operationTimeoutMs,
    };
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<DeleteTopicsResponse>(ApiKey.DeleteTopics, body, { timeoutMs: this.operationTimeoutMs + 10_000 });
      if (r.responses.some((t) => t.errorCode === ErrorCode.NOT_CONTROLLER)) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      return r;
    });
    for (const t of resp.responses) {
      if (t.errorCode !== ErrorCode.NONE) {
        const name = t.name ?? '?';
        throw new TopicError(name, t.errorCode, topicErrorMessage(name, t.errorCode, t.errorMessage));
      }
    }
  }

  /** Raises the partition count of a topic. */
  async createPartitions(topic: string, count: number): Promise<void> {
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<CreatePartitionsResponse>(
        ApiKey.CreatePartitions,
        { topics: [{ name: topic, count, assignments: null }], timeoutMs: this.operationTimeoutMs, validateOnly: false },
        { timeoutMs: this.operationTimeoutMs + 10_000 },
      );
      if (r.results.some((t) => t.errorCode === ErrorCode.NOT_CONTROLLER)) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      return r;
    });
    for (const t of resp.results) {
      if (t.errorCode !== ErrorCode.NONE) throw new TopicError(t.name, t.errorCode, topicErrorMessage(t.name, t.errorCode, t.errorMessage));
    }
  }

  /** Topic names, sorted (internal topics included unless includeInternal is false). */
  async listTopics(opts: { includeInternal?: boolean } = {}): Promise<string[]> {
    const md = await this.cluster.retry(() => this.cluster.refreshMetadata(null));
    return [...md.topics.values()]
      .filter((t) => opts.includeInternal !== false || !t.isInternal)
      .map((t) => t.name)
      .sort(compareNames);
  }

  /**
   * Describes topics (all when `names` is undefined), sorted by name. A named topic that does not exist
   * rejects with TopicError(UNKNOWN_TOPIC_OR_PARTITION).
   */
  async describeTopics(names?: readonly string[]): Promise<TopicDescription[]> {
    let topics: TopicMetadata[];
    if (names === undefined) {
      const md = await this.cluster.retry(() => this.cluster.refreshMetadata(null));
      topics = [...md.topics.values()];
    } else {
      topics = [];
      for (const name of names) {
        try {
          topics.push(await this.cluster.topicMetadata(name, { refresh: true }));
        } catch (err) {
          if (err instanceof KafkaError) throw new TopicError(name, err.code, topicErrorMessage(name, err.code, err.message));
          throw err;
        }
      }
    }
    return topics
      .map((t) => ({
        name: t.name,
        topicId: uuidToString(t.topicId),
        isInternal: t.isInternal,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
        })),
      }))
      .sort((a, b) => compareNames(a.name, b.name));
  }

  /**
   * Per-topic config overrides (DescribeConfigs, source DYNAMIC_TOPIC_CONFIG), as `kafka-topics --describe`
   * shows them. Empty maps when the broker does not serve DescribeConfigs.
   */
  async describeTopicConfigs(names: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (const n of names) out.set(n, {});
    if (names.length === 0) return out;
    const conn = await this.cluster.anyConnection();
    if (!conn.supports(ApiKey.DescribeConfigs)) return out;
    const resp = await this.cluster.retry(async () => {
      const c = await this.cluster.anyConnection();
      return c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, {
        resources: names.map((resourceName) => ({ resourceType: RESOURCE_TYPE_TOPIC, resourceName, configurationKeys: null })),
        includeSynonyms: false,
        includeDocumentation: false,
      });
    });
    for (const r of resp.results) {
      if (r.errorCode !== ErrorCode.NONE) continue;
      const cfg: Record<string, string> = {};
      for (const c of r.configs) {
        if (c.configSource === CONFIG_SOURCE_DYNAMIC_TOPIC && c.value !== null && !c.isSensitive) cfg[c.name] = c.value;
      }
      out.set(r.resourceName, cfg);
    }
    return out;
  }

  /** Offsets for every partition of a topic (or the given ones): earliest, latest or by timestamp. */
  async listOffsets(
    topic: string,
    spec: 'earliest' | 'latest' | { timestamp: number } = 'latest',
    opts: { partitions?: number[]; isolationLevel?: IsolationLevel } = {},
  ): Promise<Array<{ partition: number; offset: number; timestamp: number }>> {
    let partitions = opts.partitions;
    if (!partitions) {
      const t = await this.cluster.topicMetadata(topic, { refresh: true });
      partitions = t.partitions.map((p) => p.partition);
    }
    const res = await listOffsets(
      this.cluster,
      partitions.map((partition) => ({ topic, partition, spec })),
      opts.isolationLevel,
    );
    return partitions.map((partition) => {
      const r = res.get(`${topic}\u0000${partition}`);
      return { partition, offset: r?.offset ?? -1, timestamp: r?.timestamp ?? -1 };
    });
  }

  /** Brokers, controller and cluster id. */
  async describeCluster(): Promise<ClusterDescription> {
    const md = await this.cluster.retry(() => this.cluster.refreshMetadata([]));
    return {
      clusterId: md.clusterId,
      controllerId: md.controllerId,
      brokers: [...md.brokers.values()].sort((a, b) => a.nodeId - b.nodeId),
    };
  }

  async close(): Promise<void> {
    if (this.ownsCluster) await this.cluster.close();
  }

  private onController<T>(fn: (conn: Awaited<ReturnType<ClusterClient['controllerConnection']>>) => Promise<T>): Promise<T> {
    return this.cluster.retry(async (attempt) => {
      if (attempt > 0) await this.cluster.refreshMetadata([]);
      return fn(await this.cluster.controllerConnection());
    });
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function createAdmin(opts: AdminOptions): Admin {
  return new Admin(opts);
}
