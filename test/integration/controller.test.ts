/**
 * The controller in a cluster of brokers in one process (launchCluster, the code behind
 * `kfk server start --brokers N`): election and epochs, broker death and return, offline
 * partitions and unclean election, controller failover, controlled shutdown, ISR changes announced
 * by leaders, preferred elections (ElectLeaders, kfk leader-election, auto rebalance, the ZooKeeper
 * admin znodes), NOT_CONTROLLER and forwarding. Checked in the registry (partition state znodes),
 * in Metadata as kcat sees it from every live broker, and with the kfk CLI. Followers replicate and
 * leaders change their own ISRs as they do in production: a replica that must be out of an ISR is
 * made to fall behind (stallReplication, a cut network) rather than written out of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchCluster, type RunningCluster } from '../../src/broker/launch-cluster.js';
import { createLogger, silentLogger } from '../../src/server/logger.js';
import type { Registry } from '../../src/registry/registry.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { createAdmin } from '../../src/client/admin.js';
import { ApiKey } from '../../src/protocol/generated/apis.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  deleteTopicPath,
  encodePreferredReplicaElection,
  isrChangeNotificationPath,
  preferredReplicaElectionPath,
  topicConfigPath,
  topicPath,
} from '../../src/registry/paths.js';
import { kcat, kfk, makeTempDir, registerCleanup, waitFor } from '../helpers/index.js';
import { assignment, controllerEpoch, controllerId, kcatMetadata, partitionStates } from '../helpers/cluster-state.js';
import { stallReplication } from '../helpers/replication-cluster.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

registerCleanup();

const clusters: RunningCluster[] = [];
/** Every log line of the brokers of the running test, prefixed with the broker id. */
let logs: string[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop();
  logs = [];
});

function capturingLogger(id: number) {
  const verbose = process.env.KFK_TEST_VERBOSE ? createLogger('info') : silentLogger;
  const line = (level: string) => (msg: string) => {
    logs.push(`[broker ${id}] ${level} ${msg}`);
    (verbose as unknown as Record<string, (m: string) => void>)[level]!(`[broker ${id}] ${msg}`);
  };
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}

async function startTestCluster(brokers = 3, props: Record<string, string> = {}): Promise<RunningCluster> {
  const config = brokerConfigFromProperties({
    listeners: 'PLAINTEXT://127.0.0.1:0',
    'log.dirs': makeTempDir('kfk-controller-'),
    'offsets.topic.num.partitions': '3',
    'group.initial.rebalance.delay.ms': '0',
    'controlled.shutdown.retry.backoff.ms': '100',
    'auto.leader.rebalance.enable': 'false',
    ...props,
  });
  const c = await launchCluster(config, { brokers, logger: silentLogger, brokerLogger: capturingLogger });
  clusters.push(c);
  return c;
}

/** A registry session of a running broker (the tests read and write znodes through it). */
function registryOf(c: RunningCluster): Registry {
  const b = c.brokers.find((x) => x.running);
  if (!b) throw new Error('no broker is running');
  return b.running!.broker.options.registry;
}

const live = (c: RunningCluster) => c.brokers.filter((b) => b.running);
const controllerOf = (c: RunningCluster) => c.brokers.find((b) => b.running?.broker.controller.isActive);

async function createTopic(c: RunningCluster, name: string, args: string[]): Promise<void> {
  const res = await kfk(['topics', '--bootstrap-server', c.bootstrap, '--create', '--topic', name, ...args]);
  expect(res.code, res.stderr).toBe(0);
}

/**
 * Makes broker `id` fall out of the ISRs of `topics` (partition 0, led elsewhere) as a follower that stopped
 * fetching does: its replication stalls, a record reaches each leader, and the leaders drop it after
 * replica.lag.time.max.ms, announcing the change under /isr_change_notification.
 */
