/**
 * One partition's log: the directory `<log.dir>/<topic>-<partition>/` and its segments, sorted by base
 * offset (Kafka's UnifiedLog/LocalLog, first cut).
 *
 * - `append` validates each batch header (size, magic, CRC-32C, counts, max.message.bytes), assigns offsets by
 *   rewriting baseOffset and partitionLeaderEpoch in place (both are outside the CRC), rolls the active segment
 *   when needed, and writes each batch with one synchronous positional write to the page cache.
 * - `read` is async and returns whole stored batches as one Buffer, never past `maxOffset` (the high watermark).
 * - fsync happens on roll (in the background), on `flush()`, on close, and after appends when `flush.messages`
 *   says so: concurrent flush requests share one run (group commit).
 * - Opening after an unclean shutdown re-validates the segments after the recovery point and truncates at the
 *   first torn or corrupt batch. After a clean shutdown with the log end offset known from the recovery-point
 *   checkpoint, opening reads no segment at all (a directory listing and a stat per segment); the active
 *   segment's indexes, the producer state and the first batch's timestamp are loaded by the first write
 *   (synchronously: they are small after a clean shutdown) or the first read (asynchronously). Descriptors come
 *   from the log's descriptor cache (fd-cache.ts).
 * - Storage failures (Kafka's maybeHandleIOException): an I/O error in any read, write or fsync takes the log
 *   offline at once: its files are closed without further writes, reads and appends answer KAFKA_STORAGE_ERROR,
 *   and `onStorageFailure` tells the LogManager, which takes the whole log dir offline (docs/storage.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import {
  RECORD_BATCH_OVERHEAD,
  batchBaseOffset,
  batchLastOffset,
  batchLastOffsetDelta,
  batchMaxTimestamp,
  batchSize,
  ATTRIBUTES,
  MAX_TIMESTAMP,
  PARTITION_LEADER_EPOCH,
  TIMESTAMP_TYPE_MASK,
  setBatchBaseOffset,
  setBatchPartitionLeaderEpoch,
} from '../protocol/record-batch-header.js';
import { checkBatchStructure, setBatchCrc } from '../protocol/records.js';
import { LeaderEpochCache } from './leader-epoch-cache.js';
import { completeCleanerSwaps } from './cleaner/swap.js';
import { logConfig, type LogConfig } from './log-config.js';
import {
  INDEX_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  LogSegment,
  TIME_INDEX_FILE_SUFFIX,
  offsetFromFileName,
} from './log-segment.js';
import type { TimestampOffset } from './time-index.js';
import { ProducerStateManager, type AppendOrigin, type BatchMetadata, type CompletedTxn } from './producer-state.js';
import { TXN_INDEX_FILE_SUFFIX, type AbortedTxn } from './transaction-index.js';
import { KafkaStorageException, isStorageIoError } from './storage-error.js';
import { FileDescriptorsExhaustedError, isDescriptorExhaustion, sharedFdCache, type FileDescriptorCache } from './fd-cache.js';

const INT32_MAX = 0x7fffffff;
const EMPTY = Buffer.alloc(0);

/** ListOffsets special timestamps. */
export const LATEST_TIMESTAMP = -1;
export const EARLIEST_TIMESTAMP = -2;

export interface LogOptions {
  /** Overrides of the defaults (DEFAULT_LOG_CONFIG). */
  config?: Partial<LogConfig>;
  /** Offset up to which the log is known flushed (recovery-point-offset-checkpoint). Default 0. */
  recoveryPoint?: number;
  /** From log-start-offset-checkpoint. Default 0 (then the first segment's base offset). */
  logStartOffset?: number;
  /** True when the log dir had the clean-shutdown marker: skip re-validation. Default false. */
  hadCleanShutdown?: boolean;
  /**
   * With hadCleanShutdown: the log end offset at that shutdown (the recovery-point checkpoint, which a clean
   * close writes at the log end). When it agrees with the segments the log opens lazily, reading no segment.
   */
  logEndOffset?: number;
  /** Where the log's descriptors come from (default: the process's shared cache). */
  fdCache?: FileDescriptorCache;
  /** Called after every append (the fetch purgatory's wake-up). Must not throw. */
  onAppend?: () => void;
  /** Clock, for tests of segment.ms. Default Date.now. */
  time?: () => number;
  topicId?: Buffer;
}

export interface LogAppendInfo {
  /** Offset assigned to the first record (-1 when the buffer held no batch). */
  baseOffset: number;
  lastOffset: number;
  /** The broker time stamped on the batches (message.timestamp.type=LogAppendTime), else -1. */
  logAppendTime: number;
  logStartOffset: number;
  /** Largest batch maxTimestamp among the appended batches (-1 if none). */
  maxTimestamp: number;
  /** Bytes written. */
  validBytes: number;
  /** Present when flush.messages triggered an fsync covering this append; resolves once it is durable. */
  flushed?: Promise<void>;
}

export interface LogReadInfo {
  /** Whole batches, possibly empty; never includes a batch whose last offset is >= the read's maxOffset. */
  records: Buffer;
  logStartOffset: number;
  logEndOffset: number;
}

/** `<topic>-<partition>`: the directory name of a partition log. */
export function topicPartitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Parses `<topic>-<partition>` by the last dash (topic names may contain dashes); null when it does not parse. */
export function parseTopicPartitionDirName(name: string): { topic: string; partition: number } | null {
  const dash = name.lastIndexOf('-');
  if (dash <= 0) return null;
  const p = name.slice(dash + 1);
  if (!/^\d+$/.test(p)) return null;
  const partition = Number(p);
  if (!Number.isSafeInteger(partition) || partition > INT32_MAX) return null;
  return { topic: name.slice(0, dash), partition };
}

const STRAY_SUFFIXES = ['.tmp', '.deleted', '.cleaned', '.swap'];

