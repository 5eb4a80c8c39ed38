/**
 * Everything partitioned rides on replication (three in-process brokers, kafkajs and the kfk CLI over TCP):
 * committed group offsets survive the group coordinator's broker going away (its __consumer_offsets partition
 * leads elsewhere, which loads the groups), DeleteRecords waits for and reaches every replica, topic deletion
 * removes every replica's log, and partitions added later are replicated like the first ones.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { kcat, kfk, registerCleanup, waitFor } from '../helpers/index.js';
import { readPartitionState, startInProcessCluster, type InProcessCluster } from '../helpers/replication-cluster.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster({
    brokers: 3,
    config: {
      'replica.lag.time.max.ms': '3000',
      'replica.fetch.wait.max.ms': '200',
      'replica.fetch.backoff.ms': '100',
      'offsets.topic.replication.factor': '3',
      'offsets.topic.num.partitions': '1',
    },
  });
});

afterAll(async () => {
  await cluster?.close();
});

const kafka = () => new Kafka({ brokers: cluster.bootstrap().split(','), clientId: 'repl-services', logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });

async function createTopic(name: string, partitions: number, configs: string[] = []): Promise<void> {
  const args = ['topics', '--create', '--topic', name, '--partitions', String(partitions), '--replication-factor', '3', '--bootstrap-server', cluster.bootstrap()];
  for (const c of configs) args.push('--config', c);
  const res = await kfk(args);
  expect(res.code, res.stderr).toBe(0);
  await waitFor(() => [...cluster.running.values()].every((b) => Array.from({ length: partitions }, (_, p) => b.broker.replicaManager.getPartition(name, p)).every((x) => x !== undefined)));
}

async function produce(topic: string, values: string[], partition = 0): Promise<void> {
  const res = await kcat(['-b', cluster.bootstrap(), '-P', '-t', topic, '-p', String(partition), '-X', 'acks=all'], { input: values.join('\n') + '\n' });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).not.toMatch(/failed/i);
}

async function consumeInGroup(groupId: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafka().consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const got: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
    await waitFor(() => got.length >= count, { timeoutMs: 30_000, message: `${count} records in group ${groupId}` });
  } finally {
    await consumer.disconnect(); // commits what it consumed
  }
  return got;
}

describe('services on replicated partitions', () => {
  it("committed offsets survive the coordinator's broker: the new __consumer_offsets leader loads the group", async () => {
    await createTopic('gtopic', 1);
    await produce('gtopic', Array.from({ length: 10 }, (_, i) => `a${i}`));
    expect(await consumeInGroup('g1', 'gtopic', 10)).toHaveLength(10);
    const st = await readPartitionState(cluster.admin, '__consumer_offsets', 0);
    expect(st.isr).toHaveLength(3);
    const coordinator = st.leader;
    await waitFor(() => [...cluster.running.values()].every((b) => {
      const p = b.broker.replicaManager.getPartition('__consumer_offsets', 0)!;
      return p.log.logEndOffset === cluster.running.get(coordinator)!.broker.replicaManager.getPartition('__consumer_offsets', 0)!.log.logEndOffset;
    }), { message: 'offsets replicated' });
    // Its controlled shutdown moves its leaderships (the offsets partition, and gtopic's if it led it) to
    // other ISR members.
    await cluster.stop(coordinator);
    try {
      await waitFor(async () => (await readPartitionState(cluster.admin, '__consumer_offsets', 0)).leader !== coordinator, { message: 'a new coordinator' });
      const admin = kafka().admin();
      await admin.connect();
      try {
        await waitFor(async () => {
          const offsets = await admin.fetchOffsets({ groupId: 'g1', topics: ['gtopic'] });
          return offsets[0]!.partitions[0]!.offset === '10';
        }, { timeoutMs: 20_000, message: 'committed offset 10 from the new coordinator' });
      } finally {
        await admin.disconnect();
      }
      await produce('gtopic', ['b0', 'b1', 'b2']);
      expect(await consumeInGroup('g1', 'gtopic', 3)).toEqual(['b0', 'b1', 'b2']);
    } finally {
      await cluster.start(coordinator);
    }
  }, 90_000);

  it('DeleteRecords moves the log start offset on every replica before it answers', async () => {
    await createTopic('delrec', 1, ['segment.bytes=1024']);
    await produce('delrec', Array.from({ length: 40 }, (_, i) => `record-number-${i}-with-some-padding`));
    const admin = kafka().admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: ['delrec'] });
      await admin.deleteTopicRecords({ topic: 'delrec', partitions: [{ partition: 0, offset: '25' }] });
    } finally {
      await admin.disconnect();
    }
    // Answered only once every live replica's log start offset reached 25.
    for (const [id, b] of cluster.running) {
      expect(b.broker.replicaManager.getPartition('delrec', 0)!.log.logStartOffset, `broker ${id}`).toBe(25);
    }
    const res = await kcat(['-b', cluster.bootstrap(), '-C', '-t', 'delrec', '-o', 'beginning', '-e', '-q', '-f', '%o\\n']);
    expect(res.stdout.split('\n').filter(Boolean)[0]).toBe('25');
  });

  it('topic deletion removes the log on every replica', async () => {
    await createTopic('doomed', 2);
    await produce('doomed', ['x']);
    const dirs = () => [0, 1, 2].flatMap((id) => [0, 1].map((p) => path.join(cluster.dataDir(id), `doomed-${p}`)));
    expect(dirs().every((d) => fs.existsSync(d))).toBe(true);
    const res = await kfk(['topics', '--delete', '--topic', 'doomed', '--bootstrap-server', cluster.bootstrap()]);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(() => dirs().every((d) => !fs.existsSync(d)), { message: 'every replica deleted' });
    expect([...cluster.running.values()].every((b) => b.broker.replicaManager.getPartition('doomed', 0) === undefined)).toBe(true);
  });

  it('partitions added with CreatePartitions are replicated like the first ones', async () => {
    await createTopic('grow', 1);
    const res = await kfk(['topics', '--alter', '--topic', 'grow', '--partitions', '3', '--bootstrap-server', cluster.bootstrap()]);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(() => [...cluster.running.values()].every((b) => b.broker.replicaManager.getPartition('grow', 2) !== undefined), { message: 'new partitions hosted everywhere' });
    await produce('grow', ['p2-a', 'p2-b'], 2);
    await waitFor(() => [...cluster.running.values()].every((b) => b.broker.replicaManager.getPartition('grow', 2)!.highWatermark === 2), { message: 'partition 2 replicated' });
  });
});
