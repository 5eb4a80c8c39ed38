/**
 * @platformatic/kafka 2.x against a kfk broker process: Admin.createTopics +
 * metadata (unique, non-zero topic ids), Producer.send with string serializers (each codec the client can use
 * here), read back with kcat, and with the client's own group-less Consumer.fetch / listOffsets.
 *
 * Consumer.consume() (the message stream) always joins a consumer group first; it is tested with the other group
 * clients in groups.test.ts. Here Consumer.fetch() issues a plain Fetch (by topic id) without any group.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Admin,
  Consumer,
  Producer,
  compatibilityPartitioner,
  stringDeserializers,
  stringSerializers,
  type CompressionAlgorithmValue,
} from '@platformatic/kafka';
import { kcat, registerCleanup, skipUnless, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { partitionForKey } from '../../src/client/partitioner.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';

registerCleanup();

const PARTITIONS = 3;
let broker: BrokerProcess;
let admin: Admin;
let producer: Producer<string, string, string, string>;
let consumer: Consumer<string, string, string, string>;

beforeAll(async () => {
  broker = await startBrokerProcess();
  const common = { bootstrapBrokers: [broker.bootstrap], retries: 2, retryDelay: 100 };
  admin = new Admin({ clientId: 'kfk-platformatic-admin', ...common });
  producer = new Producer({ clientId: 'kfk-platformatic-producer', serializers: stringSerializers, ...common });
  // groupId is mandatory in the constructor, but fetch() and listOffsets() never contact a group coordinator
  consumer = new Consumer({
    clientId: 'kfk-platformatic-consumer',
    groupId: 'kfk-unused-group',
    deserializers: stringDeserializers,
    ...common,
  });
});

afterAll(async () => {
  await consumer?.close(true);
  await producer?.close(true);
  await admin?.close();
});

interface KcatRecord {
  key: string;
  value: string;
  headers: string;
  offset: number;
  partition: number;
  timestamp: number;
}

async function kcatReadAll(topic: string): Promise<KcatRecord[]> {
  const res = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k|%s|%h|%o|%p|%T\\n']);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const [key, value, headers, offset, partition, timestamp] = l.split('|') as [string, string, string, string, string, string];
      return { key, value, headers, offset: Number(offset), partition: Number(partition), timestamp: Number(timestamp) };
    })
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Compression codes of every stored batch (Kafka's on-disk layout `<topic>-<p>/<offset>.log`). */
function storedCompressionCodes(topic: string): number[] {
  const codes: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const dir = path.join(broker.dataDir, `${topic}-${p}`);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log'))) {
      codes.push(...decodeRecordBatches(fs.readFileSync(path.join(dir, f))).map((b) => b.compression));
    }
  }
  return codes;
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

describe('Admin', () => {
  it('createTopics + metadata: partitions, controller, and unique non-zero topic ids', async () => {
    const created = await admin.createTopics({ topics: ['plat-a', 'plat-b', 'plat-c'], partitions: PARTITIONS, replicas: 1 });
    expect(created.map((t) => [t.name, t.partitions, t.replicas])).toEqual([
      ['plat-a', PARTITIONS, 1],
      ['plat-b', PARTITIONS, 1],
      ['plat-c', PARTITIONS, 1],
    ]);
    const ids = created.map((t) => t.id);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(id).not.toBe(ZERO_UUID);
    }

    const md = await admin.metadata({ topics: ['plat-a', 'plat-b', 'plat-c'] });
    expect(md.controllerId).toBe(0);
    expect([...md.brokers.entries()]).toEqual([[0, { host: '127.0.0.1', port: broker.port, rack: null }]]);
    expect(md.id).toBeTruthy(); // cluster id
    for (const t of created) {
      const tm = md.topics.get(t.name)!;
      expect(tm.id).toBe(t.id); // Metadata v12 returns the id CreateTopics v7 assigned
      expect(tm.partitionsCount).toBe(PARTITIONS);
      for (const p of tm.partitions) expect(p).toMatchObject({ leader: 0, replicas: [0], isr: [0] });
    }
    expect(await admin.listTopics()).toEqual(expect.arrayContaining(['plat-a', 'plat-b', 'plat-c']));
  });

  it('deleteTopics removes a topic; re-creating it gives a new topic id', async () => {
    const [first] = await admin.createTopics({ topics: ['plat-recreate'], partitions: 1, replicas: 1 });
    await admin.deleteTopics({ topics: ['plat-recreate'] });
    expect(await admin.listTopics()).not.toContain('plat-recreate');
    const [second] = await admin.createTopics({ topics: ['plat-recreate'], partitions: 2, replicas: 1 });
    expect(second!.id).not.toBe(first!.id);
    expect(second!.partitions).toBe(2);
  });
});

