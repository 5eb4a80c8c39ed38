/**
 * Storage faults in the log (issue 8, item 5), with failures injected into node:fs: a disk that fills up in the
 * middle of a write (a short write, then ENOSPC), EIO on an index write, a failed fsync, failed checkpoint,
 * snapshot, epoch-checkpoint, rename and delayed-removal writes. What must hold each time: nothing is
 * acknowledged that is not completely written, the log end offset and the indexes stay as they were, the error
 * surfaces as KAFKA_STORAGE_ERROR, and the log dir goes offline once (logged with the dir and the cause) while
 * the other log dirs keep working.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { MAX_TIMESTAMP } from '../../src/protocol/record-batch-header.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { Log } from '../../src/log/log.js';
import { LogSegment } from '../../src/log/log-segment.js';
import { logConfig } from '../../src/log/log-config.js';
import { CLEAN_SHUTDOWN_FILE, LogManager, type LogDirFailure } from '../../src/log/log-manager.js';
import { RECOVERY_POINT_CHECKPOINT_FILE } from '../../src/log/checkpoint.js';
import { deleteOldSegments } from '../../src/log/retention.js';
import type { StorageLogger } from '../../src/log/storage-logger.js';
import { waitFor } from '../helpers/wait.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-storage-faults-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  // a background checkpoint write of a log left open may still be finishing: retry while the dir is not empty
  await fs.promises.rm(tmp, { recursive: true, force: true, maxRetries: 20, retryDelay: 25 });
});

const TOPIC_ID = Buffer.alloc(16, 7);

function batch(count: number, tag: string, valueSize = 100): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`.padEnd(valueSize, '.')), timestamp: 1_000_000 + i })),
  );
}

function ioError(code: string, syscall: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected failure, ${syscall}`);
  err.code = code;
  err.syscall = syscall;
  return err;
}

/**
 * A disk with `free` bytes left, for fs.writeSync: writes pass through until the budget runs out; the write
 * that crosses it writes only what still fits (a short write) and every later one fails with ENOSPC.
 */
function diskWithFreeBytes(free: number): { writes: () => number } {
  const real = fs.writeSync;
  let left = free;
  let writes = 0;
  vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: Buffer, offset: number, length: number, position: number) => {
    writes++;
    if (left <= 0) throw ioError('ENOSPC', 'write');
    const n = real(fd, buf, offset, Math.min(length, left), position);
    left -= n;
    return n;
  }) as typeof fs.writeSync);
  return { writes: () => writes };
}

/** The given writeSync call numbers (1-based, counted from now) fail with `code`; the others pass through. */
function failWriteSyncCalls(calls: number[], code = 'EIO'): void {
  const real = fs.writeSync;
  let n = 0;
  vi.spyOn(fs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
    n++;
    if (calls.includes(n)) throw ioError(code, 'write');
    return (real as (...a: unknown[]) => number)(...args);
  }) as typeof fs.writeSync);
}

/** fs.fsync fails with `code` (EIO) from now on. */
function failFsync(code = 'EIO'): void {
  vi.spyOn(fs, 'fsync').mockImplementation(((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(ioError(code, 'fsync')));
  }) as typeof fs.fsync);
}

/** fs.promises.open of a path matching `re` rejects with `code`. */
function failOpen(re: RegExp, code = 'ENOSPC'): void {
  const real = fs.promises.open;
  vi.spyOn(fs.promises, 'open').mockImplementation((async (file: fs.PathLike, ...rest: unknown[]) => {
    if (re.test(String(file))) throw ioError(code, 'open');
    return (real as (...a: unknown[]) => Promise<fs.promises.FileHandle>)(file, ...rest);
  }) as typeof fs.promises.open);
}

function expectStorageError(e: unknown): void {
  expect(e).toBeInstanceOf(KafkaError);
  expect((e as KafkaError).code).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
}

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

async function values(log: Log): Promise<string[]> {
  const out: string[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, 1 << 20);
    for (const b of decodeRecordBatches(records)) {
      for (const r of b.records) out.push(r.value!.toString().replace(/\.+$/, ''));
      offset = b.lastOffset + 1;
    }
  }
  return out;
}