async function fallBehind(c: RunningCluster, id: number, topics: string[]): Promise<{ release(): Promise<void> }> {
  const stall = await stallReplication(c.brokers[id]!.running!.broker);
  for (const t of topics) {
    const put = await kcat(['-b', c.bootstrap, '-P', '-t', t, '-p', '0', '-X', 'acks=1'], { input: `behind-${id}\n` });
    expect(put.code, put.stderr).toBe(0);
  }
  const reg = registryOf(c);
  await waitFor(async () => {
    for (const t of topics) if ((await partitionStates(reg, t)).get(0)!.isr.includes(id)) return false;
    return true;
  }, { timeoutMs: 20_000, message: `broker ${id} out of the ISRs of ${topics.join(', ')}` });
  return stall;
}

/** The ISR change notifications the leaders wrote have been read and deleted by the controller. */
async function notificationsProcessed(reg: Registry): Promise<void> {
  await waitFor(async () => ((await reg.children(isrChangeNotificationPath)) ?? []).length === 0, { message: 'ISR change notifications deleted' });
}

/** Every live broker's Metadata for `topic`, as kcat sees it. */
async function metadataEverywhere(c: RunningCluster, topic: string) {
  return Promise.all(live(c).map(async (b) => ({ broker: b.id, md: await kcatMetadata(b.bootstrap, topic) })));
}

describe('controller election', () => {
  it('elects one controller, bumps /controller_epoch on every election and every broker reports it', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    expect(await controllerId(reg)).toBe(0);
    expect(await controllerEpoch(reg)).toBe(1);
    expect(c.brokers.filter((b) => b.running!.broker.controller.isActive).map((b) => b.id)).toEqual([0]);
    for (const { md } of await metadataEverywhere(c, '')) {
      expect(md.controllerid).toBe(0);
      expect(md.brokers.map((b) => b.id).sort()).toEqual([0, 1, 2]);
    }
    await createTopic(c, 'elected', ['--partitions', '3', '--replication-factor', '3']);
    const states = await partitionStates(reg, 'elected');
    for (const s of states.values()) expect(s).toMatchObject({ controllerEpoch: 1, leaderEpoch: 0, isr: expect.arrayContaining([0, 1, 2]) });
  });
});

