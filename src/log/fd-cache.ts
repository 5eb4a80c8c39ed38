/**
 * The log's open file descriptors as a cache, not one per file (issue 13): every segment file and index file is
 * a `CachedFile` that opens on demand and may be closed again while nothing uses it, and one process-wide LRU
 * keeps at most `maxOpen` of them open (`log.max.open.files`, by default derived from the process's limit; see
 * open-file-limit.ts).
 *
 * - `acquire()` / `acquireSync()` pin a file's descriptor (opening it if needed) and `release()` unpins it. A
 *   pinned descriptor is never closed, so a read in flight keeps the descriptor it started with (reference
 *   counts). Unpinned open descriptors are kept in least-recently-used order and the oldest is closed when a
 *   new one would exceed the budget.
 * - The budget is soft in one direction only: when every open descriptor is pinned (more operations in flight
 *   than the budget), an open still goes ahead, and the excess is closed as soon as pins are released.
 * - Short-lived descriptors outside the cache (reading a directory, writing a checkpoint or a snapshot) take a
 *   permit (`withPermit`), so they count against the same budget.
 * - When the operating system refuses an open anyway (EMFILE, ENFILE: sockets or another part of the process
 *   took the rest of the limit), idle descriptors are closed and the open is tried again; when nothing is left
 *   to close, the caller gets a FileDescriptorsExhaustedError: REQUEST_TIMED_OUT for the request that needed the
 *   file (a code every client retries), logged, and never a storage failure (no log dir goes offline for it).
 *
 * A closed descriptor loses nothing: writes are in the page cache and a file is reopened by its path. Files are
 * never renamed while they are in use (retention and the cleaner rename files only of segments they then close).
 */
import fs from 'node:fs';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { defaultMaxOpenFiles } from './open-file-limit.js';
import type { StorageLogger } from './storage-logger.js';

/** EMFILE (this process's limit) or ENFILE (the system's): out of descriptors, not a broken disk. */
export function isDescriptorExhaustion(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * Running out of file descriptors, as a client sees it: REQUEST_TIMED_OUT (7), which every client retries
 * (Kafka has no code of its own for this; KAFKA_STORAGE_ERROR would tell clients and operators that a disk
 * failed). See docs/storage.md, "File descriptors".
 */
export class FileDescriptorsExhaustedError extends KafkaError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.REQUEST_TIMED_OUT, message);
    this.name = 'FileDescriptorsExhaustedError';
    if (cause !== undefined) this.cause = cause;
  }
}

export interface FdCacheStats {
  /** Descriptors held now: cached files (pinned or idle) and permits. */
  open: number;
  maxOpen: number;
  /** Open and unpinned (closable). */
  idle: number;
  /** Permits held by short-lived opens. */
  permits: number;
  /** acquire calls that found the descriptor open / had to open it. */
  hits: number;
  misses: number;
  /** Idle descriptors closed to make room. */
  evictions: number;
  /** Opens that failed with EMFILE/ENFILE even after closing idle descriptors. */
  exhausted: number;
  /** The most descriptors held at once. */
  peak: number;
}

const WARN_INTERVAL_MS = 10_000;
/**
 * fsyncs of cached files in flight at once. Each pins its descriptor while it waits for the disk, and they run on
 * libuv's thread pool (4 threads by default) anyway: without this, a burst of rolls or a flush of thousands of
 * logs would pin thousands of descriptors past the budget.
 */
const FSYNC_SLOTS = 8;
/** Asynchronous short-lived opens (checkpoint writes, listings) in flight at once, for the same reason. */
const PERMIT_SLOTS = 8;

export class FileDescriptorCache {
  private max: number;
  private held = 0;
  private opening = 0;
  private permits = 0;
  private idleCount = 0;
  /** Least recently used idle file first. */
  private lruHead: CachedFile | null = null;
  private lruTail: CachedFile | null = null;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private exhaustedCount = 0;
  private peak = 0;
  private lastWarning = 0;
  private suppressedWarnings = 0;
  /** Where exhaustion is reported (rate-limited); the broker's logger once a LogManager starts. */
  logger: StorageLogger | undefined;
  private readonly fsyncSlots = new Slots(FSYNC_SLOTS);
  private readonly permitSlots = new Slots(PERMIT_SLOTS);

