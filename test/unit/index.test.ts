import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { batchLastOffset, batchMaxTimestamp, batchSize } from '../../src/protocol/record-batch-header.js';
import { CorruptIndexError, OffsetIndex } from '../../src/log/offset-index.js';
import { TimeIndex } from '../../src/log/time-index.js';
import { Log } from '../../src/log/log.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-index-test-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

function batch(count: number, ts: number, valueSize = 20): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.alloc(valueSize, 97 + (i % 26)), timestamp: ts + i })),
  );
}

function offsetIndexEntries(file: string, base: number): [number, number][] {
  const b = fs.readFileSync(file);
  expect(b.length % 8).toBe(0);
  const out: [number, number][] = [];
  for (let p = 0; p < b.length; p += 8) out.push([base + b.readInt32BE(p), b.readInt32BE(p + 4)]);
  return out;
}

function timeIndexEntries(file: string, base: number): [number, number][] {
  const b = fs.readFileSync(file);
  expect(b.length % 12).toBe(0);
  const out: [number, number][] = [];
  for (let p = 0; p < b.length; p += 12) out.push([Number(b.readBigInt64BE(p)), base + b.readInt32BE(p + 8)]);
  return out;
}

describe('OffsetIndex', () => {
  it('appends 8-byte big-endian entries, looks up the greatest entry <= target, truncates, reloads', async () => {
    const file = path.join(tmp, '00000000000000000100.index');
    const idx = new OffsetIndex(file, 100, 1024);
    idx.createEmpty();
    expect(idx.lookup(150)).toEqual({ offset: 100, position: 0 });
    idx.append(105, 400);
    idx.append(110, 900);
    idx.append(120, 1500);
    expect(() => idx.append(120, 1600)).toThrow();
    expect(fs.readFileSync(file).toString('hex')).toBe('00000005' + '00000190' + '0000000a' + '00000384' + '00000014' + '000005dc');
    expect(idx.lookup(99)).toEqual({ offset: 100, position: 0 });
    expect(idx.lookup(104)).toEqual({ offset: 100, position: 0 });
    expect(idx.lookup(105)).toEqual({ offset: 105, position: 400 });
    expect(idx.lookup(119)).toEqual({ offset: 110, position: 900 });
    expect(idx.lookup(10_000)).toEqual({ offset: 120, position: 1500 });
    expect(idx.lastOffset).toBe(120);

    idx.truncateTo(110);
    expect(idx.entries).toBe(1);
    expect(fs.statSync(file).size).toBe(8);
    idx.close();

    const again = new OffsetIndex(file, 100, 1024);
    await again.ensureLoaded();
    expect(again.entries).toBe(1);
    expect(again.entry(0)).toEqual({ offset: 105, position: 400 });
    again.close();
  });

  it('is full at segment.index.bytes / 8 entries', () => {
    const idx = new OffsetIndex(path.join(tmp, 'a.index'), 0, 20);
    idx.createEmpty();
    expect(idx.maxEntries).toBe(2);
    idx.append(1, 10);
    idx.append(2, 20);
    expect(idx.isFull).toBe(true);
    expect(() => idx.append(3, 30)).toThrow(/full/);
    idx.close();
  });

  it('rejects a file whose size is not a multiple of 8 or whose entries do not increase', async () => {
    const file = path.join(tmp, 'b.index');
    fs.writeFileSync(file, Buffer.alloc(12));
    await expect(new OffsetIndex(file, 0, 1024).ensureLoaded()).rejects.toBeInstanceOf(CorruptIndexError);
    const b = Buffer.alloc(16);
    b.writeInt32BE(5, 0);
    b.writeInt32BE(100, 4);
    b.writeInt32BE(3, 8);
    b.writeInt32BE(200, 12);
    fs.writeFileSync(file, b);
    await expect(new OffsetIndex(file, 0, 1024).ensureLoaded()).rejects.toBeInstanceOf(CorruptIndexError);
  });
});

describe('TimeIndex', () => {
  it('appends 12-byte entries only when the timestamp grows, looks up by timestamp, truncates by offset', async () => {
    const file = path.join(tmp, '00000000000000000010.timeindex');
    const idx = new TimeIndex(file, 10, 1200);
    idx.createEmpty();
    expect(idx.lastEntry()).toEqual({ timestamp: -1, offset: 10 });
    idx.maybeAppend(-1, 10); // never indexed
    idx.maybeAppend(1000, 12);
    idx.maybeAppend(1000, 14); // same timestamp: skipped
    idx.maybeAppend(2000, 20);
    idx.maybeAppend(3000, 30);
    expect(idx.entries).toBe(3);
    expect(timeIndexEntries(file, 10)).toEqual([
      [1000, 12],
      [2000, 20],
      [3000, 30],
    ]);
    expect(idx.lookup(999)).toEqual({ timestamp: -1, offset: 10 });
    expect(idx.lookup(1000)).toEqual({ timestamp: 1000, offset: 12 });
    expect(idx.lookup(2500)).toEqual({ timestamp: 2000, offset: 20 });
    expect(idx.lookup(1e13)).toEqual({ timestamp: 3000, offset: 30 });
    expect(() => idx.maybeAppend(4000, 25)).toThrow();

    idx.truncateTo(20);
    expect(idx.entries).toBe(1);
    expect(fs.statSync(file).size).toBe(12);
    idx.close();
    const again = new TimeIndex(file, 10, 1200);
    await again.ensureLoaded();
    expect(again.lastEntry()).toEqual({ timestamp: 1000, offset: 12 });
    again.close();
  });
});

