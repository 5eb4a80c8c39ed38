/**
 * The consumer's fetch-ahead and pollEach against an in-process broker: pollEach shows exactly the records poll()
 * returns (offsets, timestamps, keys, values, headers, every codec), a seek drops what was fetched ahead, and the
 * positions a group would commit follow what was handed out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { Producer } from '../../src/client/producer.js';
import { Consumer, type ConsumerRecord } from '../../src/client/consumer.js';
import type { RecordView } from '../../src/client/record-view.js';

let broker: StartedBroker;

beforeAll(async () => {
  broker = await startBroker({ config: { 'num.partitions': '2' } });
});

afterAll(async () => {
  await broker?.stop();
});

type Seen = [number, number, number, string | null, string | null, string];

async function readAll(consumer: Consumer, expected: number, each: boolean): Promise<Seen[]> {
  const seen: Seen[] = [];
  const keep = (r: RecordView | ConsumerRecord): void => {
    seen.push([r.partition, r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null, JSON.stringify(r.headers.map((h) => [h.key, h.value?.toString() ?? null]))]);
  };
  const deadline = Date.now() + 30_000;
  while (seen.length < expected && Date.now() < deadline) {
    if (each) await consumer.pollEach(keep, { maxWaitMs: 200 });
    else for (const r of await consumer.poll({ maxWaitMs: 200 })) keep(r);
  }
  return seen.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

describe('Consumer fetch-ahead and pollEach', () => {
  it('pollEach shows what poll returns, for every codec', async () => {
    for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const topic = `each-${compression}`;
      const producer = new Producer({ bootstrap: broker.bootstrap, compression, lingerMs: 2, batchSize: 4096 });
      for (let i = 0; i < 3000; i++) {
        producer.produce(topic, {
          key: i % 3 === 0 ? null : `k${i}`,
          value: i % 7 === 0 ? null : `value-${i}`,
          headers: i % 5 === 0 ? [{ key: 'h', value: `${i}` }, { key: 'n', value: null }] : undefined,
          timestamp: 1_700_000_000_000 + i,
        });
      }
      await producer.close();
      const a = new Consumer({ bootstrap: broker.bootstrap, maxPartitionBytes: 8192 });
      const b = new Consumer({ bootstrap: broker.bootstrap, maxPartitionBytes: 8192 });
      await a.assignTopic(topic, 'earliest');
      await b.assignTopic(topic, 'earliest');
      const viaEach = await readAll(a, 3000, true);
      const viaPoll = await readAll(b, 3000, false);
      expect(viaEach, compression).toHaveLength(3000);
      expect(viaEach).toEqual(viaPoll);
      expect(new Set(viaEach.map((s) => s[4])).has('value-2999')).toBe(true);
      await a.close();
      await b.close();
    }
  });

  it('drops data fetched ahead when the position moves, and continues from the new position', async () => {
    const topic = 'each-seek';
    const producer = new Producer({ bootstrap: broker.bootstrap, lingerMs: 2 });
    for (let i = 0; i < 2000; i++) producer.produce(topic, { value: `v${i}`, partition: 0 });
    await producer.close();
    const c = new Consumer({ bootstrap: broker.bootstrap, maxPartitionBytes: 4096 });
    c.assign([{ topic, partition: 0, offset: 0 }]);
    const first: number[] = [];
    while (first.length === 0) await c.pollEach((r) => first.push(r.offset), { maxWaitMs: 500 });
    expect(first[0]).toBe(0);
    expect(c.position(topic, 0)).toBe(first[first.length - 1]! + 1);
    // a fetch for the following offsets is on its way or done: seeking must drop it
    c.seek(topic, 0, 1500);
    const after: number[] = [];
    while (after.length < 500) await c.pollEach((r) => after.push(r.offset), { maxWaitMs: 500 });
    expect(after[0]).toBe(1500);
    expect(after).toEqual(Array.from({ length: 500 }, (_, i) => 1500 + i));
    expect(c.position(topic, 0)).toBe(2000);
    await c.close();
  });
});
