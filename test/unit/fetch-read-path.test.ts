/**
 * The Fetch read path's shortcuts (issue 9): reads continue from a remembered batch position (the end of the
 * previous read, or an append) without the index lookup and header scan, and reads for Fetch responses borrow
 * their buffer from a pool. Neither may ever change what a read returns: these tests compare every read with the
 * bytes in the segment file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { batchLastOffset, batchSize } from '../../src/protocol/record-batch-header.js';
import { Log } from '../../src/log/log.js';
import { MAX_POOLED_BYTES, MIN_POOLED_BYTES, ReadBufferPool, fetchReadPool } from '../../src/log/read-buffer-pool.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-fetch-read-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** A batch of `count` records whose values name the tag and the record (`<tag>-<i>`), padded to valueSize. */
function batch(count: number, tag: string, valueSize = 0): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`${tag}-${i}`.padEnd(valueSize, '.')), timestamp: 1_000_000 + i })),
  );
}

/** The single segment file's bytes (the tests keep every log in one segment). */
function segmentBytes(dir: string): Buffer {
  const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log'));
  expect(logs).toHaveLength(1);
  return fs.readFileSync(path.join(dir, logs[0]!));
}

/** File position of the first batch whose last offset is >= offset. */
function positionOf(file: Buffer, offset: number): number {
  let p = 0;
  while (p < file.length && batchLastOffset(file, p) < offset) p += batchSize(file, p);
  return p;
}

/**
 * What a read must return, from the file alone: the whole batches from the one containing `offset`, while they
 * fit in maxBytes (the first one always, KIP-74), none reaching maxOffset.
 */
function expectedRead(file: Buffer, offset: number, maxBytes: number, maxOffset: number): Buffer {
  const from = positionOf(file, offset);
  let p = from;
  while (p < file.length && batchLastOffset(file, p) < maxOffset && (p === from || p + batchSize(file, p) - from <= maxBytes)) {
    p += batchSize(file, p);
  }
  return file.subarray(from, p);
}

describe('ReadBufferPool', () => {
  it('lends power-of-two buffers, takes back only its own lent ones, once, and reuses them', () => {
    const pool = new ReadBufferPool(8 << 20);
    const a = pool.acquire(100_000);
    expect(a.length).toBe(100_000);
    expect(a.buffer.byteLength).toBe(131_072);
    expect(pool.isLent(a)).toBe(true);
    // a view of it (what a read returns when it ends before the buffer does) gives it back as well
    pool.release(a.subarray(0, 10));
    expect(pool.isLent(a)).toBe(false);
    expect(pool.idleByteCount).toBe(131_072);
    // a second release of the same buffer, and buffers the pool never lent, change nothing
    pool.release(a);
    pool.release(Buffer.alloc(200_000));
    expect(pool.stats.released).toBe(1);
    expect(pool.idleByteCount).toBe(131_072);
    const b = pool.acquire(120_000);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.stats.reused).toBe(1);
    expect(pool.isLent(b)).toBe(true);
  });

  it('allocates small and huge reads normally and keeps at most maxIdleBytes idle', () => {
    const pool = new ReadBufferPool(1 << 20);
    const small = pool.acquire(MIN_POOLED_BYTES - 1);
    const huge = pool.acquire(MAX_POOLED_BYTES + 1);
    expect(pool.isLent(small) || pool.isLent(huge)).toBe(false);
    const lent = [pool.acquire(600_000), pool.acquire(600_000), pool.acquire(600_000)];
    for (const b of lent) pool.release(b);
    expect(pool.stats.released).toBe(3);
    expect(pool.idleByteCount).toBe(1 << 20); // one 1 MiB buffer kept, the others left to the GC
  });
});

