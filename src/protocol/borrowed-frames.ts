/**
 * Kafka frames (int32 size + payload) assembled from chunks the caller only lends: a socket that reads every
 * connection into one shared buffer (Node's `onread`), which the next read overwrites. Each byte is copied once,
 * straight into the buffer of its frame, allocated as soon as the frame's size is known; nothing refers to a chunk
 * after push() returns. Used by the broker's and the client's frame decoders (src/server/frame-decoder.ts,
 * src/client/connection.ts), which decide where frame buffers come from and which sizes they refuse.
 */
export class BorrowedFrameAssembler {
  /** The size prefix read so far, and the frame being filled once its size is known. */
  private readonly head = Buffer.alloc(4);
  private headFilled = 0;
  private frame: Buffer | null = null;
  private frameFilled = 0;

  /**
   * @param allocate a buffer of exactly `size` bytes for a frame (contents are overwritten)
   * @param checkSize throws for a size that must not be read (negative, or over the limit)
   */
  constructor(
    private readonly allocate: (size: number) => Buffer,
    private readonly checkSize: (size: number) => void,
  ) {}

  /** Copies `chunk` out and returns every frame payload (without its size prefix) now complete. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.frame === null) {
        const n = Math.min(4 - this.headFilled, chunk.length - at);
        chunk.copy(this.head, this.headFilled, at, at + n);
        this.headFilled += n;
        at += n;
        if (this.headFilled < 4) break;
        const size = this.head.readInt32BE(0);
        this.checkSize(size);
        this.frame = this.allocate(size);
        this.frameFilled = 0;
      }
      // (a frame of size 0 completes here at once, even at the end of the chunk)
      const n = Math.min(this.frame.length - this.frameFilled, chunk.length - at);
      chunk.copy(this.frame, this.frameFilled, at, at + n);
      this.frameFilled += n;
      at += n;
      if (this.frameFilled === this.frame.length) {
        frames.push(this.frame);
        this.frame = null;
        this.frameFilled = 0;
        this.headFilled = 0;
      }
    }
    return frames;
  }

  /** Bytes of an incomplete frame (its size prefix included) held so far. */
  get pendingBytes(): number {
    return this.headFilled + this.frameFilled;
  }
}
