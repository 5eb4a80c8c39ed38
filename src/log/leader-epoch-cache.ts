/**
 * The leader epoch cache of one partition (Kafka's LeaderEpochFileCache): for every leader epoch that wrote to
 * the log, the offset of its first batch, persisted as `<partition dir>/leader-epoch-checkpoint` (version 0,
 * count, then `epoch startOffset` lines).
 *
 * - `assign(epoch, offset)` records an epoch the first time it writes (epochs only go up; a lower or equal epoch
 *   is ignored, as is a negative one).
 * - `truncateFromEnd(endOffset)` drops the epochs that start at or after a new log end (truncation, recovery).
 * - `truncateFromStart(startOffset)` drops the epochs wholly below a new log start and moves the start of the
 *   one containing it up to it (retention, DeleteRecords).
 * - `clear()` empties it (the log restarted at a new offset).
 *
 * The file is rewritten in the background after every change (write to `.tmp`, fsync, rename; writes to one
 * file never overlap); `flushed()` resolves once the last change is on disk. The log awaits it before it moves
 * its recovery point, so a batch of a new epoch is never below the recovery point while its epoch entry is not
 * yet durable. A missing, empty or malformed file loads as an empty cache (the log rebuilds it from batches).
 * A failed background write is reported to `onWriteError` (the Log's storage failure path) and makes
 * `flushed()` reject.
 */
import path from 'node:path';
import { CheckpointFormatError, LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCheckpointFile, type EpochEntry } from './checkpoint.js';
import type { FileDescriptorCache } from './fd-cache.js';

export class LeaderEpochCache {
  private entries: EpochEntry[];
  private readonly file: LeaderEpochCheckpointFile;
  private pending: Promise<void> = Promise.resolve();
  private lastError: Error | null = null;
  /** Told about every failed write of the file (the Log takes its dir offline on an I/O error). Must not throw. */
  onWriteError: ((e: Error) => void) | undefined;

  private constructor(file: LeaderEpochCheckpointFile, entries: EpochEntry[]) {
    this.file = file;
    this.entries = entries;
  }

  /** Loads `<dir>/leader-epoch-checkpoint` (empty when missing or unreadable). */
  static async load(dir: string, cache?: FileDescriptorCache): Promise<LeaderEpochCache> {
    const file = new LeaderEpochCheckpointFile(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), cache);
    let entries: EpochEntry[] = [];
    try {
      entries = await file.read();
    } catch (e) {
      if (!(e instanceof CheckpointFormatError)) throw e;
    }
    // keep only a well-formed history: epochs and start offsets strictly increasing
    const clean: EpochEntry[] = [];
    for (const e of entries) {
      const last = clean[clean.length - 1];
      if (e.epoch < 0 || e.startOffset < 0) continue;
      if (last !== undefined && (e.epoch <= last.epoch || e.startOffset < last.startOffset)) continue;
      clean.push(e);
    }
    return new LeaderEpochCache(file, clean);
  }

  /** The entries, oldest first. */
  get epochEntries(): readonly EpochEntry[] {
    return this.entries;
  }

  /** The latest epoch, or -1 when there is none. */
  get latestEpoch(): number {
    return this.entries.length === 0 ? -1 : this.entries[this.entries.length - 1]!.epoch;
  }

  /** The start offset of `epoch`, or -1 when it is not in the cache. */
  startOffsetOf(epoch: number): number {
    return this.entries.find((e) => e.epoch === epoch)?.startOffset ?? -1;
  }

  /**
   * Kafka's LeaderEpochFileCache.endOffsetFor (OffsetsForLeaderEpoch, KIP-101/279): for the latest epoch, the log
   * end offset; otherwise the start offset of the first epoch after `epoch`, with the largest epoch <= `epoch`
   * (a requested epoch below every cached one answers with itself and the first cached epoch's start offset, as
   * its data is gone). [-1, -1] (UNDEFINED) for epoch -1, an empty cache, or an epoch above every cached one.
   */
  endOffsetFor(epoch: number, logEndOffset: number): { epoch: number; endOffset: number } {
    const UNDEFINED = { epoch: -1, endOffset: -1 };
    if (epoch < 0 || this.entries.length === 0) return UNDEFINED;
    if (epoch === this.latestEpoch) return { epoch, endOffset: logEndOffset };
    let higher = 0;
    while (higher < this.entries.length && this.entries[higher]!.epoch <= epoch) higher++;
    if (higher === this.entries.length) return UNDEFINED;
    const next = this.entries[higher]!;
    if (higher === 0) return { epoch, endOffset: next.startOffset };
    return { epoch: this.entries[higher - 1]!.epoch, endOffset: next.startOffset };
  }

  /** The epoch of the batch holding `offset` (the latest epoch starting at or before it), or -1 when none is known. */
  epochForOffset(offset: number): number {
    let found = -1;
    for (const e of this.entries) {
      if (e.startOffset > offset) break;
      found = e.epoch;
    }
    return found;
  }

  /** Records `epoch` starting at `startOffset` when it is newer than the latest epoch. Returns true when added. */
  assign(epoch: number, startOffset: number): boolean {
    if (epoch < 0 || epoch <= this.latestEpoch) return false;
    // an epoch cannot start before its predecessor: drop predecessors that start at or after it (a truncated log)
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= startOffset) this.entries.pop();
    this.entries.push({ epoch, startOffset });
    this.persist();
    return true;
  }

  /** Removes the epochs starting at or after `endOffset`. */
  truncateFromEnd(endOffset: number): void {
    const before = this.entries.length;
    while (this.entries.length > 0 && this.entries[this.entries.length - 1]!.startOffset >= endOffset) this.entries.pop();
    if (this.entries.length !== before) this.persist();
  }

  /** Removes the epochs wholly before `startOffset`; the one containing it now starts there. */
  truncateFromStart(startOffset: number): void {
    let firstKept = 0;
    while (firstKept + 1 < this.entries.length && this.entries[firstKept + 1]!.startOffset <= startOffset) firstKept++;
    const first = this.entries[firstKept];
    if (first === undefined || (firstKept === 0 && first.startOffset >= startOffset)) return;
    this.entries = this.entries.slice(firstKept);
    this.entries[0] = { epoch: first.epoch, startOffset: Math.max(first.startOffset, startOffset) };
    this.persist();
  }

  /** Empties the cache. */
  clear(): void {
    if (this.entries.length === 0) return;
    this.entries = [];
    this.persist();
  }

  /** Resolves once every change so far is on disk; rejects when the last write failed. */
  async flushed(): Promise<void> {
    await this.pending;
    if (this.lastError === null) return;
    this.persist(); // one retry of the last state
    await this.pending;
    if (this.lastError !== null) throw this.lastError;
  }

  private persist(): void {
    const snapshot = this.entries.slice();
    this.pending = this.file.write(snapshot).then(
      () => {
        this.lastError = null;
      },
      (e: Error) => {
        // Kept for flushed(), which must not report the file durable, and reported now: nobody awaits this write.
        this.lastError = e;
        this.onWriteError?.(e);
      },
    );
  }
}
