/**
 * Kafka's segment indexes. `AbstractIndex` holds what the offset index and the time index share:
 * a file of fixed-size big-endian entries, mirrored in memory for binary search, appended with a
 * synchronous positional write of one entry.
 *
 * Files are not preallocated: the file always holds exactly the valid entries, so there is nothing to
 * trim on close and Kafka's tools read them as they are. An index is loaded lazily (one read of the file)
 * the first time a lookup or an append needs it (Kafka's LazyIndex), and its descriptor comes from the
 * log's descriptor cache (fd-cache.ts): it is open only while it is used, or idle until the cache needs the
 * room. The in-memory copy starts empty and grows with the entries.
 *
 * `OffsetIndex` (`.index`): 8-byte entries `int32 offset - baseOffset`, `int32 file position`, sparse
 * (one entry per `index.interval.bytes` of log, see LogSegment.append).
 */
import fs from 'node:fs';
import { fsyncFd, readFully, readFullySync, writeFullySync } from './file-io.js';
import { sharedFdCache, type CachedFile, type FileDescriptorCache } from './fd-cache.js';
import { addSuppressed } from './storage-error.js';

const EMPTY = Buffer.alloc(0);
/** Entries the in-memory copy grows to first (then it doubles). */
const FIRST_CAPACITY_ENTRIES = 8;

/** Thrown when an index file cannot be trusted (size not a multiple of the entry size, entries out of order). */
export class CorruptIndexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptIndexError';
  }
}

export abstract class AbstractIndex {
  /** In-memory copy of the entries; capacity may exceed `count * entrySize`. */
  protected mem: Buffer = EMPTY;
  protected count = 0;
  private loaded = false;
  private loading: Promise<void> | null = null;
  /** Written (or cut) since the last fsync. */
  private dirty = false;
  private readonly handle: CachedFile;
  private readonly fdCache: FileDescriptorCache;
  /** Entries that fit in `segment.index.bytes`; when reached the index is full and the segment rolls. */
  readonly maxEntries: number;

  constructor(
    readonly file: string,
    readonly baseOffset: number,
    maxIndexSize: number,
    readonly entrySize: number,
    fdCache: FileDescriptorCache = sharedFdCache(),
  ) {
    this.maxEntries = Math.max(1, Math.floor(maxIndexSize / entrySize));
    this.fdCache = fdCache;
    this.handle = fdCache.file(file);
  }

  get entries(): number {
    return this.count;
  }
  get isLoaded(): boolean {
    return this.loaded;
  }
  get isFull(): boolean {
    return this.count >= this.maxEntries;
  }
  get sizeInBytes(): number {
    return this.count * this.entrySize;
  }

  /** Returns null when the entries are consistent, else what is wrong. */
  abstract sanityCheck(): string | null;

  /**
   * Creates (or empties) the file and makes this an empty, loaded index. `fresh`: the file is new (a new
   * segment), so there is nothing to fsync for it (a missing index is rebuilt from its log anyway).
   */
  createEmpty(fresh = false): void {
    this.handle.createSync();
    this.count = 0;
    this.mem = EMPTY;
    this.loaded = true;
    this.dirty = !fresh;
  }

