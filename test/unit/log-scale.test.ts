/**
 * The storage side of issue 13: logs within a descriptor budget, a clean restart that reads no segment, a
 * creation that fails for want of descriptors and leaves nothing behind, and recovery after an unclean shutdown
 * in the background, `num.recovery.threads.per.data.dir` at a time, the logs asked for first.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { buildTxnMarkerBatch } from '../../src/protocol/control-records.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { FileDescriptorCache, FileDescriptorsExhaustedError } from '../../src/log/fd-cache.js';
import { CLEAN_SHUTDOWN_FILE, LogManager, type LogDirFailure } from '../../src/log/log-manager.js';
import { RECOVERY_POINT_CHECKPOINT_FILE } from '../../src/log/checkpoint.js';
import { RecoveryQueue } from '../../src/log/recovery-queue.js';
import { TXN_INDEX_FILE_SUFFIX } from '../../src/log/transaction-index.js';
import type { Log } from '../../src/log/log.js';
import type { StorageLogger } from '../../src/log/storage-logger.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-log-scale-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fs.promises.rm(tmp, { recursive: true, force: true, maxRetries: 20, retryDelay: 25 });
});

const TOPIC_ID = Buffer.alloc(16, 9);

function batch(count: number, tag: string, opts: { producerId?: number; baseSequence?: number } = {}): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`), timestamp: 1_000_000 + i })),
    opts.producerId !== undefined ? { producerId: opts.producerId, producerEpoch: 0, baseSequence: opts.baseSequence ?? 0 } : {},
  );
}

async function values(log: Log): Promise<string[]> {
  const out: string[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, 1 << 20);
    if (records.length === 0) break;
    for (const b of decodeRecordBatches(records)) {
      for (const r of b.records) out.push(r.value!.toString());
      offset = b.lastOffset + 1;
    }
  }
  return out;
}

function recordingLogger(): StorageLogger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => lines.push({ level, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A manager with `n` logs `t-0` .. `t-<n-1>`, each holding `perLog` single-record batches, closed cleanly. */
async function populated(dir: string, n: number, perLog: number, cache: FileDescriptorCache, segmentBytes = 1 << 20): Promise<void> {
  const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, defaultConfig: { segmentBytes } });
  for (let p = 0; p < n; p++) {
    const log = await mgr.createLog('t', p, TOPIC_ID);
    for (let i = 0; i < perLog; i++) log.append(batch(1, `p${p}-r${i}`));
  }
  await mgr.close();
}

describe('a descriptor budget for every log', () => {
  it('serves 80 logs of many segments each with at most 32 descriptors', async () => {
    const dir = path.join(tmp, 'd');
    // the budget is soft only while every open descriptor is pinned: above the fsyncs (8) and the short-lived
    // writes (8 of up to 2 descriptors) that may be in flight, it holds exactly
    const cache = new FileDescriptorCache(32);
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, defaultConfig: { segmentBytes: 150, indexIntervalBytes: 1 } });
    const logs: Log[] = [];
    for (let p = 0; p < 80; p++) logs.push(await mgr.createLog('t', p, TOPIC_ID));
    for (let round = 0; round < 6; round++) logs.forEach((log, p) => log.append(batch(2, `p${p}-r${round}`)));
    expect(logs[0]!.segments.length).toBeGreaterThan(3);
    for (const [p, log] of logs.entries()) {
      expect(await values(log)).toEqual(Array.from({ length: 6 }, (_, r) => [`p${p}-r${r}-0`, `p${p}-r${r}-1`]).flat());
    }
    await mgr.close();
    expect(cache.stats().peak).toBeLessThanOrEqual(32);
    expect(cache.stats().evictions).toBeGreaterThan(100);
    expect(cache.stats().open).toBe(0);
  });
});

