/**
 * The transaction coordinator's state machine (src/transaction/transaction-coordinator.ts) over an in-memory
 * __transaction_state and a marker channel the test completes by hand: Kafka's answers for InitProducerId (epoch
 * bumps, KIP-360's expected epoch, fencing an open transaction), AddPartitionsToTxn, EndTxn (retries, wrong states,
 * CONCURRENT_TRANSACTIONS while markers are written), the records written in Kafka's layout, a reload resuming
 * PrepareCommit, timed-out transactions aborted with a bumped epoch, and expired transactional ids tombstoned.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import type { AppendResult, FetchResult } from '../../src/replication/replica-manager.js';
import { TransactionCoordinator, type TransactionStateLog } from '../../src/transaction/transaction-coordinator.js';
import { decodeTransactionLogKey, decodeTransactionLogValue, transactionLogKey, transactionLogValue, transactionStatePartitionFor } from '../../src/transaction/transaction-log.js';
import type { MarkerJob } from '../../src/transaction/txn-marker-channel.js';

const PARTITIONS = 1;

/** __transaction_state in memory: each partition a list of batches. */
class MemoryLog implements TransactionStateLog {
  readonly batches = new Map<number, Buffer[]>();
  fail: number | null = null;

  appendRecords(_topic: string, partition: number, records: Buffer | null): AppendResult {
    if (this.fail !== null) return { errorCode: this.fail, baseOffset: -1, logAppendTime: -1, logStartOffset: 0 };
    const list = this.batches.get(partition) ?? [];
    this.batches.set(partition, list);
    list.push(records!);
    return { errorCode: ErrorCode.NONE, baseOffset: list.length - 1, logAppendTime: -1, logStartOffset: 0 };
  }

  async fetchPartition(_topic: string, partition: number, offset: number): Promise<FetchResult> {
    const list = this.batches.get(partition) ?? [];
    const rest = list.slice(offset).map((b, i) => {
      const copy = Buffer.from(b);
      copy.writeBigInt64BE(BigInt(offset + i), 0);
      return copy;
    });
    return { errorCode: ErrorCode.NONE, highWatermark: list.length, lastStableOffset: list.length, logStartOffset: 0, records: rest.length === 0 ? null : Buffer.concat(rest) };
  }

  /** Every record written, as (transactional id, state or null for a tombstone). */
  records(): { id: string | null; state: string | null; epoch: number | null }[] {
    const out = [];
    for (const b of this.batches.get(0) ?? []) {
      for (const r of decodeRecordBatches(b)[0]!.records) {
        const v = r.value === null ? null : decodeTransactionLogValue(r.value);
        out.push({ id: decodeTransactionLogKey(r.key!), state: v?.state ?? null, epoch: v?.producerEpoch ?? null });
      }
    }
    return out;
  }
}

function setup(opts: { now?: () => number; expirationMs?: number } = {}) {
  const log = new MemoryLog();
  const jobs: MarkerJob[] = [];
  let nextId = 100;
  const make = (epoch = 0) =>
    new TransactionCoordinator({
      brokerId: 0,
      log,
      numPartitions: () => PARTITIONS,
      producerIds: { generateProducerId: async () => nextId++ },
      markers: { add: (j) => void jobs.push(j) },
      config: { transactionMaxTimeoutMs: 60_000, abortTimedOutTransactionsIntervalMs: 3_600_000, transactionalIdExpirationMs: opts.expirationMs ?? 604_800_000 },
      ...(opts.now ? { time: opts.now } : {}),
    });
  return { log, jobs, make };
}

