/**
 * The classic group state machine (src/group/group-state.ts) on a fake clock: joins, the initial rebalance
 * delay, MEMBER_ID_REQUIRED, syncs, heartbeats, leaves, session expiry, rebalance timeouts, concurrent
 * rebalances, stale generations, static members and commit validation.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  Group,
  type Clock,
  type GroupConfig,
  type JoinRequestInfo,
  type JoinResult,
  type SyncResult,
} from '../../src/group/group-state.js';

class FakeClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  schedule(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  /** Moves time forward, firing due timers in order, letting promise callbacks run after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((x) => !x.cancelled && x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

const CONFIG: GroupConfig = { initialRebalanceDelayMs: 0, minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 60000, maxSize: 100 };

function setup(config: Partial<GroupConfig> = {}) {
  const clock = new FakeClock();
  const stored: { generation: number; members: string[]; assignments: Map<string, Buffer> }[] = [];
  let ids = 0;
  let storeError: number = ErrorCode.NONE;
  const group = new Group('g', {
    clock,
    config: { ...CONFIG, ...config },
    storeGroup: async (g, assignments) => {
      stored.push({ generation: g.generationId, members: [...g.members.keys()], assignments });
      return storeError;
    },
    newMemberId: (clientId) => `${clientId}-${++ids}`,
  });
  return { clock, group, stored, setStoreError: (e: number) => (storeError = e) };
}

const meta = (s: string) => Buffer.from(s);

function joinReq(over: Partial<JoinRequestInfo> = {}): JoinRequestInfo {
  return {
    memberId: '',
    groupInstanceId: null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: meta('r') }],
    requireKnownMemberId: false,
    supportsSkipAssignment: false,
    ...over,
  };
}

/** Tracks a promise's settlement without awaiting it. */
function track<T>(p: Promise<T>): { value: T | undefined; done: () => boolean } {
  const t = { value: undefined as T | undefined, settled: false, done: () => t.settled };
  void p.then((v) => {
    t.value = v;
    t.settled = true;
  });
  return t;
}

async function joinStable(setupResult: ReturnType<typeof setup>, clients: string[]): Promise<JoinResult[]> {
  const { group, clock } = setupResult;
  const joins = clients.map((c) => track(group.join(joinReq({ clientId: c }))));
  await clock.advance(1000);
  const results = joins.map((j) => j.value!);
  const leader = results.find((r) => r.memberId === r.leader)!;
  const syncs = results.map((r) =>
    track(
      group.sync({
        memberId: r.memberId,
        groupInstanceId: null,
        generationId: r.generationId,
        protocolType: null,
        protocolName: null,
        assignments: r === leader ? results.map((x) => ({ memberId: x.memberId, assignment: meta(`a-${x.memberId}`) })) : [],
      }),
    ),
  );
  await clock.advance(0);
  for (const s of syncs) expect(s.value?.errorCode).toBe(ErrorCode.NONE);
  expect(group.state).toBe('Stable');
  return results;
}

