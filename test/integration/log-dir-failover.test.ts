/**
 * A disk failure on one of a broker's log dirs (Kafka's ZooKeeper-era handling: the broker reports a log dir event,
 * the controller takes the replicas there as offline): the partitions whose leader's replica is in the failed dir get
 * another in-sync replica as leader, the failed replicas leave the ISRs (followers too, though their broker is alive)
 * and neither fetch nor come back into an ISR, nor are elected (preferred election included) while the broker runs
 * on its other dir — also by a controller elected afterwards; the broker's partitions in its healthy dir are
 * untouched; a restart (the disk repaired) brings the replicas back into the ISRs.
 *
 * The failure is injected where an I/O error under the dir arrives (LogManager.handleLogDirFailure), in brokers run
 * in this process with two log dirs each; clients are kcat.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ErrorCode } from '../../src/protocol/errors.js';
import { createAdmin } from '../../src/client/admin.js';
import { decodeOfflineReplicas, offlineReplicasBrokerPath } from '../../src/registry/paths.js';
import { kcat, kfk, registerCleanup, waitFor } from '../helpers/index.js';
import { controllerId, partitionStates } from '../helpers/cluster-state.js';
import { startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

const TOPIC = 'disk';
const PARTITIONS = 6;
/** A topic broker 1 only follows (leaders 0 and 2), with replicas in both its dirs. */
const FOLLOWED = 'followed';
const FOLLOWED_PARTITIONS = 4;

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    logDirs: 2,
    config: { 'replica.lag.time.max.ms': '3000', 'replica.fetch.wait.max.ms': '200', 'auto.leader.rebalance.enable': 'false' },
  });
  // Broker 1 (not the controller, broker 0) is the preferred leader of every partition, with replicas in both its dirs.
  const assignment = Array.from({ length: PARTITIONS }, (_, p) => (p % 2 === 0 ? '1:0:2' : '1:2:0')).join(',');
  const res = await kfk(['topics', '--create', '--topic', TOPIC, '--replica-assignment', assignment, '--config', 'min.insync.replicas=2', '--bootstrap-server', cluster.bootstrap()]);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(async () => [...(await partitionStates(cluster.admin, TOPIC)).values()].filter((s) => s.isr.length === 3).length === PARTITIONS, { message: 'disk in sync' });
  // And a topic with broker 1 as its only replica, one partition in each of its dirs.
  const solo = await kfk(['topics', '--create', '--topic', 'solo', '--replica-assignment', '1,1', '--bootstrap-server', cluster.bootstrap()]);
  expect(solo.code, solo.stderr).toBe(0);
  await waitFor(async () => [...(await partitionStates(cluster.admin, 'solo')).values()].filter((s) => s.leader === 1).length === 2, { message: 'solo led' });
  const followedAssignment = Array.from({ length: FOLLOWED_PARTITIONS }, (_, p) => (p % 2 === 0 ? '0:1:2' : '2:1:0')).join(',');
  const followed = await kfk(['topics', '--create', '--topic', FOLLOWED, '--replica-assignment', followedAssignment, '--bootstrap-server', cluster.bootstrap()]);
  expect(followed.code, followed.stderr).toBe(0);
  await waitFor(async () => [...(await partitionStates(cluster.admin, FOLLOWED)).values()].filter((s) => s.isr.length === 3).length === FOLLOWED_PARTITIONS, {
    message: 'followed in sync',
  });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

async function produce(partition: number, values: string[], topic = TOPIC): Promise<void> {
  const res = await kcat(['-b', cluster.bootstrap(), '-P', '-t', topic, '-p', String(partition), '-X', 'acks=all', '-X', 'message.timeout.ms=20000'], { input: values.join('\n') + '\n' });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).not.toMatch(/failed/i);
}

