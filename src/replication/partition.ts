/**
 * One partition replica hosted by this broker (Kafka's Partition.scala): its log, its role (leader or follower
 * of another broker, or follower without a leader), its leader epoch, the ISR and the high watermark.
 *
 * Leader bookkeeping:
 * - Each follower's log end offset is the fetch offset of its latest Fetch (ReplicaState).
 * - High watermark = the minimum log end offset over the "maximal" ISR, leader included: while an ISR change is
 *   being written, the larger of the old and the new ISR, so that a leader whose write fails (a deposed zombie)
 *   never counts on a shrunk ISR. It never moves backwards on a leader.
 * - ISR shrink: followers not caught up within replica.lag.time.max.ms; expand: a follower whose log end offset
 *   reached the high watermark and the start of the leader's current epoch. Both only decide here; the
 *   ReplicaManager writes the change to the registry (compare-and-set) and reports the outcome back.
 *
 * Follower: high watermark = min(the leader's, its own log end offset), may move backwards (truncation).
 * Everything here is synchronous; one event loop makes each method atomic.
 */
import { ErrorCode } from '../protocol/errors.js';
import type { Log } from '../log/log.js';
import { ReplicaState, UNKNOWN_OFFSET } from './replica-state.js';

/** The registry's partition state as a broker applies it (the state znode and its version, plus the assignment). */
export interface LeaderAndIsr {
  leader: number;
  leaderEpoch: number;
  isr: readonly number[];
  controllerEpoch: number;
  /** The state znode's version (the compare-and-set version for ISR changes). */
  zkVersion: number;
  replicas: readonly number[];
}

/** An ISR change the leader decided and is writing; the registry is the judge of whether it happened. */
export interface PendingIsrChange {
  kind: 'shrink' | 'expand';
  isr: number[];
  leaderEpoch: number;
  controllerEpoch: number;
  /** The state znode version the change is based on. */
  zkVersion: number;
}

export type Role = 'leader' | 'follower';