/** A logger that records lines per level. */
function recordingLogger(): StorageLogger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => lines.push({ level, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('LogSegment.append is all or nothing', () => {
  function segmentWithEntries(dir: string): LogSegment {
    fs.mkdirSync(dir, { recursive: true });
    const seg = LogSegment.create(dir, 0, logConfig({ indexIntervalBytes: 1 }));
    let offset = 0;
    for (let i = 0; i < 4; i++) {
      const b = batch(2, `s${i}`);
      b.writeBigInt64BE(BigInt(offset), 0);
      seg.append(b, 0, b.length);
      offset += 2;
    }
    return seg;
  }

  function state(seg: LogSegment) {
    return {
      size: seg.size,
      fileSize: fs.statSync(seg.logFile).size,
      entries: seg.offsetIndex.entries,
      indexFileSize: fs.statSync(seg.offsetIndex.file).size,
      timeEntries: seg.timeIndex.entries,
      timeIndexFileSize: fs.statSync(seg.timeIndex.file).size,
      maxTimestamp: seg.maxTimestamp,
    };
  }

  const next = (): Buffer => {
    const b = batch(2, 'failed');
    b.writeBigInt64BE(8n, 0);
    b.writeBigInt64BE(BigInt(9_000_000), MAX_TIMESTAMP); // a newer max timestamp, which must not stick either
    return b;
  };

  it('short write, then ENOSPC: the error surfaces, size, max timestamp and both indexes as before, partial bytes cut off', () => {
    const seg = segmentWithEntries(path.join(tmp, 's-0'));
    const before = state(seg);
    expect(before.entries).toBeGreaterThan(0);
    const b = next();
    const disk = diskWithFreeBytes(Math.floor(b.length / 3));
    expect(() => seg.append(b, 0, b.length)).toThrow(/ENOSPC/);
    expect(disk.writes()).toBe(2); // one short write, then the failure
    vi.restoreAllMocks();
    expect(state(seg)).toEqual(before);
    seg.close();
  });

  it('EIO on the offset index entry, and on the time index entry: the batch is cut off again, the indexes keep their entries', () => {
    for (const failingCall of [2, 3]) {
      const seg = segmentWithEntries(path.join(tmp, `s-${failingCall}`));
      const before = state(seg);
      const b = next();
      failWriteSyncCalls([failingCall]); // 1: the batch, 2: the offset index entry, 3: the time index entry
      expect(() => seg.append(b, 0, b.length)).toThrow(/EIO/);
      vi.restoreAllMocks();
      expect(state(seg)).toEqual(before);
      // and the next append works and is indexed where the failed one would have been
      seg.append(b, 0, b.length);
      expect(seg.size).toBe(before.size + b.length);
      expect(seg.offsetIndex.entries).toBe(before.entries + 1);
      seg.close();
    }
  });
});

describe('Log append when the disk fails', () => {
  it('a short write then ENOSPC: KAFKA_STORAGE_ERROR, log end offset and files unchanged, the partial bytes cut off', async () => {
    const dir = path.join(tmp, 't-0');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 100 } });
    const failures: { what: string; code: string | undefined }[] = [];
    log.onStorageFailure = (what, cause) => failures.push({ what, code: cause.code });
    for (let i = 0; i < 5; i++) log.append(batch(3, `ok${i}`));
    const seg = log.activeSegment;
    const before = { leo: log.logEndOffset, size: seg.size };
    expect(seg.offsetIndex.entries).toBeGreaterThan(0);
    const fileSize = fs.statSync(seg.logFile).size;
    const indexSize = fs.statSync(seg.offsetIndex.file).size;

    const big = batch(3, 'lost');
    const disk = diskWithFreeBytes(Math.floor(big.length / 2)); // half the batch fits
    expectStorageError(catching(() => log.append(big)));
    expect(disk.writes()).toBe(2); // the short write, then the one that failed
    vi.restoreAllMocks();

    expect(log.logEndOffset).toBe(before.leo);
    expect(seg.size).toBe(before.size);
    expect(fs.statSync(seg.logFile).size).toBe(fileSize); // the half batch was cut off again
    expect(fs.statSync(seg.offsetIndex.file).size).toBe(indexSize);
    expect(failures).toEqual([{ what: 'appending to the log', code: 'ENOSPC' }]);

    // offline from now on: appends and reads answer KAFKA_STORAGE_ERROR, nothing more is reported
    expect(log.isOffline).toBe(true);
    expectStorageError(catching(() => log.append(batch(1, 'after'))));
    await expect(log.read(0, 1000)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    await expect(log.flush()).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(failures).toHaveLength(1);

    // what was acknowledged is all there after a restart (an unclean one: the log never closed cleanly); the
    // offline log's last epoch-checkpoint write is done first (a broker never has two Logs writing one file)
    await log.leaderEpochCache.flushed().catch(() => undefined);
    const reopened = await Log.open(dir, { config: { indexIntervalBytes: 100 } });
    expect(reopened.logEndOffset).toBe(before.leo);
    expect(await values(reopened)).toEqual(Array.from({ length: 5 }, (_, i) => [0, 1, 2].map((j) => `ok${i}-${j}`)).flat());
    reopened.append(batch(1, 'next'));
    expect(reopened.logEndOffset).toBe(before.leo + 1);
    await reopened.close();
  });

  it('EIO on the index entry after the batch was written: the batch is cut off again and the index keeps its entries', async () => {
    const dir = path.join(tmp, 't-1');
    const log = await Log.open(dir, { config: { indexIntervalBytes: 1 } });
    log.onStorageFailure = () => undefined;
    log.append(batch(2, 'a'));
    log.append(batch(2, 'b')); // indexed: more than 1 byte since the last entry
    const seg = log.activeSegment;
    const entries = seg.offsetIndex.entries;
    const timeIndexSize = fs.statSync(seg.timeIndex.file).size;
    const size = seg.size;
    // the next append writes the batch (call 1), then the offset index entry (call 2): the index write fails
    failWriteSyncCalls([2]);
    expectStorageError(catching(() => log.append(batch(2, 'c'))));
    vi.restoreAllMocks();
    expect(log.logEndOffset).toBe(4);
    expect(seg.size).toBe(size);
    expect(fs.statSync(seg.logFile).size).toBe(size);
    expect(fs.statSync(seg.offsetIndex.file).size).toBe(entries * 8);
    expect(fs.statSync(seg.timeIndex.file).size).toBe(timeIndexSize);
    // the offline log's last epoch-checkpoint write (started by its first append) must be done before another Log
    // object writes the same file (a broker never has two for one partition)
    await log.leaderEpochCache.flushed().catch(() => undefined);
    const reopened = await Log.open(dir);
    expect(await values(reopened)).toEqual(['a-0', 'a-1', 'b-0', 'b-1']);
    await reopened.close();
  });

  it('a failed producer-state snapshot on roll fails the append and takes the log offline', async () => {
    const dir = path.join(tmp, 't-2');
    const log = await Log.open(dir, { config: { segmentBytes: 400 } });
    const failures: string[] = [];
    log.onStorageFailure = (what, cause) => failures.push(`${what}: ${cause.code}`);
    log.append(batch(1, 'a'));
    const realOpenSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (String(file).endsWith('.snapshot.tmp')) throw ioError('ENOSPC', 'open');
      return (realOpenSync as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    expectStorageError(catching(() => log.append(batch(3, 'b')))); // needs a roll: 400 bytes are full
    expect(failures).toEqual(['appending to the log: ENOSPC']);
    expect(log.logEndOffset).toBe(1);
    expect(log.segments).toHaveLength(1);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);
  });
});

