/**
 * FindCoordinator: Java's String.hashCode placement, __consumer_offsets created on first use with
 * offsets.topic.num.partitions partitions (replication clamped to the one live broker), every
 * version's shape, and transaction keys: __transaction_state created on first use with Kafka's configs
 * (min.insync.replicas clamped to the replication factor).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { javaStringHashCode, offsetsPartitionFor } from '../../src/group/offsets-topic.js';

describe('group placement', () => {
  it("matches Java's String.hashCode and Kafka's Utils.abs", () => {
    expect(javaStringHashCode('hello')).toBe(99162322);
    expect(javaStringHashCode('')).toBe(0);
    expect(javaStringHashCode('polygenelubricants')).toBe(-2147483648);
    expect(offsetsPartitionFor('polygenelubricants', 50)).toBe(0);
    // Values printed by Java 17 (String.hashCode, then Kafka's abs and modulo 50).
    expect(javaStringHashCode('console-consumer-1')).toBe(35782224);
    expect(offsetsPartitionFor('console-consumer-1', 50)).toBe(24);
    expect(javaStringHashCode('grüße-✓')).toBe(426800989);
    expect(offsetsPartitionFor('grüße-✓', 50)).toBe(39);
  });
});

describe('FindCoordinator', () => {
  let broker: StartedBroker;
  let conn: BrokerConnection;
  beforeAll(async () => {
    // Kafka's default offsets.topic.replication.factor (3) must still work on one broker.
    broker = await startBroker({
      config: {
        'offsets.topic.num.partitions': '7',
        'offsets.topic.replication.factor': '3',
        'transaction.state.log.num.partitions': '4',
        'transaction.state.log.replication.factor': '3',
        'transaction.state.log.min.isr': '2',
      },
    });
    conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port });
  });
  afterAll(async () => {
    conn?.close();
    await broker?.stop();
  });

  it('answers v0 with this broker and creates __consumer_offsets on first use', async () => {
    const res = await conn.request(10, { key: 'g1' }, { version: 0 });
    expect(res).toMatchObject({ errorCode: 0, nodeId: 0, host: '127.0.0.1', port: broker.port });
    const md = await conn.request(3, { topics: [{ name: '__consumer_offsets' }], allowAutoTopicCreation: false }, { version: 9 });
    const t = md.topics[0];
    expect(t.errorCode).toBe(0);
    expect(t.isInternal).toBe(true);
    expect(t.partitions).toHaveLength(7);
    expect(t.partitions.every((p: { replicaNodes: number[] }) => p.replicaNodes.length === 1)).toBe(true);
  });

  it('answers v1-v3 with key types and v4+ with batches of keys', async () => {
    for (const v of [1, 2, 3]) {
      expect(await conn.request(10, { key: 'g2', keyType: 0 }, { version: v })).toMatchObject({ errorCode: 0, nodeId: 0, port: broker.port });
      expect(await conn.request(10, { key: 'tx', keyType: 1 }, { version: v })).toMatchObject({ errorCode: 0, nodeId: 0, port: broker.port });
      expect((await conn.request(10, { key: '', keyType: 1 }, { version: v })).errorCode).toBe(42); // INVALID_REQUEST
      expect((await conn.request(10, { key: 'x', keyType: 2 }, { version: v })).errorCode).toBe(42);
    }
    for (const v of [4, 5, 6]) {
      const res = await conn.request(10, { keyType: 0, coordinatorKeys: ['a', 'b'] }, { version: v });
      expect(res.coordinators.map((c: { key: string; errorCode: number; nodeId: number }) => [c.key, c.errorCode, c.nodeId])).toEqual([
        ['a', 0, 0],
        ['b', 0, 0],
      ]);
    }
  });

  it('creates __transaction_state on the first transaction key, compacted, its min.insync.replicas clamped to its replication factor', async () => {
    const res = await conn.request(10, { keyType: 1, coordinatorKeys: ['txn-a'] }, { version: 4 });
    expect(res.coordinators[0]).toMatchObject({ key: 'txn-a', errorCode: 0, nodeId: 0 });
    const md = await conn.request(3, { topics: [{ name: '__transaction_state' }], allowAutoTopicCreation: false }, { version: 9 });
    expect(md.topics[0]).toMatchObject({ errorCode: 0, isInternal: true });
    expect(md.topics[0].partitions).toHaveLength(4);
    const configs = await conn.request(32, { resources: [{ resourceType: 2, resourceName: '__transaction_state', configurationKeys: null }] }, { version: 1 });
    const value = (name: string) => configs.results[0].configs.find((c: { name: string }) => c.name === name)?.value;
    expect(value('cleanup.policy')).toBe('compact');
    expect(value('min.insync.replicas')).toBe('1');
    expect(value('unclean.leader.election.enable')).toBe('false');
  });
});