describe('a clean restart', () => {
  it('opens every log without a descriptor or an index read, and loads what a write needs on the first write', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    const idem = await mgr.createLog('idem', 0, TOPIC_ID);
    const first = idem.append(batch(2, 'a', { producerId: 77, baseSequence: 0 }));
    for (let p = 0; p < 20; p++) (await mgr.createLog('t', p, TOPIC_ID)).append(batch(3, `p${p}`));
    await mgr.close();

    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    expect(cache.stats().open).toBe(0);
    for (const log of again.allLogs()) {
      expect(log.segments.every((s) => !s.hasOpenDescriptor && !s.hasIndexesReady)).toBe(true);
    }
    expect(again.getLog('t', 7)!.logEndOffset).toBe(3);
    // the producer state comes back with the first write: a retried batch is a duplicate, the next one goes on
    const log = again.getLog('idem', 0)!;
    const retried = log.append(batch(2, 'a', { producerId: 77, baseSequence: 0 }));
    expect(retried.baseOffset).toBe(first.baseOffset);
    expect(retried.validBytes).toBe(0);
    expect(log.append(batch(1, 'b', { producerId: 77, baseSequence: 2 })).baseOffset).toBe(2);
    expect(await values(log)).toEqual(['a-0', 'a-1', 'b-0']);
    expect(await values(again.getLog('t', 19)!)).toEqual(['p19-0', 'p19-1', 'p19-2']);
    await again.close();
  });

  it('fsyncs nothing for logs that were not written since the restart', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    await populated(dir, 20, 2, cache);
    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    const fsyncs = vi.spyOn(fs, 'fsync');
    await again.close();
    expect(fsyncs).not.toHaveBeenCalled(); // segments and indexes; the checkpoints and the marker are per dir
    expect(fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_FILE))).toBe(true);
  });

  it('trusts the segments over a checkpoint that disagrees with them: the first write continues at the real log end', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    await populated(dir, 1, 5, cache);
    // the recovery point (the log end of a clean shutdown) says 3, the segment holds 5 records
    fs.writeFileSync(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), '0\n1\nt 0 3\n');
    const logger = recordingLogger();
    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, logger });
    const log = again.getLog('t', 0)!;
    expect(log.append(batch(1, 'next')).baseOffset).toBe(5);
    expect(logger.lines.some((l) => l.level === 'warn' && /ends at offset 5.*checkpoint said 3/.test(l.msg))).toBe(true);
    expect(await values(log)).toEqual(['p0-r0-0', 'p0-r1-0', 'p0-r2-0', 'p0-r3-0', 'p0-r4-0', 'next-0']);
    await again.close();
  });
});

describe('checkpoints cost what changed', () => {
  /** Counts the opens of `<name>.tmp` (each checkpoint write is one). */
  function countWrites(name: string): () => number {
    const real = fs.promises.open;
    let n = 0;
    vi.spyOn(fs.promises, 'open').mockImplementation((async (file: fs.PathLike, ...rest: unknown[]) => {
      if (String(file).endsWith(`${name}.tmp`)) n++;
      return (real as (...a: unknown[]) => Promise<fs.promises.FileHandle>)(file, ...rest);
    }) as typeof fs.promises.open);
    return () => n;
  }

  it('an idle broker does not rewrite its checkpoints, and a write that changed them does', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    for (let p = 0; p < 30; p++) await mgr.createLog('t', p, TOPIC_ID);
    await mgr.checkpointAll();
    const writes = countWrites('replication-offset-checkpoint');
    await mgr.checkpointHighWatermarks();
    await mgr.checkpointAll();
    expect(writes()).toBe(0);
    mgr.getLog('t', 17)!.append(batch(1, 'x'));
    await mgr.checkpointHighWatermarks();
    expect(writes()).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'replication-offset-checkpoint'), 'utf8')).toContain('t 17 1\n');
    await mgr.close();
  });

  it('deleting a topic of 200 partitions rewrites the checkpoints a few times, not 200, before a new log of the same name', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    for (let p = 0; p < 200; p++) {
      const log = await mgr.createLog('gone', p, TOPIC_ID);
      log.append(batch(2, 'x'));
      log.maybeIncrementLogStartOffset(1);
    }
    await mgr.awaitCheckpoints();
    const writes = countWrites('log-start-offset-checkpoint');
    for (let p = 0; p < 200; p++) expect(await mgr.deleteLog('gone', p)).toBe(true);
    // a log of the same name is created only once the checkpoints no longer name the deleted one
    const fresh = await mgr.createLog('gone', 0, Buffer.alloc(16, 1));
    expect(fs.readFileSync(path.join(dir, 'log-start-offset-checkpoint'), 'utf8')).toBe('0\n0\n');
    expect(writes()).toBeGreaterThan(0);
    expect(writes()).toBeLessThan(20);
    expect(fresh.logStartOffset).toBe(0);
    await mgr.close();
  });
});

