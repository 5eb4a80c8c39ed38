/**
 * Leadership changes made by the brokers' controller (a controlled shutdown, an unclean election when a broker
 * returns, a preferred election after reordering the replicas), against three in-process brokers:
 * - KIP-101 scenario 1: a follower whose high watermark lags its log (checkpointed at 0, log end 1) restarts,
 *   follows, then leads: the acknowledged record is kept (no truncation to the high watermark).
 * - A divergent tail (records of an older epoch the new leader never had) is cut on the old replicas, and all
 *   replicas end byte-identical.
 * - confluent-kafka's idempotent producer (acks=all) while the leadership moves around the ISR again and again:
 *   every acknowledged record exactly once, in order, and every replica the same bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin } from '../../src/client/admin.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { kcat, kfk, registerCleanup, REPO_ROOT, spawnProcess, waitFor } from '../helpers/index.js';
import { readPartitionState, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

const SYSTEM_PYTHON = '/usr/bin/python3';
const CK_IDEMPOTENT = path.join(REPO_ROOT, 'test', 'clients', 'ck_idempotent.py');

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: {
      'replica.lag.time.max.ms': '3000',
      // A follower fetch parks up to 2.5 s at the leader: a follower learns a new high watermark only with its
      // next fetch answer, which the KIP-101 test relies on.
      'replica.fetch.wait.max.ms': '2500',
      'replica.fetch.backoff.ms': '100',
      'replica.high.watermark.checkpoint.interval.ms': '100000',
      // A leadership that cannot move (no other ISR member) is not asked about again and again.
      'controlled.shutdown.max.retries': '1',
    },
  });
});

afterAll(async () => {
  await cluster?.close();
});

// Each test starts with all three brokers running.
afterEach(async () => {
  for (const id of [0, 1, 2]) if (!cluster.running.has(id)) await cluster.start(id);
});

async function createTopic(name: string, replicas: number[][], configs: string[] = []): Promise<void> {
  const args = ['topics', '--create', '--topic', name, '--replica-assignment', replicas.map((r) => r.join(':')).join(','), '--bootstrap-server', cluster.bootstrap()];
  for (const c of configs) args.push('--config', c);
  const res = await kfk(args);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(() => [...cluster.running.values()].every((b) => replicas.every((r, p) => !r.includes(b.broker.options.brokerId) || b.broker.replicaManager.getPartition(name, p) !== undefined)));
}

const partitionOn = (id: number, topic: string, partition = 0) => cluster.running.get(id)!.broker.replicaManager.getPartition(topic, partition)!;

function logBytes(id: number, topic: string, partition = 0): Buffer {
  const dir = path.join(cluster.dataDir(id), `${topic}-${partition}`);
  return Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => fs.readFileSync(path.join(dir, f))));
}

async function produceTo(id: number, topic: string, acks: string, values: string[]): Promise<string> {
  const res = await kcat(['-b', `127.0.0.1:${cluster.port(id)}`, '-P', '-t', topic, '-p', '0', '-X', `acks=${acks}`, '-X', 'message.send.max.retries=0'], {
    input: values.join('\n') + '\n',
  });
  expect(res.code, res.stderr).toBe(0);
  return res.stderr;
}

async function consumeFrom(id: number, topic: string): Promise<string[]> {
  const res = await kcat(['-b', `127.0.0.1:${cluster.port(id)}`, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l.length > 0);
}

/** Waits until the registry names `leader` as the leader of partition 0 and every running replica applied that state. */
async function ledBy(topic: string, leader: number): Promise<number> {
  await waitFor(async () => (await readPartitionState(cluster.admin, topic, 0)).leader === leader, { timeoutMs: 20_000, message: `${topic}-0 led by broker ${leader}` });
  const epoch = (await readPartitionState(cluster.admin, topic, 0)).leaderEpoch;
  await waitFor(() => [...cluster.running.values()].every((b) => (b.broker.replicaManager.getPartition(topic, 0)?.leaderEpoch ?? epoch) === epoch), {
    message: `every running replica of ${topic} at epoch ${epoch}`,
  });
  return epoch;
}

/**
 * Moves the leadership of partition 0 to `leader`, an ISR member, as an operator does: reorder the replicas so
 * that it is the preferred one (a reassignment that copies nothing), then a preferred leader election.
 */
