/**
 * Splits a TCP byte stream into Kafka frames (int32 size + payload). TCP splits and merges
 * requests arbitrarily, so chunks are accumulated until a whole frame is present.
 */
import { ProtocolError } from '../protocol/primitives.js';
import { ReadBufferPool } from '../log/read-buffer-pool.js';
import { BorrowedFrameAssembler } from '../protocol/borrowed-frames.js';

/**
 * Buffers for request frames that span several socket reads (a Produce request of 1 MiB arrives in 64 KiB
 * chunks and is assembled into one buffer). The connection gives a Produce frame's buffer back once its request
 * was handled and its response encoded (src/server/connection.ts): the produce path writes the records to the log
 * synchronously and keeps no reference to them. Other frames are never given back (requests such as SyncGroup
 * keep parts of their frame) and are left to the garbage collector.
 */
export const requestFramePool = new ReadBufferPool(32 * 1024 * 1024);

export class FrameTooLargeError extends ProtocolError {
  constructor(
    readonly size: number,
    readonly max: number,
    limitName = 'socket.request.max.bytes',
  ) {
    super(`frame of ${size} bytes is larger than ${limitName} (${max})`);
  }
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** pushBorrowed's frames: large ones in requestFramePool's buffers, sizes checked against the current limit. */
  private readonly borrowed = new BorrowedFrameAssembler(
    (size) => requestFramePool.acquire(size),
    (size) => {
      if (size < 0 || size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes, this.limitName);
    },
  );
  /** The setting the current limit comes from, for the error. */
  private limitName = 'socket.request.max.bytes';

  constructor(private maxFrameBytes: number) {}

  /** Changes the limit (a smaller one applies before SASL authentication: sasl.server.max.receive.size). */
  setLimit(maxFrameBytes: number, limitName: string): void {
    this.maxFrameBytes = maxFrameBytes;
    this.limitName = limitName;
  }

  /** Adds a chunk and returns every complete frame payload (without the size prefix). */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peekHead();
      const size = head.readInt32BE(0);
      if (size < 0 || size > this.maxFrameBytes) throw new FrameTooLargeError(size, this.maxFrameBytes, this.limitName);
      if (this.buffered < 4 + size) break;
      frames.push(this.take(4 + size).subarray(4));
    }
    return frames;
  }

  /**
   * Adds a chunk the caller only lends (the socket reads every connection into one shared buffer, which the next
   * read overwrites) and returns every complete frame payload. Each byte is copied once, straight into the buffer
   * of its frame (a pooled one for large frames, see requestFramePool), so nothing refers to `chunk` afterwards and
   * no buffer is allocated per socket read. Not to be mixed with push() on one decoder.
   */
  pushBorrowed(chunk: Buffer): Buffer[] {
    return this.borrowed.push(chunk);
  }

  /** Bytes of an incomplete frame still waiting for more data. */
  get pendingBytes(): number {
    return this.buffered + this.borrowed.pendingBytes;
  }

  private peekHead(): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first;
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = requestFramePool.acquire(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const want = n - filled;
        if (c.length <= want) {
          c.copy(out, filled);
          filled += c.length;
          this.chunks.shift();
        } else {
          c.copy(out, filled, 0, want);
          this.chunks[0] = c.subarray(want);
          filled += want;
        }
      }
    }
    this.buffered -= n;
    return out;
  }
}
