import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch, decodeRecordBatches, verifyBatchCrc } from '../../src/protocol/records.js';
import { batchBaseOffset, batchLastOffset, batchSize, PARTITION_LEADER_EPOCH } from '../../src/protocol/record-batch-header.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { uuidToString } from '../../src/protocol/primitives.js';
import { Log, parseTopicPartitionDirName } from '../../src/log/log.js';
import { filenamePrefixFromOffset } from '../../src/log/log-segment.js';
import {
  CheckpointFormatError,
  LeaderEpochCheckpointFile,
  OffsetCheckpointFile,
  formatOffsetCheckpoint,
  parseOffsetCheckpoint,
} from '../../src/log/checkpoint.js';
import { CLEAN_SHUTDOWN_FILE, LogManager } from '../../src/log/log-manager.js';
import { DEFAULT_LOG_CONFIG, logConfig } from '../../src/log/log-config.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-log-test-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** A batch of `count` records with values `<tag>-<i>` and timestamps ts, ts+1, ... */
function batch(count: number, tag: string, ts = 1_000_000, valueSize = 0): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`${tag}-${i}`.padEnd(valueSize, '.')),
      timestamp: ts + i,
    })),
  );
}

/** Reads the whole log [logStart, LEO) through Log.read and returns every batch's (base, last, values). */
async function readAll(log: Log, maxBytes = 1 << 20): Promise<{ base: number; last: number; values: string[] }[]> {
  const out: { base: number; last: number; values: string[] }[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, maxBytes);
    expect(records.length).toBeGreaterThan(0);
    for (const b of decodeRecordBatches(records)) {
      expect(verifyBatchCrc(records, 0)).toBe(true);
      out.push({ base: b.baseOffset, last: b.lastOffset, values: b.records.map((r) => r.value!.toString()) });
      offset = b.lastOffset + 1;
    }
  }
  return out;
}

const logFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();