async function moveLeadership(topic: string, leader: number): Promise<number> {
  const admin = createAdmin({ bootstrap: cluster.bootstrap() });
  try {
    const replicas = (await readAssignment(topic))!;
    const reordered = [leader, ...replicas.filter((r) => r !== leader)];
    const [moved] = await admin.alterPartitionReassignments([{ topic, partition: 0, replicas: reordered }]);
    expect(moved!.errorCode, moved!.errorMessage ?? '').toBe(ErrorCode.NONE);
    // The preferred replica must be in the ISR; under load a follower may briefly not be.
    await waitFor(
      async () => {
        const [r] = await admin.electLeaders('preferred', [{ topic, partition: 0 }]);
        return r!.errorCode === ErrorCode.NONE || (r!.errorCode === ErrorCode.ELECTION_NOT_NEEDED && (await readPartitionState(cluster.admin, topic, 0)).leader === leader);
      },
      { timeoutMs: 20_000, message: `broker ${leader} elected leader of ${topic}-0` },
    );
  } finally {
    await admin.close();
  }
  return ledBy(topic, leader);
}

async function readAssignment(topic: string): Promise<number[] | undefined> {
  const t = cluster.running.values().next().value!.broker.metadata.topic(topic);
  return t?.partitions.find((p) => p.partition === 0)?.replicas;
}

async function inSync(topic: string, ids: number[]): Promise<void> {
  await waitFor(
    () => {
      const ps = ids.map((id) => partitionOn(id, topic));
      const end = ps.find((p) => p.isLeader)?.log.logEndOffset;
      return end !== undefined && ps.every((p) => p.log.logEndOffset === end && p.highWatermark === end);
    },
    { timeoutMs: 20_000, message: `${topic}: replicas ${ids.join(',')} in sync` },
  );
}

