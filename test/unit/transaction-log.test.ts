/**
 * Transactions in one partition log (src/log/producer-state.ts, transaction-index.ts, log.ts): transactional batches
 * open a producer's transaction and COMMIT/ABORT markers close it; the first unstable offset; aborted transactions in
 * `.txnindex` files in Kafka's 34-byte format, found across segments for read_committed fetches; the state surviving
 * snapshots, clean and unclean restarts (the index rebuilt by recovery) and truncation; the epoch checks on markers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { buildTxnMarkerBatch, readControlRecord, CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT } from '../../src/protocol/control-records.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { Log } from '../../src/log/log.js';
import { ABORTED_TXN_ENTRY_SIZE, decodeAbortedTxns } from '../../src/log/transaction-index.js';

let dir: string;
beforeEach(async () => {
  dir = path.join(await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-txn-log-')), 't-0');
});
afterEach(async () => {
  await fs.promises.rm(path.dirname(dir), { recursive: true, force: true });
});

function data(pid: number, epoch: number, seq: number, count = 1, transactional = true): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: Buffer.from('k'), value: Buffer.from(`v${seq + i}`), timestamp: 1_000 + i })),
    { producerId: pid, producerEpoch: epoch, baseSequence: seq, transactional },
  );
}

function marker(pid: number, epoch: number, commit: boolean, coordinatorEpoch = 0): Buffer {
  return buildTxnMarkerBatch({ producerId: pid, producerEpoch: epoch, coordinatorEpoch, commit, timestamp: 2_000 });
}

function expectCode(fn: () => unknown, code: number): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KafkaError);
    expect((e as KafkaError).code).toBe(code);
    return;
  }
  throw new Error(`expected KafkaError ${code}`);
}

const txnIndexFile = (base: number) => path.join(dir, `${String(base).padStart(20, '0')}.txnindex`);

describe('control records', () => {
  it('are one uncompressed record: key version 0 + type, value version 0 + coordinator epoch', () => {
    const b = marker(7, 3, true, 12);
    expect(readControlRecord(b)).toEqual({ type: CONTROL_TYPE_COMMIT, coordinatorEpoch: 12 });
    expect(readControlRecord(marker(7, 3, false, 0))).toEqual({ type: CONTROL_TYPE_ABORT, coordinatorEpoch: 0 });
    expect(b.readInt16BE(21) & 0x30).toBe(0x30); // control and transactional bits
    expect(b.readInt32BE(53)).toBe(-1); // base sequence
    expect(readControlRecord(data(7, 3, 0))).toBeNull(); // a data batch
  });
});

describe('Log with transactions', () => {
  it('tracks open transactions as the first unstable offset and completes them with markers', async () => {
    const log = await Log.open(dir);
    log.append(data(1, 0, 0, 2)); // 0-1: producer 1 opens a transaction
    log.append(data(-1, -1, -1, 1, false)); // 2: plain record
    log.append(data(2, 0, 0, 1)); // 3: producer 2 opens one
    expect(log.firstUnstableOffset).toBe(0);
    expect(log.producerState.ongoingTransactions()).toEqual([
      { producerId: 1, firstOffset: 0 },
      { producerId: 2, firstOffset: 3 },
    ]);
    log.append(data(1, 0, 2, 1)); // 4: more of producer 1's transaction
    log.append(marker(1, 0, true), 0, false, 'coordinator'); // 5: commit
    // Completed, but its marker is not below the high watermark yet: still unstable until the HW passes 5.
    expect(log.firstUnstableOffset).toBe(0);
    log.onHighWatermarkUpdated(6);
    expect(log.firstUnstableOffset).toBe(3);
    log.append(marker(2, 0, false), 0, false, 'coordinator'); // 6: abort
    log.onHighWatermarkUpdated(7);
    expect(log.firstUnstableOffset).toBe(-1);
    expect(log.producerState.entry(2)).toMatchObject({ currentTxnFirstOffset: -1, coordinatorEpoch: 0 });
    // Only the abort is indexed, with the last stable offset once it completed (no other open transaction: 7).
    expect(log.collectAbortedTransactions(0, 7)).toEqual([{ producerId: 2, firstOffset: 3, lastOffset: 6, lastStableOffset: 7 }]);
    await log.close();
    // Kafka's .txnindex layout: int16 version 0, then producerId, firstOffset, lastOffset, lastStableOffset (int64s).
    const bytes = fs.readFileSync(txnIndexFile(0));
    expect(bytes.length).toBe(ABORTED_TXN_ENTRY_SIZE);
    expect(bytes.readInt16BE(0)).toBe(0);
    expect([2, 10, 18, 26].map((p) => Number(bytes.readBigInt64BE(p)))).toEqual([2, 3, 6, 7]);
  });

  it("indexes an abort's last stable offset at another producer's open transaction", async () => {
    const log = await Log.open(dir);
    log.append(data(1, 0, 0)); // 0
    log.append(data(2, 0, 0)); // 1
    log.append(marker(2, 0, false), 0, false, 'coordinator'); // 2
    expect(log.collectAbortedTransactions(0, 3)).toEqual([{ producerId: 2, firstOffset: 1, lastOffset: 2, lastStableOffset: 0 }]);
    await log.close();
  });

  it('finds aborted transactions whose markers are in later segments, and stops at an entry whose last stable offset covers the range', async () => {
    const log = await Log.open(dir, { config: { segmentBytes: 200 } });
    log.append(data(1, 0, 0, 2)); // 0-1 in segment 0
    while (log.segments.length < 2) log.append(data(-1, -1, -1, 1, false));
    const markerOffset = log.logEndOffset;
    log.append(marker(1, 0, false), 0, false, 'coordinator'); // abort, in a later segment
    expect(log.activeSegment.baseOffset).toBeGreaterThan(0);
    expect(log.collectAbortedTransactions(0, 2)).toEqual([{ producerId: 1, firstOffset: 0, lastOffset: markerOffset, lastStableOffset: markerOffset + 1 }]);
    // A fetch past the transaction's data does not get it.
    expect(log.collectAbortedTransactions(markerOffset + 1, markerOffset + 5)).toEqual([]);
    // A fetch below its first offset whose upper bound is before it does not either.
    expect(log.segments[0]!.txnIndex.isEmpty).toBe(true);
    await log.close();
  });

  it('refuses markers of an older producer epoch or coordinator epoch', async () => {
    const log = await Log.open(dir);
    log.append(data(1, 3, 0));
    expectCode(() => log.append(marker(1, 2, true), 0, false, 'coordinator'), ErrorCode.INVALID_PRODUCER_EPOCH);
    log.append(marker(1, 3, true, 5), 0, false, 'coordinator');
    log.append(data(1, 3, 1));
    expectCode(() => log.append(marker(1, 3, true, 4), 0, false, 'coordinator'), ErrorCode.TRANSACTION_COORDINATOR_FENCED);
    // A fencing coordinator aborts with a bumped epoch: the producer's old epoch is refused from then on, and its
    // next epoch starts at sequence 0.
    log.append(marker(1, 4, false, 5), 0, false, 'coordinator');
    expectCode(() => log.append(data(1, 3, 2)), ErrorCode.INVALID_PRODUCER_EPOCH);
    expectCode(() => log.append(data(1, 4, 5)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(log.append(data(1, 4, 0)).baseOffset).toBe(log.logEndOffset - 1);
    await log.close();
  });

  it('carries open transactions and coordinator epochs through snapshots and a clean restart', async () => {
    const log = await Log.open(dir, { config: { segmentBytes: 150 } });
    log.append(data(9, 0, 0)); // 0: opens
    log.append(marker(8, 0, true, 7), 0, false, 'coordinator'); // a producer known only from its marker
    while (log.segments.length < 3) log.append(data(-1, -1, -1, 1, false));
    await log.close();
    const reopened = await Log.open(dir, { config: { segmentBytes: 150 }, hadCleanShutdown: true, recoveryPoint: log.logEndOffset });
    expect(reopened.producerState.ongoingTransactions()).toEqual([{ producerId: 9, firstOffset: 0 }]);
    expect(reopened.firstUnstableOffset).toBe(0);
    expect(reopened.producerState.entry(8)).toMatchObject({ coordinatorEpoch: 7, currentTxnFirstOffset: -1 });
    reopened.append(marker(9, 0, false), 0, false, 'coordinator');
    expect(reopened.collectAbortedTransactions(0, reopened.logEndOffset)).toEqual([
      { producerId: 9, firstOffset: 0, lastOffset: reopened.logEndOffset - 1, lastStableOffset: reopened.logEndOffset },
    ]);
    await reopened.close();
  });

  it('rebuilds the .txnindex of recovered segments after an unclean shutdown', async () => {
    const cfg = { segmentBytes: 180 };
    const log = await Log.open(dir, { config: cfg });
    log.append(data(1, 0, 0)); // 0
    log.append(marker(1, 0, false), 0, false, 'coordinator'); // 1: abort in segment 0
    while (log.segments.length < 2) log.append(data(-1, -1, -1, 1, false));
    const secondBase = log.activeSegment.baseOffset;
    log.append(data(2, 0, 0)); // opens in segment 1
    const firstOfTwo = log.logEndOffset - 1;
    log.append(marker(2, 0, false), 0, false, 'coordinator');
    const markerSegment = log.activeSegment.baseOffset;
    const expected = log.collectAbortedTransactions(0, log.logEndOffset);
    expect(expected).toHaveLength(2);
    await log.flush();
    log.closeWithoutFlush();
    // The crash lost the index of the segment holding the second abort; the segments from the recovery point on are
    // re-validated and their indexes rebuilt (the first segment's is trusted).
    fs.rmSync(txnIndexFile(markerSegment));
    const reopened = await Log.open(dir, { config: cfg, hadCleanShutdown: false, recoveryPoint: secondBase });
    expect(reopened.collectAbortedTransactions(0, reopened.logEndOffset)).toEqual(expected);
    expect(decodeAbortedTxns(fs.readFileSync(txnIndexFile(markerSegment)))).toEqual([expected[1]]);
    expect(expected[1]!.firstOffset).toBe(firstOfTwo);
    await reopened.close();
  });

  it('drops index entries and open transactions past a truncation point', async () => {
    const log = await Log.open(dir);
    log.append(data(1, 0, 0)); // 0
    log.append(marker(1, 0, false), 0, false, 'coordinator'); // 1
    log.append(data(2, 0, 0)); // 2
    log.append(marker(2, 0, false), 0, false, 'coordinator'); // 3
    await log.truncateTo(3);
    expect(log.collectAbortedTransactions(0, 10)).toEqual([{ producerId: 1, firstOffset: 0, lastOffset: 1, lastStableOffset: 2 }]);
    expect(log.producerState.ongoingTransactions()).toEqual([{ producerId: 2, firstOffset: 2 }]);
    await log.truncateTo(2);
    expect(log.producerState.ongoingTransactions()).toEqual([]);
    expect(log.firstUnstableOffset).toBe(-1);
    await log.close();
    expect(fs.statSync(txnIndexFile(0)).size).toBe(ABORTED_TXN_ENTRY_SIZE);
  });

  it('forgets producers idle past producer.id.expiration.ms, but never one with an open transaction', async () => {
    const log = await Log.open(dir);
    log.append(data(1, 0, 0, 1, false)); // timestamps 1000
    log.append(data(2, 0, 0)); // open transaction
    expect(log.removeExpiredProducers(1_000 + 10_000, 10_000)).toBe(1);
    expect(log.producerState.entry(1)).toBeUndefined();
    expect(log.producerState.entry(2)).toBeDefined();
    await log.close();
  });
});
