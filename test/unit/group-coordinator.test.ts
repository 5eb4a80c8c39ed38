/**
 * The group coordinator over an in-memory __consumer_offsets log: records in Kafka's layout, offsets and
 * group metadata surviving a reload from the log, tombstones, ownership errors and offset expiration.
 */
import { describe, expect, it } from 'vitest';
import { buildTxnMarkerBatch } from '../../src/protocol/control-records.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Reader, writeInt64 } from '../../src/protocol/primitives.js';
import { decodeRecordBatches } from '../../src/protocol/records.js';
import { readOffsetCommitKey } from '../../src/protocol/generated/offset-commit-key.js';
import { readOffsetCommitValue } from '../../src/protocol/generated/offset-commit-value.js';
import { readGroupMetadataKey } from '../../src/protocol/generated/group-metadata-key.js';
import { readGroupMetadataValue } from '../../src/protocol/generated/group-metadata-value.js';
import { GroupCoordinator, type OffsetsLog, type OffsetToCommit } from '../../src/group/group-coordinator.js';
import { offsetsPartitionFor } from '../../src/group/offsets-topic.js';
import type { Clock, JoinRequestInfo } from '../../src/group/group-state.js';
import type { AppendResult, FetchResult } from '../../src/replication/replica-manager.js';

const PARTITIONS = 5;

class FakeClock implements Clock {
  t = 1_700_000_000_000;
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number {
    return this.t;
  }
  schedule(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  advanceNoTimers(ms: number): void {
    this.t += ms;
  }
}

/** One in-memory log per partition: batches with their base offsets rewritten on append, like Log.append. */
class MemoryLog implements OffsetsLog {
  readonly batches = new Map<number, Buffer[]>();
  private ends = new Map<number, number>();
  gate: Promise<void> | null = null;
  appendRecords(_topic: string, partition: number, records: Buffer | null): AppendResult {
    const base = this.ends.get(partition) ?? 0;
    const copy = Buffer.from(records!);
    writeInt64(copy, base, 0);
    const count = copy.readInt32BE(57);
    this.ends.set(partition, base + count);
    const list = this.batches.get(partition) ?? [];
    list.push(copy);
    this.batches.set(partition, list);
    return { errorCode: ErrorCode.NONE, baseOffset: base, logAppendTime: -1, logStartOffset: 0 };
  }
  async fetchPartition(_topic: string, partition: number, offset: number): Promise<FetchResult> {
    if (this.gate) await this.gate;
    const end = this.ends.get(partition) ?? 0;
    const base = { errorCode: ErrorCode.NONE, highWatermark: end, lastStableOffset: end, logStartOffset: 0 };
    const out = (this.batches.get(partition) ?? []).filter((b) => decodeRecordBatches(b)[0]!.lastOffset >= offset);
    return { ...base, records: out.length > 0 ? Buffer.concat(out) : null };
  }
  records(partition: number) {
    return (this.batches.get(partition) ?? []).flatMap((b) => decodeRecordBatches(b).flatMap((d) => d.records));
  }
}

function coordinator(log: MemoryLog, clock = new FakeClock(), extra: Partial<ConstructorParameters<typeof GroupCoordinator>[0]> = {}) {
  return new GroupCoordinator({
    log,
    numPartitions: () => PARTITIONS,
    clock,
    group: { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 60000 },
    ...extra,
  });
}

const all = [0, 1, 2, 3, 4];

function commit(topic: string, partition: number, offset: number, metadata: string | null = null): OffsetToCommit {
  return { topic, partition, offset, leaderEpoch: 3, metadata, commitTimestamp: -1, expireTimestamp: -1 };
}

function joinReq(over: Partial<JoinRequestInfo> = {}): JoinRequestInfo {
  return {
    memberId: '',
    groupInstanceId: null,
    clientId: 'cli',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from([0, 1, 2]) }],
    requireKnownMemberId: false,
    supportsSkipAssignment: false,
    ...over,
  };
}

