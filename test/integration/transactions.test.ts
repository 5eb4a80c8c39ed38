/**
 * Transactions against a kfk broker process, proven by third-party clients: confluent-kafka (librdkafka) and kafkajs
 * transactional producers commit and abort; read_committed consumers (confluent-kafka, kafkajs, kcat) see exactly the
 * committed records and read_uncommitted ones all of them; kafkajs commits consumer offsets in a transaction (visible
 * only once it commits); a zombie producer is fenced by a new instance with its transactional id; an open
 * transaction holds the last stable offset (ListOffsets READ_COMMITTED) while the high watermark moves on; and a
 * transaction.timeout.ms above transaction.max.timeout.ms is refused at InitProducerId.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Transaction } from 'kafkajs';
import { REPO_ROOT, kcat, python, registerCleanup, sleep, spawnProcess, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { ErrorCode } from '../../src/protocol/errors.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');

let broker: BrokerProcess;
let conn: BrokerConnection;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: {
      'num.partitions': '3',
      'offsets.topic.num.partitions': '3',
      'transaction.state.log.num.partitions': '3',
      'transaction.max.timeout.ms': '120000',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port });
});

afterAll(() => conn?.close());

async function ck(mode: string, args: Record<string, unknown>): Promise<unknown> {
  const r = await python(CK, [mode, JSON.stringify({ bootstrap: broker.bootstrap, ...args })], { timeoutMs: 90_000 });
  expect(r.code, `ck_transactions.py ${mode}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** kcat as a third-party consumer: every record of the topic, from the beginning, with that isolation level. */
async function kcatValues(topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<string[]> {
  const r = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-X', `isolation.level=${isolation}`, '-f', '%s\n']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('confluent-kafka transactions', () => {
  it('commits and aborts; read_committed sees exactly the committed records, read_uncommitted all of them', async () => {
    const out = (await ck('produce', {
      transactional_id: 'ck-commit-abort',
      topic: 'ck-txn',
      transactions: [
        { commit: true, values: ['c1', 'c2', 'c3', 'c4'] },
        { commit: false, values: ['a1', 'a2', 'a3'] },
        { commit: true, values: ['c5', 'c6'] },
        { commit: false, values: ['a4'] },
      ],
    })) as { results: string[] };
    expect(out.results).toEqual(['committed', 'aborted', 'committed', 'aborted']);
    const committed = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const all = [...committed, 'a1', 'a2', 'a3', 'a4'];
    const rc = (await ck('consume', { topic: 'ck-txn', isolation: 'read_committed', partitions: 3, expect: committed.length })) as string[];
    expect(rc.sort()).toEqual([...committed].sort());
    const ru = (await ck('consume', { topic: 'ck-txn', isolation: 'read_uncommitted', partitions: 3, expect: all.length })) as string[];
    expect(ru.sort()).toEqual([...all].sort());
    // kcat, another librdkafka application, as a third-party consumer
    expect((await kcatValues('ck-txn', 'read_committed')).sort()).toEqual([...committed].sort());
    expect((await kcatValues('ck-txn', 'read_uncommitted')).sort()).toEqual([...all].sort());
  });

  it('fences a zombie: a new instance of the transactional id aborts the old one\'s transaction, whose commit then fails', async () => {
    const out = (await ck('fence', { transactional_id: 'ck-zombie', topic: 'ck-fence' })) as { a_error: string | null; a_fatal: boolean; b: string };
    expect(out.b).toBe('committed');
    expect(out.a_error).toMatch(/FENCED|INVALID_PRODUCER_EPOCH/);
    expect(out.a_fatal).toBe(true);
    expect(await kcatValues('ck-fence', 'read_committed')).toEqual(['fresh']);
    expect(await kcatValues('ck-fence', 'read_uncommitted')).toContain('zombie');
  });

  it('refuses a transaction.timeout.ms above transaction.max.timeout.ms at InitProducerId', async () => {
    const out = (await ck('init', { transactional_id: 'ck-too-long', transaction_timeout_ms: 120001 })) as { error: { code: string } | null };
    expect(out.error?.code).toBe('INVALID_TRANSACTION_TIMEOUT');
    expect(((await ck('init', { transactional_id: 'ck-long-enough', transaction_timeout_ms: 120000 })) as { error: unknown }).error).toBeNull();
  });
});

