/**
 * Admin operations: create/delete topics (sent to the controller named by Metadata), list and describe
 * topics (partitions, leader, replicas, ISR, non-default configs), add partitions, list offsets.
 */
import type { ClientSecurity } from '../security/client-security.js';
import { ClusterClient, kafkaError, clusterFrom, type BrokerInfo, type TopicMetadata } from './cluster-client.js';
import type { IsolationLevel, ListOffsetSpec } from './consumer.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import { ZERO_UUID, uuidToString } from '../protocol/primitives.js';
import type { CreateTopicsResponse } from '../protocol/generated/create-topics.js';
import type { DeleteTopicsResponse } from '../protocol/generated/delete-topics.js';
import type { CreatePartitionsResponse } from '../protocol/generated/create-partitions.js';
import type { DescribeConfigsResponse } from '../protocol/generated/describe-configs.js';
import type { AlterConfigsResponse } from '../protocol/generated/alter-configs.js';
import type { IncrementalAlterConfigsResponse } from '../protocol/generated/incremental-alter-configs.js';
import type { FindCoordinatorResponse } from '../protocol/generated/find-coordinator.js';
import type { ListGroupsResponse } from '../protocol/generated/list-groups.js';
import type { DescribeGroupsResponse } from '../protocol/generated/describe-groups.js';
import type { DeleteGroupsResponse } from '../protocol/generated/delete-groups.js';
import type { OffsetFetchResponse } from '../protocol/generated/offset-fetch.js';
import type { OffsetCommitResponse } from '../protocol/generated/offset-commit.js';
import type { ElectLeadersResponse } from '../protocol/generated/elect-leaders.js';
import type { AlterPartitionReassignmentsResponse } from '../protocol/generated/alter-partition-reassignments.js';
import type { ListPartitionReassignmentsResponse } from '../protocol/generated/list-partition-reassignments.js';
import type { ListTransactionsResponse } from '../protocol/generated/list-transactions.js';
import type { DescribeTransactionsResponse } from '../protocol/generated/describe-transactions.js';
import type { DescribeProducersResponse } from '../protocol/generated/describe-producers.js';
import type { WriteTxnMarkersResponse } from '../protocol/generated/write-txn-markers.js';
import type { DeleteRecordsResponse } from '../protocol/generated/delete-records.js';
import type { DescribeLogDirsResponse } from '../protocol/generated/describe-log-dirs.js';
import { BrokerConnection } from './connection.js';
import type { TopicPartition } from './assignors.js';

export interface AdminOptions {
  bootstrap?: string | readonly string[];
  cluster?: ClusterClient;
  clientId?: string;
  /** TLS and SASL (with `bootstrap`); default PLAINTEXT. */
  security?: ClientSecurity;
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

export interface ElectionResult {
  topic: string;
  partition: number;
  /** 0 when a leader was elected. */
  errorCode: number;
  errorMessage: string | null;
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

export interface GroupListing {
  groupId: string;
  protocolType: string;
  /** Empty when the broker's ListGroups version does not report it. */
  state: string;
}

export interface GroupMemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /** Decoded consumer-protocol assignment (empty for other protocol types). */
  assignment: TopicPartition[];
}

export interface GroupDescription {
  groupId: string;
  /** Kafka's state names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead. */
  state: string;
  protocolType: string;
  /** The assignor chosen (protocol data). */
  protocol: string;
  members: GroupMemberDescription[];
  coordinator: { nodeId: number; host: string; port: number };
}

export interface GroupOffset {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string | null;
}

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: string;
  /** The broker coordinating it. */
  coordinatorId: number;
}

export interface TransactionDescription {
  transactionalId: string;
  coordinatorId: number;
  state: string;
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  /** -1 when no transaction is open. */
  transactionStartTimeMs: number;
  topicPartitions: TopicPartition[];
}

export interface ProducerStateDescription {
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestamp: number;
  /** -1 when no coordinator wrote a marker for it here yet. */
  coordinatorEpoch: number;
  /** -1 when it has no open transaction in the partition. */
  currentTransactionStartOffset: number;
}

/** A transaction to abort on one partition (Kafka's AbortTransactionSpec). */
export interface AbortTransactionSpec {
  topic: string;
  partition: number;
  producerId: number;
  producerEpoch: number;
  coordinatorEpoch: number;
}

/** DescribeConfigs config sources (v1+). */
const CONFIG_SOURCE_DYNAMIC_TOPIC = 1;
const RESOURCE_TYPE_TOPIC = 2;

export class Admin {
  readonly cluster: ClusterClient;
  private readonly ownsCluster: boolean;
  private readonly operationTimeoutMs: number;

