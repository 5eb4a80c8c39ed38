/**
 * The group coordinator's work that nobody awaits (issue 8, item 1): an append to __consumer_offsets that
 * throws, or a timer callback that throws, is logged and turned into an error code for the members; nothing
 * reaches the process as an unhandled rejection or uncaught exception, and no member waits forever.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { GroupCoordinator, guardedClock, type OffsetsLog } from '../../src/group/group-coordinator.js';
import { systemClock, type Clock, type JoinRequestInfo } from '../../src/group/group-state.js';
import type { AppendResult, FetchResult } from '../../src/replication/replica-manager.js';
import { createLogger } from '../../src/server/logger.js';
import { waitFor } from '../helpers/wait.js';

/** A log whose appends fail as configured; reads find nothing (an empty __consumer_offsets). */
class FailingLog implements OffsetsLog {
  failWith: 'throw' | 'reject' | KafkaError | null = null;
  appends = 0;
  appendRecords(): AppendResult | Promise<AppendResult> {
    this.appends++;
    if (this.failWith === 'throw') throw new Error('disk on fire');
    if (this.failWith === 'reject') return Promise.reject(new Error('disk on fire, later'));
    if (this.failWith instanceof KafkaError) return Promise.reject(this.failWith);
    return { errorCode: ErrorCode.NONE, baseOffset: 0, logAppendTime: -1, logStartOffset: 0 };
  }
  async fetchPartition(): Promise<FetchResult> {
    return { errorCode: ErrorCode.NONE, highWatermark: 0, lastStableOffset: 0, logStartOffset: 0, records: null };
  }
}

function joinReq(): JoinRequestInfo {
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
  };
}

let logged: string[];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeEach(() => {
  logged = [];
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

function coordinator(log: OffsetsLog, clock?: Clock): GroupCoordinator {
  return new GroupCoordinator({
    log,
    numPartitions: () => 1,
    ...(clock ? { clock } : {}),
    group: { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 60000 },
    logger: createLogger('debug', (line) => logged.push(line)),
  });
}

describe('group coordinator failures', () => {
  for (const failWith of ['throw', 'reject'] as const) {
    it(`an append that fails (${failWith}) answers commits with an error and logs it`, async () => {
      const log = new FailingLog();
      const gc = coordinator(log);
      await gc.setOwnedPartitions([0]);
      log.failWith = failWith;
      const codes = await gc.commitOffsets('g', '', null, -1, [
        { topic: 't', partition: 0, offset: 1, leaderEpoch: -1, metadata: null, commitTimestamp: -1, expireTimestamp: -1 },
      ]);
      expect(codes).toEqual([ErrorCode.UNKNOWN_SERVER_ERROR]);
      expect(logged.join('')).toMatch(/ERROR appending to __consumer_offsets-0 failed: Error: disk on fire/);
      gc.close();
    });
  }

  it('a KafkaError from the log is mapped as Kafka maps the error code (storage error: NOT_COORDINATOR)', async () => {
    const log = new FailingLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions([0]);
    log.failWith = new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'log dir offline');
    const codes = await gc.commitOffsets('g', '', null, -1, [
      { topic: 't', partition: 0, offset: 1, leaderEpoch: -1, metadata: null, commitTimestamp: -1, expireTimestamp: -1 },
    ]);
    expect(codes).toEqual([ErrorCode.NOT_COORDINATOR]);
    gc.close();
  });

  it("the leader's SyncGroup whose group record cannot be stored answers every member with an error, never hangs", async () => {
    const log = new FailingLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions([0]);
    const j = await gc.join('g', joinReq());
    expect(j.errorCode).toBe(ErrorCode.NONE);
    log.failWith = 'reject';
    const s = await gc.sync('g', {
      memberId: j.memberId,
      groupInstanceId: null,
      generationId: j.generationId,
      protocolType: null,
      protocolName: null,
      assignments: [{ memberId: j.memberId, assignment: Buffer.from('A') }],
    });
    expect(s.errorCode).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
    expect(gc.group('g')!.state).toBe('PreparingRebalance');
    gc.close();
    expect(unhandled).toEqual([]);
  });

  it('an empty group whose new generation cannot be stored logs it and leaves no unhandled rejection', async () => {
    const log = new FailingLog();
    const gc = coordinator(log);
    await gc.setOwnedPartitions([0]);
    const j = await gc.join('g', joinReq());
    log.failWith = 'throw';
    // the only member leaves: the group completes a rebalance to Empty and stores it, unawaited
    expect(gc.leave('g', [{ memberId: j.memberId, groupInstanceId: null }]).errorCode).toBe(ErrorCode.NONE);
    await waitFor(() => log.appends >= 1, { timeoutMs: 5000, message: 'the empty group is stored' });
    await waitFor(() => /appending to __consumer_offsets-0 failed/.test(logged.join('')), { timeoutMs: 5000, message: 'the failure is logged' });
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
    expect(gc.group('g')!.state).toBe('Empty');
    gc.close();
  });

  it('a timer callback that throws is logged, not thrown out of the timer', async () => {
    const errors: unknown[] = [];
    const clock = guardedClock(systemClock, (err) => errors.push(err));
    const ran: string[] = [];
    clock.schedule(0, () => {
      ran.push('first');
      throw new Error('bug in a timer');
    });
    clock.schedule(5, () => ran.push('second'));
    await waitFor(() => ran.length === 2, { timeoutMs: 5000, message: 'both timers ran' });
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('bug in a timer');
  });
});
