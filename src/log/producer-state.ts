/**
 * Producer state of one partition log (Kafka's ProducerStateManager / ProducerAppendInfo): per producer id its epoch,
 * the metadata of its last NUM_BATCHES_TO_RETAIN batches (first/last sequence, first/last offset, max timestamp), the
 * epoch of the transaction coordinator that wrote its last marker, and the first offset of its ongoing transaction.
 *
 * - `checkAppend` (leader appends, before offsets are assigned) reads only batch headers and either throws
 *   KafkaError (INVALID_RECORD, INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER, TRANSACTION_COORDINATOR_FENCED),
 *   returns the cached batch a retried batch duplicates (the log then writes nothing and answers with the original
 *   offsets), or null (append). Appends of the broker's own coordinators (`origin` 'coordinator': transaction markers,
 *   transactional offset commits) skip the sequence checks, as Kafka's AppendOrigin.COORDINATOR.
 * - `applyBatch` is called for every batch the log writes (leader and follower) and for every batch replayed
 *   while the log loads; it is the only place the state changes, so a rebuilt state equals the live one. A
 *   transactional batch starts its producer's transaction (if none is open); a control batch (COMMIT/ABORT marker)
 *   completes it and is returned as a CompletedTxn, with the last stable offset the log has once it is complete.
 * - Transactions: `ongoing` holds the open ones in first-offset order (a transaction starts at the log end, so
 *   insertion order is offset order); completed ones stay "unreplicated" until the high watermark passes their
 *   marker. The first unstable offset is the smallest first offset of both; the partition's last stable offset is
 *   min(first unstable offset, high watermark).
 * - Snapshots are Kafka's `<offset, 20 digits>.snapshot` files in the partition directory: int16 version (1),
 *   uint32 CRC-32C of everything after it, then the ProducerSnapshot v1 entries (one per producer: the last
 *   batch's sequence/offset/timestamp, the coordinator epoch and the ongoing transaction's first offset). They are
 *   written when a segment rolls and on clean close, named by the offset the state covers up to (exclusive).
 *   Loading takes the newest readable snapshot at or below the log end offset (or a given bound) and replays the
 *   batch headers after it; an unreadable one is deleted and the next older one tried, down to a full replay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirSync, writeFullySync } from './file-io.js';
import { sharedFdCache, type FileDescriptorCache } from './fd-cache.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { crc32c } from '../protocol/crc32c.js';
import { Reader, Writer } from '../protocol/primitives.js';
import { CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, readControlRecord } from '../protocol/control-records.js';
import {
  CONTROL_FLAG,
  TRANSACTIONAL_FLAG,
  batchAttributes,
  batchBaseOffset,
  batchBaseSequence,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchProducerEpoch,
  batchProducerId,
  batchSize,
} from '../protocol/record-batch-header.js';
import {
  readProducerSnapshot,
  sizeProducerSnapshot,
  writeProducerSnapshot,
  type ProducerSnapshotProducerEntryInput,
} from '../protocol/generated/producer-snapshot.js';

export const NUM_BATCHES_TO_RETAIN = 5;
export const SNAPSHOT_FILE_SUFFIX = '.snapshot';
export const PRODUCER_SNAPSHOT_VERSION = 1;
const VERSION_POS = 0;
const CRC_POS = 2;
const ENTRIES_POS = 6;
const INT32_MAX = 0x7fffffff;
const NO_PRODUCER_EPOCH = -1;
const NO_SEQUENCE = -1;
/** Bytes read per step when replaying the log. */
const REPLAY_READ_BYTES = 1 << 20;

export interface BatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  /** The batch's max timestamp. */
  timestamp: number;
}

export interface ProducerStateEntry {
  producerId: number;
  epoch: number;
  /** Oldest first, at most NUM_BATCHES_TO_RETAIN. */
  batches: BatchMetadata[];
  /** Epoch of the transaction coordinator that wrote this producer's last marker here (-1: none yet). */
  coordinatorEpoch: number;
  /** First offset of the producer's ongoing transaction in this log, -1 when none is open. */
  currentTxnFirstOffset: number;
  /** Max timestamp of its last batch or marker (-1 unknown): producer.id.expiration.ms and DescribeProducers. */
  lastTimestamp: number;
}

