/**
 * The log cleaner (src/log/log-cleaner.ts, src/log/cleaner/): latest value per key, offsets kept (gaps), tombstones
 * and delete.retention.ms, the active segment never touched, min.cleanable.dirty.ratio and min.compaction.lag.ms,
 * the .cleaned/.swap protocol across crashes, recovery of compacted batches, compressed batches, the checkpoint,
 * the LogManager's background cleaner, and the keyless-record check for compacted topics.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildRecordBatch, checkBatchStructure, decodeRecordBatches, type DecodedBatch } from '../../src/protocol/records.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { Log } from '../../src/log/log.js';
import { LogManager } from '../../src/log/log-manager.js';
import type { LogConfig } from '../../src/log/log-config.js';
import { CLEANER_OFFSET_CHECKPOINT_FILE, LogCleaner, cleanLog, cleanableRange } from '../../src/log/log-cleaner.js';
import { deleteOldSegments } from '../../src/log/retention.js';
import { GroupCoordinator, type OffsetsLog } from '../../src/group/group-coordinator.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { waitFor } from '../helpers/wait.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-cleaner-test-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

type KV = [key: string | null, value: string | null, ts?: number];
const T = 1_000_000;

function batch(records: KV[], compression: number = CompressionType.none): Buffer {
  return buildRecordBatch(
    records.map(([k, v, ts]) => ({
      key: k === null ? null : Buffer.from(k),
      value: v === null ? null : Buffer.from(v),
      timestamp: ts ?? T,
    })),
    { compression },
  );
}

const COMPACT: Partial<LogConfig> = { cleanupPolicy: ['compact'], fileDeleteDelayMs: 0, minCleanableDirtyRatio: 0.01 };

/** A log with one segment per element of `segments` (each a list of batches), the last one active. */
async function compactedLog(segments: KV[][][], config: Partial<LogConfig> = {}, dir = path.join(tmp, 't-0'), compression?: number): Promise<Log> {
  const log = await Log.open(dir, { config: { ...COMPACT, ...config } });
  segments.forEach((batches, i) => {
    if (i > 0) log.roll();
    for (const b of batches) log.append(batch(b, compression));
  });
  return log;
}

async function readAll(log: Log): Promise<DecodedBatch[]> {
  const out: DecodedBatch[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, 1 << 20);
    if (r.records.length === 0) break;
    const batches = decodeRecordBatches(r.records);
    out.push(...batches);
    offset = batches[batches.length - 1]!.lastOffset + 1;
  }
  return out;
}

const records = (batches: DecodedBatch[]): string[] =>
  batches.flatMap((b) => b.records.map((r) => `${r.key?.toString() ?? 'null'}=${r.value?.toString() ?? 'null'}@${r.offset}`));

async function clean(log: Log, now = T + 1000): Promise<Awaited<ReturnType<typeof cleanLog>>> {
  const range = await cleanableRange(log, undefined, now);
  expect(range).not.toBeNull();
  return cleanLog(log, range!, { time: () => now });
}