describe('leadership changes keep every acknowledged record and no divergent tail', () => {
  it('KIP-101 scenario 1: a restarted follower with a stale high watermark keeps acknowledged records and can lead with them', async () => {
    await createTopic('kip101', [[0, 1]], ['min.insync.replicas=2']);
    await produceTo(0, 'kip101', 'all', ['m0']);
    await inSync('kip101', [0, 1]);
    expect(await produceTo(0, 'kip101', 'all', ['m1'])).not.toMatch(/failed/i);
    // Broker 1 has m1 but has not heard the high watermark that covers it (its next fetch is parked).
    const f = partitionOn(1, 'kip101');
    expect(f.log.logEndOffset).toBe(2);
    expect(f.highWatermark).toBe(1);
    await cluster.stop(1);
    expect(fs.readFileSync(path.join(cluster.dataDir(1), 'replication-offset-checkpoint'), 'utf8')).toContain('kip101 0 1\n');
    await cluster.start(1);
    await inSync('kip101', [0, 1]);
    expect(partitionOn(1, 'kip101').log.logEndOffset).toBe(2);
    // The leader shuts down; its controlled shutdown makes broker 1 leader (a clean election: it is in the ISR).
    await cluster.stop(0);
    await ledBy('kip101', 1);
    expect((await readPartitionState(cluster.admin, 'kip101', 0)).isr).toEqual([1]);
    expect(await consumeFrom(1, 'kip101')).toEqual(['m0', 'm1']);
    // Broker 0 returns as a follower, catches up, and broker 1 takes it back into the ISR.
    await cluster.start(0);
    await waitFor(async () => (await readPartitionState(cluster.admin, 'kip101', 0)).isr.length === 2, { timeoutMs: 20_000, message: 'broker 0 back in the ISR' });
    await inSync('kip101', [0, 1]);
    expect(logBytes(0, 'kip101').equals(logBytes(1, 'kip101'))).toBe(true);
  });

  it('cuts the tail an old epoch wrote that the new leader never had (acks=1), and ends with identical replicas', async () => {
    await createTopic('diverge', [[0, 1, 2]], ['unclean.leader.election.enable=true']);
    await produceTo(0, 'diverge', 'all', ['a', 'b']);
    await inSync('diverge', [0, 1, 2]);
    // Broker 2 goes away; 0 and 1 take more records (acks=1), which 2 never sees.
    await cluster.stop(2);
    await produceTo(0, 'diverge', '1', ['x1', 'x2', 'x3']);
    await waitFor(() => partitionOn(1, 'diverge').log.logEndOffset === 5, { message: 'broker 1 has the x records' });
    // Broker 0's controlled shutdown moves the leadership to 1; broker 1 then cannot hand it over and goes, the
    // partition's last ISR member.
    await cluster.stop(0);
    await cluster.stop(1);
    // Only broker 2 comes back: the controller (unclean.leader.election.enable) makes it leader.
    await cluster.start(2);
    const epoch = await ledBy('diverge', 2);
    expect((await readPartitionState(cluster.admin, 'diverge', 0)).isr).toEqual([2]);
    expect(partitionOn(2, 'diverge').log.logEndOffset).toBe(2);
    await produceTo(2, 'diverge', 'all', ['y1', 'y2']);
    // The others return as its followers: they cut the x records, catch up and rejoin the ISR.
    await cluster.start(0);
    await cluster.start(1);
    await waitFor(async () => (await readPartitionState(cluster.admin, 'diverge', 0)).isr.length === 3, { timeoutMs: 20_000, message: 'brokers 0 and 1 back in the ISR' });
    expect((await readPartitionState(cluster.admin, 'diverge', 0)).leaderEpoch).toBe(epoch);
    await inSync('diverge', [0, 1, 2]);
    for (const id of [0, 1]) {
      expect(logBytes(id, 'diverge').equals(logBytes(2, 'diverge')), `broker ${id} equals the new leader`).toBe(true);
      // Followers learn epochs from batches: the leader's entry for an epoch that wrote nothing yet is its own.
      const leader = partitionOn(2, 'diverge').log;
      expect(partitionOn(id, 'diverge').log.leaderEpochCache.epochEntries).toEqual(leader.leaderEpochCache.epochEntries.filter((e) => e.startOffset < leader.logEndOffset));
    }
    expect(partitionOn(2, 'diverge').log.leaderEpochCache.epochEntries.map((e) => e.epoch)).toContain(epoch);
    expect(await consumeFrom(2, 'diverge')).toEqual(['a', 'b', 'y1', 'y2']);
  });

  it('a broker that led an epoch without appending anything follows the next leader and catches up', async () => {
    await createTopic('brief', [[0, 1]]);
    await produceTo(0, 'brief', 'all', ['p0', 'p1']);
    await inSync('brief', [0, 1]);
    // The reorder keeps broker 0 leader at a new epoch (recorded at its log end); the preferred election then
    // moves the leadership to broker 1 before anything is appended: broker 1 never sees that epoch.
    const epoch = await moveLeadership('brief', 1);
    await produceTo(1, 'brief', '1', ['q0', 'q1', 'q2']);
    await inSync('brief', [0, 1]);
    expect(partitionOn(0, 'brief').log.leaderEpochCache.epochEntries).toEqual(partitionOn(1, 'brief').log.leaderEpochCache.epochEntries);
    expect(partitionOn(0, 'brief').log.leaderEpochCache.epochEntries.map((e) => e.epoch)).not.toContain(epoch - 1);
    expect(logBytes(0, 'brief').equals(logBytes(1, 'brief'))).toBe(true);
  });

  it('confluent-kafka idempotent producer while leadership moves around the ISR: every acknowledged record exactly once, in order', async () => {
    await createTopic('idem-failover', [[0, 1, 2]], ['min.insync.replicas=2']);
    const producer = spawnProcess(
      SYSTEM_PYTHON,
      [CK_IDEMPOTENT, JSON.stringify({ bootstrap: cluster.bootstrap(), topic: 'idem-failover', max_count: 200_000, pause_every: 20, pause_ms: 3 })],
      { env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }, keepStdinOpen: true },
    );
    await producer.waitForOutput('ready\n', { timeoutMs: 30_000 });
    const order = [1, 2, 0, 2, 1, 0];
    for (let i = 0; i < order.length; i++) {
      await producer.waitForOutput(`acked ${(i + 1) * 500}\n`, { timeoutMs: 30_000 });
      await moveLeadership('idem-failover', order[i]!);
    }
    await producer.waitForOutput(`acked ${(order.length + 1) * 500}\n`, { timeoutMs: 30_000 });
    producer.write('stop\n');
    const res = await producer.exited;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout.trim().split('\n').pop()!) as { produced: number; acked: [number, number, number][]; errors: unknown[]; unflushed: number };
    expect(summary.errors).toEqual([]);
    expect(summary.unflushed).toBe(0);
    expect(summary.acked.length).toBe(summary.produced);
    const leader = (await readPartitionState(cluster.admin, 'idem-failover', 0)).leader;
    const values = await consumeFrom(leader, 'idem-failover');
    expect(values).toEqual(Array.from({ length: summary.produced }, (_, i) => `m-${i}`));
    await inSync('idem-failover', [0, 1, 2]);
    for (const id of [0, 1, 2]) expect(logBytes(id, 'idem-failover').equals(logBytes(leader, 'idem-failover')), `broker ${id}`).toBe(true);
  }, 120_000);
});
