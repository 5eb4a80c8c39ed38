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
 * The file is small (aborts are rare) and read whole, lazily, on first use; it has no preallocation. A descriptor is
 * opened only when entries are appended. A trailing partial entry (a torn write) is ignored; recovery rebuilds the
 * index of every segment it re-validates (src/log/log.ts).
 */
import fs from 'node:fs';
import { fsyncFd, writeFullySync } from './file-io.js';
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
  private fd: number | null = null;

  constructor(
    public file: string,
    readonly baseOffset: number,
  ) {}

  private load(): AbortedTxn[] {
    if (this.entries !== null) return this.entries;
    let content: Buffer;
    try {
      content = fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      content = Buffer.alloc(0);
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
    if (this.fd === null) this.fd = fs.openSync(this.file, fs.existsSync(this.file) ? 'r+' : 'w+');
    const bytes = encodeAbortedTxn(txn);
    writeFullySync(this.fd, bytes, 0, bytes.length, entries.length * ABORTED_TXN_ENTRY_SIZE);
    entries.push(txn);
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
    if (this.fd !== null) fs.ftruncateSync(this.fd, bytes);
    else if (bytes === 0) fs.rmSync(this.file, { force: true });
    else fs.truncateSync(this.file, bytes);
  }

  async flush(): Promise<void> {
    if (this.fd !== null) await fsyncFd(this.fd);
  }

  /** Closes the descriptor, if open; the entries stay readable (re-read from the file when needed). */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    fs.closeSync(fd);
  }

  /** Forgets what was loaded (the file was renamed or replaced under this object). */
  renameTo(file: string): void {
    this.file = file;
  }
}
