/**
 * Replication under a descriptor budget (issue 13 with issue 7): three brokers in this process share one
 * process-wide cache of at most `log.max.open.files` = 64 open segment and index files, while they hold 60
 * partitions with 3 replicas each in small segments (thousands of files). Leaders append, followers append the
 * leaders' batches (ReplicaFetcher → Log.appendAsFollower), roll segments, and after a kill -9 a restarted broker
 * recovers its logs in the background, truncates and catches up (OffsetsForLeaderEpoch through the leader epoch
 * caches), all through the cache. Checked as a user would: every replica holds the leader's bytes, kcat reads
 * every record, the ISR is whole again, and the descriptors this process holds into the log dirs
 * (/proc/self/fd, sampled throughout) never exceed the budget. A follower whose log is still recovering is not
 * hosted and nothing fetches for it until its recovery is done.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sharedFdCache } from '../../src/log/fd-cache.js';
import { LogManager } from '../../src/log/log-manager.js';
import { kcat, kfk, quietPeriod, registerCleanup, skipUnless, waitFor } from '../helpers/index.js';
import { readPartitionState, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

registerCleanup();

const BUDGET = 64;
const TOPIC = 'fd';
const PARTITIONS = 60;
const linux = process.platform === 'linux';

let cluster: InProcessCluster;
let sampler: NodeJS.Timeout | undefined;
/** The most descriptors into the log dirs seen at once. */
let mostHeld = 0;

/** Descriptors this process holds on files under the brokers' log dirs. */
function descriptorsIntoLogDirs(): number {
  const dirs = [0, 1, 2].map((id) => cluster.dataDir(id));
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (dirs.some((d) => target.startsWith(d))) n++;
    } catch {
      // closed meanwhile (the descriptor of the listing itself, or a file the cache just closed)
    }
  }
  return n;
}

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: {
      'log.max.open.files': String(BUDGET),
      // small segments: each replica rolls several times, so that there are thousands of files
      'log.segment.bytes': '1024',
      'replica.fetch.wait.max.ms': '100',
      'replica.fetch.backoff.ms': '100',
      'replica.lag.time.max.ms': '10000',
      'offsets.topic.replication.factor': '3',
      'offsets.topic.num.partitions': '3',
      'auto.leader.rebalance.enable': 'false',
      'num.replica.fetchers': '2',
    },
  });
  if (linux) {
    sampler = setInterval(() => {
      mostHeld = Math.max(mostHeld, descriptorsIntoLogDirs());
    }, 10);
  }
});

afterAll(async () => {
  if (sampler !== undefined) clearInterval(sampler);
  await cluster?.close();
});