  /** Loads the file if it is not loaded yet. Rejects with CorruptIndexError when it fails the sanity check. */
  ensureLoaded(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    if (this.loading === null) {
      this.loading = this.handle
        .use(async (fd) => {
          const size = (await new Promise<fs.Stats>((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))))).size;
          const mem = this.allocFor(size);
          const got = await readFully(fd, mem, 0, size, 0);
          if (!this.loaded) this.install(mem, size, got); // a synchronous load may have won meanwhile
        })
        .finally(() => {
          this.loading = null;
        });
    }
    return this.loading;
  }

  /** `ensureLoaded`, synchronously (the first append to a segment opened lazily). */
  ensureLoadedSync(): void {
    if (this.loaded) return;
    this.handle.useSync((fd) => {
      const size = fs.fstatSync(fd).size;
      const mem = this.allocFor(size);
      this.install(mem, size, readFullySync(fd, mem, 0, size, 0));
    });
  }

  private allocFor(size: number): Buffer {
    if (size % this.entrySize !== 0) throw new CorruptIndexError(`${this.file}: size ${size} is not a multiple of ${this.entrySize}`);
    return Buffer.alloc(size + (size === 0 ? 0 : this.entrySize));
  }

  private install(mem: Buffer, size: number, got: number): void {
    if (got !== size) throw new CorruptIndexError(`${this.file}: short read ${got} of ${size}`);
    this.mem = mem;
    this.count = size / this.entrySize;
    const problem = this.sanityCheck();
    if (problem !== null) {
      this.mem = EMPTY;
      this.count = 0;
      throw new CorruptIndexError(`${this.file}: ${problem}`);
    }
    this.loaded = true;
  }

  /** Byte offset in `mem` where the next entry goes, growing the in-memory copy if needed. */
  protected reserve(): number {
    const need = (this.count + 1) * this.entrySize;
    if (this.mem.length < need) {
      const grown = Buffer.alloc(Math.max(need, this.mem.length * 2, FIRST_CAPACITY_ENTRIES * this.entrySize));
      this.mem.copy(grown, 0, 0, this.count * this.entrySize);
      this.mem = grown;
    }
    return this.count * this.entrySize;
  }

  /**
   * Pins the file's descriptor until `unpin()` (LogSegment.append pins both indexes before it writes the log,
   * so that running out of descriptors fails the append before anything is written).
   */
  pinSync(): void {
    this.handle.acquireSync();
  }

  unpin(): void {
    this.handle.release();
  }

  /**
   * Writes the entry prepared at `mem[off, off + entrySize)` to the file and counts it. When the write fails
   * the entry is not counted and the bytes of it that reached the file are cut off again, so the index
   * still holds exactly `count` entries.
   */
  protected commit(off: number): void {
    if (!this.loaded) throw new Error(`index ${this.file} is not loaded`);
    const fd = this.handle.acquireSync();
    try {
      this.dirty = true;
      writeFullySync(fd, this.mem, off, this.entrySize, off);
    } catch (e) {
      this.cutTo(fd, off, e);
      throw e;
    } finally {
      this.handle.release();
    }
    this.count++;
  }

  /**
   * After a failed write: cuts the file back to `size` bytes. If even that fails, the original error is the
   * one that matters (the caller takes the log dir offline, so nothing reads this index again before a
   * restart, and recovery rebuilds the indexes of every segment after the recovery point).
   */
  private cutTo(fd: number, size: number, original: unknown): void {
    try {
      fs.ftruncateSync(fd, size);
    } catch (e) {
      addSuppressed(original, e);
    }
  }

  /**
   * Rolls back the entries added after there were `n` (LogSegment.append undoing a half-done append). The
   * in-memory count is what lookups use, so it is set first; the file is cut after (see cutTo on failure).
   */
  rollBackTo(n: number, original: unknown): void {
    if (n >= this.count) return;
    this.count = Math.max(0, n);
    let fd: number;
    try {
      fd = this.handle.acquireSync();
    } catch (e) {
      addSuppressed(original, e);
      return;
    }
    try {
      this.cutTo(fd, this.count * this.entrySize, original);
    } finally {
      this.handle.release();
    }
  }

  /** Keeps the first n entries. */
  truncateToEntries(n: number): void {
    if (n >= this.count) return;
    this.count = Math.max(0, n);
    this.dirty = true;
    this.handle.useSync((fd) => fs.ftruncateSync(fd, this.count * this.entrySize));
  }

  /** Removes every entry. */
  reset(): void {
    this.createEmpty();
  }

  /** fsyncs the file when it was written since the last fsync. */
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

  /** Forgets the in-memory copy (a corrupt index about to be rebuilt); the file stays usable. */
  unload(): void {
    this.mem = EMPTY;
    this.count = 0;
    this.loaded = false;
  }

  /** Closes the file for good (now, or once a pin is released) and drops the in-memory copy. */
  close(): void {
    this.handle.close();
    this.unload();
  }

  /** Closes and removes the file (a missing file is fine). */
  deleteFile(): void {
    this.close();
    fs.rmSync(this.file, { force: true });
  }
}

