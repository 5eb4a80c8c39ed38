/**
 * kafkajs 2.2.4 against a kfk broker process: admin createTopics / fetchTopicMetadata / fetchTopicOffsets /
 * listTopics / deleteTopics, and a producer (acks -1, plain and gzip batches, keyed messages with headers)
 * whose output is read back by kafka-python (test/clients/kp_client.py), not by kfk's own client.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompressionTypes, Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { REPO_ROOT, kcat, python, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

const KP = path.join(REPO_ROOT, 'test', 'clients', 'kp_client.py');

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

beforeAll(async () => {
  broker = await startBrokerProcess();
  kafka = new Kafka({
    clientId: 'kfk-kafkajs-test',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 100 },
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
});

interface OutRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp: number;
  timestamp_type: number;
}

/** Reads the topic back with kafka-python (assign + seek_to_beginning up to the end offsets). */
async function readBack(topic: string): Promise<OutRecord[]> {
  const res = await python(KP, ['consume', JSON.stringify({ bootstrap: broker.bootstrap, topic })], { timeoutMs: 40_000 });
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout.trim().split('\n').pop()!) as { records: OutRecord[] }).records;
}

/** Compression codes of every stored batch (Kafka's on-disk layout `<topic>-<p>/<offset>.log`). */
function storedCompressionCodes(topic: string, partitions: number): number[] {
  const codes: number[] = [];
  for (let p = 0; p < partitions; p++) {
    const dir = path.join(broker.dataDir, `${topic}-${p}`);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log'))) {
      codes.push(...decodeRecordBatches(fs.readFileSync(path.join(dir, f))).map((b) => b.compression));
    }
  }
  return codes;
}

describe('admin', () => {
  it('createTopics, then listTopics and fetchTopicMetadata show them', async () => {
    const created = await admin.createTopics({
      topics: [
        { topic: 'kjs-admin-a', numPartitions: 3 },
        { topic: 'kjs-admin-b', numPartitions: 1 },
      ],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
    // creating an existing topic is not an error for kafkajs: it returns false
    expect(await admin.createTopics({ topics: [{ topic: 'kjs-admin-a', numPartitions: 3 }] })).toBe(false);

    const topics = await admin.listTopics();
    expect(topics).toEqual(expect.arrayContaining(['kjs-admin-a', 'kjs-admin-b']));

    const meta = await admin.fetchTopicMetadata({ topics: ['kjs-admin-a', 'kjs-admin-b'] });
    const byName = Object.fromEntries(meta.topics.map((t) => [t.name, t]));
    expect(byName['kjs-admin-a']!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
    expect(byName['kjs-admin-b']!.partitions.map((p) => p.partitionId)).toEqual([0]);
    for (const p of [...byName['kjs-admin-a']!.partitions, ...byName['kjs-admin-b']!.partitions]) {
      expect(p).toMatchObject({ partitionErrorCode: 0, leader: 0, replicas: [0], isr: [0] });
    }

    const cluster = await admin.describeCluster();
    expect(cluster.controller).toBe(0);
    expect(cluster.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port: broker.port }]);
  });

  it('deleteTopics removes the topic (listTopics, kcat -L) and the name can be reused', async () => {
    await admin.createTopics({ topics: [{ topic: 'kjs-delete-me', numPartitions: 2 }] });
    await producer.send({ topic: 'kjs-delete-me', acks: -1, messages: [{ key: 'k', value: 'before delete' }] });
    await admin.deleteTopics({ topics: ['kjs-delete-me'], timeout: 10_000 });
    expect(await admin.listTopics()).not.toContain('kjs-delete-me');
    const listing = await kcat(['-b', broker.bootstrap, '-L', '-J']);
    expect((JSON.parse(listing.stdout) as { topics: { topic: string }[] }).topics.map((t) => t.topic)).not.toContain(
      'kjs-delete-me',
    );

    // re-created: empty, with the new partition count
    await admin.createTopics({ topics: [{ topic: 'kjs-delete-me', numPartitions: 1 }] });
    const offsets = await admin.fetchTopicOffsets('kjs-delete-me');
    expect(offsets).toEqual([{ partition: 0, offset: '0', high: '0', low: '0' }]);
  });

  it('deleteTopics of an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const err = (await admin.deleteTopics({ topics: ['kjs-never-existed'], timeout: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { type?: string; cause?: { type?: string } } | undefined;
    expect(err, 'deleteTopics should fail').toBeDefined();
    // kafkajs retries this (retriable) error and then wraps it in KafkaJSNumberOfRetriesExceeded
    expect(err!.cause?.type ?? err!.type).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });
});

describe('producer (acks -1) → read back with kafka-python', () => {
  const PARTITIONS = 3;

  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    const codec = compression === CompressionTypes.None ? 'none' : 'gzip';
    it(`keyed messages with headers (${codec}): records, partitions (murmur2) and fetchTopicOffsets high watermarks match`, async () => {
      const topic = `kjs-produce-${codec}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
      const base = 1_700_000_000_000;
      const messages = Array.from({ length: 25 }, (_, i) => ({
        key: `user-${i % 7}`,
        value: `event ${i} ${'payload '.repeat(i)}`,
        headers: { seq: String(i), source: 'kafkajs' },
        timestamp: String(base + i),
      }));
      // two sends: one batch per partition each
      const first = await producer.send({ topic, acks: -1, compression, messages: messages.slice(0, 10) });
      const second = await producer.send({ topic, acks: -1, compression, messages: messages.slice(10) });
      for (const m of [...first, ...second]) expect(m.errorCode).toBe(0);

      const next = new Array<number>(PARTITIONS).fill(0);
      const want = messages
        .map((m) => {
          const partition = partitionForKey(Buffer.from(m.key), PARTITIONS);
          return {
            partition,
            offset: next[partition]!++,
            key: m.key,
            value: m.value,
            headers: Object.entries(m.headers),
            timestamp: Number(m.timestamp),
            timestamp_type: 0,
          };
        })
        .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      expect(await readBack(topic)).toEqual(want);

      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.sort((a, b) => a.partition - b.partition)).toEqual(
        next.map((count, partition) => ({ partition, offset: String(count), high: String(count), low: '0' })),
      );
      // produce responses report the base offsets that were assigned
      const baseOffsets = [...first, ...second].map((r) => [r.partition, Number(r.baseOffset)]);
      for (const [partition, baseOffset] of baseOffsets) {
        expect(want.some((r) => r.partition === partition && r.offset === baseOffset)).toBe(true);
      }
      // the broker stores the batches with the producer's compression (gzip = 1)
      expect(new Set(storedCompressionCodes(topic, PARTITIONS))).toEqual(new Set([compression]));
    });
  }

  it('fetchTopicOffsetsByTimestamp finds the first offset at or after a timestamp', async () => {
    const topic = 'kjs-by-time';
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await producer.send({
      topic,
      acks: -1,
      messages: [100, 200, 300].map((t, i) => ({ value: `v${i}`, timestamp: String(1_700_000_000_000 + t) })),
    });
    expect(await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_000_150)).toEqual([{ partition: 0, offset: '1' }]);
    expect(await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_000_300)).toEqual([{ partition: 0, offset: '2' }]);
    // after the last record: the end offset (Kafka answers -1, kafkajs maps it to the high watermark)
    expect(await admin.fetchTopicOffsetsByTimestamp(topic, 1_700_000_000_301)).toEqual([{ partition: 0, offset: '3' }]);
  });
});
