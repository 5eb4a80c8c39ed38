/**
 * Retention: which old segments of a log may go, and how they go (Kafka's UnifiedLog.deleteOldSegments).
 *
 * - By time (`retention.ms`, -1 = keep): a segment is deletable when now − its largest timestamp > retention.ms
 *   (a segment without timestamps uses its file's modification time, as Kafka).
 * - By size (`retention.bytes`, -1 = no limit): the oldest segments go while the log minus the segment is still
 *   at least retention.bytes.
 * - By log start offset (always, whatever the cleanup policy): a segment whose successor starts at or below
 *   the log start offset (moved by DeleteRecords) holds nothing readable.
 *
 * Time and size apply only when `cleanup.policy` contains `delete`. Deletable segments are always a prefix of
 * the log and never include the active segment. A deleted segment's files are renamed with the `.deleted`
 * suffix at once, the segment is closed once reads already in flight on it finish (LogSegment's
 * acquire/release), and the renamed files are removed after `file.delete.delay.ms`. A `.deleted` file left by
 * a crash is removed when the log is next opened.
 *
 * Failures: an I/O error while reading timestamps or renaming files is thrown, and the caller hands it to the
 * log's storage failure path (Log.handleIoError: the log dir goes offline, as Kafka's deleteOldSegments runs
 * under maybeHandleIOException); a failed removal after the delay is reported to the `onError` callback.
 */
import fs from 'node:fs';
import type { Log } from './log.js';
import type { LogSegment } from './log-segment.js';

export const DELETED_FILE_SUFFIX = '.deleted';

export type RetentionReason = 'retention.ms' | 'retention.bytes' | 'log-start-offset';

export interface RetentionResult {
  /** Segments removed, by reason. */
  deleted: { reason: RetentionReason; baseOffsets: number[] }[];
  /** Total segments removed. */
  count: number;
}

const isNotFound = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Largest timestamp of a segment for retention.ms: its max batch timestamp, else its file's mtime; -1 when its
 * files are gone (the cleaner or another pass replaced it meanwhile), which ends this pass's scan there.
 */
async function largestTimestamp(seg: LogSegment): Promise<number> {
  try {
    if (!seg.isClosed) await seg.ensureIndexes();
    if (seg.maxTimestamp >= 0) return seg.maxTimestamp;
    return (await fs.promises.stat(seg.logFile)).mtimeMs;
  } catch (e) {
    if (isNotFound(e)) return -1;
    throw e;
  }
}

/** Where a failure of the delayed removal goes: (what failed, the error). */
export type DeleteErrorHandler = (what: string, err: unknown) => void;

/**
 * Renames the segment's files to `<name>.deleted`, closes it once in-flight reads finish, and removes the
 * renamed files after `delayMs` (an unref'd timer). A file that does not exist is skipped (an index may never
 * have been written). A failed rename throws (an I/O error of the log dir: the segment is closed anyway); a
 * failed removal later goes to `onError` (a `.deleted` file left behind is also removed when the log is next
 * opened, but the failure of the disk under it is not hidden).
 */
export function deleteSegmentFiles(seg: LogSegment, delayMs: number, onError: DeleteErrorHandler): void {
  const renamed: string[] = [];
  try {
    for (const f of [seg.logFile, seg.offsetIndex.file, seg.timeIndex.file, seg.txnIndex.file]) {
      try {
        fs.renameSync(f, f + DELETED_FILE_SUFFIX);
        renamed.push(f + DELETED_FILE_SUFFIX);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  } finally {
    seg.close(); // deferred until reads already in flight on it are done
  }
  const remove = (): void => {
    for (const f of renamed) {
      fs.rm(f, { force: true }, (err) => {
        if (err) onError(`deleting ${f}`, err);
      });
    }
  };
  if (delayMs <= 0) remove();
  else setTimeout(remove, delayMs).unref();
}

function takeSegments(log: Log, reason: RetentionReason, predicate: (seg: LogSegment, next: LogSegment) => boolean, out: RetentionResult): void {
  const removed = log.removeOldestSegments(predicate);
  if (removed.length === 0) return;
  const delay = log.config.fileDeleteDelayMs;
  const onError: DeleteErrorHandler = (what, err) => log.reportBackgroundError(what, err);
  let failure: unknown = null;
  for (const seg of removed) {
    try {
      deleteSegmentFiles(seg, delay, onError);
    } catch (e) {
      failure ??= e; // every removed segment still gets closed; the first failure is the one reported
    }
  }
  out.deleted.push({ reason, baseOffsets: removed.map((s) => s.baseOffset) });
  out.count += removed.length;
  if (failure !== null) throw log.handleIoError(failure, `deleting segments (${reason})`);
}

/** Deletes the segments that lie wholly below the log start offset (after DeleteRecords). */
export function deleteLogStartOffsetBreachedSegments(log: Log, out: RetentionResult = emptyResult()): RetentionResult {
  const start = log.logStartOffset;
  takeSegments(log, 'log-start-offset', (_seg, next) => next.baseOffset <= start, out);
  return out;
}

/**
 * Applies retention to one log now: time and size (with cleanup.policy delete), then the log start offset. As
 * Kafka, time and size never delete a segment whose records reach the high watermark (`highWatermark`, default
 * the log end offset), so the log start offset can never pass it.
 */
export async function deleteOldSegments(log: Log, now: number = Date.now(), highWatermark: number = log.logEndOffset): Promise<RetentionResult> {
  const out = emptyResult();
  if (log.isClosed) return out;
  try {
    await deleteOldSegmentsUnchecked(log, now, highWatermark, out);
  } catch (e) {
    throw log.handleIoError(e, 'applying retention');
  }
  return out;
}

async function deleteOldSegmentsUnchecked(log: Log, now: number, highWatermark: number, out: RetentionResult): Promise<void> {
  const cfg = log.config;
  const belowHighWatermark = (_seg: LogSegment, next: LogSegment): boolean => next.baseOffset <= highWatermark;
  if (cfg.cleanupPolicy.includes('delete')) {
    if (cfg.retentionMs >= 0) {
      // timestamps are read ahead (async); the removal itself is synchronous over the prefix found here
      const candidates = log.segments.slice(0, -1);
      const expired = new Set<LogSegment>();
      for (const seg of candidates) {
        const ts = await largestTimestamp(seg);
        if (ts < 0 || now - ts <= cfg.retentionMs) break;
        expired.add(seg);
      }
      if (expired.size > 0) takeSegments(log, 'retention.ms', (seg, next) => expired.has(seg) && belowHighWatermark(seg, next), out);
    }
    if (cfg.retentionBytes >= 0) {
      let diff = log.size - cfg.retentionBytes;
      takeSegments(
        log,
        'retention.bytes',
        (seg, next) => {
          if (diff - seg.size < 0 || !belowHighWatermark(seg, next)) return false;
          diff -= seg.size;
          return true;
        },
        out,
      );
    }
  }
  deleteLogStartOffsetBreachedSegments(log, out);
}

/**
 * DeleteRecords on one log: moves the log start offset to `offset` (which must be within
 * [log start, limit], limit being the high watermark) and deletes the segments wholly below it.
 * Returns the new log start offset (the low watermark).
 */
export function deleteRecordsBefore(log: Log, offset: number): number {
  log.maybeIncrementLogStartOffset(offset);
  deleteLogStartOffsetBreachedSegments(log);
  return log.logStartOffset;
}

function emptyResult(): RetentionResult {
  return { deleted: [], count: 0 };
}