export interface OffsetPosition {
  offset: number;
  position: number;
}

export class OffsetIndex extends AbstractIndex {
  static readonly ENTRY_SIZE = 8;

  constructor(file: string, baseOffset: number, maxIndexSize: number, fdCache?: FileDescriptorCache) {
    super(file, baseOffset, maxIndexSize, OffsetIndex.ENTRY_SIZE, fdCache);
  }

  private relativeOffsetAt(i: number): number {
    return this.mem.readInt32BE(i * 8);
  }
  private positionAt(i: number): number {
    return this.mem.readInt32BE(i * 8 + 4);
  }

  /** Absolute offset of the last entry, or the base offset when empty. */
  get lastOffset(): number {
    return this.count === 0 ? this.baseOffset : this.baseOffset + this.relativeOffsetAt(this.count - 1);
  }

  entry(i: number): OffsetPosition {
    if (i < 0 || i >= this.count) throw new RangeError(`index entry ${i} out of range [0, ${this.count})`);
    return { offset: this.baseOffset + this.relativeOffsetAt(i), position: this.positionAt(i) };
  }

  /** Adds an entry; offsets must increase strictly. */
  append(offset: number, position: number): void {
    if (this.count > 0 && offset <= this.lastOffset) {
      throw new Error(`offset index ${this.file}: offset ${offset} is not larger than the last entry ${this.lastOffset}`);
    }
    const rel = offset - this.baseOffset;
    if (rel < 0 || rel > 0x7fffffff) throw new RangeError(`offset ${offset} cannot be relative to ${this.baseOffset}`);
    if (this.isFull) throw new Error(`offset index ${this.file} is full (${this.count} entries)`);
    const off = this.reserve();
    this.mem.writeInt32BE(rel, off);
    this.mem.writeInt32BE(position, off + 4);
    this.commit(off);
  }

  /** Index of the greatest entry whose offset is <= target, or -1. */
  private floorIndex(target: number): number {
    const rel = target - this.baseOffset;
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.relativeOffsetAt(mid) <= rel) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** File position of the greatest entry with offset <= target (0 when there is none). */
  lookupPosition(target: number): number {
    const i = this.floorIndex(target);
    return i < 0 ? 0 : this.positionAt(i);
  }

  /** The greatest entry with offset <= target, or (baseOffset, 0) when there is none. */
  lookup(target: number): OffsetPosition {
    const i = this.floorIndex(target);
    return i < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(i);
  }

  /** Removes every entry whose offset is >= offset. */
  truncateTo(offset: number): void {
    this.truncateToEntries(this.floorIndex(offset - 1) + 1);
  }

  sanityCheck(): string | null {
    let prevRel = -1;
    let prevPos = -1;
    for (let i = 0; i < this.count; i++) {
      const rel = this.relativeOffsetAt(i);
      const pos = this.positionAt(i);
      if (rel <= prevRel) return `entry ${i}: relative offset ${rel} does not increase (previous ${prevRel})`;
      if (pos <= prevPos) return `entry ${i}: position ${pos} does not increase (previous ${prevPos})`;
      prevRel = rel;
      prevPos = pos;
    }
    return null;
  }

  /** Largest position referenced, or -1 when empty (used to check the index against the log size). */
  get lastPosition(): number {
    return this.count === 0 ? -1 : this.positionAt(this.count - 1);
  }
}