describe('broker death', () => {
  it('elects a new leader from the ISR with the leader epoch + 1 and takes the dead broker out of every ISR', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    await createTopic(c, 'deaths', ['--partitions', '6', '--replication-factor', '3']);
    const before = await partitionStates(reg, 'deaths');
    const victim = 1; // not the controller
    expect([...before.values()].some((s) => s.leader === victim)).toBe(true);
    await c.killBroker(victim);

    await waitFor(async () => [...(await partitionStates(reg, 'deaths')).values()].every((s) => !s.isr.includes(victim)), {
      timeoutMs: 10_000,
      message: 'broker 1 out of every ISR',
    });
    const after = await partitionStates(reg, 'deaths');
    const replicas = await assignment(reg, 'deaths');
    for (const [p, s] of after) {
      const old = before.get(p)!;
      expect(s.leaderEpoch, `partition ${p}`).toBe(old.leaderEpoch + 1);
      expect(s.controllerEpoch).toBe(1);
      if (old.leader === victim) {
        // The first replica in assignment order that is alive and in the ISR.
        expect(s.leader).toBe(replicas.get(p)!.find((r) => r !== victim && old.isr.includes(r)));
      } else {
        expect(s.leader).toBe(old.leader);
      }
      expect(s.isr).toEqual(old.isr.filter((r) => r !== victim));
    }
    // Every live broker answers the same, without the dead one.
    await waitFor(
      async () => {
        for (const { md } of await metadataEverywhere(c, 'deaths')) {
          if (md.brokers.some((b) => b.id === victim)) return false;
          for (const part of md.topics[0]!.partitions) {
            const s = after.get(part.partition)!;
            if (part.leader !== s.leader || part.isrs.join() !== s.isr.join() || part.error) return false;
          }
        }
        return true;
      },
      { timeoutMs: 10_000, message: 'every live broker reports the new leaders and ISRs' },
    );
    // Metadata v12 (the bundled client) also carries the leader epochs and the offline replica.
    const admin = createAdmin({ bootstrap: c.brokers[2]!.bootstrap });
    try {
      const [d] = await admin.describeTopics(['deaths']);
      for (const p of d!.partitions) {
        expect(p.leaderEpoch).toBe(after.get(p.partition)!.leaderEpoch);
        expect(p.offlineReplicas).toEqual([victim]);
      }
    } finally {
      await admin.close();
    }
    const described = await kfk(['topics', '--bootstrap-server', c.bootstrap.split(',')[0]!, '--describe', '--topic', 'deaths']);
    expect(described.code, described.stderr).toBe(0);
    for (const [p, s] of after) {
      expect(described.stdout).toContain(`\tTopic: deaths\tPartition: ${p}\tLeader: ${s.leader}\tReplicas: ${replicas.get(p)!.join(',')}\tIsr: ${s.isr.join(',')}\n`);
    }
    const under = await kfk(['topics', '--bootstrap-server', c.bootstrap.split(',')[0]!, '--describe', '--under-replicated-partitions']);
    expect(under.stdout.trim().split('\n')).toHaveLength(6);
  });

  it('leaves partitions whose ISR members all died offline (Leader: none) until one returns; unclean election elects a live replica', async () => {
    const c = await startTestCluster(3, { 'replica.lag.time.max.ms': '1000' });
    const reg = registryOf(c);
    // Broker 0 is the controller and stays; 1 and 2 die one after the other.
    await createTopic(c, 'clean', ['--replica-assignment', '1:2:0']);
    await createTopic(c, 'dirty', ['--replica-assignment', '1:2:0', '--config', 'unclean.leader.election.enable=true']);
    // The ISR shrinks to the leader alone: 2 and 0 stop replicating and fall behind.
    const stalls = [await fallBehind(c, 2, ['clean', 'dirty']), await fallBehind(c, 0, ['clean', 'dirty'])];
    for (const t of ['clean', 'dirty']) expect((await partitionStates(reg, t)).get(0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 0 });
    await notificationsProcessed(reg);
    await c.killBroker(1);
    await waitFor(async () => (await partitionStates(reg, 'clean')).get(0)!.leader === -1, { message: 'clean-0 offline' });
    const offline = (await partitionStates(reg, 'clean')).get(0)!;
    expect(offline).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });
    await waitFor(async () => (await partitionStates(reg, 'dirty')).get(0)!.leader === 2, { message: 'dirty-0 elected uncleanly' });
    expect((await partitionStates(reg, 'dirty')).get(0)).toMatchObject({ leader: 2, isr: [2], leaderEpoch: 1 });

    // Broker 0's metadata follows the registry.
    await waitFor(
      async () => (await kcatMetadata(c.brokers[0]!.bootstrap, 'clean')).topics[0]!.partitions[0]!.leader === -1 && (await kcatMetadata(c.brokers[0]!.bootstrap, 'dirty')).topics[0]!.partitions[0]!.leader === 2,
      { message: 'broker 0 reports clean-0 offline and dirty-0 led by 2' },
    );
    const md = await kcatMetadata(c.brokers[0]!.bootstrap, 'clean');
    expect(md.topics[0]!.partitions[0]).toMatchObject({ leader: -1, error: expect.stringMatching(/leader not available/i) });
    const described = await kfk(['topics', '--bootstrap-server', c.brokers[0]!.bootstrap, '--describe', '--topic', 'clean']);
    expect(described.stdout).toContain('\tTopic: clean\tPartition: 0\tLeader: none\tReplicas: 1,2,0\tIsr: 1\n');
    const unavailable = await kfk(['topics', '--bootstrap-server', c.brokers[0]!.bootstrap, '--describe', '--unavailable-partitions']);
    expect(unavailable.stdout).toBe('\tTopic: clean\tPartition: 0\tLeader: none\tReplicas: 1,2,0\tIsr: 1\n');
    const underMin = await kfk(['topics', '--bootstrap-server', c.brokers[0]!.bootstrap, '--describe', '--under-min-isr-partitions']);
    expect(underMin.stdout).toContain('Topic: clean\tPartition: 0\tLeader: none');

    // The second death: dirty-0 loses its leader too and 0 (alive, a replica) is elected uncleanly.
    await c.killBroker(2);
    await waitFor(async () => (await partitionStates(reg, 'dirty')).get(0)!.leader === 0, { message: 'dirty-0 elected uncleanly again' });
    expect((await partitionStates(reg, 'clean')).get(0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });

    // The last ISR member returns: it leads again.
    await c.restartBroker(1);
    await waitFor(async () => (await partitionStates(reg, 'clean')).get(0)!.leader === 1, { message: 'clean-0 led by returning broker 1' });
    expect((await partitionStates(reg, 'clean')).get(0)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: 2 });
    // Broker 0 replicates again: it catches up and leader 1 takes it back into the ISR.
    for (const s of stalls) await s.release().catch(() => undefined); // broker 2's is gone with it
    await waitFor(async () => (await partitionStates(reg, 'clean')).get(0)!.isr.includes(0), { message: 'broker 0 back in the ISR of clean-0' });
    expect((await partitionStates(reg, 'clean')).get(0)).toMatchObject({ leader: 1, leaderEpoch: 2 });
  });

  it('takes a broker that died and came back at once out of the ISR (a bounced broker is a death, then a start)', async () => {
    const c = await startTestCluster(2);
    const reg = registryOf(c);
    await createTopic(c, 'bounce', ['--replica-assignment', '1:0']);
    const before = (await partitionStates(reg, 'bounce')).get(0)!;
    expect(before.leader).toBe(1);
    await c.killBroker(1);
    await c.restartBroker(1);
    // One write for the death: leader 0, broker 1 out of the ISR, leader epoch + 1...
    await waitFor(async () => (await partitionStates(reg, 'bounce')).get(0)!.leader === 0, { message: 'broker 0 leads' });
    // (Seen as a bounce, or as a death before the registration came back, depending on timing.)
    const written = `[broker 0] info controller: bounce-0: leader 0, ISR [0], leader epoch ${before.leaderEpoch + 1} (broker(s) 1 `;
    expect(logs.filter((l) => l.startsWith(written))).toHaveLength(1);
    // ...then it is a follower that catches up and rejoins the ISR (no further leader epoch).
    await waitFor(async () => (await partitionStates(reg, 'bounce')).get(0)!.isr.includes(1), { message: 'broker 1 back in the ISR' });
    expect((await partitionStates(reg, 'bounce')).get(0)).toMatchObject({ leader: 0, leaderEpoch: before.leaderEpoch + 1 });
  });
});

