/**
 * The group coordinator: owns the groups whose __consumer_offsets partition this broker leads
 * (NOT_COORDINATOR for the others, COORDINATOR_LOAD_IN_PROGRESS while a partition is replayed).
 *
 * Event-sourced as Kafka's GroupMetadataManager: every mutation becomes records in __consumer_offsets,
 * appended through the ReplicaManager before the response goes out, and applied to memory only once
 * appended. Records are laid out exactly as Kafka writes them: key = int16 version + OffsetCommitKey
 * (version 1) or GroupMetadataKey (version 2); value = int16 version + OffsetCommitValue (v3, or v1 when
 * the commit carries its own expire timestamp) or GroupMetadataValue (v3); a null value is a tombstone.
 * On becoming leader of an offsets partition the coordinator replays its log to rebuild committed offsets
 * and groups. Offsets of Empty groups expire after offsets.retention.minutes (checked on a timer).
 *
 * Transactional offset commits (TxnOffsetCommit, Kafka's pendingTransactionalOffsetCommits): the offsets are appended
 * as a transactional batch with the producer's id and epoch, and kept pending per producer until the transaction's
 * marker reaches the offsets partition (WriteTxnMarkers → onTransactionCompleted): a COMMIT makes them the group's
 * committed offsets, an ABORT drops them. Loading replays the same: a transactional batch's offsets wait for the
 * producer's control batch; those still without one stay pending. OffsetFetch with require_stable answers
 * UNSTABLE_OFFSET_COMMIT for a partition with pending offsets. (Kafka also compares the log positions of a pending
 * transactional commit and a later plain commit of the same partition; kfk applies them in completion order.)
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { Reader, Writer } from '../protocol/primitives.js';
import { buildRecordBatch, decodeRecordBatches, type RecordInput } from '../protocol/records.js';
import { readOffsetCommitKey, sizeOffsetCommitKey, writeOffsetCommitKey } from '../protocol/generated/offset-commit-key.js';
import { readOffsetCommitValue, sizeOffsetCommitValue, writeOffsetCommitValue } from '../protocol/generated/offset-commit-value.js';
import { readGroupMetadataKey, sizeGroupMetadataKey, writeGroupMetadataKey } from '../protocol/generated/group-metadata-key.js';
import {
  readGroupMetadataValue,
  sizeGroupMetadataValue,
  writeGroupMetadataValue,
  type GroupMetadataValue,
} from '../protocol/generated/group-metadata-value.js';
import { readConsumerProtocolSubscription } from '../protocol/generated/consumer-protocol-subscription.js';
import { OFFSETS_TOPIC } from '../cluster/topic-names.js';
import type { AppendResult, FetchResult } from '../replication/replica-manager.js';
import type { AppendOrigin } from '../log/producer-state.js';
import { CONTROL_TYPE_COMMIT, readControlRecord } from '../protocol/control-records.js';
import type { Logger } from '../server/logger.js';
import { silentLogger } from '../server/logger.js';
import { offsetsPartitionFor } from './offsets-topic.js';
import {
  DEFAULT_GROUP_CONFIG,
  Group,
  systemClock,
  tpKey,
  type Clock,
  type CommittedOffset,
  type GroupConfig,
  type GroupHooks,
  type GroupStateName,
  type JoinRequestInfo,
  type JoinResult,
  type LeaveMember,
  type SyncRequestInfo,
  type SyncResult,
} from './group-state.js';

const OFFSET_KEY_VERSION = 1;
const GROUP_KEY_VERSION = 2;
const GROUP_VALUE_VERSION = 3;
const EMPTY = Buffer.alloc(0);

/** What the coordinator needs of the replica manager (an interface so tests can use a fake log). */
export interface OffsetsLog {
  appendRecords(topic: string, partition: number, records: Buffer | null, acks: number, timeoutMs: number, origin?: AppendOrigin): AppendResult | Promise<AppendResult>;
  /** upToLogEnd: read everything the leader has, not only what is replicated (loading, as Kafka's coordinator). */
  fetchPartition(topic: string, partition: number, offset: number, maxBytes: number, minOneBatch: boolean, readCommitted: boolean, upToLogEnd?: boolean): Promise<FetchResult>;
}

export interface GroupCoordinatorOptions {
  log: OffsetsLog;
  /** Partition count of __consumer_offsets (from metadata; offsets.topic.num.partitions before it exists). */
  numPartitions(): number;
  clock?: Clock;
  group?: Partial<GroupConfig>;
  offsetsRetentionMs?: number;
  offsetsRetentionCheckIntervalMs?: number;
  /** offset.metadata.max.bytes */
  offsetMetadataMaxBytes?: number;
  offsetsCommitTimeoutMs?: number;
  loadBufferSize?: number;
  logger?: Logger;
}