/** A transaction a marker completed in this log (Kafka's CompletedTxn). */
export interface CompletedTxn {
  producerId: number;
  /** The transaction's first offset here (the marker's own offset when it had no data here). */
  firstOffset: number;
  /** The marker's offset. */
  lastOffset: number;
  isAborted: boolean;
  /** The log's last stable offset once this transaction is complete (the .txnindex entry's lastStableOffset). */
  lastStableOffset: number;
}

/** Who writes: a client's Produce, or one of the broker's coordinators (markers, transactional offset commits). */
export type AppendOrigin = 'client' | 'coordinator';

function newEntry(producerId: number, epoch: number): ProducerStateEntry {
  return { producerId, epoch, batches: [], coordinatorEpoch: -1, currentTxnFirstOffset: -1, lastTimestamp: -1 };
}

/** `base + increment` in sequence space, wrapping from INT32_MAX to 0 (Kafka's DefaultRecordBatch.incrementSequence). */
export function incrementSequence(base: number, increment: number): number {
  if (base > INT32_MAX - increment) return increment - (INT32_MAX - base) - 1;
  return base + increment;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

/** `<offset, 20 digits>.snapshot` */
export function snapshotFileName(offset: number): string {
  return String(offset).padStart(20, '0') + SNAPSHOT_FILE_SUFFIX;
}

function snapshotOffsetOf(name: string): number | null {
  const m = /^(\d{20})\.snapshot$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Encodes entries in Kafka's producer snapshot format (version 1). */
export function encodeProducerSnapshot(entries: Iterable<ProducerStateEntry>): Buffer {
  const out: ProducerSnapshotProducerEntryInput[] = [];
  for (const e of entries) {
    const last = e.batches[e.batches.length - 1];
    out.push({
      producerId: e.producerId,
      epoch: e.epoch,
      lastSequence: last?.lastSeq ?? NO_SEQUENCE,
      lastOffset: last?.lastOffset ?? -1,
      offsetDelta: last ? last.lastOffset - last.firstOffset : 0,
      timestamp: e.lastTimestamp,
      coordinatorEpoch: e.coordinatorEpoch,
      currentTxnFirstOffset: e.currentTxnFirstOffset,
    });
  }
  const body = { crc: 0, producerEntries: out };
  const w = Writer.alloc(2 + sizeProducerSnapshot(body, PRODUCER_SNAPSHOT_VERSION));
  w.int16(PRODUCER_SNAPSHOT_VERSION);
  writeProducerSnapshot(w, body, PRODUCER_SNAPSHOT_VERSION);
  const buf = w.finish();
  buf.writeUInt32BE(crc32c(buf, ENTRIES_POS, buf.length), CRC_POS);
  return buf;
}

/** Decodes a producer snapshot file's content; throws on a bad version, CRC or length. */
export function decodeProducerSnapshot(buf: Buffer): ProducerStateEntry[] {
  if (buf.length < ENTRIES_POS + 4) throw new Error(`producer snapshot too short (${buf.length} bytes)`);
  const version = buf.readInt16BE(VERSION_POS);
  if (version !== PRODUCER_SNAPSHOT_VERSION) throw new Error(`unsupported producer snapshot version ${version}`);
  const stored = buf.readUInt32BE(CRC_POS);
  const computed = crc32c(buf, ENTRIES_POS, buf.length);
  if (stored !== computed) throw new Error(`producer snapshot CRC mismatch: stored ${stored}, computed ${computed}`);
  const r = new Reader(buf, 2);
  const snap = readProducerSnapshot(r, PRODUCER_SNAPSHOT_VERSION);
  if (r.remaining !== 0) throw new Error(`${r.remaining} trailing bytes in producer snapshot`);
  return snap.producerEntries.map((e) => ({
    producerId: e.producerId,
    epoch: e.epoch,
    coordinatorEpoch: e.coordinatorEpoch,
    currentTxnFirstOffset: e.currentTxnFirstOffset,
    lastTimestamp: e.timestamp,
    batches:
      e.lastSequence < 0
        ? []
        : [
            {
              firstSeq: e.lastSequence - e.offsetDelta < 0 ? e.lastSequence - e.offsetDelta + INT32_MAX + 1 : e.lastSequence - e.offsetDelta,
              lastSeq: e.lastSequence,
              firstOffset: e.lastOffset - e.offsetDelta,
              lastOffset: e.lastOffset,
              timestamp: e.timestamp,
            },
          ],
  }));
}

export class ProducerStateManager {
  private readonly producers = new Map<number, ProducerStateEntry>();
  /** Open transactions: producer id → first offset, in first-offset order (see the file comment). */
  private readonly ongoing = new Map<number, number>();
  /** Completed transactions whose marker is not yet below the high watermark, in marker order. */
  private unreplicated: CompletedTxn[] = [];
  /** The state reflects every batch below this offset. */
  private mapEndOffset = 0;
  /**
   * The offset of the newest snapshot written or loaded (Kafka's lastSnapOffset, 0 at first): a state that did
   * not move past it is not written again, so an untouched log gets no snapshot at all.
   */
  private lastSnapOffset = 0;

  constructor(
    readonly dir: string,
    private readonly fdCache: FileDescriptorCache = sharedFdCache(),
  ) {}

  get endOffset(): number {
    return this.mapEndOffset;
  }

  entry(producerId: number): ProducerStateEntry | undefined {
    return this.producers.get(producerId);
  }

  get producerCount(): number {
    return this.producers.size;
  }

  entries(): IterableIterator<ProducerStateEntry> {
    return this.producers.values();
  }

  /** Open transactions as (producer id, first offset), oldest first. */
  ongoingTransactions(): { producerId: number; firstOffset: number }[] {
    return [...this.ongoing].map(([producerId, firstOffset]) => ({ producerId, firstOffset }));
  }

  /**
   * The first offset that is not stable yet: the first offset of the oldest open transaction, or of a completed one
   * whose marker the high watermark has not passed; -1 when there is none.
   */
  get firstUnstableOffset(): number {
    let first = -1;
    for (const offset of this.ongoing.values()) {
      first = offset;
      break;
    }
    for (const t of this.unreplicated) if (first < 0 || t.firstOffset < first) first = t.firstOffset;
    return first;
  }

  /** The high watermark moved: completed transactions whose marker is below it become stable. */
  onHighWatermarkUpdated(highWatermark: number): void {
    if (this.unreplicated.length === 0 || this.unreplicated[0]!.lastOffset >= highWatermark) return;
    this.unreplicated = this.unreplicated.filter((t) => t.lastOffset >= highWatermark);
  }

  /**
   * Validates the producer fields of each batch in `records` (leader append, before offsets are assigned).
   * Returns the cached metadata of the batch a retried batch duplicates, or null to append. Throws KafkaError.
   */
  checkAppend(records: Buffer, origin: AppendOrigin = 'client'): BatchMetadata | null {
    // epoch and last sequence per producer as batches earlier in this same append leave them
    let pending: Map<number, { epoch: number; lastSeq: number }> | null = null;
    for (let pos = 0; pos < records.length; pos += batchSize(records, pos)) {
      const producerId = batchProducerId(records, pos);
      if (producerId < 0) continue;
      const epoch = batchProducerEpoch(records, pos);
      const entry = this.producers.get(producerId);
      const inAppend = pending?.get(producerId);
      const currentEpoch = inAppend?.epoch ?? entry?.epoch ?? NO_PRODUCER_EPOCH;
      if (epoch < currentEpoch) {
        throw new KafkaError(
          ErrorCode.INVALID_PRODUCER_EPOCH,
          `epoch ${epoch} of producer ${producerId} is older than the current epoch ${currentEpoch}`,
        );
      }
      if ((batchAttributes(records, pos) & CONTROL_FLAG) !== 0) {
        const marker = readControlRecord(records, pos);
        if (marker !== null && entry !== undefined && marker.coordinatorEpoch < entry.coordinatorEpoch) {
          throw new KafkaError(
            ErrorCode.TRANSACTION_COORDINATOR_FENCED,
            `marker of producer ${producerId} from coordinator epoch ${marker.coordinatorEpoch}, older than ${entry.coordinatorEpoch}`,
          );
        }
        (pending ??= new Map()).set(producerId, { epoch, lastSeq: inAppend?.lastSeq ?? entry?.batches[entry.batches.length - 1]?.lastSeq ?? NO_SEQUENCE });
        continue;
      }
      const firstSeq = batchBaseSequence(records, pos);
      const lastSeq = firstSeq < 0 ? NO_SEQUENCE : incrementSequence(firstSeq, batchLastOffsetDelta(records, pos));
      if (origin === 'coordinator') {
        (pending ??= new Map()).set(producerId, { epoch, lastSeq });
        continue;
      }
      if (firstSeq < 0) {
        throw new KafkaError(ErrorCode.INVALID_RECORD, `producer id ${producerId} with an invalid base sequence ${firstSeq}`);
      }
      if (inAppend === undefined && entry !== undefined && entry.epoch === epoch) {
        const dup = entry.batches.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq);
        if (dup !== undefined) return dup;
      }
      if (epoch !== currentEpoch) {
        if (firstSeq !== 0 && currentEpoch !== NO_PRODUCER_EPOCH) {
          throw new KafkaError(
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            `new epoch ${epoch} of producer ${producerId} must start at sequence 0, got ${firstSeq}`,
          );
        }
      } else {
        const currentLastSeq = inAppend?.lastSeq ?? entry?.batches[entry.batches.length - 1]?.lastSeq ?? NO_SEQUENCE;
        // (A producer whose epoch a marker bumped has no batches at that epoch: NO_SEQUENCE, so it starts at 0.)
        if (!inSequence(currentLastSeq, firstSeq)) {
          throw new KafkaError(
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            `out of order sequence for producer ${producerId} epoch ${epoch}: ${firstSeq} after ${currentLastSeq}`,
          );
        }
      }
      (pending ??= new Map()).set(producerId, { epoch, lastSeq });
    }
    return null;
  }

  /**
   * Records a batch the log has written (or replays): its offsets must already be assigned. Returns the transaction
   * a marker completed, or null.
   */
  applyBatch(buf: Buffer, pos = 0): CompletedTxn | null {
    const firstOffset = batchBaseOffset(buf, pos);
    const delta = batchLastOffsetDelta(buf, pos);
    const lastOffset = firstOffset + delta;
    const producerId = batchProducerId(buf, pos);
    let completed: CompletedTxn | null = null;
    if (producerId >= 0) {
      const epoch = batchProducerEpoch(buf, pos);
      let entry = this.producers.get(producerId);
      if (entry === undefined) {
        entry = newEntry(producerId, epoch);
        this.producers.set(producerId, entry);
      } else if (entry.epoch !== epoch) {
        entry.epoch = epoch;
        entry.batches = [];
      }
      entry.lastTimestamp = batchMaxTimestamp(buf, pos);
      const attributes = batchAttributes(buf, pos);
      if ((attributes & CONTROL_FLAG) !== 0) {
        const marker = readControlRecord(buf, pos);
        if (marker !== null && (marker.type === CONTROL_TYPE_COMMIT || marker.type === CONTROL_TYPE_ABORT)) {
          completed = this.completeTxn(entry, lastOffset, marker.type === CONTROL_TYPE_ABORT);
          entry.coordinatorEpoch = marker.coordinatorEpoch;
        }
      } else {
        const firstSeq = batchBaseSequence(buf, pos);
        if (firstSeq >= 0) {
          entry.batches.push({
            firstSeq,
            lastSeq: incrementSequence(firstSeq, delta),
            firstOffset,
            lastOffset,
            timestamp: entry.lastTimestamp,
          });
          if (entry.batches.length > NUM_BATCHES_TO_RETAIN) entry.batches.shift();
        }
        if ((attributes & TRANSACTIONAL_FLAG) !== 0 && entry.currentTxnFirstOffset < 0) {
          entry.currentTxnFirstOffset = firstOffset;
          this.ongoing.set(producerId, firstOffset);
        }
      }
    }
    if (lastOffset + 1 > this.mapEndOffset) this.mapEndOffset = lastOffset + 1;
    return completed;
  }

  /** A marker at `markerOffset` ends the producer's transaction (Kafka's appendEndTxnMarker and completeTxn). */
  private completeTxn(entry: ProducerStateEntry, markerOffset: number, isAborted: boolean): CompletedTxn {
    const firstOffset = entry.currentTxnFirstOffset >= 0 ? entry.currentTxnFirstOffset : markerOffset;
    // The last stable offset once this one is done: the first offset of another producer's open transaction.
    let lastStableOffset = markerOffset + 1;
    for (const [pid, offset] of this.ongoing) {
      if (pid !== entry.producerId) {
        lastStableOffset = offset;
        break;
      }
    }
    entry.currentTxnFirstOffset = -1;
    this.ongoing.delete(entry.producerId);
    const completed: CompletedTxn = { producerId: entry.producerId, firstOffset, lastOffset: markerOffset, isAborted, lastStableOffset };
    this.unreplicated.push(completed);
    return completed;
  }

  /**
   * producer.id.expiration.ms (Kafka's removeExpiredProducers): forgets producers without an open transaction whose
   * last write is at least `expirationMs` old. Returns how many were removed.
   */
  removeExpiredProducers(now: number, expirationMs: number): number {
    let removed = 0;
    for (const [pid, e] of this.producers) {
      if (e.currentTxnFirstOffset < 0 && now - e.lastTimestamp >= expirationMs) {
        this.producers.delete(pid);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets everything and starts empty at `offset` (the log was emptied); deletes every snapshot. */
  reset(offset: number): void {
    this.producers.clear();
    this.ongoing.clear();
    this.unreplicated = [];
    this.mapEndOffset = offset;
    this.lastSnapOffset = offset;
    for (const s of this.listSnapshots()) this.removeSnapshot(s);
  }

  /** Loads snapshot entries (their open transactions in first-offset order). */
  private loadEntries(entries: ProducerStateEntry[]): void {
    for (const e of entries) this.producers.set(e.producerId, e);
    const open = entries.filter((e) => e.currentTxnFirstOffset >= 0).sort((a, b) => a.currentTxnFirstOffset - b.currentTxnFirstOffset);
    for (const e of open) this.ongoing.set(e.producerId, e.currentTxnFirstOffset);
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots

  /** Offsets of the snapshot files in the directory, ascending. */
  listSnapshots(): number[] {
    let names: string[];
    try {
      names = this.fdCache.withPermitSync(() => fs.readdirSync(this.dir), `listing ${this.dir}`);
    } catch (e) {
      // a log whose directory is gone (deleted) has no snapshots; any other failure is a storage failure
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const offsets: number[] = [];
    for (const n of names) {
      const o = snapshotOffsetOf(n);
      if (o !== null) offsets.push(o);
    }
    return offsets.sort((a, b) => a - b);
  }

  private removeSnapshot(offset: number): void {
    fs.rmSync(path.join(this.dir, snapshotFileName(offset)), { force: true });
  }

  /**
   * Writes `<mapEndOffset>.snapshot` if the state moved since the last one (tmp file + rename; `.tmp` files are
   * removed when a log opens). With `sync` the file and directory are fsynced (clean close). Snapshots below
   * `deleteBelow` (the oldest segment's base offset) are removed.
   */
  takeSnapshot(sync = false, deleteBelow = -1): void {
    if (this.mapEndOffset > this.lastSnapOffset) {
      const file = path.join(this.dir, snapshotFileName(this.mapEndOffset));
      const tmp = `${file}.tmp`;
      const bytes = encodeProducerSnapshot(this.producers.values());
      // two descriptors at most at a time: the snapshot file, then the directory for its fsync
      this.fdCache.withPermitSync(
        () => {
          const fd = fs.openSync(tmp, 'w');
          try {
            writeFullySync(fd, bytes, 0, bytes.length, 0);
            if (sync) fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
          fs.renameSync(tmp, file);
          if (sync) fsyncDirSync(this.dir);
        },
        `writing ${file}`,
        2,
      );
      this.lastSnapOffset = this.mapEndOffset;
    }
    if (deleteBelow > 0) for (const s of this.listSnapshots()) if (s < deleteBelow && s !== this.lastSnapOffset) this.removeSnapshot(s);
  }

  /**
   * Rebuilds the state for a log holding [logStartOffset, logEndOffset): snapshots above the log end are
   * deleted (truncated or lost data), the newest readable one at or below `maxSnapshotOffset` is loaded, and the batch
   * headers after it are replayed through `read(offset)`, which returns whole batches starting with the one containing
   * offset. `onCompletedTxn` sees every transaction a replayed marker completes (recovery rebuilds .txnindex files).
   */
  async rebuild(
    logStartOffset: number,
    logEndOffset: number,
    read: (offset: number) => Promise<Buffer>,
    maxSnapshotOffset: number = logEndOffset,
    onCompletedTxn?: (txn: CompletedTxn) => void,
  ): Promise<void> {
    let from = this.loadLatestSnapshot(logStartOffset, logEndOffset, maxSnapshotOffset);
    while (from < logEndOffset) {
      const records = await read(from);
      if (records.length === 0) break;
      for (let pos = 0; pos + 12 <= records.length; ) {
        const size = batchSize(records, pos);
        if (size <= 12 || pos + size > records.length) break;
        const last = batchBaseOffset(records, pos) + batchLastOffsetDelta(records, pos);
        if (last >= from) {
          const completed = this.applyBatch(records, pos);
          if (completed !== null) onCompletedTxn?.(completed);
        }
        pos += size;
      }
      if (this.mapEndOffset <= from) break; // no progress (should not happen)
      from = this.mapEndOffset;
    }
    this.mapEndOffset = logEndOffset;
    // Completed before this load: nothing to wait for (the high watermark is not known here; as Kafka after a load).
    this.unreplicated = [];
  }

  /**
   * `rebuild`, synchronously (the first append to a log opened lazily after a clean shutdown, where a snapshot
   * at the log end normally exists and nothing is replayed): `replay(from, apply)` must call `apply` with the
   * header of every batch from the one containing `from` to the log end.
   */
  rebuildSync(logStartOffset: number, logEndOffset: number, replay: (from: number, apply: (buf: Buffer, pos: number) => void) => void): void {
    const from = this.loadLatestSnapshot(logStartOffset, logEndOffset);
    if (from < logEndOffset) {
      replay(from, (buf, pos) => {
        if (batchBaseOffset(buf, pos) + batchLastOffsetDelta(buf, pos) >= from) this.applyBatch(buf, pos);
      });
    }
    this.mapEndOffset = logEndOffset;
    // as rebuild: transactions completed before this load have nothing to wait for
    this.unreplicated = [];
  }

  /**
   * Clears the state and loads the newest readable snapshot at or below the log end (deleting those above it
   * and unreadable ones) and at or below `maxSnapshotOffset`; returns the offset replay must start from.
   */
  private loadLatestSnapshot(logStartOffset: number, logEndOffset: number, maxSnapshotOffset: number = logEndOffset): number {
    this.producers.clear();
    this.ongoing.clear();
    this.unreplicated = [];
    this.lastSnapOffset = 0;
    let from = logStartOffset;
    const snapshots = this.listSnapshots();
    for (let i = snapshots.length - 1; i >= 0; i--) {
      const offset = snapshots[i]!;
      if (offset > logEndOffset) {
        this.removeSnapshot(offset);
        continue;
      }
      if (offset > maxSnapshotOffset) continue;
      // a failure to read the file is an I/O error and is thrown; only unreadable content is skipped
      const file = path.join(this.dir, snapshotFileName(offset));
      const content = this.fdCache.withPermitSync(() => fs.readFileSync(file), `reading ${file}`);
      let entries: ProducerStateEntry[];
      try {
        entries = decodeProducerSnapshot(content);
      } catch {
        this.removeSnapshot(offset); // torn or corrupt (its CRC says so): fall back to an older one or a full replay
        continue;
      }
      this.loadEntries(entries);
      this.lastSnapOffset = offset;
      from = Math.max(offset, logStartOffset);
      break;
    }
    this.mapEndOffset = from;
    return from;
  }
}
