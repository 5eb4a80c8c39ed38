/**
 * What the console shows about the cluster, read with kfk's own admin client: brokers and the controller,
 * topics (partitions, leader, replicas, ISR, offsets, sizes, configs) and consumer groups (members,
 * assignments, committed offsets and lag). Plain JSON-ready objects; the HTTP layer (handler.ts) only routes.
 */
import { Admin, type GroupDescription, type PartitionDescription } from '../client/admin.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { ApiKey } from '../protocol/generated/api-table.js';
import type { DescribeLogDirsResponse } from '../protocol/generated/describe-log-dirs.js';

export interface BrokerView {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
  isController: boolean;
}

export interface ClusterView {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerView[];
  topics: number;
  partitions: number;
  underReplicatedPartitions: number;
  offlinePartitions: number;
  groups: number;
}

/** A partition as Metadata describes it, with its offsets. */
export interface PartitionView extends PartitionDescription {
  /** Log start offset and log end offset (high watermark); null when the leader could not be asked. */
  earliestOffset: number | null;
  latestOffset: number | null;
  /** Bytes of the leader's replica (DescribeLogDirs); null when unknown. */
  sizeBytes: number | null;
}

export interface TopicSummary {
  name: string;
  internal: boolean;
  partitions: number;
  replicationFactor: number;
  underReplicatedPartitions: number;
  offlinePartitions: number;
  /** Records between log start and log end, summed over partitions; null when unknown. */
  messages: number | null;
  sizeBytes: number | null;
}

export interface ConfigView {
  name: string;
  /** null for sensitive configs. */
  value: string | null;
  source: string;
  isDefault: boolean;
  isSensitive: boolean;
  readOnly: boolean;
}

export interface TopicView {
  name: string;
  topicId: string;
  internal: boolean;
  partitions: PartitionView[];
  configs: ConfigView[];
  /** Why sizes are unknown, when they are (e.g. DescribeLogDirs unsupported). */
  sizeNote: string | null;
}

export interface GroupSummary {
  groupId: string;
  state: string;
  protocolType: string;
  members: number;
  /** Sum of the lag of every committed partition; null when it could not be computed. */
  totalLag: number | null;
  coordinator: number | null;
}

export interface GroupOffsetView {
  topic: string;
  partition: number;
  /** null when the group has not committed an offset for a partition it is assigned. */
  committedOffset: number | null;
  logEndOffset: number | null;
  /** logEndOffset - committedOffset (never negative); null when either is unknown. */
  lag: number | null;
  memberId: string | null;
  clientId: string | null;
  host: string | null;
}

export interface GroupView {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  coordinator: { nodeId: number; host: string; port: number };
  members: Array<{ memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; assignment: Array<{ topic: string; partition: number }> }>;
  offsets: GroupOffsetView[];
  totalLag: number | null;
}

/** Sizes per partition (bytes of its leader's replica), or why they are unknown. */
export interface PartitionSizes {
  /** `${topic}\0${partition}` → broker id → bytes. */
  sizes: Map<string, Map<number, number>>;
  note: string | null;
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Kafka's group states in which a group has members (offsets may not be reset from outside). */
export const ACTIVE_GROUP_STATES: ReadonlySet<string> = new Set(['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Assigning', 'Reconciling']);

/** Reads the cluster for the console. */
export class ClusterReader {
  constructor(private readonly admin: Admin) {}

