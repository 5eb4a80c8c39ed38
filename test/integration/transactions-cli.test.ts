/**
 * The transaction tools against a broker process: `kfk transactions` (list, describe, describe-producers, abort,
 * find-hanging) with Kafka's columns; a hanging transaction (a transactional batch no coordinator knows about) holds
 * the last stable offset until `kfk transactions abort` ends it; `kfk console-consumer --isolation-level`; and
 * `kfk dump-log` showing transaction markers, `.txnindex` entries and decoded `__transaction_state` records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, kcat, kfk, python, registerCleanup, spawnProcess, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { ErrorCode } from '../../src/protocol/errors.js';

registerCleanup();

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBrokerProcess({
    overrides: { 'offsets.topic.num.partitions': '3', 'transaction.state.log.num.partitions': '2', 'num.partitions': '1' },
  });
});

async function ck(mode: string, args: Record<string, unknown>): Promise<void> {
  const r = await python(CK, [mode, JSON.stringify({ bootstrap: broker.bootstrap, ...args })], { timeoutMs: 90_000 });
  expect(r.code, r.stderr).toBe(0);
}

async function txns(...args: string[]): Promise<{ header: string[]; rows: string[][]; stdout: string }> {
  const r = await kfk(['transactions', '--bootstrap-server', broker.bootstrap, ...args]);
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const cells = (l: string) => l.split('\t').slice(0, -1).map((c) => c.trim());
  return { header: cells(lines[0]!), rows: lines.slice(1).map(cells), stdout: r.stdout };
}

describe('kfk transactions', () => {
  it('lists and describes transactions and the producers of a partition', async () => {
    await ck('produce', { transactional_id: 'cli-done', topic: 'cli', transactions: [{ commit: true, values: ['x', 'y'], partition: 0 }] });
    const hang = spawnProcess('/usr/bin/python3', [
      CK,
      'hang',
      JSON.stringify({ bootstrap: broker.bootstrap, transactional_id: 'cli-open', topic: 'cli', values: ['z'], transaction_timeout_ms: 60000, partition: 0 }),
    ]);
    try {
      await hang.waitForOutput('open', { timeoutMs: 60_000 });
      const list = await txns('list');
      expect(list.header).toEqual(['TransactionalId', 'Coordinator', 'ProducerId', 'TransactionState']);
      const byId = new Map(list.rows.map((r) => [r[0], r]));
      expect(byId.get('cli-done')?.[3]).toBe('CompleteCommit');
      expect(byId.get('cli-open')?.[3]).toBe('Ongoing');
      expect(byId.get('cli-open')?.[1]).toBe('0');
      // every column padded to its widest cell, then a tab (Kafka's prettyPrintTable)
      expect(list.stdout.split('\n')[0]).toBe('TransactionalId\tCoordinator\tProducerId\tTransactionState\t');
      expect(list.stdout).toMatch(/^cli-done {7}\t0 {10}\t\d+ *\tCompleteCommit  \t$/m);

      const d = await txns('describe', '--transactional-id', 'cli-open');
      expect(d.header).toEqual([
        'CoordinatorId',
        'TransactionalId',
        'ProducerId',
        'ProducerEpoch',
        'TransactionState',
        'TransactionTimeoutMs',
        'CurrentTransactionStartTimeMs',
        'TransactionDurationMs',
        'TopicPartitions',
      ]);
      expect(d.rows[0]).toMatchObject({ 0: '0', 1: 'cli-open', 4: 'Ongoing', 5: '60000', 8: 'cli-0' });
      expect(Number(d.rows[0]![6])).toBeGreaterThan(0);
      // a completed transaction keeps its start time (as Kafka); an id that never began one has none
      const done = await txns('describe', '--transactional-id', 'cli-done');
      expect(done.rows[0]).toMatchObject({ 4: 'CompleteCommit', 8: '' });
      expect(Number(done.rows[0]![6])).toBeGreaterThan(0);
      await ck('init', { transactional_id: 'cli-empty', transaction_timeout_ms: 30000 });
      expect((await txns('describe', '--transactional-id', 'cli-empty')).rows[0]).toMatchObject({ 1: 'cli-empty', 3: '0', 4: 'Empty', 5: '30000', 6: 'None', 7: 'None', 8: '' });
      const missing = await kfk(['transactions', '--bootstrap-server', broker.bootstrap, 'describe', '--transactional-id', 'nope']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("transactional id 'nope' does not exist");

      const p = await txns('describe-producers', '--topic', 'cli', '--partition', '0');
      expect(p.header).toEqual(['ProducerId', 'ProducerEpoch', 'LatestCoordinatorEpoch', 'LastSequence', 'LastTimestamp', 'CurrentTransactionStartOffset']);
      const openProducer = d.rows[0]![2];
      const doneProducer = done.rows[0]![2];
      const row = (pid: string) => p.rows.find((r) => r[0] === pid)!;
      // cli-done wrote x, y and its COMMIT marker (offsets 0-2); cli-open's record is at 3
      expect(row(doneProducer)).toMatchObject({ 2: '0', 3: '1', 5: 'None' });
      expect(row(openProducer)).toMatchObject({ 2: 'None', 3: '0', 5: '3' });
    } finally {
      await hang.stop('SIGKILL');
    }
  });

  it('finds a hanging transaction, which holds read_committed consumers until it is aborted', async () => {
    const topic = 'hanging';
    const created = await kfk(['topics', '--create', '--topic', topic, '--partitions', '1', '--bootstrap-server', broker.bootstrap]);
    expect(created.code, created.stderr).toBe(0);
    // A transactional batch of a producer no coordinator knows (a coordinator lost, a client bug): it hangs.
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: broker.port });
    try {
      const batch = buildRecordBatch([{ key: null, value: Buffer.from('stuck'), timestamp: Date.now() - 120_000 }], {
        producerId: 424242,
        producerEpoch: 3,
        baseSequence: 0,
        transactional: true,
      });
      const r = await conn.request(0, { transactionalId: null, acks: -1, timeoutMs: 10000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] }, { version: 7 });
      expect(r.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.NONE);
    } finally {
      conn.close();
    }
    const after = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0'], { input: 'after\n' });
    expect(after.code, after.stderr).toBe(0);
    const committedValues = async () => {
      const r = await kfk(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', topic, '--from-beginning', '--isolation-level', 'read_committed', '--timeout-ms', '1500']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    // the hanging transaction holds the last stable offset at its first offset
    expect(await committedValues()).toEqual([]);
    const uncommitted = await kfk(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', topic, '--from-beginning', '--isolation-level', 'read_uncommitted', '--timeout-ms', '1500']);
    expect(uncommitted.stdout.split('\n').filter((l) => l !== '')).toEqual(['stuck', 'after']);

    const found = await txns('find-hanging', '--topic', topic, '--max-transaction-timeout', '1');
    expect(found.header).toEqual(['Topic', 'Partition', 'ProducerId', 'ProducerEpoch', 'CoordinatorEpoch', 'StartOffset', 'LastTimestamp', 'Duration(min)']);
    expect(found.rows).toHaveLength(1);
    expect(found.rows[0]).toMatchObject({ 0: topic, 1: '0', 2: '424242', 3: '3', 4: 'None', 5: '0', 7: '2' });
    // a transaction its coordinator knows is not hanging (cli-open from the first test is Ongoing on its coordinator)
    expect((await txns('find-hanging', '--broker-id', '0', '--max-transaction-timeout', '0')).rows.map((r) => r[0])).toEqual([topic]);

    const aborted = await kfk(['transactions', '--bootstrap-server', broker.bootstrap, 'abort', '--topic', topic, '--partition', '0', '--start-offset', '0']);
    expect(aborted.code, aborted.stderr).toBe(0);
    expect((await txns('find-hanging', '--topic', topic, '--max-transaction-timeout', '0')).rows).toEqual([]);
    await waitFor(async () => (await committedValues()).includes('after'), { timeoutMs: 20_000, message: 'read_committed to move past the aborted transaction' });
    expect(await committedValues()).toEqual(['after']);
    const wrong = await kfk(['transactions', '--bootstrap-server', broker.bootstrap, 'abort', '--topic', topic, '--partition', '0', '--start-offset', '7']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`Could not find any open transactions starting at offset 7 on partition ${topic}-0`);
  });
});

describe('kfk dump-log', () => {
  it('shows transaction markers, .txnindex entries and decoded __transaction_state records', async () => {
    await ck('produce', {
      transactional_id: 'dump-txn',
      topic: 'dump',
      transactions: [
        { commit: false, values: ['a'], partition: 0 },
        { commit: true, values: ['c'], partition: 0 },
      ],
    });
    const dir = path.join(broker.dataDir, 'dump-0');
    const log = path.join(dir, '00000000000000000000.log');
    const r = await kfk(['dump-log', '--files', log, '--print-data-log', '--transaction-index']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| offset: 1 .* endTxnMarker: ABORT coordinatorEpoch: 0/);
    expect(r.stdout).toMatch(/\| offset: 3 .* endTxnMarker: COMMIT coordinatorEpoch: 0/);
    expect(r.stdout).toMatch(/isTransactional: true isControl: true/);
    expect(r.stdout).toMatch(/version: 0 producerId: \d+ firstOffset: 0 lastOffset: 1 lastStableOffset: 2/);
    const idx = await kfk(['dump-log', '--files', path.join(dir, '00000000000000000000.txnindex')]);
    expect(idx.stdout).toMatch(/^version: 0 producerId: \d+ firstOffset: 0 lastOffset: 1 lastStableOffset: 2$/m);

    const stateDirs = fs.readdirSync(broker.dataDir).filter((d) => d.startsWith('__transaction_state-'));
    const dumps = await Promise.all(
      stateDirs.map((d) => kfk(['dump-log', '--transaction-log-decoder', '--files', path.join(broker.dataDir, d, '00000000000000000000.log')])),
    );
    const all = dumps.map((d) => d.stdout).join('\n');
    expect(all).toMatch(/key: transaction_metadata::transactionalId=dump-txn payload: producerId:\d+,producerEpoch:0,state=Ongoing,partitions=\[dump-0\],txnLastUpdateTimestamp=\d+,txnTimeoutMs=60000/);
    expect(all).toMatch(/transactionalId=dump-txn payload: .*state=CompleteAbort,partitions=\[\]/);
    expect(all).toMatch(/transactionalId=dump-txn payload: .*state=PrepareCommit,partitions=\[dump-0\]/);
  });
});
