/**
 * Reusable buffers for the file reads that answer Fetch requests.
 *
 * A consumer or follower reading a partition gets 1-4 MiB per fetch. Allocating a fresh buffer for each read
 * made V8 collect garbage all the time (external memory grows by megabytes per request: GC was the broker's
 * largest item while kcat consumed, docs/benchmarks.md). Here a read borrows a buffer of a power-of-two size
 * class; the connection that writes the Fetch response gives it back once the socket write of the response
 * completed (src/server/connection.ts), and the next read reuses it.
 *
 * Safety rests on one rule: a buffer is given back only by the one place that knows nobody needs it any more,
 * the completion of the socket write of the response that carried it. `release` is a no-op for anything that is
 * not a lent buffer of this pool (so it can be called on every chunk of a response), and a buffer that is never
 * given back (a response dropped with its connection, records copied into a small response, a read whose result
 * was discarded) is simply collected by the garbage collector: the pool tracks lent buffers weakly and holds only
 * the idle ones, up to `maxIdleBytes`.
 */

/** Reads smaller than this use an ordinary allocation (Node's own slab for tiny ones; no GC pressure to speak of). */
export const MIN_POOLED_BYTES = 64 * 1024;
/** Reads larger than this (a batch above 16 MiB) are rare: an ordinary allocation. */
export const MAX_POOLED_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_IDLE_BYTES = 64 * 1024 * 1024;

export class ReadBufferPool {
  /** Idle buffers by size class (bytes). */
  private readonly idle = new Map<number, ArrayBuffer[]>();
  /** Buffers lent and not given back; weak, so a buffer never given back is collected. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private idleBytes = 0;
  /** Counters for tests and diagnostics. */
  readonly stats = { allocated: 0, reused: 0, released: 0 };

  constructor(private readonly maxIdleBytes = DEFAULT_MAX_IDLE_BYTES) {}

  /** A buffer of exactly `size` bytes (contents undefined): pooled when the size is in the pooled range. */
  acquire(size: number): Buffer {
    if (size < MIN_POOLED_BYTES || size > MAX_POOLED_BYTES) return Buffer.allocUnsafe(size);
    const sizeClass = classOf(size);
    let ab = this.idle.get(sizeClass)?.pop();
    if (ab !== undefined) {
      this.idleBytes -= sizeClass;
      this.stats.reused++;
    } else {
      // allocUnsafeSlow: an ArrayBuffer of its own, not zero-filled (it is overwritten by the read)
      ab = Buffer.allocUnsafeSlow(sizeClass).buffer as ArrayBuffer;
      this.stats.allocated++;
    }
    this.lent.add(ab);
    return Buffer.from(ab, 0, size);
  }

  /**
   * Gives back the buffer behind `chunk` (any view of it) if it is a lent buffer of this pool; otherwise does
   * nothing. The caller guarantees that nothing reads the buffer any more.
   */
  release(chunk: Buffer): void {
    const ab = chunk.buffer as ArrayBuffer;
    if (!this.lent.delete(ab)) return;
    this.stats.released++;
    const sizeClass = ab.byteLength;
    if (this.idleBytes + sizeClass > this.maxIdleBytes) return;
    let list = this.idle.get(sizeClass);
    if (list === undefined) {
      list = [];
      this.idle.set(sizeClass, list);
    }
    list.push(ab);
    this.idleBytes += sizeClass;
  }

  /** Whether `chunk` is a view of a buffer lent by this pool and not yet given back. */
  isLent(chunk: Buffer): boolean {
    return this.lent.has(chunk.buffer as ArrayBuffer);
  }

  /** Bytes held idle for reuse. */
  get idleByteCount(): number {
    return this.idleBytes;
  }
}

/** The smallest power of two >= size. */
function classOf(size: number): number {
  return 2 ** Math.ceil(Math.log2(size));
}

/** The process-wide pool Fetch reads borrow from and Connection gives back to. */
export const fetchReadPool = new ReadBufferPool();