describe('a log creation without descriptors', () => {
  it('fails with REQUEST_TIMED_OUT, leaves no directory and no offline dir, and succeeds when tried again', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    const failures: LogDirFailure[] = [];
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, onLogDirFailure: (f) => failures.push(f) });
    await mgr.createLog('ok', 0, TOPIC_ID);
    const realOpenSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (String(file).includes('starved-0')) throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE', syscall: 'open' });
      return (realOpenSync as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    const err = await mgr.createLog('starved', 0, TOPIC_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileDescriptorsExhaustedError);
    expect((err as FileDescriptorsExhaustedError).code).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect(failures).toEqual([]);
    expect(mgr.liveLogDirs).toEqual([path.resolve(dir)]);
    expect(fs.existsSync(path.join(dir, 'starved-0'))).toBe(false);
    expect(mgr.creationFailureOf('starved', 0)).toBe(err);
    expect(mgr.getLog('starved', 0)).toBeUndefined();
    // the other logs keep working
    mgr.getLog('ok', 0)!.append(batch(1, 'still'));

    vi.restoreAllMocks();
    const log = await mgr.createLog('starved', 0, TOPIC_ID);
    log.append(batch(1, 'late'));
    expect(mgr.creationFailureOf('starved', 0)).toBeUndefined();
    expect(await values(log)).toEqual(['late-0']);
    await mgr.close();
  });
});

describe('recovery after an unclean shutdown', () => {
  it('runs in the background, one log at a time, and a log someone waits for goes first', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    await populated(dir, 12, 3, cache);
    fs.rmSync(path.join(dir, CLEAN_SHUTDOWN_FILE));
    const loaded: number[] = [];
    const mgr = await LogManager.open({
      logDirs: [dir],
      brokerId: 1,
      fdCache: cache,
      recoverInBackground: true,
      recoveryThreadsPerDataDir: 1,
      onLogLoaded: (log) => loaded.push(log.partition),
    });
    expect(mgr.loadingCount).toBeGreaterThanOrEqual(11);
    // the queue is in directory listing order; whatever it is, the log asked for comes right after the one in progress
    const last = 11;
    const log = await mgr.awaitLoad('t', last);
    expect(log).toBeDefined();
    expect(loaded.indexOf(last)).toBeLessThanOrEqual(1);
    expect(mgr.isLoading('t', last)).toBe(false);
    expect(await values(log!)).toEqual([`p${last}-r0-0`, `p${last}-r1-0`, `p${last}-r2-0`]);
    await mgr.awaitRecoveries();
    expect(mgr.loadingCount).toBe(0);
    expect(loaded.sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    await mgr.close();
  });

  it('stopped halfway: no clean-shutdown marker, the checkpoints keep the logs not recovered, and the next start recovers them', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    await populated(dir, 30, 2, cache);
    fs.rmSync(path.join(dir, CLEAN_SHUTDOWN_FILE));
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, recoverInBackground: true, recoveryThreadsPerDataDir: 1 });
    expect(mgr.loadingCount).toBeGreaterThan(0);
    await mgr.close();
    expect(fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_FILE))).toBe(false);
    const checkpoint = fs.readFileSync(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), 'utf8').trim().split('\n');
    expect(checkpoint[1]).toBe('30');
    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    for (let p = 0; p < 30; p++) expect(await values(again.getLog('t', p)!)).toEqual([`p${p}-r0-0`, `p${p}-r1-0`]);
    await again.close();
  });

  it('cuts a torn tail in the background and deletes a log still queued without loading it', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    await populated(dir, 6, 2, cache);
    fs.rmSync(path.join(dir, CLEAN_SHUTDOWN_FILE));
    fs.appendFileSync(path.join(dir, 't-3', '00000000000000000000.log'), Buffer.alloc(40, 0xee));
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, recoverInBackground: true, recoveryThreadsPerDataDir: 1 });
    const queued = [...Array(6).keys()].filter((p) => p !== 3).reverse().find((p) => mgr.isLoading('t', p))!;
    expect(await mgr.deleteLog('t', queued)).toBe(true);
    expect(fs.existsSync(path.join(dir, `t-${queued}`))).toBe(false);
    const torn = (await mgr.awaitLoad('t', 3))!;
    expect(torn.logEndOffset).toBe(2);
    expect(await values(torn)).toEqual(['p3-r0-0', 'p3-r1-0']);
    await mgr.awaitRecoveries();
    expect(mgr.getLog('t', queued)).toBeUndefined();
    await mgr.close();
  });
});

describe('RecoveryQueue', () => {
  it('runs at most `threads` jobs, in order, promoted ones first', async () => {
    const ran: string[] = [];
    let running = 0;
    let most = 0;
    const gates = new Map<string, () => void>();
    const queue = new RecoveryQueue<{ key: string }>(2, async (job) => {
      running++;
      most = Math.max(most, running);
      ran.push(job.key);
      await new Promise<void>((resolve) => gates.set(job.key, resolve));
      running--;
    });
    for (const k of ['a', 'b', 'c', 'd', 'e']) queue.add({ key: k });
    expect(ran).toEqual(['a', 'b']);
    expect(queue.promote('e')).toBe(true);
    expect(queue.remove('c')).toBe(true);
    gates.get('a')!();
    await new Promise((r) => setImmediate(r));
    expect(ran).toEqual(['a', 'b', 'e']);
    gates.get('b')!();
    await new Promise((r) => setImmediate(r));
    gates.get('e')!();
    await new Promise((r) => setImmediate(r));
    gates.get('d')!();
    await queue.idle();
    expect(ran).toEqual(['a', 'b', 'e', 'd']);
    expect(most).toBe(2);
    expect(queue.promote('x')).toBe(false);
  });
});