describe('controller failover', () => {
  it('another broker takes over with a new epoch, reloads the state and carries on', async () => {
    const c = await startTestCluster(3);
    await createTopic(c, 'before', ['--partitions', '3', '--replication-factor', '3']);
    const first = controllerOf(c)!;
    expect(first.id).toBe(0);
    const before = await partitionStates(registryOf(c), 'before');
    await c.killBroker(0);
    const reg = registryOf(c);
    await waitFor(async () => (await controllerId(reg)) > 0 && controllerOf(c) !== undefined, { message: 'a new controller' });
    expect(await controllerEpoch(reg)).toBe(2);
    const next = controllerOf(c)!;
    expect(next.id).toBe(await controllerId(reg));
    // It reconciled what the dead controller led: broker 0 is out of every ISR, with epochs bumped by the new controller.
    await waitFor(async () => [...(await partitionStates(reg, 'before')).values()].every((s) => !s.isr.includes(0) && s.leader !== 0), {
      message: 'broker 0 out of every ISR',
    });
    for (const [p, s] of await partitionStates(reg, 'before')) {
      expect(s.controllerEpoch).toBe(2);
      expect(s.leaderEpoch).toBe(before.get(p)!.leaderEpoch + 1);
    }
    // A topic created afterwards works (through any broker: the client finds the controller).
    await createTopic(c, 'after', ['--partitions', '2', '--replication-factor', '2']);
    const created = await partitionStates(reg, 'after');
    expect([...created.values()].every((s) => s.controllerEpoch === 2 && s.isr.length === 2 && !s.isr.includes(0))).toBe(true);
    // A broker death afterwards is handled.
    const other = live(c).find((b) => b.id !== next.id)!;
    await c.killBroker(other.id);
    await waitFor(async () => [...(await partitionStates(reg, 'after')).values()].every((s) => !s.isr.includes(other.id)), {
      message: `broker ${other.id} out of every ISR`,
    });
    // The old controller comes back as an ordinary broker.
    await c.restartBroker(0);
    await waitFor(async () => (await kcatMetadata(c.brokers[0]!.bootstrap)).brokers.length === 2, { message: 'broker 0 back' });
    expect(await controllerId(reg)).toBe(next.id);
    expect(c.brokers[0]!.running!.broker.controller.isActive).toBe(false);
  });

  it('a broker stopping cleanly hands the controller role over too', async () => {
    const c = await startTestCluster(2);
    await createTopic(c, 'handover', ['--replica-assignment', '0:1,1:0']);
    await c.stopBroker(0);
    const reg = registryOf(c);
    await waitFor(async () => (await controllerId(reg)) === 1, { message: 'broker 1 controller' });
    expect(await controllerEpoch(reg)).toBe(2);
    const states = await partitionStates(reg, 'handover');
    expect([...states.values()].map((s) => s.leader)).toEqual([1, 1]);
  });
});