describe('segment indexes', () => {
  /** Kafka's LogSegment.append rule, replayed over the batch sizes. */
  function expectedEntries(batches: Buffer[], interval: number): { index: [number, number][]; time: [number, number][] } {
    const index: [number, number][] = [];
    const time: [number, number][] = [];
    let bytesSince = 0;
    let pos = 0;
    let maxTs = -1;
    let offsetOfMax = 0;
    for (const b of batches) {
      const last = batchLastOffset(b);
      if (batchMaxTimestamp(b) > maxTs) {
        maxTs = batchMaxTimestamp(b);
        offsetOfMax = last;
      }
      if (bytesSince > interval) {
        index.push([last, pos]);
        if (time.length === 0 || maxTs > time[time.length - 1]![0]) time.push([maxTs, offsetOfMax]);
        bytesSince = 0;
      }
      bytesSince += batchSize(b);
      pos += batchSize(b);
    }
    return { index, time };
  }

  it('writes an entry every index.interval.bytes with the right relative offsets and positions', async () => {
    const dir = path.join(tmp, 'idx-0');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 300 } });
    const appended: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const b = batch(1 + (i % 4), 10_000 + i * 10, 30 + (i % 3) * 20);
      log.append(b);
      appended.push(b);
    }
    const want = expectedEntries(appended, 300);
    expect(want.index.length).toBeGreaterThan(5);
    const prefix = path.join(dir, '00000000000000000000');
    expect(offsetIndexEntries(prefix + '.index', 0)).toEqual(want.index);
    expect(timeIndexEntries(prefix + '.timeindex', 0)).toEqual(want.time);
    // the first batch of a segment never gets an entry
    expect(want.index[0]![1]).toBeGreaterThan(0);
    const indexBytes = fs.readFileSync(prefix + '.index');
    await log.close();

    // clean close adds only the final time-index entry; the offset index is unchanged
    expect(fs.readFileSync(prefix + '.index').equals(indexBytes)).toBe(true);
    const lastTs = timeIndexEntries(prefix + '.timeindex', 0).at(-1)!;
    expect(lastTs[0]).toBe(Math.max(...appended.map((b) => batchMaxTimestamp(b))));

    // a rebuild (index deleted, unclean open) produces the same offset index as the appends did
    fs.rmSync(prefix + '.index');
    fs.rmSync(prefix + '.timeindex');
    const reopened = await Log.open(dir, { config: { indexIntervalBytes: 300 } });
    expect(fs.readFileSync(prefix + '.index').equals(indexBytes)).toBe(true);
    expect(timeIndexEntries(prefix + '.timeindex', 0)).toEqual(want.time);
    expect(reopened.logEndOffset).toBe(log.logEndOffset);

    // appending after reopen continues the same rule as if the log had never closed
    const more: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const b = batch(2, 20_000 + i, 50);
      reopened.append(b);
      more.push(b);
    }
    const wantAll = expectedEntries([...appended, ...more], 300);
    expect(offsetIndexEntries(prefix + '.index', 0)).toEqual(wantAll.index);
    await reopened.close();
  });

  it('uses relative offsets for segments with a non-zero base offset', async () => {
    const dir = path.join(tmp, 'rel-0');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 100, segmentBytes: 1200 } });
    for (let i = 0; i < 30; i++) log.append(batch(2, 1000 + i, 60));
    const second = log.segments[1]!;
    expect(second.baseOffset).toBeGreaterThan(0);
    const raw = fs.readFileSync(second.offsetIndex.file);
    expect(raw.length).toBeGreaterThan(0);
    const rel = raw.readInt32BE(0);
    expect(rel).toBeLessThan(40);
    expect(offsetIndexEntries(second.offsetIndex.file, second.baseOffset)[0]![0]).toBe(second.baseOffset + rel);
    await log.close();
  });

  it('rebuilds an index whose size is not a multiple of the entry size', async () => {
    const dir = path.join(tmp, 'bad-0');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 100 } });
    for (let i = 0; i < 20; i++) log.append(batch(1, 1000 + i, 80));
    await log.close();
    const file = path.join(dir, '00000000000000000000.index');
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([good, Buffer.from([1, 2, 3])]));
    const reopened = await Log.open(dir, { hadCleanShutdown: true, recoveryPoint: 20, config: { indexIntervalBytes: 100 } });
    expect(fs.readFileSync(file).equals(good)).toBe(true);
    expect(reopened.logEndOffset).toBe(20);
    const r = await reopened.read(13, 1);
    expect(batchLastOffset(r.records)).toBe(13);
    await reopened.close();
  });
});
