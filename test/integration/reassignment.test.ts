/**
 * Partition reassignment (KIP-455) on an in-process cluster: `kfk reassign-partitions` --generate,
 * --execute, --verify, --list, --cancel; AlterPartitionReassignments / ListPartitionReassignments
 * errors; /admin/reassign_partitions; a controller failover in the middle. Checked in the assignment
 * znode's RS/AR/RR, the leader and ISR written, what the tools print, and the replicas themselves: an
 * adding replica copies the partition and its leader takes it into the ISR, then the removed ones leave
 * and delete their logs. While a test looks at a reassignment in progress, the adding replica's broker
 * cannot replicate (stallReplication), as a slow copy would be.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchCluster, type RunningCluster } from '../../src/broker/launch-cluster.js';
import { silentLogger } from '../../src/server/logger.js';
import { createAdmin } from '../../src/client/admin.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { decodeTopicAssignment, encodeReassignPartitions, reassignPartitionsPath, topicPath } from '../../src/registry/paths.js';
import type { Registry } from '../../src/registry/registry.js';
import { kcat, kfk, makeTempDir, registerCleanup, waitFor } from '../helpers/index.js';
import { controllerId, partitionStates } from '../helpers/cluster-state.js';
import { stallReplication } from '../helpers/replication-cluster.js';

registerCleanup();

const clusters: RunningCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop();
});

async function startTestCluster(brokers = 3): Promise<RunningCluster> {
  const config = brokerConfigFromProperties({
    listeners: 'PLAINTEXT://127.0.0.1:0',
    'log.dirs': makeTempDir('kfk-reassign-'),
    'auto.leader.rebalance.enable': 'false',
    'controlled.shutdown.retry.backoff.ms': '100',
  });
  const c = await launchCluster(config, { brokers, logger: silentLogger });
  clusters.push(c);
  return c;
}

const registryOf = (c: RunningCluster): Registry => c.brokers.find((b) => b.running)!.running!.broker.options.registry;

async function assignmentState(reg: Registry, topic: string) {
  const node = await reg.get(topicPath(topic));
  return decodeTopicAssignment(topic, node!.data);
}

/** Broker `id`'s log directory of a partition. */
const logDirOf = (c: RunningCluster, id: number, topic: string, partition: number): string =>
  join(c.brokers[id]!.running!.broker.options.logDirs[0]!, `${topic}-${partition}`);

/** The records of a partition as the hosting broker's replica holds them (its log end), read in the broker. */
function replicaEnd(c: RunningCluster, id: number, topic: string, partition: number): number | undefined {
  return c.brokers[id]!.running?.broker.replicaManager.getPartition(topic, partition)?.log.logEndOffset;
}