describe('controlled shutdown', () => {
  it('ControlledShutdown moves every leadership to another ISR member while the broker is still registered', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    await createTopic(c, 'moving', ['--partitions', '6', '--replication-factor', '3']);
    await createTopic(c, 'single', ['--replica-assignment', '2']);
    const before = await partitionStates(reg, 'moving');
    const broker2 = c.brokers[2]!.running!.broker;
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: c.brokers[0]!.port });
    try {
      const resp = await conn.request<{ errorCode: number; remainingPartitions: unknown[] }>(ApiKey.ControlledShutdown, { brokerId: 2, brokerEpoch: broker2.brokerEpoch });
      expect(resp).toEqual({ errorCode: ErrorCode.NONE, remainingPartitions: [] });
      const stale = await conn.request<{ errorCode: number }>(ApiKey.ControlledShutdown, { brokerId: 2, brokerEpoch: broker2.brokerEpoch - 1 });
      expect(stale.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
      // v0 (request header v0, without client id) works too.
      const unknown = await conn.request<{ errorCode: number }>(ApiKey.ControlledShutdown, { brokerId: 7 }, { version: 0 });
      expect(unknown.errorCode).toBe(ErrorCode.BROKER_NOT_AVAILABLE);
    } finally {
      conn.close();
    }
    const after = await partitionStates(reg, 'moving');
    for (const [p, s] of after) {
      expect(s.leader, `partition ${p}`).not.toBe(2);
      expect(s.leaderEpoch).toBe(before.get(p)!.leaderEpoch + 1);
      // The controller's write took broker 2 out of the ISR. (Broker 2 did not ask itself, so it does not know it
      // is shutting down and keeps following: its leaders may take it back, without a new leader epoch.)
      const written = new RegExp(`^\\[broker 0\\] info controller: moving-${p}: leader \\d, ISR \\[([\\d,]*)\\], leader epoch ${s.leaderEpoch} \\(controlled shutdown of broker 2\\)$`);
      const line = logs.find((l) => written.test(l));
      expect(line, `the controller's write of moving-${p}`).toBeDefined();
      expect(written.exec(line!)![1]!.split(',')).not.toContain('2');
    }
    // An unreplicated partition cannot move and is not reported (Kafka counts only replicated ones).
    expect((await partitionStates(reg, 'single')).get(0)!.leader).toBe(2);
    // Broker 2 is still registered and serving; the others report the new leaders, none unavailable.
    expect((await kcatMetadata(c.brokers[2]!.bootstrap)).brokers).toHaveLength(3);
    await waitFor(
      async () => {
        for (const { md } of await metadataEverywhere(c, 'moving')) {
          if (md.topics[0]!.partitions.some((p) => p.leader === 2 || p.error)) return false;
        }
        return true;
      },
      { message: 'no broker reports broker 2 as a leader' },
    );
  });

  it('stopBroker shuts down with the leaderships moved first (no further election at its death)', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    await createTopic(c, 'rolling', ['--partitions', '3', '--replication-factor', '3']);
    const before = await partitionStates(reg, 'rolling');
    expect([...before.values()].some((s) => s.leader === 1)).toBe(true);
    await c.stopBroker(1);
    expect(logs).toContain('[broker 1] info controlled shutdown succeeded (controller 0)');
    expect(logs.some((l) => l.startsWith('[broker 0] info controller: rolling-') && l.endsWith('(controlled shutdown of broker 1)'))).toBe(true);
    await waitFor(async () => (await kcatMetadata(c.brokers[0]!.bootstrap)).brokers.length === 2, { message: 'broker 1 gone' });
    await c.brokers[0]!.running!.broker.controller.idle();
    for (const [p, s] of await partitionStates(reg, 'rolling')) {
      expect(s.leader).not.toBe(1);
      expect(s.isr).not.toContain(1);
      // One bump: the controlled shutdown moved leadership and ISR; the death changed nothing more.
      expect(s.leaderEpoch).toBe(before.get(p)!.leaderEpoch + 1);
    }
  });
});