describe('Log append and read', () => {
  it('assigns offsets in place and round-trips across several segment rolls', async () => {
    const dir = path.join(tmp, 'my.topic_with-dashes-3');
    const log = await Log.open(dir, { config: { segmentBytes: 600, indexIntervalBytes: 128 } });
    expect(log.topic).toBe('my.topic_with-dashes');
    expect(log.partition).toBe(3);
    for (let i = 0; i < 40; i++) {
      const b = batch(3, `b${i}`);
      const info = log.append(b, 7);
      expect(info).toMatchObject({ baseOffset: i * 3, lastOffset: i * 3 + 2, logAppendTime: -1, logStartOffset: 0 });
      // rewritten in the caller's buffer, outside the CRC
      expect(batchBaseOffset(b)).toBe(i * 3);
      expect(b.readInt32BE(PARTITION_LEADER_EPOCH)).toBe(7);
      expect(verifyBatchCrc(b)).toBe(true);
    }
    expect(log.logEndOffset).toBe(120);
    expect(log.segments.length).toBeGreaterThan(4);
    for (const seg of log.segments) expect(seg.size).toBeLessThanOrEqual(600);

    const files = logFiles(dir);
    expect(files.length).toBe(log.segments.length);
    for (const f of files) expect(f).toMatch(/^\d{20}\.log$/);
    expect(files[0]).toBe('00000000000000000000.log');
    expect(files.map((f) => Number(f.slice(0, 20)))).toEqual(log.segments.map((s) => s.baseOffset));
    expect(filenamePrefixFromOffset(42)).toBe('00000000000000000042');

    const all = await readAll(log);
    expect(all.length).toBe(40);
    all.forEach((b, i) => {
      expect(b.base).toBe(i * 3);
      expect(b.values).toEqual([`b${i}-0`, `b${i}-1`, `b${i}-2`]);
    });
    // small reads walk the same data one batch at a time
    expect(await readAll(log, 1)).toEqual(all);
    await log.close();
  });

  it('reading from the middle of a batch returns that whole batch; maxBytes below one batch still returns one', async () => {
    const log = await Log.open(path.join(tmp, 't-0'));
    log.append(batch(3, 'a')); // 0..2
    log.append(batch(3, 'b')); // 3..5
    log.append(batch(3, 'c')); // 6..8
    const mid = await log.read(4, 1 << 20);
    expect(batchBaseOffset(mid.records)).toBe(3);
    expect(decodeRecordBatches(mid.records).map((b) => b.baseOffset)).toEqual([3, 6]);

    const one = await log.read(4, 10);
    expect(batchBaseOffset(one.records)).toBe(3);
    expect(one.records.length).toBe(batchSize(one.records));
    expect(decodeRecordBatches(one.records)).toHaveLength(1);

    // maxBytes covering one and a half batches: whole batches only
    const size = batchSize(one.records);
    const oneAndHalf = await log.read(0, size + Math.floor(size / 2));
    expect(oneAndHalf.records.length).toBe(size);

    // without minOneBatch (not the first partition of a response), a too-large batch is not returned
    expect((await log.read(4, 10, undefined, false)).records.length).toBe(0);

    expect(mid.logEndOffset).toBe(9);
    expect(mid.logStartOffset).toBe(0);
    await log.close();
  });

  it('never returns batches at or after maxOffset (the high watermark)', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { segmentBytes: 250 } });
    for (let i = 0; i < 6; i++) log.append(batch(2, `x${i}`)); // [0,1] [2,3] ... [10,11]
    const upTo6 = await log.read(0, 1 << 20, 6);
    expect(decodeRecordBatches(upTo6.records).map((b) => b.lastOffset).every((l) => l < 6)).toBe(true);
    let collected: number[] = [];
    let offset = 0;
    for (;;) {
      const r = await log.read(offset, 1 << 20, 6);
      if (r.records.length === 0) break;
      const bs = decodeRecordBatches(r.records);
      collected = collected.concat(bs.map((b) => b.baseOffset));
      offset = bs.at(-1)!.lastOffset + 1;
    }
    expect(collected).toEqual([0, 2, 4]);
    // maxOffset inside a batch excludes that batch
    expect(decodeRecordBatches((await log.read(0, 1 << 20, 3)).records).map((b) => b.baseOffset)).toEqual([0]);
    expect((await log.read(6, 1 << 20, 6)).records.length).toBe(0);
    expect((await log.read(12, 1 << 20)).records.length).toBe(0); // at LEO
    await expect(log.read(13, 100)).rejects.toMatchObject({ code: ErrorCode.OFFSET_OUT_OF_RANGE });
    await log.close();
  });

  it('validates batches before writing anything', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { maxMessageBytes: 200 } });
    const bad = batch(2, 'x');
    bad[bad.length - 1] ^= 0xff;
    expect(() => log.append(bad)).toThrow(KafkaError);
    try {
      log.append(bad);
    } catch (e) {
      expect((e as KafkaError).code).toBe(ErrorCode.CORRUPT_MESSAGE);
    }
    const big = batch(1, 'y', 0, 500);
    try {
      log.append(big);
      expect.unreachable();
    } catch (e) {
      expect((e as KafkaError).code).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    }
    // two good batches then a torn one: nothing is written
    const torn = Buffer.concat([batch(1, 'a'), batch(1, 'b'), batch(1, 'c').subarray(0, 30)]);
    expect(() => log.append(torn)).toThrow(KafkaError);
    expect(log.logEndOffset).toBe(0);
    expect(log.size).toBe(0);
    // several batches in one call get consecutive offsets
    const two = Buffer.concat([batch(2, 'a'), batch(3, 'b')]);
    expect(log.append(two)).toMatchObject({ baseOffset: 0, lastOffset: 4 });
    expect(batchBaseOffset(two, batchSize(two))).toBe(2);
    await log.close();
  });

  it('calls onAppend after each append', async () => {
    let calls = 0;
    const log = await Log.open(path.join(tmp, 't-0'), { onAppend: () => calls++ });
    log.append(batch(1, 'a'));
    log.append(batch(1, 'b'));
    expect(calls).toBe(2);
    await log.close();
  });

  it('rolls on segment.ms by record timestamps', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { segmentMs: 1000 } });
    log.append(batch(1, 'a', 10_000));
    log.append(batch(1, 'b', 10_900));
    expect(log.segments.length).toBe(1);
    log.append(batch(1, 'c', 11_001));
    expect(log.segments.length).toBe(2);
    expect(log.activeSegment.baseOffset).toBe(2);
    await log.close();
  });

  it('flush.messages returns a flush promise and moves the recovery point', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { flushMessages: 2 } });
    const first = log.append(batch(1, 'a'));
    expect(first.flushed).toBeUndefined();
    const second = log.append(batch(1, 'b'));
    expect(second.flushed).toBeInstanceOf(Promise);
    await second.flushed;
    expect(log.recoveryPoint).toBe(2);
    // concurrent flushes share runs
    log.append(batch(1, 'c'));
    await Promise.all([log.flush(), log.flush(), log.flush()]);
    expect(log.recoveryPoint).toBe(3);
    await log.close();
  });
});

