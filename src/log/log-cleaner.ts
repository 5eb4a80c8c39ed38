/**
 * The log cleaner: compaction of logs whose `cleanup.policy` contains `compact` (Kafka's LogCleaner, one thread).
 *
 * Each pass picks the dirtiest log: its cleaner checkpoint (`cleaner-offset-checkpoint` per log dir, Kafka's
 * offset checkpoint format) splits the non-active segments into a clean head and a dirty tail; the dirty ratio is
 * dirty bytes / (clean + dirty bytes) and must reach `min.cleanable.dirty.ratio`. The dirty tail stops at the
 * active segment and at the first segment holding a record newer than `min.compaction.lag.ms` (its largest
 * timestamp), so the active segment is never touched.
 *
 * Cleaning a log (`cleanLog`):
 * 1. an offset map (key → offset of its latest record) is built over the dirty tail (at most `maxMapEntries`
 *    keys; when full the pass stops at a segment boundary and the rest waits for the next pass);
 * 2. the segments from the log start up to the end of that map are rewritten in groups (consecutive segments
 *    whose sizes add up to at most `segment.bytes`), each group into one segment named after its first segment:
 *    a record is kept when no later record has its key; a record without a key is dropped; a kept tombstone
 *    (null value) is dropped once its timestamp is more than `delete.retention.ms` old. kfk uses the record's
 *    timestamp for this (Kafka ≥ 3.1 stamps a delete horizon into the batch, older versions used the segment's
 *    mtime): the same clock as retention.ms. Batches keep their base offset and lastOffsetDelta, so offsets stay
 *    and gaps appear; a batch left without records is dropped (Kafka keeps the last batch of each idempotent
 *    producer as an empty batch; kfk's producer state is covered by the snapshot taken when those segments
 *    rolled). Batches untouched are copied as they are.
 *    Transactions (Kafka's CleanedTransactionMetadata): the batches of aborted transactions (from the `.txnindex`
 *    entries) are dropped and never enter the offset map. A marker stays as long as its transaction still has
 *    batches in the log: an ABORT marker whose transaction's batches this pass removed is kept, with its `.txnindex`
 *    entry, for one more pass; a COMMIT marker is kept while any batch of its transaction is seen. A marker with
 *    nothing left of its transaction goes once its timestamp is older than `delete.retention.ms`, as tombstones do.
 *    Nothing at or past the log's first unstable offset (an open transaction) is cleaned.
 * 3. the new segment and its indexes are written as `.cleaned`, fsynced, renamed `.swap`, and swapped in
 *    (src/log/cleaner/swap.ts): the old segments are renamed `.deleted`, closed once in-flight reads finish,
 *    and removed after `file.delete.delay.ms`, as retention does.
 * 4. the checkpoint moves to the end of the cleaned range.
 *
 * The work is sliced: reads go through the segments' async reads, and the cleaner yields to the event loop
 * (setImmediate) every `batchesPerSlice` batches, so produce and fetch keep being served while it runs.
 * Retention (cleanup.policy delete, also with `compact,delete`) is separate (src/log/retention.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointFormatError, OffsetCheckpointFile, type TopicPartitionOffset } from './checkpoint.js';
import { fsyncDir, fsyncFd, writeFullySync } from './file-io.js';
import type { Log } from './log.js';
import { LogSegment } from './log-segment.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';
import { deleteSegmentFiles } from './retention.js';
import { addSuppressed } from './storage-error.js';
import type { CachedFile, FileDescriptorCache } from './fd-cache.js';
import { CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX, segmentFiles } from './cleaner/swap.js';
import { forEachRawRecord, isControlBatch, rebuildBatch } from './cleaner/records.js';
import {
  TRANSACTIONAL_FLAG,
  batchAttributes,
  batchBaseOffset,
  batchLastOffset,
  batchMaxTimestamp,
  batchProducerId,
  batchSize,
  RECORD_BATCH_OVERHEAD,
} from '../protocol/record-batch-header.js';
import { CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, readControlRecord } from '../protocol/control-records.js';
import { encodeAbortedTxn, ABORTED_TXN_ENTRY_SIZE, type AbortedTxn } from './transaction-index.js';

export const CLEANER_OFFSET_CHECKPOINT_FILE = 'cleaner-offset-checkpoint';

const INT32_MAX = 0x7fffffff;
const READ_BYTES = 1 << 20;
const WRITE_BUFFER_BYTES = 1 << 20;

export interface CleanOptions {
  /** Clock (ms) for min.compaction.lag.ms and delete.retention.ms. Default Date.now. */
  time?: () => number;
  /** Most keys in one offset map. Default 4,000,000. */
  maxMapEntries?: number;
  /** Batches handled between two yields to the event loop. Default 128. */
  batchesPerSlice?: number;
  /** Checked between batches: true aborts the pass (the cleaner is stopping). */
  aborted?: () => boolean;
}