describe('transactions on logs opened lazily and within the budget', () => {
  /** One transactional record of producer `pid` (its transaction opens), or its ABORT/COMMIT marker. */
  const txnData = (pid: number, seq = 0): Buffer =>
    buildRecordBatch([{ key: Buffer.from('k'), value: Buffer.from(`txn-${pid}-${seq}`), timestamp: 1_000_000 }], { producerId: pid, producerEpoch: 0, baseSequence: seq, transactional: true });
  const txnMarker = (pid: number, commit: boolean): Buffer => buildTxnMarkerBatch({ producerId: pid, producerEpoch: 0, coordinatorEpoch: 0, commit, timestamp: 1_000_001 });

  it('a clean restart answers the last stable offset from the snapshot the clean close wrote, opening no segment', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(16);
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    const log = await mgr.createLog('txn', 0, TOPIC_ID);
    log.append(batch(2, 'plain')); // 0-1
    log.append(txnData(9)); // 2: producer 9's transaction is open at the shutdown
    log.append(batch(1, 'after')); // 3
    await mgr.close();

    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    const lazy = again.getLog('txn', 0)!;
    const missesBefore = cache.stats().misses;
    lazy.onHighWatermarkUpdated(4); // hosting the partition (Partition's constructor) loads nothing
    expect(lazy.firstUnstableOffset).toBe(2); // the open transaction, from the snapshot
    expect(lazy.segments.every((s) => !s.hasOpenDescriptor && !s.hasIndexesReady)).toBe(true);
    expect(cache.stats().misses).toBe(missesBefore);
    // the coordinator aborts it: the write prepares the log, the abort is indexed through the cache
    lazy.append(txnMarker(9, false), 0, false, 'coordinator');
    lazy.onHighWatermarkUpdated(lazy.logEndOffset);
    expect(lazy.firstUnstableOffset).toBe(-1);
    const aborted = [{ producerId: 9, firstOffset: 2, lastOffset: 4, lastStableOffset: 5 }];
    expect(lazy.collectAbortedTransactions(0, lazy.logEndOffset)).toEqual(aborted);
    await again.close();
    const third = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache });
    expect(third.getLog('txn', 0)!.collectAbortedTransactions(0, 5)).toEqual(aborted);
    await third.close();
    expect(cache.stats().open).toBe(0);
  });

  it('keeps the .txnindex files of many segments within 8 descriptors, and recovery rebuilds them', async () => {
    const dir = path.join(tmp, 'd');
    const cache = new FileDescriptorCache(8);
    const cfg = { segmentBytes: 200 };
    const mgr = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, defaultConfig: cfg });
    const log = await mgr.createLog('txn', 0, TOPIC_ID);
    for (let pid = 1; pid <= 30; pid++) {
      log.append(txnData(pid));
      log.append(txnMarker(pid, pid % 3 === 0), 0, false, 'coordinator'); // two of three are aborted
    }
    log.onHighWatermarkUpdated(log.logEndOffset);
    const aborted = log.collectAbortedTransactions(0, log.logEndOffset);
    expect(aborted.map((t) => t.producerId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1).filter((pid) => pid % 3 !== 0));
    const partitionDir = path.join(dir, 'txn-0');
    expect(fs.readdirSync(partitionDir).filter((f) => f.endsWith(TXN_INDEX_FILE_SUFFIX)).length).toBeGreaterThan(8);
    expect(cache.stats().peak).toBeLessThanOrEqual(8);
    // a crash: the recovery from offset 0 rebuilds every segment's index from the markers
    await log.flush();
    mgr.closeWithoutFlush();
    for (const f of fs.readdirSync(partitionDir)) if (f.endsWith(TXN_INDEX_FILE_SUFFIX)) fs.rmSync(path.join(partitionDir, f));
    const again = await LogManager.open({ logDirs: [dir], brokerId: 1, fdCache: cache, defaultConfig: cfg });
    const recovered = again.getLog('txn', 0)!;
    expect(recovered.collectAbortedTransactions(0, recovered.logEndOffset)).toEqual(aborted);
    expect(cache.stats().peak).toBeLessThanOrEqual(8);
    await again.close();
    expect(cache.stats().open).toBe(0);
  });
});
