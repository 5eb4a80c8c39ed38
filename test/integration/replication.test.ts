/**
 * Replication between three in-process brokers sharing one registry, driven by kcat over TCP: followers copy
 * the leader's batches byte for byte, the high watermark and ISR follow the followers, acks=all waits for the
 * ISR and min.insync.replicas refuses writes the ISR cannot hold, and every broker checkpoints its high
 * watermarks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kcat, kfk, registerCleanup, waitFor } from '../helpers/index.js';
import { readPartitionState, stallReplication, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

const LAG_MS = 1500;
let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: {
      'replica.lag.time.max.ms': String(LAG_MS),
      'replica.fetch.wait.max.ms': '200',
      'replica.fetch.backoff.ms': '100',
      'replica.high.watermark.checkpoint.interval.ms': '200',
      'offsets.topic.replication.factor': '3',
      'offsets.topic.num.partitions': '3',
      'num.replica.fetchers': '2',
    },
  });
});

afterAll(async () => {
  await cluster?.close();
});

async function createTopic(name: string, partitions: number, configs: string[] = []): Promise<void> {
  const args = ['topics', '--create', '--topic', name, '--partitions', String(partitions), '--replication-factor', '3', '--bootstrap-server', cluster.bootstrap()];
  for (const c of configs) args.push('--config', c);
  const res = await kfk(args);
  expect(res.code, res.stderr).toBe(0);
  // Every broker hosts a replica of every partition.
  await waitFor(
    () => [...cluster.running.values()].every((b) => Array.from({ length: partitions }, (_, p) => b.broker.replicaManager.getPartition(name, p)).every((x) => x !== undefined)),
    { message: `replicas of ${name} on every broker` },
  );
}

/** The partition's replica on each running broker. */
function replicas(topic: string, partition: number) {
  return [...cluster.running.entries()].map(([id, b]) => ({ id, p: b.broker.replicaManager.getPartition(topic, partition)! }));
}

