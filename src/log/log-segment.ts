/**
 * One segment of a partition log: `<baseOffset as 20 digits>.log` holding record batches exactly as on
 * the wire, with its sparse `.index` and `.timeindex` (Kafka's LogSegment).
 *
 * - Appends are one synchronous positional write of a whole batch (page cache), then maybe an index entry,
 *   following Kafka's LogSegment.append exactly (see `append`).
 * - Reads are async positional reads: the offset index gives a position at or before the wanted batch,
 *   batch headers are scanned from there (header bytes only), and the answer is one Buffer of whole batches.
 * - Nothing here decodes records; batch headers are read in place with record-batch-header accessors.
 * - Descriptors are a cache (fd-cache.ts): the `.log` file and both indexes open when an operation needs them
 *   and may be closed again while the segment is idle. Opening a segment costs one stat and no descriptor; its
 *   indexes load on first use (asynchronously for reads, synchronously for the first append). An operation pins
 *   the descriptor it uses until it is done, and `close()` is deferred until operations in flight finish, so a
 *   descriptor is never closed (or reused) under a pending read.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  RECORD_BATCH_OVERHEAD,
  batchBaseOffset,
  batchLastOffset,
  batchMaxTimestamp,
  batchSize,
} from '../protocol/record-batch-header.js';
import { checkBatchStructure } from '../protocol/records.js';
import type { LogConfig } from './log-config.js';
import { fsyncFd, readFully, readFullySync, writeFullySync } from './file-io.js';
import { sharedFdCache, type CachedFile, type FileDescriptorCache } from './fd-cache.js';
import { addSuppressed } from './storage-error.js';
import { CorruptIndexError, OffsetIndex } from './offset-index.js';
import { NO_TIMESTAMP, TimeIndex, type TimestampOffset } from './time-index.js';
import { TXN_INDEX_FILE_SUFFIX, TransactionIndex } from './transaction-index.js';

export const LOG_FILE_SUFFIX = '.log';
export const INDEX_FILE_SUFFIX = '.index';
export const TIME_INDEX_FILE_SUFFIX = '.timeindex';


const INT32_MAX = 0x7fffffff;
const EMPTY = Buffer.alloc(0);
const HEADER_SCAN_CHUNK = 16 << 10;

/** Kafka's file name prefix: the offset zero-padded to 20 digits. */
export function filenamePrefixFromOffset(offset: number): string {
  return String(offset).padStart(20, '0');
}