describe('Log reads from remembered positions', () => {
  it('returns exactly the file bytes for every offset, size limit and high watermark, pooled or not', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 4096 } });
    // batches of varied sizes: 1-40 records of 10-300 bytes
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let i = 0; i < 120; i++) log.append(batch(1 + rand(40), `b${i}`, 10 + rand(290)));
    const end = log.logEndOffset;
    const file = segmentBytes(dir);
    let checked = 0;
    for (const maxBytes of [1, 700, 5000, 70_000, 1 << 20]) {
      for (const pooled of [false, true]) {
        // sequential readers (each read continues at the previous one's end), with and without a high watermark
        for (const hw of [end, Math.floor(end / 2)]) {
          let offset = 0;
          while (offset < hw) {
            const { records } = await log.read(offset, maxBytes, hw, true, pooled);
            expect(records.length).toBeGreaterThan(0);
            expect(Buffer.compare(records, expectedRead(file, offset, maxBytes, hw))).toBe(0);
            const batches = decodeRecordBatches(records);
            expect(batches[batches.length - 1]!.lastOffset).toBeLessThan(hw);
            offset = batches[batches.length - 1]!.lastOffset + 1;
            if (pooled) fetchReadPool.release(records); // as the connection does once the response is written
            checked++;
          }
        }
      }
    }
    // minOneBatch false: a first batch larger than maxBytes is not returned, from a remembered position either
    const firstSize = batchSize(file, 0);
    await log.read(0, 1 << 20); // offset 0's position is remembered (its append, and this read)
    expect((await log.read(0, firstSize - 1, end, false)).records.length).toBe(0);
    expect((await log.read(0, firstSize, end, false)).records.length).toBe(firstSize);
    expect(checked).toBeGreaterThan(50);
    await log.close();
  });

  it('forgets remembered positions when the log is truncated and re-appended with other batch boundaries', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir);
    // New batches of more records, exactly as large as the old ones of 5: after the truncation, a remembered
    // position of the old layout lands on a batch boundary of the new one, on a batch that looks plausible
    // (its offsets reach the one asked for) but is the wrong one.
    const oldSize = batch(5, 'old0', 50).length;
    let shape: { count: number; padding: number } | undefined;
    for (let count = 8; count <= 20 && shape === undefined; count++) {
      for (let padding = 0; padding < 50 && shape === undefined; padding++) {
        if (batch(count, 'new0', padding).length === oldSize) shape = { count, padding };
      }
    }
    expect(shape).toBeDefined();
    const { count, padding } = shape!;
    for (let i = 0; i < 4; i++) log.append(batch(5, `old${i}`, 50)); // offsets 0..19, batches of 5
    for (let offset = 0; offset < 20; offset += 5) await log.read(offset, oldSize); // remembers 0, 5, 10, 15, 20
    await log.truncateTo(5);
    for (let i = 0; i < 4; i++) log.append(batch(count, `new${i}`, padding)); // offsets from 5, batches of `count`
    const file = segmentBytes(dir);
    for (let offset = 0; offset < log.logEndOffset; offset++) {
      const { records } = await log.read(offset, oldSize);
      expect(Buffer.compare(records, expectedRead(file, offset, oldSize, log.logEndOffset))).toBe(0);
      const [b] = decodeRecordBatches(records);
      expect(b!.baseOffset <= offset && offset <= b!.lastOffset).toBe(true);
      expect(b!.records[0]!.value!.toString()).toMatch(offset < 5 ? /^old/ : /^new/);
    }
    await log.close();
  });

  it('serves a reader waiting at the log end the batch appended next', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir);
    log.append(batch(3, 'a'));
    for (let i = 0; i < 10; i++) {
      const end = log.logEndOffset;
      expect((await log.read(end, 1 << 20)).records.length).toBe(0);
      log.append(batch(2, `next${i}`));
      const { records } = await log.read(end, 1 << 20);
      const [b] = decodeRecordBatches(records);
      expect(b!.baseOffset).toBe(end);
      expect(b!.records.map((r) => r.value!.toString())).toEqual([`next${i}-0`, `next${i}-1`]);
    }
    await log.close();
  });

  it('serves the last small batch from memory (no file read), byte for byte what the file holds', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir);
    log.append(batch(3, 'a', 40));
    const reads = vi.spyOn(fs, 'read');
    try {
      for (let i = 0; i < 5; i++) {
        const end = log.logEndOffset;
        await log.read(end, 1 << 20); // a consumer waiting at the log end
        log.append(batch(2, `small${i}`, 60));
        reads.mockClear();
        const { records } = await log.read(end, 1 << 20);
        expect(reads).not.toHaveBeenCalled();
        expect(Buffer.compare(records, expectedRead(segmentBytes(dir), end, 1 << 20, log.logEndOffset))).toBe(0);
        // below the high watermark only, and not at all when the batch is larger than maxBytes without minOneBatch
        expect((await log.read(end, 1 << 20, end)).records.length).toBe(0);
        expect((await log.read(end, 10, log.logEndOffset, false)).records.length).toBe(0);
        expect((await log.read(end, 10, log.logEndOffset, true)).records.length).toBe(records.length);
      }
      // a large batch is read from the file
      const end = log.logEndOffset;
      log.append(batch(300, 'large', 100));
      reads.mockClear();
      const { records } = await log.read(end, 1 << 20);
      expect(reads).toHaveBeenCalled();
      expect(Buffer.compare(records, expectedRead(segmentBytes(dir), end, 1 << 20, log.logEndOffset))).toBe(0);
    } finally {
      reads.mockRestore();
    }
    // after a truncation and a different batch at the same place, the new one is served
    const end = log.logEndOffset;
    log.append(batch(2, 'cut-me', 60));
    await log.read(end, 1 << 20);
    await log.truncateTo(end);
    log.append(batch(4, 'kept', 10));
    const [b] = decodeRecordBatches((await log.read(end, 1 << 20)).records);
    expect(b!.records.map((r) => r.value!.toString())).toEqual(['kept-0'.padEnd(10, '.'), 'kept-1'.padEnd(10, '.'), 'kept-2'.padEnd(10, '.'), 'kept-3'.padEnd(10, '.')]);
    await log.close();
  });
});