export class Log {
  readonly topic: string;
  readonly partition: number;
  topicId: Buffer | undefined;
  /** Called after every append; the broker's fetch purgatory hooks in here. */
  onAppend: (() => void) | undefined;
  /** Called after each flush that fsynced something, with its duration in ms (Kafka's LogFlushStats). Must not throw. */
  onFlush: ((ms: number) => void) | undefined;
  /** Called when the log start offset moves (retention, DeleteRecords); the LogManager checkpoints it. Must not throw. */
  onLogStartOffsetChange: (() => void) | undefined;
  /**
   * Called once, when an I/O error takes this log offline (`what` failed with `cause`); the LogManager then takes
   * the whole log dir offline and logs it. Must not throw.
   */
  onStorageFailure: ((what: string, cause: NodeJS.ErrnoException) => void) | undefined;
  /**
   * Called when background work on this log (the fsync after a roll, a checkpoint) fails with an error that is
   * not an I/O error, i.e. a bug. The LogManager logs it; a Log on its own writes it to stderr. Must not throw.
   */
  onBackgroundError: ((what: string, err: unknown) => void) | undefined;
  /** Called with what deserves a warning but is handled (a log end that disagreed with its checkpoint). Must not throw. */
  onWarning: ((msg: string) => void) | undefined;

  private cfg: LogConfig;
  private segs: LogSegment[];
  private nextOffset: number;
  private startOffset: number;
  private recoveryPointOffset: number;
  private readonly time: () => number;
  private closed = false;
  /** Set (to the I/O error) when the log went offline; it stays offline until the broker restarts. */
  private failure: Error | null = null;
  /** Closed because it is being deleted or abandoned: failures writing its files no longer matter. */
  private discarded = false;
  private truncating = false;
  private activeFlush: Promise<void> | null = null;
  private queuedFlush: Promise<void> | null = null;
  /** When the last flush started (flush.ms counts from here). */
  private lastFlushTime: number;
  /** leader-epoch-checkpoint (src/log/leader-epoch-cache.ts). */
  readonly leaderEpochCache: LeaderEpochCache;
  /** Idempotent-producer state (src/log/producer-state.ts): checked on leader appends, updated by every write. */
  private readonly producers: ProducerStateManager;
  /**
   * False while the log is as a lazy open left it: producer state not loaded, the active segment's indexes and
   * log end not checked. The first write loads them (`prepareForWrites`).
   */
  private writesPrepared: boolean;
  /**
   * Whether the producer state is loaded. A lazy open leaves it out too; it loads on its own when first needed
   * without a write (the last stable offset of a read_committed fetch, DescribeProducers): after a clean shutdown
   * that is the snapshot the clean close wrote at the log end, no segment read.
   */
  private producersLoaded: boolean;
  readonly fdCache: FileDescriptorCache;
  /** The log dir holding this log. */
  readonly parentDir: string;

  private constructor(
    readonly dir: string,
    config: LogConfig,
    segs: LogSegment[],
    nextOffset: number,
    logStartOffset: number,
    recoveryPoint: number,
    options: LogOptions,
    epochCache: LeaderEpochCache,
    writesPrepared: boolean,
  ) {
    const tp = parseTopicPartitionDirName(path.basename(dir));
    if (tp === null) throw new Error(`not a partition log directory name: ${dir}`);
    this.topic = tp.topic;
    this.partition = tp.partition;
    this.parentDir = path.dirname(dir);
    this.cfg = config;
    this.segs = segs;
    this.nextOffset = nextOffset;
    this.startOffset = logStartOffset;
    this.recoveryPointOffset = recoveryPoint;
    this.time = options.time ?? Date.now;
    this.lastFlushTime = this.time();
    this.leaderEpochCache = epochCache;
    this.onAppend = options.onAppend;
    this.topicId = options.topicId;
    this.fdCache = options.fdCache ?? sharedFdCache();
    this.producers = new ProducerStateManager(dir, this.fdCache);
    this.writesPrepared = writesPrepared;
    this.producersLoaded = writesPrepared;
    // The epoch checkpoint is rewritten in the background; a failed write is a storage failure like any other.
    epochCache.onWriteError = (e) => this.reportBackgroundError('writing leader-epoch-checkpoint', e);
  }

  /**
   * Opens (creating if needed) the partition log in `dir`, recovering it when the shutdown was not clean, and
   * lazily (no segment read) after a clean one when `logEndOffset` is known.
   */
  static async open(dir: string, options: LogOptions = {}): Promise<Log> {
    if (parseTopicPartitionDirName(path.basename(dir)) === null) {
      throw new Error(`not a partition log directory name: ${dir}`);
    }
    const config = logConfig(options.config);
    const now = (options.time ?? Date.now)();
    const cache = options.fdCache ?? sharedFdCache();
    let names = await listPartitionDir(dir, cache);
    // a cleaner swap cut short by a crash (src/log/cleaner/swap.ts)
    if (await completeCleanerSwaps(dir, names, cache)) names = await listPartitionDir(dir, cache);
    const logBases = new Set<number>();
    for (const name of names) {
      if (STRAY_SUFFIXES.some((s) => name.endsWith(s))) {
        await fs.promises.rm(path.join(dir, name), { force: true, recursive: true });
        continue;
      }
      const base = offsetFromFileName(name);
      if (base !== null && name.endsWith(LOG_FILE_SUFFIX)) logBases.add(base);
    }
    for (const name of names) {
      const base = offsetFromFileName(name);
      if (base === null || logBases.has(base)) continue;
      if (name.endsWith(INDEX_FILE_SUFFIX) || name.endsWith(TIME_INDEX_FILE_SUFFIX) || name.endsWith(TXN_INDEX_FILE_SUFFIX)) {
        await fs.promises.rm(path.join(dir, name), { force: true }); // an index without its log
      }
    }
    const bases = [...logBases].sort((a, b) => a - b);
    const segs: LogSegment[] = [];
    try {
      for (const base of bases) segs.push(await LogSegment.open(dir, base, config, now, cache));
      let nextOffset: number;
      let lazy = false;
      let firstRecovered = Number.POSITIVE_INFINITY;
      if (segs.length === 0) {
        const base = options.logStartOffset ?? 0;
        segs.push(LogSegment.create(dir, base, config, now, cache));
        nextOffset = base;
      } else if (options.hadCleanShutdown === true && options.logEndOffset !== undefined && lazyOpenPossible(segs, options.logEndOffset)) {
        nextOffset = options.logEndOffset;
        lazy = true;
      } else {
        ({ nextOffset, firstRecovered } = await Log.loadSegments(segs, options));
      }
      const logStartOffset = Math.min(Math.max(options.logStartOffset ?? 0, segs[0]!.baseOffset), nextOffset);
      const epochCache = await LeaderEpochCache.load(dir, cache);
      // As Kafka's LogLoader: after a clean shutdown everything is flushed (the recovery point is the log end);
      // after recovery the recovered data is not fsynced here, so the recovery point stays where the checkpoint
      // had it (the next unclean start validates that part again) until the next flush moves it.
      const recoveryPoint = options.hadCleanShutdown === true ? nextOffset : Math.min(options.recoveryPoint ?? 0, nextOffset);
      const log = new Log(dir, config, segs, nextOffset, logStartOffset, recoveryPoint, options, epochCache, !lazy);
      if (!lazy) await log.rebuildProducerState(firstRecovered);
      await log.completeLeaderEpochCache(options.hadCleanShutdown !== true);
      return log;
    } catch (e) {
      for (const s of segs) s.closeHandlers();
      throw e;
    }
  }