export interface LogCleanerOptions extends CleanOptions {
  /** `log.cleaner.backoff.ms`: sleep between passes that found nothing to clean. */
  backoffMs: number;
  /**
   * Called with every failure of a pass (the log is skipped until the next pass): `log` is the log being looked
   * at or cleaned, null for a failure outside any one log. The LogManager sends I/O errors to the log dir
   * failure path and logs the rest. Must not throw.
   */
  onError?: (log: Log | null, err: unknown) => void;
  /** Called after each cleaned log. */
  onCleaned?: (log: Log, stats: CleanStats) => void;
  /** A log's high watermark: nothing at or past it is cleaned (Kafka cleans only below it). Default: its log end. */
  highWatermark?: (log: Log) => number;
}

/** What the cleaner would clean in a log now. */
export interface CleanableLog {
  log: Log;
  firstDirtyOffset: number;
  /** The end of the cleanable range: the active segment, or the first segment within min.compaction.lag.ms. */
  firstUncleanableOffset: number;
  cleanBytes: number;
  dirtyBytes: number;
  /** dirtyBytes / (cleanBytes + dirtyBytes). */
  dirtyRatio: number;
}

export interface CleanStats {
  /** The new cleaner checkpoint: offsets below it are clean. */
  endOffset: number;
  segmentsCleaned: number;
  bytesRead: number;
  bytesWritten: number;
  recordsRead: number;
  recordsKept: number;
  tombstonesRemoved: number;
  mapEntries: number;
  elapsedMs: number;
}

class AbortedError extends Error {}

/**
 * The log lost or replaced segments while it was being cleaned (retention, a truncation, a deletion): the
 * cleaned copy is dropped and the next pass starts from the log as it is then. Not a failure.
 */
class LogChangedError extends Error {}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The segments holding offsets in [from, to) except the active one, read batch by batch through the segments' reads. */
async function forEachBatch(
  segs: readonly LogSegment[],
  opts: CleanOptions,
  visit: (buf: Buffer, pos: number, size: number, seg: LogSegment) => void,
  onSegmentEnd?: (seg: LogSegment) => boolean,
): Promise<void> {
  const slice = opts.batchesPerSlice ?? 128;
  let sinceYield = 0;
  for (const seg of segs) {
    let offset = seg.baseOffset;
    for (;;) {
      if (opts.aborted?.()) throw new AbortedError('cleaner stopped');
      const buf = await seg.read(offset, READ_BYTES);
      if (buf === null || buf.length === 0) break;
      let pos = 0;
      while (pos + RECORD_BATCH_OVERHEAD <= buf.length) {
        const size = batchSize(buf, pos);
        visit(buf, pos, size, seg);
        offset = batchLastOffset(buf, pos) + 1;
        pos += size;
        if (++sinceYield >= slice) {
          sinceYield = 0;
          await yieldToEventLoop();
          if (opts.aborted?.()) throw new AbortedError('cleaner stopped');
        }
      }
    }
    if (onSegmentEnd?.(seg) === true) return;
  }
}