/** The bytes of a replica's log (all segment files in order). */
function logBytes(id: number, partition: number): Buffer {
  const dir = path.join(cluster.dataDir(id), `${TOPIC}-${partition}`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  return Buffer.concat(files.map((f) => fs.readFileSync(path.join(dir, f))));
}

function segmentCount(id: number, partition: number): number {
  return fs.readdirSync(path.join(cluster.dataDir(id), `${TOPIC}-${partition}`)).filter((f) => f.endsWith('.log')).length;
}

async function produce(tag: string, count: number): Promise<string[]> {
  // ~100-byte values: each replica fills several 1 KiB segments
  const lines = Array.from({ length: count }, (_, i) => `key-${tag}-${i}:${tag}-${i}-${'x'.repeat(80)}`);
  const res = await kcat(['-b', cluster.bootstrap(), '-P', '-t', TOPIC, '-K:', '-X', 'acks=all', '-X', 'linger.ms=5', '-X', 'batch.num.messages=5'], { input: lines.join('\n') + '\n', timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).not.toMatch(/ERROR|failed/i);
  return lines.map((l) => l.split(':')[1]!);
}

async function consumeAll(): Promise<string[]> {
  const res = await kcat(['-b', cluster.bootstrap(), '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%s\\n'], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l.length > 0);
}

/** Every replica of every partition at the leader's log end (high watermark included) with the leader's bytes. */
async function expectIdenticalReplicas(): Promise<void> {
  for (let p = 0; p < PARTITIONS; p++) {
    await waitFor(
      () => {
        const rs = [...cluster.running.values()].map((b) => b.broker.replicaManager.getPartition(TOPIC, p));
        const leader = rs.find((r) => r?.isLeader);
        if (leader === undefined || rs.some((r) => r === undefined)) return false;
        const end = leader.log.logEndOffset;
        return rs.every((r) => r!.log.logEndOffset === end && r!.highWatermark === end);
      },
      { timeoutMs: 30_000, message: `${TOPIC}-${p}: every replica at the leader's log end` },
    );
    const leaderId = [...cluster.running.entries()].find(([, b]) => b.broker.replicaManager.getPartition(TOPIC, p)!.isLeader)![0];
    const leaderBytes = logBytes(leaderId, p);
    const leaderEpochs = cluster.running.get(leaderId)!.broker.replicaManager.getPartition(TOPIC, p)!.log.leaderEpochCache.epochEntries;
    for (const [id, b] of cluster.running) {
      expect(logBytes(id, p).equals(leaderBytes), `${TOPIC}-${p} on broker ${id} holds the bytes of its leader (broker ${leaderId})`).toBe(true);
      expect(b.broker.replicaManager.getPartition(TOPIC, p)!.log.leaderEpochCache.epochEntries).toEqual(leaderEpochs);
    }
  }
}

describe(`three brokers, ${PARTITIONS} partitions × 3 replicas, log.max.open.files=${BUDGET} for the whole process`, skipUnless(linux, 'counts descriptors in /proc/self/fd'), () => {
  const sent: string[] = [];

  it('replicates every partition byte for byte; kcat reads every record; the descriptors stay within the budget', { timeout: 120_000 }, async () => {
    const created = await kfk(['topics', '--create', '--topic', TOPIC, '--partitions', String(PARTITIONS), '--replication-factor', '3', '--bootstrap-server', cluster.bootstrap()]);
    expect(created.code, created.stderr).toBe(0);
    await waitFor(() => [...cluster.running.values()].every((b) => Array.from({ length: PARTITIONS }, (_, p) => b.broker.replicaManager.getPartition(TOPIC, p)).every((x) => x !== undefined)), {
      timeoutMs: 30_000,
      message: `replicas of ${TOPIC} on every broker`,
    });

    sent.push(...(await produce('first', 3000)));
    await expectIdenticalReplicas();
    expect((await consumeAll()).sort()).toEqual([...sent].sort());

    // thousands of files (a .log, .index and .timeindex per segment, leaders' and followers' alike), at most 64 open
    let segments = 0;
    for (const id of [0, 1, 2]) for (let p = 0; p < PARTITIONS; p++) segments += segmentCount(id, p);
    expect(segments).toBeGreaterThan(3 * PARTITIONS * 3); // more than 3 segments per replica on average
    const stats = sharedFdCache().stats();
    expect(stats.maxOpen).toBe(BUDGET);
    expect(stats.evictions).toBeGreaterThan(BUDGET * 10);
    expect(stats.peak).toBeLessThanOrEqual(BUDGET);
    expect(mostHeld).toBeGreaterThan(0);
    expect(mostHeld).toBeLessThanOrEqual(BUDGET);
  });

  it('a broker killed (kill -9) recovers its logs in the background, fetches for none until it is recovered, then catches up', { timeout: 120_000 }, async () => {
    const victim = 2;
    await cluster.kill(victim);
    // the controller takes it out of every ISR (and moves its leaderships)
    for (let p = 0; p < PARTITIONS; p++) {
      await waitFor(async () => !(await readPartitionState(cluster.admin, TOPIC, p)).isr.includes(victim), { timeoutMs: 30_000, message: `broker ${victim} out of the ISR of ${TOPIC}-${p}` });
    }
    sent.push(...(await produce('second', 1500)));

    // Fault injection: the restarted broker's recovery of the topic's logs waits until released, so that what it
    // does with logs still recovering can be seen.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    type Recovering = { recover(job: { topic: string }): Promise<void> };
    const proto = LogManager.prototype as unknown as Recovering;
    const recover = proto.recover;
    const held = vi.spyOn(proto, 'recover').mockImplementation(async function (this: Recovering, job) {
      if (job.topic === TOPIC) await released;
      return recover.call(this, job);
    });
    try {
      const restarted = (await cluster.start(victim)).broker;
      await waitFor(() => restarted.logManager.isLoading(TOPIC, 0), { message: 'the restarted broker recovering the logs' });
      const notTouched = (): void => {
        for (let p = 0; p < PARTITIONS; p++) {
          expect(restarted.logManager.isLoading(TOPIC, p)).toBe(true);
          expect(restarted.replicaManager.getPartition(TOPIC, p)).toBeUndefined();
          expect(restarted.replicaManager.fetcherManager.fetcherOf(TOPIC, p)).toBeUndefined();
        }
      };
      notTouched();
      await quietPeriod(500); // reconciliation and the fetchers had time to act on them, and did not
      notTouched();
      for (let p = 0; p < PARTITIONS; p++) expect((await readPartitionState(cluster.admin, TOPIC, p)).isr).not.toContain(victim);
    } finally {
      release();
      held.mockRestore();
    }

    // recovered: followed, truncated to the leaders' epochs where needed, caught up, back in every ISR
    await expectIdenticalReplicas();
    for (let p = 0; p < PARTITIONS; p++) {
      await waitFor(async () => (await readPartitionState(cluster.admin, TOPIC, p)).isr.includes(victim), { timeoutMs: 30_000, message: `broker ${victim} back in the ISR of ${TOPIC}-${p}` });
    }
    expect((await consumeAll()).sort()).toEqual([...sent].sort());
    expect(sharedFdCache().stats().peak).toBeLessThanOrEqual(BUDGET);
    expect(mostHeld).toBeLessThanOrEqual(BUDGET);
  });
});