  async cluster(): Promise<ClusterView> {
    const [desc, topics, groups] = await Promise.all([this.admin.describeCluster(), this.admin.describeTopics(), this.admin.listGroups()]);
    let partitions = 0;
    let under = 0;
    let offline = 0;
    for (const t of topics) {
      for (const p of t.partitions) {
        partitions++;
        if (p.leader < 0) offline++;
        if (p.isr.length < p.replicas.length) under++;
      }
    }
    return {
      clusterId: desc.clusterId,
      controllerId: desc.controllerId,
      brokers: desc.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack, isController: b.nodeId === desc.controllerId })),
      topics: topics.length,
      partitions,
      underReplicatedPartitions: under,
      offlinePartitions: offline,
      groups: groups.length,
    };
  }

  /** Every config of one broker (DescribeConfigs on that broker). */
  async brokerConfigs(brokerId: number): Promise<ConfigView[]> {
    const [res] = await this.admin.describeConfigs([{ type: 'broker', name: String(brokerId) }]);
    return (res?.configs ?? []).map(configView).sort((a, b) => compare(a.name, b.name));
  }

  async topics(): Promise<TopicSummary[]> {
    const topics = await this.admin.describeTopics();
    const [offsets, sizes] = await Promise.all([this.offsetsOf(topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => p.partition) }))), this.partitionSizes()]);
    return topics.map((t) => {
      let messages: number | null = 0;
      let sizeBytes: number | null = sizes.note === null ? 0 : null;
      for (const p of t.partitions) {
        const o = offsets.get(tpKey(t.name, p.partition));
        messages = messages !== null && o ? messages + (o.latest - o.earliest) : null;
        const size = leaderSize(sizes, t.name, p.partition, p.leader);
        sizeBytes = sizeBytes !== null && size !== null ? sizeBytes + size : null;
      }
      return {
        name: t.name,
        internal: t.isInternal,
        partitions: t.partitions.length,
        replicationFactor: t.partitions[0]?.replicas.length ?? 0,
        underReplicatedPartitions: t.partitions.filter((p) => p.isr.length < p.replicas.length).length,
        offlinePartitions: t.partitions.filter((p) => p.leader < 0).length,
        messages,
        sizeBytes,
      };
    });
  }

  async topic(name: string): Promise<TopicView> {
    const [desc] = await this.admin.describeTopics([name]);
    if (!desc) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${name}' does not exist.`);
    const [offsets, sizes, configs] = await Promise.all([
      this.offsetsOf([{ name, partitions: desc.partitions.map((p) => p.partition) }]),
      this.partitionSizes([{ topic: name, partitions: desc.partitions.map((p) => p.partition) }]),
      this.admin.describeConfigs([{ type: 'topic', name }]).then(
        (r) => (r[0]?.configs ?? []).map(configView).sort((a, b) => compare(a.name, b.name)),
        () => [] as ConfigView[],
      ),
    ]);
    return {
      name: desc.name,
      topicId: desc.topicId,
      internal: desc.isInternal,
      sizeNote: sizes.note,
      configs,
      partitions: desc.partitions.map((p) => {
        const o = offsets.get(tpKey(name, p.partition));
        return {
          partition: p.partition,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
          earliestOffset: o?.earliest ?? null,
          latestOffset: o?.latest ?? null,
          sizeBytes: leaderSize(sizes, name, p.partition, p.leader),
        };
      }),
    };
  }

  async groups(): Promise<GroupSummary[]> {
    const listed = await this.admin.listGroups();
    return Promise.all(
      listed.map(async (g): Promise<GroupSummary> => {
        try {
          const view = await this.group(g.groupId);
          return { groupId: g.groupId, state: view.state, protocolType: view.protocolType || g.protocolType, members: view.members.length, totalLag: view.totalLag, coordinator: view.coordinator.nodeId };
        } catch {
          // One group that cannot be described (its coordinator is moving) does not hide the others.
          return { groupId: g.groupId, state: g.state || 'Unknown', protocolType: g.protocolType, members: 0, totalLag: null, coordinator: null };
        }
      }),
    );
  }

  /** A group with its members, and per partition the committed offset, log end offset and lag. */
  async group(groupId: string): Promise<GroupView> {
    const desc = await this.admin.describeGroup(groupId);
    if (desc.state === 'Dead') throw new KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, `Consumer group '${groupId}' does not exist.`);
    const committed = await this.admin.listGroupOffsets(groupId);
    const rows = offsetRows(desc, committed);
    const ends = await this.offsetsOf(byTopic(rows));
    let totalLag: number | null = 0;
    for (const r of rows) {
      const o = ends.get(tpKey(r.topic, r.partition));
      r.logEndOffset = o?.latest ?? null;
      r.lag = r.committedOffset !== null && r.logEndOffset !== null ? Math.max(0, r.logEndOffset - r.committedOffset) : null;
      if (r.committedOffset !== null) totalLag = totalLag !== null && r.lag !== null ? totalLag + r.lag : null;
    }
    return {
      groupId: desc.groupId,
      state: desc.state,
      protocolType: desc.protocolType,
      protocol: desc.protocol,
      coordinator: desc.coordinator,
      members: desc.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, assignment: m.assignment })),
      offsets: rows,
      totalLag,
    };
  }

  /** Log start and log end offsets of the given partitions (missing where the leader could not answer). */
  async offsetsOf(topics: ReadonlyArray<{ name: string; partitions: number[] }>): Promise<Map<string, { earliest: number; latest: number }>> {
    const out = new Map<string, { earliest: number; latest: number }>();
    await Promise.all(
      topics
        .filter((t) => t.partitions.length > 0)
        .map(async (t) => {
          try {
            const [earliest, latest] = await Promise.all([
              this.admin.listOffsets(t.name, 'earliest', { partitions: t.partitions }),
              this.admin.listOffsets(t.name, 'latest', { partitions: t.partitions }),
            ]);
            for (const e of earliest) {
              const l = latest.find((x) => x.partition === e.partition);
              if (l && e.offset >= 0 && l.offset >= 0) out.set(tpKey(t.name, e.partition), { earliest: e.offset, latest: l.offset });
            }
          } catch {
            // A topic whose leaders cannot answer (offline partitions) shows its offsets as unknown.
          }
        }),
    );
    return out;
  }

  /**
   * Replica sizes from every broker's DescribeLogDirs (API 35). A broker that does not serve it, or fails,
   * makes the sizes unknown (with the reason), never wrong.
   */
  async partitionSizes(topics?: ReadonlyArray<{ topic: string; partitions: number[] }>): Promise<PartitionSizes> {
    const sizes = new Map<string, Map<number, number>>();
    const desc = await this.admin.describeCluster();
    const cluster = this.admin.cluster;
    const notes: string[] = [];
    await Promise.all(
      desc.brokers.map(async (b) => {
        try {
          const conn = await cluster.connection(b.nodeId);
          if (!conn.supports(ApiKey.DescribeLogDirs)) {
            notes.push(`broker ${b.nodeId} does not support DescribeLogDirs`);
            return;
          }
          const resp = await conn.request<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, {
            // null: every replica the broker has; else the named partitions (an empty list would name none).
            topics: topics ? topics.map((t) => ({ topic: t.topic, partitions: t.partitions })) : null,
          });
          if (resp.errorCode !== ErrorCode.NONE) {
            notes.push(`broker ${b.nodeId}: DescribeLogDirs error ${resp.errorCode}`);
            return;
          }
          for (const dir of resp.results) {
            if (dir.errorCode !== ErrorCode.NONE) continue;
            for (const t of dir.topics) {
              for (const p of t.partitions) {
                if (p.isFutureKey) continue; // a copy being moved between log dirs (AlterReplicaLogDirs), not the replica
                const k = tpKey(t.name, p.partitionIndex);
                let perBroker = sizes.get(k);
                if (!perBroker) sizes.set(k, (perBroker = new Map()));
                perBroker.set(b.nodeId, (perBroker.get(b.nodeId) ?? 0) + p.partitionSize);
              }
            }
          }
        } catch (err) {
          notes.push(`broker ${b.nodeId}: ${(err as Error).message}`);
        }
      }),
    );
    return { sizes, note: notes.length > 0 ? `sizes unknown: ${notes.sort().join('; ')}` : null };
  }
}