/** Lets the background Complete write run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('TransactionCoordinator', () => {
  it('hands out a producer id, bumps the epoch on every InitProducerId, and refuses bad timeouts', async () => {
    const { make } = setup();
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 0]]));
    expect(await tc.initProducerId('t', 70_000, null)).toMatchObject({ errorCode: ErrorCode.INVALID_TRANSACTION_TIMEOUT });
    expect(await tc.initProducerId('t', 0, null)).toMatchObject({ errorCode: ErrorCode.INVALID_TRANSACTION_TIMEOUT });
    expect(await tc.initProducerId('', 1000, null)).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
    expect(await tc.initProducerId('t', 60_000, null)).toEqual({ errorCode: ErrorCode.NONE, producerId: 100, producerEpoch: 0 });
    expect(await tc.initProducerId('t', 60_000, null)).toEqual({ errorCode: ErrorCode.NONE, producerId: 100, producerEpoch: 1 });
    // KIP-360: the current epoch is bumped; a retry with the previous one gets the same answer; others are fenced
    expect(await tc.initProducerId('t', 60_000, { producerId: 100, producerEpoch: 1 })).toMatchObject({ producerId: 100, producerEpoch: 2 });
    expect(await tc.initProducerId('t', 60_000, { producerId: 100, producerEpoch: 1 })).toMatchObject({ producerId: 100, producerEpoch: 2 });
    expect(await tc.initProducerId('t', 60_000, { producerId: 100, producerEpoch: 0 })).toMatchObject({ errorCode: ErrorCode.PRODUCER_FENCED });
    expect(await tc.initProducerId('t', 60_000, { producerId: 7, producerEpoch: 2 })).toMatchObject({ errorCode: ErrorCode.PRODUCER_FENCED });
    tc.close();
  });

  it('answers NOT_COORDINATOR for ids of partitions it does not own', async () => {
    const { make } = setup();
    const tc = make();
    expect(await tc.initProducerId('t', 1000, null)).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    expect(tc.describe('t').errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    tc.close();
  });

  it('runs a transaction: AddPartitions, EndTxn, markers, then CompleteCommit; retries and wrong states as Kafka', async () => {
    const { log, jobs, make } = setup();
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 3]]));
    const { producerId, producerEpoch } = await tc.initProducerId('t', 60_000, null);
    expect(await tc.endTransaction('t', producerId, producerEpoch, true)).toBe(ErrorCode.INVALID_TXN_STATE); // Empty
    expect(await tc.addPartitions('t', producerId + 1, producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await tc.addPartitions('t', producerId, producerEpoch + 1, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await tc.addPartitions('t', producerId, producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.NONE);
    expect(await tc.addPartitions('t', producerId, producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.NONE); // already in: nothing written
    expect(await tc.addPartitions('t', producerId, producerEpoch, [{ topic: 'b', partition: 2 }])).toBe(ErrorCode.NONE);
    expect(tc.describe('t')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 2 }] });
    expect(await tc.endTransaction('t', producerId, producerEpoch, true)).toBe(ErrorCode.NONE);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ transactionalId: 't', producerId, producerEpoch, coordinatorEpoch: 3, commit: true });
    // while the markers are written, the producer's next transaction waits
    expect(await tc.addPartitions('t', producerId, producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(await tc.endTransaction('t', producerId, producerEpoch, true)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    // (Kafka checks the pending transition before the state: an abort gets CONCURRENT_TRANSACTIONS here too)
    expect(await tc.endTransaction('t', producerId, producerEpoch, false)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    jobs[0]!.onComplete();
    await settle();
    expect(tc.describe('t')).toMatchObject({ state: 'CompleteCommit', partitions: [] });
    expect(await tc.endTransaction('t', producerId, producerEpoch, true)).toBe(ErrorCode.NONE); // a retried commit
    expect(await tc.endTransaction('t', producerId, producerEpoch, false)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(log.records().map((r) => r.state)).toEqual(['Empty', 'Ongoing', 'Ongoing', 'PrepareCommit', 'CompleteCommit']);
    tc.close();
  });

  it('writes Kafka\'s record layout: key and value version 0, partitions null only in Empty', () => {
    const key = transactionLogKey('my-id');
    expect(key.readInt16BE(0)).toBe(0);
    expect(key.readInt16BE(2)).toBe(5);
    expect(key.subarray(4).toString()).toBe('my-id');
    const t = { producerId: 9, lastProducerId: -1, producerEpoch: 2, lastProducerEpoch: -1, txnTimeoutMs: 1000, partitions: [], txnStartTimestamp: -1, txnLastUpdateTimestamp: 5 };
    const empty = transactionLogValue({ ...t, state: 'Empty' });
    // version, producerId, epoch, timeout, status, partitions (-1 = null), lastUpdate, start
    expect(empty.length).toBe(2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
    expect(empty.readInt16BE(0)).toBe(0);
    expect(empty.readInt8(16)).toBe(0);
    expect(empty.readInt32BE(17)).toBe(-1);
    const ongoing = transactionLogValue({ ...t, state: 'Ongoing', partitions: [{ topic: 'x', partition: 3 }] });
    expect(ongoing.readInt8(16)).toBe(1);
    expect(decodeTransactionLogValue(ongoing)).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'x', partition: 3 }], producerEpoch: 2 });
    expect(transactionStatePartitionFor('polygenelubricants', 50)).toBe(0);
  });

  it('fences an open transaction at InitProducerId: aborts it with a bumped epoch, answers CONCURRENT_TRANSACTIONS, then bumps again', async () => {
    const { jobs, make } = setup();
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 0]]));
    const old = await tc.initProducerId('t', 60_000, null);
    await tc.addPartitions('t', old.producerId, old.producerEpoch, [{ topic: 'a', partition: 1 }]);
    expect(await tc.initProducerId('t', 60_000, null)).toMatchObject({ errorCode: ErrorCode.CONCURRENT_TRANSACTIONS });
    expect(jobs[0]).toMatchObject({ commit: false, producerEpoch: old.producerEpoch + 1 });
    // the zombie can no longer end its transaction
    expect(await tc.endTransaction('t', old.producerId, old.producerEpoch, true)).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await tc.initProducerId('t', 60_000, null)).toMatchObject({ errorCode: ErrorCode.CONCURRENT_TRANSACTIONS }); // markers pending
    jobs[0]!.onComplete();
    await settle();
    expect(await tc.initProducerId('t', 60_000, null)).toEqual({ errorCode: ErrorCode.NONE, producerId: old.producerId, producerEpoch: old.producerEpoch + 2 });
    tc.close();
  });

  it('leaves memory as it was when a write fails, so the client can retry', async () => {
    const { log, make } = setup();
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 0]]));
    const p = await tc.initProducerId('t', 60_000, null);
    log.fail = ErrorCode.NOT_ENOUGH_REPLICAS;
    expect(await tc.addPartitions('t', p.producerId, p.producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(tc.describe('t').state).toBe('Empty');
    log.fail = null;
    expect(await tc.addPartitions('t', p.producerId, p.producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.NONE);
    tc.close();
  });

  it('reloads a partition and resumes a transaction in PrepareCommit at the new coordinator epoch', async () => {
    const { log, jobs, make } = setup();
    const first = make();
    await first.setOwnedPartitions(new Map([[0, 0]]));
    const p = await first.initProducerId('t', 60_000, null);
    await first.addPartitions('t', p.producerId, p.producerEpoch, [{ topic: 'a', partition: 0 }]);
    await first.endTransaction('t', p.producerId, p.producerEpoch, true);
    first.close(); // its broker died before the markers
    expect(jobs[0]!.isCurrent()).toBe(false);
    const second = make();
    await second.setOwnedPartitions(new Map([[0, 1]]));
    expect(jobs).toHaveLength(2);
    expect(jobs[1]).toMatchObject({ transactionalId: 't', commit: true, coordinatorEpoch: 1, partitions: [{ topic: 'a', partition: 0 }] });
    expect(await second.endTransaction('t', p.producerId, p.producerEpoch, true)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    jobs[1]!.onComplete();
    await settle();
    expect(second.describe('t').state).toBe('CompleteCommit');
    expect(log.records().at(-1)).toMatchObject({ id: 't', state: 'CompleteCommit' });
    // losing the partition unloads it
    await second.setOwnedPartitions(new Map());
    expect(second.describe('t').errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    second.close();
  });

  it('aborts transactions open past their timeout with a bumped epoch, and tombstones expired transactional ids', async () => {
    let now = 1_000_000;
    const { log, jobs, make } = setup({ now: () => now, expirationMs: 50_000 });
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 0]]));
    const p = await tc.initProducerId('slow', 10_000, null);
    await tc.addPartitions('slow', p.producerId, p.producerEpoch, [{ topic: 'a', partition: 0 }]);
    now += 10_000;
    expect(await tc.abortTimedOutTransactions()).toBe(0); // not past it yet
    now += 1;
    expect(await tc.abortTimedOutTransactions()).toBe(1);
    expect(jobs[0]).toMatchObject({ commit: false, producerEpoch: p.producerEpoch + 1 });
    jobs[0]!.onComplete();
    await settle();
    expect(tc.describe('slow')).toMatchObject({ state: 'CompleteAbort', producerEpoch: p.producerEpoch + 1 });
    expect(await tc.addPartitions('slow', p.producerId, p.producerEpoch, [{ topic: 'a', partition: 0 }])).toBe(ErrorCode.PRODUCER_FENCED);

    expect(await tc.removeExpiredTransactionalIds()).toBe(0);
    now += 50_000;
    expect(await tc.removeExpiredTransactionalIds()).toBe(1);
    expect(tc.describe('slow').errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    expect(log.records().at(-1)).toEqual({ id: 'slow', state: null, epoch: null });
    // a reload sees the tombstone
    tc.close();
    const again = make();
    await again.setOwnedPartitions(new Map([[0, 1]]));
    expect(again.describe('slow').errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    expect(again.list([], [])).toEqual({ errorCode: ErrorCode.NONE, unknownStateFilters: [], transactions: [] });
    again.close();
  });

  it('skips records of __transaction_state that are not Kafka\'s when loading', async () => {
    const { log, make } = setup();
    const first = make();
    await first.setOwnedPartitions(new Map([[0, 0]]));
    await first.initProducerId('ok', 60_000, null);
    first.close();
    log.appendRecords('__transaction_state', 0, buildRecordBatch([{ key: Buffer.from([0, 0, 0x7f, 0x7f]), value: Buffer.from('x') }, { key: null, value: Buffer.from('y') }]));
    log.appendRecords('__transaction_state', 0, buildRecordBatch([{ key: transactionLogKey('bad-value'), value: Buffer.from([0, 9, 1, 2]) }]));
    const again = make();
    await again.setOwnedPartitions(new Map([[0, 1]]));
    expect(again.describe('ok')).toMatchObject({ errorCode: ErrorCode.NONE, state: 'Empty' });
    expect(again.describe('bad-value').errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    again.close();
  });

  it('lists transactions by state, producer id and duration', async () => {
    let now = 5_000;
    const { make } = setup({ now: () => now });
    const tc = make();
    await tc.setOwnedPartitions(new Map([[0, 0]]));
    const a = await tc.initProducerId('a', 60_000, null);
    const b = await tc.initProducerId('b', 60_000, null);
    await tc.addPartitions('a', a.producerId, a.producerEpoch, [{ topic: 'x', partition: 0 }]);
    now += 2_000;
    const ids = (r: { transactions: { transactionalId: string }[] }) => r.transactions.map((t) => t.transactionalId).sort();
    expect(ids(tc.list([], []))).toEqual(['a', 'b']);
    expect(ids(tc.list(['Ongoing'], []))).toEqual(['a']);
    expect(ids(tc.list([], [b.producerId]))).toEqual(['b']);
    // Kafka's duration filter: now - start > duration; an id that never began a transaction has start -1
    expect(ids(tc.list([], [], 1_000))).toEqual(['a', 'b']);
    expect(ids(tc.list([], [], 5_000))).toEqual(['b']);
    expect(ids(tc.list(['Ongoing'], [], 5_000))).toEqual([]);
    expect(tc.list(['Bogus'], []).unknownStateFilters).toEqual(['Bogus']);
    tc.close();
  });
});