describe('cleanLog', () => {
  it('keeps the latest record per key, with its offset, and leaves the active segment alone', async () => {
    const log = await compactedLog([
      [[['a', '1'], ['b', '1'], ['c', '1']]],
      [[['a', '2'], ['b', '2']]],
      [[['a', '3']]],
      [[['c', '9']], [['a', '4']]],
    ]);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([0, 3, 5, 6]);
    const activeBytes = fs.readFileSync(log.activeSegment.logFile);
    const stats = await clean(log);
    expect(stats.endOffset).toBe(6);
    expect(stats.segmentsCleaned).toBe(3);
    // c=1 stays: its newer value is in the active segment, which the offset map does not cover
    const batches = await readAll(log);
    expect(records(batches)).toEqual(['c=1@2', 'b=2@4', 'a=3@5', 'c=9@6', 'a=4@7']);
    // batches keep their base offset and last offset: offsets have gaps, nothing moved
    expect(batches.map((b) => [b.baseOffset, b.lastOffset, b.recordsCount])).toEqual([
      [0, 2, 1],
      [3, 4, 1],
      [5, 5, 1],
      [6, 6, 1],
      [7, 7, 1],
    ]);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([0, 6]);
    expect(fs.readFileSync(log.activeSegment.logFile).equals(activeBytes)).toBe(true);
    expect(log.logEndOffset).toBe(8);
    // appends continue after it
    expect(log.append(batch([['d', '1']])).baseOffset).toBe(8);
    // no leftovers: the .deleted files of the replaced segments go at once here (file.delete.delay.ms 0)
    const leftovers = (): string[] => fs.readdirSync(log.dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f));
    await waitFor(
      () => {
        expect(leftovers()).toEqual([]);
        return true;
      },
      { message: 'the replaced segments to be deleted' },
    );
    await log.close();
  });

  it('keeps producer id, epoch, sequence and the base timestamp of a rewritten batch; its CRC is valid', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: COMPACT });
    const b = buildRecordBatch(
      [
        { key: Buffer.from('x'), value: Buffer.from('old'), timestamp: T },
        { key: Buffer.from('y'), value: Buffer.from('keep'), timestamp: T + 5 },
      ],
      { producerId: 42, producerEpoch: 3, baseSequence: 0 },
    );
    log.append(b);
    log.roll();
    log.append(batch([['x', 'new', T + 10]]));
    log.roll();
    log.append(batch([['z', 'active']]));
    await clean(log);
    const [first] = await readAll(log);
    expect(first).toMatchObject({ baseOffset: 0, lastOffset: 1, producerId: 42, producerEpoch: 3, baseSequence: 0, baseTimestamp: T, maxTimestamp: T + 5 });
    expect(first!.records.map((r) => [r.key!.toString(), r.offset, r.timestamp])).toEqual([['y', 1, T + 5]]);
    const raw = (await log.read(0, 1 << 20)).records;
    expect(checkBatchStructure(raw, 0, raw.length)).toBeNull();
    await log.close();
  });

  it('removes tombstones older than delete.retention.ms and keeps newer ones', async () => {
    const segments: KV[][][] = [[[['a', '1', T], ['b', '1', T]]], [[['a', null, T + 100]]], [[['c', '1']]]];
    const young = await compactedLog(segments, { deleteRetentionMs: 5_000 }, path.join(tmp, 'young-0'));
    const s1 = await clean(young, T + 1_000);
    expect(s1.tombstonesRemoved).toBe(0);
    expect(records(await readAll(young))).toEqual(['b=1@1', 'a=null@2', 'c=1@3']);
    // later, past the delete retention, the tombstone goes too
    const s2 = await clean(young, T + 100 + 5_001);
    expect(s2.tombstonesRemoved).toBe(1);
    expect(records(await readAll(young))).toEqual(['b=1@1', 'c=1@3']);
    await young.close();
  });

  it('cleans compressed batches into batches with the same codec', async () => {
    for (const codec of [CompressionType.gzip, CompressionType.snappy, CompressionType.lz4, CompressionType.zstd]) {
      const log = await compactedLog(
        [[[['a', '1'], ['b', '1'], ['c', '1']]], [[['a', '2'], ['c', '2']]], [[['z', 'z']]]],
        {},
        path.join(tmp, `c${codec}-0`),
        codec,
      );
      await clean(log);
      const batches = await readAll(log);
      expect(records(batches)).toEqual(['b=1@1', 'a=2@3', 'c=2@4', 'z=z@5']);
      for (const b of batches) expect(b.compression).toBe(codec);
      await log.close();
    }
  });

  it('drops keyless records and batches left empty', async () => {
    const log = await compactedLog([[[['a', '1']], [[null, 'nokey']], [['a', '2']]], [[['b', '1']]]]);
    await clean(log);
    const batches = await readAll(log);
    expect(records(batches)).toEqual(['a=2@2', 'b=1@3']);
    await log.close();
  });

  it('groups small segments into one, named after the first', async () => {
    const segs: KV[][][] = [];
    for (let i = 0; i < 6; i++) segs.push([[[`k${i % 2}`, `v${i}`]]]);
    segs.push([[['active', 'x']]]);
    const log = await compactedLog(segs);
    await clean(log);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([0, 6]);
    expect(records(await readAll(log))).toEqual(['k0=v4@4', 'k1=v5@5', 'active=x@6']);
    // the rebuilt indexes work: reads at every offset find the right batch
    for (const [offset, first] of [[0, 4], [4, 4], [5, 5], [6, 6]] as const) {
      const r = decodeRecordBatches((await log.read(offset, 1)).records);
      expect(r[0]!.records[0]!.offset).toBe(first);
    }
    await log.close();
  });

  it('survives recovery: compacted batches (fewer records than offsets) are valid after an unclean shutdown', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await compactedLog([[[['a', '1'], ['b', '1'], ['a', '2']]], [[['b', '2']]], [[['c', '1']]]], {}, dir);
    await clean(log);
    const before = records(await readAll(log));
    log.closeWithoutFlush();
    const reopened = await Log.open(dir, { config: COMPACT, hadCleanShutdown: false, recoveryPoint: 0 });
    expect(records(await readAll(reopened))).toEqual(before);
    expect(before).toEqual(['a=2@2', 'b=2@3', 'c=1@4']);
    expect(reopened.logEndOffset).toBe(5);
    // a missing index is rebuilt from the compacted segment too
    await reopened.close();
    fs.rmSync(path.join(dir, '00000000000000000000.index'));
    const again = await Log.open(dir, { config: COMPACT, hadCleanShutdown: false, recoveryPoint: 0 });
    expect(records(await readAll(again))).toEqual(before);
    await again.close();
  });
});