describe('Producer.send (string serializers) → kcat and Consumer.fetch', () => {
  // zstd in this client needs zlib.zstdCompressSync (Node >= 22.15)
  const codecs: (CompressionAlgorithmValue | 'none')[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
  for (const codec of codecs) {
    const clientCan = codec !== 'zstd' || typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
    const name = `compression ${codec}: keys, values, headers, timestamps and murmur2 partitions read back by kcat`;
    const reason = `@platformatic/kafka compresses ${codec} with zlib.zstdCompressSync, which Node ${process.versions.node} lacks (Node >= 22.15 has it)`;
    it(name, skipUnless(clientCan, reason), async () => {
      const topic = `plat-send-${codec}`;
      await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
      const base = 1_700_000_000_000n;
      const messages = Array.from({ length: 20 }, (_, i) => ({
        topic,
        key: `acct-${i % 6}`,
        value: JSON.stringify({ i, codec, pad: 'p'.repeat(i * 4) }),
        headers: { n: String(i), client: 'platformatic' },
        timestamp: base + BigInt(i),
      }));
      const result = await producer.send({
        messages,
        acks: -1,
        partitioner: compatibilityPartitioner, // Java/murmur2 compatible (the default one does not mask the sign bit)
        ...(codec === 'none' ? {} : { compression: codec }),
      });
      // one entry per partition written, with the base offset assigned by the broker (0: empty topic)
      expect((result.offsets ?? []).every((o) => o.topic === topic && o.offset === 0n)).toBe(true);

      const next = new Array<number>(PARTITIONS).fill(0);
      const want = messages
        .map((m) => {
          const partition = partitionForKey(Buffer.from(m.key), PARTITIONS);
          return {
            key: m.key,
            value: m.value,
            headers: `n=${m.headers.n},client=platformatic`,
            offset: next[partition]!++,
            partition,
            timestamp: Number(m.timestamp),
          };
        })
        .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      expect(await kcatReadAll(topic)).toEqual(want);
      expect(new Set(storedCompressionCodes(topic))).toEqual(new Set([CompressionType[codec]]));

      // the client's own view: ListOffsets (latest) and a group-less Fetch v17 by topic id
      const offsets = await consumer.listOffsets({ topics: [topic] });
      expect(offsets.get(topic)).toEqual(next.map((n) => BigInt(n)));

      const md = await admin.metadata({ topics: [topic] });
      const fetched = await consumer.fetch({
        node: 0,
        topics: [
          {
            topicId: md.topics.get(topic)!.id,
            partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: 0n,
              lastFetchedEpoch: -1,
              partitionMaxBytes: 1_048_576,
            })),
          },
        ],
      });
      expect(fetched.errorCode).toBe(0);
      const got: { key: string; value: string; partition: number; offset: number; timestamp: number }[] = [];
      for (const t of fetched.responses) {
        expect(t.topicId).toBe(md.topics.get(topic)!.id);
        for (const p of t.partitions) {
          expect(p.errorCode).toBe(0);
          expect(Number(p.highWatermark)).toBe(next[p.partitionIndex]);
          for (const batch of p.records ?? []) {
            for (const r of batch.records) {
              got.push({
                key: r.key!.toString(),
                value: r.value!.toString(),
                partition: p.partitionIndex,
                offset: Number(batch.firstOffset) + r.offsetDelta,
                timestamp: Number(batch.firstTimestamp + r.timestampDelta),
              });
            }
          }
        }
      }
      got.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
      expect(got).toEqual(want.map(({ headers: _h, ...r }) => r));
    });
  }

  it('acks 0 and 1 also append', async () => {
    const topic = 'plat-acks';
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    await producer.send({ acks: 1, messages: [{ topic, key: 'one', value: 'acks=1', partition: 0 }] });
    await producer.send({ acks: 0, messages: [{ topic, key: 'zero', value: 'acks=0', partition: 0 }] });
    // acks=0 has no response: poll with kcat until the record is there
    let records: KcatRecord[] = [];
    await waitFor(
      async () => {
        records = await kcatReadAll(topic);
        return records.length >= 2;
      },
      { timeoutMs: 15_000, message: 'kcat to read both records' },
    );
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [0, 'one', 'acks=1'],
      [1, 'zero', 'acks=0'],
    ]);
  });

  // Consumer.consume() (a group member's message stream) is exercised in groups.test.ts.
});