/** Largest timestamp of a segment (for min.compaction.lag.ms); its file mtime when no batch has one. */
async function segmentLargestTimestamp(seg: LogSegment): Promise<number> {
  await seg.ensureIndexes();
  if (seg.maxTimestamp >= 0) return seg.maxTimestamp;
  try {
    return (await fs.promises.stat(seg.logFile)).mtimeMs;
  } catch (e) {
    // renamed away by retention meanwhile: unknown age, so not cleanable now; other errors are I/O failures
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}

/**
 * The cleanable range of a compacted log, from its cleaner checkpoint (undefined or out of range: the log
 * start). Null when the log is not compacted or holds no dirty bytes.
 */
export async function cleanableRange(
  log: Log,
  checkpoint: number | undefined,
  now: number = Date.now(),
  highWatermark: number = log.logEndOffset,
): Promise<CleanableLog | null> {
  if (log.isClosed || !log.config.cleanupPolicy.includes('compact')) return null;
  const segs = log.segments.slice();
  if (segs.length < 2) return null;
  const active = segs[segs.length - 1]!;
  let firstDirty = checkpoint ?? log.logStartOffset;
  if (firstDirty < log.logStartOffset || firstDirty > log.logEndOffset) firstDirty = log.logStartOffset;
  let firstUncleanable = active.baseOffset;
  // Only whole segments below the high watermark and the first unstable offset (an open transaction's first
  // record, as Kafka cleans only below the last stable offset): the segment holding it is not cleaned yet.
  const firstUnstable = log.firstUnstableOffset;
  const stableBound = firstUnstable >= 0 ? Math.min(highWatermark, firstUnstable) : highWatermark;
  for (let i = 0; i < segs.length - 1; i++) {
    if (segs[i + 1]!.baseOffset > stableBound) {
      firstUncleanable = Math.min(firstUncleanable, segs[i]!.baseOffset);
      break;
    }
  }
  const lag = log.config.minCompactionLagMs;
  if (lag > 0) {
    for (let i = 0; i < segs.length - 1; i++) {
      const seg = segs[i]!;
      if (segs[i + 1]!.baseOffset <= firstDirty) continue;
      if (seg.isClosed) return null;
      const ts = await segmentLargestTimestamp(seg);
      if (ts > now - lag) {
        firstUncleanable = seg.baseOffset;
        break;
      }
    }
  }
  let cleanBytes = 0;
  let dirtyBytes = 0;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i]!;
    if (seg.baseOffset >= firstUncleanable) break;
    if (segs[i + 1]!.baseOffset <= firstDirty) cleanBytes += seg.size;
    else dirtyBytes += seg.size;
  }
  if (dirtyBytes === 0) return null;
  const dirtyRatio = dirtyBytes / (cleanBytes + dirtyBytes);
  return { log, firstDirtyOffset: firstDirty, firstUncleanableOffset: firstUncleanable, cleanBytes, dirtyBytes, dirtyRatio };
}

/** Writes one cleaned segment as `.cleaned` files, building its indexes as appends would. */
class CleanedSegmentWriter {
  readonly files: string[];
  private readonly file: CachedFile;
  private readonly fdCache: FileDescriptorCache;
  private readonly offsetIndex: OffsetIndex;
  private readonly timeIndex: TimeIndex;
  private size = 0;
  private bytesSinceLastIndexEntry = 0;
  private maxTimestamp = -1;
  private offsetOfMaxTimestamp: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private closed = false;
  /** Aborted transactions whose ABORT markers this segment keeps (its `.txnindex`). */
  private readonly abortedTxns: AbortedTxn[] = [];

