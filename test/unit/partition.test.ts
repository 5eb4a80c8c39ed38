/**
 * The leader's bookkeeping (Partition.scala's rules) on a real log: high watermark over the (maximal) ISR,
 * lastCaughtUpTimeMs and ISR shrink/expand, acks=all completion, KIP-320 epoch checks; and the follower's
 * truncation point from the leader's epoch answer (KIP-101/279), plus the leader epoch cache's endOffsetFor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Log } from '../../src/log/log.js';
import { LeaderEpochCache } from '../../src/log/leader-epoch-cache.js';
import { Partition, type LeaderAndIsr } from '../../src/replication/partition.js';
import { offsetTruncationState } from '../../src/replication/follower-truncation.js';
import { buildTxnMarkerBatch } from '../../src/protocol/control-records.js';

let tmp: string;
const opened: Log[] = [];
const caches: LeaderEpochCache[] = [];
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-partition-test-'));
});
afterEach(async () => {
  // Closed first: a log writes its leader-epoch-checkpoint in the background.
  for (const log of opened.splice(0)) await log.close();
  for (const cache of caches.splice(0)) await cache.flushed().catch(() => undefined);
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

async function openLog(dir: string): Promise<Log> {
  const log = await Log.open(dir);
  opened.push(log);
  return log;
}

const batch = (n: number) => buildRecordBatch(Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp: 1000 + i })));
const txnBatch = (pid: number, seq: number) =>
  buildRecordBatch([{ key: null, value: Buffer.from('t'), timestamp: 1000 }], { producerId: pid, producerEpoch: 0, baseSequence: seq, transactional: true });

const ME = 0;
const LAG = 10_000;

function state(over: Partial<LeaderAndIsr> = {}): LeaderAndIsr {
  return { leader: ME, leaderEpoch: 1, isr: [0, 1, 2], controllerEpoch: 1, zkVersion: 0, replicas: [0, 1, 2], ...over };
}

async function leaderPartition(over: Partial<LeaderAndIsr> = {}, now = 1000): Promise<Partition> {
  const log = await openLog(path.join(tmp, 't-0'));
  const p = new Partition('t', 0, Buffer.alloc(16, 1), log, ME, 0);
  p.makeLeader(state(over), now);
  return p;
}

describe('Partition as leader', () => {
  it('moves the high watermark to the smallest follower log end offset in the ISR, never backwards', async () => {
    const p = await leaderPartition();
    p.log.append(batch(10), p.leaderEpoch);
    expect(p.maybeIncrementLeaderHW()).toBe(false); // followers not heard from yet hold it at 0
    expect(p.highWatermark).toBe(0);
    expect(p.updateFollowerFetchState(1, 10, 0, 1100, 10).hwIncreased).toBe(false);
    expect(p.highWatermark).toBe(0);
    expect(p.updateFollowerFetchState(2, 4, 0, 1100, 10).hwIncreased).toBe(true);
    expect(p.highWatermark).toBe(4);
    p.updateFollowerFetchState(2, 10, 0, 1200, 10);
    expect(p.highWatermark).toBe(10);
    // A follower going back (it truncated) does not take the high watermark with it.
    p.updateFollowerFetchState(2, 3, 0, 1300, 10);
    expect(p.highWatermark).toBe(10);
  });

  it('alone in the ISR, its own log end offset is the high watermark', async () => {
    const p = await leaderPartition({ isr: [ME] });
    p.log.append(batch(3), p.leaderEpoch);
    expect(p.maybeIncrementLeaderHW()).toBe(true);
    expect(p.highWatermark).toBe(3);
  });

  it('records the new epoch at its log end offset in the leader epoch cache', async () => {
    const p = await leaderPartition({ leaderEpoch: 1, isr: [ME] });
    p.log.append(batch(5), p.leaderEpoch);
    p.makeLeader(state({ leaderEpoch: 4, isr: [ME], zkVersion: 1 }), 2000);
    expect(p.leaderEpochStartOffset).toBe(5);
    expect(p.log.leaderEpochCache.epochEntries).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 4, startOffset: 5 },
    ]);
  });

  it('shrinks the ISR only for followers that have not caught up within replica.lag.time.max.ms', async () => {
    const p = await leaderPartition({}, 0);
    p.log.append(batch(5), p.leaderEpoch);
    p.updateFollowerFetchState(1, 5, 0, 100, 5); // caught up at 100
    p.updateFollowerFetchState(2, 5, 0, 100, 5);
    p.log.append(batch(5), p.leaderEpoch); // LEO 10
    p.updateFollowerFetchState(1, 10, 0, 200, 10); // broker 1 keeps up, broker 2 stops fetching
    expect(p.prepareIsrShrink(100 + LAG, LAG)).toBeNull();
    const change = p.prepareIsrShrink(100 + LAG + 1, LAG);
    expect(change).toMatchObject({ kind: 'shrink', isr: [0, 1], leaderEpoch: 1, zkVersion: 0 });
    // One change at a time.
    expect(p.prepareIsrShrink(200 + LAG * 2, LAG)).toBeNull();
  });

  it('keeps a silent follower that has everything in the ISR (nothing to lag behind)', async () => {
    const p = await leaderPartition({}, 0);
    p.log.append(batch(5), p.leaderEpoch);
    p.updateFollowerFetchState(1, 5, 0, 100, 5);
    p.updateFollowerFetchState(2, 5, 0, 100, 5);
    expect(p.prepareIsrShrink(100 + LAG * 10, LAG)).toBeNull();
  });

  it('counts a follower as caught up as of its previous fetch when it now has what the leader had then', async () => {
    const p = await leaderPartition({}, 0);
    p.log.append(batch(5), p.leaderEpoch);
    p.updateFollowerFetchState(1, 3, 0, 1000, 5); // behind; the leader had 5 then
    expect(p.replicaState(1)!.lastCaughtUpTimeMs).toBe(0);
    p.log.append(batch(5), p.leaderEpoch);
    p.updateFollowerFetchState(1, 5, 0, 2000, 10); // has the 5 of its previous fetch: caught up as of 1000
    expect(p.replicaState(1)!.lastCaughtUpTimeMs).toBe(1000);
  });

  it('computes the high watermark with the larger ISR while a shrink is written, the new one once committed', async () => {
    const p = await leaderPartition({}, 0);
    p.log.append(batch(10), p.leaderEpoch);
    p.updateFollowerFetchState(1, 10, 0, 100, 10);
    p.updateFollowerFetchState(2, 2, 0, 100, 10);
    expect(p.highWatermark).toBe(2);
    const change = p.prepareIsrShrink(100 + LAG + 1, LAG)!;
    expect(change.isr).toEqual([0, 1]);
    expect(p.maybeIncrementLeaderHW()).toBe(false); // a zombie whose write fails must not advance on [0,1]
    expect(p.highWatermark).toBe(2);
    expect(p.completeIsrChange(change, { committed: true, zkVersion: 1 })).toBe(true);
    expect(p.isr).toEqual([0, 1]);
    expect(p.highWatermark).toBe(10);
  });

  it('keeps its ISR and high watermark when the registry refuses the shrink', async () => {
    const p = await leaderPartition({}, 0);
    p.log.append(batch(10), p.leaderEpoch);
    p.updateFollowerFetchState(1, 10, 0, 100, 10);
    p.updateFollowerFetchState(2, 2, 0, 100, 10);
    const change = p.prepareIsrShrink(100 + LAG + 1, LAG)!;
    expect(p.completeIsrChange(change, { committed: false })).toBe(false);
    expect(p.isr).toEqual([0, 1, 2]);
    expect(p.highWatermark).toBe(2);
  });

  it('expands the ISR for a follower at the high watermark and past the start of the current epoch', async () => {
    const log = await openLog(path.join(tmp, 't-0'));
    log.append(batch(4), 0);
    const p = new Partition('t', 0, Buffer.alloc(16, 1), log, ME, 4);
    p.makeLeader(state({ isr: [0, 1], leaderEpoch: 2 }), 0); // epoch 2 starts at 4
    p.log.append(batch(4), p.leaderEpoch); // LEO 8
    p.updateFollowerFetchState(1, 8, 0, 10, 8);
    expect(p.highWatermark).toBe(8);
    // Broker 2 below the high watermark: not yet.
    expect(p.updateFollowerFetchState(2, 6, 0, 20, 8).isrExpand).toBeNull();
    const u = p.updateFollowerFetchState(2, 8, 0, 30, 8);
    expect(u.isrExpand).toMatchObject({ kind: 'expand', isr: [0, 1, 2] });
    // In flight, the new member already holds the high watermark.
    expect(p.maximalIsr).toEqual([0, 1, 2]);
    p.log.append(batch(2), p.leaderEpoch);
    p.updateFollowerFetchState(1, 10, 0, 40, 10);
    expect(p.highWatermark).toBe(8);
  });

  it('answers acks=all once the high watermark passes the batch, NOT_ENOUGH_REPLICAS_AFTER_APPEND below min.insync.replicas', async () => {
    const p = await leaderPartition({ isr: [0, 1] });
    p.minInsyncReplicas = 2;
    p.log.append(batch(3), p.leaderEpoch);
    expect(p.checkEnoughReplicasReachOffset(3)).toEqual({ done: false, errorCode: ErrorCode.NONE });
    p.updateFollowerFetchState(1, 3, 0, 1100, 3);
    expect(p.checkEnoughReplicasReachOffset(3)).toEqual({ done: true, errorCode: ErrorCode.NONE });
    p.makeLeader(state({ isr: [0], leaderEpoch: 2, zkVersion: 1 }), 2000);
    expect(p.checkEnoughReplicasReachOffset(3)).toEqual({ done: true, errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND });
    p.makeFollower(state({ leader: 1, leaderEpoch: 3, zkVersion: 2 }));
    expect(p.checkEnoughReplicasReachOffset(3)).toEqual({ done: true, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
  });

  it('checks current_leader_epoch as KIP-320 says', async () => {
    const p = await leaderPartition({ leaderEpoch: 5 });
    expect(p.checkLeaderEpoch(-1)).toBe(ErrorCode.NONE);
    expect(p.checkLeaderEpoch(5)).toBe(ErrorCode.NONE);
    expect(p.checkLeaderEpoch(4)).toBe(ErrorCode.FENCED_LEADER_EPOCH);
    expect(p.checkLeaderEpoch(6)).toBe(ErrorCode.UNKNOWN_LEADER_EPOCH);
  });
});

describe('Partition as follower', () => {
  it('takes min(leader high watermark, own log end offset) and says when leader or epoch changed', async () => {
    const log = await openLog(path.join(tmp, 't-0'));
    const p = new Partition('t', 0, Buffer.alloc(16, 1), log, ME, 0);
    expect(p.makeFollower(state({ leader: 1 }))).toBe(true);
    expect(p.makeFollower(state({ leader: 1, zkVersion: 3 }))).toBe(false);
    log.appendAsFollower(Object.assign(batch(5), {}));
    expect(p.updateFollowerHighWatermark(9)).toBe(true);
    expect(p.highWatermark).toBe(5);
    expect(p.makeFollower(state({ leader: 2, leaderEpoch: 2 }))).toBe(true);
  });
});

describe('follower truncation (KIP-101, KIP-279)', () => {
  /** A follower whose epochs start at the given offsets, ending at logEndOffset. */
  async function follower(entries: [number, number][], logEndOffset: number) {
    const dir = path.join(tmp, `f-${entries.length}-${logEndOffset}`);
    fs.mkdirSync(dir);
    const cache = await LeaderEpochCache.load(dir);
    caches.push(cache);
    for (const [epoch, start] of entries) cache.assign(epoch, start);
    return { logEndOffset, endOffsetFor: (e: number) => ((r) => ({ leaderEpoch: r.epoch, endOffset: r.endOffset }))(cache.endOffsetFor(e, logEndOffset)) };
  }

  it('keeps everything when the leader has the same epoch ending later', async () => {
    const f = await follower([[0, 0], [1, 10]], 15);
    expect(offsetTruncationState({ leaderEpoch: 1, endOffset: 20 }, f)).toEqual({ offset: 15, completed: true });
  });

  it('cuts a tail the leader does not have (the epoch ended earlier on the leader)', async () => {
    // KIP-101 scenario 2: both wrote at epoch 1; the new leader only had up to 12 of it.
    const f = await follower([[0, 0], [1, 10]], 15);
    expect(offsetTruncationState({ leaderEpoch: 1, endOffset: 12 }, f)).toEqual({ offset: 12, completed: true });
  });

  it('never truncates to the high watermark: data the leader has is kept', async () => {
    // KIP-101 scenario 1: a restarted follower with high watermark 5 must keep offsets 5..9 the leader also has.
    const f = await follower([[0, 0]], 10);
    expect(offsetTruncationState({ leaderEpoch: 0, endOffset: 10 }, f)).toEqual({ offset: 10, completed: true });
  });

  it('with an epoch the follower does not have, cuts back to the end of its own largest epoch below it and asks again', async () => {
    // Follower: epochs 1 (from 0), 3 (from 8). Leader answers epoch 2 ending at 9 for the follower's epoch 3.
    const f = await follower([[1, 0], [3, 8]], 12);
    expect(offsetTruncationState({ leaderEpoch: 2, endOffset: 9 }, f)).toEqual({ offset: 8, completed: false });
  });

  it('cuts a whole epoch the leader never had at its start', async () => {
    // The follower wrote epoch 5 from offset 3; the leader's largest epoch <= 5 is 2, ending at 7.
    const f = await follower([[5, 3]], 12);
    expect(offsetTruncationState({ leaderEpoch: 2, endOffset: 7 }, f)).toEqual({ offset: 3, completed: true });
  });

  it('keeps the log when the leader knows no end for the epoch', async () => {
    const f = await follower([[5, 3]], 12);
    expect(offsetTruncationState({ leaderEpoch: -1, endOffset: -1 }, f)).toEqual({ offset: 12, completed: true });
  });
});

