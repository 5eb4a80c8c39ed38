/**
 * Consumer groups of third-party clients on a three-broker cluster (startCluster() in a child process, RF=3 topic and
 * __consumer_offsets) while brokers are killed, stopped and restarted — the groups' coordinators among them:
 * a kafkajs group of two members and a kafka-python member in another group consume the same topic, committing after
 * every record (kafkajs) or every poll (kafka-python), while kcat produces to it (idempotent, acks=all).
 *
 * What is asserted, per group:
 * - every record produced is delivered, and nothing that was never produced;
 * - nothing is consumed twice past a commit: once a commit of offset N for a partition has been acknowledged, no
 *   member of the group is given a record of that partition below N (at-least-once between commits is allowed: a
 *   record may come again if the commit after it was not acknowledged);
 * - the committed offsets, sampled throughout, never go backwards, and end at the log end offsets;
 * - the group rebalances and carries on when a member leaves.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { kcat, kfk, registerCleanup, REPO_ROOT, spawnProcess, SYSTEM_PYTHON, waitFor, type BackgroundProcess } from '../helpers/index.js';
import { startClusterProcess, type ClusterProcess } from '../helpers/cluster-process.js';
import { kcatMetadata } from '../helpers/cluster-state.js';

const { Kafka, logLevel } = kafkajs;

registerCleanup();

const TOPIC = 'orders';
/** kafkajs's error types (and their messages) for a commit refused because the group is rebalancing or has moved on. */
const REBALANCE_ERRORS = new Map([
  ['ILLEGAL_GENERATION', 'Specified group generation id is not valid'],
  ['REBALANCE_IN_PROGRESS', 'The group is rebalancing, so a rejoin is needed'],
  ['UNKNOWN_MEMBER_ID', 'The coordinator is not aware of this member'],
]);

/** kafkajs wraps protocol errors (KafkaJSNonRetriableError keeps only the message), so both are looked at. */
function isRebalanceError(err: unknown): boolean {
  const e = err as { type?: string; message?: string } | null;
  if (e?.type !== undefined && REBALANCE_ERRORS.has(e.type)) return true;
  return [...REBALANCE_ERRORS.values()].some((m) => e?.message === m);
}
const PARTITIONS = 6;
const KP_GROUP = path.join(REPO_ROOT, 'test', 'clients', 'kp_group.py');

/** What one group saw: deliveries, acknowledged commits, and violations of "nothing consumed twice past a commit". */
class GroupLog {
  readonly delivered = new Map<string, number>();
  readonly acked = new Map<number, number>();
  readonly violations: string[] = [];
  readonly backwards: string[] = [];
  private readonly sampled = new Map<number, number>();

  constructor(readonly group: string) {}

  delivery(partition: number, offset: number, value: string): void {
    const committed = this.acked.get(partition) ?? 0;
    if (offset < committed) this.violations.push(`${value} (partition ${partition}, offset ${offset}) delivered after a commit of ${committed} was acknowledged`);
    this.delivered.set(value, (this.delivered.get(value) ?? 0) + 1);
  }

  commitAcknowledged(partition: number, offset: number): void {
    this.acked.set(partition, Math.max(this.acked.get(partition) ?? 0, offset));
  }

  /** A committed offset read from the coordinator (OffsetFetch). */
  sample(partition: number, offset: number): void {
    const last = this.sampled.get(partition) ?? -1;
    if (offset < last) this.backwards.push(`partition ${partition}: committed ${last}, then ${offset}`);
    this.sampled.set(partition, offset);
  }
}

