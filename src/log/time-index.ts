/**
 * Kafka's time index (`.timeindex`): 12-byte entries `int64 timestamp`, `int32 offset - baseOffset`.
 * Timestamps strictly increase: an entry is appended only when its timestamp is larger than the last one.
 * Each entry says "up to this offset, the largest timestamp in the segment is this".
 */
import { readInt64, writeInt64 } from '../protocol/primitives.js';
import { AbstractIndex } from './offset-index.js';
import type { FileDescriptorCache } from './fd-cache.js';

export interface TimestampOffset {
  timestamp: number;
  offset: number;
}

/** RecordBatch.NO_TIMESTAMP */
export const NO_TIMESTAMP = -1;

export class TimeIndex extends AbstractIndex {
  static readonly ENTRY_SIZE = 12;

  constructor(file: string, baseOffset: number, maxIndexSize: number, fdCache?: FileDescriptorCache) {
    super(file, baseOffset, maxIndexSize, TimeIndex.ENTRY_SIZE, fdCache);
  }

  private timestampAt(i: number): number {
    return readInt64(this.mem, i * 12);
  }
  private relativeOffsetAt(i: number): number {
    return this.mem.readInt32BE(i * 12 + 8);
  }

  entry(i: number): TimestampOffset {
    if (i < 0 || i >= this.count) throw new RangeError(`time index entry ${i} out of range [0, ${this.count})`);
    return { timestamp: this.timestampAt(i), offset: this.baseOffset + this.relativeOffsetAt(i) };
  }

  /** Timestamp of the last entry, or -1 when empty. */
  get lastTimestamp(): number {
    return this.count === 0 ? NO_TIMESTAMP : this.timestampAt(this.count - 1);
  }

  /** The last entry, or (-1, baseOffset) when empty. */
  lastEntry(): TimestampOffset {
    return this.count === 0 ? { timestamp: NO_TIMESTAMP, offset: this.baseOffset } : this.entry(this.count - 1);
  }

  /**
   * Appends (timestamp, offset) if timestamp is larger than the last entry's. `skipFullCheck` is for the
   * final entry written when a segment becomes inactive or closes (Kafka's `maybeAppend(..., true)`).
   */
  maybeAppend(timestamp: number, offset: number, skipFullCheck = false): void {
    if (!skipFullCheck && this.isFull) throw new Error(`time index ${this.file} is full (${this.count} entries)`);
    if (this.count > 0) {
      const lastOffset = this.baseOffset + this.relativeOffsetAt(this.count - 1);
      if (offset < lastOffset) {
        throw new Error(`time index ${this.file}: offset ${offset} is smaller than the last entry's ${lastOffset}`);
      }
    }
    if (timestamp <= this.lastTimestamp) return;
    const rel = offset - this.baseOffset;
    if (rel < 0 || rel > 0x7fffffff) throw new RangeError(`offset ${offset} cannot be relative to ${this.baseOffset}`);
    const off = this.reserve();
    writeInt64(this.mem, timestamp, off);
    this.mem.writeInt32BE(rel, off + 8);
    this.commit(off);
  }

  /** The greatest entry with timestamp <= target, or (-1, baseOffset) when there is none. */
  lookup(targetTimestamp: number): TimestampOffset {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) <= targetTimestamp) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? { timestamp: NO_TIMESTAMP, offset: this.baseOffset } : this.entry(found);
  }

  /** Removes every entry whose offset is >= offset. */
  truncateTo(offset: number): void {
    const rel = offset - this.baseOffset;
    // offsets are non-decreasing: keep the entries whose relative offset is < rel
    let lo = 0;
    let hi = this.count - 1;
    let keep = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.relativeOffsetAt(mid) < rel) {
        keep = mid + 1;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    this.truncateToEntries(keep);
  }

  sanityCheck(): string | null {
    let prevTs = Number.NEGATIVE_INFINITY;
    let prevRel = 0;
    for (let i = 0; i < this.count; i++) {
      const ts = this.timestampAt(i);
      const rel = this.relativeOffsetAt(i);
      if (ts <= prevTs) return `entry ${i}: timestamp ${ts} does not increase (previous ${prevTs})`;
      if (rel < prevRel) return `entry ${i}: relative offset ${rel} decreases (previous ${prevRel})`;
      prevTs = ts;
      prevRel = rel;
    }
    return null;
  }
}
