/**
 * The library as a Node user embeds it: `startBroker()` in a test suite, then any Kafka client.
 * kafkajs (a third-party client) produces and consumes with a consumer group; the bundled client
 * reads the same records; stop() removes the temporary data directory.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import kafkajs from 'kafkajs';
import { startBroker, createAdmin, createProducer, createGroupConsumer } from '../../src/index.js';

const { Kafka, logLevel } = kafkajs;

describe('startBroker', () => {
  it('serves kafkajs and the bundled client, and cleans up after itself', async () => {
    const broker = await startBroker({ config: { 'offsets.topic.num.partitions': '3', 'group.initial.rebalance.delay.ms': '0' } });
    try {
      expect(broker.bootstrap).toBe(`127.0.0.1:${broker.port}`);
      const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'events', numPartitions: 2 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'events', messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }] });
      await producer.disconnect();

      const consumer = kafka.consumer({ groupId: 'embedded', sessionTimeout: 10_000 });
      await consumer.connect();
      await consumer.subscribe({ topic: 'events', fromBeginning: true });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        consumer.run({ eachMessage: async ({ message }) => {
          seen.push(`${message.key}=${message.value}`);
          if (seen.length === 3) resolve();
        } }).catch(reject);
      });
      await consumer.disconnect();
      expect(seen.sort()).toEqual(['a=1', 'b=2', 'c=3']);

      // The bundled client against the same broker: a producer and a group consumer.
      const ours = createProducer({ bootstrap: broker.bootstrap });
      await ours.send('events', { key: 'd', value: '4' });
      await ours.close();
      const group = createGroupConsumer({ bootstrap: broker.bootstrap, groupId: 'ours', topics: ['events'], autoOffsetReset: 'earliest' });
      const values: string[] = [];
      for await (const r of group) {
        values.push(r.value!.toString());
        if (values.length === 4) break;
      }
      expect(values.sort()).toEqual(['1', '2', '3', '4']);
      const ourAdmin = createAdmin({ bootstrap: broker.bootstrap });
      expect((await ourAdmin.listTopics()).filter((t) => !t.startsWith('__'))).toEqual(['events']);
      await ourAdmin.close();
    } finally {
      await broker.stop();
    }
    expect(existsSync(broker.dataDir)).toBe(false);
  });
});