describe('LeaderEpochCache.endOffsetFor (Kafka semantics)', () => {
  it('answers the next epoch start, the log end for the latest, the first start below every epoch, undefined above', async () => {
    fs.mkdirSync(path.join(tmp, 'lec'));
    const cache = await LeaderEpochCache.load(path.join(tmp, 'lec'));
    cache.assign(2, 0);
    cache.assign(4, 10);
    cache.assign(7, 25);
    expect(cache.endOffsetFor(7, 40)).toEqual({ epoch: 7, endOffset: 40 });
    expect(cache.endOffsetFor(4, 40)).toEqual({ epoch: 4, endOffset: 25 });
    expect(cache.endOffsetFor(5, 40)).toEqual({ epoch: 4, endOffset: 25 });
    expect(cache.endOffsetFor(3, 40)).toEqual({ epoch: 2, endOffset: 10 });
    expect(cache.endOffsetFor(1, 40)).toEqual({ epoch: 1, endOffset: 0 });
    expect(cache.endOffsetFor(8, 40)).toEqual({ epoch: -1, endOffset: -1 });
    expect(cache.endOffsetFor(-1, 40)).toEqual({ epoch: -1, endOffset: -1 });
    expect(cache.epochForOffset(0)).toBe(2);
    expect(cache.epochForOffset(24)).toBe(4);
    expect(cache.epochForOffset(30)).toBe(7);
    await cache.flushed();
  });
});

describe('last stable offset', () => {
  it('is the high watermark, or the first offset of an open transaction below it, never below the log start', async () => {
    const p = await leaderPartition({ isr: [0] });
    p.log.append(batch(2), 1); // 0-1
    p.log.append(txnBatch(7, 0), 1); // 2: opens a transaction
    p.log.append(batch(2), 1); // 3-4
    p.maybeIncrementLeaderHW(1000);
    expect(p.highWatermark).toBe(5);
    expect(p.lastStableOffset).toBe(2);
    // DeleteRecords past the open transaction's first record: clamped to the log start
    p.log.maybeIncrementLogStartOffset(4);
    expect(p.lastStableOffset).toBe(4);
    p.log.append(buildTxnMarkerBatch({ producerId: 7, producerEpoch: 0, coordinatorEpoch: 0, commit: true }), 1, false, 'coordinator'); // 5
    // completed, but its marker is above the high watermark until it moves
    expect(p.lastStableOffset).toBe(4);
    p.maybeIncrementLeaderHW(1000);
    expect(p.lastStableOffset).toBe(6);
  });
});
