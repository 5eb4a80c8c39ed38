/**
 * A segment's aborted-transaction index, `<base offset, 20 digits>.txnindex` (Kafka's TransactionIndex): one 34-byte
 * entry per transaction aborted by a marker in this segment, in marker order:
 *
 *   int16 version (0), int64 producerId, int64 firstOffset, int64 lastOffset, int64 lastStableOffset
 *
 * firstOffset is the transaction's first offset (possibly in an earlier segment), lastOffset its abort marker's offset,
 * lastStableOffset the log's last stable offset once that marker completed it. A read_committed Fetch collects the
 * entries overlapping the fetched range (Fetch `aborted_transactions`), so consumers can drop the aborted batches.
 *
 * The file is small (aborts are rare) and read whole, lazily, on first use; it has no preallocation and exists only
 * once an entry is appended. Its descriptor is one of the process's cache (src/log/fd-cache.ts, as the segment's
 * other files): pinned for each write, truncation or fsync, closed when idle and the budget needs the room. A
 * trailing partial entry (a torn write) is ignored; recovery rebuilds the index of every segment it re-validates
 * (src/log/log.ts).
 */
import fs from 'node:fs';
import { fsyncFd, readFullySync, writeFullySync } from './file-io.js';
import { sharedFdCache, type CachedFile, type FileDescriptorCache } from './fd-cache.js';
import { readInt64, writeInt64 } from '../protocol/primitives.js';

export const TXN_INDEX_FILE_SUFFIX = '.txnindex';
export const ABORTED_TXN_ENTRY_SIZE = 34;
const ABORTED_TXN_VERSION = 0;

export interface AbortedTxn {
  producerId: number;
  firstOffset: number;
  lastOffset: number;
  lastStableOffset: number;
}

export function encodeAbortedTxn(t: AbortedTxn, buf: Buffer = Buffer.allocUnsafe(ABORTED_TXN_ENTRY_SIZE), pos = 0): Buffer {
  buf.writeInt16BE(ABORTED_TXN_VERSION, pos);
  writeInt64(buf, t.producerId, pos + 2);
  writeInt64(buf, t.firstOffset, pos + 10);
  writeInt64(buf, t.lastOffset, pos + 18);
  writeInt64(buf, t.lastStableOffset, pos + 26);
  return buf;
}

/** Decodes the whole entries of a .txnindex file's content; throws on an unknown entry version. */
export function decodeAbortedTxns(buf: Buffer): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  for (let pos = 0; pos + ABORTED_TXN_ENTRY_SIZE <= buf.length; pos += ABORTED_TXN_ENTRY_SIZE) {
    const version = buf.readInt16BE(pos);
    if (version !== ABORTED_TXN_VERSION) throw new Error(`unsupported aborted transaction entry version ${version} at position ${pos}`);
    out.push({
      producerId: readInt64(buf, pos + 2),
      firstOffset: readInt64(buf, pos + 10),
      lastOffset: readInt64(buf, pos + 18),
      lastStableOffset: readInt64(buf, pos + 26),
    });
  }
  return out;
}

export interface AbortedTxnSearch {
  /** Entries with lastOffset >= fetchOffset and firstOffset < upperBoundOffset, in index order. */
  found: AbortedTxn[];
  /** True when an entry's lastStableOffset reached upperBoundOffset: later entries (and segments) cannot overlap. */
  complete: boolean;
}

export class TransactionIndex {
  private entries: AbortedTxn[] | null = null;
  /** Whether the file exists (as far as this object knows: it is created by the first append). */
  private exists: boolean | null = null;
  /** Written (or cut) since the last fsync. */
  private dirty = false;
  private readonly handle: CachedFile;

  constructor(
    readonly file: string,
    readonly baseOffset: number,
    private readonly fdCache: FileDescriptorCache = sharedFdCache(),
  ) {
    this.handle = fdCache.file(file);
  }

  private load(): AbortedTxn[] {
    if (this.entries !== null) return this.entries;
    let content: Buffer;
    try {
      content = this.handle.isOpen
        ? this.handle.useSync((fd) => readWholeSync(fd))
        : this.fdCache.withPermitSync(() => fs.readFileSync(this.file), `reading ${this.file}`);
      this.exists = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      content = Buffer.alloc(0);
      this.exists = false;
    }
    this.entries = decodeAbortedTxns(content);
    return this.entries;
  }

  /** The entries, oldest first (loads the file on first use). */
  allEntries(): readonly AbortedTxn[] {
    return this.load();
  }

  get isEmpty(): boolean {
    return this.load().length === 0;
  }

  /** The last offset of the last entry, or -1. */
  get lastOffset(): number {
    const e = this.load();
    return e.length === 0 ? -1 : e[e.length - 1]!.lastOffset;
  }

  /** Appends one entry (synchronous positional write). Markers come in offset order: lastOffset must grow. */
  append(txn: AbortedTxn): void {
    const entries = this.load();
    const last = entries[entries.length - 1];
    if (last !== undefined && last.lastOffset >= txn.lastOffset) {
      throw new Error(`aborted transaction of producer ${txn.producerId} ends at ${txn.lastOffset}, not after the last entry's ${last.lastOffset} in ${this.file}`);
    }
    if (this.exists !== true) {
      this.handle.createSync();
      this.exists = true;
    }
    const bytes = encodeAbortedTxn(txn);
    this.handle.useSync((fd) => writeFullySync(fd, bytes, 0, bytes.length, entries.length * ABORTED_TXN_ENTRY_SIZE));
    entries.push(txn);
    this.dirty = true;
  }

  /** The entries overlapping [fetchOffset, upperBoundOffset) (Kafka's collectAbortedTxns). */
  collect(fetchOffset: number, upperBoundOffset: number): AbortedTxnSearch {
    const found: AbortedTxn[] = [];
    for (const t of this.load()) {
      if (t.lastOffset >= fetchOffset && t.firstOffset < upperBoundOffset) found.push(t);
      if (t.lastStableOffset >= upperBoundOffset) return { found, complete: true };
    }
    return { found, complete: false };
  }

  /** Removes the entries whose marker is at or after `offset` (the log is truncated there). */
  truncateTo(offset: number): void {
    const entries = this.load();
    let keep = entries.length;
    while (keep > 0 && entries[keep - 1]!.lastOffset >= offset) keep--;
    if (keep === entries.length) return;
    entries.length = keep;
    this.rewriteSize(keep * ABORTED_TXN_ENTRY_SIZE);
  }

  /** Empties the index (its segment is being rebuilt or recreated). */
  reset(): void {
    this.entries = [];
    this.rewriteSize(0);
  }

  private rewriteSize(bytes: number): void {
    if (bytes === 0 && !this.handle.isOpen) {
      // no descriptor on it: the file can go (an open one would keep writing to the removed file)
      fs.rmSync(this.file, { force: true });
      this.exists = false;
      this.dirty = false;
      return;
    }
    if (this.exists === false) return;
    this.handle.useSync((fd) => fs.ftruncateSync(fd, bytes));
    this.dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.dirty || this.handle.isClosed) return;
    this.dirty = false;
    try {
      await this.fdCache.fsync(this.handle, fsyncFd);
    } catch (e) {
      this.dirty = true;
      throw e;
    }
  }

  /** Closes the descriptor (now, or once the operation using it is done); the file cannot be written through this object again. */
  close(): void {
    this.handle.close();
  }
}

function readWholeSync(fd: number): Buffer {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  return buf.subarray(0, readFullySync(fd, buf, 0, size, 0));
}