describe('crash during a clean', () => {
  const SEGMENTS: KV[][][] = [[[['a', '1'], ['b', '1']]], [[['a', '2']]], [[['b', '2']], [['c', '1']]], [[['d', '1']]]];

  it('leftover .cleaned files are removed and the old segments kept', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await compactedLog(SEGMENTS, {}, dir);
    const before = records(await readAll(log));
    await log.close();
    fs.writeFileSync(path.join(dir, '00000000000000000000.log.cleaned'), 'half a segment');
    fs.writeFileSync(path.join(dir, '00000000000000000000.index.cleaned'), 'x');
    const reopened = await Log.open(dir, { config: COMPACT, hadCleanShutdown: false });
    expect(records(await readAll(reopened))).toEqual(before);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.cleaned'))).toEqual([]);
    await reopened.close();
  });

  it('a .swap segment left by a crash completes the swap at the next open', async () => {
    // the same log twice: one cleaned normally (the reference), one "crashed" after the .swap rename
    const ref = await compactedLog(SEGMENTS, {}, path.join(tmp, 'ref', 't-0'));
    await clean(ref);
    const expected = records(await readAll(ref));
    expect(expected).toEqual(['a=2@2', 'b=2@3', 'c=1@4', 'd=1@5']);
    const cleanedLog = fs.readFileSync(ref.segments[0]!.logFile);
    await ref.close();

    for (const stage of ['swap-only', 'old-partly-deleted', 'old-deleted']) {
      const dir = path.join(tmp, stage, 't-0');
      const log = await compactedLog(SEGMENTS, {}, dir);
      await log.close();
      const p = (base: number, ext: string): string => path.join(dir, `${String(base).padStart(20, '0')}.${ext}`);
      fs.writeFileSync(p(0, 'log.swap'), cleanedLog); // indexes of the swap segment did not make it: rebuilt
      if (stage !== 'swap-only') {
        fs.renameSync(p(0, 'log'), p(0, 'log.deleted'));
        fs.renameSync(p(0, 'index'), p(0, 'index.deleted'));
      }
      if (stage === 'old-deleted') for (const b of [2, 3]) fs.renameSync(p(b, 'log'), p(b, 'log.deleted'));
      const reopened = await Log.open(dir, { config: COMPACT, hadCleanShutdown: false });
      expect(records(await readAll(reopened))).toEqual(expected);
      expect(reopened.segments.map((s) => s.baseOffset)).toEqual([0, 5]);
      expect(fs.readdirSync(dir).filter((f) => /\.(swap|deleted|cleaned)$/.test(f))).toEqual([]);
      await reopened.close();
    }
  });
});