export interface OffsetToCommit {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestamp: number;
  expireTimestamp: number;
}

export interface FetchedOffset {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface GroupSummary {
  groupId: string;
  state: GroupStateName;
  protocolType: string;
  protocolData: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; metadata: Buffer; assignment: Buffer }[];
}

type PartitionStatus = 'loading' | 'loaded';

type PendingOffsets = Map<string, { topic: string; partition: number; value: CommittedOffset }>;

function encodeWith(version: number, size: number, write: (w: Writer) => void): Buffer {
  const w = new Writer(Buffer.alloc(2 + size));
  w.int16(version);
  write(w);
  return w.buf;
}

export function offsetCommitKey(group: string, topic: string, partition: number): Buffer {
  const k = { group, topic, partition };
  return encodeWith(OFFSET_KEY_VERSION, sizeOffsetCommitKey(k, OFFSET_KEY_VERSION), (w) => writeOffsetCommitKey(w, k, OFFSET_KEY_VERSION));
}

export function offsetCommitValue(v: CommittedOffset): Buffer {
  const version = v.expireTimestamp >= 0 ? 1 : 3;
  return encodeWith(version, sizeOffsetCommitValue(v, version), (w) => writeOffsetCommitValue(w, v, version));
}

export function groupMetadataKey(group: string): Buffer {
  return encodeWith(GROUP_KEY_VERSION, sizeGroupMetadataKey({ group }, GROUP_KEY_VERSION), (w) => writeGroupMetadataKey(w, { group }, GROUP_KEY_VERSION));
}

export function groupMetadataValue(v: GroupMetadataValue): Buffer {
  return encodeWith(GROUP_VALUE_VERSION, sizeGroupMetadataValue(v, GROUP_VALUE_VERSION), (w) => writeGroupMetadataValue(w, v, GROUP_VALUE_VERSION));
}

function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** A clock whose scheduled callbacks cannot throw out of their timer: an error goes to `onError`. */
export function guardedClock(clock: Clock, onError: (err: unknown) => void): Clock {
  return {
    now: () => clock.now(),
    schedule: (ms, fn) =>
      clock.schedule(ms, () => {
        try {
          fn();
        } catch (err) {
          try {
            onError(err);
          } catch {
            // the error report failed too; nothing else can be done from inside a timer
          }
        }
      }),
  };
}

function subscriptionTopics(metadata: Buffer): string[] | null {
  try {
    const r = new Reader(metadata);
    const version = r.int16();
    return readConsumerProtocolSubscription(r, version).topics;
  } catch {
    return null;
  }
}