  /**
   * Loads what a lazy open left out, before the first write: the active segment's indexes (and its log end,
   * checked against the checkpoint's), the first batch's timestamp (segment.ms) and the producer state. All
   * synchronous, since appends are: after a clean shutdown these are small reads (a snapshot at the log end
   * exists, so no batch is replayed).
   */
  private prepareForWrites(): void {
    if (this.writesPrepared) return;
    const active = this.activeSegment;
    const found = active.readNextOffsetSync();
    if (found.problem !== null || found.nextOffset !== this.nextOffset) {
      (this.onWarning ?? defaultWarning)(
        `${this.topic}-${this.partition} in dir ${this.parentDir}: the active segment ends at offset ${found.nextOffset}` +
          `${found.problem !== null ? ` (${found.problem}; cut there)` : ''}, the recovery-point checkpoint said ${this.nextOffset}; using ${found.nextOffset}`,
      );
      this.nextOffset = found.nextOffset;
      this.recoveryPointOffset = Math.min(this.recoveryPointOffset, this.nextOffset);
      this.startOffset = Math.min(this.startOffset, this.nextOffset);
      this.producersLoaded = false; // loaded (if it was) for another log end
    }
    active.loadFirstBatchTimestampSync();
    this.loadProducers();
    this.writesPrepared = true;
  }

  /**
   * Loads the producer state a lazy open left out (synchronously): the newest snapshot at or below the log end and
   * the batch headers after it; after a clean shutdown the snapshot is at the log end and nothing is replayed.
   */
  private loadProducers(): void {
    if (this.producersLoaded) return;
    this.producers.rebuildSync(this.startOffset, this.nextOffset, (from, apply) => {
      for (let i = Math.max(0, floorIndex(this.segs, from)); i < this.segs.length; i++) this.segs[i]!.forEachBatchHeaderSync(from, apply);
    });
    this.producersLoaded = true;
  }

  /** Producer state (src/log/producer-state.ts): checked on leader appends, updated by every write; loaded on first use. */
  get producerState(): ProducerStateManager {
    if (!this.producersLoaded) {
      try {
        this.loadProducers();
      } catch (e) {
        throw this.handleIoError(e, 'loading the producer state');
      }
    }
    return this.producers;
  }

  /**
   * Makes the leader epoch cache agree with the log: drops epochs at or after the log end and below the log
   * start and, after an unclean shutdown (or with no cache), adds the epochs of batches newer than its latest
   * epoch, each found by a binary search over batch headers (epochs never decrease along the log).
   */
  private async completeLeaderEpochCache(searchLog: boolean): Promise<void> {
    const cache = this.leaderEpochCache;
    cache.truncateFromEnd(this.nextOffset);
    cache.truncateFromStart(this.startOffset);
    if (this.nextOffset <= this.startOffset || (!searchLog && cache.latestEpoch >= 0)) return;
    const batchAt = async (offset: number): Promise<{ base: number; last: number; epoch: number } | null> => {
      const r = (await this.read(offset, 1)).records;
      if (r.length < RECORD_BATCH_OVERHEAD) return null;
      return { base: batchBaseOffset(r, 0), last: batchLastOffset(r, 0), epoch: r.readInt32BE(PARTITION_LEADER_EPOCH) };
    };
    const newest = await batchAt(this.nextOffset - 1);
    if (newest === null) return;
    while (newest.epoch > cache.latestEpoch) {
      const latest = cache.latestEpoch;
      const entries = cache.epochEntries;
      let lo = Math.max(this.startOffset, entries.length > 0 ? entries[entries.length - 1]!.startOffset : 0);
      let hi = this.nextOffset - 1;
      let found = newest;
      while (lo <= hi) {
        const b = await batchAt(lo + Math.floor((hi - lo) / 2));
        if (b === null) break;
        if (b.epoch > latest) {
          if (b.base < found.base) found = b;
          hi = b.base - 1;
        } else {
          lo = b.last + 1;
        }
      }
      if (!cache.assign(found.epoch, found.base)) break;
    }
  }

  /**
   * Recovery (unclean) or tail read (clean); returns the log end offset and the base offset of the first segment it
   * re-validated (+Infinity when none), whose transaction indexes are then rebuilt. May drop segments from `segs`.
   */
  private static async loadSegments(segs: LogSegment[], options: LogOptions): Promise<{ nextOffset: number; firstRecovered: number }> {
    const recovered = new Set<LogSegment>();
    let activeNext: number | null = null;
    if (options.hadCleanShutdown !== true) {
      const recoveryPoint = options.recoveryPoint ?? 0;
      let i = Math.max(0, floorIndex(segs, recoveryPoint));
      for (; i < segs.length; i++) {
        const seg = segs[i]!;
        const r = await seg.recover();
        recovered.add(seg);
        if (r.truncatedBytes > 0 || i === segs.length - 1) {
          // everything after a torn or corrupt batch is unreliable: drop the later segments
          for (const later of segs.splice(i + 1)) later.deleteFiles();
          activeNext = r.nextOffset;
          break;
        }
      }
    }
    // (a segment whose index is missing or corrupt rebuilds it when the index is first used: LogSegment.ensureIndexes)
    const active = segs[segs.length - 1]!;
    if (activeNext === null || !recovered.has(active)) {
      const r = await active.readNextOffset();
      if (r.problem === null) {
        activeNext = r.nextOffset;
      } else {
        activeNext = (await active.recover()).nextOffset;
        recovered.add(active);
      }
    }
    await active.loadFirstBatchTimestamp();
    // the transaction indexes of the re-validated segments are rebuilt from their markers (rebuildProducerState)
    let firstRecovered = Number.POSITIVE_INFINITY;
    for (const seg of recovered) if (segs.includes(seg) && seg.baseOffset < firstRecovered) firstRecovered = seg.baseOffset;
    return { nextOffset: activeNext, firstRecovered };
  }