describe('cleanableRange and the LogCleaner', () => {
  it('cleans only segments wholly below the high watermark', async () => {
    const log = await compactedLog([[[['a', '1']]], [[['a', '2']]], [[['a', '3']]], [[['a', '4']]]]);
    expect(await cleanableRange(log, undefined)).toMatchObject({ firstUncleanableOffset: 3 });
    // High watermark 0: nothing is below it; 1: segment [0, 1); 2: segments up to 2.
    expect(await cleanableRange(log, undefined, Date.now(), 0)).toBeNull();
    expect(await cleanableRange(log, undefined, Date.now(), 1)).toMatchObject({ firstUncleanableOffset: 1 });
    expect(await cleanableRange(log, undefined, Date.now(), 2)).toMatchObject({ firstUncleanableOffset: 2 });
    await log.close();
  });

  it('measures the dirty ratio from the cleaner checkpoint and honours min.cleanable.dirty.ratio', async () => {
    const log = await compactedLog([[[['a', '1']]], [[['a', '2']]], [[['a', '3']]]], { minCleanableDirtyRatio: 0.5 });
    const cleaner = new LogCleaner({ logDirs: [tmp], allLogs: () => [log] }, { backoffMs: 60_000 });
    await cleaner.start();
    const r = await cleanableRange(log, undefined);
    expect(r).toMatchObject({ firstDirtyOffset: 0, firstUncleanableOffset: 2, cleanBytes: 0, dirtyRatio: 1 });
    const stats = await cleaner.cleanOnce();
    expect(stats?.endOffset).toBe(2);
    expect(cleaner.checkpointOf(log)).toBe(2);
    expect(fs.readFileSync(path.join(tmp, CLEANER_OFFSET_CHECKPOINT_FILE), 'utf8')).toBe('0\n1\nt 0 2\n');
    // nothing dirty now
    expect(await cleaner.cleanOnce()).toBeNull();
    // a small dirty part below the ratio: not cleaned; with a lower ratio it is
    log.roll();
    log.append(batch([['b', '1']]));
    const r2 = await cleanableRange(log, cleaner.checkpointOf(log));
    expect(r2).toMatchObject({ firstDirtyOffset: 2, firstUncleanableOffset: 3 });
    expect(r2!.dirtyRatio).toBeGreaterThan(0);
    expect(r2!.dirtyRatio).toBeLessThan(0.6);
    log.updateConfig({ minCleanableDirtyRatio: 0.99 });
    expect(await cleaner.cleanOnce()).toBeNull();
    log.updateConfig({ minCleanableDirtyRatio: 0.1 });
    expect((await cleaner.cleanOnce())?.endOffset).toBe(3);
    await cleaner.stop();
    await log.close();
  });

  it('honours min.compaction.lag.ms: segments with newer records are not cleaned', async () => {
    const log = await compactedLog(
      [[[['a', '1', T]]], [[['a', '2', T + 10_000]]], [[['a', '3', T + 20_000]]]],
      { minCompactionLagMs: 5_000 },
    );
    // now = T + 12000: the segment at offset 1 (largest timestamp T+10000) is within the lag
    const r = await cleanableRange(log, undefined, T + 12_000);
    expect(r).toMatchObject({ firstDirtyOffset: 0, firstUncleanableOffset: 1 });
    await cleanLog(log, r!, { time: () => T + 12_000 });
    expect(records(await readAll(log))).toEqual(['a=1@0', 'a=2@1', 'a=3@2']);
    // later, both non-active segments are cleanable
    const r2 = await cleanableRange(log, 1, T + 30_000);
    expect(r2).toMatchObject({ firstUncleanableOffset: 2 });
    await cleanLog(log, r2!, { time: () => T + 30_000 });
    expect(records(await readAll(log))).toEqual(['a=2@1', 'a=3@2']);
    await log.close();
  });

  it('ignores logs without cleanup.policy compact', async () => {
    const log = await compactedLog([[[['a', '1']]], [[['a', '2']]]], { cleanupPolicy: ['delete'] });
    expect(await cleanableRange(log, undefined)).toBeNull();
    await log.close();
  });

  it('keeps reads in flight working across a swap', async () => {
    const log = await compactedLog([[[['a', '1'], ['b', '1']]], [[['a', '2']]], [[['c', '1']]]]);
    const pending = log.read(0, 1 << 20);
    await clean(log);
    const r = decodeRecordBatches((await pending).records);
    expect(r.length).toBeGreaterThan(0);
    expect(records(await readAll(log))).toEqual(['b=1@1', 'a=2@2', 'c=1@3']);
    await log.close();
  });

  it('runs in the background of a LogManager with log.cleaner.enable and writes cleaner-offset-checkpoint', async () => {
    const mgr = await LogManager.open({ logDirs: [tmp], brokerId: 0, cleaner: { enable: true, backoffMs: 20 }, retentionCheckIntervalMs: 0 });
    const log = await mgr.createLog('compacted', 0, Buffer.alloc(16, 7), COMPACT);
    for (let i = 0; i < 20; i++) {
      log.append(batch([['k', `v${i}`]]));
      log.roll();
    }
    log.append(batch([['last', 'x']]));
    const file = path.join(tmp, CLEANER_OFFSET_CHECKPOINT_FILE);
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('compacted 0 20'), {
      message: 'the background cleaner to clean the log and checkpoint offset 20',
    });
    expect(records(await readAll(log))).toEqual(['k=v19@19', 'last=x@20']);
    await mgr.close();
    const again = await LogManager.open({ logDirs: [tmp], brokerId: 0, retentionCheckIntervalMs: 0 });
    expect(records(await readAll(again.getLog('compacted', 0)!))).toEqual(['k=v19@19', 'last=x@20']);
    await again.close();
  });
});

