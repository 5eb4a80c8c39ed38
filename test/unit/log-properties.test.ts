/**
 * Property test of the segment log's crash safety: a random sequence of appends (random batch sizes and
 * codecs), rolls (tiny segment.bytes), clean closes and crashes (no flush, then a torn tail, garbage, a
 * flipped bit, deleted or damaged index files, a lost leader-epoch-checkpoint) with reopens in between.
 * After every reopen: every intact batch written before the damaged region is read back with its offsets and
 * values, no corrupt batch is returned, offsets are contiguous from the log start, the leader epoch cache
 * matches the batches, and the next append continues right after the last good batch.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecordBatch, decodeRecordBatches, verifyBatchCrc } from '../../src/protocol/records.js';
import { CompressionType } from '../../src/protocol/compression.js';
import { batchBaseOffset, batchLastOffset, batchSize, PARTITION_LEADER_EPOCH } from '../../src/protocol/record-batch-header.js';
import { Log } from '../../src/log/log.js';
import { LEADER_EPOCH_CHECKPOINT_FILE, REPLICATION_OFFSET_CHECKPOINT_FILE } from '../../src/log/checkpoint.js';
import { LogManager } from '../../src/log/log-manager.js';
import type { LogConfig } from '../../src/log/log-config.js';
import { waitFor } from '../helpers/wait.js';

const CODECS = [CompressionType.none, CompressionType.gzip, CompressionType.snappy, CompressionType.lz4, CompressionType.zstd] as const;

type Damage =
  | { kind: 'none' }
  | { kind: 'truncate'; fraction: number }
  | { kind: 'garbage'; bytes: number[] }
  | { kind: 'flip'; fraction: number; bit: number }
  | { kind: 'deleteIndex'; which: number; time: boolean }
  | { kind: 'truncateIndex'; which: number }
  | { kind: 'garbageActiveIndex'; bytes: number[] }
  | { kind: 'deleteEpochFile' };

type Op =
  | { op: 'append'; count: number; valueSize: number; codec: number; bumpEpoch: boolean; batches: number }
  | { op: 'roll' }
  | { op: 'cleanRestart' }
  | { op: 'crash'; damage: Damage; fullRecovery: boolean };

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  fc.constant<Damage>({ kind: 'none' }),
  fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('flip' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('deleteIndex' as const), which: fc.nat(), time: fc.boolean() }),
  fc.record({ kind: fc.constant('truncateIndex' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('garbageActiveIndex' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 64 }) }),
  fc.constant<Damage>({ kind: 'deleteEpochFile' }),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 12 }),
      valueSize: fc.integer({ min: 0, max: 120 }),
      codec: fc.integer({ min: 0, max: CODECS.length - 1 }),
      bumpEpoch: fc.boolean(),
      batches: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'roll' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'cleanRestart' }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('crash' as const), damage: damageArb, fullRecovery: fc.boolean() }) },
);

interface ModelBatch {
  base: number;
  last: number;
  epoch: number;
  values: string[];
}

let tmp: string;
beforeAll(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-log-prop-'));
});
afterAll(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** Every batch of the log through Log.read, each checked for its CRC. */
async function readAll(log: Log): Promise<ModelBatch[]> {
  const out: ModelBatch[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, 4096);
    expect(records.length).toBeGreaterThan(0);
    for (let pos = 0; pos < records.length; pos += batchSize(records, pos)) {
      expect(verifyBatchCrc(records, pos)).toBe(true);
    }
    for (const b of decodeRecordBatches(records)) {
      out.push({ base: b.baseOffset, last: b.lastOffset, epoch: b.partitionLeaderEpoch, values: b.records.map((r) => r.value!.toString()) });
      offset = b.lastOffset + 1;
    }
  }
  return out;
}