describe('group state machine', () => {
  it('one member: join, leader gets the metadata, sync stores and returns the assignment', async () => {
    const s = setup();
    const j = await s.group.join(joinReq());
    expect(j).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, protocolName: 'range', protocolType: 'consumer', memberId: 'c-1', leader: 'c-1' });
    expect(j.members).toEqual([{ memberId: 'c-1', groupInstanceId: null, metadata: meta('r') }]);
    expect(s.group.state).toBe('CompletingRebalance');
    const sync = await s.group.sync({ memberId: 'c-1', groupInstanceId: null, generationId: 1, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: 'c-1', assignment: meta('A') }] });
    expect(sync).toEqual({ errorCode: ErrorCode.NONE, protocolType: 'consumer', protocolName: 'range', assignment: meta('A') });
    expect(s.group.state).toBe('Stable');
    expect(s.stored.map((x) => [x.generation, x.members])).toEqual([[1, ['c-1']]]);
  });

  it('KIP-394: an unknown member on v4+ gets MEMBER_ID_REQUIRED and joins with that id', async () => {
    const s = setup();
    const first = await s.group.join(joinReq({ requireKnownMemberId: true }));
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).toBe('c-1');
    expect(s.group.state).toBe('Empty');
    const second = await s.group.join(joinReq({ requireKnownMemberId: true, memberId: first.memberId }));
    expect(second).toMatchObject({ errorCode: ErrorCode.NONE, memberId: 'c-1', leader: 'c-1', generationId: 1 });
    // An id never handed out is unknown.
    const bogus = await s.group.join(joinReq({ requireKnownMemberId: true, memberId: 'nope' }));
    expect(bogus.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('a pending member id that never comes back expires after the session timeout', async () => {
    const s = setup();
    const first = await s.group.join(joinReq({ requireKnownMemberId: true }));
    expect(s.group.pendingMembers.has(first.memberId)).toBe(true);
    await s.clock.advance(10_000);
    expect(s.group.pendingMembers.size).toBe(0);
  });

  it('group.initial.rebalance.delay.ms waits for more members, extended while they keep coming', async () => {
    const s = setup({ initialRebalanceDelayMs: 3000 });
    const a = track(s.group.join(joinReq({ clientId: 'a' })));
    await s.clock.advance(2000);
    const b = track(s.group.join(joinReq({ clientId: 'b' })));
    await s.clock.advance(1000); // t=3000: a new member arrived during the delay, so wait another delay
    expect(a.done()).toBe(false);
    expect(s.group.state).toBe('PreparingRebalance');
    await s.clock.advance(2999);
    expect(a.done()).toBe(false);
    await s.clock.advance(1);
    expect(a.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, leader: 'a-1' });
    expect(a.value!.members.map((m) => m.memberId)).toEqual(['a-1', 'b-2']);
    expect(b.value).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, leader: 'a-1', members: [] });
  });

  it('the follower waits for the leader; a member the leader left out gets empty bytes', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const a = track(s.group.join(joinReq({ clientId: 'a' })));
    const b = track(s.group.join(joinReq({ clientId: 'b' })));
    await s.clock.advance(1000);
    // Both members joined; the second join completed the rebalance.
    expect(a.value?.generationId).toBe(1);
    expect(b.value?.generationId).toBe(1);
    const leaderId = a.value!.leader;
    const follower = [a.value!, b.value!].find((r) => r.memberId !== leaderId)!;
    const fs = track(s.group.sync({ memberId: follower.memberId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [] }));
    await s.clock.advance(100);
    expect(fs.done()).toBe(false);
    const ls = await s.group.sync({ memberId: leaderId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [{ memberId: leaderId, assignment: meta('L') }] });
    await s.clock.advance(0);
    expect(ls.assignment).toEqual(meta('L'));
    expect(fs.value).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.alloc(0) });
    expect(Buffer.isBuffer(fs.value!.assignment)).toBe(true);
  });

  it('heartbeats: NONE when stable, REBALANCE_IN_PROGRESS while preparing, errors for stale or unknown members', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const [a] = await joinStable(s, ['a']);
    expect(s.group.heartbeat(a!.memberId, null, 1)).toBe(ErrorCode.NONE);
    expect(s.group.heartbeat(a!.memberId, null, 0)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(s.group.heartbeat('who', null, 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const b = track(s.group.join(joinReq({ clientId: 'b' })));
    expect(s.group.state).toBe('PreparingRebalance');
    expect(s.group.heartbeat(a!.memberId, null, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // Stale generation sync and commit while the new generation forms.
    expect((await s.group.sync({ memberId: a!.memberId, groupInstanceId: null, generationId: 0, protocolType: null, protocolName: null, assignments: [] })).errorCode).toBe(
      ErrorCode.ILLEGAL_GENERATION,
    );
    expect((await s.group.sync({ memberId: a!.memberId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [] })).errorCode).toBe(
      ErrorCode.REBALANCE_IN_PROGRESS,
    );
    const rejoin = await s.group.join(joinReq({ clientId: 'a', memberId: a!.memberId }));
    await s.clock.advance(0);
    expect(rejoin.generationId).toBe(2);
    expect(b.value!.generationId).toBe(2);
    expect(s.group.heartbeat(a!.memberId, null, 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(s.group.heartbeat(a!.memberId, null, 2)).toBe(ErrorCode.NONE); // CompletingRebalance
  });

  it('a member that stops heartbeating is expired after its session timeout and the group rebalances', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const [a, b] = await joinStable(s, ['a', 'b']);
    for (let i = 0; i < 3; i++) {
      await s.clock.advance(3000);
      expect(s.group.heartbeat(a!.memberId, null, 1)).toBe(ErrorCode.NONE);
    }
    expect(s.group.has(b!.memberId)).toBe(true);
    await s.clock.advance(3000);
    // b has been silent for 12 s > 10 s.
    expect(s.group.has(b!.memberId)).toBe(false);
    expect(s.group.state).toBe('PreparingRebalance');
    expect(s.group.heartbeat(a!.memberId, null, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const j = await s.group.join(joinReq({ clientId: 'a', memberId: a!.memberId }));
    expect(j).toMatchObject({ generationId: 2, leader: a!.memberId });
    expect(j.members.map((m) => m.memberId)).toEqual([a!.memberId]);
  });

  it('the rebalance timeout bounds a join: members that do not rejoin are removed', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const [a, b] = await joinStable(s, ['a', 'b']);
    const c = track(s.group.join(joinReq({ clientId: 'c' })));
    const ra = track(s.group.join(joinReq({ clientId: 'a', memberId: a!.memberId })));
    // b keeps heartbeating (getting REBALANCE_IN_PROGRESS) but never rejoins.
    for (let t = 0; t < 27_000; t += 3000) {
      await s.clock.advance(3000);
      s.group.heartbeat(a!.memberId, null, 1);
      s.group.heartbeat(b!.memberId, null, 1);
    }
    expect(c.done()).toBe(false);
    await s.clock.advance(3000);
    expect(c.value?.generationId).toBe(2);
    expect(ra.value?.members.map((m) => m.memberId).sort()).toEqual([a!.memberId, c.value!.memberId].sort());
    expect(s.group.has(b!.memberId)).toBe(false);
  });

  it('concurrent rebalance: a join during CompletingRebalance fails parked syncs with REBALANCE_IN_PROGRESS', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const a = track(s.group.join(joinReq({ clientId: 'a' })));
    const b = track(s.group.join(joinReq({ clientId: 'b' })));
    await s.clock.advance(1000);
    const follower = [a.value!, b.value!].find((r) => r.memberId !== r.leader)!;
    const leader = [a.value!, b.value!].find((r) => r.memberId === r.leader)!;
    const fs = track(s.group.sync({ memberId: follower.memberId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [] }));
    await s.clock.advance(0);
    const c = track(s.group.join(joinReq({ clientId: 'c' })));
    await s.clock.advance(0);
    expect(fs.value?.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(s.group.state).toBe('PreparingRebalance');
    // A commit from the old generation is rejected; the members are kept across the rebalance.
    expect(s.group.validateCommit(leader.memberId, null, 0)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(s.group.members.size).toBe(3);
    const ra = track(s.group.join(joinReq({ clientId: 'a', memberId: leader.memberId })));
    const rb = track(s.group.join(joinReq({ clientId: 'b', memberId: follower.memberId })));
    await s.clock.advance(0);
    expect([ra.value!.generationId, rb.value!.generationId, c.value!.generationId]).toEqual([2, 2, 2]);
    expect(ra.value!.members.length).toBe(3);
  });

  it('leaving: the last member out leaves the group Empty with the next generation stored', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const [a, b] = await joinStable(s, ['a', 'b']);
    expect(s.group.leave([{ memberId: 'nobody', groupInstanceId: null }])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(s.group.leave([{ memberId: b!.memberId, groupInstanceId: null }])).toEqual([ErrorCode.NONE]);
    expect(s.group.state).toBe('PreparingRebalance');
    const j = await s.group.join(joinReq({ clientId: 'a', memberId: a!.memberId }));
    expect(j.generationId).toBe(2);
    expect(s.group.leave([{ memberId: a!.memberId, groupInstanceId: null }])).toEqual([ErrorCode.NONE]);
    expect(s.group.state).toBe('Empty'); // at once, not on a timer
    expect(s.group.generationId).toBe(3);
    expect(s.stored.at(-1)).toMatchObject({ generation: 3, members: [] });
    expect(s.group.heartbeat(a!.memberId, null, 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('offset commit validation follows Kafka', async () => {
    const s = setup();
    expect(s.group.validateCommit('', null, -1)).toBeNull(); // simple commit on an Empty group
    const [a] = await joinStable(s, ['a']);
    expect(s.group.validateCommit('', null, -1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(s.group.validateCommit(a!.memberId, null, 1)).toBeNull();
    expect(s.group.validateCommit(a!.memberId, null, 7)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(s.group.validateCommit('x', null, 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    // During PreparingRebalance the current generation may still commit.
    void s.group.join(joinReq({ clientId: 'b' }));
    expect(s.group.validateCommit(a!.memberId, null, 1)).toBeNull();
    await s.group.join(joinReq({ clientId: 'a', memberId: a!.memberId }));
    expect(s.group.state).toBe('CompletingRebalance');
    expect(s.group.validateCommit(a!.memberId, null, 2)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
  });

  it('static members: a rejoin under the same group.instance.id replaces the member without a rebalance and fences the old id', async () => {
    const s = setup();
    const first = await s.group.join(joinReq({ clientId: 's', groupInstanceId: 'inst-1' }));
    await s.group.sync({ memberId: first.memberId, groupInstanceId: 'inst-1', generationId: 1, protocolType: null, protocolName: null, assignments: [{ memberId: first.memberId, assignment: meta('S') }] });
    expect(s.group.state).toBe('Stable');
    const again = await s.group.join(joinReq({ clientId: 's', groupInstanceId: 'inst-1', requireKnownMemberId: true }));
    expect(again.errorCode).toBe(ErrorCode.NONE);
    expect(again.memberId).not.toBe(first.memberId);
    expect(again.generationId).toBe(1);
    expect(s.group.state).toBe('Stable');
    expect(s.group.heartbeat(first.memberId, 'inst-1', 1)).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(s.group.validateCommit(first.memberId, 'inst-1', 1)).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect((await s.group.join(joinReq({ memberId: first.memberId, groupInstanceId: 'inst-1' }))).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    const sync = await s.group.sync({ memberId: again.memberId, groupInstanceId: 'inst-1', generationId: 1, protocolType: null, protocolName: null, assignments: [] });
    expect(sync.assignment).toEqual(meta('S'));
    // Static members that do not rejoin a rebalance in time are kept (only the session expires them).
    expect(s.group.leave([{ memberId: '', groupInstanceId: 'inst-1' }])).toEqual([ErrorCode.NONE]);
    await s.clock.advance(0);
    expect(s.group.state).toBe('Empty');
  });

  it('protocol selection and validation', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const a = track(s.group.join(joinReq({ clientId: 'a', protocols: [{ name: 'range', metadata: meta('1') }, { name: 'roundrobin', metadata: meta('2') }] })));
    const b = track(s.group.join(joinReq({ clientId: 'b', protocols: [{ name: 'roundrobin', metadata: meta('3') }] })));
    await s.clock.advance(1000);
    expect(a.value!.protocolName).toBe('roundrobin');
    expect(a.value!.members.map((m) => m.metadata.toString())).toEqual(['2', '3']);
    expect(b.value!.protocolName).toBe('roundrobin');
    expect((await s.group.join(joinReq({ protocols: [{ name: 'sticky', metadata: meta('') }] }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await s.group.join(joinReq({ protocolType: 'connect', protocols: [{ name: 'roundrobin', metadata: meta('') }] }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await s.group.join(joinReq({ sessionTimeoutMs: 10 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    const empty = setup();
    expect((await empty.group.join(joinReq({ protocols: [] }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  });

  it('a failed store fails the sync of every member and starts a new rebalance', async () => {
    const s = setup();
    const a = await s.group.join(joinReq({ clientId: 'a' }));
    s.setStoreError(ErrorCode.NOT_COORDINATOR);
    const r: SyncResult = await s.group.sync({ memberId: a.memberId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [] });
    expect(r.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect(s.group.state).toBe('PreparingRebalance');
  });

  it('the leader that fails to sync within the rebalance timeout is removed', async () => {
    const s = setup({ initialRebalanceDelayMs: 100 });
    const a = track(s.group.join(joinReq({ clientId: 'a', sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 20_000 })));
    const b = track(s.group.join(joinReq({ clientId: 'b', sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 20_000 })));
    await s.clock.advance(1000);
    const follower = [a.value!, b.value!].find((r) => r.memberId !== r.leader)!;
    const fs = track(s.group.sync({ memberId: follower.memberId, groupInstanceId: null, generationId: 1, protocolType: null, protocolName: null, assignments: [] }));
    await s.clock.advance(19_000);
    expect(fs.done()).toBe(false);
    await s.clock.advance(1000);
    expect(fs.value?.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect([...s.group.members.keys()]).toEqual([follower.memberId]);
  });
});