describe('Log recovery', () => {
  async function filledLog(dir: string, n = 12): Promise<Log> {
    const log = await Log.open(dir, { config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    for (let i = 0; i < n; i++) log.append(batch(2, `v${i}`));
    return log;
  }

  it('reopens after a clean close with the same log end offset and data, and continues appending', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await filledLog(dir);
    const before = await readAll(log);
    await log.close();
    const reopened = await Log.open(dir, { hadCleanShutdown: true, recoveryPoint: 24, config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    expect(reopened.logEndOffset).toBe(24);
    expect(reopened.recoveryPoint).toBe(24);
    expect(reopened.segments.length).toBe(log.segments.length);
    expect(await readAll(reopened)).toEqual(before);
    expect(reopened.append(batch(1, 'next')).baseOffset).toBe(24);
    await reopened.close();
  });

  it('truncates garbage appended after the last batch', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await filledLog(dir);
    const before = await readAll(log);
    await log.close();
    const last = path.join(dir, logFiles(dir).at(-1)!);
    const goodSize = fs.statSync(last).size;
    fs.appendFileSync(last, Buffer.from('this is not a record batch at all, just garbage bytes'));
    const reopened = await Log.open(dir, { config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    expect(fs.statSync(last).size).toBe(goodSize);
    expect(reopened.logEndOffset).toBe(24);
    expect(await readAll(reopened)).toEqual(before);
    expect(reopened.append(batch(1, 'next')).baseOffset).toBe(24);
    await reopened.close();
  });

  it('truncates a batch torn mid-write and appends right after the last good batch', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await filledLog(dir);
    const before = await readAll(log);
    await log.close();
    const last = path.join(dir, logFiles(dir).at(-1)!);
    fs.truncateSync(last, fs.statSync(last).size - 10);
    const reopened = await Log.open(dir, { config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    expect(reopened.logEndOffset).toBe(22);
    expect(await readAll(reopened)).toEqual(before.slice(0, -1));
    expect(reopened.append(batch(2, 'again')).baseOffset).toBe(22);
    expect((await readAll(reopened)).at(-1)).toEqual({ base: 22, last: 23, values: ['again-0', 'again-1'] });
    await reopened.close();
  });

  it('a flipped byte truncates at the corrupt batch and drops the later segments', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await filledLog(dir, 20);
    const before = await readAll(log);
    const segs = log.segments.map((s) => s.baseOffset);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    await log.close();
    // corrupt the second batch of the second segment
    const second = path.join(dir, `${filenamePrefixFromOffset(segs[1]!)}.log`);
    const bytes = fs.readFileSync(second);
    const firstSize = batchSize(bytes, 0);
    const corruptBase = batchBaseOffset(bytes, firstSize);
    bytes[firstSize + 70] ^= 0x01;
    fs.writeFileSync(second, bytes);
    const reopened = await Log.open(dir, { config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    expect(reopened.logEndOffset).toBe(corruptBase);
    expect(reopened.segments.map((s) => s.baseOffset)).toEqual(segs.slice(0, 2));
    expect(logFiles(dir)).toHaveLength(2);
    expect(fs.statSync(second).size).toBe(firstSize);
    expect(await readAll(reopened)).toEqual(before.filter((b) => b.last < corruptBase));
    expect(reopened.append(batch(1, 'next')).baseOffset).toBe(corruptBase);
    await reopened.close();
  });

  it('skips the scan of segments before the recovery point', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await filledLog(dir, 20);
    const segs = log.segments.map((s) => s.baseOffset);
    await log.close();
    const first = path.join(dir, `${filenamePrefixFromOffset(segs[0]!)}.log`);
    const bytes = fs.readFileSync(first);
    bytes[bytes.length - 5] ^= 0x01; // would be caught by a scan
    fs.writeFileSync(first, bytes);
    const reopened = await Log.open(dir, { recoveryPoint: segs.at(-1)!, config: { segmentBytes: 400, indexIntervalBytes: 100 } });
    expect(reopened.logEndOffset).toBe(40);
    expect(fs.statSync(first).size).toBe(bytes.length);
    await reopened.close();
  });
});

describe('Log offsets, truncation, follower appends', () => {
  it('offsetForTimestamp finds the first batch whose maxTimestamp >= target', async () => {
    const log = await Log.open(path.join(tmp, 't-0'), { config: { segmentBytes: 300, indexIntervalBytes: 50 } });
    for (let i = 0; i < 10; i++) log.append(batch(2, `t${i}`, 1000 * (i + 1))); // batch i: ts 1000(i+1) .. +1
    expect(log.segments.length).toBeGreaterThan(2);
    expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: 1001 });
    expect(await log.offsetForTimestamp(1001)).toEqual({ offset: 0, timestamp: 1001 });
    expect(await log.offsetForTimestamp(1002)).toEqual({ offset: 2, timestamp: 2001 });
    expect(await log.offsetForTimestamp(5500)).toEqual({ offset: 10, timestamp: 6001 });
    expect(await log.offsetForTimestamp(10_001)).toEqual({ offset: 18, timestamp: 10_001 });
    expect(await log.offsetForTimestamp(10_002)).toBeNull();
    expect(await log.offsetForTimestamp(5500, 10)).toBeNull(); // at/after maxOffset
    expect(await log.offsetForTimestamp(-2)).toEqual({ offset: 0, timestamp: -1 });
    expect(await log.offsetForTimestamp(-1)).toEqual({ offset: 20, timestamp: -1 });
    expect(await log.maxTimestampOffset()).toEqual({ offset: 19, timestamp: 10_001 });
    await log.close();

    const reopened = await Log.open(path.join(tmp, 't-0'), { hadCleanShutdown: true, config: { segmentBytes: 300, indexIntervalBytes: 50 } });
    expect(await reopened.offsetForTimestamp(5500)).toEqual({ offset: 10, timestamp: 6001 });
    await reopened.close();
  });

  it('truncateTo removes whole batches and later segments; appends continue from there', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir, { config: { segmentBytes: 300, indexIntervalBytes: 50 } });
    for (let i = 0; i < 10; i++) log.append(batch(2, `t${i}`));
    const segsBefore = log.segments.length;
    expect(await log.truncateTo(7)).toBe(true); // batch [6,7] removed whole
    expect(log.logEndOffset).toBe(6);
    expect(log.segments.length).toBeLessThan(segsBefore);
    expect(logFiles(dir)).toHaveLength(log.segments.length);
    expect((await readAll(log)).map((b) => b.base)).toEqual([0, 2, 4]);
    expect(log.append(batch(1, 'new')).baseOffset).toBe(6);
    expect(await log.truncateTo(100)).toBe(false);
    log.truncateFullyAndStartAt(50);
    expect([log.logStartOffset, log.logEndOffset]).toEqual([50, 50]);
    expect(logFiles(dir)).toEqual(['00000000000000000050.log']);
    expect(log.append(batch(1, 'x')).baseOffset).toBe(50);
    await log.close();
  });

  it('appendAsFollower keeps the leader offsets and refuses going backwards', async () => {
    const leader = await Log.open(path.join(tmp, 'l-0'));
    for (let i = 0; i < 4; i++) leader.append(batch(2, `f${i}`));
    const { records } = await leader.read(0, 1 << 20);
    const follower = await Log.open(path.join(tmp, 'f-0'));
    const info = follower.appendAsFollower(Buffer.from(records));
    expect(info).toMatchObject({ baseOffset: 0, lastOffset: 7 });
    expect(follower.logEndOffset).toBe(8);
    expect(() => follower.appendAsFollower(Buffer.from(records))).toThrow(KafkaError);
    expect(await readAll(follower)).toEqual(await readAll(leader));
    await leader.close();
    await follower.close();
  });

  it('parses <topic>-<partition> by the last dash', () => {
    expect(parseTopicPartitionDirName('a-b.c_d-12')).toEqual({ topic: 'a-b.c_d', partition: 12 });
    expect(parseTopicPartitionDirName('topic')).toBeNull();
    expect(parseTopicPartitionDirName('topic-x')).toBeNull();
    expect(parseTopicPartitionDirName('t-0.abcdef-delete')).toBeNull();
  });
});

describe('checkpoint files', () => {
  it('writes Kafka’s exact text format atomically', async () => {
    const file = path.join(tmp, 'recovery-point-offset-checkpoint');
    const cp = new OffsetCheckpointFile(file);
    await cp.write([
      { topic: 'mytopic', partition: 0, offset: 42 },
      { topic: 'mytopic', partition: 1, offset: 17 },
    ]);
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n2\nmytopic 0 42\nmytopic 1 17\n');
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    expect(await cp.read()).toEqual([
      { topic: 'mytopic', partition: 0, offset: 42 },
      { topic: 'mytopic', partition: 1, offset: 17 },
    ]);
    await cp.write([]);
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n0\n');
    expect(formatOffsetCheckpoint([{ topic: 'a.b-c', partition: 3, offset: 0 }])).toBe('0\n1\na.b-c 3 0\n');
    expect(await new OffsetCheckpointFile(path.join(tmp, 'missing')).read()).toEqual([]);
  });

  it('rejects malformed files', () => {
    expect(() => parseOffsetCheckpoint('0\n2\nt 0 1\n')).toThrow(CheckpointFormatError);
    expect(() => parseOffsetCheckpoint('1\n0\n')).toThrow(CheckpointFormatError);
    expect(() => parseOffsetCheckpoint('0\n1\nt zero 1\n')).toThrow(CheckpointFormatError);
  });

  it('writes leader-epoch-checkpoint', async () => {
    const file = path.join(tmp, 'leader-epoch-checkpoint');
    const cp = new LeaderEpochCheckpointFile(file);
    await cp.write([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 120 },
    ]);
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n2\n0 0\n3 120\n');
    expect(await cp.read()).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 120 },
    ]);
  });
});

