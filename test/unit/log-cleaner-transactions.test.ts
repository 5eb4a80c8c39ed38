/**
 * Compaction of a log with transactions (src/log/log-cleaner.ts, Kafka's CleanedTransactionMetadata): the batches of
 * aborted transactions are removed and never shadow committed records in the offset map; an ABORT marker stays (with
 * its .txnindex entry) for one more pass after its transaction's batches are gone, and a COMMIT marker while its
 * transaction has batches; markers with nothing left go after delete.retention.ms; nothing at or after an open
 * transaction is cleaned.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch, decodeRecordBatches, type DecodedBatch } from '../../src/protocol/records.js';
import { buildTxnMarkerBatch, CONTROL_TYPE_COMMIT } from '../../src/protocol/control-records.js';
import { Log } from '../../src/log/log.js';
import type { LogConfig } from '../../src/log/log-config.js';
import { cleanLog, cleanableRange } from '../../src/log/log-cleaner.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-cleaner-txn-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

const T = 1_000_000;
const DAY = 86_400_000;
const COMPACT: Partial<LogConfig> = { cleanupPolicy: ['compact'], fileDeleteDelayMs: 0, minCleanableDirtyRatio: 0.01, deleteRetentionMs: DAY };

function txnBatch(pid: number, seq: number, kvs: [string, string][]): Buffer {
  return buildRecordBatch(
    kvs.map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(v), timestamp: T })),
    { producerId: pid, producerEpoch: 0, baseSequence: seq, transactional: true },
  );
}

function plain(kvs: [string, string][]): Buffer {
  return buildRecordBatch(kvs.map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(v), timestamp: T })));
}

function marker(pid: number, commit: boolean): Buffer {
  return buildTxnMarkerBatch({ producerId: pid, producerEpoch: 0, coordinatorEpoch: 0, commit, timestamp: T });
}

async function readAll(log: Log): Promise<DecodedBatch[]> {
  const out: DecodedBatch[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, 1 << 20);
    if (r.records.length === 0) break;
    const batches = decodeRecordBatches(r.records);
    out.push(...batches);
    offset = batches[batches.length - 1]!.lastOffset + 1;
  }
  return out;
}

/** Data records as key=value@offset, markers as COMMIT(pid)@offset / ABORT(pid)@offset. */
function describeLog(batches: DecodedBatch[]): string[] {
  return batches.flatMap((b) => {
    if (b.isControl) {
      const type = b.records[0]!.key!.readInt16BE(2) === CONTROL_TYPE_COMMIT ? 'COMMIT' : 'ABORT';
      return [`${type}(${b.producerId})@${b.baseOffset}`];
    }
    return b.records.map((r) => `${r.key}=${r.value}@${r.offset}`);
  });
}

async function clean(log: Log, now: number): Promise<void> {
  // Everything is replicated: completed transactions are stable (a Partition moves this with its high watermark).
  log.onHighWatermarkUpdated(log.logEndOffset);
  const range = await cleanableRange(log, undefined, now);
  expect(range).not.toBeNull();
  await cleanLog(log, range!, { time: () => now });
}

describe('compaction with transactions', () => {
  it('removes aborted transactions (which never shadow committed records), then their markers in a later pass', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: COMPACT });
    log.append(txnBatch(2, 0, [['a', 'committed-a'], ['d', 'd1']])); // 0-1
    log.append(marker(2, true), 0, false, 'coordinator'); // 2
    log.append(txnBatch(1, 0, [['a', 'aborted-a'], ['b', 'aborted-b']])); // 3-4
    log.append(marker(1, false), 0, false, 'coordinator'); // 5
    log.append(plain([['c', 'c1']])); // 6
    log.roll();
    log.append(plain([['d', 'd2']])); // 7: supersedes d1, in the second segment
    log.roll();
    log.append(plain([['x', 'active']])); // 8: the active segment
    expect(log.collectAbortedTransactions(0, 9)).toEqual([{ producerId: 1, firstOffset: 3, lastOffset: 5, lastStableOffset: 6 }]);

    await clean(log, T + 1000);
    // The aborted batch is gone, its marker stays one more pass with its index entry; 'a' keeps its committed value.
    expect(describeLog(await readAll(log))).toEqual(['a=committed-a@0', 'COMMIT(2)@2', 'ABORT(1)@5', 'c=c1@6', 'd=d2@7', 'x=active@8']);
    expect(log.collectAbortedTransactions(0, 9)).toEqual([{ producerId: 1, firstOffset: 3, lastOffset: 5, lastStableOffset: 6 }]);

    // A day later: the ABORT marker has nothing left (gone); the COMMIT marker still has a batch of its transaction.
    await clean(log, T + DAY + 1000);
    expect(describeLog(await readAll(log))).toEqual(['a=committed-a@0', 'COMMIT(2)@2', 'c=c1@6', 'd=d2@7', 'x=active@8']);
    expect(log.collectAbortedTransactions(0, 9)).toEqual([]);
    await log.close();
    // the recovered log (unclean open) agrees, and its producer state has no open transaction
    const reopened = await Log.open(path.join(tmp, 't-0'), { config: COMPACT, hadCleanShutdown: false });
    expect(reopened.firstUnstableOffset).toBe(-1);
    expect(describeLog(await readAll(reopened))).toEqual(['a=committed-a@0', 'COMMIT(2)@2', 'c=c1@6', 'd=d2@7', 'x=active@8']);
    await reopened.close();
  });

  it('drops a COMMIT marker once none of its transaction is left and delete.retention.ms has passed', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: COMPACT });
    log.append(txnBatch(3, 0, [['k', 'v1']])); // 0
    log.append(marker(3, true), 0, false, 'coordinator'); // 1
    log.append(plain([['k', 'v2']])); // 2: supersedes the transaction's only record
    log.roll();
    log.append(plain([['z', 'active']]));
    await clean(log, T + 1000);
    // the transaction's batch is gone in this pass, which saw it: its marker stays
    expect(describeLog(await readAll(log))).toEqual(['COMMIT(3)@1', 'k=v2@2', 'z=active@3']);
    await clean(log, T + 2000);
    expect(describeLog(await readAll(log))).toEqual(['COMMIT(3)@1', 'k=v2@2', 'z=active@3']); // not yet past delete.retention.ms
    await clean(log, T + DAY + 2000);
    expect(describeLog(await readAll(log))).toEqual(['k=v2@2', 'z=active@3']);
    await log.close();
  });

  it('cleans nothing at or after the first offset of an open transaction', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: COMPACT });
    log.append(plain([['k', 'v1']])); // 0
    log.append(plain([['k', 'v2']])); // 1
    log.roll();
    log.append(txnBatch(4, 0, [['k', 'open']])); // 2: open
    log.roll();
    log.append(plain([['k', 'v3']])); // 3
    log.roll();
    log.append(plain([['y', 'active']]));
    log.onHighWatermarkUpdated(log.logEndOffset);
    const range = await cleanableRange(log, undefined, T + 1000);
    expect(range!.firstUncleanableOffset).toBe(2); // the segment holding the open transaction and all after it wait
    await cleanLog(log, range!, { time: () => T + 1000 });
    expect(describeLog(await readAll(log))).toEqual(['k=v2@1', 'k=open@2', 'k=v3@3', 'y=active@4']);
    // once it commits (and the marker's segment is not the active one), it is cleaned like any other
    log.append(marker(4, true), 0, false, 'coordinator');
    log.roll();
    await clean(log, T + 2000);
    expect(describeLog(await readAll(log))).toEqual(['k=v3@3', 'y=active@4', 'COMMIT(4)@5']);
    await log.close();
  });
});