describe('group coordinator', () => {
  it('writes offset commits as Kafka does and reloads them (with metadata) from the log', async () => {
    const log = new MemoryLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions(all);
    const codes = await gc.commitOffsets('g1', '', null, -1, [commit('t', 0, 42, 'meta-0'), commit('t', 1, 7), commit('u', 0, 1, 'x'.repeat(5000))]);
    expect(codes).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.OFFSET_METADATA_TOO_LARGE]);

    const p = offsetsPartitionFor('g1', PARTITIONS);
    const recs = log.records(p);
    expect(recs.length).toBe(2);
    const kr = new Reader(recs[0]!.key!);
    expect(kr.int16()).toBe(1);
    expect(readOffsetCommitKey(kr, 1)).toEqual({ group: 'g1', topic: 't', partition: 0 });
    const vr = new Reader(recs[0]!.value!);
    expect(vr.int16()).toBe(3);
    expect(readOffsetCommitValue(vr, 3)).toMatchObject({ offset: 42, leaderEpoch: 3, metadata: 'meta-0' });

    const fetched = gc.fetchOffsets('g1', [{ name: 't', partitions: [0, 1, 2] }]);
    expect(fetched.offsets.map((o) => [o.partition, o.offset, o.metadata, o.leaderEpoch])).toEqual([
      [0, 42, 'meta-0', 3],
      [1, 7, '', 3],
      [2, -1, '', -1],
    ]);
    gc.close();

    const reloaded = coordinator(log);
    await reloaded.setOwnedPartitions(all);
    expect(reloaded.fetchOffsets('g1', null).offsets.map((o) => [o.topic, o.partition, o.offset, o.metadata]).sort()).toEqual([
      ['t', 0, 42, 'meta-0'],
      ['t', 1, 7, ''],
    ]);
    expect(reloaded.fetchOffsets('unknown', [{ name: 't', partitions: [0] }]).offsets[0]).toMatchObject({ offset: -1, metadata: '' });
    reloaded.close();
  });

  it('stores group metadata on sync and reloads the group as Stable with its members and assignments', async () => {
    const log = new MemoryLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions(all);
    const j = await gc.join('g2', joinReq());
    const s = await gc.sync('g2', { memberId: j.memberId, groupInstanceId: null, generationId: j.generationId, protocolType: null, protocolName: null, assignments: [{ memberId: j.memberId, assignment: Buffer.from('A') }] });
    expect(s.errorCode).toBe(ErrorCode.NONE);
    expect(await gc.commitOffsets('g2', j.memberId, null, j.generationId, [commit('t', 0, 5)])).toEqual([ErrorCode.NONE]);

    const p = offsetsPartitionFor('g2', PARTITIONS);
    const groupRec = log.records(p).find((r) => r.key!.readInt16BE(0) === 2)!;
    const kr = new Reader(groupRec.key!);
    kr.int16();
    expect(readGroupMetadataKey(kr, 2)).toEqual({ group: 'g2' });
    const vr = new Reader(groupRec.value!);
    expect(vr.int16()).toBe(3);
    const v = readGroupMetadataValue(vr, 3);
    expect(v).toMatchObject({ protocolType: 'consumer', generation: 1, protocol: 'range', leader: j.memberId });
    expect(v.members.map((m) => [m.memberId, m.clientId, m.sessionTimeout, m.assignment.toString()])).toEqual([[j.memberId, 'cli', 10_000, 'A']]);
    gc.close();

    const reloaded = coordinator(log);
    await reloaded.setOwnedPartitions(all);
    const d = reloaded.describeGroup('g2');
    expect(d.summary).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(d.summary.members.map((m) => [m.memberId, m.assignment.toString()])).toEqual([[j.memberId, 'A']]);
    expect(reloaded.heartbeat('g2', j.memberId, null, 1)).toBe(ErrorCode.NONE);
    expect(reloaded.fetchOffsets('g2', [{ name: 't', partitions: [0] }]).offsets[0]!.offset).toBe(5);
    reloaded.close();
  });

  it('tombstones: deleted groups and deleted offsets stay deleted after a reload', async () => {
    const log = new MemoryLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions(all);
    await gc.commitOffsets('gone', '', null, -1, [commit('t', 0, 1), commit('t', 1, 2)]);
    await gc.commitOffsets('kept', '', null, -1, [commit('t', 0, 3), commit('t', 1, 4)]);
    expect(await gc.deleteGroup('gone')).toBe(ErrorCode.NONE);
    expect(await gc.deleteGroup('gone')).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    expect(await gc.deleteOffsets('kept', [{ topic: 't', partition: 1 }])).toEqual({ errorCode: ErrorCode.NONE, partitions: [ErrorCode.NONE] });
    const tombstones = log.records(offsetsPartitionFor('gone', PARTITIONS)).filter((r) => r.value === null);
    expect(tombstones.length).toBeGreaterThanOrEqual(3);
    gc.close();

    const reloaded = coordinator(log);
    await reloaded.setOwnedPartitions(all);
    expect(reloaded.group('gone')).toBeUndefined();
    expect(reloaded.fetchOffsets('gone', null).offsets).toEqual([]);
    expect(reloaded.fetchOffsets('kept', null).offsets.map((o) => [o.partition, o.offset])).toEqual([[0, 3]]);
    reloaded.close();
  });

  it('a non-empty group cannot be deleted; a stale generation cannot commit to an unknown group', async () => {
    const gc = coordinator(new MemoryLog());
    await gc.setOwnedPartitions(all);
    const j = await gc.join('busy', joinReq());
    expect(await gc.deleteGroup('busy')).toBe(ErrorCode.NON_EMPTY_GROUP);
    expect(await gc.commitOffsets('nope', 'm', null, 3, [commit('t', 0, 1)])).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(await gc.commitOffsets('busy', '', null, -1, [commit('t', 0, 1)])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect((await gc.join('busy', joinReq({ memberId: 'ghost' }))).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(gc.heartbeat('busy', j.memberId, null, j.generationId)).toBe(ErrorCode.NONE);
    expect(gc.listGroups().map((g) => [g.groupId, g.state])).toEqual([['busy', 'CompletingRebalance']]);
    expect(gc.listGroups(['stable'])).toEqual([]);
    gc.close();
  });

  it('NOT_COORDINATOR for partitions it does not own, COORDINATOR_LOAD_IN_PROGRESS while loading', async () => {
    const log = new MemoryLog();
    const gc = coordinator(log);
    const p = offsetsPartitionFor('g3', PARTITIONS);
    await gc.setOwnedPartitions(all.filter((x) => x !== p));
    expect(gc.heartbeat('g3', 'm', null, 1)).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await gc.join('g3', joinReq())).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect(gc.fetchOffsets('g3', null).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    let open!: () => void;
    log.gate = new Promise((r) => (open = r));
    const loading = gc.setOwnedPartitions(all);
    expect(gc.fetchOffsets('g3', null).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    open();
    log.gate = null;
    await loading;
    expect(gc.fetchOffsets('g3', null).errorCode).toBe(ErrorCode.NONE);
    // Losing the partition fails parked joins with NOT_COORDINATOR and forgets the group.
    const join = gc.join('g3', joinReq({ rebalanceTimeoutMs: 60_000 }));
    const second = gc.join('g3', joinReq({ clientId: 'other' }));
    await gc.setOwnedPartitions(all.filter((x) => x !== p));
    const results = await Promise.all([join, second]);
    expect(results.some((r) => r.errorCode === ErrorCode.NOT_COORDINATOR)).toBe(true);
    expect(gc.group('g3')).toBeUndefined();
    gc.close();
  });

  it('offsets.retention.minutes expires the offsets of Empty groups (tombstones), then the group', async () => {
    const log = new MemoryLog();
    const clock = new FakeClock();
    const gc = coordinator(log, clock, { offsetsRetentionMs: 60_000 });
    await gc.setOwnedPartitions(all);
    await gc.commitOffsets('old', '', null, -1, [commit('t', 0, 9)]);
    clock.advanceNoTimers(30_000);
    await gc.commitOffsets('young', '', null, -1, [commit('t', 0, 8)]);
    clock.advanceNoTimers(30_000);
    expect(await gc.expireOffsets()).toBe(1);
    expect(gc.group('old')).toBeUndefined();
    expect(gc.fetchOffsets('young', null).offsets.map((o) => o.offset)).toEqual([8]);
    gc.close();
    const reloaded = coordinator(log, clock);
    await reloaded.setOwnedPartitions(all);
    expect(reloaded.fetchOffsets('old', null).offsets).toEqual([]);
    expect(reloaded.fetchOffsets('young', null).offsets.map((o) => o.offset)).toEqual([8]);
    reloaded.close();
  });
});

describe('transactional offset commits', () => {
  it('stay pending until the marker: a COMMIT makes them the offsets, an ABORT drops them; a reload replays both', async () => {
    const log = new MemoryLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions(all);
    const p = gc.partitionFor('g');
    expect(await gc.commitOffsets('g', '', null, -1, [commit('t', 0, 5)])).toEqual([ErrorCode.NONE]);
    expect(await gc.commitTransactionalOffsets('g', 77, 0, '', null, -1, [commit('t', 0, 9), commit('t', 1, 3)])).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
    const batch = log.batches.get(p)!.at(-1)!;
    expect(decodeRecordBatches(batch)[0]).toMatchObject({ isTransactional: true, producerId: 77, producerEpoch: 0 });
    // not visible yet; require_stable says so
    expect(gc.fetchOffsets('g', [{ name: 't', partitions: [0, 1] }]).offsets.map((o) => o.offset)).toEqual([5, -1]);
    expect(gc.fetchOffsets('g', [{ name: 't', partitions: [0, 1] }], true).offsets.map((o) => o.errorCode)).toEqual([ErrorCode.UNSTABLE_OFFSET_COMMIT, ErrorCode.UNSTABLE_OFFSET_COMMIT]);
    // a marker for another offsets partition leaves them pending
    gc.onTransactionCompleted(77, [(p + 1) % PARTITIONS], true);
    expect(gc.fetchOffsets('g', [{ name: 't', partitions: [0] }]).offsets[0]!.offset).toBe(5);
    log.appendRecords('__consumer_offsets', p, buildTxnMarkerBatch({ producerId: 77, producerEpoch: 0, coordinatorEpoch: 0, commit: true }));
    gc.onTransactionCompleted(77, [p], true);
    expect(gc.fetchOffsets('g', [{ name: 't', partitions: [0, 1] }], true).offsets.map((o) => [o.offset, o.errorCode])).toEqual([
      [9, ErrorCode.NONE],
      [3, ErrorCode.NONE],
    ]);
    // an aborted transaction's offsets never show
    expect(await gc.commitTransactionalOffsets('g', 78, 0, '', null, -1, [commit('t', 0, 100)])).toEqual([ErrorCode.NONE]);
    log.appendRecords('__consumer_offsets', p, buildTxnMarkerBatch({ producerId: 78, producerEpoch: 0, coordinatorEpoch: 0, commit: false }));
    gc.onTransactionCompleted(78, [p], false);
    expect(gc.fetchOffsets('g', [{ name: 't', partitions: [0] }], true).offsets[0]).toMatchObject({ offset: 9, errorCode: ErrorCode.NONE });
    // one still open when the partition is reloaded stays pending there
    expect(await gc.commitTransactionalOffsets('g', 79, 0, '', null, -1, [commit('t', 1, 50)])).toEqual([ErrorCode.NONE]);
    gc.close();
    const reloaded = coordinator(log);
    await reloaded.setOwnedPartitions(all);
    expect(reloaded.fetchOffsets('g', [{ name: 't', partitions: [0, 1] }]).offsets.map((o) => o.offset)).toEqual([9, 3]);
    expect(reloaded.fetchOffsets('g', [{ name: 't', partitions: [1] }], true).offsets[0]!.errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    reloaded.onTransactionCompleted(79, [p], true);
    expect(reloaded.fetchOffsets('g', [{ name: 't', partitions: [1] }], true).offsets[0]).toMatchObject({ offset: 50, errorCode: ErrorCode.NONE });
    reloaded.close();
  });

  it('check the member, instance id and generation when given', async () => {
    const gc = coordinator(new MemoryLog());
    await gc.setOwnedPartitions(all);
    expect(await gc.commitTransactionalOffsets('fresh', 1, 0, 'nobody', null, -1, [commit('t', 0, 1)])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(await gc.commitTransactionalOffsets('fresh', 1, 0, '', null, 3, [commit('t', 0, 1)])).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(await gc.commitTransactionalOffsets('fresh', 1, 0, '', null, -1, [commit('t', 0, 1)])).toEqual([ErrorCode.NONE]);
    gc.close();
  });
});