describe('LogManager', () => {
  const topicId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

  it('writes meta.properties and partition.metadata, checkpoints and the clean-shutdown marker, and reloads', async () => {
    const dirs = [path.join(tmp, 'd1'), path.join(tmp, 'd2')];
    const mgr = new LogManager({ logDirs: dirs, brokerId: 7, defaultConfig: { segmentBytes: 500 } });
    await mgr.startup('cluster-xyz');
    for (const d of dirs) {
      expect(fs.readFileSync(path.join(d, 'meta.properties'), 'utf8')).toBe('version=0\nbroker.id=7\ncluster.id=cluster-xyz\n');
    }
    const a0 = await mgr.createLog('my.topic-name', 0, topicId);
    const a1 = await mgr.createLog('my.topic-name', 1, topicId);
    expect(await mgr.createLog('my.topic-name', 0, topicId)).toBe(a0);
    await expect(mgr.createLog('my.topic-name', 0, Buffer.alloc(16, 1))).rejects.toMatchObject({ code: ErrorCode.INCONSISTENT_TOPIC_ID });
    await expect(mgr.createLog('bad/name', 0, topicId)).rejects.toMatchObject({ code: ErrorCode.INVALID_TOPIC_EXCEPTION });
    // spread over the dirs
    expect(new Set([path.dirname(a0.dir), path.dirname(a1.dir)]).size).toBe(2);
    expect(path.basename(a0.dir)).toBe('my.topic-name-0');
    expect(fs.readFileSync(path.join(a0.dir, 'partition.metadata'), 'utf8')).toBe(`version: 0\ntopic_id: ${uuidToString(topicId)}\n`);
    expect(a0.config.segmentBytes).toBe(500);
    expect(mgr.getLog('my.topic-name', 0)).toBe(a0);
    expect(mgr.getLog('my.topic-name', 2)).toBeUndefined();

    for (let i = 0; i < 10; i++) a0.append(batch(2, `m${i}`));
    a1.append(batch(1, 'one'));
    a0.maybeIncrementLogStartOffset(3);
    await mgr.close();

    const d0 = path.dirname(a0.dir);
    expect(fs.existsSync(path.join(d0, CLEAN_SHUTDOWN_FILE))).toBe(true);
    expect(fs.readFileSync(path.join(d0, 'recovery-point-offset-checkpoint'), 'utf8')).toBe('0\n1\nmy.topic-name 0 20\n');
    expect(fs.readFileSync(path.join(d0, 'log-start-offset-checkpoint'), 'utf8')).toBe('0\n1\nmy.topic-name 0 3\n');
    const d1 = path.dirname(a1.dir);
    expect(fs.readFileSync(path.join(d1, 'recovery-point-offset-checkpoint'), 'utf8')).toBe('0\n1\nmy.topic-name 1 1\n');
    expect(fs.readFileSync(path.join(d1, 'log-start-offset-checkpoint'), 'utf8')).toBe('0\n0\n');

    const appended: string[] = [];
    const again = await LogManager.open({ logDirs: dirs, brokerId: 7, clusterId: 'cluster-xyz', onAppend: (l) => appended.push(l.topic) });
    for (const d of dirs) expect(fs.existsSync(path.join(d, CLEAN_SHUTDOWN_FILE))).toBe(false);
    const b0 = again.getLog('my.topic-name', 0)!;
    expect(b0.logEndOffset).toBe(20);
    expect(b0.logStartOffset).toBe(3);
    expect(b0.topicId?.equals(topicId)).toBe(true);
    expect(again.getLog('my.topic-name', 1)!.logEndOffset).toBe(1);
    b0.append(batch(1, 'x'));
    expect(appended).toEqual(['my.topic-name']);

    // delete: renamed to <topic>-<partition>.<uuid>-delete, then removed
    expect(await again.deleteLog('my.topic-name', 0)).toBe(true);
    expect(again.getLog('my.topic-name', 0)).toBeUndefined();
    expect(fs.readdirSync(d0).filter((n) => n.startsWith('my.topic-name'))).toEqual([]);
    await again.awaitCheckpoints(); // written in the background, shared by deletions that come together
    expect(fs.readFileSync(path.join(d0, 'recovery-point-offset-checkpoint'), 'utf8')).toBe('0\n0\n');
    expect(await again.deleteLog('my.topic-name', 0)).toBe(false);
    await again.shutdown();
  });

  it('recovers logs after an unclean shutdown (no marker) and leftover -delete dirs are removed', async () => {
    const dir = path.join(tmp, 'd');
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1 });
    const log = await mgr.createLog('t', 0, topicId);
    for (let i = 0; i < 5; i++) log.append(batch(1, `u${i}`));
    // simulate a crash: no close; a torn write at the end; a half-deleted dir
    const seg = path.join(log.dir, '00000000000000000000.log');
    fs.appendFileSync(seg, Buffer.alloc(30, 0xee));
    fs.mkdirSync(path.join(dir, 't-1.0123456789abcdef0123456789abcdef-delete'));
    log.closeWithoutFlush();
    const again = await LogManager.open({ logDirs: [dir], brokerId: 1 });
    expect(again.getLog('t', 0)!.logEndOffset).toBe(5);
    expect(fs.readdirSync(dir).some((n) => n.endsWith('-delete'))).toBe(false);
    await again.close();
    await expect(LogManager.open({ logDirs: [dir], brokerId: 2 })).rejects.toThrow(/broker.id/);
  });
});

describe('log config', () => {
  it('has Kafka’s defaults', () => {
    expect(DEFAULT_LOG_CONFIG).toMatchObject({
      segmentBytes: 1073741824,
      segmentMs: 604800000,
      indexIntervalBytes: 4096,
      segmentIndexBytes: 10485760,
      maxMessageBytes: 1048588,
    });
    expect(logConfig({ segmentBytes: 10, flushMessages: undefined }).segmentBytes).toBe(10);
    expect(batchLastOffset(batch(3, 'z'))).toBe(2);
  });
});