async function consume(partition: number): Promise<string[]> {
  const res = await kcat(['-b', cluster.bootstrap(), '-C', '-t', TOPIC, '-p', String(partition), '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter(Boolean);
}

/** Topic → partitions with broker 1 among Metadata's offline replicas, as kafkajs reads them (from any broker), for the topics with leaders. */
async function offlineReplicasSeenByKafkajs(): Promise<Map<string, number[]>> {
  const kafka = new Kafka({ brokers: cluster.bootstrap().split(','), clientId: 'log-dir-failover', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const md = await admin.fetchTopicMetadata({ topics: [TOPIC, FOLLOWED] });
    const out = new Map<string, number[]>();
    for (const t of md.topics) {
      const offline = t.partitions.filter((p) => (p.offlineReplicas ?? []).includes(1)).map((p) => p.partitionId);
      if (offline.length > 0) out.set(t.name, offline.sort((a, b) => a - b));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

function sameOffline(seen: Map<string, number[]>, expected: Map<string, number[]>): boolean {
  const norm = (m: Map<string, number[]>): string => JSON.stringify([...m].filter(([, ps]) => ps.length > 0).map(([t, ps]) => [t, [...ps].sort((a, b) => a - b)]).sort());
  return norm(seen) === norm(expected);
}

describe('a failed log dir', () => {
  it("moves the leaderships of its replicas to other in-sync replicas and takes them out of the ISRs; the broker's other dir serves on", async () => {
    for (let p = 0; p < PARTITIONS; p++) await produce(p, [`before-${p}`]);
    const broker1 = cluster.running.get(1)!.broker;
    const failedDir = cluster.dataDir(1);
    const inFailed = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => broker1.logManager.getLog(TOPIC, p)?.parentDir === failedDir);
    const inHealthy = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => !inFailed.includes(p));
    expect(inFailed.length).toBeGreaterThan(0);
    expect(inHealthy.length).toBeGreaterThan(0);
    const soloFailed = [0, 1].find((p) => broker1.logManager.getLog('solo', p)?.parentDir === failedDir)!;
    expect(soloFailed).toBeDefined();
    const followedPartitions = Array.from({ length: FOLLOWED_PARTITIONS }, (_, p) => p);
    const followedFailed = followedPartitions.filter((p) => broker1.logManager.getLog(FOLLOWED, p)?.parentDir === failedDir);
    const followedHealthy = followedPartitions.filter((p) => !followedFailed.includes(p));
    expect(followedFailed.length).toBeGreaterThan(0);
    expect(followedHealthy.length).toBeGreaterThan(0);
    // Broker 1 has every record of the followed partitions: its log end offset is the high watermark, so a single
    // fetch from it would be enough for a leader to take it back into the ISR.
    for (const p of followedPartitions) await produce(p, [`followed-${p}`], FOLLOWED);
    await waitFor(() => followedPartitions.every((p) => broker1.logManager.getLog(FOLLOWED, p)?.logEndOffset === 1), { message: 'broker 1 caught up on followed' });
    const before = await partitionStates(cluster.admin, TOPIC);
    const followedBefore = await partitionStates(cluster.admin, FOLLOWED);

    broker1.logManager.handleLogDirFailure(failedDir, 'writing to a test segment', Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' }));

    await waitFor(
      async () => {
        const states = await partitionStates(cluster.admin, TOPIC);
        return inFailed.every((p) => states.get(p)!.leader !== 1 && states.get(p)!.leader >= 0 && !states.get(p)!.isr.includes(1));
      },
      { timeoutMs: 20_000, message: 'the partitions in the failed dir led elsewhere, broker 1 out of their ISRs' },
    );
    const after = await partitionStates(cluster.admin, TOPIC);
    for (const p of inFailed) expect(after.get(p)!.leaderEpoch, `partition ${p}`).toBeGreaterThan(before.get(p)!.leaderEpoch);
    // The next in-sync replica in assignment order leads; the partitions in broker 1's healthy dir are untouched.
    for (const p of inFailed) expect(after.get(p)!.leader, `partition ${p}`).toBe(p % 2 === 0 ? 0 : 2);
    for (const p of inHealthy) expect({ leader: after.get(p)!.leader, isr: [...after.get(p)!.isr].sort() }, `partition ${p}`).toEqual({ leader: 1, isr: [0, 1, 2] });
    // A follower whose replica is in the failed dir leaves the ISR though its broker is alive; the leader stays.
    await waitFor(
      async () => {
        const states = await partitionStates(cluster.admin, FOLLOWED);
        return followedFailed.every((p) => !states.get(p)!.isr.includes(1));
      },
      { timeoutMs: 20_000, message: 'broker 1 out of the ISRs of the followed partitions in the failed dir' },
    );
    const followedAfter = await partitionStates(cluster.admin, FOLLOWED);
    for (const p of followedFailed) {
      expect(followedAfter.get(p)!, `partition ${p}`).toMatchObject({ leader: followedBefore.get(p)!.leader, isr: followedBefore.get(p)!.isr.filter((b) => b !== 1) });
      expect(followedAfter.get(p)!.leaderEpoch, `partition ${p}`).toBeGreaterThan(followedBefore.get(p)!.leaderEpoch);
    }
    for (const p of followedHealthy) expect([...followedAfter.get(p)!.isr].sort(), `partition ${p}`).toEqual([0, 1, 2]);
    // Broker 1 takes the new leader epochs in, but does not fetch for its offline replicas (Kafka removes their
    // fetchers)...
    await waitFor(() => followedFailed.every((p) => broker1.replicaManager.getPartition(FOLLOWED, p)?.leaderEpoch === followedAfter.get(p)!.leaderEpoch), {
      message: 'broker 1 following at the new leader epochs',
    });
    for (const p of followedFailed) expect(broker1.replicaManager.fetcherManager.sourceOf(FOLLOWED, p), `partition ${p}`).toBeUndefined();
    // ...while it goes on fetching for its healthy ones: once it has records written to them after the failure,
    // replication has gone on for a while, and no leader has taken an offline replica back into an ISR.
    for (const p of followedHealthy) await produce(p, [`followed-after-${p}`], FOLLOWED);
    await waitFor(() => followedHealthy.every((p) => broker1.logManager.getLog(FOLLOWED, p)?.logEndOffset === 2), { message: 'broker 1 fetched after the failure' });
    const followedLater = await partitionStates(cluster.admin, FOLLOWED);
    for (const p of followedFailed) expect(followedLater.get(p)!.isr, `partition ${p}`).not.toContain(1);
    // A partition whose only replica is in the failed dir goes offline (no leader; its ISR, never emptied, kept).
    await waitFor(async () => (await partitionStates(cluster.admin, 'solo')).get(soloFailed)!.leader === -1, { message: 'solo offline' });
    expect((await partitionStates(cluster.admin, 'solo')).get(1 - soloFailed)!.leader).toBe(1);
    // What the broker recorded for the controller.
    const node = await cluster.admin.get(offlineReplicasBrokerPath(1));
    expect(decodeOfflineReplicas(node!.data).map((tp) => `${tp.topic}-${tp.partition}`).sort()).toEqual(
      [...inFailed.map((p) => `${TOPIC}-${p}`), ...followedFailed.map((p) => `${FOLLOWED}-${p}`), `solo-${soloFailed}`].sort(),
    );

    // Metadata (v5+) names them among the offline replicas, as a third-party client reads it (kafkajs), though
    // broker 1 is alive; its replicas in the healthy dir are not offline. (Not asked for 'solo': kafkajs refuses
    // the metadata of a topic with a partition without a leader.)
    const expectedOffline = new Map([
      [TOPIC, inFailed],
      [FOLLOWED, followedFailed],
    ]);
    await waitFor(async () => sameOffline(await offlineReplicasSeenByKafkajs(), expectedOffline), { timeoutMs: 10_000, message: 'kafkajs sees the offline replicas' });

    // Clients carry on: acks=all on every partition (ISR of two meets min.insync.replicas=2), nothing lost.
    for (let p = 0; p < PARTITIONS; p++) await produce(p, [`after-${p}`]);
    for (let p = 0; p < PARTITIONS; p++) expect(await consume(p)).toEqual([`before-${p}`, `after-${p}`]);

    // Broker 1's replicas in the failed dir are not elected, even as the preferred replicas; not by the next
    // controller either (broker 0, the controller, stops; another takes over and reads what broker 1 recorded).
    const refused = async () => {
      const admin = createAdmin({ bootstrap: cluster.bootstrap() });
      try {
        const results = await admin.electLeaders('preferred', inFailed.map((partition) => ({ topic: TOPIC, partition })));
        for (const r of results) expect(r.errorCode, `partition ${r.partition}`).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
      } finally {
        await admin.close();
      }
    };
    await refused();
    await cluster.stop(0);
    await waitFor(async () => (await controllerId(cluster.admin)) >= 1, { timeoutMs: 20_000, message: 'another controller' });
    await refused();
    for (const p of inFailed) expect((await partitionStates(cluster.admin, TOPIC)).get(p)!.isr, `partition ${p}`).not.toContain(1);
    // The new controller does not elect the offline replica of the partition it alone has, though it is in the ISR.
    expect((await partitionStates(cluster.admin, 'solo')).get(soloFailed)!).toMatchObject({ leader: -1, isr: [1] });
    await cluster.start(0);
  }, 60_000);

  it('a restart (the disk repaired) brings the replicas back into the ISRs', async () => {
    await cluster.stop(1);
    await cluster.start(1);
    await waitFor(
      async () =>
        [...(await partitionStates(cluster.admin, TOPIC)).values(), ...(await partitionStates(cluster.admin, FOLLOWED)).values()].every((s) => s.isr.length === 3),
      { timeoutMs: 30_000, message: 'every broker back in every ISR' },
    );
    expect(await cluster.admin.get(offlineReplicasBrokerPath(1))).toBeNull();
    await waitFor(async () => sameOffline(await offlineReplicasSeenByKafkajs(), new Map()), { timeoutMs: 10_000, message: 'no offline replicas in Metadata' });
    const admin = createAdmin({ bootstrap: cluster.bootstrap() });
    try {
      await waitFor(
        async () => {
          await admin.electLeaders('preferred', null);
          return [...(await partitionStates(cluster.admin, TOPIC)).values()].every((s) => s.leader === 1);
        },
        { timeoutMs: 20_000, message: 'broker 1 leading every partition again' },
      );
    } finally {
      await admin.close();
    }
    for (let p = 0; p < PARTITIONS; p++) expect(await consume(p)).toEqual([`before-${p}`, `after-${p}`]);
    expect([...(await partitionStates(cluster.admin, 'solo')).values()].map((s) => s.leader)).toEqual([1, 1]);
  }, 60_000);
});