  constructor(maxOpen: number) {
    this.max = FileDescriptorCache.checkMax(maxOpen);
  }

  private static checkMax(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`the open file budget must be a positive integer, got ${n}`);
    return n;
  }

  get maxOpen(): number {
    return this.max;
  }

  /** Changes the budget; descriptors over it are closed as soon as they are idle. */
  setMaxOpen(n: number): void {
    this.max = FileDescriptorCache.checkMax(n);
    this.trim();
  }

  /** A file opened on demand with `flags` (default 'r+': read and write, must exist). */
  file(path: string, flags: string = 'r+'): CachedFile {
    return new CachedFile(this, path, flags);
  }

  stats(): FdCacheStats {
    return {
      open: this.held,
      maxOpen: this.max,
      idle: this.idleCount,
      permits: this.permits,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      exhausted: this.exhaustedCount,
      peak: this.peak,
    };
  }

  /**
   * Runs `fn`, which opens up to `count` descriptors of its own for a short while (a directory listing, a
   * checkpoint write), within the budget: idle descriptors are closed first to make room, and when `fn` fails
   * with EMFILE/ENFILE it runs again after more are closed (so `fn` must be safe to repeat).
   */
  async withPermit<T>(fn: () => Promise<T>, what: string, count = 1): Promise<T> {
    await this.permitSlots.take();
    try {
      return await this.withPermitNow(fn, what, count);
    } finally {
      this.permitSlots.give();
    }
  }

  private async withPermitNow<T>(fn: () => Promise<T>, what: string, count: number): Promise<T> {
    this.makeRoom(count);
    this.permits += count;
    this.held += count;
    this.notePeak();
    try {
      for (;;) {
        try {
          return await fn();
        } catch (e) {
          if (!isDescriptorExhaustion(e)) throw e;
          if (!this.evictForExhaustion()) throw this.exhausted(e, what);
        }
      }
    } finally {
      this.permits -= count;
      this.held -= count;
    }
  }

  /** `withPermit` for synchronous work. */
  withPermitSync<T>(fn: () => T, what: string, count = 1): T {
    this.makeRoom(count);
    this.permits += count;
    this.held += count;
    this.notePeak();
    try {
      for (;;) {
        try {
          return fn();
        } catch (e) {
          if (!isDescriptorExhaustion(e)) throw e;
          if (!this.evictForExhaustion()) throw this.exhausted(e, what);
        }
      }
    } finally {
      this.permits -= count;
      this.held -= count;
    }
  }

  /** fsyncs a cached file, at most FSYNC_SLOTS at a time in the process (the descriptor is pinned only while it runs). */
  async fsync(file: CachedFile, sync: (fd: number) => Promise<void>): Promise<void> {
    await this.fsyncSlots.take();
    try {
      await file.use(sync);
    } finally {
      this.fsyncSlots.give();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // For CachedFile

  /** @internal */
  openSync(file: CachedFile, flags: string): number {
    this.misses++;
    this.makeRoom(1);
    for (;;) {
      try {
        const fd = fs.openSync(file.path, flags);
        this.held++;
        this.notePeak();
        return fd;
      } catch (e) {
        if (!isDescriptorExhaustion(e)) throw e;
        if (!this.evictForExhaustion()) throw this.exhausted(e, `opening ${file.path}`);
      }
    }
  }

  /** @internal */
  async openAsync(file: CachedFile, flags: string): Promise<number> {
    this.misses++;
    this.makeRoom(1);
    this.opening++;
    try {
      for (;;) {
        try {
          const fd = await new Promise<number>((resolve, reject) => fs.open(file.path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
          this.held++;
          this.notePeak();
          return fd;
        } catch (e) {
          if (!isDescriptorExhaustion(e)) throw e;
          if (!this.evictForExhaustion()) throw this.exhausted(e, `opening ${file.path}`);
        }
      }
    } finally {
      this.opening--;
    }
  }

  /** @internal Closes a descriptor the cache counted. */
  closeFd(fd: number, path: string): void {
    this.held--;
    try {
      fs.closeSync(fd);
    } catch (e) {
      // close(2) on a local file reports nothing worth acting on (writes are already in the page cache, and a
      // later fsync reports writeback errors); it is logged rather than lost.
      this.logger?.warn(`closing the descriptor of ${path} failed: ${(e as Error).message}`);
    }
  }

  /** @internal */
  noteHit(): void {
    this.hits++;
  }

  /** @internal Appends an unpinned open file at the most recently used end. */
  pushIdle(f: CachedFile): void {
    if (f.lruLinked) return;
    f.lruLinked = true;
    f.lruPrev = this.lruTail;
    f.lruNext = null;
    if (this.lruTail !== null) this.lruTail.lruNext = f;
    else this.lruHead = f;
    this.lruTail = f;
    this.idleCount++;
  }

  /** @internal */
  unlinkIdle(f: CachedFile): void {
    if (!f.lruLinked) return;
    if (f.lruPrev !== null) f.lruPrev.lruNext = f.lruNext;
    else this.lruHead = f.lruNext;
    if (f.lruNext !== null) f.lruNext.lruPrev = f.lruPrev;
    else this.lruTail = f.lruPrev;
    f.lruPrev = null;
    f.lruNext = null;
    f.lruLinked = false;
    this.idleCount--;
  }

  /** @internal Closes idle descriptors while more are held than the budget allows. */
  trim(): void {
    while (this.held > this.max && this.lruHead !== null) this.evictOne();
  }

  private makeRoom(n: number): void {
    while (this.held + this.opening + n > this.max && this.lruHead !== null) this.evictOne();
  }

  private evictOne(): void {
    const f = this.lruHead!;
    this.unlinkIdle(f);
    this.evictions++;
    f.evict();
  }

  /** After EMFILE/ENFILE: closes a batch of idle descriptors; false when there was none to close. */
  private evictForExhaustion(): boolean {
    if (this.lruHead === null) return false;
    for (let n = Math.max(1, Math.min(64, Math.ceil(this.idleCount / 4))); n > 0 && this.lruHead !== null; n--) this.evictOne();
    return true;
  }

  private notePeak(): void {
    if (this.held > this.peak) this.peak = this.held;
  }

  private exhausted(cause: unknown, what: string): FileDescriptorsExhaustedError {
    this.exhaustedCount++;
    const s = this.stats();
    const err = new FileDescriptorsExhaustedError(
      `Out of file descriptors while ${what}: ${(cause as Error).message}. The log holds ${s.open} (${s.open - s.idle - s.permits} in use, ` +
        `log.max.open.files=${s.maxOpen}); the rest of the process limit is taken by connections and other files. ` +
        `Retry later, lower log.max.open.files or max.connections, or raise the limit (ulimit -n).`,
      cause,
    );
    const now = Date.now();
    if (now - this.lastWarning >= WARN_INTERVAL_MS) {
      const more = this.suppressedWarnings > 0 ? ` (and ${this.suppressedWarnings} more since the last warning)` : '';
      this.lastWarning = now;
      this.suppressedWarnings = 0;
      (this.logger?.warn ?? ((m: string) => process.stderr.write(`WARN ${m}\n`)))(`${err.message}${more}`);
    } else {
      this.suppressedWarnings++;
    }
    return err;
  }
}

/**
 * One file of the log whose descriptor the cache opens and closes. Pin the descriptor for exactly the duration
 * of one operation: `const fd = f.acquireSync(); try { ... } finally { f.release(); }`.
 */
export class CachedFile {
  private fd: number | null = null;
  private refs = 0;
  private closed = false;
  private opening: Promise<void> | null = null;
  /** @internal LRU links, owned by the cache. */
  lruPrev: CachedFile | null = null;
  lruNext: CachedFile | null = null;
  lruLinked = false;

  constructor(
    private readonly cache: FileDescriptorCache,
    readonly path: string,
    private readonly flags: string,
  ) {}

  /** Whether a descriptor is open right now (pinned or idle). */
  get isOpen(): boolean {
    return this.fd !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Pins the descriptor, opening the file if needed (synchronously: the append path). */
  acquireSync(): number {
    this.checkOpenable();
    if (this.fd !== null) {
      this.cache.noteHit();
      this.cache.unlinkIdle(this);
    } else {
      this.fd = this.cache.openSync(this, this.flags);
    }
    this.refs++;
    return this.fd;
  }

  /** Pins the descriptor, opening the file if needed. */
  async acquire(): Promise<number> {
    this.checkOpenable();
    if (this.fd !== null) {
      this.cache.noteHit();
      this.cache.unlinkIdle(this);
      this.refs++;
      return this.fd;
    }
    this.refs++; // pinned while it opens: a close() meanwhile waits for this release
    try {
      this.opening ??= this.cache.openAsync(this, this.flags).then(
        (fd) => {
          this.opening = null;
          // a synchronous acquire may have opened it meanwhile: keep one descriptor
          if (this.fd === null) this.fd = fd;
          else this.cache.closeFd(fd, this.path);
        },
        (e: unknown) => {
          this.opening = null;
          throw e;
        },
      );
      await this.opening;
      return this.fd!;
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Unpins; an unpinned descriptor stays open (idle) until the cache needs the room or the file is closed. */
  release(): void {
    if (this.refs <= 0) throw new Error(`release of ${this.path} without acquire`);
    this.refs--;
    if (this.refs > 0 || this.fd === null) return;
    if (this.closed) {
      this.closeNow();
      return;
    }
    this.cache.pushIdle(this);
    this.cache.trim();
  }

  /** Pins the descriptor for `fn` (synchronous). */
  useSync<T>(fn: (fd: number) => T): T {
    const fd = this.acquireSync();
    try {
      return fn(fd);
    } finally {
      this.release();
    }
  }

  /** Pins the descriptor for `fn`. */
  async use<T>(fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = await this.acquire();
    try {
      return await fn(fd);
    } finally {
      this.release();
    }
  }

  /** Creates the file, or empties it ('w+'); the descriptor stays open (idle) for what comes next. */
  createSync(): void {
    this.checkOpenable();
    if (this.fd !== null) {
      fs.ftruncateSync(this.fd, 0);
      return;
    }
    this.fd = this.cache.openSync(this, 'w+');
    this.cache.pushIdle(this);
    this.cache.trim();
  }

  /** Closes the descriptor now, or when the last pin is released; the file cannot be opened through this object again. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.refs === 0) this.closeNow();
  }

  /** @internal The cache needs the room: closes the idle descriptor (the file reopens on the next acquire). */
  evict(): void {
    if (this.fd === null || this.refs > 0) return;
    const fd = this.fd;
    this.fd = null;
    this.cache.closeFd(fd, this.path);
  }

  private closeNow(): void {
    this.cache.unlinkIdle(this);
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    this.cache.closeFd(fd, this.path);
  }

  private checkOpenable(): void {
    if (this.closed) throw new Error(`${this.path} is closed`);
  }
}

let shared: FileDescriptorCache | null = null;

/**
 * The process's cache: the limit is per process, so every log of every broker in it (`--brokers N`) shares one
 * budget. Created on first use with the default budget; a broker with `log.max.open.files` set changes it.
 */
export function sharedFdCache(): FileDescriptorCache {
  shared ??= new FileDescriptorCache(defaultMaxOpenFiles());
  return shared;
}

/** A counting semaphore: `take()` waits while all slots are taken. */
class Slots {
  private taken = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly size: number) {}
  take(): Promise<void> {
    if (this.taken < this.size) {
      this.taken++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  /** Hands the slot to the next waiter, or frees it. */
  give(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.taken--;
  }
}