/** Maps an append error to the error the group APIs return (Kafka's GroupMetadataManager). */
function appendError(code: number, forCommit: boolean): number {
  switch (code) {
    case ErrorCode.NONE:
      return ErrorCode.NONE;
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return forCommit ? ErrorCode.INVALID_COMMIT_OFFSET_SIZE : ErrorCode.UNKNOWN_SERVER_ERROR;
    case ErrorCode.INVALID_PRODUCER_EPOCH:
    case ErrorCode.PRODUCER_FENCED:
    case ErrorCode.TRANSACTION_COORDINATOR_FENCED:
      return code; // a transactional commit of a fenced producer: the client must know
    default:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  /** Transactional offset commits waiting for their marker: producer id → group id → offsets. */
  private readonly pendingTxnOffsets = new Map<number, Map<string, PendingOffsets>>();
  private readonly partitions = new Map<number, PartitionStatus>();
  private readonly loads = new Map<number, Promise<void>>();
  private readonly clock: Clock;
  private readonly config: GroupConfig;
  private readonly hooks: GroupHooks;
  private readonly logger: Logger;
  private cancelExpiry: (() => void) | null = null;
  private closed = false;

  constructor(private readonly opts: GroupCoordinatorOptions) {
    this.logger = opts.logger ?? silentLogger;
    // Every group timer (sessions, rebalance and sync timeouts, the initial delay, offset expiry) runs through
    // this clock: a timer callback that throws is logged instead of reaching the process.
    this.clock = guardedClock(opts.clock ?? systemClock, (err) => this.logger.error(`group coordinator timer failed: ${stackOf(err)}`));
    this.config = { ...DEFAULT_GROUP_CONFIG, ...(opts.group ?? {}) };
    this.hooks = {
      clock: this.clock,
      config: this.config,
      storeGroup: (g, a) => this.storeGroup(g, a),
      reportError: (what, err) => this.logger.error(`${what} failed: ${stackOf(err)}`),
    };
    this.scheduleExpiryCheck();
  }

  private get retentionMs(): number {
    return this.opts.offsetsRetentionMs ?? 7 * 24 * 3600 * 1000;
  }

  private scheduleExpiryCheck(): void {
    if (this.closed) return;
    this.cancelExpiry = this.clock.schedule(this.opts.offsetsRetentionCheckIntervalMs ?? 600000, () => {
      this.expireOffsets()
        .catch((err) => this.logger.error(`offset expiration failed: ${stackOf(err)}`))
        .then(() => this.scheduleExpiryCheck())
        .catch((err) => this.logger.error(`scheduling the next offset expiration failed: ${stackOf(err)}`));
    });
  }

  partitionFor(groupId: string): number {
    return offsetsPartitionFor(groupId, this.opts.numPartitions());
  }

  /** null when this broker serves the group now, else the error to return. */
  private check(groupId: string): number | null {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const status = this.partitions.get(this.partitionFor(groupId));
    if (status === undefined) return ErrorCode.NOT_COORDINATOR;
    if (status === 'loading') return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    return null;
  }

  private getOrCreate(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) {
      g = new Group(groupId, this.hooks);
      this.groups.set(groupId, g);
    }
    return g;
  }

  group(groupId: string): Group | undefined {
    return this.groups.get(groupId);
  }

  // ------------------------------------------------------------------------------------------
  // Partition ownership (level-triggered: called after every reconciliation)

  /** Makes the coordinator own exactly these __consumer_offsets partitions; resolves once new ones are loaded. */
  async setOwnedPartitions(owned: Iterable<number>): Promise<void> {
    if (this.closed) return;
    const want = new Set(owned);
    for (const p of [...this.partitions.keys()]) if (!want.has(p)) this.unload(p);
    const pending: Promise<void>[] = [];
    for (const p of want) {
      if (this.partitions.has(p)) {
        const l = this.loads.get(p);
        if (l) pending.push(l);
        continue;
      }
      this.partitions.set(p, 'loading');
      const l = this.load(p)
        .then(
          () => {
            if (this.partitions.get(p) === 'loading') this.partitions.set(p, 'loaded');
          },
          (err) => {
            this.logger.error(`loading ${OFFSETS_TOPIC}-${p} failed: ${(err as Error).stack}`);
            this.partitions.delete(p);
          },
        )
        .finally(() => this.loads.delete(p));
      this.loads.set(p, l);
      pending.push(l);
    }
    await Promise.all(pending);
  }

  ownedPartitions(): number[] {
    return [...this.partitions.keys()].sort((a, b) => a - b);
  }

  private unload(partition: number): void {
    this.partitions.delete(partition);
    for (const [pid, byGroup] of [...this.pendingTxnOffsets]) {
      for (const id of [...byGroup.keys()]) if (this.partitionFor(id) === partition) byGroup.delete(id);
      if (byGroup.size === 0) this.pendingTxnOffsets.delete(pid);
    }
    for (const [id, g] of [...this.groups]) {
      if (this.partitionFor(id) === partition) {
        g.shutdown(ErrorCode.NOT_COORDINATOR);
        this.groups.delete(id);
      }
    }
  }

  /** Replays the partition's log into groups and committed offsets. */
  private async load(partition: number): Promise<void> {
    const offsets = new Map<string, Map<string, { topic: string; partition: number; value: CommittedOffset }>>();
    const metadata = new Map<string, GroupMetadataValue>();
    // transactional commits by producer id, until that producer's marker says commit or abort
    const pending = new Map<number, Map<string, PendingOffsets>>();
    let position = 0;
    const maxBytes = this.opts.loadBufferSize ?? 5242880;
    for (;;) {
      // Up to the log end, as Kafka's GroupMetadataManager: a new leader's high watermark may still lag its log.
      const r = await this.opts.log.fetchPartition(OFFSETS_TOPIC, partition, position, maxBytes, true, false, true);
      if (r.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && position < r.logStartOffset) {
        position = r.logStartOffset;
        continue;
      }
      if (r.errorCode !== ErrorCode.NONE) throw new Error(`reading ${OFFSETS_TOPIC}-${partition} at ${position}: error ${r.errorCode}`);
      if (!r.records || r.records.length === 0) break;
      const before = position;
      let pos = 0;
      for (const batch of decodeRecordBatches(r.records)) {
        const batchPos = pos;
        pos += batch.sizeInBytes;
        if (batch.lastOffset < position) continue;
        position = batch.lastOffset + 1;
        if (batch.isControl) {
          const txn = pending.get(batch.producerId);
          if (txn === undefined) continue;
          pending.delete(batch.producerId);
          if (readControlRecord(r.records, batchPos)?.type !== CONTROL_TYPE_COMMIT) continue;
          for (const [groupId, byTp] of txn) {
            let byGroup = offsets.get(groupId);
            if (!byGroup) offsets.set(groupId, (byGroup = new Map()));
            for (const [k, v] of byTp) byGroup.set(k, v);
          }
          continue;
        }
        const transactional = batch.isTransactional && batch.producerId >= 0;
        for (const rec of batch.records) {
          if (!rec.key || rec.key.length < 2) continue;
          const kr = new Reader(rec.key);
          const keyVersion = kr.int16();
          if (keyVersion === 0 || keyVersion === 1) {
            const k = readOffsetCommitKey(kr, keyVersion);
            let byGroup: PendingOffsets | undefined;
            if (transactional) {
              let txn = pending.get(batch.producerId);
              if (!txn) pending.set(batch.producerId, (txn = new Map()));
              byGroup = txn.get(k.group);
              if (!byGroup) txn.set(k.group, (byGroup = new Map()));
            } else {
              byGroup = offsets.get(k.group);
              if (!byGroup) offsets.set(k.group, (byGroup = new Map()));
            }
            if (rec.value === null) {
              byGroup.delete(tpKey(k.topic, k.partition));
            } else {
              const vr = new Reader(rec.value);
              const v = readOffsetCommitValue(vr, vr.int16());
              byGroup.set(tpKey(k.topic, k.partition), { topic: k.topic, partition: k.partition, value: { ...v, expireTimestamp: v.expireTimestamp ?? -1 } });
            }
          } else if (keyVersion === 2) {
            const k = readGroupMetadataKey(kr, keyVersion);
            if (rec.value === null) {
              metadata.delete(k.group);
            } else {
              const vr = new Reader(rec.value);
              metadata.set(k.group, readGroupMetadataValue(vr, vr.int16()));
            }
          }
        }
      }
      if (position === before) break;
    }
    if (this.partitions.get(partition) !== 'loading') return; // unloaded meanwhile
    for (const [groupId, value] of metadata) {
      if (this.partitionFor(groupId) !== partition) continue;
      const g = new Group(groupId, this.hooks);
      g.load(value);
      this.groups.set(groupId, g);
    }
    for (const [groupId, byGroup] of offsets) {
      if (byGroup.size === 0 || this.partitionFor(groupId) !== partition) continue;
      const g = this.getOrCreate(groupId);
      for (const [k, v] of byGroup) g.offsets.set(k, v);
    }
    for (const [producerId, txn] of pending) {
      for (const [groupId, byTp] of txn) {
        if (byTp.size === 0 || this.partitionFor(groupId) !== partition) continue;
        this.getOrCreate(groupId);
        this.addPendingTxnOffsets(producerId, groupId, byTp.values());
      }
    }
    this.logger.debug(`loaded ${metadata.size} groups and the offsets of ${offsets.size} groups from ${OFFSETS_TOPIC}-${partition}`);
  }

  // ------------------------------------------------------------------------------------------
  // Writing records

  /**
   * Appends to __consumer_offsets and resolves with the error code for the group APIs; never rejects (a thrown
   * error is logged and mapped like an error code), because several callers only update the group from it.
   */
  private async append(partition: number, records: RecordInput[], forCommit: boolean, txn?: { producerId: number; producerEpoch: number }): Promise<number> {
    try {
      return await this.appendOrThrow(partition, records, forCommit, txn);
    } catch (err) {
      this.logger.error(`appending to ${OFFSETS_TOPIC}-${partition} failed: ${stackOf(err)}`);
      return appendError(err instanceof KafkaError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR, forCommit);
    }
  }

  private async appendOrThrow(partition: number, records: RecordInput[], forCommit: boolean, txn?: { producerId: number; producerEpoch: number }): Promise<number> {
    if (records.length === 0) return ErrorCode.NONE;
    if (this.partitions.get(partition) !== 'loaded') return ErrorCode.NOT_COORDINATOR;
    // A transactional commit is a transactional batch of the producer (Kafka's storeOffsets with a producer id); the
    // broker writes it, so the producer state checks only its epoch (AppendOrigin.COORDINATOR).
    const batch = txn === undefined ? buildRecordBatch(records) : buildRecordBatch(records, { producerId: txn.producerId, producerEpoch: txn.producerEpoch, baseSequence: 0, transactional: true });
    const result = await this.opts.log.appendRecords(OFFSETS_TOPIC, partition, batch, -1, this.opts.offsetsCommitTimeoutMs ?? 5000, txn === undefined ? 'client' : 'coordinator');
    if (result.errorCode !== ErrorCode.NONE) {
      this.logger.warn(`appending to ${OFFSETS_TOPIC}-${partition} failed with error ${result.errorCode}${result.errorMessage ? `: ${result.errorMessage}` : ''}`);
    }
    return appendError(result.errorCode, forCommit);
  }

  private groupRecord(g: Group, assignments: Map<string, Buffer>): RecordInput {
    const value: GroupMetadataValue = {
      protocolType: g.protocolType ?? '',
      generation: g.generationId,
      protocol: g.protocolName,
      leader: g.leaderId,
      currentStateTimestamp: g.currentStateTimestamp,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeout: m.rebalanceTimeoutMs,
        sessionTimeout: m.sessionTimeoutMs,
        subscription: m.metadata(g.protocolName ?? ''),
        assignment: assignments.get(m.memberId) ?? EMPTY,
      })),
    };
    return { key: groupMetadataKey(g.groupId), value: groupMetadataValue(value), timestamp: this.clock.now() };
  }

  private storeGroup(g: Group, assignments: Map<string, Buffer>): Promise<number> {
    if (this.groups.get(g.groupId) !== g) return Promise.resolve(ErrorCode.NOT_COORDINATOR);
    return this.append(this.partitionFor(g.groupId), [this.groupRecord(g, assignments)], false);
  }

  // ------------------------------------------------------------------------------------------
  // Membership APIs

  async join(groupId: string, req: JoinRequestInfo): Promise<JoinResult> {
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
    if (groupId === '') return fail(ErrorCode.INVALID_GROUP_ID);
    const err = this.check(groupId);
    if (err !== null) return fail(err);
    if (req.sessionTimeoutMs < this.config.minSessionTimeoutMs || req.sessionTimeoutMs > this.config.maxSessionTimeoutMs) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    let g = this.groups.get(groupId);
    if (!g) {
      if (req.memberId !== '') return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      g = this.getOrCreate(groupId);
    }
    return g.join(req);
  }

  async sync(groupId: string, req: SyncRequestInfo): Promise<SyncResult> {
    const fail = (errorCode: number): SyncResult => ({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });
    if (groupId === '') return fail(ErrorCode.INVALID_GROUP_ID);
    const err = this.check(groupId);
    if (err !== null) return fail(err);
    const g = this.groups.get(groupId);
    if (!g) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    return g.sync(req);
  }

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): number {
    if (groupId === '') return ErrorCode.INVALID_GROUP_ID;
    const err = this.check(groupId);
    if (err !== null) return err;
    const g = this.groups.get(groupId);
    if (!g) return ErrorCode.UNKNOWN_MEMBER_ID;
    return g.heartbeat(memberId, groupInstanceId, generationId);
  }

  leave(groupId: string, members: LeaveMember[]): { errorCode: number; members: number[] } {
    if (groupId === '') return { errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    const err = this.check(groupId);
    if (err !== null) return { errorCode: err, members: [] };
    const g = this.groups.get(groupId);
    if (!g) return { errorCode: ErrorCode.NONE, members: members.map(() => ErrorCode.UNKNOWN_MEMBER_ID) };
    if (g.is('Dead')) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    return { errorCode: ErrorCode.NONE, members: g.leave(members) };
  }

  // ------------------------------------------------------------------------------------------
  // Offsets

  /** Commits offsets; one error code per entry, in order. */
  async commitOffsets(
    groupId: string,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
    offsets: OffsetToCommit[],
  ): Promise<number[]> {
    const all = (code: number) => offsets.map(() => code);
    const err = this.check(groupId);
    if (err !== null) return all(err);
    let g = this.groups.get(groupId);
    if (!g) {
      // A consumer that does not use group management commits with generation -1; else it is a stale generation.
      if (generationId >= 0) return all(ErrorCode.ILLEGAL_GENERATION);
      g = this.getOrCreate(groupId);
    }
    const invalid = g.validateCommit(memberId, groupInstanceId, generationId);
    if (invalid !== null) return all(invalid);

    const maxMeta = this.opts.offsetMetadataMaxBytes ?? 4096;
    const codes = new Array<number>(offsets.length).fill(ErrorCode.NONE);
    const records: RecordInput[] = [];
    const accepted: { topic: string; partition: number; value: CommittedOffset }[] = [];
    const now = this.clock.now();
    offsets.forEach((o, i) => {
      const metadata = o.metadata ?? '';
      if (Buffer.byteLength(metadata, 'utf8') > maxMeta) {
        codes[i] = ErrorCode.OFFSET_METADATA_TOO_LARGE;
        return;
      }
      const value: CommittedOffset = {
        offset: o.offset,
        leaderEpoch: o.leaderEpoch,
        metadata,
        commitTimestamp: o.commitTimestamp >= 0 ? o.commitTimestamp : now,
        expireTimestamp: o.expireTimestamp,
      };
      records.push({ key: offsetCommitKey(groupId, o.topic, o.partition), value: offsetCommitValue(value), timestamp: now });
      accepted.push({ topic: o.topic, partition: o.partition, value });
    });
    const appendErr = await this.append(this.partitionFor(groupId), records, true);
    if (appendErr !== ErrorCode.NONE) {
      offsets.forEach((_, i) => {
        if (codes[i] === ErrorCode.NONE) codes[i] = appendErr;
      });
      return codes;
    }
    // The group may have been unloaded or deleted while the append was in flight.
    const current = this.groups.get(groupId) ?? this.getOrCreate(groupId);
    for (const a of accepted) current.offsets.set(tpKey(a.topic, a.partition), a);
    return codes;
  }

  // ------------------------------------------------------------------------------------------
  // Transactional offsets

  /**
   * TxnOffsetCommit (Kafka's handleTxnCommitOffsets): appends the offsets as a transactional batch of the producer and
   * keeps them pending until its transaction ends. The group is created if unknown; a member id, instance id or
   * generation given (v3+) must match the group's. One error code per entry, in order.
   */
  async commitTransactionalOffsets(
    groupId: string,
    producerId: number,
    producerEpoch: number,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
    offsets: OffsetToCommit[],
  ): Promise<number[]> {
    const all = (code: number) => offsets.map(() => code);
    const err = this.check(groupId);
    if (err !== null) return all(err);
    const g = this.getOrCreate(groupId);
    if (g.is('Dead')) return all(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (g.isStaticMemberFenced(memberId, groupInstanceId)) return all(ErrorCode.FENCED_INSTANCE_ID);
    if (memberId !== '' && !g.members.has(memberId)) return all(ErrorCode.UNKNOWN_MEMBER_ID);
    if (generationId >= 0 && generationId !== g.generationId) return all(ErrorCode.ILLEGAL_GENERATION);
    const maxMeta = this.opts.offsetMetadataMaxBytes ?? 4096;
    const codes = new Array<number>(offsets.length).fill(ErrorCode.NONE);
    const records: RecordInput[] = [];
    const accepted: { topic: string; partition: number; value: CommittedOffset }[] = [];
    const now = this.clock.now();
    offsets.forEach((o, i) => {
      const metadata = o.metadata ?? '';
      if (Buffer.byteLength(metadata, 'utf8') > maxMeta) {
        codes[i] = ErrorCode.OFFSET_METADATA_TOO_LARGE;
        return;
      }
      const value: CommittedOffset = { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata, commitTimestamp: now, expireTimestamp: -1 };
      records.push({ key: offsetCommitKey(groupId, o.topic, o.partition), value: offsetCommitValue(value), timestamp: now });
      accepted.push({ topic: o.topic, partition: o.partition, value });
    });
    const appendErr = await this.append(this.partitionFor(groupId), records, true, { producerId, producerEpoch });
    if (appendErr !== ErrorCode.NONE) {
      offsets.forEach((_, i) => {
        if (codes[i] === ErrorCode.NONE) codes[i] = appendErr;
      });
      return codes;
    }
    if (this.partitions.get(this.partitionFor(groupId)) === 'loaded') this.addPendingTxnOffsets(producerId, groupId, accepted);
    return codes;
  }

  private addPendingTxnOffsets(producerId: number, groupId: string, offsets: Iterable<{ topic: string; partition: number; value: CommittedOffset }>): void {
    let byGroup = this.pendingTxnOffsets.get(producerId);
    if (!byGroup) this.pendingTxnOffsets.set(producerId, (byGroup = new Map()));
    let pending = byGroup.get(groupId);
    if (!pending) byGroup.set(groupId, (pending = new Map()));
    for (const o of offsets) pending.set(tpKey(o.topic, o.partition), o);
  }

  /**
   * A transaction's marker is in these __consumer_offsets partitions (Kafka's scheduleHandleTxnCompletion): the
   * producer's pending offsets of groups there become committed (commit) or are dropped (abort).
   */
  onTransactionCompleted(producerId: number, offsetsPartitions: readonly number[], commit: boolean): void {
    const byGroup = this.pendingTxnOffsets.get(producerId);
    if (byGroup === undefined) return;
    const partitions = new Set(offsetsPartitions);
    for (const [groupId, pending] of [...byGroup]) {
      if (!partitions.has(this.partitionFor(groupId))) continue;
      byGroup.delete(groupId);
      if (!commit || this.partitions.get(this.partitionFor(groupId)) !== 'loaded') continue;
      const g = this.getOrCreate(groupId);
      for (const [k, v] of pending) g.offsets.set(k, v);
    }
    if (byGroup.size === 0) this.pendingTxnOffsets.delete(producerId);
  }

  /** Whether a transaction has offsets of this group's partition waiting for its marker. */
  private hasPendingTxnOffset(groupId: string, topic: string, partition: number): boolean {
    const k = tpKey(topic, partition);
    for (const byGroup of this.pendingTxnOffsets.values()) if (byGroup.get(groupId)?.has(k)) return true;
    return false;
  }

  /**
   * Committed offsets; `topics` null = every partition with a committed offset. With `requireStable` (OffsetFetch v7+),
   * a partition whose offset a transaction has yet to commit or abort answers UNSTABLE_OFFSET_COMMIT (Kafka).
   */
  fetchOffsets(groupId: string, topics: { name: string; partitions: number[] }[] | null, requireStable = false): { errorCode: number; offsets: FetchedOffset[] } {
    const err = this.check(groupId);
    if (err !== null) return { errorCode: err, offsets: [] };
    const g = this.groups.get(groupId);
    const none = (topic: string, partition: number): FetchedOffset => ({ topic, partition, offset: -1, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE });
    const found = (topic: string, partition: number, v: CommittedOffset): FetchedOffset => ({
      topic,
      partition,
      offset: v.offset,
      leaderEpoch: v.leaderEpoch,
      metadata: v.metadata,
      errorCode: ErrorCode.NONE,
    });
    const unstable = (topic: string, partition: number): FetchedOffset | null =>
      requireStable && this.hasPendingTxnOffset(groupId, topic, partition)
        ? { topic, partition, offset: -1, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT }
        : null;
    if (topics === null) {
      if (!g) return { errorCode: ErrorCode.NONE, offsets: [] };
      return { errorCode: ErrorCode.NONE, offsets: [...g.offsets.values()].map((e) => unstable(e.topic, e.partition) ?? found(e.topic, e.partition, e.value)) };
    }
    const out: FetchedOffset[] = [];
    for (const t of topics) {
      for (const p of t.partitions) {
        const e = g?.offsets.get(tpKey(t.name, p));
        out.push(unstable(t.name, p) ?? (e ? found(t.name, p, e.value) : none(t.name, p)));
      }
    }
    return { errorCode: ErrorCode.NONE, offsets: out };
  }

  /** OffsetDelete: removes committed offsets of partitions the group is not subscribed to. */
  async deleteOffsets(groupId: string, tps: { topic: string; partition: number }[]): Promise<{ errorCode: number; partitions: number[] }> {
    const err = this.check(groupId);
    if (err !== null) return { errorCode: err, partitions: [] };
    const g = this.groups.get(groupId);
    if (!g || g.is('Dead')) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, partitions: [] };
    let subscribed: Set<string> | null = new Set();
    if (!g.is('Empty')) {
      if (g.protocolType !== 'consumer') return { errorCode: ErrorCode.NON_EMPTY_GROUP, partitions: [] };
      subscribed = g.subscribedTopics(subscriptionTopics);
    }
    const codes = tps.map((tp) => (subscribed === null || subscribed.has(tp.topic) ? ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC : ErrorCode.NONE));
    const records: RecordInput[] = [];
    const removed: string[] = [];
    tps.forEach((tp, i) => {
      if (codes[i] !== ErrorCode.NONE) return;
      const k = tpKey(tp.topic, tp.partition);
      if (g.offsets.has(k)) {
        records.push({ key: offsetCommitKey(groupId, tp.topic, tp.partition), value: null, timestamp: this.clock.now() });
        removed.push(k);
      }
    });
    const appendErr = await this.append(this.partitionFor(groupId), records, false);
    if (appendErr !== ErrorCode.NONE) return { errorCode: appendErr, partitions: [] };
    for (const k of removed) g.offsets.delete(k);
    return { errorCode: ErrorCode.NONE, partitions: codes };
  }

  // ------------------------------------------------------------------------------------------
  // Admin APIs

  /** Groups of the partitions this broker has loaded (states filter: ListGroups v4, case-insensitive). */
  listGroups(statesFilter: string[] = []): { groupId: string; protocolType: string; state: GroupStateName }[] {
    const states = new Set(statesFilter.map((s) => s.toLowerCase()));
    const out = [];
    for (const g of this.groups.values()) {
      if (g.is('Dead') || this.partitions.get(this.partitionFor(g.groupId)) !== 'loaded') continue;
      if (states.size > 0 && !states.has(g.state.toLowerCase())) continue;
      out.push({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state });
    }
    return out;
  }

  /** True while a partition this broker owns is being loaded (ListGroups answers COORDINATOR_LOAD_IN_PROGRESS). */
  get loading(): boolean {
    return [...this.partitions.values()].includes('loading');
  }

  describeGroup(groupId: string): { errorCode: number; summary: GroupSummary } {
    const dead: GroupSummary = { groupId, state: 'Dead', protocolType: '', protocolData: '', members: [] };
    const err = this.check(groupId);
    if (err !== null) return { errorCode: err, summary: dead };
    const g = this.groups.get(groupId);
    if (!g) return { errorCode: ErrorCode.NONE, summary: dead };
    const stable = g.is('Stable');
    return {
      errorCode: ErrorCode.NONE,
      summary: {
        groupId,
        state: g.state,
        protocolType: g.protocolType ?? '',
        protocolData: stable ? (g.protocolName ?? '') : '',
        members: [...g.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          metadata: stable ? m.metadata(g.protocolName ?? '') : EMPTY,
          assignment: stable ? m.assignment : EMPTY,
        })),
      },
    };
  }

  async deleteGroup(groupId: string): Promise<number> {
    const err = this.check(groupId);
    if (err !== null) return err;
    const g = this.groups.get(groupId);
    if (!g || g.is('Dead')) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (!g.is('Empty')) return ErrorCode.NON_EMPTY_GROUP;
    const now = this.clock.now();
    const records: RecordInput[] = [...g.offsets.values()].map((o) => ({ key: offsetCommitKey(groupId, o.topic, o.partition), value: null, timestamp: now }));
    records.push({ key: groupMetadataKey(groupId), value: null, timestamp: now });
    g.shutdown(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    this.groups.delete(groupId);
    const appendErr = await this.append(this.partitionFor(groupId), records, false);
    return appendErr;
  }

  /** Removes expired offsets (tombstones) and then groups left Empty with nothing committed. */
  async expireOffsets(): Promise<number> {
    const now = this.clock.now();
    const retention = this.retentionMs;
    let expiredCount = 0;
    for (const g of [...this.groups.values()]) {
      if (this.partitions.get(this.partitionFor(g.groupId)) !== 'loaded') continue;
      let expired: { topic: string; partition: number; value: CommittedOffset }[] = [];
      const isExpired = (v: CommittedOffset, base: number) => (v.expireTimestamp >= 0 ? now >= v.expireTimestamp : base + retention <= now);
      if (g.is('Empty')) {
        // A consumer group's offsets age from the moment it became empty; a standalone group's from each commit.
        expired = [...g.offsets.values()].filter((o) => isExpired(o.value, g.protocolType !== null ? g.currentStateTimestamp : o.value.commitTimestamp));
      } else if (g.is('Stable') && g.protocolType === 'consumer') {
        const subscribed = g.subscribedTopics(subscriptionTopics);
        if (subscribed) expired = [...g.offsets.values()].filter((o) => !subscribed.has(o.topic) && isExpired(o.value, o.value.commitTimestamp));
      }
      const records: RecordInput[] = expired.map((o) => ({ key: offsetCommitKey(g.groupId, o.topic, o.partition), value: null, timestamp: now }));
      const removeGroup = g.is('Empty') && g.members.size === 0 && g.offsets.size === expired.length;
      if (removeGroup) records.push({ key: groupMetadataKey(g.groupId), value: null, timestamp: now });
      if (records.length === 0) continue;
      const appendErr = await this.append(this.partitionFor(g.groupId), records, false);
      if (appendErr !== ErrorCode.NONE) continue;
      for (const o of expired) g.offsets.delete(tpKey(o.topic, o.partition));
      expiredCount += expired.length;
      if (removeGroup && g.is('Empty') && g.members.size === 0 && g.offsets.size === 0 && this.groups.get(g.groupId) === g) {
        g.shutdown(ErrorCode.COORDINATOR_NOT_AVAILABLE);
        this.groups.delete(g.groupId);
      }
    }
    if (expiredCount > 0) this.logger.info(`removed ${expiredCount} expired offsets`);
    return expiredCount;
  }

  close(): void {
    this.closed = true;
    this.cancelExpiry?.();
    this.cancelExpiry = null;
    for (const g of this.groups.values()) g.shutdown(ErrorCode.NOT_COORDINATOR);
    this.groups.clear();
    this.partitions.clear();
    this.pendingTxnOffsets.clear();
  }
}