describe('consumer groups while brokers die and return', () => {
  let cluster: ClusterProcess;
  let kafka: InstanceType<typeof Kafka>;
  let admin: ReturnType<InstanceType<typeof Kafka>['admin']>;
  const js = new GroupLog('g-js');
  const py = new GroupLog('g-py');
  const jsConsumers: Array<ReturnType<InstanceType<typeof Kafka>['consumer']>> = [];
  let kp: BackgroundProcess;
  let produced = 0;
  let sampling = true;
  let sampler: Promise<void>;

  beforeAll(async () => {
    cluster = await startClusterProcess({
      brokers: 3,
      config: { 'replica.lag.time.max.ms': '3000', 'replica.fetch.wait.max.ms': '200', 'controlled.shutdown.retry.backoff.ms': '200' },
    });
    kafka = new Kafka({ brokers: cluster.bootstrap.split(','), clientId: 'cluster-groups', logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }], waitForLeaders: true });
  }, 90_000);

  afterAll(async () => {
    sampling = false;
    await sampler;
    for (const c of jsConsumers) await c.disconnect().catch(() => undefined);
    if (kp && !kp.hasExited()) {
      kp.write('stop\n');
      await kp.stop('SIGTERM', 10_000);
    }
    await admin?.disconnect().catch(() => undefined);
    if (cluster) await cluster.close();
  }, 120_000);

  /**
   * kcat (idempotent, acks=all) produces n keyed records and exits once each is delivered. (Not kafkajs's producer:
   * its send() can resolve without the partitions whose leader moved during a retry, kafkajs issue #1303.)
   */
  async function produce(n: number): Promise<void> {
    const lines = Array.from({ length: n }, () => {
      const i = produced++;
      return `k-${i % 50}:r-${i}\n`;
    });
    const res = await kcat(['-b', cluster.liveBootstrap(), '-P', '-t', TOPIC, '-K', ':', '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', 'message.timeout.ms=60000'], {
      input: lines.join(''),
      timeoutMs: 90_000,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/Delivery failed|failed to produce/i);
  }

  async function everythingConsumed(): Promise<void> {
    for (const g of [js, py]) {
      await waitFor(() => g.delivered.size === produced, { timeoutMs: 60_000, message: `${g.group} to have every one of ${produced} records (has ${g.delivered.size})` });
    }
  }

  /** Every partition of the topic and of __consumer_offsets led, with all three brokers in sync. */
  async function wholeAgain(): Promise<void> {
    await waitFor(
      async () => {
        for (const topic of [TOPIC, '__consumer_offsets']) {
          const md = await kcatMetadata(cluster.liveBootstrap(), topic);
          if (!md.topics[0]!.partitions.every((p) => p.leader >= 0 && p.isrs.length === 3)) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, message: 'every partition with three in-sync replicas' },
    );
  }

  async function coordinatorOf(group: string): Promise<number> {
    const res = await kfk(['consumer-groups', '--bootstrap-server', cluster.liveBootstrap(), '--describe', '--group', group, '--state']);
    expect(res.code, res.stderr).toBe(0);
    return Number(/ \((\d+)\) /.exec(res.stdout)![1]);
  }

  async function startJsMember(): Promise<void> {
    // kafkajs keeps a dead coordinator's id for its commits until its retries run out; then the consumer restarts
    // and finds the new one. Few, quick retries keep that short.
    const consumer = kafka.consumer({ groupId: js.group, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000, retry: { retries: 5, initialRetryTime: 100 } });
    jsConsumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset);
        js.delivery(partition, offset, message.value!.toString());
        try {
          await consumer.commitOffsets([{ topic: TOPIC, partition, offset: String(offset + 1) }]);
        } catch (err) {
          // A commit sent while the group rebalances is refused as Kafka refuses it (ILLEGAL_GENERATION once the
          // group moved past this member's generation, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID). kafkajs treats
          // the error thrown from eachMessage as fatal and does not restart the consumer, so an application handles
          // it here: the record is simply not committed (it may come again: at-least-once) and kafkajs rejoins.
          if (!isRebalanceError(err)) throw err;
          return;
        }
        js.commitAcknowledged(partition, offset + 1);
      },
    });
  }

  function followKafkaPython(): void {
    let seen = 0;
    kp.proc.stdout!.on('data', () => {
      const lines = kp.stdout().split('\n');
      for (; seen < lines.length - 1; seen++) {
        const ev = JSON.parse(lines[seen]!) as { d?: [number, number, string]; c?: Record<string, number> };
        if (ev.d) py.delivery(...ev.d);
        if (ev.c) for (const [p, o] of Object.entries(ev.c)) py.commitAcknowledged(Number(p), o);
      }
    });
  }

  /** Samples both groups' committed offsets from the coordinators while the test runs. */
  async function sampleCommitted(): Promise<void> {
    while (sampling) {
      for (const g of [js, py]) {
        try {
          const [res] = await admin.fetchOffsets({ groupId: g.group, topics: [TOPIC] });
          for (const p of res!.partitions) if (Number(p.offset) >= 0) g.sample(p.partition, Number(p.offset));
        } catch {
          // the coordinator is moving: the next sample reads the new one
        }
      }
      await new Promise((r) => setTimeout(r, 200)); // sampling pace
    }
  }

  it('both groups consume everything while the coordinators are killed, stopped and restarted', async () => {
    await startJsMember();
    await startJsMember();
    kp = spawnProcess(SYSTEM_PYTHON, [KP_GROUP, JSON.stringify({ bootstrap: cluster.bootstrap, topic: TOPIC, group: py.group })], {
      env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      keepStdinOpen: true,
    });
    followKafkaPython();
    sampler = sampleCommitted();
    await produce(200);
    await everythingConsumed();

    // The kafkajs group's coordinator is killed (kill -9 of one broker of the process).
    const jsCoordinator = await coordinatorOf(js.group);
    await cluster.kill(jsCoordinator);
    await produce(200);
    await everythingConsumed();
    expect(await coordinatorOf(js.group)).not.toBe(jsCoordinator);
    await cluster.restart(jsCoordinator);
    await wholeAgain();

    // The kafka-python group's coordinator is stopped cleanly (controlled shutdown).
    const pyCoordinator = await coordinatorOf(py.group);
    await cluster.stop(pyCoordinator);
    await produce(200);
    await everythingConsumed();
    expect(await coordinatorOf(py.group)).not.toBe(pyCoordinator);
    await cluster.restart(pyCoordinator);
    await wholeAgain();

    // A kafkajs member leaves: the group rebalances and the other one takes every partition.
    await jsConsumers.pop()!.disconnect();
    await produce(200);
    await everythingConsumed();

    // The end: committed offsets at the log end, nothing consumed twice past a commit, never backwards.
    const ends = await admin.fetchTopicOffsets(TOPIC);
    for (const g of [js, py]) {
      await waitFor(
        async () => {
          const [res] = await admin.fetchOffsets({ groupId: g.group, topics: [TOPIC] });
          // (-1: nothing committed, for a partition that never had a record)
          const committed = Object.fromEntries(res!.partitions.map((p) => [p.partition, Math.max(0, Number(p.offset))]));
          expect(committed).toEqual(Object.fromEntries(ends.map((e) => [e.partition, Number(e.offset)])));
          return true;
        },
        { timeoutMs: 20_000, message: `${g.group}'s committed offsets at the log end` },
      );
      expect([...g.delivered.keys()].sort()).toEqual(Array.from({ length: produced }, (_, i) => `r-${i}`).sort());
      expect(g.violations, g.group).toEqual([]);
      expect(g.backwards, g.group).toEqual([]);
    }
    expect(ends.reduce((n, e) => n + Number(e.offset), 0)).toBe(produced);
  }, 240_000);
});