function leaderSize(sizes: PartitionSizes, topic: string, partition: number, leader: number): number | null {
  if (sizes.note !== null || leader < 0) return null;
  return sizes.sizes.get(tpKey(topic, partition))?.get(leader) ?? null;
}

function configView(c: { name: string; value: string | null; source: string; isDefault: boolean; isSensitive: boolean; readOnly: boolean }): ConfigView {
  return { name: c.name, value: c.isSensitive ? null : c.value, source: c.source, isDefault: c.isDefault, isSensitive: c.isSensitive, readOnly: c.readOnly };
}

/** One row per assigned or committed partition, assigned ones first (as kafka-consumer-groups --describe). */
function offsetRows(desc: GroupDescription, committed: ReadonlyArray<{ topic: string; partition: number; offset: number }>): GroupOffsetView[] {
  const committedByKey = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c.offset]));
  const rows: GroupOffsetView[] = [];
  const seen = new Set<string>();
  for (const m of desc.members) {
    for (const tp of m.assignment) {
      const k = tpKey(tp.topic, tp.partition);
      seen.add(k);
      const c = committedByKey.get(k);
      rows.push({ topic: tp.topic, partition: tp.partition, committedOffset: c !== undefined && c >= 0 ? c : null, logEndOffset: null, lag: null, memberId: m.memberId, clientId: m.clientId, host: m.clientHost });
    }
  }
  for (const c of committed) {
    if (seen.has(tpKey(c.topic, c.partition)) || c.offset < 0) continue;
    rows.push({ topic: c.topic, partition: c.partition, committedOffset: c.offset, logEndOffset: null, lag: null, memberId: null, clientId: null, host: null });
  }
  return rows.sort((a, b) => compare(a.topic, b.topic) || a.partition - b.partition);
}

function byTopic(rows: ReadonlyArray<{ topic: string; partition: number }>): Array<{ name: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const r of rows) {
    let ps = m.get(r.topic);
    if (!ps) m.set(r.topic, (ps = []));
    ps.push(r.partition);
  }
  return [...m].map(([name, partitions]) => ({ name, partitions }));
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