  constructor(
    dir: string,
    readonly baseOffset: number,
    private readonly indexIntervalBytes: number,
    segmentIndexBytes: number,
    fdCache: FileDescriptorCache,
  ) {
    this.files = segmentFiles(dir, baseOffset, CLEANED_FILE_SUFFIX);
    this.offsetOfMaxTimestamp = baseOffset;
    this.fdCache = fdCache;
    this.file = fdCache.file(this.files[0]!);
    this.offsetIndex = new OffsetIndex(this.files[1]!, baseOffset, segmentIndexBytes, fdCache);
    this.timeIndex = new TimeIndex(this.files[2]!, baseOffset, segmentIndexBytes, fdCache);
    try {
      this.file.createSync();
      this.offsetIndex.createEmpty();
      this.timeIndex.createEmpty();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get bytes(): number {
    return this.size;
  }

  append(buf: Buffer, pos: number, size: number): void {
    const position = this.size;
    const last = batchLastOffset(buf, pos);
    const ts = batchMaxTimestamp(buf, pos);
    if (ts > this.maxTimestamp) {
      this.maxTimestamp = ts;
      this.offsetOfMaxTimestamp = last;
    }
    if (this.bytesSinceLastIndexEntry > this.indexIntervalBytes && !this.offsetIndex.isFull && !this.timeIndex.isFull) {
      this.offsetIndex.append(last, position);
      this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += size;
    this.size += size;
    this.pending.push(pos === 0 && size === buf.length ? buf : buf.subarray(pos, pos + size));
    this.pendingBytes += size;
    if (this.pendingBytes >= WRITE_BUFFER_BYTES) this.drain();
  }

  /** Keeps an aborted transaction indexed in the cleaned segment (its marker is kept in it). */
  indexAbortedTxn(t: AbortedTxn): void {
    this.abortedTxns.push(t);
  }

  private drain(): void {
    if (this.pendingBytes === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const at = this.written;
    this.file.useSync((fd) => writeFullySync(fd, chunk, 0, chunk.length, at));
    this.written += chunk.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Writes the rest, the final time-index entry, fsyncs and closes the files. */
  async finish(): Promise<void> {
    this.drain();
    this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp, true);
    await this.fdCache.fsync(this.file, fsyncFd);
    await this.offsetIndex.flush();
    await this.timeIndex.flush();
    if (this.abortedTxns.length > 0) {
      const bytes = Buffer.allocUnsafe(this.abortedTxns.length * ABORTED_TXN_ENTRY_SIZE);
      this.abortedTxns.forEach((t, i) => encodeAbortedTxn(t, bytes, i * ABORTED_TXN_ENTRY_SIZE));
      // a short-lived descriptor of its own, counted against the budget (fd-cache.ts)
      await this.fdCache.withPermit(async () => {
        const fd = fs.openSync(this.files[3]!, 'w');
        try {
          writeFullySync(fd, bytes, 0, bytes.length, 0);
          await fsyncFd(fd);
        } finally {
          fs.closeSync(fd);
        }
      }, `writing ${this.files[3]!}`);
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.file.close();
    } finally {
      this.offsetIndex.close();
      this.timeIndex.close();
    }
  }

  /** Closes and removes the `.cleaned` files of a pass that failed (which keeps its own error; see cleanLog). */
  removeFiles(): void {
    try {
      this.close();
    } finally {
      for (const f of this.files) fs.rmSync(f, { force: true });
    }
  }
}

/** Consecutive segments whose sizes add up to at most segment.bytes and whose offsets fit one segment and its indexes. */
function groupSegments(segs: readonly LogSegment[], following: LogSegment, segmentBytes: number, indexIntervalBytes: number): LogSegment[][] {
  const groups: LogSegment[][] = [];
  let i = 0;
  while (i < segs.length) {
    const first = segs[i]!;
    const group = [first];
    let bytes = first.size;
    const maxEntries = Math.min(first.offsetIndex.maxEntries, first.timeIndex.maxEntries) - 2;
    i++;
    while (i < segs.length) {
      const next = segs[i]!;
      const after = segs[i + 1] ?? following;
      const fitsSize = bytes + next.size <= segmentBytes;
      const fitsOffsets = after.baseOffset - 1 - first.baseOffset <= INT32_MAX;
      const fitsIndex = Math.ceil((bytes + next.size) / Math.max(1, indexIntervalBytes)) <= maxEntries;
      if (!fitsSize || !fitsOffsets || !fitsIndex) break;
      group.push(next);
      bytes += next.size;
      i++;
    }
    groups.push(group);
  }
  return groups;
}

/**
 * Compacts `log` over the range found by `cleanableRange`: see the file comment. Returns what it did; throws
 * when the log changed under it in a way that stops the pass (segments deleted or closed), leaving no files.
 */
export async function cleanLog(log: Log, range: Pick<CleanableLog, 'firstDirtyOffset' | 'firstUncleanableOffset'>, opts: CleanOptions = {}): Promise<CleanStats> {
  const started = performance.now();
  const now = (opts.time ?? Date.now)();
  const maxEntries = opts.maxMapEntries ?? 4_000_000;
  const cfg = log.config;
  const segs = log.segments.slice();
  const active = segs[segs.length - 1]!;
  const stats: CleanStats = {
    endOffset: range.firstDirtyOffset,
    segmentsCleaned: 0,
    bytesRead: 0,
    bytesWritten: 0,
    recordsRead: 0,
    recordsKept: 0,
    tombstonesRemoved: 0,
    mapEntries: 0,
    elapsedMs: 0,
  };

  // 1. offset map over the dirty segments
  const dirty = segs.filter(
    (s, i) => s !== active && s.baseOffset < range.firstUncleanableOffset && segs[i + 1]!.baseOffset > range.firstDirtyOffset,
  );
  if (dirty.length === 0) return stats;
  const map = new Map<string, number>();
  let endOffset = range.firstUncleanableOffset;
  // Aborted transactions overlapping everything this pass may rewrite (from the log start), by producer id.
  const abortedByProducer = new Map<number, AbortedTxn[]>();
  for (const t of log.collectAbortedTransactions(log.logStartOffset, range.firstUncleanableOffset)) {
    const list = abortedByProducer.get(t.producerId) ?? [];
    list.push(t);
    abortedByProducer.set(t.producerId, list);
  }
  /** The aborted transaction a transactional data batch belongs to, or undefined. */
  const abortedTxnOf = (buf: Buffer, pos: number): AbortedTxn | undefined => {
    if ((batchAttributes(buf, pos) & TRANSACTIONAL_FLAG) === 0) return undefined;
    const base = batchBaseOffset(buf, pos);
    return abortedByProducer.get(batchProducerId(buf, pos))?.find((t) => base >= t.firstOffset && base <= t.lastOffset);
  };
  await forEachBatch(
    dirty,
    opts,
    (buf, pos, size) => {
      stats.bytesRead += size;
      if (isControlBatch(buf, pos) || abortedTxnOf(buf, pos) !== undefined) return;
      forEachRawRecord(buf, pos, size, (r) => {
        if (r.key !== null) map.set(r.key.toString('latin1'), r.offset);
      });
    },
    (seg) => {
      if (map.size < maxEntries) return false;
      const next = segs[segs.indexOf(seg) + 1]!;
      endOffset = Math.min(endOffset, next.baseOffset);
      return true;
    },
  );
  stats.mapEntries = map.size;

  // 2. rewrite [log start, endOffset) in groups
  const toClean = segs.filter((s) => s !== active && s.baseOffset < endOffset);
  const following = segs[toClean.length]!;
  const groups = groupSegments(toClean, following, cfg.segmentBytes, cfg.indexIntervalBytes);
  const deleteRetentionMs = cfg.deleteRetentionMs;
  const kept: { start: number; end: number }[] = [];
  // Across the groups of this pass: aborted transactions whose batches were dropped (their ABORT marker stays one
  // more pass), and producers with batches of a (committed) transaction seen since their last marker.
  const abortedDropped = new Set<AbortedTxn>();
  const committedSeen = new Set<number>();
  for (const group of groups) {
    const writer = new CleanedSegmentWriter(log.dir, group[0]!.baseOffset, cfg.indexIntervalBytes, cfg.segmentIndexBytes, log.fdCache);
    try {
      await forEachBatch(group, opts, (buf, pos, size) => {
        if (batchLastOffset(buf, pos) >= endOffset) return; // cannot happen: whole segments only
        if (isControlBatch(buf, pos)) {
          const marker = readControlRecord(buf, pos);
          const producerId = batchProducerId(buf, pos);
          const expired = now - batchMaxTimestamp(buf, pos) > deleteRetentionMs;
          if (marker?.type === CONTROL_TYPE_ABORT) {
            const txn = abortedByProducer.get(producerId)?.find((t) => t.lastOffset === batchBaseOffset(buf, pos));
            if (txn !== undefined && abortedDropped.has(txn)) {
              writer.append(buf, pos, size);
              writer.indexAbortedTxn(txn);
            } else if (!expired) writer.append(buf, pos, size);
          } else if (marker?.type === CONTROL_TYPE_COMMIT) {
            if (committedSeen.delete(producerId) || !expired) writer.append(buf, pos, size);
          } else {
            writer.append(buf, pos, size);
          }
          return;
        }
        const aborted = abortedTxnOf(buf, pos);
        if (aborted !== undefined) {
          abortedDropped.add(aborted);
          return;
        }
        if ((batchAttributes(buf, pos) & TRANSACTIONAL_FLAG) !== 0) committedSeen.add(batchProducerId(buf, pos));
        kept.length = 0;
        let count = 0;
        let keptMaxTs = -1;
        const data = forEachRawRecord(buf, pos, size, (r) => {
          count++;
          if (r.key === null) return;
          const latest = map.get(r.key.toString('latin1'));
          if (latest !== undefined && r.offset < latest) return;
          if (r.nullValue && now - r.timestamp > deleteRetentionMs) {
            stats.tombstonesRemoved++;
            return;
          }
          kept.push({ start: r.start, end: r.end });
          if (r.timestamp > keptMaxTs) keptMaxTs = r.timestamp;
        });
        stats.recordsRead += count;
        stats.recordsKept += kept.length;
        if (kept.length === 0) return;
        if (kept.length === count) writer.append(buf, pos, size);
        else {
          const rebuilt = rebuildBatch(buf, pos, data, kept, keptMaxTs);
          writer.append(rebuilt, 0, rebuilt.length);
        }
      });
      for (const s of group) stats.bytesRead += s.size;
      await writer.finish();
    } catch (e) {
      try {
        writer.removeFiles();
      } catch (cleanupError) {
        addSuppressed(e, cleanupError); // the pass's own failure is the one to report
      }
      throw e;
    }
    // 3. .cleaned → .swap → swapped in
    const cleaned = writer.files;
    const swap = segmentFiles(log.dir, writer.baseOffset, SWAP_FILE_SUFFIX);
    try {
      // (the .txnindex exists only when the cleaned segment keeps aborted transactions)
      for (let i = 0; i < cleaned.length; i++) if (i !== 3 || fs.existsSync(cleaned[i]!)) fs.renameSync(cleaned[i]!, swap[i]!);
      await fsyncDir(log.dir);
    } catch (e) {
      try {
        for (const f of [...cleaned, ...swap]) fs.rmSync(f, { force: true });
      } catch (cleanupError) {
        addSuppressed(e, cleanupError); // leftovers are removed when the log is next opened
      }
      throw e;
    }
    const finals = segmentFiles(log.dir, writer.baseOffset);
    const swapped = log.replaceSegments(group, () => {
      for (const s of group) deleteSegmentFiles(s, cfg.fileDeleteDelayMs, (what, err) => log.reportBackgroundError(what, err));
      for (let i = 0; i < swap.length; i++) if (i !== 3 || fs.existsSync(swap[i]!)) fs.renameSync(swap[i]!, finals[i]!);
      return LogSegment.openSync(log.dir, writer.baseOffset, log.config, now, log.fdCache);
    });
    if (!swapped) {
      for (const f of swap) fs.rmSync(f, { force: true });
      throw new LogChangedError(`log ${log.dir} changed while it was being cleaned`);
    }
    await fsyncDir(log.dir);
    stats.segmentsCleaned += group.length;
    stats.bytesWritten += writer.bytes;
  }
  stats.endOffset = endOffset;
  stats.elapsedMs = performance.now() - started;
  return stats;
}

/** The background cleaner of a LogManager's logs. */
export class LogCleaner {
  private readonly checkpoints = new Map<string, Map<string, number>>();
  private readonly checkpointFiles = new Map<string, OffsetCheckpointFile>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private readonly time: () => number;

  constructor(
    private readonly source: { readonly logDirs: readonly string[]; allLogs(): Log[] },
    private readonly opts: LogCleanerOptions,
  ) {
    this.time = opts.time ?? Date.now;
    for (const dir of source.logDirs) this.checkpointFiles.set(dir, new OffsetCheckpointFile(path.join(dir, CLEANER_OFFSET_CHECKPOINT_FILE)));
  }

  /** Loads the checkpoints and starts the background passes (an unref'd timer). */
  async start(): Promise<void> {
    for (const [dir, file] of this.checkpointFiles) {
      try {
        this.checkpoints.set(dir, await file.readMap());
      } catch (e) {
        // malformed: everything is dirty again, which is only slower; failing to read it is a storage failure
        if (!(e instanceof CheckpointFormatError)) throw e;
        this.checkpoints.set(dir, new Map());
      }
    }
    this.schedule(this.opts.backoffMs);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const run = this.cleanOnce().then(
        (stats) => this.schedule(stats === null ? this.opts.backoffMs : 0),
        (e: unknown) => {
          this.opts.onError?.(null, e);
          this.schedule(this.opts.backoffMs);
        },
      );
      this.running = run.finally(() => {
        if (this.running === run) this.running = null;
      });
    }, delay);
    this.timer.unref();
  }

  /** The cleaner checkpoint of a log (offsets below are clean), if any. */
  checkpointOf(log: Log): number | undefined {
    return this.checkpoints.get(path.dirname(log.dir))?.get(`${log.topic}-${log.partition}`);
  }

  /** The cleanable logs and their ranges, dirtiest first (those reaching min.cleanable.dirty.ratio). */
  async cleanableLogs(): Promise<CleanableLog[]> {
    const now = this.time();
    const out: CleanableLog[] = [];
    for (const log of this.source.allLogs()) {
      // only compacted logs of more than one segment can have anything to clean (no work per other log)
      if (!log.config.cleanupPolicy.includes('compact') || log.segments.length < 2) continue;
      let r: CleanableLog | null;
      try {
        r = await cleanableRange(log, this.checkpointOf(log), now, this.opts.highWatermark?.(log));
      } catch (e) {
        this.opts.onError?.(log, e); // this log is skipped this time; the others are still looked at
        r = null;
      }
      if (r !== null && r.dirtyRatio >= log.config.minCleanableDirtyRatio) out.push(r);
    }
    return out.sort((a, b) => b.dirtyRatio - a.dirtyRatio);
  }

  /** One pass: cleans the dirtiest log, if any reaches its ratio. Returns its stats, or null when none. */
  async cleanOnce(): Promise<CleanStats | null> {
    if (this.stopped) return null;
    const [filthiest] = await this.cleanableLogs();
    if (filthiest === undefined || this.stopped) return null;
    const log = filthiest.log;
    try {
      const stats = await cleanLog(log, filthiest, { ...this.opts, aborted: () => this.stopped || log.isClosed });
      await this.updateCheckpoint(log, stats.endOffset);
      this.opts.onCleaned?.(log, stats);
      return stats;
    } catch (e) {
      // stopping, or the log changed under the pass: not failures (the next pass starts over)
      if (!(e instanceof AbortedError) && !(e instanceof LogChangedError)) this.opts.onError?.(log, e);
      return null;
    }
  }

  private async updateCheckpoint(log: Log, offset: number): Promise<void> {
    const dir = path.dirname(log.dir);
    let map = this.checkpoints.get(dir);
    if (map === undefined) this.checkpoints.set(dir, (map = new Map()));
    map.set(`${log.topic}-${log.partition}`, offset);
    const file = this.checkpointFiles.get(dir);
    if (file === undefined) return;
    const present = new Set(this.source.allLogs().map((l) => `${l.topic}-${l.partition}`));
    const entries: TopicPartitionOffset[] = [];
    for (const l of this.source.allLogs()) {
      if (path.dirname(l.dir) !== dir) continue;
      const off = map.get(`${l.topic}-${l.partition}`);
      if (off !== undefined) entries.push({ topic: l.topic, partition: l.partition, offset: off });
    }
    for (const k of [...map.keys()]) if (!present.has(k)) map.delete(k);
    entries.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    await file.write(entries);
  }

  /** Stops the passes; resolves once a pass in progress has stopped (it aborts between batches). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // only waits for a pass in progress: a pass reports its own failures to onError (see schedule)
    await this.running?.catch(() => undefined);
  }
}