  // ---------------------------------------------------------------------------------------------
  // State

  get config(): LogConfig {
    return this.cfg;
  }
  updateConfig(overrides: Partial<LogConfig>): void {
    this.cfg = logConfig({ ...this.cfg, ...overrides });
    for (const s of this.segs) s.updateConfig(this.cfg);
  }
  get logStartOffset(): number {
    return this.startOffset;
  }
  get logEndOffset(): number {
    return this.nextOffset;
  }
  /** Offset up to which everything is fsynced. */
  get recoveryPoint(): number {
    return this.recoveryPointOffset;
  }
  /** Total bytes of all segments. */
  get size(): number {
    let n = 0;
    for (const s of this.segs) n += s.size;
    return n;
  }
  get segments(): readonly LogSegment[] {
    return this.segs;
  }
  get activeSegment(): LogSegment {
    return this.segs[this.segs.length - 1]!;
  }
  get isClosed(): boolean {
    return this.closed;
  }
  /** True once an I/O error (here or elsewhere in its log dir) took this log offline. */
  get isOffline(): boolean {
    return this.failure !== null;
  }
  /** The I/O error that took this log offline, or null while it is online. */
  get failureCause(): Error | null {
    return this.failure;
  }

  // ---------------------------------------------------------------------------------------------
  // Storage failures

  /**
   * Kafka's maybeHandleIOException: an I/O error takes this log offline (closed without further writes; reads
   * and appends answer KAFKA_STORAGE_ERROR) and is reported once through onStorageFailure. Returns what the
   * caller throws: a KafkaStorageException for an I/O error, any other error unchanged.
   */
  handleIoError(e: unknown, what: string): unknown {
    // Out of descriptors is not a broken disk: the request fails with a retriable error and nothing goes offline.
    if (isDescriptorExhaustion(e)) {
      return new FileDescriptorsExhaustedError(`Out of file descriptors while ${what} for ${this.topic}-${this.partition}: ${(e as Error).message}`, e);
    }
    if (!isStorageIoError(e)) return e;
    const error = new KafkaStorageException(
      `Error while ${what} for ${this.topic}-${this.partition} in dir ${this.parentDir}: ${e.message}`,
      e,
    );
    // A log being deleted (or abandoned) has nothing left to protect: its files are going away.
    if (this.discarded) return error;
    if (this.failure === null) {
      this.goOffline(e);
      this.onStorageFailure?.(what, e);
    }
    return error;
  }

  /**
   * Takes the log offline because its log dir failed (the LogManager calls this for every log in the dir):
   * the files are closed without further writes, once in-flight reads finish.
   */
  goOffline(cause: Error): void {
    if (this.failure !== null) return;
    this.failure = cause;
    this.closed = true;
    for (const s of this.segs) s.closeHandlers();
  }

  /**
   * Reports a failure of work on this log that nobody awaits (a background fsync, a checkpoint, a delayed file
   * removal): I/O errors go through handleIoError, anything else to onBackgroundError. Never throws.
   */
  reportBackgroundError(what: string, e: unknown): void {
    const err = this.handleIoError(e, what);
    if (err instanceof KafkaStorageException) return; // reported once, by the log dir failure path
    // the descriptor cache logged it (rate-limited); the work runs again at its next interval
    if (err instanceof FileDescriptorsExhaustedError) return;
    const report = this.onBackgroundError ?? defaultBackgroundError;
    report(`${what} for ${this.topic}-${this.partition} in dir ${this.parentDir}`, err);
  }

  private offlineError(): KafkaStorageException {
    return new KafkaStorageException(
      `log ${this.topic}-${this.partition} in dir ${this.parentDir} is offline after a storage failure: ${this.failure?.message}`,
      this.failure,
    );
  }

  /** Moves the log start offset forward (DeleteRecords); never past the log end offset. */
  maybeIncrementLogStartOffset(offset: number): boolean {
    if (offset <= this.startOffset || offset > this.nextOffset) return false;
    this.startOffset = offset;
    this.leaderEpochCache.truncateFromStart(offset);
    this.onLogStartOffsetChange?.();
    return true;
  }

  /**
   * Retention (src/log/retention.ts): takes the oldest segments off the log while `predicate(segment, next)`
   * holds, never the active segment, and moves the log start offset to the first remaining segment's base
   * offset. Returns the removed segments, still open: the caller renames them `.deleted`, closes them (after
   * in-flight reads) and removes their files later.
   */
  removeOldestSegments(predicate: (segment: LogSegment, next: LogSegment) => boolean): LogSegment[] {
    if (this.closed || this.truncating) return [];
    const removed: LogSegment[] = [];
    while (this.segs.length > 1 && predicate(this.segs[0]!, this.segs[1]!)) removed.push(this.segs.shift()!);
    if (removed.length > 0) {
      const first = this.segs[0]!.baseOffset;
      if (this.recoveryPointOffset < first) this.recoveryPointOffset = first;
      if (this.startOffset < first) this.startOffset = first;
      this.leaderEpochCache.truncateFromStart(this.startOffset);
      this.onLogStartOffsetChange?.();
    }
    return removed;
  }