describe('cleanup.policy=compact,delete', () => {
  it('is both compacted and subject to retention', async () => {
    const log = await compactedLog(
      [[[['a', '1', T]]], [[['a', '2', T + 10_000], ['b', '1', T + 10_000]]], [[['b', '2', T + 20_000]]], [[['c', '1', T + 30_000]]]],
      { cleanupPolicy: ['compact', 'delete'], retentionMs: 15_000 },
    );
    await clean(log, T + 20_000);
    expect(records(await readAll(log))).toEqual(['a=2@1', 'b=2@3', 'c=1@4']);
    // retention by time still removes whole old segments (here the cleaned one holding a=2 and b=2 is recent enough)
    const r = await deleteOldSegments(log, T + 30_000);
    expect(r.count).toBe(0);
    const r2 = await deleteOldSegments(log, T + 40_000);
    expect(r2.count).toBe(1);
    expect(records(await readAll(log))).toEqual(['c=1@4']);
    await log.close();
  });
});

describe('slicing', () => {
  it('yields to the event loop every batchesPerSlice batches while it cleans', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { ...COMPACT, segmentBytes: 2 << 20 } });
    const value = Buffer.alloc(80, 'v');
    const BATCHES = 800;
    for (let b = 0; b < BATCHES; b++) {
      log.append(buildRecordBatch(Array.from({ length: 100 }, (_, i) => ({ key: Buffer.from(`k${(b * 100 + i) % 5000}`), value, timestamp: T }))));
    }
    log.roll();
    log.append(batch([['last', 'x']]));
    expect(log.segments.length).toBeGreaterThan(3);
    const range = await cleanableRange(log, undefined, T + 1000);
    // The cleaner yields with setImmediate; count its yields (the spy calls through, so the clean goes on as usual).
    const spy = vi.spyOn(globalThis, 'setImmediate');
    let yields: number;
    try {
      const stats = await cleanLog(log, range!, { time: () => T + 1000, batchesPerSlice: 50 });
      expect(stats.recordsKept).toBe(5000);
    } finally {
      yields = spy.mock.calls.length;
      spy.mockRestore();
    }
    // It yields at least once every 50 batches it reads: the offset-map pass alone reads all 800 dirty batches (the
    // rewrite pass yields too, per segment). Without slicing there would be no yield at all.
    // (How long the event loop waits meanwhile is measured by bench/cleaner.mjs.)
    expect(yields).toBeGreaterThanOrEqual(BATCHES / 50);
    await log.close();
  });
});

describe('__consumer_offsets after compaction', () => {
  it('the group coordinator replays a compacted offsets log (with gaps) to the latest committed offsets', async () => {
    const log = await Log.open(path.join(tmp, '__consumer_offsets-0'), { config: COMPACT });
    const offsetsLog: OffsetsLog = {
      appendRecords: (_t, _p, records) => {
        const info = log.append(Buffer.from(records!));
        return { errorCode: ErrorCode.NONE, baseOffset: info.baseOffset, logAppendTime: -1, logStartOffset: info.logStartOffset };
      },
      fetchPartition: async (_t, _p, offset, maxBytes) => {
        const r = await log.read(offset, maxBytes);
        const end = log.logEndOffset;
        return { errorCode: ErrorCode.NONE, highWatermark: end, lastStableOffset: end, logStartOffset: r.logStartOffset, records: r.records.length > 0 ? r.records : null };
      },
    };
    const make = () => new GroupCoordinator({ log: offsetsLog, numPartitions: () => 1 });
    const gc = make();
    await gc.setOwnedPartitions([0]);
    const commit = (topic: string, partition: number, offset: number) => ({
      topic, partition, offset, leaderEpoch: -1, metadata: null, commitTimestamp: -1, expireTimestamp: -1,
    });
    for (let i = 1; i <= 20; i++) {
      await gc.commitOffsets('g1', '', null, -1, [commit('t', 0, i * 10), commit('t', 1, i)]);
      await gc.commitOffsets('g2', '', null, -1, [commit('u', 0, i)]);
      log.roll();
    }
    gc.close();
    const before = log.size;
    const stats = await clean(log, Date.now());
    expect(stats.recordsKept).toBe(3);
    expect(log.size).toBeLessThan(before / 5);
    const reloaded = make();
    await reloaded.setOwnedPartitions([0]);
    const o1 = reloaded.fetchOffsets('g1', null).offsets.map((o) => [o.topic, o.partition, o.offset]).sort();
    expect(o1).toEqual([['t', 0, 200], ['t', 1, 20]]);
    expect(reloaded.fetchOffsets('g2', null).offsets.map((o) => o.offset)).toEqual([20]);
    reloaded.close();
    await log.close();
  });
});
