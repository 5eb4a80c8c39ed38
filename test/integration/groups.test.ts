/**
 * Consumer groups with real third-party clients against a kfk broker process: a kafkajs group of three
 * consumers on a six-partition topic, kcat -G (librdkafka's balanced consumer, auto commit), kafka-python's
 * KafkaConsumer(group_id=...) resuming after a broker restart, confluent-kafka-python subscribe + commit,
 * and committed offsets unchanged across a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { Consumer as PlatConsumer, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';
import { BrokerConnection } from '../../src/client/connection.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { kcat, pythonCode, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

const OVERRIDES = { 'group.initial.rebalance.delay.ms': '0', 'offsets.topic.num.partitions': '5' };

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

function client(): Kafka {
  return new Kafka({
    clientId: 'kfk-groups-test',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
  });
}

async function connectAll(): Promise<void> {
  kafka = client();
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
}

async function disconnectAll(): Promise<void> {
  await producer?.disconnect().catch(() => {});
  await admin?.disconnect().catch(() => {});
}

beforeAll(async () => {
  broker = await startBrokerProcess({ overrides: OVERRIDES });
  await connectAll();
}, 30_000);

afterAll(async () => {
  await disconnectAll();
});

async function produce(topic: string, partitions: number, perPartition: number, tag: string): Promise<void> {
  const messages = [];
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < perPartition; i++) messages.push({ partition: p, key: `k${p}`, value: `${tag}-${p}-${i}` });
  }
  await producer.send({ topic, messages, acks: -1 });
}

async function committed(groupId: string, topic: string): Promise<Map<number, number>> {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map(res[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
}

describe('kafkajs group of three consumers', () => {
  it('shares a six-partition topic, rebalances on leave, commits exact offsets, ends Empty', async () => {
    const topic = 'kjs-six';
    const groupId = 'kjs-group';
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });

    const seen: { consumer: number; partition: number; offset: number; value: string }[] = [];
    const assignments = new Map<number, number[]>();
    const consumers: Consumer[] = [];
    for (let c = 0; c < 3; c++) {
      const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200, rebalanceTimeout: 10_000 });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assignments.set(c, (e.payload.memberAssignment[topic] ?? []).slice().sort((a, b) => a - b));
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommitThreshold: 1,
        eachMessage: async ({ partition, message }) => {
          seen.push({ consumer: c, partition, offset: Number(message.offset), value: message.value!.toString() });
        },
      });
      consumers.push(consumer);
    }

    const stableWith = async (n: number) => {
      const d = (await admin.describeGroups([groupId])).groups[0]!;
      return d.state === 'Stable' && d.members.length === n;
    };
    await waitFor(async () => (await stableWith(3)) && assignments.size === 3 && [...assignments.values()].every((a) => a.length === 2), {
      timeoutMs: 20_000,
      message: 'the group to be Stable with three members of two partitions each',
    });
    const all = [...assignments.values()].flat().sort((a, b) => a - b);
    expect(all).toEqual([0, 1, 2, 3, 4, 5]);
    const described = (await admin.describeGroups([groupId])).groups[0]!;
    expect(described.protocolType).toBe('consumer');
    expect(described.protocol).toBe('RoundRobinAssigner');
    for (const m of described.members) {
      expect(m.clientId).toBe('kfk-groups-test');
      expect(m.clientHost).toBe('/127.0.0.1');
      expect(m.memberId.startsWith('kfk-groups-test-')).toBe(true);
      expect(m.memberAssignment.length).toBeGreaterThan(0);
    }

    await produce(topic, 6, 5, 'a');
    await waitFor(() => seen.length >= 30, { timeoutMs: 15_000, message: '30 records consumed' });
    const values = seen.map((s) => s.value).sort();
    expect(new Set(values).size).toBe(30);
    expect(seen.length).toBe(30);
    // Each record was read by the consumer that owns its partition.
    for (const s of seen) expect(assignments.get(s.consumer)).toContain(s.partition);
    await waitFor(async () => [...(await committed(groupId, topic)).values()].every((o) => o === 5), {
      timeoutMs: 10_000,
      message: 'offsets committed at 5 on every partition',
    });

    // One member leaves: its two partitions go to the other two.
    const leaving = consumers.shift()!;
    const leftPartitions = assignments.get(0)!;
    assignments.clear();
    await leaving.disconnect();
    await waitFor(async () => (await stableWith(2)) && assignments.size === 2 && [...assignments.values()].every((a) => a.length === 3), {
      timeoutMs: 20_000,
      message: 'the group to be Stable with two members of three partitions each',
    });
    expect([...assignments.values()].flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(assignments.has(0)).toBe(false);

    const before = seen.length;
    await produce(topic, 6, 4, 'b');
    await waitFor(() => seen.length >= before + 24, { timeoutMs: 15_000, message: '24 more records consumed' });
    const second = seen.slice(before);
    expect(second.length).toBe(24);
    expect(new Set(second.map((s) => s.value)).size).toBe(24);
    for (const s of second) expect(s.consumer).not.toBe(0);
    expect(second.filter((s) => leftPartitions.includes(s.partition)).length).toBe(8);
    await waitFor(async () => [...(await committed(groupId, topic)).values()].every((o) => o === 9), {
      timeoutMs: 10_000,
      message: 'offsets committed at 9 on every partition',
    });
    const offsets = await committed(groupId, topic);
    expect([...offsets.entries()].sort((a, b) => a[0] - b[0])).toEqual([0, 1, 2, 3, 4, 5].map((p) => [p, 9]));

    for (const c of consumers) await c.disconnect();
    await waitFor(async () => (await admin.describeGroups([groupId])).groups[0]!.state === 'Empty', {
      timeoutMs: 10_000,
      message: 'the group to be Empty',
    });
    const d = (await admin.describeGroups([groupId])).groups[0]!;
    expect(d.members).toEqual([]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).toContain(groupId);
  }, 60_000);
});

describe('kcat -G (librdkafka balanced consumer, auto commit)', () => {
  it('reads every record once and commits the end offsets', async () => {
    const topic = 'kcat-g';
    const groupId = 'kcat-group';
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await produce(topic, 3, 7, 'kc');
    const res = await kcat(
      ['-b', broker.bootstrap, '-G', groupId, '-X', 'auto.offset.reset=earliest', '-X', 'auto.commit.interval.ms=200', '-e', '-q', '-f', '%p %o %s\\n', topic],
      { timeoutMs: 30_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(21);
    expect(new Set(lines.map((l) => l.split(' ')[2])).size).toBe(21);
    await waitFor(async () => [...(await committed(groupId, topic)).values()].every((o) => o === 7), {
      timeoutMs: 10_000,
      message: 'kcat commits at 7 on every partition',
    });
    // A second run of the same group resumes at the committed offsets: nothing left to read.
    await produce(topic, 3, 1, 'kc2');
    const again = await kcat(['-b', broker.bootstrap, '-G', groupId, '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%p %o %s\\n', topic], { timeoutMs: 30_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n').sort()).toEqual(['0 7 kc2-0-0', '1 7 kc2-1-0', '2 7 kc2-2-0']);
  }, 60_000);
});

describe('every advertised version of the group APIs', () => {
  it('JoinGroup v0-9, SyncGroup v0-5, Heartbeat v0-4, OffsetCommit v0-9, OffsetFetch v0-9, LeaveGroup v0-5, admin APIs', async () => {
    const topic = 'ver-t';
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port, clientId: 'ver-client' });
    try {
      const protocols = [{ name: 'range', metadata: Buffer.from([0, 1, 0, 0, 0, 0]) }];
      for (let v = 0; v <= 9; v++) {
        const groupId = `ver-g${v}`;
        // FindCoordinator creates __consumer_offsets and tells us the (only) broker.
        const fc = await conn.request(10, { key: groupId, keyType: 0 }, { version: 2 });
        expect(fc.errorCode).toBe(ErrorCode.NONE);
        const joinBody = { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols, reason: null };
        let join = await conn.request(11, joinBody, { version: v });
        if (v >= 4) {
          expect(join.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
          join = await conn.request(11, { ...joinBody, memberId: join.memberId }, { version: v });
        }
        expect(join.errorCode, `JoinGroup v${v}`).toBe(ErrorCode.NONE);
        expect(join.generationId).toBe(1);
        expect(join.leader).toBe(join.memberId);
        expect(join.memberId).toMatch(/^ver-client-/);
        expect(join.members.map((m: { metadata: Buffer }) => m.metadata)).toEqual([protocols[0]!.metadata]);
        const sv = Math.min(v, 5);
        const sync = await conn.request(
          14,
          { groupId, generationId: 1, memberId: join.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: join.memberId, assignment: Buffer.from('asg') }] },
          { version: sv },
        );
        expect(sync.errorCode, `SyncGroup v${sv}`).toBe(ErrorCode.NONE);
        expect(Buffer.from(sync.assignment).toString()).toBe('asg');
        const hv = Math.min(v, 4);
        expect((await conn.request(12, { groupId, generationId: 1, memberId: join.memberId, groupInstanceId: null }, { version: hv })).errorCode, `Heartbeat v${hv}`).toBe(ErrorCode.NONE);
        expect((await conn.request(12, { groupId, generationId: 7, memberId: join.memberId, groupInstanceId: null }, { version: hv })).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);

        // v0 commits are simple commits (no generation): refused while the group has members.
        const commitBody = {
          groupId,
          generationIdOrMemberEpoch: 1,
          memberId: join.memberId,
          groupInstanceId: null,
          retentionTimeMs: -1,
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 10 + v, committedLeaderEpoch: 0, commitTimestamp: -1, committedMetadata: `m${v}` }] }],
        };
        const commit = await conn.request(8, commitBody, { version: v });
        expect(commit.topics[0].partitions[0].errorCode, `OffsetCommit v${v}`).toBe(v === 0 ? ErrorCode.UNKNOWN_MEMBER_ID : ErrorCode.NONE);
        const lv = Math.min(v, 5);
        const leave = await conn.request(13, { groupId, memberId: join.memberId, members: [{ memberId: join.memberId, groupInstanceId: null, reason: null }] }, { version: lv });
        expect(leave.errorCode, `LeaveGroup v${lv}`).toBe(ErrorCode.NONE);
        if (lv >= 3) expect(leave.members.map((m: { errorCode: number }) => m.errorCode)).toEqual([ErrorCode.NONE]);
        if (v === 0) {
          expect((await conn.request(8, commitBody, { version: 0 })).topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
        }
      }
      for (let v = 0; v <= 9; v++) {
        const groupId = `ver-g${v}`;
        const body =
          v >= 8
            ? { groups: [{ groupId, memberId: null, memberEpoch: -1, topics: [{ name: topic, partitionIndexes: [0] }] }, { groupId: 'ver-g0', memberId: null, memberEpoch: -1, topics: null }], requireStable: true }
            : { groupId, topics: [{ name: topic, partitionIndexes: [0] }], requireStable: true };
        const r = await conn.request(9, body, { version: v });
        const parts = v >= 8 ? r.groups[0].topics[0].partitions : r.topics[0].partitions;
        expect(parts[0].committedOffset, `OffsetFetch v${v}`).toBe(10 + v);
        expect(parts[0].metadata).toBe(`m${v}`);
        if (v >= 8) expect(r.groups[1].topics[0].partitions[0].committedOffset).toBe(10);
      }
      for (let v = 0; v <= 4; v++) {
        const r = await conn.request(16, { statesFilter: v >= 4 ? ['Empty'] : [], typesFilter: [] }, { version: v });
        expect(r.errorCode, `ListGroups v${v}`).toBe(ErrorCode.NONE);
        expect(r.groups.map((g: { groupId: string }) => g.groupId)).toContain('ver-g3');
        if (v >= 4) expect(new Set(r.groups.map((g: { groupState: string }) => g.groupState))).toEqual(new Set(['Empty']));
      }
      for (let v = 0; v <= 5; v++) {
        const r = await conn.request(15, { groups: ['ver-g1', 'no-such-group'], includeAuthorizedOperations: true }, { version: v });
        expect(r.groups.map((g: { groupState: string; errorCode: number }) => [g.groupState, g.errorCode]), `DescribeGroups v${v}`).toEqual([
          ['Empty', 0],
          ['Dead', 0],
        ]);
      }
      const od = await conn.request(47, { groupId: 'ver-g1', topics: [{ name: topic, partitions: [{ partitionIndex: 0 }] }] }, { version: 0 });
      expect(od.errorCode).toBe(ErrorCode.NONE);
      expect(od.topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
      for (let v = 0; v <= 2; v++) {
        const r = await conn.request(42, { groupsNames: [`ver-g${v + 2}`, 'no-such-group'] }, { version: v });
        expect(r.results.map((x: { errorCode: number }) => x.errorCode), `DeleteGroups v${v}`).toEqual([ErrorCode.NONE, ErrorCode.GROUP_ID_NOT_FOUND]);
      }
    } finally {
      conn.close();
    }
  }, 60_000);
});

describe('@platformatic/kafka consumer group (flexible versions: JoinGroup 9, SyncGroup 5, OffsetCommit 9, OffsetFetch 9)', () => {
  it('consumes with group management and commits', async () => {
    const topic = 'plat-g';
    const groupId = 'plat-group';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await produce(topic, 2, 4, 'pl');
    const consumer = new PlatConsumer({
      clientId: 'kfk-plat-group',
      groupId,
      bootstrapBrokers: [broker.bootstrap],
      deserializers: stringDeserializers,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10_000,
    });
    const got: string[] = [];
    try {
      const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false, maxWaitTime: 200 });
      for await (const message of stream) {
        got.push(message.value as string);
        await message.commit();
        if (got.length === 8) break;
      }
      await stream.close();
    } finally {
      await consumer.close(true);
    }
    expect(got.sort()).toEqual([0, 1].flatMap((p) => [0, 1, 2, 3].map((i) => `pl-${p}-${i}`)).sort());
    await waitFor(async () => [...(await committed(groupId, topic)).values()].every((o) => o === 4), { message: 'platformatic commits' });
  }, 60_000);
});

const KP_GROUP_CONSUMER = `
import sys, json, time
from kafka import KafkaConsumer
cfg = json.loads(sys.argv[1])
c = KafkaConsumer(cfg['topic'], bootstrap_servers=cfg['bootstrap'], group_id=cfg['group'], auto_offset_reset='earliest',
                  enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500)
out = []
deadline = time.time() + 25
while len(out) < cfg['n'] and time.time() < deadline:
    for tp, recs in c.poll(timeout_ms=300).items():
        out.extend([r.partition, r.offset, r.value.decode()] for r in recs)
for tp, recs in c.poll(timeout_ms=700).items():
    out.extend([r.partition, r.offset, r.value.decode()] for r in recs)
c.commit()
c.close()
print(json.dumps(out))
`;

const CK_GROUP_CONSUMER = `
import sys, json, time
from confluent_kafka import Consumer
cfg = json.loads(sys.argv[1])
conf = {'bootstrap.servers': cfg['bootstrap'], 'group.id': cfg['group'], 'auto.offset.reset': 'earliest',
        'enable.auto.commit': False, 'session.timeout.ms': cfg.get('session', 10000)}
if cfg.get('instance'):
    conf['group.instance.id'] = cfg['instance']
c = Consumer(conf)
c.subscribe([cfg['topic']])
out = []
deadline = time.time() + 25
while len(out) < cfg['n'] and time.time() < deadline:
    m = c.poll(0.3)
    if m is None or m.error():
        continue
    out.append([m.partition(), m.offset(), m.value().decode()])
c.commit(asynchronous=False)
committed = c.committed(c.assignment(), timeout=10)
c.close()
print(json.dumps({'records': out, 'committed': sorted([tp.partition, tp.offset] for tp in committed)}))
`;

async function py<T>(code: string, cfg: Record<string, unknown>): Promise<T> {
  const res = await pythonCode(code, [JSON.stringify({ bootstrap: broker.bootstrap, ...cfg })], { timeoutMs: 40_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as T;
}

describe('confluent-kafka-python subscribe + commit', () => {
  it('consumes a topic in a group and commits synchronously', async () => {
    const topic = 'ck-g';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await produce(topic, 2, 6, 'ck');
    const r = await py<{ records: [number, number, string][]; committed: [number, number][] }>(CK_GROUP_CONSUMER, { topic, group: 'ck-group', n: 12 });
    expect(r.records.length).toBe(12);
    expect(new Set(r.records.map((x) => x[2])).size).toBe(12);
    expect(r.committed).toEqual([
      [0, 6],
      [1, 6],
    ]);
    expect([...(await committed('ck-group', topic)).entries()].sort()).toEqual([
      [0, 6],
      [1, 6],
    ]);
  }, 60_000);
});

describe('static membership (group.instance.id) with confluent-kafka-python', () => {
  it('a restarted static member takes its old place without waiting for its session to expire', async () => {
    const topic = 'ck-static';
    const group = 'ck-static-group';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await produce(topic, 2, 3, 's1');
    // A session far longer than the consumer script's 25 s poll deadline: had the coordinator waited for the old
    // member id to expire, the restarted member would get no assignment (and no records) in time.
    const cfg = { topic, group, instance: 'inst-1', session: 120_000 };
    const first = await py<{ records: [number, number, string][] }>(CK_GROUP_CONSUMER, { ...cfg, n: 6 });
    expect(first.records.length).toBe(6);
    // librdkafka does not leave on close for a static member: it is still in the group.
    const describe = async () => {
      const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port });
      try {
        return (await conn.request(15, { groups: [group], includeAuthorizedOperations: false }, { version: 4 })).groups[0];
      } finally {
        conn.close();
      }
    };
    const before = await describe();
    expect(before.members.map((m: { groupInstanceId: string | null }) => m.groupInstanceId)).toEqual(['inst-1']);
    await produce(topic, 2, 2, 's2');
    const second = await py<{ records: [number, number, string][] }>(CK_GROUP_CONSUMER, { ...cfg, n: 4 });
    expect(second.records.map((r) => r[2]).sort()).toEqual(['s2-0-0', 's2-0-1', 's2-1-0', 's2-1-1']);
    const after = await describe();
    expect(after.members.length).toBe(1);
    expect(after.members[0].groupInstanceId).toBe('inst-1');
    expect(after.members[0].memberId).not.toBe(before.members[0].memberId);
  }, 60_000);
});

describe('kafka-python KafkaConsumer(group_id) across a broker restart', () => {
  it('resumes from its committed offsets; every committed offset survives the restart', async () => {
    const topic = 'kp-g';
    const group = 'kp-group';
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await produce(topic, 2, 5, 'kp1');
    const first = await py<[number, number, string][]>(KP_GROUP_CONSUMER, { topic, group, n: 10 });
    expect(first.map((x) => x[2]).sort()).toEqual([0, 1].flatMap((p) => [0, 1, 2, 3, 4].map((i) => `kp1-${p}-${i}`)).sort());
    await waitFor(async () => [...(await committed(group, topic)).values()].every((o) => o === 5), { message: 'kafka-python commits' });

    const groups = ['kjs-group', 'kcat-group', 'ck-group', group];
    const topicOf: Record<string, string> = { 'kjs-group': 'kjs-six', 'kcat-group': 'kcat-g', 'ck-group': 'ck-g', [group]: topic };
    const snapshot = async () => {
      const out: Record<string, [number, number][]> = {};
      for (const g of groups) out[g] = [...(await committed(g, topicOf[g]!)).entries()].sort((a, b) => a[0] - b[0]);
      return out;
    };
    const before = await snapshot();
    for (const g of groups) expect(before[g]!.every(([, o]) => o >= 0), g).toBe(true);

    await disconnectAll();
    broker = await broker.restart();
    await connectAll();
    expect(await snapshot()).toEqual(before);

    await produce(topic, 2, 3, 'kp2');
    const second = await py<[number, number, string][]>(KP_GROUP_CONSUMER, { topic, group, n: 6 });
    expect(second.map((x) => x[2]).sort()).toEqual([0, 1].flatMap((p) => [0, 1, 2].map((i) => `kp2-${p}-${i}`)).sort());
    expect(second.every(([, offset]) => offset >= 5)).toBe(true);
    await waitFor(async () => [...(await committed(group, topic)).values()].every((o) => o === 8), { message: 'kafka-python commits after the restart' });
  }, 60_000);
});