const segmentFiles = (dir: string, suffix: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort();

/** Walks the (intact) batches of a segment file: [position, end, baseOffset] of each. */
function batchesOfFile(file: string): { start: number; end: number; base: number }[] {
  const buf = fs.readFileSync(file);
  const out: { start: number; end: number; base: number }[] = [];
  for (let pos = 0; pos + 12 <= buf.length; pos += batchSize(buf, pos)) {
    out.push({ start: pos, end: pos + batchSize(buf, pos), base: batchBaseOffset(buf, pos) });
  }
  return out;
}

/** Applies the damage to the closed log's files; returns the first offset lost (or null when nothing is). */
function damage(dir: string, d: Damage): number | null {
  const logs = segmentFiles(dir, '.log');
  const active = path.join(dir, logs[logs.length - 1]!);
  const batches = batchesOfFile(active);
  const size = fs.statSync(active).size;
  /** The first batch not wholly before file position p. */
  const lostFrom = (p: number): number | null => batches.find((b) => b.end > p)?.base ?? null;
  switch (d.kind) {
    case 'none':
      return null;
    case 'truncate': {
      const p = Math.floor(size * d.fraction);
      fs.truncateSync(active, p);
      return lostFrom(p);
    }
    case 'garbage':
      fs.appendFileSync(active, Buffer.from(d.bytes));
      return null;
    case 'flip': {
      if (batches.length === 0) return null;
      const b = batches[Math.min(batches.length - 1, Math.floor(batches.length * d.fraction))]!;
      // not the fields outside the CRC that recovery cannot check (baseOffset, partitionLeaderEpoch)
      const candidates: number[] = [];
      for (let i = b.start + 8; i < b.end; i++) if (i - b.start < 12 || i - b.start >= 16) candidates.push(i);
      const at = candidates[Math.floor(candidates.length * d.fraction) % candidates.length]!;
      const fd = fs.openSync(active, 'r+');
      const one = Buffer.alloc(1);
      fs.readSync(fd, one, 0, 1, at);
      one[0] = one[0]! ^ (1 << d.bit);
      fs.writeSync(fd, one, 0, 1, at);
      fs.closeSync(fd);
      return b.base;
    }
    case 'deleteIndex': {
      const name = logs[d.which % logs.length]!.replace(/\.log$/, d.time ? '.timeindex' : '.index');
      fs.rmSync(path.join(dir, name), { force: true });
      return null;
    }
    case 'truncateIndex': {
      const file = path.join(dir, logs[d.which % logs.length]!.replace(/\.log$/, '.index'));
      if (fs.existsSync(file) && fs.statSync(file).size > 0) fs.truncateSync(file, fs.statSync(file).size - 3);
      return null;
    }
    case 'garbageActiveIndex': {
      const file = active.replace(/\.log$/, '.index');
      fs.writeFileSync(file, Buffer.concat([fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0), Buffer.from(d.bytes)]));
      return null;
    }
    case 'deleteEpochFile':
      fs.rmSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), { force: true });
      return null;
  }
}

function expectedEpochs(model: ModelBatch[]): { epoch: number; startOffset: number }[] {
  const out: { epoch: number; startOffset: number }[] = [];
  for (const b of model) {
    if (out.length === 0 || b.epoch > out[out.length - 1]!.epoch) out.push({ epoch: b.epoch, startOffset: b.base });
  }
  return out;
}

async function check(log: Log, model: ModelBatch[]): Promise<void> {
  const got = await readAll(log);
  expect(got).toEqual(model);
  // contiguous offsets from the log start
  let next = log.logStartOffset;
  for (const b of got) {
    expect(b.base).toBe(next);
    next = b.last + 1;
  }
  expect(log.logEndOffset).toBe(next);
  expect(log.leaderEpochCache.epochEntries).toEqual(expectedEpochs(model));
}