/** The base offset encoded in a segment file name such as `00000000000000000042.log`, or null. */
export function offsetFromFileName(name: string): number | null {
  const m = /^(\d{20})\.[a-z]+$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Where a batch lies in a segment file, from its header. */
export interface BatchPosition {
  position: number;
  size: number;
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
}

export interface SegmentReadOptions {
  /** Do not return bytes at or past this file position. */
  maxPosition?: number;
  /** Do not return batches whose last offset is >= this (the high watermark). */
  maxOffset?: number;
  /** Return the first batch even when it is larger than maxBytes (KIP-74). Default true. */
  minOneBatch?: boolean;
}

export interface RecoverResult {
  /** Bytes cut off the end of the file (0 when every batch was valid). */
  truncatedBytes: number;
  /** Offset after the last valid batch (the base offset when the segment is empty). */
  nextOffset: number;
  /** Why the scan stopped early, when it did. */
  problem: string | null;
}

type BatchVisitor = (buf: Buffer, pos: number, filePosition: number, size: number) => boolean;

interface ScanResult {
  /** The stopped batch's position when stopped; else the end of the last complete batch. */
  position: number;
  stopped: boolean;
  /** Set when the bytes at `position` are not a plausible batch (bad size, cut off, trailing bytes). */
  problem: string | null;
}

/**
 * Walks the batches in file range [start, end) with chunked async reads. With `whole` the visitor sees
 * the complete batch in `buf`; otherwise only its header (RECORD_BATCH_OVERHEAD bytes) is guaranteed to be
 * present. The visitor returns true to stop. No per-batch allocation.
 */
async function scanBatches(
  fd: number,
  start: number,
  end: number,
  whole: boolean,
  visit: BatchVisitor,
  chunkSize = whole ? 1 << 20 : 16 << 10,
): Promise<ScanResult> {
  let filePos = start;
  if (filePos >= end) return { position: filePos, stopped: false, problem: null };
  let buf = Buffer.allocUnsafe(Math.max(RECORD_BATCH_OVERHEAD, Math.min(chunkSize, end - start)));
  while (filePos < end) {
    const want = Math.min(buf.length, end - filePos);
    const n = await readFully(fd, buf, 0, want, filePos);
    if (n < RECORD_BATCH_OVERHEAD) {
      const problem = n < want ? `short read at ${filePos}` : `${end - filePos} trailing bytes at ${filePos}, less than a batch header`;
      return { position: filePos, stopped: false, problem };
    }
    let p = 0;
    while (p + RECORD_BATCH_OVERHEAD <= n) {
      const size = batchSize(buf, p);
      if (size < RECORD_BATCH_OVERHEAD) {
        return { position: filePos + p, stopped: false, problem: `invalid batch size ${size} at ${filePos + p}` };
      }
      if (filePos + p + size > end) {
        return { position: filePos + p, stopped: false, problem: `batch of ${size} bytes at ${filePos + p} is cut off at ${end}` };
      }
      if (whole && p + size > n) break;
      if (visit(buf, p, filePos + p, size)) return { position: filePos + p, stopped: true, problem: null };
      p += size;
    }
    if (p === 0) {
      // whole mode, and the first batch is larger than the buffer: read it alone into a bigger one
      buf = Buffer.allocUnsafe(batchSize(buf, 0));
      continue;
    }
    filePos += p;
  }
  return { position: filePos, stopped: false, problem: null };
}

/**
 * `scanBatches` with synchronous reads and batch headers only: for the first append to a segment opened
 * lazily (rebuilding a missing index, finding the log end), which must not wait.
 */
function scanHeadersSync(fd: number, start: number, end: number, visit: (buf: Buffer, pos: number, filePosition: number, size: number) => boolean): ScanResult {
  let filePos = start;
  const buf = Buffer.allocUnsafe(Math.max(RECORD_BATCH_OVERHEAD, Math.min(HEADER_SCAN_CHUNK, Math.max(0, end - start))));
  while (filePos < end) {
    const want = Math.min(buf.length, end - filePos);
    const n = readFullySync(fd, buf, 0, want, filePos);
    if (n < RECORD_BATCH_OVERHEAD) {
      const problem = n < want ? `short read at ${filePos}` : `${end - filePos} trailing bytes at ${filePos}, less than a batch header`;
      return { position: filePos, stopped: false, problem };
    }
    let p = 0;
    while (p + RECORD_BATCH_OVERHEAD <= n) {
      const size = batchSize(buf, p);
      if (size < RECORD_BATCH_OVERHEAD) return { position: filePos + p, stopped: false, problem: `invalid batch size ${size} at ${filePos + p}` };
      if (filePos + p + size > end) return { position: filePos + p, stopped: false, problem: `batch of ${size} bytes at ${filePos + p} is cut off at ${end}` };
      if (visit(buf, p, filePos + p, size)) return { position: filePos + p, stopped: true, problem: null };
      p += size;
    }
    // the next header starts at filePos + p (possibly beyond this chunk: large batches are skipped, not read)
    filePos += p;
  }
  return { position: filePos, stopped: false, problem: null };
}

export class LogSegment {
  readonly logFile: string;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  /** Aborted transactions whose markers are in this segment (`.txnindex`, src/log/transaction-index.ts). */
  readonly txnIndex: TransactionIndex;
  /** Bytes of valid batches in the .log file. */
  size: number;
  /** When this segment object was created (Kafka's `created`), for segment.ms when there is no timestamp. */
  created: number;
  /** maxTimestamp of the first batch, the basis of time-based rolling; null until known. */
  rollingBasedTimestamp: number | null = null;

  private readonly file: CachedFile;
  private readonly fdCache: FileDescriptorCache;
  private config: LogConfig;
  private maxTimestampSoFar = NO_TIMESTAMP;
  private offsetOfMaxTimestampSoFar: number;
  private bytesSinceLastIndexEntry = 0;
  private indexesReady: boolean;
  private indexesLoading: Promise<void> | null = null;
  /** Bytes written or cut since the last fsync of the .log file. */
  private dirty = false;
  private ops = 0;
  private closeRequested = false;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    config: LogConfig,
    fdCache: FileDescriptorCache,
    size: number,
    created: number,
    indexesReady: boolean,
  ) {
    const prefix = path.join(dir, filenamePrefixFromOffset(baseOffset));
    this.logFile = prefix + LOG_FILE_SUFFIX;
    this.fdCache = fdCache;
    this.file = fdCache.file(this.logFile);
    this.offsetIndex = new OffsetIndex(prefix + INDEX_FILE_SUFFIX, baseOffset, config.segmentIndexBytes, fdCache);
    this.timeIndex = new TimeIndex(prefix + TIME_INDEX_FILE_SUFFIX, baseOffset, config.segmentIndexBytes, fdCache);
    this.txnIndex = new TransactionIndex(prefix + TXN_INDEX_FILE_SUFFIX, baseOffset, fdCache);
    this.config = config;
    this.size = size;
    this.created = created;
    this.offsetOfMaxTimestampSoFar = baseOffset;
    this.indexesReady = indexesReady;
  }

  /** Creates a new, empty segment (files created or emptied). Synchronous: used when rolling inside append. */
  static create(dir: string, baseOffset: number, config: LogConfig, now: number = Date.now(), fdCache: FileDescriptorCache = sharedFdCache()): LogSegment {
    const seg = new LogSegment(dir, baseOffset, config, fdCache, 0, now, true);
    try {
      seg.file.createSync();
      seg.offsetIndex.createEmpty(true);
      seg.timeIndex.createEmpty(true);
      seg.txnIndex.reset(); // a stale .txnindex of an earlier segment at this base offset
    } catch (e) {
      seg.offsetIndex.close();
      seg.timeIndex.close();
      seg.file.close();
      throw e;
    }
    return seg;
  }

  /**
   * Opens an existing segment: one stat for its size (none when `size` is given), no descriptor. Indexes are
   * loaded on first use (`ensureIndexes`); a missing or corrupt index is then rebuilt from the log.
   */
  static async open(
    dir: string,
    baseOffset: number,
    config: LogConfig,
    now: number = Date.now(),
    fdCache: FileDescriptorCache = sharedFdCache(),
    size?: number,
  ): Promise<LogSegment> {
    const logFile = path.join(dir, filenamePrefixFromOffset(baseOffset) + LOG_FILE_SUFFIX);
    const bytes = size ?? fs.statSync(logFile).size; // one stat, no descriptor (see Log.open: many at a start)
    return new LogSegment(dir, baseOffset, config, fdCache, bytes, now, false);
  }

  /** `open`, synchronously: the log cleaner swaps a cleaned segment in without yielding (src/log/log-cleaner.ts). */
  static openSync(dir: string, baseOffset: number, config: LogConfig, now: number = Date.now(), fdCache: FileDescriptorCache = sharedFdCache()): LogSegment {
    const logFile = path.join(dir, filenamePrefixFromOffset(baseOffset) + LOG_FILE_SUFFIX);
    return new LogSegment(dir, baseOffset, config, fdCache, fs.statSync(logFile).size, now, false);
  }

  get isClosed(): boolean {
    return this.closeRequested;
  }

  /** True when the indexes are loaded (or rebuilt) and trusted. */
  get hasIndexesReady(): boolean {
    return this.indexesReady;
  }

  /** Whether the .log file's descriptor is open right now (for tests and the fd figures). */
  get hasOpenDescriptor(): boolean {
    return this.file.isOpen;
  }

  updateConfig(config: LogConfig): void {
    this.config = config;
  }

  /** Largest batch maxTimestamp seen in this segment (-1 if none); valid once indexes are ready. */
  get maxTimestamp(): number {
    return this.maxTimestampSoFar;
  }

  /** Last offset of the batch that set maxTimestamp (Kafka's shallow offset of the max timestamp). */
  get offsetOfMaxTimestamp(): number {
    return this.offsetOfMaxTimestampSoFar;
  }

  /** Starts an operation: the segment stays open (its close deferred) until `end()`. */
  private begin(): void {
    if (this.closeRequested) throw new Error(`segment ${this.logFile} is closed`);
    this.ops++;
  }

  private end(): void {
    this.ops--;
    if (this.ops === 0 && this.closeRequested) this.closeNow();
  }

  /** `begin`, and the .log descriptor pinned: `const fd = await this.beginWithFd(); try { ... } finally { this.endWithFd(); }`. */
  private async beginWithFd(): Promise<number> {
    this.begin();
    try {
      return await this.file.acquire();
    } catch (e) {
      this.end();
      throw e;
    }
  }

  private beginWithFdSync(): number {
    this.begin();
    try {
      return this.file.acquireSync();
    } catch (e) {
      this.end();
      throw e;
    }
  }

  private endWithFd(): void {
    this.file.release();
    this.end();
  }

  /**
   * Loads the indexes if needed. An index that fails its sanity check, is missing, or points past the end of
   * the log is rebuilt from the log (which also truncates an invalid tail, as Kafka's recover does).
   */
  ensureIndexes(): Promise<void> {
    if (this.indexesReady) return Promise.resolve();
    if (this.indexesLoading === null) {
      this.indexesLoading = this.loadIndexes().finally(() => {
        this.indexesLoading = null;
      });
    }
    return this.indexesLoading;
  }

  private async loadIndexes(): Promise<void> {
    this.begin();
    try {
      await this.offsetIndex.ensureLoaded();
      await this.timeIndex.ensureLoaded();
      if (!this.indexesReady) this.installLoadedIndexes();
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!(e instanceof CorruptIndexError) && code !== 'ENOENT') throw e;
      this.offsetIndex.unload();
      this.timeIndex.unload();
    } finally {
      this.end();
    }
    await this.recover();
  }

  /** With both index files loaded: checks them against the log and takes the segment's state from them. */
  private installLoadedIndexes(): void {
    if (this.offsetIndex.lastPosition >= this.size) {
      throw new CorruptIndexError(`${this.offsetIndex.file}: last entry points past the end of the log`);
    }
    const last = this.timeIndex.lastEntry();
    this.maxTimestampSoFar = last.timestamp;
    this.offsetOfMaxTimestampSoFar = last.offset;
    this.bytesSinceLastIndexEntry = this.size - Math.max(0, this.offsetIndex.lastPosition);
    this.indexesReady = true;
  }

  /**
   * `ensureIndexes`, synchronously: the first append to a segment that was opened lazily (after a clean
   * shutdown) cannot wait. A missing or corrupt index is rebuilt from the batch headers (the data itself was
   * shut down cleanly: no recovery, no CRC pass).
   */
  ensureIndexesSync(): void {
    if (this.indexesReady) return;
    this.begin();
    try {
      try {
        this.offsetIndex.ensureLoadedSync();
        this.timeIndex.ensureLoadedSync();
        this.installLoadedIndexes();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (!(e instanceof CorruptIndexError) && code !== 'ENOENT') throw e;
        this.offsetIndex.unload();
        this.timeIndex.unload();
        this.rebuildIndexesSync();
      }
    } finally {
      this.end();
    }
  }

  /** Rebuilds both indexes from a header scan, as appends would have built them; cuts a torn tail. */
  private rebuildIndexesSync(): void {
    const fd = this.beginWithFdSync();
    try {
      this.offsetIndex.reset();
      this.timeIndex.reset();
      const intervalBytes = this.config.indexIntervalBytes;
      let maxTs = NO_TIMESTAMP;
      let offsetOfMaxTs = this.baseOffset;
      let lastIndexEntry = 0;
      let firstBatchTimestamp: number | null = null;
      const r = scanHeadersSync(fd, 0, this.size, (buf, p, filePosition) => {
        const last = batchLastOffset(buf, p);
        const ts = batchMaxTimestamp(buf, p);
        if (firstBatchTimestamp === null) firstBatchTimestamp = ts;
        if (ts > maxTs) {
          maxTs = ts;
          offsetOfMaxTs = last;
        }
        if (filePosition - lastIndexEntry > intervalBytes && !this.offsetIndex.isFull && !this.timeIndex.isFull) {
          this.offsetIndex.append(last, filePosition);
          this.timeIndex.maybeAppend(maxTs, offsetOfMaxTs);
          lastIndexEntry = filePosition;
        }
        return false;
      });
      if (r.position < this.size) {
        fs.ftruncateSync(fd, r.position);
        this.size = r.position;
        this.dirty = true;
      }
      this.maxTimestampSoFar = maxTs;
      this.offsetOfMaxTimestampSoFar = offsetOfMaxTs;
      this.bytesSinceLastIndexEntry = this.size - lastIndexEntry;
      this.rollingBasedTimestamp = firstBatchTimestamp;
      this.indexesReady = true;
    } finally {
      this.endWithFd();
    }
  }

  /**
   * Appends one batch (already carrying its final offsets) at the end of the file, then, as Kafka's
   * LogSegment.append: if more than index.interval.bytes were appended since the last index entry, index
   * (this batch's last offset → this batch's position) and (max timestamp so far → its offset).
   * So the first batch of a segment never gets an entry.
   *
   * All or nothing: when a write fails (ENOSPC after a short write, EIO, ...) the error is thrown and the
   * segment is as before the call: size, max timestamp and both indexes unchanged, and the bytes that did
   * reach the files cut off again (best effort; when that fails too, no read goes past `size` and the log dir
   * goes offline, and recovery cuts them at the next start). Nothing is ever acknowledged for a batch that
   * is not completely in the file. Every descriptor the append needs is pinned before anything is written, so
   * running out of descriptors fails it with nothing written.
   */
  append(buf: Buffer, pos: number, size: number): void {
    if (this.closeRequested) throw new Error(`segment ${this.logFile} is closed`);
    this.ensureIndexesSync();
    const physicalPosition = this.size;
    const lastOffset = batchLastOffset(buf, pos);
    const maxTimestamp = batchMaxTimestamp(buf, pos);
    if (!this.canConvertToRelativeOffset(lastOffset) || batchBaseOffset(buf, pos) < this.baseOffset) {
      throw new RangeError(`offsets of batch [${batchBaseOffset(buf, pos)}, ${lastOffset}] do not fit segment ${this.baseOffset}`);
    }
    let maxTs = this.maxTimestampSoFar;
    let offsetOfMaxTs = this.offsetOfMaxTimestampSoFar;
    if (maxTimestamp > maxTs) {
      maxTs = maxTimestamp;
      offsetOfMaxTs = lastOffset;
    }
    const addIndexEntry = this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes;
    const offsetEntries = this.offsetIndex.entries;
    const timeEntries = this.timeIndex.entries;
    const fd = this.beginWithFdSync();
    let pinned = 0;
    try {
      if (addIndexEntry) {
        this.offsetIndex.pinSync();
        pinned++;
        this.timeIndex.pinSync();
        pinned++;
      }
      try {
        this.dirty = true;
        writeFullySync(fd, buf, pos, size, physicalPosition);
        if (addIndexEntry) {
          this.offsetIndex.append(lastOffset, physicalPosition);
          this.timeIndex.maybeAppend(maxTs, offsetOfMaxTs);
        }
      } catch (e) {
        this.rollBackAppend(fd, physicalPosition, offsetEntries, timeEntries, e);
        throw e;
      }
    } finally {
      if (pinned > 0) this.offsetIndex.unpin();
      if (pinned > 1) this.timeIndex.unpin();
      this.endWithFd();
    }
    if (physicalPosition === 0) this.rollingBasedTimestamp = maxTimestamp;
    this.size = physicalPosition + size;
    this.maxTimestampSoFar = maxTs;
    this.offsetOfMaxTimestampSoFar = offsetOfMaxTs;
    this.bytesSinceLastIndexEntry = addIndexEntry ? size : this.bytesSinceLastIndexEntry + size;
  }

  /** Undoes a failed append: index entries it added, and the log bytes past `position` (see append). */
  private rollBackAppend(fd: number, position: number, offsetEntries: number, timeEntries: number, original: unknown): void {
    this.offsetIndex.rollBackTo(offsetEntries, original);
    this.timeIndex.rollBackTo(timeEntries, original);
    try {
      fs.ftruncateSync(fd, position);
    } catch (e) {
      addSuppressed(original, e);
    }
  }

  canConvertToRelativeOffset(offset: number): boolean {
    const rel = offset - this.baseOffset;
    return rel >= 0 && rel <= INT32_MAX;
  }

  /** Time waited for a roll (Kafka's timeWaitedForRoll): by record timestamps when known, else wall time. */
  timeWaitedForRoll(now: number, messageTimestamp: number): number {
    const t = this.rollingBasedTimestamp;
    if (t !== null && t >= 0) return messageTimestamp - t;
    return now - this.created;
  }

  /** Kafka's onBecomeInactiveSegment: a final time-index entry for the max timestamp. */
  onBecomeInactiveSegment(): void {
    if (this.indexesReady && this.timeIndex.isLoaded) {
      this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar, true);
    }
  }

  /**
   * The first batch in [startingPosition, endPosition) whose last offset is >= offset, found with the offset
   * index and a header scan; null when there is none.
   */
  async translateOffset(offset: number, startingPosition = 0, endPosition = this.size): Promise<BatchPosition | null> {
    await this.ensureIndexes();
    const fd = await this.beginWithFd();
    try {
      return await this.translateOffsetUnlocked(fd, offset, startingPosition, Math.min(endPosition, this.size));
    } finally {
      this.endWithFd();
    }
  }

  private async translateOffsetUnlocked(fd: number, offset: number, startingPosition: number, end: number): Promise<BatchPosition | null> {
    const from = Math.max(this.offsetIndex.lookupPosition(offset), startingPosition);
    const found: { v: BatchPosition | null } = { v: null };
    await scanBatches(fd, from, end, false, (buf, p, filePosition, size) => {
      const lastOffset = batchLastOffset(buf, p);
      if (lastOffset < offset) return false;
      found.v = {
        position: filePosition,
        size,
        baseOffset: batchBaseOffset(buf, p),
        lastOffset,
        maxTimestamp: batchMaxTimestamp(buf, p),
      };
      return true;
    });
    return found.v;
  }

  /**
   * Whole batches starting at the batch that contains startOffset (or the first batch after it), up to
   * maxBytes, but always the whole first batch when minOneBatch (KIP-74). Returns null when no batch of this
   * segment (before maxPosition) reaches startOffset, and an empty Buffer when the first such batch is not
   * returnable (at/after maxOffset, or larger than maxBytes without minOneBatch).
   */
  async read(startOffset: number, maxBytes: number, opts: SegmentReadOptions = {}): Promise<Buffer | null> {
    await this.ensureIndexes();
    const fd = await this.beginWithFd();
    try {
      const end = Math.min(this.size, opts.maxPosition ?? Number.MAX_SAFE_INTEGER);
      const maxOffset = opts.maxOffset ?? Number.MAX_SAFE_INTEGER;
      const first = await this.translateOffsetUnlocked(fd, startOffset, 0, end);
      if (first === null) return null;
      if (first.lastOffset >= maxOffset) return EMPTY;
      let want = Math.min(Math.max(0, maxBytes), end - first.position);
      if (want < first.size) {
        if (opts.minOneBatch === false) return EMPTY;
        want = first.size;
      }
      const buf = Buffer.allocUnsafe(want);
      const n = await readFully(fd, buf, 0, want, first.position);
      let p = 0;
      while (p + RECORD_BATCH_OVERHEAD <= n) {
        const size = batchSize(buf, p);
        if (size < RECORD_BATCH_OVERHEAD || p + size > n) break;
        if (batchLastOffset(buf, p) >= maxOffset) break;
        p += size;
      }
      if (p === 0) return EMPTY;
      return p === buf.length ? buf : buf.subarray(0, p);
    } finally {
      this.endWithFd();
    }
  }

  /** Offset after the last batch, found from the last index entry and a header scan (base offset when empty). */
  async readNextOffset(): Promise<{ nextOffset: number; problem: string | null }> {
    await this.ensureIndexes();
    const fd = await this.beginWithFd();
    try {
      const from = Math.max(0, this.offsetIndex.lastPosition);
      // the batch at the last index entry ends at an offset > the entry's (its own last offset)
      let next = from > 0 ? this.offsetIndex.lastOffset + 1 : this.baseOffset;
      const r = await scanBatches(fd, from, this.size, false, (buf, p) => {
        next = batchLastOffset(buf, p) + 1;
        return false;
      });
      return { nextOffset: next, problem: r.problem };
    } finally {
      this.endWithFd();
    }
  }

  /** `readNextOffset`, synchronously (the first append to a lazily opened segment checks the log end with it). */
  readNextOffsetSync(): { nextOffset: number; problem: string | null } {
    this.ensureIndexesSync();
    const fd = this.beginWithFdSync();
    try {
      const from = Math.max(0, this.offsetIndex.lastPosition);
      let next = from > 0 ? this.offsetIndex.lastOffset + 1 : this.baseOffset;
      const r = scanHeadersSync(fd, from, this.size, (buf, p) => {
        next = batchLastOffset(buf, p) + 1;
        return false;
      });
      return { nextOffset: next, problem: r.problem };
    } finally {
      this.endWithFd();
    }
  }

  /** Reads the first batch's maxTimestamp into rollingBasedTimestamp (for a segment opened from disk). */
  async loadFirstBatchTimestamp(): Promise<void> {
    if (this.rollingBasedTimestamp !== null || this.size < RECORD_BATCH_OVERHEAD) return;
    const fd = await this.beginWithFd();
    try {
      const buf = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD);
      const n = await readFully(fd, buf, 0, RECORD_BATCH_OVERHEAD, 0);
      if (n === RECORD_BATCH_OVERHEAD) this.rollingBasedTimestamp = batchMaxTimestamp(buf, 0);
    } finally {
      this.endWithFd();
    }
  }

  /** `loadFirstBatchTimestamp`, synchronously. */
  loadFirstBatchTimestampSync(): void {
    if (this.rollingBasedTimestamp !== null || this.size < RECORD_BATCH_OVERHEAD) return;
    const fd = this.beginWithFdSync();
    try {
      const buf = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD);
      if (readFullySync(fd, buf, 0, RECORD_BATCH_OVERHEAD, 0) === RECORD_BATCH_OVERHEAD) this.rollingBasedTimestamp = batchMaxTimestamp(buf, 0);
    } finally {
      this.endWithFd();
    }
  }

  /**
   * Calls `visit` with the header of every batch in the segment whose last offset is >= `from`, synchronously
   * (rebuilding producer state on the first append to a lazily opened log). Returns where the scan stopped.
   */
  forEachBatchHeaderSync(from: number, visit: (buf: Buffer, pos: number) => void): void {
    this.ensureIndexesSync();
    const fd = this.beginWithFdSync();
    try {
      scanHeadersSync(fd, this.offsetIndex.lookupPosition(from), this.size, (buf, p) => {
        if (batchLastOffset(buf, p) >= from) visit(buf, p);
        return false;
      });
    } finally {
      this.endWithFd();
    }
  }

  /**
   * The first batch at or after startingOffset whose maxTimestamp is >= timestamp, as (offset, timestamp):
   * the batch's base offset (or startingOffset when that is inside the batch) and the batch's maxTimestamp.
   * Batch granularity: records are not decoded.
   */
  async findOffsetByTimestamp(timestamp: number, startingOffset: number): Promise<TimestampOffset | null> {
    await this.ensureIndexes();
    const fd = await this.beginWithFd();
    try {
      const entry = this.timeIndex.lookup(timestamp);
      const from = this.offsetIndex.lookupPosition(Math.max(entry.offset, startingOffset));
      const found: { v: TimestampOffset | null } = { v: null };
      await scanBatches(fd, from, this.size, false, (buf, p) => {
        const maxTs = batchMaxTimestamp(buf, p);
        if (maxTs < timestamp || batchLastOffset(buf, p) < startingOffset) return false;
        found.v = { offset: Math.max(batchBaseOffset(buf, p), startingOffset), timestamp: maxTs };
        return true;
      });
      return found.v;
    } finally {
      this.endWithFd();
    }
  }

  /**
   * Re-validates every batch (size, magic, CRC-32C, counts, offsets increasing and relative to the base),
   * rebuilds both indexes as appends would have built them, and truncates the file at the first invalid
   * byte. Runs as chunked async reads, so the event loop keeps turning between chunks.
   */
  async recover(): Promise<RecoverResult> {
    const fd = await this.beginWithFd();
    try {
      const fileSize = (await new Promise<fs.Stats>((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))))).size;
      this.offsetIndex.reset();
      this.timeIndex.reset();
      const intervalBytes = this.config.indexIntervalBytes;
      let maxTs = NO_TIMESTAMP;
      let offsetOfMaxTs = this.baseOffset;
      let lastIndexEntry = 0;
      let nextOffset = this.baseOffset;
      let firstBatchTimestamp: number | null = null;
      const state: { problem: string | null } = { problem: null };
      const result = await scanBatches(fd, 0, fileSize, true, (buf, p, filePosition, size) => {
        const problem = checkBatchStructure(buf, p, p + size);
        if (problem !== null) {
          state.problem = `${problem} at position ${filePosition}`;
          return true;
        }
        const base = batchBaseOffset(buf, p);
        const last = batchLastOffset(buf, p);
        if (base < nextOffset || !this.canConvertToRelativeOffset(last)) {
          state.problem = `batch offsets [${base}, ${last}] at position ${filePosition} out of order (expected >= ${nextOffset})`;
          return true;
        }
        const batchMaxTs = batchMaxTimestamp(buf, p);
        if (firstBatchTimestamp === null) firstBatchTimestamp = batchMaxTs;
        if (batchMaxTs > maxTs) {
          maxTs = batchMaxTs;
          offsetOfMaxTs = last;
        }
        if (filePosition - lastIndexEntry > intervalBytes && !this.offsetIndex.isFull && !this.timeIndex.isFull) {
          this.offsetIndex.append(last, filePosition);
          this.timeIndex.maybeAppend(maxTs, offsetOfMaxTs);
          lastIndexEntry = filePosition;
        }
        nextOffset = last + 1;
        return false;
      });
      const validBytes = result.position;
      const truncatedBytes = fileSize - validBytes;
      if (truncatedBytes > 0) fs.ftruncateSync(fd, validBytes);
      // recovered data is made durable by the caller (Log.loadSegments flushes every recovered segment)
      this.dirty = true;
      this.size = validBytes;
      this.maxTimestampSoFar = maxTs;
      this.offsetOfMaxTimestampSoFar = offsetOfMaxTs;
      this.bytesSinceLastIndexEntry = validBytes - lastIndexEntry;
      this.rollingBasedTimestamp = firstBatchTimestamp;
      this.indexesReady = true;
      return { truncatedBytes, nextOffset, problem: state.problem ?? result.problem };
    } finally {
      this.endWithFd();
    }
  }

  /**
   * Removes the batch containing offset and everything after it. Returns the base offset of the first removed
   * batch, or null when nothing was removed.
   */
  async truncateTo(offset: number, now: number = Date.now()): Promise<number | null> {
    await this.ensureIndexes();
    const fd = await this.beginWithFd();
    try {
      const cut = await this.translateOffsetUnlocked(fd, offset, 0, this.size);
      if (cut === null) return null;
      this.offsetIndex.truncateTo(offset);
      this.timeIndex.truncateTo(offset);
      this.txnIndex.truncateTo(offset);
      fs.ftruncateSync(fd, cut.position);
      this.dirty = true;
      this.size = cut.position;
      if (this.size === 0) {
        this.created = now;
        this.rollingBasedTimestamp = null;
      }
      this.bytesSinceLastIndexEntry = this.size - Math.max(0, this.offsetIndex.lastPosition);
      // max timestamp: the last time-index entry, then the batches after its position
      const last = this.timeIndex.lastEntry();
      let maxTs = last.timestamp;
      let offsetOfMaxTs = last.offset;
      const from = this.offsetIndex.lookupPosition(last.offset);
      await scanBatches(fd, from, this.size, false, (buf, p) => {
        const ts = batchMaxTimestamp(buf, p);
        if (ts > maxTs) {
          maxTs = ts;
          offsetOfMaxTs = batchLastOffset(buf, p);
        }
        return false;
      });
      this.maxTimestampSoFar = maxTs;
      this.offsetOfMaxTimestampSoFar = offsetOfMaxTs;
      return cut.baseOffset;
    } finally {
      this.endWithFd();
    }
  }

  /** Whether anything was written to the segment since it was last fsynced. */
  get needsFlush(): boolean {
    return this.dirty;
  }

  /** fsync the log and both indexes (only what was written since the last fsync). */
  async flush(): Promise<void> {
    if (this.closeRequested) return;
    this.begin();
    try {
      if (this.dirty) {
        this.dirty = false;
        try {
          await this.fdCache.fsync(this.file, fsyncFd);
        } catch (e) {
          this.dirty = true;
          throw e;
        }
      }
      await this.offsetIndex.flush();
      await this.timeIndex.flush();
      await this.txnIndex.flush();
    } finally {
      this.end();
    }
  }

  /** Writes the final time-index entry and closes the files once in-flight reads finish. */
  close(): void {
    if (this.closeRequested) return;
    this.onBecomeInactiveSegment();
    this.closeRequested = true;
    if (this.ops === 0) this.closeNow();
  }

  /**
   * Closes the files without writing anything (Kafka's closeHandlers): the segment's log dir failed, so no
   * more writes go to it. In-flight reads finish first.
   */
  closeHandlers(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    if (this.ops === 0) this.closeNow();
  }

  /**
   * Closes the descriptors. Nothing is cut here: append undoes its own partial writes, and a segment whose undo
   * failed belongs to an offline log dir, which recovery cleans at the next start.
   */
  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.file.close();
    } finally {
      this.offsetIndex.close();
      this.timeIndex.close();
      this.txnIndex.close();
    }
  }

  /** Closes (deferred while reads are in flight) and removes the segment's files. */
  deleteFiles(): void {
    this.closeRequested = true;
    if (this.ops === 0) this.closeNow();
    for (const f of [this.logFile, this.offsetIndex.file, this.timeIndex.file, this.txnIndex.file]) fs.rmSync(f, { force: true });
  }
}