  constructor(opts: AdminOptions) {
    const { cluster, owned } = clusterFrom(opts, 'createAdmin', 'kfk-admin');
    this.cluster = cluster;
    this.ownsCluster = owned;
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

  /**
   * DescribeConfigs: every config of each resource with its value, source, sensitivity and (with
   * includeSynonyms) synonyms. Topic resources go to any broker, a broker resource to that broker.
   * Rejects with ConfigResourceError for the first resource that failed.
   */
  async describeConfigs(
    resources: readonly ConfigResourceRef[],
    opts: { includeSynonyms?: boolean; includeDocumentation?: boolean; configNames?: readonly string[] } = {},
  ): Promise<ConfigResourceDescription[]> {
    const out: ConfigResourceDescription[] = [];
    for (const [target, group] of groupByConfigTarget(resources)) {
      const resp = await this.cluster.retry(async () => {
        const conn = target === null ? await this.cluster.anyConnection() : await this.cluster.connection(target);
        return conn.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, {
          resources: group.map((r) => ({
            resourceType: CONFIG_RESOURCE_TYPE_IDS[r.type],
            resourceName: r.name,
            configurationKeys: opts.configNames ? [...opts.configNames] : null,
          })),
          includeSynonyms: opts.includeSynonyms ?? false,
          includeDocumentation: opts.includeDocumentation ?? false,
        });
      });
      for (const r of resp.results) {
        const ref = group.find((g) => g.name === r.resourceName && CONFIG_RESOURCE_TYPE_IDS[g.type] === r.resourceType) ?? group[0]!;
        if (r.errorCode !== ErrorCode.NONE) throw new ConfigResourceError(ref, r.errorCode, configErrorMessage(ref, r.errorCode, r.errorMessage));
        out.push({
          ...ref,
          configs: r.configs.map((c) => ({
            name: c.name,
            value: c.value,
            source: configSourceName(c.configSource, c.isDefault, ref.type),
            isDefault: c.isDefault || c.configSource === 5,
            isSensitive: c.isSensitive,
            readOnly: c.readOnly,
            synonyms: c.synonyms.map((y) => ({ name: y.name, value: y.value, source: configSourceName(y.source, false, ref.type) })),
            configType: c.configType,
            documentation: c.documentation ?? null,
          })),
        });
      }
    }
    return out;
  }