export class Partition {
  role: Role = 'follower';
  /** The leader broker id; -1 when there is none (offline) or it is not known yet. */
  leaderId = -1;
  leaderEpoch = -1;
  controllerEpoch = 0;
  zkVersion = -1;
  replicas: readonly number[] = [];
  /** The ISR as last committed to the registry. */
  isr: readonly number[] = [];
  pendingIsr: PendingIsrChange | null = null;
  /** min.insync.replicas (topic override, else the broker default). */
  minInsyncReplicas = 1;
  /** On a leader: its log end offset when it became leader of the current epoch. */
  leaderEpochStartOffset = -1;
  private hw: number;
  private readonly remote = new Map<number, ReplicaState>();

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly topicId: Buffer,
    readonly log: Log,
    readonly localBrokerId: number,
    initialHighWatermark: number,
  ) {
    this.hw = clamp(initialHighWatermark, log.logStartOffset, log.logEndOffset);
    log.onHighWatermarkUpdated(this.hw);
  }

  /** Every change of the high watermark goes through here: the log's completed transactions below it become stable. */
  private setHighWatermark(hw: number): void {
    this.hw = hw;
    this.log.onHighWatermarkUpdated(hw);
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get highWatermark(): number {
    return this.hw;
  }

  /**
   * The last stable offset (Kafka's Partition.lastStableOffset): the log's first unstable offset (the oldest open
   * transaction, or a completed one whose marker is not replicated yet) when below the high watermark, else the high
   * watermark; never below the log start offset (retention or DeleteRecords may remove an open transaction's first
   * records, as Kafka's updateFirstUnstableOffset clamps it). read_committed consumers read up to here.
   */
  get lastStableOffset(): number {
    const firstUnstable = this.log.firstUnstableOffset;
    if (firstUnstable < 0 || firstUnstable >= this.hw) return this.hw;
    return Math.max(firstUnstable, this.log.logStartOffset);
  }

  /** The ISR the high watermark and acks=all count on: the committed one, or with an expansion in flight, both. */
  get maximalIsr(): readonly number[] {
    const p = this.pendingIsr;
    if (p === null || p.kind === 'shrink') return this.isr;
    return [...new Set([...this.isr, ...p.isr])];
  }

  replicaState(brokerId: number): ReplicaState | undefined {
    return this.remote.get(brokerId);
  }

  /** KIP-320: the caller's current_leader_epoch against ours (-1: not checked). */
  checkLeaderEpoch(currentLeaderEpoch: number): number {
    if (currentLeaderEpoch < 0) return ErrorCode.NONE;
    if (currentLeaderEpoch < this.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
    if (currentLeaderEpoch > this.leaderEpoch) return ErrorCode.UNKNOWN_LEADER_EPOCH;
    return ErrorCode.NONE;
  }

  // ---------------------------------------------------------------------------------------------
  // Role changes (level-triggered from the registry)

  /**
   * Becomes (or stays, at a new epoch) leader (Kafka's Partition.makeLeader): records the epoch's start offset in
   * the leader epoch cache, resets what it knows of the followers, and moves the high watermark if the ISR lets
   * it (an ISR of one). Returns whether this broker was not leader before, and whether the high watermark moved.
   */
  makeLeader(state: LeaderAndIsr, nowMs: number): { isNewLeader: boolean; hwIncreased: boolean } {
    const isNewLeader = !this.isLeader;
    this.applyState(state);
    const startOffset = this.log.logEndOffset;
    this.leaderEpochStartOffset = startOffset;
    // Followers ask for the end offset of their latest epoch: the new epoch must be in the cache before any of
    // its batches, since a follower may hold entries of an epoch later than any in this log (KIP-279).
    this.log.leaderEpochCache.assign(state.leaderEpoch, startOffset);
    for (const id of state.replicas) {
      if (id === this.localBrokerId) continue;
      let r = this.remote.get(id);
      if (r === undefined) this.remote.set(id, (r = new ReplicaState(id)));
      r.reset(nowMs, startOffset, isNewLeader, state.isr.includes(id));
    }
    for (const id of [...this.remote.keys()]) if (!state.replicas.includes(id)) this.remote.delete(id);
    this.role = 'leader';
    this.leaderId = this.localBrokerId;
    return { isNewLeader, hwIncreased: this.maybeIncrementLeaderHW(nowMs) };
  }

  /**
   * Becomes follower of `state.leader` (-1: no leader) (Kafka's Partition.makeFollower). Returns true when the
   * leader or the leader epoch changed, i.e. when fetching must restart (with a truncation check).
   */
  makeFollower(state: LeaderAndIsr): boolean {
    const changed = this.role !== 'follower' || this.leaderId !== state.leader || this.leaderEpoch !== state.leaderEpoch;
    this.applyState(state);
    this.role = 'follower';
    this.leaderId = state.leader;
    this.leaderEpochStartOffset = -1;
    this.remote.clear();
    return changed;
  }

  /**
   * A newer version of the state znode at the same leader epoch (an ISR change written by the leader): adopt its
   * ISR and version. A leader with a change in flight keeps waiting for its own write's outcome.
   */
  adoptIsr(state: LeaderAndIsr): void {
    this.replicas = state.replicas;
    this.controllerEpoch = state.controllerEpoch;
    if (this.isLeader && this.pendingIsr !== null) return;
    this.isr = state.isr;
    this.zkVersion = state.zkVersion;
  }

  private applyState(state: LeaderAndIsr): void {
    this.controllerEpoch = state.controllerEpoch;
    this.replicas = state.replicas;
    this.isr = state.isr;
    this.pendingIsr = null;
    this.leaderEpoch = state.leaderEpoch;
    this.zkVersion = state.zkVersion;
  }

  // ---------------------------------------------------------------------------------------------
  // Leader: follower fetches, high watermark, ISR

  /**
   * A follower fetched at `fetchOffset` (Kafka's updateFollowerFetchState): records its progress, decides
   * whether it rejoins the ISR (`isrExpand`, to be written by the caller; in flight, it already counts for the
   * high watermark), then moves the high watermark. Also says whether its log start offset changed (DeleteRecords
   * waits on that).
   */
  updateFollowerFetchState(
    replicaId: number,
    fetchOffset: number,
    followerStartOffset: number,
    nowMs: number,
    leaderEndOffset: number,
  ): { hwIncreased: boolean; logStartOffsetChanged: boolean; isrExpand: PendingIsrChange | null } {
    const r = this.remote.get(replicaId);
    if (r === undefined || !this.isLeader) return { hwIncreased: false, logStartOffsetChanged: false, isrExpand: null };
    const prevEnd = r.logEndOffset;
    const prevStart = r.logStartOffset;
    r.updateFetchState(fetchOffset, followerStartOffset, nowMs, leaderEndOffset);
    const isrExpand = this.prepareIsrExpand(replicaId);
    const hwIncreased = prevEnd !== r.logEndOffset || isrExpand !== null ? this.maybeIncrementLeaderHW(nowMs) : false;
    return { hwIncreased, logStartOffsetChanged: prevStart !== r.logStartOffset, isrExpand };
  }

  /** Leader: HW = min log end offset over the maximal ISR; only ever moves forward. Returns true if it moved. */
  maybeIncrementLeaderHW(_nowMs: number = Date.now()): boolean {
    if (!this.isLeader) return false;
    let newHw = this.log.logEndOffset;
    for (const id of this.maximalIsr) {
      if (id === this.localBrokerId) continue;
      const r = this.remote.get(id);
      // An ISR member this leader has not heard from yet (UNKNOWN_OFFSET) holds the high watermark where it is.
      const end = r === undefined ? UNKNOWN_OFFSET : r.logEndOffset;
      if (end < newHw) newHw = end;
    }
    if (newHw > this.hw) {
      this.setHighWatermark(Math.min(newHw, this.log.logEndOffset));
      return true;
    }
    return false;
  }

  /**
   * The ISR expansion this follower's progress calls for, or null (Kafka's maybeExpandIsr): an assigned replica
   * outside the ISR whose log end offset reached both the high watermark and the start of the current epoch. Marks the change
   * as in flight; the caller writes it.
   */
  prepareIsrExpand(replicaId: number): PendingIsrChange | null {
    if (!this.isLeader || this.pendingIsr !== null || this.isr.includes(replicaId)) return null;
    // Only an assigned replica joins (a replica a reassignment removed may still be fetching for a moment).
    if (!this.replicas.includes(replicaId)) return null;
    const r = this.remote.get(replicaId);
    if (r === undefined || r.logEndOffset < this.hw || r.logEndOffset < this.leaderEpochStartOffset) return null;
    return this.setPending('expand', [...this.isr, replicaId]);
  }

  /**
   * The ISR shrink the followers' lag calls for, or null (Kafka's maybeShrinkIsr): members other than the leader
   * not caught up within `maxLagMs`. Marks the change as in flight; the caller writes it.
   */
  prepareIsrShrink(nowMs: number, maxLagMs: number): PendingIsrChange | null {
    if (!this.isLeader || this.pendingIsr !== null) return null;
    const end = this.log.logEndOffset;
    const outOfSync = this.isr.filter((id) => {
      if (id === this.localBrokerId) return false;
      const r = this.remote.get(id);
      return r === undefined || !r.isCaughtUp(end, nowMs, maxLagMs);
    });
    if (outOfSync.length === 0) return null;
    return this.setPending(
      'shrink',
      this.isr.filter((id) => !outOfSync.includes(id)),
    );
  }

  private setPending(kind: PendingIsrChange['kind'], isr: number[]): PendingIsrChange {
    const change: PendingIsrChange = { kind, isr, leaderEpoch: this.leaderEpoch, controllerEpoch: this.controllerEpoch, zkVersion: this.zkVersion };
    this.pendingIsr = change;
    return change;
  }

  /**
   * The outcome of writing `change`: committed at `zkVersion`, or dropped (the registry had another version;
   * `current` is what it holds when that is still this leader at the same epoch). Returns whether the high
   * watermark moved. A change that is no longer the pending one (the role changed meanwhile) is ignored.
   */
  completeIsrChange(change: PendingIsrChange, outcome: { committed: true; zkVersion: number } | { committed: false; current?: { isr: readonly number[]; zkVersion: number } }): boolean {
    if (this.pendingIsr !== change) return false;
    this.pendingIsr = null;
    if (outcome.committed) {
      this.isr = change.isr;
      this.zkVersion = outcome.zkVersion;
    } else if (outcome.current !== undefined && outcome.current.zkVersion >= this.zkVersion) {
      this.isr = outcome.current.isr;
      this.zkVersion = outcome.current.zkVersion;
    }
    // A shrink lets the high watermark move past the removed replicas; also check after an expansion.
    return this.maybeIncrementLeaderHW();
  }

  /**
   * acks=all completion (Kafka's checkEnoughReplicasReachOffset): done once the high watermark reaches
   * `requiredOffset`; NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then below min.insync.replicas;
   * NOT_LEADER_OR_FOLLOWER once this broker stopped leading.
   */
  checkEnoughReplicasReachOffset(requiredOffset: number): { done: boolean; errorCode: number } {
    if (!this.isLeader) return { done: true, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    if (this.log.isOffline) return { done: true, errorCode: ErrorCode.KAFKA_STORAGE_ERROR };
    if (this.hw < requiredOffset) return { done: false, errorCode: ErrorCode.NONE };
    if (this.maximalIsr.length < this.minInsyncReplicas) return { done: true, errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND };
    return { done: true, errorCode: ErrorCode.NONE };
  }

  /** Leader: the smallest log start offset over itself and the followers on live brokers (DeleteRecords). */
  lowWatermark(isLive: (brokerId: number) => boolean): number {
    let lw = this.log.logStartOffset;
    for (const r of this.remote.values()) {
      if (isLive(r.brokerId) && r.logStartOffset < lw) lw = r.logStartOffset;
    }
    return lw;
  }

  // ---------------------------------------------------------------------------------------------
  // Follower

  /** Follower: HW = min(the leader's HW, own log end offset), within the log. Returns true when it changed. */
  updateFollowerHighWatermark(leaderHighWatermark: number): boolean {
    const hw = clamp(leaderHighWatermark, this.log.logStartOffset, this.log.logEndOffset);
    if (hw === this.hw) return false;
    this.setHighWatermark(hw);
    return true;
  }

  /** The log was truncated or restarted: keep the high watermark within it. */
  onLogTruncated(): void {
    this.setHighWatermark(clamp(this.hw, this.log.logStartOffset, this.log.logEndOffset));
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(v, hi));
}
