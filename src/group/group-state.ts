/**
 * One classic consumer group and Kafka's state machine for it (GroupMetadata + the join/sync/heartbeat/leave
 * parts of Kafka's GroupCoordinator):
 *
 *   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
 *     ▲                 ▲      │ no member left                                  │ leader's SyncGroup stored
 *     └─────────────────┼──────┘                                                 ▼
 *                       └──────────── join / leave / expiry ─────────────────── Stable
 *   Dead: deleted or unloaded (no longer this broker's).
 *
 * Time comes from an injectable Clock so tests drive sessions, rebalance timeouts and the initial
 * rebalance delay with a fake one. Persistence is a hook (`storeGroup`): the coordinator turns it into a
 * GroupMetadata record in __consumer_offsets and answers once it is appended.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../protocol/errors.js';

export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface Clock {
  now(): number;
  /** Runs fn after ms; returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return () => clearTimeout(t);
  },
};

export interface GroupConfig {
  initialRebalanceDelayMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  maxSize: number;
}

export const DEFAULT_GROUP_CONFIG: GroupConfig = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1800000,
  maxSize: 2147483647,
};

/** Kafka's group.coordinator new member join timeout (KIP-394): a member that joined but never rejoined. */
export const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;

const EMPTY = Buffer.alloc(0);

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinRequestInfo {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  /** JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id (KIP-394). */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+: a static leader rejoining a stable group is told to skip the assignment (KIP-814). */
  supportsSkipAssignment: boolean;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface SyncRequestInfo {
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface LeaveMember {
  memberId: string;
  groupInstanceId: string | null;
}

export class Member {
  assignment: Buffer = EMPTY;
  awaitingJoin: ((r: JoinResult) => void) | null = null;
  awaitingSync: ((r: SyncResult) => void) | null = null;
  /** Joined during this rebalance and not yet through a completed join. */
  isNew = false;
  heartbeatSatisfied = false;
  cancelExpiry: (() => void) | null = null;
  supportsSkipAssignment = false;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    public protocolType: string,
    public protocols: Protocol[],
  ) {}

  metadata(protocol: string): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? EMPTY;
  }

  matches(protocols: Protocol[]): boolean {
    return (
      protocols.length === this.protocols.length &&
      protocols.every((p, i) => p.name === this.protocols[i]!.name && p.metadata.equals(this.protocols[i]!.metadata))
    );
  }
}

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** Set when the commit asked for its own retention (OffsetCommit v1-4); else -1. */
  expireTimestamp: number;
}