  /**
   * IncrementalAlterConfigs on one resource: `set` values, `delete` names, `append`/`subtract` list
   * items. Rejects with ConfigResourceError (e.g. INVALID_CONFIG "Unknown topic config name: x").
   */
  async incrementalAlterConfigs(resource: ConfigResourceRef, ops: ConfigAlterations, opts: { validateOnly?: boolean } = {}): Promise<void> {
    const configs: Array<{ name: string; configOperation: number; value: string | null }> = [];
    for (const [name, value] of Object.entries(ops.set ?? {})) configs.push({ name, configOperation: 0, value });
    for (const name of ops.delete ?? []) configs.push({ name, configOperation: 1, value: null });
    for (const [name, value] of Object.entries(ops.append ?? {})) configs.push({ name, configOperation: 2, value });
    for (const [name, value] of Object.entries(ops.subtract ?? {})) configs.push({ name, configOperation: 3, value });
    const resp = await this.cluster.retry(async () => {
      const conn = resource.type === 'broker' && resource.name !== '' ? await this.cluster.connection(Number(resource.name)) : await this.cluster.anyConnection();
      return conn.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, {
        resources: [{ resourceType: CONFIG_RESOURCE_TYPE_IDS[resource.type], resourceName: resource.name, configs }],
        validateOnly: opts.validateOnly ?? false,
      });
    });
    for (const r of resp.responses) {
      if (r.errorCode !== ErrorCode.NONE) throw new ConfigResourceError(resource, r.errorCode, configErrorMessage(resource, r.errorCode, r.errorMessage));
    }
  }

  /** AlterConfigs (the legacy API): replaces every override of the resource with `configs`. */
  async alterConfigs(resource: ConfigResourceRef, configs: Record<string, string>, opts: { validateOnly?: boolean } = {}): Promise<void> {
    const resp = await this.cluster.retry(async () => {
      const conn = resource.type === 'broker' && resource.name !== '' ? await this.cluster.connection(Number(resource.name)) : await this.cluster.anyConnection();
      return conn.request<AlterConfigsResponse>(ApiKey.AlterConfigs, {
        resources: [
          {
            resourceType: CONFIG_RESOURCE_TYPE_IDS[resource.type],
            resourceName: resource.name,
            configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
          },
        ],
        validateOnly: opts.validateOnly ?? false,
      });
    });
    for (const r of resp.responses) {
      if (r.errorCode !== ErrorCode.NONE) throw new ConfigResourceError(resource, r.errorCode, configErrorMessage(resource, r.errorCode, r.errorMessage));
    }
  }

  /** Offsets for every partition of a topic (or the given ones): earliest, latest, max-timestamp (KIP-734) or by timestamp. */
  async listOffsets(
    topic: string,
    spec: ListOffsetSpec = 'latest',
    opts: { partitions?: number[]; isolationLevel?: IsolationLevel } = {},
  ): Promise<Array<{ partition: number; offset: number; timestamp: number }>> {
    let partitions = opts.partitions;
    if (!partitions) {
      const t = await this.cluster.topicMetadata(topic, { refresh: true });
      partitions = t.partitions.map((p) => p.partition);
    }
    const { listOffsets } = await import('./consumer.js'); // loaded on first use: `kfk topics --list` starts faster without it
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

  // ------------------------------------------------------------------------------------------------
  // Consumer groups

  /** The coordinator of a group (FindCoordinator, retried while it is not available yet). */
  async findGroupCoordinator(groupId: string): Promise<{ nodeId: number; host: string; port: number }> {
    return this.cluster.retry(async () => {
      const conn = await this.cluster.anyConnection();
      const v = conn.versionFor(ApiKey.FindCoordinator);
      const resp = await conn.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, { key: groupId, keyType: 0, coordinatorKeys: [groupId] });
      const c = v >= 4 ? resp.coordinators[0] : resp;
      if (!c) throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      if (c.errorCode !== ErrorCode.NONE) throw kafkaError(c.errorCode, c.errorMessage, `FindCoordinator for group '${groupId}'`);
      return { nodeId: c.nodeId, host: c.host, port: c.port };
    }, { retries: 20 });
  }

  /** Runs fn on a connection to the group's coordinator, retrying coordinator moves and network errors. */
  private onCoordinator<T>(groupId: string, fn: (conn: BrokerConnection, node: { nodeId: number; host: string; port: number }) => Promise<T>): Promise<T> {
    return this.cluster.retry(async () => {
      const node = await this.findGroupCoordinator(groupId);
      return fn(await this.cluster.connectTo(node.host, node.port), node);
    }, { retries: 20 });
  }

  /** Every group of every broker (ListGroups), sorted by id. */
  async listGroups(): Promise<GroupListing[]> {
    const md = await this.cluster.retry(() => this.cluster.refreshMetadata([]));
    const out = new Map<string, GroupListing>();
    for (const b of md.brokers.values()) {
      const resp = await this.cluster.retry(async () => {
        const conn = await this.cluster.connectTo(b.host, b.port);
        const r = await conn.request<ListGroupsResponse>(ApiKey.ListGroups, { statesFilter: [], typesFilter: [] });
        if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `ListGroups on broker ${b.nodeId}`);
        return r;
      });
      for (const g of resp.groups) out.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState ?? '' });
    }
    return [...out.values()].sort((a, b) => compareNames(a.groupId, b.groupId));
  }

  /** DescribeGroups; a group that does not exist comes back with state 'Dead'. */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const { decodeAssignment } = await import('./assignors.js');
    return this.onCoordinator(groupId, async (conn, node) => {
      const resp = await conn.request<DescribeGroupsResponse>(ApiKey.DescribeGroups, { groups: [groupId], includeAuthorizedOperations: false });
      const g = resp.groups[0];
      if (!g) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `DescribeGroups returned nothing for '${groupId}'`);
      if (g.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) {
        return { groupId, state: 'Dead', protocolType: '', protocol: '', members: [], coordinator: node };
      }
      if (g.errorCode !== ErrorCode.NONE) throw kafkaError(g.errorCode, null, `DescribeGroups '${groupId}'`);
      return {
        groupId: g.groupId,
        state: g.groupState,
        protocolType: g.protocolType,
        protocol: g.protocolData,
        coordinator: node,
        members: g.members.map((m) => {
          let assignment: TopicPartition[] = [];
          if (g.protocolType === 'consumer' || g.protocolType === '') {
            try {
              assignment = decodeAssignment(m.memberAssignment);
            } catch {
              // DescribeGroups still describes a member whose assignment is not in the consumer format (a
              // member in the middle of a rebalance has none yet): shown with no partitions
              assignment = [];
            }
          }
          return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, assignment };
        }),
      };
    });
  }

  /** Committed offsets of a group (all partitions it has committed, or the given ones), sorted. */
  async listGroupOffsets(groupId: string, partitions?: readonly TopicPartition[]): Promise<GroupOffset[]> {
    let topics: Array<{ name: string; partitionIndexes: number[] }> | null = null;
    if (partitions) {
      const byTopic = new Map<string, number[]>();
      for (const tp of partitions) {
        let ps = byTopic.get(tp.topic);
        if (!ps) byTopic.set(tp.topic, (ps = []));
        ps.push(tp.partition);
      }
      topics = [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes }));
    }
    const { parseOffsetFetch } = await import('./group-consumer.js');
    const committed = await this.onCoordinator(groupId, async (conn) => {
      const resp = await conn.request<OffsetFetchResponse>(ApiKey.OffsetFetch, {
        groupId,
        topics,
        groups: [{ groupId, memberId: null, memberEpoch: -1, topics }],
        requireStable: false,
      });
      return parseOffsetFetch(resp);
    });
    return [...committed]
      .map(([k, c]) => {
        const i = k.indexOf('\u0000');
        return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset: c.offset, metadata: c.metadata };
      })
      .sort((a, b) => compareNames(a.topic, b.topic) || a.partition - b.partition);
  }

  /** Commits offsets for a group from outside it (generation -1, no member id): the group must be empty. */
  async alterGroupOffsets(groupId: string, offsets: readonly GroupOffset[]): Promise<void> {
    const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; commitTimestamp: number; committedMetadata: string | null }>>();
    for (const o of offsets) {
      let ps = byTopic.get(o.topic);
      if (!ps) byTopic.set(o.topic, (ps = []));
      ps.push({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: o.metadata ?? '' });
    }
    const resp = await this.onCoordinator(groupId, async (conn) => {
      const r = await conn.request<OffsetCommitResponse>(ApiKey.OffsetCommit, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1,
        topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      });
      const coordinatorError = r.topics.flatMap((t) => t.partitions).find((p) => p.errorCode === ErrorCode.NOT_COORDINATOR || p.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || p.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
      if (coordinatorError) throw new KafkaError(coordinatorError.errorCode);
      return r;
    });
    for (const t of resp.topics) {
      for (const p of t.partitions) {
        if (p.errorCode !== ErrorCode.NONE) throw kafkaError(p.errorCode, null, `committing offsets of group '${groupId}' for ${t.name}-${p.partitionIndex}`);
      }
    }
  }

  /** Deletes groups; resolves with each group's error code (0 = deleted). */
  async deleteGroups(groupIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const groupId of groupIds) {
      const code = await this.onCoordinator(groupId, async (conn) => {
        const r = await conn.request<DeleteGroupsResponse>(ApiKey.DeleteGroups, { groupsNames: [groupId] });
        const c = r.results.find((x) => x.groupId === groupId)?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
        if (c === ErrorCode.NOT_COORDINATOR || c === ErrorCode.COORDINATOR_NOT_AVAILABLE || c === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) throw new KafkaError(c);
        return c;
      });
      out.set(groupId, code);
    }
    return out;
  }

  /**
   * ElectLeaders on the controller: `preferred` moves leadership to each partition's preferred
   * replica, `unclean` elects a leader for partitions without one, from outside the ISR if need be.
   * `partitions` null = every partition (the answer then leaves out those that needed no election).
   * Resolves with each partition's error code (0 = elected; ELECTION_NOT_NEEDED, ...).
   */
  async electLeaders(
    type: 'preferred' | 'unclean',
    partitions: ReadonlyArray<{ topic: string; partition: number }> | null,
  ): Promise<ElectionResult[]> {
    const byTopic = new Map<string, number[]>();
    for (const tp of partitions ?? []) {
      let list = byTopic.get(tp.topic);
      if (!list) byTopic.set(tp.topic, (list = []));
      list.push(tp.partition);
    }
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<ElectLeadersResponse>(
        ApiKey.ElectLeaders,
        {
          electionType: type === 'unclean' ? 1 : 0,
          topicPartitions: partitions === null ? null : [...byTopic.entries()].map(([topic, ps]) => ({ topic, partitions: ps })),
          timeoutMs: this.operationTimeoutMs,
        },
        { timeoutMs: this.operationTimeoutMs + 10_000 },
      );
      if (r.errorCode === ErrorCode.NOT_CONTROLLER) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, 'leader election');
      return r;
    });
    return resp.replicaElectionResults.flatMap((t) =>
      t.partitionResult.map((p) => ({ topic: t.topic, partition: p.partitionId, errorCode: p.errorCode, errorMessage: p.errorMessage })),
    );
  }

  /**
   * AlterPartitionReassignments on the controller: moves each partition to `replicas` (null cancels an
   * ongoing reassignment). Resolves with each partition's error code once the reassignments have started.
   */
  async alterPartitionReassignments(
    reassignments: ReadonlyArray<{ topic: string; partition: number; replicas: number[] | null }>,
  ): Promise<ElectionResult[]> {
    const byTopic = new Map<string, Array<{ partitionIndex: number; replicas: number[] | null }>>();
    for (const r of reassignments) {
      let list = byTopic.get(r.topic);
      if (!list) byTopic.set(r.topic, (list = []));
      list.push({ partitionIndex: r.partition, replicas: r.replicas });
    }
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<AlterPartitionReassignmentsResponse>(
        ApiKey.AlterPartitionReassignments,
        { timeoutMs: this.operationTimeoutMs, topics: [...byTopic.entries()].map(([name, partitions]) => ({ name, partitions })) },
        { timeoutMs: this.operationTimeoutMs + 10_000 },
      );
      if (r.errorCode === ErrorCode.NOT_CONTROLLER) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, r.errorMessage, 'partition reassignment');
      return r;
    });
    return resp.responses.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, errorCode: p.errorCode, errorMessage: p.errorMessage })),
    );
  }

  /** ListPartitionReassignments on the controller: the ongoing reassignments (all, or among `partitions`). */
  async listPartitionReassignments(
    partitions: ReadonlyArray<{ topic: string; partition: number }> | null = null,
  ): Promise<Array<{ topic: string; partition: number; replicas: number[]; addingReplicas: number[]; removingReplicas: number[] }>> {
    const byTopic = new Map<string, number[]>();
    for (const tp of partitions ?? []) {
      let list = byTopic.get(tp.topic);
      if (!list) byTopic.set(tp.topic, (list = []));
      list.push(tp.partition);
    }
    const resp = await this.onController(async (conn) => {
      const r = await conn.request<ListPartitionReassignmentsResponse>(ApiKey.ListPartitionReassignments, {
        timeoutMs: this.operationTimeoutMs,
        topics: partitions === null ? null : [...byTopic.entries()].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
      });
      if (r.errorCode === ErrorCode.NOT_CONTROLLER) throw new KafkaError(ErrorCode.NOT_CONTROLLER);
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, r.errorMessage, 'listing partition reassignments');
      return r;
    });
    return resp.topics.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas, addingReplicas: p.addingReplicas, removingReplicas: p.removingReplicas })),
    );
  }

  // ------------------------------------------------------------------------------------------------
  // Transactions (kafka-transactions.sh)

  /** The coordinator of a transactional id (FindCoordinator key type 1, retried while it is not available). */
  async findTransactionCoordinator(transactionalId: string): Promise<{ nodeId: number; host: string; port: number }> {
    return this.cluster.retry(async () => {
      const conn = await this.cluster.anyConnection();
      const v = conn.versionFor(ApiKey.FindCoordinator);
      const resp = await conn.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, { key: transactionalId, keyType: 1, coordinatorKeys: [transactionalId] });
      const c = v >= 4 ? resp.coordinators[0] : resp;
      if (!c) throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      if (c.errorCode !== ErrorCode.NONE) throw kafkaError(c.errorCode, c.errorMessage, `FindCoordinator for transactional id '${transactionalId}'`);
      return { nodeId: c.nodeId, host: c.host, port: c.port };
    }, { retries: 20 });
  }

  /** ListTransactions on every broker (each lists those it coordinates). */
  async listTransactions(filter: { states?: readonly string[]; producerIds?: readonly number[]; durationMs?: number } = {}): Promise<TransactionListing[]> {
    const md = await this.cluster.retry(() => this.cluster.refreshMetadata([]));
    const out: TransactionListing[] = [];
    for (const b of [...md.brokers.values()].sort((x, y) => x.nodeId - y.nodeId)) {
      const resp = await this.cluster.retry(async () => {
        const conn = await this.cluster.connectTo(b.host, b.port);
        const r = await conn.request<ListTransactionsResponse>(ApiKey.ListTransactions, {
          stateFilters: [...(filter.states ?? [])],
          producerIdFilters: [...(filter.producerIds ?? [])],
          durationFilter: filter.durationMs ?? -1,
        });
        if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `ListTransactions on broker ${b.nodeId}`);
        return r;
      });
      for (const t of resp.transactionStates) out.push({ transactionalId: t.transactionalId, producerId: t.producerId, state: t.transactionState, coordinatorId: b.nodeId });
    }
    return out;
  }

  /** DescribeTransactions on each id's coordinator; rejects with TRANSACTIONAL_ID_NOT_FOUND for an unknown id. */
  async describeTransactions(transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
    const out: TransactionDescription[] = [];
    for (const id of transactionalIds) {
      out.push(
        await this.cluster.retry(async () => {
          const node = await this.findTransactionCoordinator(id);
          const conn = await this.cluster.connectTo(node.host, node.port);
          const r = await conn.request<DescribeTransactionsResponse>(ApiKey.DescribeTransactions, { transactionalIds: [id] });
          const t = r.transactionStates[0];
          if (!t) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `DescribeTransactions returned nothing for '${id}'`);
          if (t.errorCode !== ErrorCode.NONE) throw kafkaError(t.errorCode, null, `transactional id '${id}'`);
          return {
            transactionalId: id,
            coordinatorId: node.nodeId,
            state: t.transactionState,
            producerId: t.producerId,
            producerEpoch: t.producerEpoch,
            transactionTimeoutMs: t.transactionTimeoutMs,
            transactionStartTimeMs: t.transactionStartTimeMs,
            topicPartitions: t.topics.flatMap((tp) => tp.partitions.map((partition) => ({ topic: tp.topic, partition }))),
          };
        }, { retries: 20 }),
      );
    }
    return out;
  }

  /** DescribeProducers of one partition, on its leader (or on `brokerId`, any broker hosting a replica of it). */
  async describeProducers(topic: string, partition: number, brokerId?: number): Promise<ProducerStateDescription[]> {
    return this.cluster.retry(async (attempt) => {
      const node = brokerId ?? (await this.cluster.leaderFor(topic, partition, attempt > 0));
      if (node < 0) throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `${topic}-${partition} has no leader`);
      const conn = await this.cluster.connection(node);
      const r = await conn.request<DescribeProducersResponse>(ApiKey.DescribeProducers, { topics: [{ name: topic, partitionIndexes: [partition] }] });
      const p = r.topics[0]?.partitions[0];
      if (!p) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `DescribeProducers returned nothing for ${topic}-${partition}`);
      if (p.errorCode !== ErrorCode.NONE) throw kafkaError(p.errorCode, p.errorMessage, `${topic}-${partition}`);
      return p.activeProducers.map((s) => ({
        producerId: s.producerId,
        producerEpoch: s.producerEpoch,
        lastSequence: s.lastSequence,
        lastTimestamp: s.lastTimestamp,
        coordinatorEpoch: s.coordinatorEpoch,
        currentTransactionStartOffset: s.currentTxnStartOffset,
      }));
    });
  }

  /**
   * Aborts a (hanging) transaction on one partition (Kafka's Admin.abortTransaction): an ABORT marker with the
   * producer's id and epoch, sent to the partition's leader as a coordinator would (WriteTxnMarkers).
   */
  async abortTransaction(spec: AbortTransactionSpec): Promise<void> {
    await this.cluster.retry(async (attempt) => {
      const leader = await this.cluster.leaderFor(spec.topic, spec.partition, attempt > 0);
      if (leader < 0) throw new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `${spec.topic}-${spec.partition} has no leader`);
      const conn = await this.cluster.connection(leader);
      const r = await conn.request<WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, {
        markers: [
          {
            producerId: spec.producerId,
            producerEpoch: spec.producerEpoch,
            transactionResult: false,
            topics: [{ name: spec.topic, partitionIndexes: [spec.partition] }],
            coordinatorEpoch: spec.coordinatorEpoch,
          },
        ],
      });
      const code = r.markers[0]?.topics[0]?.partitions[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      if (code !== ErrorCode.NONE) throw kafkaError(code, null, `aborting the transaction of producer ${spec.producerId} on ${spec.topic}-${spec.partition}`);
    });
  }

  // ------------------------------------------------------------------------------------------------
  // Records, log dirs, API versions (kafka-delete-records.sh, kafka-log-dirs.sh, kafka-broker-api-versions.sh)

  /**
   * DeleteRecords on each partition's leader: the log start offset moves to `offset` (-1: the high watermark).
   * Per partition, the new low watermark or the error (a KafkaError); retriable errors are retried.
   */
  async deleteRecords(
    targets: readonly { topic: string; partition: number; offset: number }[],
    timeoutMs = 30000,
  ): Promise<{ topic: string; partition: number; lowWatermark: number; error: KafkaError | null }[]> {
    const out = new Map<string, { topic: string; partition: number; lowWatermark: number; error: KafkaError | null }>();
    const key = (t: string, p: number) => `${t}\u0000${p}`;
    let pending = [...targets];
    for (let attempt = 0; pending.length > 0; attempt++) {
      const byLeader = new Map<number, typeof pending>();
      const retry: typeof pending = [];
      for (const t of pending) {
        let leader: number;
        try {
          leader = await this.cluster.leaderFor(t.topic, t.partition, attempt > 0);
        } catch (err) {
          out.set(key(t.topic, t.partition), { ...t, lowWatermark: -1, error: err instanceof KafkaError ? err : new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, String(err)) });
          continue;
        }
        if (leader < 0) {
          if (attempt < this.cluster.retries) retry.push(t);
          else out.set(key(t.topic, t.partition), { ...t, lowWatermark: -1, error: new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, `${t.topic}-${t.partition} has no leader`) });
          continue;
        }
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), t]);
      }
      for (const [leader, list] of byLeader) {
        const topics = new Map<string, { partitionIndex: number; offset: number }[]>();
        for (const t of list) topics.set(t.topic, [...(topics.get(t.topic) ?? []), { partitionIndex: t.partition, offset: t.offset }]);
        const conn = await this.cluster.connection(leader);
        const r = await conn.request<DeleteRecordsResponse>(ApiKey.DeleteRecords, {
          topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
          timeoutMs,
        });
        for (const t of r.topics) {
          for (const p of t.partitions) {
            const target = list.find((x) => x.topic === t.name && x.partition === p.partitionIndex);
            if (!target) continue;
            if (p.errorCode === ErrorCode.NONE) out.set(key(t.name, p.partitionIndex), { ...target, lowWatermark: p.lowWatermark, error: null });
            else if ((p.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || p.errorCode === ErrorCode.LEADER_NOT_AVAILABLE) && attempt < this.cluster.retries) retry.push(target);
            else out.set(key(t.name, p.partitionIndex), { ...target, lowWatermark: -1, error: kafkaError(p.errorCode, null, `${t.name}-${p.partitionIndex}`) });
          }
        }
      }
      pending = retry;
      if (pending.length > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
    }
    return targets.map((t) => out.get(key(t.topic, t.partition))!).filter((x) => x !== undefined);
  }

  /** DescribeLogDirs of each broker (all, or `brokerIds`), for every partition or those of `topics`. */
  async describeLogDirs(
    brokerIds?: readonly number[],
    topics?: readonly string[],
  ): Promise<Map<number, { logDir: string; errorCode: number; totalBytes: number; usableBytes: number; partitions: { topic: string; partition: number; size: number; offsetLag: number; isFuture: boolean }[] }[]>> {
    const cluster = await this.describeCluster();
    const ids = brokerIds ?? cluster.brokers.map((b) => b.nodeId);
    let request: { topic: string; partitions: number[] }[] | null = null;
    if (topics !== undefined) {
      request = [];
      for (const d of await this.describeTopics(topics)) request.push({ topic: d.name, partitions: d.partitions.map((p) => p.partition) });
    }
    const out = new Map<number, { logDir: string; errorCode: number; totalBytes: number; usableBytes: number; partitions: { topic: string; partition: number; size: number; offsetLag: number; isFuture: boolean }[] }[]>();
    for (const id of ids) {
      if (!cluster.brokers.some((b) => b.nodeId === id)) throw new KafkaError(ErrorCode.BROKER_NOT_AVAILABLE, `broker ${id} is not in the cluster (brokers: ${cluster.brokers.map((b) => b.nodeId).join(',')})`);
      const conn = await this.cluster.connection(id);
      const r = await conn.request<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, { topics: request });
      if (r.errorCode !== ErrorCode.NONE) throw kafkaError(r.errorCode, null, `DescribeLogDirs on broker ${id}`);
      out.set(
        id,
        r.results.map((d) => ({
          logDir: d.logDir,
          errorCode: d.errorCode,
          totalBytes: d.totalBytes,
          usableBytes: d.usableBytes,
          partitions: d.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, size: p.partitionSize, offsetLag: p.offsetLag, isFuture: p.isFutureKey }))),
        })),
      );
    }
    return out;
  }

  /** Each broker with the API version ranges it advertised (ApiVersions, as the connection negotiated them). */
  async brokerApiVersions(): Promise<{ broker: BrokerInfo; versions: Map<number, { min: number; max: number }> }[]> {
    const cluster = await this.describeCluster();
    const out: { broker: BrokerInfo; versions: Map<number, { min: number; max: number }> }[] = [];
    for (const b of cluster.brokers) {
      const conn = await this.cluster.connection(b.nodeId);
      out.push({ broker: b, versions: new Map(conn.brokerVersions) });
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsCluster) await this.cluster.close();
  }

  /**
   * Runs a controller request, retrying while the controller moves: as Kafka's admin client keeps
   * retrying within its API timeout, the retries cover operationTimeoutMs (a controller failover
   * takes up to the ZooKeeper session timeout), not only the cluster client's default count.
   */
  private onController<T>(fn: (conn: Awaited<ReturnType<ClusterClient['controllerConnection']>>) => Promise<T>): Promise<T> {
    const retries = Math.max(this.cluster.retries, Math.ceil(this.operationTimeoutMs / this.cluster.retryBackoffMaxMs));
    return this.cluster.retry(
      async (attempt) => {
        if (attempt > 0) await this.cluster.refreshMetadata([]);
        return fn(await this.cluster.controllerConnection());
      },
      { retries },
    );
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function createAdmin(opts: AdminOptions): Admin {
  return new Admin(opts);
}

// ---- configs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs) ----------------------------

/** A config resource: a topic by name, or a broker by id ("" = the cluster-wide broker default). */
export interface ConfigResourceRef {
  type: 'topic' | 'broker';
  name: string;
}

export type ConfigSourceName =
  | 'UNKNOWN'
  | 'DYNAMIC_TOPIC_CONFIG'
  | 'DYNAMIC_BROKER_CONFIG'
  | 'DYNAMIC_DEFAULT_BROKER_CONFIG'
  | 'STATIC_BROKER_CONFIG'
  | 'DEFAULT_CONFIG'
  | 'DYNAMIC_BROKER_LOGGER_CONFIG';

export interface ConfigEntryDescription {
  name: string;
  /** null for sensitive configs and configs without a value. */
  value: string | null;
  source: ConfigSourceName;
  isDefault: boolean;
  isSensitive: boolean;
  readOnly: boolean;
  synonyms: Array<{ name: string; value: string | null; source: ConfigSourceName }>;
  /** ConfigType id (v3+; 0 when unknown). */
  configType: number;
  documentation: string | null;
}

export interface ConfigResourceDescription extends ConfigResourceRef {
  configs: ConfigEntryDescription[];
}

export interface ConfigAlterations {
  set?: Record<string, string>;
  delete?: readonly string[];
  /** List configs: items added (comma separated). */
  append?: Record<string, string>;
  /** List configs: items removed (comma separated). */
  subtract?: Record<string, string>;
}

/** A failure about one config resource; `code` is the Kafka error code. */
export class ConfigResourceError extends KafkaError {
  constructor(
    readonly resource: ConfigResourceRef,
    code: number,
    message: string,
  ) {
    super(code, message);
    this.name = 'ConfigResourceError';
  }
}

const CONFIG_RESOURCE_TYPE_IDS: Readonly<Record<ConfigResourceRef['type'], number>> = { topic: 2, broker: 4 };

const CONFIG_SOURCE_NAMES: readonly ConfigSourceName[] = [
  'UNKNOWN',
  'DYNAMIC_TOPIC_CONFIG',
  'DYNAMIC_BROKER_CONFIG',
  'DYNAMIC_DEFAULT_BROKER_CONFIG',
  'STATIC_BROKER_CONFIG',
  'DEFAULT_CONFIG',
  'DYNAMIC_BROKER_LOGGER_CONFIG',
];

/** The source name of a config_source id (v0 has none: is_default tells default from override). */
function configSourceName(id: number, isDefault: boolean, type: ConfigResourceRef['type']): ConfigSourceName {
  if (id === -1) return isDefault ? 'DEFAULT_CONFIG' : type === 'topic' ? 'DYNAMIC_TOPIC_CONFIG' : 'STATIC_BROKER_CONFIG';
  return CONFIG_SOURCE_NAMES[id] ?? 'UNKNOWN';
}

function configErrorMessage(ref: ConfigResourceRef, code: number, brokerMessage: string | null): string {
  if (brokerMessage) return brokerMessage;
  if (ref.type === 'topic') return topicErrorMessage(ref.name, code, null);
  return kafkaError(code, null, `broker '${ref.name}'`).message;
}

/** Topic resources (null: any broker) and broker resources (by id) grouped by the broker to ask. */
function groupByConfigTarget(resources: readonly ConfigResourceRef[]): Map<number | null, ConfigResourceRef[]> {
  const out = new Map<number | null, ConfigResourceRef[]>();
  for (const r of resources) {
    const target = r.type === 'broker' && /^\d+$/.test(r.name) ? Number(r.name) : null;
    const list = out.get(target) ?? [];
    list.push(r);
    out.set(target, list);
  }
  return out;
}
