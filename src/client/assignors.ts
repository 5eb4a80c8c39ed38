/**
 * Partition assignors for the classic consumer group protocol, computed by the group leader, and the
 * embedded consumer protocol bytes (int16 version + ConsumerProtocolSubscription / Assignment struct,
 * as Kafka's ConsumerProtocol writes them).
 *
 * - `range` (Kafka's RangeAssignor): per topic, the members subscribed to it sorted by member id (group
 *   instance id first when set); each gets a contiguous range of partitions, the first
 *   `partitions % members` members one extra.
 * - `roundrobin` (Kafka's RoundRobinAssignor): every subscribed topic-partition sorted by topic then
 *   partition, dealt one at a time to the sorted members in a cycle, skipping members not subscribed to
 *   the partition's topic.
 */
import { Reader, Writer } from '../protocol/primitives.js';
import {
  readConsumerProtocolSubscription,
  sizeConsumerProtocolSubscription,
  writeConsumerProtocolSubscription,
} from '../protocol/generated/consumer-protocol-subscription.js';
import {
  readConsumerProtocolAssignment,
  sizeConsumerProtocolAssignment,
  writeConsumerProtocolAssignment,
} from '../protocol/generated/consumer-protocol-assignment.js';

export interface MemberSubscription {
  memberId: string;
  groupInstanceId?: string | null;
  topics: readonly string[];
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** memberId → assigned partitions (sorted by topic, then partition). */
export type GroupAssignment = Map<string, TopicPartition[]>;

export interface Assignor {
  readonly name: string;
  /** `partitionCounts`: topic → number of partitions (topics missing from it have none). */
  assign(members: readonly MemberSubscription[], partitionCounts: ReadonlyMap<string, number>): GroupAssignment;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Kafka's MemberInfo order: by group instance id when both have one, else members with one first, then member id. */
function compareMembers(a: MemberSubscription, b: MemberSubscription): number {
  const ai = a.groupInstanceId ?? null;
  const bi = b.groupInstanceId ?? null;
  if (ai !== null && bi !== null) return compareStrings(ai, bi) || compareStrings(a.memberId, b.memberId);
  if (ai !== null) return -1;
  if (bi !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

function sortAssignment(out: GroupAssignment): GroupAssignment {
  for (const list of out.values()) list.sort((x, y) => compareStrings(x.topic, y.topic) || x.partition - y.partition);
  return out;
}

export const rangeAssignor: Assignor = {
  name: 'range',
  assign(members, partitionCounts) {
    const out: GroupAssignment = new Map(members.map((m) => [m.memberId, []]));
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort(compareStrings);
    for (const topic of topics) {
      const n = partitionCounts.get(topic) ?? 0;
      if (n <= 0) continue;
      const subscribers = members.filter((m) => m.topics.includes(topic)).sort(compareMembers);
      const per = Math.floor(n / subscribers.length);
      const extra = n % subscribers.length;
      subscribers.forEach((m, i) => {
        const start = per * i + Math.min(i, extra);
        const length = per + (i + 1 > extra ? 0 : 1);
        const list = out.get(m.memberId)!;
        for (let p = start; p < start + length; p++) list.push({ topic, partition: p });
      });
    }
    return sortAssignment(out);
  },
};

export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  assign(members, partitionCounts) {
    const out: GroupAssignment = new Map(members.map((m) => [m.memberId, []]));
    const sorted = [...members].sort(compareMembers);
    if (sorted.length === 0) return out;
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort(compareStrings);
    let next = 0;
    for (const topic of topics) {
      const n = partitionCounts.get(topic) ?? 0;
      for (let p = 0; p < n; p++) {
        // Advance the cycle to the next member subscribed to this topic (one exists: the topic came from one).
        while (!sorted[next % sorted.length]!.topics.includes(topic)) next++;
        out.get(sorted[next % sorted.length]!.memberId)!.push({ topic, partition: p });
        next++;
      }
    }
    return sortAssignment(out);
  },
};

export const ASSIGNORS: Readonly<Record<string, Assignor>> = { range: rangeAssignor, roundrobin: roundRobinAssignor };

/** Resolves assignor names (also Kafka's class names, e.g. org.apache.kafka.clients.consumer.RangeAssignor). */
export function assignorByName(name: string): Assignor {
  const n = name.trim();
  const simple = n.includes('.') ? n.slice(n.lastIndexOf('.') + 1) : n;
  const k = simple.toLowerCase().replace(/assignor$/, '');
  const a = ASSIGNORS[k === 'roundrobin' || k === 'round_robin' ? 'roundrobin' : k];
  if (!a) throw new Error(`unknown partition assignor '${name}' (supported: range, roundrobin)`);
  return a;
}

// ---------------------------------------------------------------------------------------------------
// Embedded consumer protocol

const SUBSCRIPTION_VERSION = 0;
const ASSIGNMENT_VERSION = 0;
const MAX_SUBSCRIPTION_VERSION = 3;
const MAX_ASSIGNMENT_VERSION = 3;

export function encodeSubscription(topics: readonly string[], userData: Buffer | null = null): Buffer {
  const m = { topics: [...topics], userData };
  const w = Writer.alloc(2 + sizeConsumerProtocolSubscription(m, SUBSCRIPTION_VERSION));
  w.int16(SUBSCRIPTION_VERSION);
  writeConsumerProtocolSubscription(w, m, SUBSCRIPTION_VERSION);
  return w.buf;
}

/** Decodes member metadata; newer versions only append fields, so they are read as the newest we know. */
export function decodeSubscription(buf: Buffer): { version: number; topics: string[]; userData: Buffer | null } {
  const r = new Reader(buf);
  const version = r.int16();
  const s = readConsumerProtocolSubscription(r, Math.max(0, Math.min(version, MAX_SUBSCRIPTION_VERSION)));
  return { version, topics: s.topics, userData: s.userData };
}

export function encodeAssignment(partitions: readonly TopicPartition[], userData: Buffer | null = null): Buffer {
  const byTopic = new Map<string, number[]>();
  for (const tp of partitions) {
    let list = byTopic.get(tp.topic);
    if (!list) byTopic.set(tp.topic, (list = []));
    list.push(tp.partition);
  }
  const m = { assignedPartitions: [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })), userData };
  const w = Writer.alloc(2 + sizeConsumerProtocolAssignment(m, ASSIGNMENT_VERSION));
  w.int16(ASSIGNMENT_VERSION);
  writeConsumerProtocolAssignment(w, m, ASSIGNMENT_VERSION);
  return w.buf;
}

/** Decodes an assignment; empty bytes (no assignment) give no partitions. */
export function decodeAssignment(buf: Buffer | null | undefined): TopicPartition[] {
  if (!buf || buf.length < 2) return [];
  const r = new Reader(buf);
  const version = r.int16();
  const a = readConsumerProtocolAssignment(r, Math.max(0, Math.min(version, MAX_ASSIGNMENT_VERSION)));
  return a.assignedPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
}