describe('an open transaction', () => {
  it('holds the last stable offset (ListOffsets READ_COMMITTED, Fetch) while the high watermark moves on, until it ends', async () => {
    const topic = 'lso';
    const hang = spawnProcess('/usr/bin/python3', [
      CK,
      'hang',
      JSON.stringify({ bootstrap: broker.bootstrap, transactional_id: 'ck-open', topic, values: ['open-1', 'open-2'], transaction_timeout_ms: 60000, partition: 0 }),
    ]);
    await hang.waitForOutput('open', { timeoutMs: 60_000 });
    // a committed record after the open transaction's records (all on partition 0)
    const plain = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0'], { input: 'plain\n' });
    expect(plain.code, plain.stderr).toBe(0);
    const offsets = async (isolationLevel: number) =>
      (await conn.request(2, { replicaId: -1, isolationLevel, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }] }, { version: 5 })).topics[0]
        .partitions[0];
    // The open transaction holds offsets 0-1 of partition 0, the plain record is at 2: LSO 0, high watermark 3.
    expect(await offsets(1)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 0 });
    expect(await offsets(0)).toMatchObject({ errorCode: ErrorCode.NONE, offset: 3 });
    expect((await kcatValues(topic, 'read_uncommitted')).sort()).toEqual(['open-1', 'open-2', 'plain']);
    expect(await kcatValues(topic, 'read_committed')).toEqual([]);
    // The producer dies; its transaction stays open until its timeout (60 s here) or a new instance fences it.
    await hang.stop('SIGKILL');
    const fresh = (await ck('produce', { transactional_id: 'ck-open', topic, transactions: [{ commit: true, values: ['after'], partition: 0 }] })) as { results: string[] };
    expect(fresh.results).toEqual(['committed']);
    await waitFor(async () => (await kcatValues(topic, 'read_committed')).includes('after'), { timeoutMs: 30_000, message: 'read_committed to move past the fenced transaction' });
    const values = await kcatValues(topic, 'read_committed');
    expect(values.filter((v) => v.startsWith('open'))).toEqual([]);
    expect(values).toContain('plain');
    expect((await offsets(1)).offset).toBe((await offsets(0)).offset);
  });
});

/**
 * kafkajs's sendOffsets does not retry CONCURRENT_TRANSACTIONS (Java's producer does): right after a commit or an
 * abort the coordinator still writes the previous transaction's markers (it answers EndTxn once PrepareCommit or
 * PrepareAbort is written, as Kafka does), and on a loaded machine the next AddOffsetsToTxn can come first. An
 * application retries it; so does this test.
 */
async function sendOffsets(t: Transaction, args: Parameters<Transaction['sendOffsets']>[0]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await t.sendOffsets(args);
      return;
    } catch (e) {
      if ((e as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || Date.now() > deadline) throw e;
      await sleep(100); // pacing: the markers of the previous transaction are being written
    }
  }
}

describe('kafkajs transactions', () => {
  it('commits, aborts and sends offsets to the transaction; readUncommitted false/true consumers see what they should', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100 } });
    const producer = kafka.producer({ transactionalId: 'kj-txn', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      let t = await producer.transaction();
      await t.send({ topic: 'kj-txn', messages: [{ key: 'k', value: 'c1' }, { key: 'k', value: 'c2' }] });
      await t.commit();
      t = await producer.transaction();
      await t.send({ topic: 'kj-txn', messages: [{ key: 'k', value: 'a1' }] });
      await t.abort();
      t = await producer.transaction();
      await t.send({ topic: 'kj-txn', messages: [{ key: 'k', value: 'c3' }] });
      await sendOffsets(t, { consumerGroupId: 'kj-txn-group', topics: [{ topic: 'kj-txn', partitions: [{ partition: 0, offset: '42' }] }] });
      await t.commit();
      // offsets sent in an aborted transaction never become visible
      t = await producer.transaction();
      await sendOffsets(t, { consumerGroupId: 'kj-txn-group', topics: [{ topic: 'kj-txn', partitions: [{ partition: 0, offset: '99' }] }] });
      await t.abort();
    } finally {
      await producer.disconnect();
    }
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: 'kj-txn-group', topics: ['kj-txn'] });
      expect(offsets[0]!.partitions.find((p) => p.partition === 0)!.offset).toBe('42');
    } finally {
      await admin.disconnect();
    }
    const read = async (readUncommitted: boolean, expected: number): Promise<string[]> => {
      const consumer = kafka.consumer({ groupId: `kj-txn-reader-${readUncommitted}`, readUncommitted });
      await consumer.connect();
      const got: string[] = [];
      try {
        await consumer.subscribe({ topic: 'kj-txn', fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
        await waitFor(() => got.length >= expected, { timeoutMs: 30_000, message: `${expected} records for readUncommitted=${readUncommitted}` });
      } finally {
        await consumer.disconnect();
      }
      return got.sort();
    };
    expect(await read(false, 3)).toEqual(['c1', 'c2', 'c3']);
    expect(await read(true, 4)).toEqual(['a1', 'c1', 'c2', 'c3']);
    expect((await kcatValues('kj-txn', 'read_committed')).sort()).toEqual(['c1', 'c2', 'c3']);
  });
});