describe('leader-made ISR changes and preferred leaders', () => {
  it('applies ISR changes announced under /isr_change_notification, deletes the notifications, and elects preferred leaders on request', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    await createTopic(c, 'pref', ['--replica-assignment', '1:2:0,2:0:1,0:1:2']);
    await c.killBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'pref')).values()].every((s) => !s.isr.includes(1)), { message: 'broker 1 out of every ISR' });
    const b0 = c.brokers[0]!.bootstrap;
    // Broker 1 is not in the ISR: its preferred partition cannot go back to it.
    const early = await kfk(['leader-election', '--bootstrap-server', b0, '--election-type', 'preferred', '--topic', 'pref', '--partition', '0']);
    expect(early.code).toBe(1);
    expect(early.stdout).toContain('Error completing leader election (PREFERRED) for partition: pref-0: PREFERRED_LEADER_NOT_AVAILABLE');
    expect(early.stderr).toContain('1 replica(s) could not be elected');

    // Broker 1 returns and catches up: the leaders take it back into their ISRs (compare-and-set, no new
    // leader epoch) and announce it under /isr_change_notification, which the controller reads and deletes.
    const states = await partitionStates(reg, 'pref');
    await c.restartBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'pref')).values()].every((s) => s.isr.includes(1)), { message: 'broker 1 back in every ISR' });
    for (const [p, s] of await partitionStates(reg, 'pref')) expect(s.leaderEpoch, `pref-${p}`).toBe(states.get(p)!.leaderEpoch);
    await notificationsProcessed(reg);

    const all = await kfk(['leader-election', '--bootstrap-server', b0, '--election-type', 'preferred', '--all-topic-partitions']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe('Successfully completed leader election (PREFERRED) for partitions pref-0\n');
    const after = await partitionStates(reg, 'pref');
    expect(after.get(0)).toMatchObject({ leader: 1, leaderEpoch: states.get(0)!.leaderEpoch + 1 });
    expect(after.get(0)!.isr.sort()).toEqual([0, 1, 2]);
    const again = await kfk(['leader-election', '--bootstrap-server', b0, '--election-type', 'PREFERRED', '--topic', 'pref', '--partition', '0']);
    expect(again.stdout).toBe('Valid replica already elected for partitions pref-0\n');
    const unclean = await kfk(['leader-election', '--bootstrap-server', b0, '--election-type', 'unclean', '--all-topic-partitions']);
    expect(unclean.code, unclean.stderr).toBe(0);
    expect(unclean.stdout).toBe('');
    await notificationsProcessed(reg);
  });

  it('moves leadership back to preferred replicas on its own (auto.leader.rebalance.enable)', async () => {
    const c = await startTestCluster(2, { 'auto.leader.rebalance.enable': 'true', 'leader.imbalance.check.interval.seconds': '1' });
    const reg = registryOf(c);
    await createTopic(c, 'balance', ['--replica-assignment', '1:0,1:0,0:1']);
    await c.killBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'balance')).values()].every((s) => s.leader === 0), { message: 'broker 0 leads everything' });
    // Broker 1 returns, catches up and rejoins the ISRs; then the balance task moves its leaderships back.
    await c.restartBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'balance')).values()].map((s) => s.leader).join() === '1,1,0', {
      timeoutMs: 15_000,
      message: 'preferred leaders back by the leader balance task',
    });
  });

  it('elects the partitions /admin/preferred_replica_election names, then deletes it', async () => {
    const c = await startTestCluster(2);
    const reg = registryOf(c);
    await createTopic(c, 'zkpref', ['--replica-assignment', '1:0,1:0']);
    await c.killBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'zkpref')).values()].every((s) => s.leader === 0), { message: 'broker 0 leads' });
    await c.restartBroker(1);
    await waitFor(async () => [...(await partitionStates(reg, 'zkpref')).values()].every((s) => s.isr.includes(1)), { message: 'broker 1 back in the ISRs' });
    await reg.create(preferredReplicaElectionPath, encodePreferredReplicaElection([{ topic: 'zkpref', partition: 1 }]), 'persistent');
    await waitFor(async () => (await reg.exists(preferredReplicaElectionPath)) === null, { message: 'the znode deleted' });
    const states = await partitionStates(reg, 'zkpref');
    expect(states.get(1)!.leader).toBe(1);
    expect(states.get(0)!.leader).toBe(0);
  });
});