function jsonFile(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('partition reassignment', () => {
  it('moves a partition with kfk reassign-partitions: adding replicas join the ISR, then the removed ones leave', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    const b = c.brokers[1]!.bootstrap;
    const dir = makeTempDir('kfk-reassign-files-');
    expect((await kfk(['topics', '--bootstrap-server', b, '--create', '--topic', 'moving', '--replica-assignment', '0:1,1:0'])).code).toBe(0);
    const values = Array.from({ length: 50 }, (_, i) => `m${i}`);
    const put = await kcat(['-b', b, '-P', '-t', 'moving', '-p', '0', '-X', 'acks=all'], { input: values.join('\n') + '\n' });
    expect(put.code, put.stderr).toBe(0);
    const oldReplicaLog = logDirOf(c, 0, 'moving', 0);
    expect(existsSync(oldReplicaLog)).toBe(true);

    const topics = jsonFile(dir, 'topics.json', { topics: [{ topic: 'moving' }], version: 1 });
    const gen = await kfk(['reassign-partitions', '--bootstrap-server', b, '--generate', '--topics-to-move-json-file', topics, '--broker-list', '1,2']);
    expect(gen.code, gen.stderr).toBe(0);
    const [, currentJson, , proposedTitle, proposedJson] = gen.stdout.split('\n');
    expect(proposedTitle).toBe('Proposed partition reassignment configuration');
    expect(gen.stdout.split('\n')[0]).toBe('Current partition replica assignment');
    expect(JSON.parse(currentJson!)).toEqual({
      version: 1,
      partitions: [
        { topic: 'moving', partition: 0, replicas: [0, 1], log_dirs: ['any', 'any'] },
        { topic: 'moving', partition: 1, replicas: [1, 0], log_dirs: ['any', 'any'] },
      ],
    });
    const proposed = JSON.parse(proposedJson!) as { partitions: Array<{ replicas: number[] }> };
    for (const p of proposed.partitions) expect([...p.replicas].sort()).toEqual([1, 2]);

    const plan = jsonFile(dir, 'plan.json', { version: 1, partitions: [{ topic: 'moving', partition: 0, replicas: [1, 2] }] });
    // Broker 2 copies slowly: the reassignment stays in phase A until it may replicate.
    const slow = await stallReplication(c.brokers[2]!.running!.broker);
    const exec = await kfk(['reassign-partitions', '--bootstrap-server', b, '--execute', '--reassignment-json-file', plan]);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe(
      'Current partition replica assignment\n\n' +
        '{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[0,1],"log_dirs":["any","any"]}]}\n\n' +
        'Save this to use as the --reassignment-json-file option during rollback\n' +
        'Successfully started partition reassignment for moving-0\n',
    );
    // Phase A: RS = TRS + ORS, adding 2, removing 0; the leader epoch bumped so every replica sees it.
    const during = await assignmentState(reg, 'moving');
    expect(during.partitions.get(0)).toEqual([1, 2, 0]);
    expect(during.addingReplicas.get(0)).toEqual([2]);
    expect(during.removingReplicas.get(0)).toEqual([0]);
    expect((await partitionStates(reg, 'moving')).get(0)).toMatchObject({ leader: 0, leaderEpoch: 1, isr: [0, 1] });
    const listed = await kfk(['reassign-partitions', '--bootstrap-server', b, '--list']);
    expect(listed.stdout).toBe('Current partition reassignments:\nmoving-0: replicas: 1,2,0. adding: 2. removing: 0.\n');
    const verifying = await kfk(['reassign-partitions', '--bootstrap-server', b, '--verify', '--reassignment-json-file', plan]);
    expect(verifying.stdout).toBe('Status of partition reassignment:\nReassignment of partition moving-0 is still in progress.\n');
    // Brokers' metadata follows the registry (eventually): --describe shows the union of old and new replicas.
    await waitFor(
      async () => (await kfk(['topics', '--bootstrap-server', b, '--describe', '--topic', 'moving'])).stdout.includes('\tTopic: moving\tPartition: 0\tLeader: 0\tReplicas: 1,2,0\tIsr: 0,1\n'),
      { message: 'describe shows the replicas being reassigned' },
    );

    // The new replica exists on broker 2 (it follows the partition) but has copied nothing yet.
    await waitFor(() => replicaEnd(c, 2, 'moving', 0) !== undefined, { message: 'broker 2 hosts a replica of moving-0' });
    expect(replicaEnd(c, 2, 'moving', 0)).toBe(0);

    // Broker 2 replicates: it catches up, its leader takes it into the ISR, and the controller completes (phase B).
    await slow.release();
    await waitFor(async () => (await assignmentState(reg, 'moving')).partitions.get(0)!.join() === '1,2', { message: 'reassignment completed' });
    const done = await assignmentState(reg, 'moving');
    expect(done.addingReplicas.size + done.removingReplicas.size).toBe(0);
    const state = (await partitionStates(reg, 'moving')).get(0)!;
    expect(state.leader).toBe(1); // the first target replica in the ISR: leadership left broker 0
    expect(state.isr.sort()).toEqual([1, 2]);
    expect(state.leaderEpoch).toBe(2);
    await waitFor(
      async () =>
        (await kfk(['reassign-partitions', '--bootstrap-server', b, '--verify', '--reassignment-json-file', plan])).stdout ===
        'Status of partition reassignment:\nReassignment of partition moving-0 is complete.\n',
      { message: '--verify reports the reassignment complete' },
    );
    expect((await kfk(['reassign-partitions', '--bootstrap-server', b, '--list'])).stdout).toBe('No partition reassignments found.\n');
    // The data moved with it: the new leader serves every record, broker 2 holds them, broker 0 deleted its log.
    const got = await kcat(['-b', b, '-C', '-t', 'moving', '-p', '0', '-o', 'beginning', '-e', '-q']);
    expect(got.stdout.split('\n').filter(Boolean)).toEqual(values);
    await waitFor(() => replicaEnd(c, 2, 'moving', 0) === values.length, { message: 'broker 2 has every record' });
    await waitFor(() => !existsSync(oldReplicaLog), { message: 'broker 0 deleted its log of moving-0' });
    // The removed replica stays out of the ISR (its leader no longer counts it as a replica).
    expect((await partitionStates(reg, 'moving')).get(0)!.isr.sort()).toEqual([1, 2]);
  });

  it('completes a reordering at once, cancels an ongoing reassignment, and refuses what Kafka refuses', async () => {
    const c = await startTestCluster(3);
    const reg = registryOf(c);
    const b = c.brokers[0]!.bootstrap;
    expect((await kfk(['topics', '--bootstrap-server', b, '--create', '--topic', 'order', '--replica-assignment', '0:1,0:1'])).code).toBe(0);
    const admin = createAdmin({ bootstrap: b });
    try {
      // Same replicas, new order: nothing to copy, so it completes at once; the preferred replica changed.
      expect(await admin.alterPartitionReassignments([{ topic: 'order', partition: 0, replicas: [1, 0] }])).toEqual([
        { topic: 'order', partition: 0, errorCode: 0, errorMessage: null },
      ]);
      expect((await assignmentState(reg, 'order')).partitions.get(0)).toEqual([1, 0]);
      const elected = await admin.electLeaders('preferred', [{ topic: 'order', partition: 0 }]);
      expect(elected[0]!.errorCode).toBe(0);
      expect((await partitionStates(reg, 'order')).get(0)!.leader).toBe(1);

      // An ongoing reassignment cancelled: back to the original replicas, the added one out. (Broker 2 copies
      // slowly, so the reassignment is still going on when it is cancelled.)
      const slow = await stallReplication(c.brokers[2]!.running!.broker);
      await admin.alterPartitionReassignments([{ topic: 'order', partition: 1, replicas: [0, 2] }]);
      await waitFor(() => replicaEnd(c, 2, 'order', 1) !== undefined, { message: 'broker 2 hosts a replica of order-1' });
      expect(await admin.listPartitionReassignments()).toEqual([{ topic: 'order', partition: 1, replicas: [0, 2, 1], addingReplicas: [2], removingReplicas: [1] }]);
      expect(await admin.alterPartitionReassignments([{ topic: 'order', partition: 1, replicas: null }])).toEqual([
        { topic: 'order', partition: 1, errorCode: 0, errorMessage: null },
      ]);
      await waitFor(async () => (await admin.listPartitionReassignments()).length === 0, { message: 'cancelled' });
      expect((await assignmentState(reg, 'order')).partitions.get(1)).toEqual([0, 1]);
      expect((await partitionStates(reg, 'order')).get(1)!.isr.sort()).toEqual([0, 1]);
      // Broker 2 is no replica any more: it stops it and deletes its log, and replicating again changes nothing.
      await waitFor(() => replicaEnd(c, 2, 'order', 1) === undefined && !existsSync(join(c.brokers[2]!.running!.broker.options.logDirs[0]!, 'order-1')), {
        message: 'broker 2 deleted its replica of order-1',
      });
      await slow.release();

      const errors = await admin.alterPartitionReassignments([
        { topic: 'order', partition: 1, replicas: null },
        { topic: 'order', partition: 7, replicas: [0] },
        { topic: 'order', partition: 0, replicas: [0, 0] },
        { topic: 'order', partition: 0, replicas: [0, 5] },
        { topic: 'order', partition: 0, replicas: [] },
      ]);
      expect(errors.map((e) => e.errorCode)).toEqual([
        ErrorCode.NO_REASSIGNMENT_IN_PROGRESS,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
      ]);
      expect(errors[3]!.errorMessage).toContain('Replica assignment has brokers that are not alive');
    } finally {
      await admin.close();
    }
    const dir = makeTempDir('kfk-reassign-files-');
    const throttle = await kfk(['reassign-partitions', '--bootstrap-server', b, '--execute', '--throttle', '1000', '--reassignment-json-file', jsonFile(dir, 'p.json', { version: 1, partitions: [] })]);
    expect(throttle.code).toBe(1);
    expect(throttle.stderr).toContain('--throttle is not supported');
  });

  it('carries out /admin/reassign_partitions, across a controller failover, and deletes it when done', async () => {
    const c = await startTestCluster(3);
    let reg = registryOf(c);
    const b = c.brokers[2]!.bootstrap;
    expect((await kfk(['topics', '--bootstrap-server', b, '--create', '--topic', 'legacy', '--replica-assignment', '1:2'])).code).toBe(0);
    const leaving = logDirOf(c, 1, 'legacy', 0);
    // Broker 0 copies slowly: the reassignment is still going on when the controller dies.
    await stallReplication(c.brokers[0]!.running!.broker);
    await reg.create(reassignPartitionsPath, encodeReassignPartitions([{ topic: 'legacy', partition: 0, replicas: [2, 0] }]), 'persistent');
    await waitFor(async () => (await assignmentState(reg, 'legacy')).addingReplicas.get(0)?.join() === '0', { message: 'reassignment started' });
    // The controller dies mid-way; the next one resumes from the assignment znode.
    await c.killBroker(0);
    reg = registryOf(c);
    await waitFor(async () => (await controllerId(reg)) > 0, { message: 'a new controller' });
    await c.restartBroker(0);
    await waitFor(async () => ((await reg.children('/brokers/ids')) ?? []).length === 3, { message: 'broker 0 back' });
    // Restarted, broker 0 replicates: it catches up, joins the ISR, and the new controller completes.
    await waitFor(async () => (await assignmentState(reg, 'legacy')).partitions.get(0)!.join() === '2,0', { timeoutMs: 15_000, message: 'completed' });
    await waitFor(async () => (await reg.exists(reassignPartitionsPath)) === null, { message: '/admin/reassign_partitions deleted' });
    const s = (await partitionStates(reg, 'legacy')).get(0)!;
    expect(s.leader).toBe(2);
    expect(s.isr.sort()).toEqual([0, 2]);
    await waitFor(() => !existsSync(leaving), { message: 'broker 1 deleted its log of legacy-0' });
  });
});