describe('Log flush when fsync fails', () => {
  it('flush.messages: the waiting append fails with KAFKA_STORAGE_ERROR, the recovery point stays, and no later flush succeeds', async () => {
    const log = await Log.open(path.join(tmp, 'f-0'), { config: { flushMessages: 1 } });
    const failures: string[] = [];
    log.onStorageFailure = (what, cause) => failures.push(`${what}: ${cause.code}`);
    const first = log.append(batch(1, 'durable'));
    await first.flushed;
    expect(log.recoveryPoint).toBe(1);

    failFsync('EIO');
    const info = log.append(batch(1, 'not-durable'));
    expect(info.flushed).toBeDefined();
    await expect(info.flushed).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(failures).toEqual(['flushing the log: EIO']);
    expect(log.recoveryPoint).toBe(1);

    // fsync works again, but after a failed fsync the page cache state is unknown: the log stays offline
    vi.restoreAllMocks();
    await expect(log.flush()).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(log.recoveryPoint).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it('the fsync after a roll is not swallowed: its failure takes the log offline', async () => {
    const log = await Log.open(path.join(tmp, 'r-0'), { config: { segmentBytes: 300 } });
    const failures: string[] = [];
    log.onStorageFailure = (what, cause) => failures.push(`${what}: ${cause.code}`);
    log.append(batch(1, 'a'));
    failFsync('EIO');
    log.append(batch(2, 'b')); // rolls; the background flush of the finished segment fails
    await waitFor(() => failures.length > 0, { message: 'the failed background fsync to be reported' });
    expect(failures).toEqual(['flushing the log: EIO']);
    expect(log.isOffline).toBe(true);
  });

  it('a failed write of leader-epoch-checkpoint (in the background) takes the log offline', async () => {
    const log = await Log.open(path.join(tmp, 'e-0'));
    const failures: string[] = [];
    log.onStorageFailure = (what, cause) => failures.push(`${what}: ${cause.code}`);
    failOpen(/leader-epoch-checkpoint\.tmp$/, 'EIO');
    log.append(batch(1, 'a'), 5); // a new leader epoch: the checkpoint is rewritten in the background
    await waitFor(() => failures.length > 0, { message: 'the failed epoch checkpoint write to be reported' });
    expect(failures).toEqual(['writing leader-epoch-checkpoint: EIO']);
    expect(log.isOffline).toBe(true);
  });
});

describe('LogManager: a failed log dir goes offline, the others keep serving', () => {
  async function twoDirs(logger = recordingLogger()): Promise<{ mgr: LogManager; a: string; b: string; events: LogDirFailure[]; logger: ReturnType<typeof recordingLogger> }> {
    const a = path.join(tmp, 'dir-a');
    const b = path.join(tmp, 'dir-b');
    const events: LogDirFailure[] = [];
    const mgr = await LogManager.open({
      logDirs: [a, b],
      brokerId: 1,
      logger,
      retentionCheckIntervalMs: 0,
      onLogDirFailure: (f) => events.push(f),
    });
    return { mgr, a, b, events, logger };
  }

  it('a write failure in one dir: its logs answer KAFKA_STORAGE_ERROR, the other dir appends and reads, one log line, clean marker only where clean', async () => {
    const { mgr, a, b, events, logger } = await twoDirs();
    const inA = await mgr.createLog('alpha', 0, TOPIC_ID);
    const inB = await mgr.createLog('beta', 0, TOPIC_ID);
    const inB2 = await mgr.createLog('beta', 1, TOPIC_ID);
    // placement: the dir with the fewest logs, the first on a tie
    expect([inA.parentDir, inB.parentDir, inB2.parentDir]).toEqual([path.resolve(a), path.resolve(b), path.resolve(a)]);
    inB.append(batch(2, 'kept'));
    inA.append(batch(1, 'a0'));

    diskWithFreeBytes(10);
    expectStorageError(catching(() => inB.append(batch(2, 'lost'))));
    vi.restoreAllMocks();

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ dir: path.resolve(b), allLogDirsOffline: false, partitions: [{ topic: 'beta', partition: 0 }] });
    expect(events[0]!.cause.message).toMatch(/ENOSPC/);
    expect(mgr.offlineLogDirs).toEqual([path.resolve(b)]);
    const errors = logger.lines.filter((l) => l.level === 'error').map((l) => l.msg);
    expect(errors.filter((m) => m.includes(path.resolve(b)) && m.includes('ENOSPC'))).toHaveLength(1);
    expect(errors.some((m) => m.startsWith(`Log dir ${path.resolve(b)} is offline`) && m.includes('beta-0'))).toBe(true);

    // the offline log refuses everything; a second failure in the same dir is not logged again
    expectStorageError(catching(() => inB.append(batch(1, 'x'))));
    await expect(inB.read(0, 100)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(mgr.getLog('beta', 0)).toBeUndefined();
    await expect(mgr.createLog('beta', 0, TOPIC_ID)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });

    // the other dir goes on, and new logs go there only
    inA.append(batch(1, 'a1'));
    expect(await values(inA)).toEqual(['a0-0', 'a1-0']);
    const fresh = await mgr.createLog('gamma', 0, TOPIC_ID);
    expect(fresh.parentDir).toBe(path.resolve(a));

    // checkpoints are written only where the dir is online; the clean marker likewise
    const bCheckpoint = path.join(b, RECOVERY_POINT_CHECKPOINT_FILE);
    const bBefore = fs.existsSync(bCheckpoint) ? fs.readFileSync(bCheckpoint, 'utf8') : null;
    await mgr.checkpointAll();
    expect(fs.existsSync(bCheckpoint) ? fs.readFileSync(bCheckpoint, 'utf8') : null).toBe(bBefore);
    await mgr.close();
    expect(fs.existsSync(path.join(a, CLEAN_SHUTDOWN_FILE))).toBe(true);
    expect(fs.existsSync(path.join(b, CLEAN_SHUTDOWN_FILE))).toBe(false);
    expect(events).toHaveLength(1);

    // after a restart (the disk repaired) everything acknowledged is there, in both dirs
    const again = await LogManager.open({ logDirs: [a, b], brokerId: 1, retentionCheckIntervalMs: 0, logger: recordingLogger() });
    expect(await values(again.getLog('beta', 0)!)).toEqual(['kept-0', 'kept-1']);
    expect(await values(again.getLog('alpha', 0)!)).toEqual(['a0-0', 'a1-0']);
    await again.close();
  });

  it('logs created together spread over the dirs like logs created one by one', async () => {
    const { mgr, a, b } = await twoDirs();
    // a new topic's partitions arrive at once (the broker reconciles them concurrently)
    const logs = await Promise.all([0, 1, 2, 3, 4].map((p) => mgr.createLog('together', p, TOPIC_ID)));
    const inA = logs.filter((l) => l.parentDir === path.resolve(a)).length;
    const inB = logs.filter((l) => l.parentDir === path.resolve(b)).length;
    expect([inA, inB]).toEqual([3, 2]);
    // and the next one goes to the dir with fewer
    expect((await mgr.createLog('together', 5, TOPIC_ID)).parentDir).toBe(path.resolve(b));
    await mgr.close();
  });

  it('a log that cannot be created takes its dir offline and is not created in another dir instead', async () => {
    const { mgr, a, b, events } = await twoDirs();
    await mgr.createLog('alpha', 0, TOPIC_ID); // dir a; the next one goes to dir b
    const realMkdir = fs.promises.mkdir;
    vi.spyOn(fs.promises, 'mkdir').mockImplementation((async (p: fs.PathLike, opts?: fs.MakeDirectoryOptions) => {
      if (String(p).startsWith(path.resolve(b))) throw ioError('EIO', 'mkdir');
      return realMkdir(p, opts);
    }) as typeof fs.promises.mkdir);
    await expect(mgr.createLog('beta', 0, TOPIC_ID)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    vi.restoreAllMocks();
    expect(events.map((e) => [e.dir, e.what])).toEqual([[path.resolve(b), 'creating the log for beta-0']]);
    // that partition stays offline here (its directory may exist in the failed dir); others go to the online dir
    await expect(mgr.createLog('beta', 0, TOPIC_ID)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect((await mgr.createLog('beta', 1, TOPIC_ID)).parentDir).toBe(path.resolve(a));
    expect(fs.existsSync(path.join(a, 'beta-0'))).toBe(false);
    await mgr.close();
  });

  it('with every dir failed the event says so and the fatal line is logged', async () => {
    const logger = recordingLogger();
    const only = path.join(tmp, 'only');
    const events: LogDirFailure[] = [];
    const mgr = await LogManager.open({ logDirs: [only], brokerId: 1, logger, retentionCheckIntervalMs: 0, onLogDirFailure: (f) => events.push(f) });
    const log = await mgr.createLog('t', 0, TOPIC_ID);
    diskWithFreeBytes(0);
    expectStorageError(catching(() => log.append(batch(1, 'x'))));
    vi.restoreAllMocks();
    expect(events).toMatchObject([{ dir: path.resolve(only), allLogDirsOffline: true }]);
    expect(logger.lines.some((l) => l.msg === `Shutdown broker because all log dirs in ${path.resolve(only)} have failed`)).toBe(true);
    await expect(mgr.createLog('u', 0, TOPIC_ID)).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    await mgr.close(); // nothing to write: resolves, and leaves no clean marker
    expect(fs.existsSync(path.join(only, CLEAN_SHUTDOWN_FILE))).toBe(false);
  });

  it('a failed checkpoint write takes its dir offline (once) and the other dir is still checkpointed', async () => {
    const { mgr, a, b, events } = await twoDirs();
    await mgr.createLog('alpha', 0, TOPIC_ID);
    await mgr.createLog('beta', 0, TOPIC_ID);
    failOpen(new RegExp(`${path.basename(b)}/${RECOVERY_POINT_CHECKPOINT_FILE}\\.tmp$`), 'EROFS');
    await expect(mgr.checkpointAll()).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    vi.restoreAllMocks();
    expect(events.map((e) => [e.dir, e.what])).toEqual([[path.resolve(b), `writing the offset checkpoints`]]);
    expect(fs.readFileSync(path.join(a, RECOVERY_POINT_CHECKPOINT_FILE), 'utf8')).toBe('0\n1\nalpha 0 0\n');
    await mgr.close();
  });

  it('retention: a failed rename takes that dir offline, and retention still runs for the logs of the other dir', async () => {
    const { mgr, a, b, events } = await twoDirs();
    const cfg = { segmentBytes: 300, retentionBytes: 1, cleanupPolicy: ['delete'] };
    const inA = await mgr.createLog('alpha', 0, TOPIC_ID, cfg);
    const inB = await mgr.createLog('beta', 0, TOPIC_ID, cfg);
    for (let i = 0; i < 4; i++) {
      inA.append(batch(1, `a${i}`));
      inB.append(batch(1, `b${i}`));
    }
    expect(inA.segments.length).toBeGreaterThan(1);
    const realRename = fs.renameSync;
    vi.spyOn(fs, 'renameSync').mockImplementation(((from: fs.PathLike, to: fs.PathLike) => {
      if (String(from).startsWith(path.resolve(b))) throw ioError('EIO', 'rename');
      realRename(from, to);
    }) as typeof fs.renameSync);
    await mgr.runRetention(); // resolves: one log's failure does not stop the pass
    vi.restoreAllMocks();
    expect(events.map((e) => e.dir)).toEqual([path.resolve(b)]);
    expect(inB.isOffline).toBe(true);
    expect(inA.segments).toHaveLength(1); // retention.bytes=1 kept only the active segment
    expect(inA.logStartOffset).toBe(3);
    expect(fs.readdirSync(path.join(a, 'alpha-0')).filter((f) => f.endsWith('.log.deleted')).length).toBeGreaterThan(0);
    await mgr.close();
  });

  it('the delayed removal of a deleted segment is not swallowed: its failure takes the dir offline', async () => {
    const { mgr, b, events } = await twoDirs();
    await mgr.createLog('alpha', 0, TOPIC_ID);
    const inB = await mgr.createLog('beta', 0, TOPIC_ID, { segmentBytes: 300, retentionBytes: 1, cleanupPolicy: ['delete'], fileDeleteDelayMs: 0 });
    for (let i = 0; i < 3; i++) inB.append(batch(1, `b${i}`));
    const realRm = fs.rm;
    vi.spyOn(fs, 'rm').mockImplementation(((file: fs.PathLike, opts: fs.RmOptions, cb: fs.NoParamCallback) => {
      if (String(file).endsWith('.deleted')) setImmediate(() => cb(ioError('EIO', 'rm')));
      else realRm(file, opts, cb);
    }) as typeof fs.rm);
    await deleteOldSegments(inB);
    await waitFor(() => events.length > 0, { message: 'the failed removal to be reported' });
    vi.restoreAllMocks();
    expect(events[0]).toMatchObject({ dir: path.resolve(b) });
    expect(events[0]!.what).toMatch(/^deleting .*\.log\.deleted for beta-0$/);
    await mgr.close();
  });

  it('the cleaner: an I/O error while cleaning takes the dir offline instead of being dropped', async () => {
    const a = path.join(tmp, 'c-a');
    const b = path.join(tmp, 'c-b');
    const events: LogDirFailure[] = [];
    const mgr = await LogManager.open({
      logDirs: [a, b],
      brokerId: 1,
      logger: recordingLogger(),
      retentionCheckIntervalMs: 0,
      cleaner: { enable: true, backoffMs: 3_600_000 }, // passes only when the test asks
      onLogDirFailure: (f) => events.push(f),
    });
    await mgr.createLog('alpha', 0, TOPIC_ID);
    const compacted = await mgr.createLog('beta', 0, TOPIC_ID, { segmentBytes: 300, cleanupPolicy: ['compact'], minCleanableDirtyRatio: 0 });
    expect(compacted.parentDir).toBe(path.resolve(b));
    for (let i = 0; i < 6; i++) compacted.append(batch(1, `v${i}`));
    expect(compacted.segments.length).toBeGreaterThan(2);
    const realOpenSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (String(file).endsWith('.cleaned')) throw ioError('ENOSPC', 'open');
      return (realOpenSync as (...x: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    expect(await mgr.cleaner!.cleanOnce()).toBeNull();
    vi.restoreAllMocks();
    expect(events).toMatchObject([{ dir: path.resolve(b), what: 'cleaning the log for beta-0' }]);
    expect(compacted.isOffline).toBe(true);
    await mgr.close();
  });
});