describe('Log crash safety (property)', () => {
  it('never loses an intact batch nor returns a corrupt one across appends, rolls, crashes and recoveries', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 300, max: 3000 }),
        async (ops, segmentBytes) => {
          const dir = path.join(tmp, `prop-${run++}`);
          const config: Partial<LogConfig> = { segmentBytes, indexIntervalBytes: 100, segmentIndexBytes: 4096 };
          let log = await Log.open(dir, { config });
          const model: ModelBatch[] = [];
          let epoch = 0;
          let seq = 0;
          try {
            for (const op of ops) {
              if (op.op === 'append') {
                if (op.bumpEpoch) epoch++;
                const bufs: Buffer[] = [];
                const values: string[][] = [];
                for (let b = 0; b < op.batches; b++) {
                  const vs = Array.from({ length: op.count }, () => `v${seq++}`.padEnd(op.valueSize, '#'));
                  values.push(vs);
                  bufs.push(buildRecordBatch(vs.map((v, i) => ({ key: null, value: Buffer.from(v), timestamp: 1_700_000_000_000 + seq + i })), { compression: CODECS[op.codec]! }));
                }
                const info = log.append(Buffer.concat(bufs), epoch);
                expect(info.baseOffset).toBe(log.logEndOffset - op.count * op.batches);
                let base = info.baseOffset;
                for (const vs of values) {
                  model.push({ base, last: base + vs.length - 1, epoch, values: vs });
                  base += vs.length;
                }
              } else if (op.op === 'roll') {
                log.roll();
              } else if (op.op === 'cleanRestart') {
                await log.close();
                const recoveryPoint = log.recoveryPoint;
                log = await Log.open(dir, { config, recoveryPoint, hadCleanShutdown: true });
                await check(log, model);
              } else {
                // a crash: nothing more reaches the files, then the tail of the active segment is damaged
                await log.leaderEpochCache.flushed().catch(() => undefined);
                const recoveryPoint = op.fullRecovery ? 0 : Math.min(log.recoveryPoint, log.activeSegment.baseOffset);
                log.closeWithoutFlush();
                const lost = damage(dir, op.damage);
                if (lost !== null) {
                  while (model.length > 0 && model[model.length - 1]!.last >= lost) model.pop();
                }
                log = await Log.open(dir, { config, recoveryPoint, hadCleanShutdown: false });
                await check(log, model);
              }
            }
            // appends continue right after the last good batch
            const end = model.length > 0 ? model[model.length - 1]!.last + 1 : 0;
            expect(log.logEndOffset).toBe(end);
            const info = log.append(buildRecordBatch([{ key: null, value: Buffer.from('after') }]), epoch);
            expect(info.baseOffset).toBe(end);
            const tail = (await log.read(end, 1024)).records;
            expect(batchBaseOffset(tail, 0)).toBe(end);
            expect(batchLastOffset(tail, 0)).toBe(end);
            expect(tail.readInt32BE(PARTITION_LEADER_EPOCH)).toBe(epoch);
          } finally {
            await log.close().catch(() => undefined);
            await fs.promises.rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});

describe('Log durability settings', () => {
  const records = (n: number, ts = 1_000): Buffer =>
    buildRecordBatch(Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`r${i}`), timestamp: ts + i })));

  it('message.timestamp.type=LogAppendTime stamps the batch with the append time and a valid CRC', async () => {
    const dir = path.join(tmp, 'lat-0');
    const log = await Log.open(dir, { config: { messageTimestampType: 'LogAppendTime' }, time: () => 1_700_000_123_456 });
    const info = log.append(records(3), 0);
    expect(info.logAppendTime).toBe(1_700_000_123_456);
    const read = (await log.read(0, 1 << 20)).records;
    expect(verifyBatchCrc(read, 0)).toBe(true);
    expect(read.readInt16BE(21) & 0x08).toBe(0x08);
    expect(Number(read.readBigInt64BE(35))).toBe(1_700_000_123_456);
    // CreateTime (the default) leaves the producer's timestamps
    const ct = await Log.open(path.join(tmp, 'lat-1'), { time: () => 5 });
    expect(ct.append(records(1), 0).logAppendTime).toBe(-1);
    expect(Number((await ct.read(0, 1 << 20)).records.readBigInt64BE(35))).toBe(1_000);
    await log.close();
    await ct.close();
  });

  it('flush.ms: flushIfDue fsyncs once flush.ms has passed since the last flush', async () => {
    let now = 10_000;
    const log = await Log.open(path.join(tmp, 'fms-0'), { config: { flushMs: 100 }, time: () => now });
    log.append(records(2), 0);
    expect(log.unflushedMessages).toBe(2);
    now += 50;
    expect(log.flushIfDue()).toBeNull();
    now += 50;
    const f = log.flushIfDue();
    expect(f).not.toBeNull();
    await f;
    expect(log.recoveryPoint).toBe(2);
    expect(log.flushIfDue(now + 1000)).toBeNull(); // nothing unflushed
    const off = await Log.open(path.join(tmp, 'fms-1'), { time: () => now });
    off.append(records(1), 0);
    expect(off.flushIfDue(now + 1e9)).toBeNull(); // flush.ms unset: left to the OS
    await log.close();
    await off.close();
  });

  it('flush.messages=1: appends made while an fsync runs share the next one (group commit)', async () => {
    const log = await Log.open(path.join(tmp, 'fm-0'), { config: { flushMessages: 1 } });
    const a = log.append(records(1), 0);
    const b = log.append(records(1), 0);
    const c = log.append(records(1), 0);
    expect(a.flushed).toBeDefined();
    expect(b.flushed).toBeDefined();
    expect(b.flushed).toBe(c.flushed);
    await Promise.all([a.flushed, b.flushed, c.flushed]);
    expect(log.recoveryPoint).toBe(3);
    await log.close();
  });

  it('truncating to the log end drops an epoch recorded there with no batch (a leader that appended nothing), as Kafka does', async () => {
    const dir = path.join(tmp, 'lecend-0');
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
    const log = await Log.open(dir);
    log.append(records(2), 0);
    // Leader at epoch 1 from its log end, then follower before appending: the next leader never saw epoch 1.
    expect(log.leaderEpochCache.assign(1, log.logEndOffset)).toBe(true);
    expect(log.leaderEpochCache.latestEpoch).toBe(1);
    expect(await log.truncateTo(log.logEndOffset)).toBe(false); // nothing cut...
    expect(log.logEndOffset).toBe(2);
    expect(log.leaderEpochCache.epochEntries).toEqual([{ epoch: 0, startOffset: 0 }]); // ...but epoch 1 is gone
    await log.leaderEpochCache.flushed();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n1\n0 0\n');
    // Past the end: the same, and epochs that wrote batches stay.
    log.append(records(1), 3);
    expect(await log.truncateTo(10)).toBe(false);
    expect(log.leaderEpochCache.epochEntries).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 3, startOffset: 2 },
    ]);
    await log.close();
  });

  it('writes leader-epoch-checkpoint when an epoch first writes and keeps it consistent on truncation', async () => {
    const dir = path.join(tmp, 'lec-0');
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
    const log = await Log.open(dir);
    log.append(records(2), 0);
    log.append(records(2), 0);
    log.append(records(3), 2);
    log.append(records(1), 5);
    await log.leaderEpochCache.flushed();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n3\n0 0\n2 4\n5 7\n');
    await log.truncateTo(7);
    await log.leaderEpochCache.flushed();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n2\n0 0\n2 4\n');
    log.append(records(1), 6);
    await log.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n3\n0 0\n2 4\n6 7\n');
    const again = await Log.open(dir, { hadCleanShutdown: true, recoveryPoint: 8 });
    expect(again.leaderEpochCache.epochEntries).toEqual([
      { epoch: 0, startOffset: 0 },
      { epoch: 2, startOffset: 4 },
      { epoch: 6, startOffset: 7 },
    ]);
    expect(again.leaderEpochCache.endOffsetFor(2, again.logEndOffset)).toEqual({ epoch: 2, endOffset: 7 });
    expect(again.maybeIncrementLogStartOffset(5)).toBe(true);
    await again.leaderEpochCache.flushed();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n2\n2 5\n6 7\n');
    again.truncateFullyAndStartAt(100);
    await again.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n0\n');
  });
});