  /**
   * The log cleaner's swap (src/log/log-cleaner.ts): when `oldSegs` are still consecutive non-active segments
   * of this open log, calls `swapIn` (which renames files and opens the cleaned segment covering their offsets)
   * and puts its segment in their place, all synchronously. Returns false, without calling `swapIn`, otherwise.
   */
  replaceSegments(oldSegs: readonly LogSegment[], swapIn: () => LogSegment): boolean {
    if (this.closed || this.truncating || oldSegs.length === 0) return false;
    const at = this.segs.indexOf(oldSegs[0]!);
    if (at < 0 || at + oldSegs.length >= this.segs.length) return false;
    for (let i = 0; i < oldSegs.length; i++) if (this.segs[at + i] !== oldSegs[i]) return false;
    this.segs.splice(at, oldSegs.length, swapIn());
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Append

  private checkWritable(): void {
    if (this.failure !== null) throw this.offlineError();
    if (this.closed) throw new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `log ${this.dir} is closed`);
    if (this.truncating) throw new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `log ${this.dir} is being truncated`);
  }

  /** Checks every batch in records; returns the number of batches. Throws KafkaError. */
  private validate(records: Buffer, asFollower: boolean): number {
    const len = records.length;
    let pos = 0;
    let count = 0;
    let expected = this.nextOffset;
    while (pos < len) {
      if (len - pos < RECORD_BATCH_OVERHEAD) {
        throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `${len - pos} trailing bytes, below the batch header size`);
      }
      const size = batchSize(records, pos);
      if (!asFollower && size > this.cfg.maxMessageBytes) {
        throw new KafkaError(
          ErrorCode.MESSAGE_TOO_LARGE,
          `batch of ${size} bytes exceeds max.message.bytes ${this.cfg.maxMessageBytes}`,
        );
      }
      const problem = checkBatchStructure(records, pos, len);
      if (problem !== null) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, problem);
      if (asFollower) {
        const base = batchBaseOffset(records, pos);
        if (base < expected) {
          throw new KafkaError(
            ErrorCode.UNKNOWN_SERVER_ERROR,
            `unexpected append offset ${base}: expected at least ${expected} in ${this.dir}`,
          );
        }
        expected = batchLastOffset(records, pos) + 1;
      }
      pos += size;
      count++;
    }
    return count;
  }

  /**
   * Appends the batches in `records` as leader: assigns offsets from the log end offset by rewriting each
   * batch's baseOffset in place (and sets partitionLeaderEpoch), then writes them unchanged.
   * `alreadyValidated`: the caller has checked every batch's structure, CRC and size.
   */
  append(records: Buffer, leaderEpoch = 0, alreadyValidated = false, origin: AppendOrigin = 'client'): LogAppendInfo {
    this.checkWritable();
    // The produce path has already checked sizes and CRCs (validateProducedBatch); checking the
    // CRC a second time would double the CPU cost of every append.
    if (alreadyValidated ? records.length === 0 : this.validate(records, false) === 0) return this.emptyAppendInfo();
    try {
      this.prepareForWrites();
      return this.appendValidated(records, leaderEpoch, origin);
    } catch (e) {
      throw this.handleIoError(e, 'appending to the log');
    }
  }

  private appendValidated(records: Buffer, leaderEpoch: number, origin: AppendOrigin): LogAppendInfo {
    // idempotent producers: a retried batch is not written again but answered with its original offsets
    const duplicate = this.producers.checkAppend(records, origin);
    if (duplicate !== null) return this.duplicateAppendInfo(duplicate);
    let next = this.nextOffset;
    const appendTime = this.cfg.messageTimestampType === 'LogAppendTime' ? this.time() : -1;
    for (let pos = 0; pos < records.length; pos += batchSize(records, pos)) {
      setBatchBaseOffset(records, next, pos);
      setBatchPartitionLeaderEpoch(records, leaderEpoch, pos);
      if (appendTime >= 0) {
        // LogAppendTime (as Kafka's LogValidator for v2): timestamp type bit and max timestamp, then a new CRC
        records.writeInt16BE(records.readInt16BE(pos + ATTRIBUTES) | TIMESTAMP_TYPE_MASK, pos + ATTRIBUTES);
        records.writeBigInt64BE(BigInt(appendTime), pos + MAX_TIMESTAMP);
        setBatchCrc(records, pos);
      }
      next += batchLastOffsetDelta(records, pos) + 1;
    }
    const info = this.writeBatches(records);
    if (appendTime >= 0) info.logAppendTime = appendTime;
    return info;
  }

  /** Appends batches that already carry their offsets (replication): offsets must not go below the log end. */
  appendAsFollower(records: Buffer): LogAppendInfo {
    this.checkWritable();
    try {
      this.prepareForWrites(); // the log end is what the offsets are checked against
    } catch (e) {
      throw this.handleIoError(e, 'appending to the log as follower');
    }
    if (this.validate(records, true) === 0) return this.emptyAppendInfo();
    try {
      return this.writeBatches(records);
    } catch (e) {
      throw this.handleIoError(e, 'appending to the log as follower');
    }
  }

  /** A retried batch of an idempotent producer: nothing written, the original offsets answered. */
  private duplicateAppendInfo(batch: BatchMetadata): LogAppendInfo {
    return {
      baseOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      logAppendTime: -1,
      logStartOffset: this.startOffset,
      maxTimestamp: batch.timestamp,
      validBytes: 0,
    };
  }

  /**
   * Rebuilds the producer state from the newest snapshot at or below the log end and the batches after it. The
   * `.txnindex` of every segment from `rebuildTxnIndexFrom` on is rebuilt on the way (recovery, as Kafka's
   * recoverSegment): the replay starts from a snapshot at or below that offset, so that it sees every marker there.
   */
  private async rebuildProducerState(rebuildTxnIndexFrom = Number.POSITIVE_INFINITY): Promise<void> {
    const rebuilding = this.segs.filter((s) => s.baseOffset >= rebuildTxnIndexFrom);
    for (const s of rebuilding) s.txnIndex.reset();
    await this.producers.rebuild(
      this.startOffset,
      this.nextOffset,
      async (offset) => (await this.read(offset, 1 << 20)).records,
      Math.min(rebuildTxnIndexFrom, this.nextOffset),
      rebuilding.length === 0
        ? undefined
        : (txn) => {
            if (txn.isAborted && txn.lastOffset >= rebuildTxnIndexFrom) this.indexAbortedTxn(this.segs[floorIndex(this.segs, txn.lastOffset)]!, txn);
          },
    );
    this.producersLoaded = true;
    this.writesPrepared = true;
  }

  private indexAbortedTxn(seg: LogSegment, txn: CompletedTxn): void {
    seg.txnIndex.append({ producerId: txn.producerId, firstOffset: txn.firstOffset, lastOffset: txn.lastOffset, lastStableOffset: txn.lastStableOffset });
  }

  // ---------------------------------------------------------------------------------------------
  // Transactions

  /** The first offset not yet stable (an open transaction, or one whose marker is above the high watermark); -1: none. */
  get firstUnstableOffset(): number {
    return this.producerState.firstUnstableOffset;
  }

  /** The partition's high watermark moved (leader or follower): completed transactions below it become stable. */
  onHighWatermarkUpdated(highWatermark: number): void {
    // A producer state not loaded yet has nothing waiting for the high watermark (a load starts with nothing
    // unreplicated, as Kafka's), so an idle log opened lazily stays unread.
    if (this.producersLoaded) this.producers.onHighWatermarkUpdated(highWatermark);
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset) (Kafka's collectAbortedTransactions): the
   * `.txnindex` entries of the segment holding fetchOffset and of the later ones, until an entry's last stable offset
   * reaches the upper bound (no later entry can overlap then).
   */
  collectAbortedTransactions(fetchOffset: number, upperBoundOffset: number): AbortedTxn[] {
    if (this.failure !== null) throw this.offlineError();
    const out: AbortedTxn[] = [];
    try {
      for (let i = Math.max(0, floorIndex(this.segs, fetchOffset)); i < this.segs.length; i++) {
        const seg = this.segs[i]!;
        if (seg.isClosed) continue;
        const r = seg.txnIndex.collect(fetchOffset, upperBoundOffset);
        for (const t of r.found) out.push(t);
        if (r.complete) break;
      }
    } catch (e) {
      throw this.handleIoError(e, `reading the transaction index at offset ${fetchOffset}`);
    }
    return out;
  }

  /**
   * producer.id.expiration.ms: forgets producers idle that long without an open transaction. A log whose producer
   * state is not loaded yet (opened lazily, untouched since) is left alone: its producers expire in the first pass
   * after it is used.
   */
  removeExpiredProducers(now: number, expirationMs: number): number {
    if (!this.producersLoaded) return 0;
    return this.producers.removeExpiredProducers(now, expirationMs);
  }

  /**
   * Writes a producer snapshot at the log end offset (on roll and clean close). A failed write is an I/O error of
   * the log dir like any other (Kafka's roll runs it under maybeHandleIOException): the caller's handler takes
   * the log offline.
   */
  private snapshotProducerState(sync: boolean): void {
    // A log not written since a lazy open still has the snapshot its last clean close wrote.
    if (this.producersLoaded) this.producers.takeSnapshot(sync, this.segs[0]!.baseOffset);
  }

  private emptyAppendInfo(): LogAppendInfo {
    return { baseOffset: -1, lastOffset: -1, logAppendTime: -1, logStartOffset: this.startOffset, maxTimestamp: -1, validBytes: 0 };
  }

  private writeBatches(records: Buffer): LogAppendInfo {
    const baseOffset = batchBaseOffset(records, 0);
    let lastOffset = -1;
    let maxTimestamp = -1;
    let pos = 0;
    while (pos < records.length) {
      const size = batchSize(records, pos);
      const last = batchLastOffset(records, pos);
      const ts = batchMaxTimestamp(records, pos);
      const base = batchBaseOffset(records, pos);
      const seg = this.maybeRoll(size, ts, base, last);
      // nothing changes in memory before the batch is in the file (LogSegment.append is all or nothing)
      seg.append(records, pos, size);
      this.leaderEpochCache.assign(records.readInt32BE(pos + PARTITION_LEADER_EPOCH), base);
      const completed = this.producers.applyBatch(records, pos);
      if (completed !== null && completed.isAborted) this.indexAbortedTxn(seg, completed);
      this.nextOffset = last + 1;
      lastOffset = last;
      if (ts > maxTimestamp) maxTimestamp = ts;
      pos += size;
    }
    const info: LogAppendInfo = {
      baseOffset,
      lastOffset,
      logAppendTime: -1,
      logStartOffset: this.startOffset,
      maxTimestamp,
      validBytes: pos,
    };
    const flushMessages = this.cfg.flushMessages;
    if (flushMessages !== undefined && this.nextOffset - this.recoveryPointOffset >= flushMessages) {
      const flushed = this.flush();
      // The produce waiting on it answers with its error; this handler makes sure a flush nobody awaits cannot
      // fail unseen (storage failures are reported by the log dir failure path, anything else is logged).
      flushed.catch((e: unknown) => this.reportBackgroundError('flushing after an append (flush.messages)', e));
      info.flushed = flushed;
    }
    this.onAppend?.();
    return info;
  }

  /** Rolls the active segment if this batch should go to a new one (Kafka's shouldRoll); returns the segment to append to. */
  private maybeRoll(size: number, maxTimestamp: number, baseOffset: number, lastOffset: number): LogSegment {
    const seg = this.activeSegment;
    const cfg = this.cfg;
    const fits = seg.canConvertToRelativeOffset(lastOffset) && baseOffset >= seg.baseOffset;
    if (seg.size === 0) {
      if (fits) return seg;
      // an empty segment whose base offset cannot hold this batch (follower after a gap): replace it
      this.segs.pop();
      seg.deleteFiles();
      const replacement = LogSegment.create(this.dir, Math.max(this.nextOffset, lastOffset - INT32_MAX), cfg, this.time(), this.fdCache);
      this.segs.push(replacement);
      return replacement;
    }
    const now = this.time();
    if (
      seg.size > cfg.segmentBytes - size ||
      seg.timeWaitedForRoll(now, maxTimestamp) > cfg.segmentMs ||
      seg.offsetIndex.isFull ||
      seg.timeIndex.isFull ||
      !fits
    ) {
      return this.rollTo(Math.max(this.nextOffset, lastOffset - INT32_MAX));
    }
    return seg;
  }

  /** Starts a new active segment at the log end offset (no-op when the active segment is empty). */
  roll(): LogSegment {
    this.checkWritable();
    try {
      this.prepareForWrites();
      return this.rollTo(this.nextOffset);
    } catch (e) {
      throw this.handleIoError(e, 'rolling a new segment');
    }
  }

  private rollTo(baseOffset: number): LogSegment {
    const old = this.activeSegment;
    if (old.size === 0 && old.baseOffset === baseOffset) return old;
    this.snapshotProducerState(false);
    old.onBecomeInactiveSegment();
    const seg = LogSegment.create(this.dir, baseOffset, this.cfg, this.time(), this.fdCache);
    this.segs.push(seg);
    // fsync the finished segment in the background (Kafka schedules the same flush on roll)
    this.flush().catch((e: unknown) => this.reportBackgroundError(`flushing segments up to offset ${baseOffset} after a roll`, e));
    return seg;
  }

  // ---------------------------------------------------------------------------------------------
  // Read

  /**
   * Reads whole batches starting with the batch that contains `offset`, up to maxBytes (but at least one whole
   * batch when minOneBatch, KIP-74), never including a batch whose last offset is >= maxOffset (the high
   * watermark for consumers, the log end offset for followers). Throws OFFSET_OUT_OF_RANGE outside
   * [logStartOffset, logEndOffset]. `pooled`: the records go into a Fetch response and nowhere else (their buffer
   * is borrowed from the Fetch read pool, given back by the connection once written: read-buffer-pool.ts).
   */
  async read(offset: number, maxBytes: number, maxOffset: number = this.nextOffset, minOneBatch = true, pooled = false): Promise<LogReadInfo> {
    if (this.failure !== null) throw this.offlineError();
    if (this.closed) throw new KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `log ${this.dir} is closed`);
    const logEndOffset = this.nextOffset;
    const logStartOffset = this.startOffset;
    if (offset < logStartOffset || offset > logEndOffset) {
      throw new KafkaError(
        ErrorCode.OFFSET_OUT_OF_RANGE,
        `offset ${offset} is out of range [${logStartOffset}, ${logEndOffset}] for ${this.topic}-${this.partition}`,
      );
    }
    const upTo = Math.min(maxOffset, logEndOffset);
    const result = (records: Buffer): LogReadInfo => ({ records, logStartOffset, logEndOffset });
    if (offset >= upTo) return result(EMPTY);
    let i = Math.max(0, floorIndex(this.segs, offset));
    let seg = this.segs[i];
    try {
      while (seg !== undefined && seg.baseOffset < upTo) {
        if (!seg.isClosed) {
          const records = await seg.read(offset, maxBytes, { maxOffset: upTo, minOneBatch, pooled });
          if (records !== null) return result(records);
        }
        // nothing at or after offset in this segment: the next one (re-located, the list may have changed)
        i = floorIndex(this.segs, seg.baseOffset) + 1;
        seg = this.segs[i];
      }
    } catch (e) {
      throw this.handleIoError(e, `reading at offset ${offset}`);
    }
    return result(EMPTY);
  }

  /**
   * The first batch whose maxTimestamp is >= timestamp, as (its base offset, its maxTimestamp), searched with
   * the time indexes and batch headers; null when there is none (or it is at/after maxOffset).
   * -2 (earliest) gives the log start offset, -1 (latest) the log end offset (or maxOffset), timestamp -1.
   */
  async offsetForTimestamp(timestamp: number, maxOffset: number = this.nextOffset): Promise<TimestampOffset | null> {
    if (timestamp === EARLIEST_TIMESTAMP) return { offset: this.startOffset, timestamp: -1 };
    if (timestamp === LATEST_TIMESTAMP) return { offset: Math.min(maxOffset, this.nextOffset), timestamp: -1 };
    if (this.failure !== null) throw this.offlineError();
    try {
      for (const seg of this.segs.slice()) {
        if (seg.isClosed) continue;
        await seg.ensureIndexes();
        if (seg.maxTimestamp < timestamp) continue;
        const found = await seg.findOffsetByTimestamp(timestamp, this.startOffset);
        if (found !== null) return found.offset < maxOffset ? found : null;
      }
    } catch (e) {
      throw this.handleIoError(e, `searching the time index for ${timestamp}`);
    }
    return null;
  }

  /**
   * The batch with the largest maxTimestamp (ListOffsets MAX_TIMESTAMP, -3), as (its last offset, that
   * timestamp): Kafka's shallow offset of the max timestamp; null when no batch has a timestamp.
   */
  async maxTimestampOffset(): Promise<TimestampOffset | null> {
    if (this.failure !== null) throw this.offlineError();
    let best: TimestampOffset | null = null;
    try {
      for (const seg of this.segs.slice()) {
        if (seg.isClosed) continue;
        await seg.ensureIndexes();
        if (seg.maxTimestamp >= 0 && (best === null || seg.maxTimestamp > best.timestamp)) {
          best = { offset: seg.offsetOfMaxTimestamp, timestamp: seg.maxTimestamp };
        }
      }
    } catch (e) {
      throw this.handleIoError(e, 'loading the time indexes');
    }
    return best;
  }

  // ---------------------------------------------------------------------------------------------
  // Truncation (followers), flush, close

  /**
   * Removes every batch at or after `offset` (a batch containing it is removed whole). Appends must not run
   * concurrently (they are refused while it runs). Returns false when there was nothing to remove.
   */
  async truncateTo(offset: number): Promise<boolean> {
    if (offset < 0) throw new RangeError(`cannot truncate to negative offset ${offset}`);
    if (offset >= this.nextOffset) {
      // Nothing to cut, but an epoch entry at the log end goes, as in Kafka's UnifiedLog.truncateTo: a broker that
      // became leader (recording its epoch at its log end) and lost the leadership before appending anything has
      // an epoch the new leader never saw. Kept, the follower would send it as last_fetched_epoch for ever, and
      // every answer would be the same diverging epoch.
      if (!this.closed && this.failure === null) this.leaderEpochCache.truncateFromEnd(this.nextOffset);
      return false;
    }
    this.checkWritable();
    this.truncating = true;
    try {
      return await this.truncateToUnchecked(offset);
    } catch (e) {
      throw this.handleIoError(e, `truncating to offset ${offset}`);
    } finally {
      this.truncating = false;
    }
  }

  private async truncateToUnchecked(offset: number): Promise<boolean> {
    // a log opened lazily learns its real end first (a follower may truncate before it ever appends)
    this.prepareForWrites();
    if (offset >= this.nextOffset) return false;
    if (offset < this.segs[0]!.baseOffset) {
      this.resetTo(offset);
      return true;
    }
    while (this.segs.length > 1 && this.activeSegment.baseOffset > offset) {
      this.segs.pop()!.deleteFiles();
    }
    const cutBase = await this.activeSegment.truncateTo(offset, this.time());
    this.nextOffset = Math.min(offset, cutBase ?? offset);
    this.leaderEpochCache.truncateFromEnd(this.nextOffset);
    this.recoveryPointOffset = Math.min(this.recoveryPointOffset, this.nextOffset);
    this.startOffset = Math.min(this.startOffset, this.nextOffset);
    await this.rebuildProducerState();
    return true;
  }

  /** Deletes every segment and starts an empty log at `offset` (log start = log end = offset). */
  truncateFullyAndStartAt(offset: number): void {
    this.checkWritable();
    try {
      this.resetTo(offset);
    } catch (e) {
      throw this.handleIoError(e, `emptying the log to restart it at offset ${offset}`);
    }
  }

  private resetTo(offset: number): void {
    for (const s of this.segs) s.deleteFiles();
    this.segs = [LogSegment.create(this.dir, offset, this.cfg, this.time(), this.fdCache)];
    this.nextOffset = offset;
    this.startOffset = offset;
    this.recoveryPointOffset = offset;
    this.leaderEpochCache.clear();
    this.producers.reset(offset);
    this.producersLoaded = true;
    this.writesPrepared = true;
  }

  /**
   * fsyncs everything appended so far and moves the recovery point to the log end offset. Calls made while a
   * flush runs share the next run (group commit).
   *
   * A failed fsync is fatal for the log (and its dir): after it the page cache may have dropped the dirty pages
   * and a second fsync could "succeed" without them, so an offline log never flushes again and its recovery
   * point never moves; the flush rejects with KAFKA_STORAGE_ERROR.
   */
  flush(): Promise<void> {
    if (this.queuedFlush !== null) return this.queuedFlush;
    if (this.activeFlush === null) return this.startFlush();
    // The running flush's failure belongs to its own callers; the queued run starts afresh (and fails by
    // itself when that failure took the log offline).
    const queued = this.activeFlush
      .catch(() => undefined)
      .then(() => {
        this.queuedFlush = null;
        return this.startFlush();
      });
    this.queuedFlush = queued;
    return queued;
  }

  private startFlush(): Promise<void> {
    const target = this.nextOffset;
    this.lastFlushTime = this.time();
    const run = async (): Promise<void> => {
      if (this.failure !== null) throw this.offlineError();
      if (target <= this.recoveryPointOffset) return;
      const started = performance.now();
      const from = Math.max(0, floorIndex(this.segs, this.recoveryPointOffset));
      for (const seg of this.segs.slice(from)) {
        if (seg.baseOffset >= target && seg.size === 0) continue;
        await seg.flush();
      }
      // an epoch's entry is durable before any of its batches falls below the recovery point
      await this.leaderEpochCache.flushed();
      // a dir failure while this ran closed the segments, and a closed segment skips its fsync
      if (this.failure !== null) throw this.offlineError();
      if (target > this.recoveryPointOffset) this.recoveryPointOffset = target;
      this.onFlush?.(performance.now() - started);
    };
    const tracked: Promise<void> = run()
      .catch((e: unknown) => {
        throw this.handleIoError(e, 'flushing the log');
      })
      .finally(() => {
      if (this.activeFlush === tracked) this.activeFlush = null;
    });
    this.activeFlush = tracked;
    return tracked;
  }

  /** Messages appended but not yet fsynced (by offsets: log end offset - recovery point). */
  get unflushedMessages(): number {
    return Math.max(0, this.nextOffset - this.recoveryPointOffset);
  }

  /**
   * The flush scheduler's check (Kafka's LogManager.flushDirtyLogs): fsyncs in the background when `flush.ms`
   * is set, something is unflushed and the last flush started at least flush.ms ago. Returns the flush, or null.
   */
  flushIfDue(now: number = this.time()): Promise<void> | null {
    return this.isFlushDue(now) ? this.flush() : null;
  }

  /** Whether `flushIfDue` would flush now. */
  isFlushDue(now: number = this.time()): boolean {
    const flushMs = this.cfg.flushMs;
    if (this.closed || flushMs === undefined || this.unflushedMessages === 0) return false;
    return now - this.lastFlushTime >= flushMs;
  }

  /**
   * Flushes and closes the segment files (a clean close). A storage failure on the way takes the log offline and
   * rejects with KAFKA_STORAGE_ERROR (the log dir then gets no clean-shutdown marker); an offline log is closed
   * already and is left as it is.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // refuse appends from here on
    try {
      await this.flush();
      await this.leaderEpochCache.flushed();
      this.snapshotProducerState(true);
      const active = this.activeSegment;
      active.onBecomeInactiveSegment();
      await active.flush();
      this.recoveryPointOffset = this.nextOffset;
      for (const s of this.segs) s.close();
    } catch (e) {
      throw this.handleIoError(e, 'closing the log');
    } finally {
      for (const s of this.segs) s.closeHandlers(); // descriptors never outlive the log, whatever failed
    }
  }

  /**
   * Closes the files without flushing or writing (the log is about to be deleted, or is abandoned after a failed
   * start). In-flight reads finish first.
   */
  closeWithoutFlush(): void {
    this.discarded = true;
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segs) s.closeHandlers();
  }

  /** Closes without flushing and removes the directory. */
  async delete(): Promise<void> {
    this.closeWithoutFlush();
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

/** Where a Log without a LogManager reports a failed background task (never silently). */
function defaultBackgroundError(what: string, err: unknown): void {
  process.stderr.write(`kfk: ${what} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

function defaultWarning(msg: string): void {
  process.stderr.write(`kfk: ${msg}\n`);
}

/**
 * Whether a log can open lazily with `logEndOffset` (a clean shutdown's recovery point): it must lie in the active
 * segment, and be its base offset exactly when that segment is empty. Otherwise the segments are read.
 */
function lazyOpenPossible(segs: readonly LogSegment[], logEndOffset: number): boolean {
  const active = segs[segs.length - 1]!;
  if (active.size === 0) return logEndOffset === active.baseOffset;
  return logEndOffset > active.baseOffset && active.canConvertToRelativeOffset(logEndOffset - 1);
}

/**
 * The names in a partition directory (created when missing), read within the descriptor budget. Synchronously: a
 * partition directory holds a handful of names, and an asynchronous listing costs the event loop more (a start
 * lists every partition directory).
 */
async function listPartitionDir(dir: string, cache: FileDescriptorCache): Promise<string[]> {
  try {
    return cache.withPermitSync(() => fs.readdirSync(dir), `listing ${dir}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await fs.promises.mkdir(dir, { recursive: true });
  return [];
}

/** Index of the segment with the greatest base offset <= offset, or -1. */
function floorIndex(segs: readonly LogSegment[], offset: number): number {
  let lo = 0;
  let hi = segs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.baseOffset <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
