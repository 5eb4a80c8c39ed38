/**
 * The kfk client library's transactions (src/client/producer.ts, transaction-manager.ts) and its consumer's
 * isolation.level, on a broker from startBroker(): the transactional producer commits, aborts and sends offsets to a
 * transaction, and kcat (librdkafka) reading with read_committed / read_uncommitted sees what it should; a second
 * instance with the same transactional id fences the first; and kfk's consumer with read_committed skips the aborted
 * transactions a confluent-kafka producer wrote.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { createAdmin, createConsumer, createProducer, type IsolationLevel, type Producer } from '../../src/client/index.js';
import { REPO_ROOT, kcat, python, waitFor } from '../helpers/index.js';

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');

let broker: StartedBroker;
beforeAll(async () => {
  broker = await startBroker({ config: { 'num.partitions': '1' } });
});
afterAll(async () => {
  await broker?.stop();
});

async function kcatValues(topic: string, isolation: IsolationLevel): Promise<string[]> {
  const r = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-X', `isolation.level=${isolation}`, '-f', '%s\n']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

async function kfkValues(topic: string, isolationLevel: IsolationLevel, expected: number): Promise<string[]> {
  const consumer = createConsumer({ bootstrap: broker.bootstrap, isolationLevel });
  try {
    consumer.assign([{ topic, partition: 0, offset: 0 }]);
    const out: string[] = [];
    await waitFor(
      async () => {
        for (const r of await consumer.poll({ maxWaitMs: 500 })) out.push(r.value!.toString());
        return out.length >= expected;
      },
      { timeoutMs: 20_000, message: `${expected} records with ${isolationLevel}` },
    );
    return out;
  } finally {
    await consumer.close();
  }
}

describe('the kfk transactional producer', () => {
  it('commits, aborts and commits offsets with a transaction; kcat sees exactly what was committed', async () => {
    const producer = createProducer({ bootstrap: broker.bootstrap, transactionalId: 'kfk-txn', lingerMs: 2 });
    try {
      await producer.initTransactions();
      producer.beginTransaction();
      await Promise.all(['c1', 'c2', 'c3'].map((v) => producer.send('kfk-txn', { key: 'k', value: v })));
      await producer.commitTransaction();

      producer.beginTransaction();
      for (const v of ['a1', 'a2']) producer.produce('kfk-txn', { key: 'k', value: v });
      await producer.abortTransaction();

      producer.beginTransaction();
      producer.produce('kfk-txn', { key: 'k', value: 'c4' });
      await producer.sendOffsetsToTransaction([{ topic: 'kfk-txn', partition: 0, offset: 17 }], 'kfk-txn-group');
      // not visible before the commit
      const admin = createAdmin({ bootstrap: broker.bootstrap });
      try {
        expect((await admin.listGroupOffsets('kfk-txn-group', [{ topic: 'kfk-txn', partition: 0 }]))[0]?.offset ?? -1).toBe(-1);
        await producer.commitTransaction();
        expect((await admin.listGroupOffsets('kfk-txn-group', [{ topic: 'kfk-txn', partition: 0 }]))[0]?.offset).toBe(17);
      } finally {
        await admin.close();
      }
      // nothing sent: nothing to end on the coordinator
      producer.beginTransaction();
      await producer.commitTransaction();
      expect(() => producer.produce('kfk-txn', { value: 'outside' })).not.toThrow(); // reported through the callback
      await expect(producer.send('kfk-txn', { value: 'outside' })).rejects.toThrow(/beginTransaction/);
    } finally {
      await producer.close();
    }
    expect(await kcatValues('kfk-txn', 'read_committed')).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(await kcatValues('kfk-txn', 'read_uncommitted')).toEqual(['c1', 'c2', 'c3', 'a1', 'a2', 'c4']);
    expect(await kfkValues('kfk-txn', 'read_committed', 4)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('is fenced by a newer instance of its transactional id', async () => {
    const first = createProducer({ bootstrap: broker.bootstrap, transactionalId: 'kfk-zombie', lingerMs: 0 });
    let second: Producer | null = null;
    try {
      await first.initTransactions();
      first.beginTransaction();
      await first.send('kfk-zombie', { value: 'zombie' });
      second = createProducer({ bootstrap: broker.bootstrap, transactionalId: 'kfk-zombie', lingerMs: 0 });
      await second.initTransactions(); // aborts the first one's transaction and bumps the epoch
      await expect(first.commitTransaction()).rejects.toThrow(/fenced|epoch/i);
      await expect(first.send('kfk-zombie', { value: 'late' })).rejects.toThrow(/fenced|epoch/i);
      second.beginTransaction();
      await second.send('kfk-zombie', { value: 'fresh' });
      await second.commitTransaction();
    } finally {
      await first.close().catch(() => undefined); // fenced: its close has nothing left to send
      await second?.close();
    }
    expect(await kcatValues('kfk-zombie', 'read_committed')).toEqual(['fresh']);
  });
});

describe('the kfk consumer with isolation.level', () => {
  it('skips the aborted transactions of a confluent-kafka producer with read_committed', async () => {
    const r = await python(
      CK,
      [
        'produce',
        JSON.stringify({
          bootstrap: broker.bootstrap,
          transactional_id: 'ck-for-kfk',
          topic: 'ck-for-kfk',
          transactions: [
            { commit: true, values: ['one', 'two'], partition: 0 },
            { commit: false, values: ['gone'], partition: 0 },
            { commit: true, values: ['three'], partition: 0 },
          ],
        }),
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await kfkValues('ck-for-kfk', 'read_committed', 3)).toEqual(['one', 'two', 'three']);
    expect(await kfkValues('ck-for-kfk', 'read_uncommitted', 4)).toEqual(['one', 'two', 'gone', 'three']);
  });
});
