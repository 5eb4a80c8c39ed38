/**
 * The admin listener of three in-process brokers (admin.listeners=http://127.0.0.1:0, a port each): one active
 * controller across the cluster; a follower cut off from its leader makes the leader report the partition
 * under-replicated (and at min ISR) and count an ISR shrink, and the follower answer /health/ready with 503 and the
 * partition it lags on; once it fetches again the leader counts an expansion and both are healthy; a leader's
 * death is an election counted by the controller; once caught up, no follower reports a lag (MaxLag, and per
 * partition with its fetcher's name).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kcat, kfk, registerCleanup, scrapeMetrics, waitFor, type Scrape } from '../helpers/index.js';
import { stallReplication, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

let cluster: InProcessCluster;
const TOPIC = 'metered-cluster';

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: {
      'admin.listeners': 'http://127.0.0.1:0',
      'replica.lag.time.max.ms': '2000',
      'replica.fetch.backoff.ms': '100',
      'min.insync.replicas': '2',
      // replicated like the topics (min.insync.replicas=2 applies to the group's commits too), few partitions
      'offsets.topic.replication.factor': '3',
      'offsets.topic.num.partitions': '3',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  const res = await kfk(['topics', '--create', '--topic', TOPIC, '--replica-assignment', '0:1:2', '--bootstrap-server', cluster.bootstrap()]);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(() => [0, 1, 2].every((id) => cluster.running.get(id)!.broker.replicaManager.getPartition(TOPIC, 0)?.isr.length === 3), {
    message: 'the topic to be replicated on all three brokers',
  });
});

afterAll(async () => {
  await cluster?.close();
});

const adminUrl = (id: number): string => cluster.running.get(id)!.admin[0]!.url;
const scrape = (id: number): Promise<Scrape> => scrapeMetrics(`${adminUrl(id)}/metrics`);
const ready = async (id: number): Promise<{ status: number; body: string }> => {
  const r = await fetch(`${adminUrl(id)}/health/ready`);
  return { status: r.status, body: await r.text() };
};
const partitionLabels = { topic: TOPIC, partition: '0' };

it('has one active controller, and every broker is ready with nothing under-replicated', async () => {
  const scrapes = await Promise.all([0, 1, 2].map(scrape));
  expect(scrapes.map((s) => s.value('kafka_controller_kafkacontroller_activecontrollercount')).reduce((a, b) => a! + b!, 0)).toBe(1);
  for (const s of scrapes) expect(s.value('kafka_server_replicamanager_underreplicatedpartitions')).toBe(0);
  expect(scrapes[0]!.value('kafka_cluster_partition_underreplicated', partitionLabels)).toBe(0);
  expect(scrapes[0]!.value('kafka_server_replicamanager_leadercount')).toBeGreaterThanOrEqual(1);
  for (const id of [0, 1, 2]) expect(await ready(id)).toEqual({ status: 200, body: 'ready: registered and caught up\n' });
});

it("reports a group's lag on every partition from its coordinator, those led by the other brokers included", async () => {
  const topic = 'lag-cluster';
  const group = 'lag-cluster-group';
  // one partition led by each broker
  const res = await kfk(['topics', '--create', '--topic', topic, '--replica-assignment', '0:1:2,1:2:0,2:0:1', '--bootstrap-server', cluster.bootstrap()]);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(() => [0, 1, 2].every((p) => cluster.running.get(p)!.broker.replicaManager.getPartition(topic, p)?.isr.length === 3), {
    message: 'every partition led and in sync',
  });
  for (const p of [0, 1, 2]) {
    const sent = await kcat(['-b', cluster.bootstrap(), '-P', '-t', topic, '-p', String(p)], { input: Array.from({ length: 10 + p }, (_, i) => `v${i}\n`).join('') });
    expect(sent.code, sent.stderr).toBe(0);
  }
  const c = await kfk(['console-consumer', '--bootstrap-server', cluster.bootstrap(), '--topic', topic, '--group', group, '--from-beginning', '--max-messages', '12']);
  expect(c.code, c.stderr).toBe(0);
  const describe = await kfk(['consumer-groups', '--bootstrap-server', cluster.bootstrap(), '--describe', '--group', group]);
  expect(describe.code, describe.stderr).toBe(0);
  const lagByPartition = new Map<string, number>();
  for (const line of describe.stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === group && cols[1] === topic && cols[5] !== '-') lagByPartition.set(cols[2]!, Number(cols[5]));
  }
  expect([...lagByPartition.values()].reduce((a, b) => a + b, 0)).toBe(33 - 12);
  const state = await kfk(['consumer-groups', '--bootstrap-server', cluster.bootstrap(), '--describe', '--group', group, '--state']);
  const coordinator = Number(/ \((\d+)\) /.exec(state.stdout)![1]);
  // Two of the three partitions are led by brokers other than the coordinator's.
  const s = await scrape(coordinator);
  const samples = s.samples('kafka_consumergroup_lag').filter((x) => x.labels.consumergroup === group);
  expect(new Map(samples.map((x) => [x.labels.partition!, x.value]))).toEqual(lagByPartition);
  for (const id of [0, 1, 2].filter((b) => b !== coordinator)) {
    expect((await scrape(id)).samples('kafka_consumergroup_lag').filter((x) => x.labels.consumergroup === group)).toEqual([]);
  }
});

it('a lagging follower: under-replicated on the leader, an ISR shrink, then an expansion; the follower not ready meanwhile', async () => {
  const before = await scrape(0);
  const shrinks = before.value('kafka_server_replicamanager_isrshrinks_total')!;
  const expands = before.value('kafka_server_replicamanager_isrexpands_total')!;
  const stalled = await stallReplication(cluster.running.get(2)!.broker);
  try {
    const produced = await kcat(['-b', cluster.bootstrap(), '-t', TOPIC, '-P', '-X', 'acks=1'], { input: 'a\nb\nc\n' });
    expect(produced.code, produced.stderr).toBe(0);
    await waitFor(
      async () => {
        const s = await scrape(0);
        expect(s.value('kafka_server_replicamanager_underreplicatedpartitions')).toBe(1);
        expect(s.value('kafka_cluster_partition_underreplicated', partitionLabels)).toBe(1);
        expect(s.value('kafka_server_replicamanager_atminisrpartitioncount')).toBe(1);
        expect(s.value('kafka_server_replicamanager_isrshrinks_total')).toBe(shrinks + 1);
        return true;
      },
      { timeoutMs: 20_000, message: 'the leader to shrink its ISR and report it' },
    );
    const lagging = await ready(2);
    expect(lagging.status).toBe(503);
    expect(lagging.body).toBe(`not ready: not in the ISR of 1 partition(s): ${TOPIC}-0\n`);
    expect((await ready(1)).status).toBe(200);
  } finally {
    await stalled.release();
  }
  await waitFor(
    async () => {
      const s = await scrape(0);
      expect(s.value('kafka_server_replicamanager_underreplicatedpartitions')).toBe(0);
      expect(s.value('kafka_server_replicamanager_isrexpands_total')).toBe(expands + 1);
      expect((await ready(2)).status).toBe(200);
      return true;
    },
    { timeoutMs: 20_000, message: 'the follower to catch up and be taken back' },
  );
  // Caught up, no follower is behind its leader's high watermark (ReplicaFetcherManager MaxLag, in records): on
  // broker 2, which follows the records produced above, as on the others.
  expect(cluster.running.get(2)!.broker.replicaManager.getPartition(TOPIC, 0)!.log.logEndOffset).toBeGreaterThanOrEqual(3);
  await waitFor(
    async () => {
      for (const id of [0, 1, 2]) {
        const s = await scrape(id);
        expect(s.value('kafka_server_replicafetchermanager_maxlag', { clientId: 'Replica' }), `broker ${id}`).toBe(0);
        // per partition (FetcherLagMetrics ConsumerLag): the two followers of the topic's partition, led by broker 0
        const lags = s.samples('kafka_server_fetcherlagmetrics_consumerlag').filter((x) => x.labels.topic === TOPIC);
        expect(lags, `broker ${id}`).toEqual(id === 0 ? [] : [{ labels: { clientId: 'ReplicaFetcherThread-0-0', topic: TOPIC, partition: '0' }, value: 0 }]);
      }
      return true;
    },
    { timeoutMs: 10_000, message: 'no replica lag once caught up' },
  );
});

it("counts the election that follows a leader's death on the controller", async () => {
  let controller = -1;
  for (const id of cluster.running.keys()) if ((await scrape(id)).value('kafka_controller_kafkacontroller_activecontrollercount') === 1) controller = id;
  expect(controller).toBeGreaterThanOrEqual(0);
  // a partition led by another broker, followed by the third: its leader's death is the controller's to handle
  const [leader, follower] = [0, 1, 2].filter((id) => id !== controller) as [number, number];
  const topic = 'elected';
  const res = await kfk(['topics', '--create', '--topic', topic, '--replica-assignment', `${leader}:${follower}`, '--config', 'min.insync.replicas=1', '--bootstrap-server', cluster.bootstrap()]);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(() => cluster.running.get(follower)!.broker.replicaManager.getPartition(topic, 0)?.isr.length === 2, { message: 'the follower in the ISR' });
  const count = async (): Promise<number> => (await scrape(controller)).value('kafka_controller_controllerstats_leaderelectionrateandtimems_count')!;
  const before = await count();
  await cluster.kill(leader);
  try {
    await waitFor(() => cluster.running.get(follower)!.broker.replicaManager.getPartition(topic, 0)?.isLeader === true, { timeoutMs: 30_000, message: 'the follower to lead' });
    expect(await count()).toBeGreaterThanOrEqual(before + 1);
    expect((await scrape(controller)).value('kafka_controller_kafkacontroller_offlinepartitionscount')).toBe(0);
  } finally {
    await cluster.start(leader);
  }
});