describe('LogManager checkpoints and flush scheduler', () => {
  const topicId = Buffer.alloc(16, 7);

  it('writes replication-offset-checkpoint periodically and on close, and reads it at start', async () => {
    const d = path.join(tmp, 'lm-hw');
    const mgr = await LogManager.open({ logDirs: [d], brokerId: 1, highWatermarkCheckpointIntervalMs: 20 });
    const log = await mgr.createLog('t', 0, topicId);
    log.append(buildRecordBatch([{ key: null, value: Buffer.from('x') }, { key: null, value: Buffer.from('y') }]), 0);
    const file = path.join(d, REPLICATION_OFFSET_CHECKPOINT_FILE);
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8') === '0\n1\nt 0 2\n', {
      timeoutMs: 5000,
      message: 'the periodic replication-offset-checkpoint with high watermark 2',
    });
    log.append(buildRecordBatch([{ key: null, value: Buffer.from('z') }]), 0);
    await mgr.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('0\n1\nt 0 3\n');
    const again = await LogManager.open({ logDirs: [d], brokerId: 1 });
    expect(again.checkpointedHighWatermark('t', 0)).toBe(3);
    expect(again.checkpointedHighWatermark('t', 9)).toBeUndefined();
    await again.close();
  });

  it('the flush scheduler fsyncs logs whose flush.ms has passed, and only those', async () => {
    const d = path.join(tmp, 'lm-flush');
    const mgr = await LogManager.open({ logDirs: [d], brokerId: 1, flushSchedulerIntervalMs: 10 });
    const timed = await mgr.createLog('timed', 0, topicId, { flushMs: 0 });
    const os_ = await mgr.createLog('os', 0, topicId);
    timed.append(buildRecordBatch([{ key: null, value: Buffer.from('x') }]), 0);
    os_.append(buildRecordBatch([{ key: null, value: Buffer.from('x') }]), 0);
    await waitFor(() => timed.recoveryPoint >= 1, { timeoutMs: 5000, message: 'the flush scheduler to fsync the flush.ms=0 log' });
    expect(timed.recoveryPoint).toBe(1);
    expect(os_.recoveryPoint).toBe(0);
    await mgr.close();
  });
});