describe('only the controller changes topics', () => {
  it('answers NOT_CONTROLLER on other brokers for CreateTopics, CreatePartitions, DeleteTopics and ElectLeaders', async () => {
    const c = await startTestCluster(2);
    await createTopic(c, 'existing', ['--partitions', '1', '--replication-factor', '2']);
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: c.brokers[1]!.port });
    try {
      const created = await conn.request<{ topics: Array<{ errorCode: number }> }>(ApiKey.CreateTopics, {
        topics: [{ name: 'nope', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
        timeoutMs: 1000,
        validateOnly: false,
      });
      expect(created.topics[0]!.errorCode).toBe(ErrorCode.NOT_CONTROLLER);
      const grown = await conn.request<{ results: Array<{ errorCode: number }> }>(ApiKey.CreatePartitions, {
        topics: [{ name: 'existing', count: 2, assignments: null }],
        timeoutMs: 1000,
        validateOnly: false,
      });
      expect(grown.results[0]!.errorCode).toBe(ErrorCode.NOT_CONTROLLER);
      const deleted = await conn.request<{ responses: Array<{ errorCode: number }> }>(ApiKey.DeleteTopics, {
        topicNames: ['existing'],
        topics: [{ name: 'existing' }],
        timeoutMs: 1000,
      });
      expect(deleted.responses[0]!.errorCode).toBe(ErrorCode.NOT_CONTROLLER);
      const elected = await conn.request<{ errorCode: number }>(ApiKey.ElectLeaders, { electionType: 0, topicPartitions: null, timeoutMs: 1000 });
      expect(elected.errorCode).toBe(ErrorCode.NOT_CONTROLLER);
    } finally {
      conn.close();
    }
    expect(await registryOf(c).exists(topicPath('nope'))).toBeNull();
  });

  it('forwards auto-creation from a non-controller to the controller: kcat produces to a new topic through broker 1', async () => {
    const c = await startTestCluster(2);
    const b1 = c.brokers[1]!.bootstrap;
    const put = await kcat(['-b', b1, '-P', '-t', 'auto-made'], { input: 'one\ntwo\n' });
    expect(put.code, put.stderr).toBe(0);
    const reg = registryOf(c);
    expect((await partitionStates(reg, 'auto-made')).size).toBe(1);
    const got = await kcat(['-b', b1, '-C', '-t', 'auto-made', '-o', 'beginning', '-e', '-q']);
    expect(got.stdout.split('\n').filter(Boolean)).toEqual(['one', 'two']);
  });

  it('deletes a topic while a replica broker is down; the broker deletes its log when it returns', async () => {
    const c = await startTestCluster(2);
    const reg = registryOf(c);
    await createTopic(c, 'doomed', ['--replica-assignment', '1:0']);
    const put = await kcat(['-b', c.brokers[1]!.bootstrap, '-P', '-t', 'doomed'], { input: 'x\n' });
    expect(put.code, put.stderr).toBe(0);
    const logDir = join(c.brokers[1]!.running!.broker.options.logDirs[0]!, 'doomed-0');
    expect(existsSync(logDir)).toBe(true);
    await c.killBroker(1);
    const del = await kfk(['topics', '--bootstrap-server', c.brokers[0]!.bootstrap, '--delete', '--topic', 'doomed']);
    expect(del.code, del.stderr).toBe(0);
    expect(await reg.exists(topicPath('doomed'))).toBeNull();
    expect(await reg.exists(topicConfigPath('doomed'))).toBeNull();
    await c.restartBroker(1);
    await waitFor(() => !existsSync(logDir), { message: 'the returning broker deleted its log of the deleted topic' });
  });

  it('deletes topics named under /admin/delete_topics (ZooKeeper-mode tools) and the markers', async () => {
    const c = await startTestCluster(2);
    const reg = registryOf(c);
    await createTopic(c, 'marked', ['--partitions', '2', '--replication-factor', '2']);
    await reg.create(deleteTopicPath('marked'), null, 'persistent');
    await waitFor(async () => (await reg.exists(topicPath('marked'))) === null && (await reg.exists(deleteTopicPath('marked'))) === null, {
      message: 'topic and marker deleted',
    });
  });

  it('retries offline partitions when a topic enables unclean.leader.election.enable', async () => {
    const c = await startTestCluster(2, { 'replica.lag.time.max.ms': '1000' });
    const reg = registryOf(c);
    await createTopic(c, 'later', ['--replica-assignment', '1:0']);
    // Broker 0 falls behind: leader 1 is the ISR alone when it dies.
    await fallBehind(c, 0, ['later']);
    await notificationsProcessed(reg);
    await c.killBroker(1);
    await waitFor(async () => (await partitionStates(reg, 'later')).get(0)!.leader === -1, { message: 'offline' });
    const res = await kfk(['configs', '--bootstrap-server', c.brokers[0]!.bootstrap, '--alter', '--entity-type', 'topics', '--entity-name', 'later', '--add-config', 'unclean.leader.election.enable=true']);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(async () => (await partitionStates(reg, 'later')).get(0)!.leader === 0, { message: 'elected uncleanly after the config change' });
  });
});