/** The bytes of a replica's log (all segment files in order). */
function logBytes(id: number, topic: string, partition: number): Buffer {
  const dir = path.join(cluster.dataDir(id), `${topic}-${partition}`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  return Buffer.concat(files.map((f) => fs.readFileSync(path.join(dir, f))));
}

async function produce(topic: string, lines: string[], extra: string[] = []): Promise<{ stderr: string }> {
  const res = await kcat(['-b', cluster.bootstrap(), '-P', '-t', topic, ...extra], { input: lines.join('\n') + '\n' });
  expect(res.code, res.stderr).toBe(0);
  return res;
}

async function consume(topic: string): Promise<string[]> {
  const res = await kcat(['-b', cluster.bootstrap(), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l.length > 0);
}

async function metadataIsr(topic: string): Promise<number[][]> {
  const res = await kcat(['-b', cluster.bootstrap(), '-L', '-t', topic, '-J']);
  expect(res.code, res.stderr).toBe(0);
  const t = JSON.parse(res.stdout).topics[0];
  return t.partitions.sort((a: { partition: number }, b: { partition: number }) => a.partition - b.partition).map((p: { isrs: { id: number }[] }) => p.isrs.map((i) => i.id).sort());
}

describe('three brokers, replication factor 3', () => {
  it('followers hold the same bytes as the leader, kcat reads everything, and the ISR is all three', async () => {
    await createTopic('r3', 3);
    // Keyed, so that murmur2 spreads them over the three partitions (led by three different brokers).
    const lines = Array.from({ length: 300 }, (_, i) => `key-${i}:message-${i}`);
    const res = await produce('r3', lines, ['-K:', '-X', 'acks=all', '-X', 'linger.ms=5']);
    expect(res.stderr).not.toMatch(/ERROR|failed/i);
    for (let p = 0; p < 3; p++) {
      await waitFor(
        () => {
          const rs = replicas('r3', p);
          const end = rs.find((r) => r.p.isLeader)!.p.log.logEndOffset;
          return rs.every((r) => r.p.log.logEndOffset === end && r.p.highWatermark === end);
        },
        { message: `r3-${p}: every replica at the leader's log end, high watermark included` },
      );
      const leader = replicas('r3', p).find((r) => r.p.isLeader)!;
      const bytes = logBytes(leader.id, 'r3', p);
      expect(bytes.length).toBeGreaterThan(0);
      for (const r of replicas('r3', p)) {
        expect(logBytes(r.id, 'r3', p).equals(bytes), `r3-${p} on broker ${r.id} equals the leader's (${leader.id})`).toBe(true);
        expect(r.p.log.leaderEpochCache.epochEntries).toEqual(leader.p.log.leaderEpochCache.epochEntries);
      }
    }
    expect((await consume('r3')).sort()).toEqual(lines.map((l) => l.split(':')[1]).sort());
    expect(await metadataIsr('r3')).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
    ]);
    // replication-offset-checkpoint on every broker, leaders and followers alike, holds the high watermark.
    await waitFor(
      () =>
        [0, 1, 2].every((id) => {
          const text = fs.readFileSync(path.join(cluster.dataDir(id), 'replication-offset-checkpoint'), 'utf8');
          return [0, 1, 2].every((p) => text.includes(`r3 ${p} ${replicas('r3', p)[0]!.p.highWatermark}\n`));
        }),
      { message: 'high watermarks checkpointed by every broker' },
    );
  });

  it('num.replica.fetchers=2: partitions from one leader are spread over two fetchers, each replicating its share', async () => {
    const res = await kfk(['topics', '--create', '--topic', 'spread', '--replica-assignment', '0:1:2,0:1:2,0:1:2,0:1:2', '--bootstrap-server', cluster.bootstrap()]);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(() => [0, 1, 2, 3].every((p) => cluster.running.get(1)!.broker.replicaManager.getPartition('spread', p) !== undefined));
    const lines = Array.from({ length: 40 }, (_, i) => `k${i}:v${i}`);
    expect((await produce('spread', lines, ['-K:', '-X', 'acks=all'])).stderr).not.toMatch(/failed/i);
    for (const follower of [1, 2]) {
      const fm = cluster.running.get(follower)!.broker.replicaManager.fetcherManager;
      const ids = new Set([0, 1, 2, 3].map((p) => fm.fetcherOf('spread', p)!.fetcherId));
      expect([...ids].sort()).toEqual([0, 1]);
      expect(fm.allFetchers().filter((f) => f.sourceBroker.id === 0).length).toBe(2);
    }
    for (let p = 0; p < 4; p++) {
      await waitFor(() => replicas('spread', p).every((r) => r.p.highWatermark === replicas('spread', p)[0]!.p.log.logEndOffset));
      for (const id of [1, 2]) expect(logBytes(id, 'spread', p).equals(logBytes(0, 'spread', p))).toBe(true);
    }
  });

  it('acks=all with min.insync.replicas=2: a silent follower leaves the ISR, a stopped one too, then acks=all is refused; both catch up and rejoin', async () => {
    await createTopic('misr', 1, ['min.insync.replicas=2']);
    const leaderId = (await readPartitionState(cluster.admin, 'misr', 0)).leader;
    const [f1, f2] = [0, 1, 2].filter((id) => id !== leaderId) as [number, number];
    const leaderBootstrap = `127.0.0.1:${cluster.port(leaderId)}`;
    const produceTo = async (value: string, acks: string) =>
      kcat(['-b', leaderBootstrap, '-P', '-t', 'misr', '-X', `acks=${acks}`, '-X', 'message.send.max.retries=0', '-X', 'message.timeout.ms=5000'], { input: `${value}\n` });

    expect((await produceTo('first', 'all')).stderr).not.toMatch(/failed/i);

    // A follower that has everything is in sync however long it is silent (Kafka's isCaughtUp): one that cannot
    // fetch falls out only once the leader has records it lacks, after replica.lag.time.max.ms. Meanwhile acks=all
    // waits for it, and completes with the two left once the ISR shrank.
    const silent = await stallReplication(cluster.running.get(f1)!.broker);
    expect((await produceTo('second', 'all')).stderr).not.toMatch(/failed/i);
    expect((await readPartitionState(cluster.admin, 'misr', 0)).isr.sort()).toEqual([leaderId, f2].sort());
    await waitFor(async () => (await metadataIsr('misr'))[0]!.length === 2, { message: 'Metadata shows the shrunk ISR' });

    // A follower that shuts down leaves the ISR at once (its controlled shutdown).
    await cluster.stop(f2);
    expect((await produceTo('third', '1')).stderr).not.toMatch(/failed/i);
    await waitFor(async () => (await readPartitionState(cluster.admin, 'misr', 0)).isr.length === 1, {
      timeoutMs: 15_000,
      message: `broker ${f2} out of the ISR`,
    });
    const refused = await produceTo('refused', 'all');
    expect(refused.stderr).toMatch(/Not enough in-sync replicas|NOT_ENOUGH_REPLICAS/i);
    expect((await produceTo('fourth', '1')).stderr).not.toMatch(/failed/i);

    await silent.release();
    await cluster.start(f2);
    await waitFor(async () => (await readPartitionState(cluster.admin, 'misr', 0)).isr.length === 3, {
      timeoutMs: 20_000,
      message: 'restarted followers back in the ISR',
    });
    const leaderLog = cluster.running.get(leaderId)!.broker.replicaManager.getPartition('misr', 0)!;
    await waitFor(() => replicas('misr', 0).every((r) => r.p.highWatermark === leaderLog.log.logEndOffset), { message: 'followers caught up' });
    for (const id of [f1, f2]) expect(logBytes(id, 'misr', 0).equals(logBytes(leaderId, 'misr', 0))).toBe(true);
    expect(await consume('misr')).toEqual(['first', 'second', 'third', 'fourth']);
  });
});