export interface GroupHooks {
  clock: Clock;
  config: GroupConfig;
  /**
   * Persists the group as it will be with these assignments (a GroupMetadata record); resolves with an
   * error code for the members (NONE when stored).
   */
  storeGroup(group: Group, assignments: Map<string, Buffer>): Promise<number>;
  newMemberId?(clientId: string): string;
  /** Reports a failure in work nobody awaits (a store whose result only updates the group); default: ignored. */
  reportError?(what: string, err: unknown): void;
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class Group {
  state: GroupStateName = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, not yet joined with them. */
  readonly pendingMembers = new Map<string, () => void>();
  readonly staticMembers = new Map<string, string>();
  readonly offsets = new Map<string, { topic: string; partition: number; value: CommittedOffset }>();
  /** When the group last changed state (GroupMetadataValue v2+ current_state_timestamp). */
  currentStateTimestamp: number;
  private newMemberAdded = false;
  /** A rebalance started from Empty waits out group.initial.rebalance.delay.ms: only its timer completes it. */
  private initialJoinPending = false;
  private cancelJoinTimer: (() => void) | null = null;
  private cancelSyncTimer: (() => void) | null = null;

  constructor(
    readonly groupId: string,
    private readonly hooks: GroupHooks,
  ) {
    this.currentStateTimestamp = hooks.clock.now();
  }

  private get clock(): Clock {
    return this.hooks.clock;
  }

  private transition(to: GroupStateName): void {
    this.state = to;
    this.currentStateTimestamp = this.clock.now();
  }

  is(s: GroupStateName): boolean {
    return this.state === s;
  }

  get isEmpty(): boolean {
    return this.members.size === 0;
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  isStaticMemberFenced(memberId: string, groupInstanceId: string | null): boolean {
    if (groupInstanceId === null) return false;
    const current = this.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  /** Protocols every member supports. */
  private supportedProtocols(): Set<string> | null {
    if (this.members.size === 0) return null;
    const counts = new Map<string, number>();
    for (const m of this.members.values()) for (const p of m.protocols) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
    return new Set([...counts].filter(([, n]) => n === this.members.size).map(([name]) => name));
  }

  supportsProtocols(protocolType: string, protocols: Protocol[]): boolean {
    if (this.is('Empty') || this.members.size === 0) return protocolType.length > 0 && protocols.length > 0;
    if (this.protocolType !== protocolType) return false;
    const supported = this.supportedProtocols()!;
    return protocols.some((p) => supported.has(p.name));
  }

  /** Kafka's selectProtocol: each member votes for its first supported candidate; ties go to the leader's preference. */
  selectProtocol(): string {
    const candidates = this.supportedProtocols();
    if (!candidates || candidates.size === 0) throw new Error(`no protocol supported by all members of ${this.groupId}`);
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const vote = m.protocols.find((p) => candidates.has(p.name))!.name;
      votes.set(vote, (votes.get(vote) ?? 0) + 1);
    }
    const leader = this.leaderId ? this.members.get(this.leaderId) : undefined;
    const order = (leader ?? [...this.members.values()][0]!).protocols.map((p) => p.name).filter((n) => candidates.has(n));
    let best = order[0]!;
    for (const name of order) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  private get rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  private hasAllMembersJoined(): boolean {
    if (this.pendingMembers.size > 0) return false;
    for (const m of this.members.values()) if (!m.awaitingJoin) return false;
    return true;
  }

  private canRebalance(): boolean {
    return this.is('Stable') || this.is('CompletingRebalance') || this.is('Empty');
  }

  // ------------------------------------------------------------------------------------------
  // Heartbeat expiry

  private scheduleExpiry(member: Member, timeoutMs = member.sessionTimeoutMs): void {
    member.cancelExpiry?.();
    member.heartbeatSatisfied = false;
    member.cancelExpiry = this.clock.schedule(timeoutMs, () => this.onExpire(member));
  }

  private completeAndScheduleNextHeartbeat(member: Member): void {
    this.scheduleExpiry(member);
  }

  private onExpire(member: Member): void {
    member.cancelExpiry = null;
    if (this.members.get(member.memberId) !== member || this.is('Dead')) return;
    // Members waiting in a join or sync are bounded by the rebalance timeout instead (as Kafka's hasSatisfiedHeartbeat).
    if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) {
      this.scheduleExpiry(member);
      return;
    }
    this.removeMemberAndUpdateGroup(member);
  }

  // ------------------------------------------------------------------------------------------
  // JoinGroup

  join(req: JoinRequestInfo): Promise<JoinResult> {
    const fail = (errorCode: number, memberId = req.memberId): JoinResult => ({
      errorCode,
      generationId: -1,
      protocolType: null,
      protocolName: null,
      leader: '',
      skipAssignment: false,
      memberId,
      members: [],
    });
    const cfg = this.hooks.config;
    if (req.sessionTimeoutMs < cfg.minSessionTimeoutMs || req.sessionTimeoutMs > cfg.maxSessionTimeoutMs) {
      return Promise.resolve(fail(ErrorCode.INVALID_SESSION_TIMEOUT));
    }
    if (this.is('Dead')) return Promise.resolve(fail(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!this.supportsProtocols(req.protocolType, req.protocols)) return Promise.resolve(fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL));

    if (req.memberId === '') {
      const isKnownStatic = req.groupInstanceId !== null && this.staticMembers.has(req.groupInstanceId);
      if (!isKnownStatic && this.members.size >= cfg.maxSize) return Promise.resolve(fail(ErrorCode.GROUP_MAX_SIZE_REACHED));
      const newMemberId = this.hooks.newMemberId?.(req.clientId) ?? `${req.clientId}-${randomUUID()}`;
      if (req.groupInstanceId !== null) return this.staticMemberJoin(req, newMemberId);
      if (req.requireKnownMemberId) {
        // KIP-394: hand out the id and wait for the member to come back with it.
        const cancel = this.clock.schedule(req.sessionTimeoutMs, () => {
          if (this.pendingMembers.delete(newMemberId) && this.is('PreparingRebalance')) this.maybeCompleteJoin();
        });
        this.pendingMembers.set(newMemberId, cancel);
        return Promise.resolve(fail(ErrorCode.MEMBER_ID_REQUIRED, newMemberId));
      }
      return this.addMemberAndRebalance(req, newMemberId);
    }

    // A known (or pending) member id.
    const pending = this.pendingMembers.get(req.memberId);
    if (pending) {
      pending();
      this.pendingMembers.delete(req.memberId);
      if (this.members.size >= cfg.maxSize) return Promise.resolve(fail(ErrorCode.GROUP_MAX_SIZE_REACHED));
      return this.addMemberAndRebalance(req, req.memberId);
    }
    if (this.isStaticMemberFenced(req.memberId, req.groupInstanceId)) return Promise.resolve(fail(ErrorCode.FENCED_INSTANCE_ID));
    const member = this.members.get(req.memberId);
    if (!member) return Promise.resolve(fail(ErrorCode.UNKNOWN_MEMBER_ID));
    switch (this.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(member, req);
      case 'CompletingRebalance':
        if (member.matches(req.protocols)) {
          // A retried join with the same metadata: answer with the current generation.
          return Promise.resolve(this.joinResultFor(member));
        }
        return this.updateMemberAndRebalance(member, req);
      case 'Stable':
        if (member.memberId === this.leaderId || !member.matches(req.protocols)) return this.updateMemberAndRebalance(member, req);
        return Promise.resolve({ ...this.joinResultFor(member), members: [] });
      default:
        return Promise.resolve(fail(ErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  private joinResultFor(member: Member): JoinResult {
    const isLeader = member.memberId === this.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName,
      leader: this.leaderId ?? '',
      skipAssignment: false,
      memberId: member.memberId,
      members: isLeader ? this.memberList() : [],
    };
  }

  private memberList(): JoinResult['members'] {
    return [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.metadata(this.protocolName ?? ''),
    }));
  }

  private staticMemberJoin(req: JoinRequestInfo, newMemberId: string): Promise<JoinResult> {
    const instanceId = req.groupInstanceId!;
    const oldMemberId = this.staticMembers.get(instanceId);
    const old = oldMemberId !== undefined ? this.members.get(oldMemberId) : undefined;
    if (!old) return this.addMemberAndRebalance(req, newMemberId);

    // Replace the old member id with the new one; the old instance is fenced.
    const oldProtocols = old.protocols;
    this.members.delete(old.memberId);
    const wasLeader = this.leaderId === old.memberId;
    old.memberId = newMemberId;
    old.clientId = req.clientId;
    old.clientHost = req.clientHost;
    old.sessionTimeoutMs = req.sessionTimeoutMs;
    old.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    old.supportsSkipAssignment = req.supportsSkipAssignment;
    this.members.set(newMemberId, old);
    this.staticMembers.set(instanceId, newMemberId);
    if (wasLeader) this.leaderId = newMemberId;
    const oldJoin = old.awaitingJoin;
    const oldSync = old.awaitingSync;
    old.awaitingJoin = null;
    old.awaitingSync = null;
    oldJoin?.({ ...this.errorJoin(ErrorCode.FENCED_INSTANCE_ID), memberId: oldMemberId! });
    oldSync?.({ errorCode: ErrorCode.FENCED_INSTANCE_ID, protocolType: null, protocolName: null, assignment: EMPTY });

    if (this.is('Stable')) {
      const selected = this.protocolName ?? '';
      const stillSupported = req.protocols.some((p) => p.name === selected);
      old.protocols = req.protocols;
      if (!stillSupported || !req.protocols.find((p) => p.name === selected)!.metadata.equals(oldProtocols.find((p) => p.name === selected)?.metadata ?? EMPTY)) {
        return this.updateMemberAndRebalance(old, req);
      }
      this.completeAndScheduleNextHeartbeat(old);
      // Persist the new member id; the member keeps its assignment without a rebalance.
      const assignments = new Map([...this.members.values()].map((m) => [m.memberId, m.assignment]));
      return this.hooks.storeGroup(this, assignments).then((err) => {
        if (err !== ErrorCode.NONE) return { ...this.errorJoin(err), memberId: newMemberId };
        const isLeader = this.leaderId === newMemberId;
        return {
          errorCode: ErrorCode.NONE,
          generationId: this.generationId,
          protocolType: this.protocolType,
          protocolName: this.protocolName,
          leader: this.leaderId ?? '',
          skipAssignment: isLeader && req.supportsSkipAssignment,
          memberId: newMemberId,
          members: isLeader && req.supportsSkipAssignment ? this.memberList() : [],
        };
      });
    }
    return this.updateMemberAndRebalance(old, req);
  }

  private errorJoin(errorCode: number): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, memberId: '', members: [] };
  }

  private addMemberAndRebalance(req: JoinRequestInfo, memberId: string): Promise<JoinResult> {
    const member = new Member(
      memberId,
      req.groupInstanceId,
      req.clientId,
      req.clientHost,
      req.rebalanceTimeoutMs,
      req.sessionTimeoutMs,
      req.protocolType,
      req.protocols,
    );
    member.isNew = true;
    member.supportsSkipAssignment = req.supportsSkipAssignment;
    if (this.is('PreparingRebalance') && this.initialJoinPending) this.newMemberAdded = true;
    if (this.members.size === 0) this.protocolType = req.protocolType;
    this.members.set(memberId, member);
    if (req.groupInstanceId !== null) this.staticMembers.set(req.groupInstanceId, memberId);
    if (this.leaderId === null) this.leaderId = memberId;
    const result = new Promise<JoinResult>((resolve) => (member.awaitingJoin = resolve));
    this.scheduleExpiry(member, NEW_MEMBER_JOIN_TIMEOUT_MS);
    this.maybePrepareRebalance();
    this.maybeCompleteJoin();
    return result;
  }

  private updateMemberAndRebalance(member: Member, req: JoinRequestInfo): Promise<JoinResult> {
    member.protocols = req.protocols;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.supportsSkipAssignment = req.supportsSkipAssignment;
    const previous = member.awaitingJoin;
    const result = new Promise<JoinResult>((resolve) => (member.awaitingJoin = resolve));
    // A member re-sending its join while the previous one is parked: the old request gets the error Kafka sends.
    previous?.({ ...this.errorJoin(ErrorCode.UNKNOWN_MEMBER_ID), memberId: member.memberId });
    this.maybePrepareRebalance();
    this.maybeCompleteJoin();
    return result;
  }

  private maybePrepareRebalance(): void {
    if (this.canRebalance()) this.prepareRebalance();
  }

  /** Starts a rebalance (also used by the coordinator, e.g. after loading). */
  prepareRebalance(): void {
    if (this.is('CompletingRebalance')) this.resetAndPropagateAssignmentError(ErrorCode.REBALANCE_IN_PROGRESS);
    this.cancelSyncTimer?.();
    this.cancelSyncTimer = null;
    this.cancelJoinTimer?.();
    const wasEmpty = this.is('Empty');
    this.transition('PreparingRebalance');
    this.initialJoinPending = false;
    if (wasEmpty && this.hooks.config.initialRebalanceDelayMs > 0) {
      const delay = this.hooks.config.initialRebalanceDelayMs;
      this.newMemberAdded = false;
      this.initialJoinPending = true;
      this.scheduleInitialDelay(delay, Math.max(this.rebalanceTimeoutMs - delay, 0));
    } else {
      this.cancelJoinTimer = this.clock.schedule(this.rebalanceTimeoutMs, () => {
        this.cancelJoinTimer = null;
        this.completeJoin();
      });
    }
    // As Kafka's tryCompleteElseWatch: a rebalance everyone has already joined (or no one is left for) completes now.
    this.maybeCompleteJoin();
  }

  /** Kafka's InitialDelayedJoin: keep waiting while new members arrive, up to the rebalance timeout. */
  private scheduleInitialDelay(delay: number, remaining: number): void {
    this.cancelJoinTimer = this.clock.schedule(delay, () => {
      this.cancelJoinTimer = null;
      if (!this.is('PreparingRebalance')) return;
      if (this.newMemberAdded && remaining > 0) {
        this.newMemberAdded = false;
        const next = Math.min(this.hooks.config.initialRebalanceDelayMs, remaining);
        this.scheduleInitialDelay(next, Math.max(remaining - next, 0));
      } else {
        this.initialJoinPending = false;
        this.completeJoin();
      }
    });
  }

  private maybeCompleteJoin(): void {
    if (!this.is('PreparingRebalance')) return;
    // During the initial delay only the timer completes the join (new members keep arriving).
    if (this.initialJoinPending) return;
    if (this.hasAllMembersJoined()) {
      this.cancelJoinTimer?.();
      this.cancelJoinTimer = null;
      this.completeJoin();
    }
  }

  private completeJoin(): void {
    if (!this.is('PreparingRebalance')) return;
    // Dynamic members that did not rejoin in time are removed; static ones stay.
    for (const m of [...this.members.values()]) {
      if (!m.awaitingJoin && m.groupInstanceId === null) this.removeMember(m);
    }
    if (this.leaderId !== null && !this.members.get(this.leaderId)?.awaitingJoin) {
      const joined = [...this.members.values()].find((m) => m.awaitingJoin);
      if (joined) this.leaderId = joined.memberId;
    }
    this.initNextGeneration();
    if (this.is('Empty')) {
      // The empty group's new generation is stored for the record; nobody waits for it.
      this.hooks.storeGroup(this, new Map()).catch((err) => this.hooks.reportError?.(`storing empty group ${this.groupId}`, err));
      return;
    }
    for (const m of this.members.values()) {
      const cb = m.awaitingJoin;
      m.awaitingJoin = null;
      m.isNew = false;
      cb?.(this.joinResultFor(m));
      this.completeAndScheduleNextHeartbeat(m);
    }
    // Kafka's pending-sync timeout: members that do not sync within the rebalance timeout are removed.
    const generation = this.generationId;
    this.cancelSyncTimer = this.clock.schedule(this.rebalanceTimeoutMs, () => {
      this.cancelSyncTimer = null;
      if (!this.is('CompletingRebalance') || this.generationId !== generation) return;
      for (const m of [...this.members.values()]) if (!m.awaitingSync) this.removeMember(m);
      this.prepareRebalance();
    });
  }

  private initNextGeneration(): void {
    this.generationId += 1;
    if (this.members.size > 0) {
      this.protocolName = this.selectProtocol();
      this.transition('CompletingRebalance');
    } else {
      this.protocolName = null;
      this.leaderId = null;
      this.transition('Empty');
    }
  }

  private resetAndPropagateAssignmentError(errorCode: number): void {
    for (const m of this.members.values()) {
      m.assignment = EMPTY;
      const cb = m.awaitingSync;
      m.awaitingSync = null;
      cb?.({ errorCode, protocolType: this.protocolType, protocolName: this.protocolName, assignment: EMPTY });
    }
  }

  private removeMember(member: Member): void {
    member.cancelExpiry?.();
    member.cancelExpiry = null;
    this.members.delete(member.memberId);
    if (member.groupInstanceId !== null && this.staticMembers.get(member.groupInstanceId) === member.memberId) {
      this.staticMembers.delete(member.groupInstanceId);
    }
    const join = member.awaitingJoin;
    const sync = member.awaitingSync;
    member.awaitingJoin = null;
    member.awaitingSync = null;
    join?.({ ...this.errorJoin(ErrorCode.UNKNOWN_MEMBER_ID), memberId: member.memberId });
    sync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, protocolType: null, protocolName: null, assignment: EMPTY });
    if (this.leaderId === member.memberId) this.leaderId = this.members.keys().next().value ?? null;
  }

  private removeMemberAndUpdateGroup(member: Member): void {
    this.removeMember(member);
    switch (this.state) {
      case 'Dead':
      case 'Empty':
        return;
      case 'Stable':
      case 'CompletingRebalance':
        this.maybePrepareRebalance();
        return;
      case 'PreparingRebalance':
        this.maybeCompleteJoin();
        return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // SyncGroup

  sync(req: SyncRequestInfo): Promise<SyncResult> {
    const fail = (errorCode: number): Promise<SyncResult> => Promise.resolve({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
    if (this.is('Dead')) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (this.isStaticMemberFenced(req.memberId, req.groupInstanceId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = this.members.get(req.memberId);
    if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== this.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if ((req.protocolType !== null && req.protocolType !== this.protocolType) || (req.protocolName !== null && req.protocolName !== this.protocolName)) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (this.state) {
      case 'Empty':
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      case 'PreparingRebalance':
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case 'CompletingRebalance': {
        const result = new Promise<SyncResult>((resolve) => (member.awaitingSync = resolve));
        this.completeAndScheduleNextHeartbeat(member);
        if (member.memberId === this.leaderId) {
          const assignments = new Map<string, Buffer>();
          for (const a of req.assignments) if (this.members.has(a.memberId)) assignments.set(a.memberId, a.assignment ?? EMPTY);
          // Members the leader left out get an empty assignment (never a missing one).
          for (const id of this.members.keys()) if (!assignments.has(id)) assignments.set(id, EMPTY);
          const generation = this.generationId;
          this.hooks.storeGroup(this, assignments).then((err) => {
            if (!this.is('CompletingRebalance') || this.generationId !== generation) return;
            if (err !== ErrorCode.NONE) {
              this.resetAndPropagateAssignmentError(err);
              this.maybePrepareRebalance();
              return;
            }
            for (const [id, a] of assignments) {
              const m = this.members.get(id);
              if (m) m.assignment = a;
            }
            this.cancelSyncTimer?.();
            this.cancelSyncTimer = null;
            for (const m of this.members.values()) {
              const cb = m.awaitingSync;
              m.awaitingSync = null;
              cb?.({ errorCode: ErrorCode.NONE, protocolType: this.protocolType, protocolName: this.protocolName, assignment: m.assignment });
            }
            this.transition('Stable');
          }).catch((err) => {
            // storeGroup itself resolves with an error code; this is a failure in the code above
            this.hooks.reportError?.(`completing the sync of group ${this.groupId}`, err);
            try {
              if (this.is('CompletingRebalance') && this.generationId === generation) {
                this.resetAndPropagateAssignmentError(ErrorCode.UNKNOWN_SERVER_ERROR);
                this.maybePrepareRebalance();
              }
            } catch (again) {
              this.hooks.reportError?.(`recovering group ${this.groupId} from a failed sync`, again);
            }
          });
        }
        return result;
      }
      case 'Stable':
        this.completeAndScheduleNextHeartbeat(member);
        return Promise.resolve({ errorCode: ErrorCode.NONE, protocolType: this.protocolType, protocolName: this.protocolName, assignment: member.assignment });
    }
    return fail(ErrorCode.UNKNOWN_MEMBER_ID);
  }

  // ------------------------------------------------------------------------------------------
  // Heartbeat and LeaveGroup

  heartbeat(memberId: string, groupInstanceId: string | null, generationId: number): number {
    if (this.is('Dead')) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (this.isStaticMemberFenced(memberId, groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    const member = this.members.get(memberId);
    if (this.is('Empty') || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.completeAndScheduleNextHeartbeat(member);
    member.heartbeatSatisfied = true;
    return this.is('PreparingRebalance') ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  /** Removes members (LeaveGroup); returns one error code per member in order. */
  leave(members: LeaveMember[]): number[] {
    return members.map((lm) => {
      if (this.is('Dead')) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
      if (lm.groupInstanceId === null) {
        const cancel = this.pendingMembers.get(lm.memberId);
        if (cancel) {
          cancel();
          this.pendingMembers.delete(lm.memberId);
          if (this.is('PreparingRebalance')) this.maybeCompleteJoin();
          return ErrorCode.NONE;
        }
        const m = this.members.get(lm.memberId);
        if (!m) return ErrorCode.UNKNOWN_MEMBER_ID;
        this.removeMemberAndUpdateGroup(m);
        return ErrorCode.NONE;
      }
      const current = this.staticMembers.get(lm.groupInstanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (lm.memberId !== '' && lm.memberId !== current) return ErrorCode.FENCED_INSTANCE_ID;
      this.removeMemberAndUpdateGroup(this.members.get(current)!);
      return ErrorCode.NONE;
    });
  }

  /** Kafka's validateOffsetCommit; null when the commit may go ahead. */
  validateCommit(memberId: string, groupInstanceId: string | null, generationId: number): number | null {
    if (this.is('Dead')) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (generationId >= 0 || memberId !== '' || groupInstanceId !== null) {
      if (this.isStaticMemberFenced(memberId, groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
      if (!this.members.has(memberId)) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (generationId !== this.generationId) return ErrorCode.ILLEGAL_GENERATION;
      if (this.is('CompletingRebalance')) return ErrorCode.REBALANCE_IN_PROGRESS;
      this.completeAndScheduleNextHeartbeat(this.members.get(memberId)!);
      return null;
    }
    // A simple (standalone) commit: only while no member manages the group.
    if (!this.is('Empty')) return ErrorCode.UNKNOWN_MEMBER_ID;
    return null;
  }

  // ------------------------------------------------------------------------------------------
  // Loading, unloading, deletion

  /** Restores the group from a GroupMetadata record (members as Stable, each with a fresh session). */
  load(value: {
    protocolType: string;
    generation: number;
    protocol: string | null;
    leader: string | null;
    currentStateTimestamp: number;
    members: {
      memberId: string;
      groupInstanceId: string | null;
      clientId: string;
      clientHost: string;
      rebalanceTimeout: number;
      sessionTimeout: number;
      subscription: Buffer;
      assignment: Buffer;
    }[];
  }): void {
    this.generationId = value.generation;
    this.protocolType = value.protocolType === '' ? null : value.protocolType;
    this.protocolName = value.protocol;
    this.leaderId = value.leader;
    this.state = value.members.length === 0 ? 'Empty' : 'Stable';
    this.currentStateTimestamp = value.currentStateTimestamp >= 0 ? value.currentStateTimestamp : this.clock.now();
    for (const md of value.members) {
      const m = new Member(
        md.memberId,
        md.groupInstanceId,
        md.clientId,
        md.clientHost,
        md.rebalanceTimeout < 0 ? md.sessionTimeout : md.rebalanceTimeout,
        md.sessionTimeout,
        value.protocolType,
        [{ name: value.protocol ?? '', metadata: md.subscription }],
      );
      m.assignment = md.assignment;
      this.members.set(m.memberId, m);
      if (m.groupInstanceId !== null) this.staticMembers.set(m.groupInstanceId, m.memberId);
      this.scheduleExpiry(m);
    }
  }

  /** Marks the group Dead: parked requests get errorCode (NOT_COORDINATOR on unload, as Kafka). */
  shutdown(errorCode: number): void {
    this.cancelJoinTimer?.();
    this.cancelSyncTimer?.();
    this.cancelJoinTimer = this.cancelSyncTimer = null;
    for (const cancel of this.pendingMembers.values()) cancel();
    this.pendingMembers.clear();
    for (const m of this.members.values()) {
      m.cancelExpiry?.();
      m.cancelExpiry = null;
      const join = m.awaitingJoin;
      const sync = m.awaitingSync;
      m.awaitingJoin = m.awaitingSync = null;
      join?.({ ...this.errorJoin(errorCode), memberId: m.memberId });
      sync?.({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
    }
    this.transition('Dead');
  }

  /** Members' subscribed topics (consumer protocol), or null when unknown. */
  subscribedTopics(decode: (metadata: Buffer) => string[] | null): Set<string> | null {
    if (this.protocolType !== 'consumer' || !this.protocolName) return null;
    const topics = new Set<string>();
    for (const m of this.members.values()) {
      const t = decode(m.metadata(this.protocolName));
      if (!t) return null;
      for (const x of t) topics.add(x);
    }
    return topics;
  }
}
