/**
 * The log cleaner's file protocol (Kafka's LogCleaner / LocalLog.replaceSegments):
 *
 * 1. the cleaned segment is written as `<base>.log.cleaned` (+ `.index.cleaned`, `.timeindex.cleaned`, and
 *    `.txnindex.cleaned` when aborted transactions stay indexed in it) and fsynced;
 * 2. the files are renamed `.cleaned` → `.swap` and the directory fsynced: from here the new segment wins;
 * 3. the replaced segments' files are renamed `.deleted` (removed after file.delete.delay.ms), the `.swap` files
 *    renamed to their final names, and the log's segment list updated, all in one synchronous step.
 *
 * A crash before 2 leaves `.cleaned` files, which are removed: the old segments are intact. A crash after 2
 * leaves a `.swap` segment, and `completeCleanerSwaps` (run by Log.open before anything else) finishes the
 * swap: every segment whose base offset falls in [swap base, last offset in the swap file] is removed, then the
 * `.swap` files get their final names. Index files that did not make it are rebuilt from the log at load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, batchLastOffset, batchSize } from '../../protocol/record-batch-header.js';
import { fsyncDir, readFullySync } from '../file-io.js';
import { sharedFdCache, type FileDescriptorCache } from '../fd-cache.js';

export const CLEANED_FILE_SUFFIX = '.cleaned';
export const SWAP_FILE_SUFFIX = '.swap';
const SEGMENT_FILE_SUFFIXES = ['.log', '.index', '.timeindex', '.txnindex'];

/** The last offset of the batches in a segment file (header scan), or -1 when it holds none. */
export function lastOffsetInFile(file: string, cache: FileDescriptorCache = sharedFdCache()): number {
  return cache.withPermitSync(() => lastOffsetInFileUnchecked(file), `reading ${file}`);
}

function lastOffsetInFileUnchecked(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.allocUnsafe(RECORD_BATCH_OVERHEAD);
    let pos = 0;
    let last = -1;
    while (pos + RECORD_BATCH_OVERHEAD <= size) {
      if (readFullySync(fd, header, 0, RECORD_BATCH_OVERHEAD, pos) < RECORD_BATCH_OVERHEAD) break;
      const n = batchSize(header, 0);
      if (n < RECORD_BATCH_OVERHEAD || pos + n > size || n < LOG_OVERHEAD) break;
      last = batchLastOffset(header, 0);
      pos += n;
    }
    return last;
  } finally {
    fs.closeSync(fd);
  }
}

/** `<20 digits>.<log|index|timeindex|txnindex>` → its base offset, else null. */
function segmentFileBase(name: string): number | null {
  const m = /^(\d{20})\.(log|index|timeindex|txnindex)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Finishes swaps interrupted by a crash and removes unfinished `.cleaned` files in a partition directory whose
 * listing is `names` (read here when not given). Returns true when it changed anything.
 */
export async function completeCleanerSwaps(dir: string, names?: readonly string[], cache: FileDescriptorCache = sharedFdCache()): Promise<boolean> {
  const listing = (): string[] => cache.withPermitSync(() => fs.readdirSync(dir), `listing ${dir}`);
  if (names === undefined) {
    try {
      names = listing();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
  // nothing left by the cleaner: no more work (the common case, with no second listing)
  if (!names.some((n) => n.endsWith(CLEANED_FILE_SUFFIX) || n.endsWith(SWAP_FILE_SUFFIX))) return false;
  let changed = false;
  for (const name of names) {
    if (name.endsWith(CLEANED_FILE_SUFFIX)) {
      fs.rmSync(path.join(dir, name), { force: true });
      changed = true;
    }
  }
  const swaps = names
    .filter((n) => /^\d{20}\.log\.swap$/.test(n))
    .map((n) => Number(n.slice(0, 20)))
    .sort((a, b) => a - b);
  for (const base of swaps) {
    const prefix = path.join(dir, String(base).padStart(20, '0'));
    const last = Math.max(base, lastOffsetInFile(`${prefix}.log${SWAP_FILE_SUFFIX}`, cache));
    for (const name of listing()) {
      const b = segmentFileBase(name);
      if (b !== null && b >= base && b <= last) fs.rmSync(path.join(dir, name), { force: true });
    }
    // indexes first, the log last: a crash in between leaves the .log.swap, and the next open redoes this
    for (const suffix of ['.index', '.timeindex', '.txnindex', '.log']) {
      const from = `${prefix}${suffix}${SWAP_FILE_SUFFIX}`;
      if (fs.existsSync(from)) fs.renameSync(from, `${prefix}${suffix}`);
    }
    changed = true;
  }
  // index .swap files without their log (cannot happen in the protocol above, but never load them)
  for (const name of listing()) {
    if (name.endsWith(SWAP_FILE_SUFFIX)) {
      fs.rmSync(path.join(dir, name), { force: true });
      changed = true;
    }
  }
  if (changed) await fsyncDir(dir, cache);
  return changed;
}

/** The segment file names of base offset `base` in `dir`, with `suffix` appended. */
export function segmentFiles(dir: string, base: number, suffix = ''): string[] {
  const prefix = path.join(dir, String(base).padStart(20, '0'));
  return SEGMENT_FILE_SUFFIXES.map((s) => `${prefix}${s}${suffix}`);
}
