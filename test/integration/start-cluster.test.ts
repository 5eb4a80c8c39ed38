/**
 * startCluster(), as a Node user embeds it for failover tests: a three-broker cluster whose
 * bootstrap string serves kafkajs and kcat (third-party clients), brokers killed and restarted, leadership
 * moving with every acknowledged record kept, test-suite defaults, and a temporary data dir removed by stop().
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { startCluster } from '../../src/index.js';
import { kcat, kfk } from '../helpers/index.js';
import { kcatMetadata } from '../helpers/cluster-state.js';
import { waitFor } from '../helpers/wait.js';

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;

describe('startCluster', () => {
  it('runs three brokers for kafkajs; a killed broker loses its leaderships and comes back', async () => {
    const cluster = await startCluster({ brokers: 3 });
    try {
      expect(cluster.brokers.map((b) => b.id)).toEqual([0, 1, 2]);
      expect(cluster.bootstrap.split(',')).toEqual(cluster.brokers.map((b) => b.bootstrap));
      expect(cluster.brokers.every((b) => b.running && b.bootstrap === `127.0.0.1:${b.port}`)).toBe(true);

      const kafka = new Kafka({ brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
      const admin = kafka.admin();
      await admin.connect();
      try {
        expect((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()).toEqual([0, 1, 2]);
        await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({ topic: 'orders', messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }] });
        await producer.disconnect();

        // A group gets its records at once: group.initial.rebalance.delay.ms is 0 by default here.
        const configs = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configNames: ['group.initial.rebalance.delay.ms', 'offsets.topic.replication.factor'] }],
        });
        const values = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
        expect(values).toEqual({ 'group.initial.rebalance.delay.ms': '0', 'offsets.topic.replication.factor': '3' });
        const consumer = kafka.consumer({ groupId: 'cluster-group', sessionTimeout: 10_000 });
        await consumer.connect();
        await consumer.subscribe({ topic: 'orders', fromBeginning: true });
        const seen: string[] = [];
        await new Promise<void>((resolve, reject) => {
          consumer
            .run({
              eachMessage: async ({ message }) => {
                seen.push(`${message.key}=${message.value}`);
                if (seen.length === 3) resolve();
              },
            })
            .catch(reject);
        });
        await consumer.disconnect();
        expect(seen.sort()).toEqual(['a=1', 'b=2', 'c=3']);

        const leaders = async () => (await admin.fetchTopicMetadata({ topics: ['orders'] })).topics[0]!.partitions.map((p) => p.leader);
        const victim = (await leaders()).find((l) => l !== 0)!; // broker 0 is the controller; kill another leader
        await cluster.killBroker(victim);
        expect(cluster.brokers[victim]!.running).toBe(false);
        await waitFor(async () => !(await leaders()).includes(victim) && (await leaders()).every((l) => l >= 0), {
          timeoutMs: 15_000,
          message: `leaderships moved off broker ${victim}`,
        });
        await waitFor(async () => !(await admin.describeCluster()).brokers.some((b) => b.nodeId === victim), { timeoutMs: 15_000, message: 'the dead broker gone from Metadata' });

        await cluster.restartBroker(victim);
        expect(cluster.brokers[victim]!.running).toBe(true);
        await waitFor(async () => (await admin.describeCluster()).brokers.length === 3, { timeoutMs: 15_000, message: 'three brokers again' });

        // A clean stop moves leaderships first, too.
        const leader = (await leaders()).find((l) => l !== 0)!;
        await cluster.stopBroker(leader);
        await waitFor(async () => !(await leaders()).includes(leader), { timeoutMs: 15_000, message: `leaderships moved off broker ${leader}` });
      } finally {
        await admin.disconnect();
      }
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dataDir)).toBe(false);
  });

  it('kcat end to end: acks=all to an RF=3 topic, the leader killed, every record read from the new leader, the old one rejoins the ISR', async () => {
    const cluster = await startCluster({ brokers: 3 });
    try {
      const created = await kfk(['topics', '--create', '--topic', 'walk', '--partitions', '1', '--replication-factor', '3', '--config', 'min.insync.replicas=2', '--bootstrap-server', cluster.bootstrap]);
      expect(created.code, created.stderr).toBe(0);
      // kcat exits 0 and reports no failed delivery only when every record was acknowledged (acks=all).
      const produce = async (bootstrap: string, values: string[]) => {
        const res = await kcat(['-b', bootstrap, '-P', '-t', 'walk', '-p', '0', '-X', 'acks=all', '-X', 'message.timeout.ms=20000'], { input: values.join('\n') + '\n' });
        expect(res.code, res.stderr).toBe(0);
        expect(res.stderr).not.toMatch(/delivery failed|failed to produce/i);
      };
      const before = Array.from({ length: 500 }, (_, i) => `before-${i}`);
      await produce(cluster.bootstrap, before);
      const md = await kcatMetadata(cluster.bootstrap, 'walk');
      const leader = md.topics[0]!.partitions[0]!.leader;
      expect(md.topics[0]!.partitions[0]!.isrs.sort()).toEqual([0, 1, 2]);

      await cluster.killBroker(leader);
      const live = cluster.brokers.filter((b) => b.running).map((b) => b.bootstrap).join(',');
      await waitFor(
        async () => {
          const p = (await kcatMetadata(live, 'walk')).topics[0]!.partitions[0]!;
          return p.leader >= 0 && p.leader !== leader && !p.isrs.includes(leader);
        },
        { timeoutMs: 20_000, message: `a new leader, broker ${leader} out of the ISR` },
      );
      // acks=all goes on with two in-sync replicas (min.insync.replicas=2).
      const after = Array.from({ length: 100 }, (_, i) => `after-${i}`);
      await produce(live, after);
      const read = await kcat(['-b', live, '-C', '-t', 'walk', '-p', '0', '-o', 'beginning', '-e', '-q']);
      expect(read.code, read.stderr).toBe(0);
      expect(read.stdout.split('\n').filter(Boolean)).toEqual([...before, ...after]);

      // The killed leader comes back as a follower, catches up and rejoins the ISR with the same bytes.
      await cluster.restartBroker(leader);
      await waitFor(async () => (await kcatMetadata(cluster.bootstrap, 'walk')).topics[0]!.partitions[0]!.isrs.length === 3, {
        timeoutMs: 20_000,
        message: `broker ${leader} back in the ISR`,
      });
      const logBytes = (id: number) => {
        const dir = join(cluster.dataDir, `broker-${id}`, 'walk-0');
        return Buffer.concat(readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => readFileSync(join(dir, f))));
      };
      await waitFor(() => [0, 1, 2].every((id) => logBytes(id).equals(logBytes(0))), { message: 'identical replicas' });
    } finally {
      await cluster.stop();
    }
  });
});
