/**
 * Retention (src/log/retention.ts): by time and by size, never the active segment, only with cleanup.policy
 * delete; deleted segments renamed `.deleted` and removed after file.delete.delay.ms without breaking reads in
 * flight; the log start offset moves, is checkpointed and survives a reopen; DeleteRecords' log start offset.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { EARLIEST_TIMESTAMP, Log } from '../../src/log/log.js';
import { LogManager } from '../../src/log/log-manager.js';
import { LOG_START_OFFSET_CHECKPOINT_FILE } from '../../src/log/checkpoint.js';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../src/log/log-config.js';
import { deleteOldSegments, deleteRecordsBefore } from '../../src/log/retention.js';
import { waitFor } from '../helpers/wait.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-retention-test-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

const ZERO_ID = Buffer.alloc(16, 1);

/** A batch of `count` records with timestamps ts, ts+1, ... */
function batch(count: number, ts: number, tag = 'v'): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}-${i}`), timestamp: ts + i })),
  );
}

const files = (dir: string): string[] => fs.readdirSync(dir).sort();

/** A log with one segment per timestamp in `stamps` (3 records each), the last one active. */
async function logWithSegments(stamps: number[], config: Partial<LogConfig>, dir = path.join(tmp, 't-0')): Promise<Log> {
  const log = await Log.open(dir, { config });
  stamps.forEach((ts, i) => {
    if (i > 0) log.roll();
    log.append(batch(3, ts, `s${i}`));
  });
  return log;
}

describe('retention by time (retention.ms)', () => {
  it('deletes the segments whose largest timestamp is older than now - retention.ms, never the active one', async () => {
    const log = await logWithSegments([1_000, 2_000, 3_000, 9_000], { retentionMs: 2_500, fileDeleteDelayMs: 60_000 });
    expect(log.segments.map((s) => s.baseOffset)).toEqual([0, 3, 6, 9]);
    // now = 5000: segments with max ts 1002 and 2002 are older than 2500 ms; 3002 is not
    const r = await deleteOldSegments(log, 5_000);
    expect(r.count).toBe(2);
    expect(r.deleted).toEqual([{ reason: 'retention.ms', baseOffsets: [0, 3] }]);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([6, 9]);
    expect(log.logStartOffset).toBe(6);
    expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: 6, timestamp: -1 });
    await expect(log.read(0, 1 << 20)).rejects.toMatchObject({ code: ErrorCode.OFFSET_OUT_OF_RANGE });
    expect((await log.read(6, 1 << 20)).records.length).toBeGreaterThan(0);

    // far in the future: everything but the active segment goes
    expect((await deleteOldSegments(log, 1e12)).count).toBe(1);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([9]);
    expect(log.logStartOffset).toBe(9);
    expect((await deleteOldSegments(log, 1e12)).count).toBe(0);
    // appends continue after it
    expect(log.append(batch(1, 10_000)).baseOffset).toBe(12);
    await log.close();
  });

  it('never deletes a segment reaching the high watermark (replicas may not have it yet)', async () => {
    const log = await logWithSegments([1_000, 2_000, 3_000, 9_000], { retentionMs: 2_500, retentionBytes: 1, fileDeleteDelayMs: 60_000 });
    // High watermark 4: only the first segment [0, 3) lies wholly below it.
    const r = await deleteOldSegments(log, 1e12, 4);
    expect(r.deleted).toEqual([{ reason: 'retention.ms', baseOffsets: [0] }]);
    expect(log.logStartOffset).toBe(3);
    expect((await deleteOldSegments(log, 1e12, 6)).deleted).toEqual([{ reason: 'retention.ms', baseOffsets: [3] }]);
    expect((await deleteOldSegments(log, 1e12, 8)).count).toBe(0);
    await log.close();
  });

  it('retention.ms = -1 keeps everything', async () => {
    const log = await logWithSegments([1_000, 2_000, 3_000], { retentionMs: -1 });
    expect((await deleteOldSegments(log, 1e12)).count).toBe(0);
    expect(log.segments).toHaveLength(3);
    await log.close();
  });

  it('does nothing by time or size without cleanup.policy delete', async () => {
    const log = await logWithSegments([1_000, 2_000, 3_000], { retentionMs: 1, retentionBytes: 0, cleanupPolicy: ['compact'] });
    expect((await deleteOldSegments(log, 1e12)).count).toBe(0);
    expect(log.segments).toHaveLength(3);
    await log.close();
  });
});

describe('retention by size (retention.bytes)', () => {
  it('deletes the oldest segments while the log minus the segment stays at least retention.bytes', async () => {
    const log = await logWithSegments([1_000, 2_000, 3_000, 4_000], { retentionMs: -1 });
    const segSize = log.segments[0]!.size;
    expect(log.segments.every((s) => s.size === segSize)).toBe(true);
    log.updateConfig({ retentionBytes: 2 * segSize + 1 });
    // 4 segments = 4 S; deleting S leaves 3 S >= 2 S + 1; deleting another leaves 2 S < 2 S + 1
    let r = await deleteOldSegments(log, 5_000);
    expect(r.deleted).toEqual([{ reason: 'retention.bytes', baseOffsets: [0] }]);
    log.updateConfig({ retentionBytes: 2 * segSize });
    r = await deleteOldSegments(log, 5_000);
    expect(r.deleted).toEqual([{ reason: 'retention.bytes', baseOffsets: [3] }]);
    log.updateConfig({ retentionBytes: 0 });
    r = await deleteOldSegments(log, 5_000);
    expect(r.deleted).toEqual([{ reason: 'retention.bytes', baseOffsets: [6] }]); // never the active segment
    expect(log.logStartOffset).toBe(9);
    await log.close();
  });
});

describe('deleted segment files', () => {
  it('are renamed .deleted, then removed after file.delete.delay.ms', async () => {
    const dir = path.join(tmp, 'del-0');
    const log = await logWithSegments([1_000, 9_000], { retentionMs: 1_000, fileDeleteDelayMs: 300 }, dir);
    await deleteOldSegments(log, 5_000);
    expect(files(dir).filter((f) => f.startsWith('00000000000000000000'))).toEqual([
      '00000000000000000000.index.deleted',
      '00000000000000000000.log.deleted',
      '00000000000000000000.timeindex.deleted',
    ]);
    await waitFor(() => !files(dir).some((f) => f.endsWith('.deleted')), { message: 'the .deleted segment files to be removed' });
    expect(files(dir).filter((f) => f.endsWith('.log'))).toEqual(['00000000000000000003.log']);
    await log.close();
  });

  it('a read already in flight on a deleted segment still returns its records', async () => {
    const log = await logWithSegments([1_000, 9_000], { retentionMs: 1_000, fileDeleteDelayMs: 0 });
    const inFlight = log.read(0, 1 << 20);
    const deleted = await deleteOldSegments(log, 5_000);
    expect(deleted.count).toBe(1);
    const { records } = await inFlight;
    expect(decodeRecordBatches(records)[0]!.records.map((r) => r.value!.toString())).toEqual(['s0-0', 's0-1', 's0-2']);
    await log.close();
  });

  it('leftover .deleted files are removed when the log is opened again', async () => {
    const dir = path.join(tmp, 'left-0');
    const log = await logWithSegments([1_000, 9_000], { retentionMs: 1_000, fileDeleteDelayMs: 60_000 }, dir);
    await deleteOldSegments(log, 5_000);
    await log.close();
    expect(files(dir).some((f) => f.endsWith('.deleted'))).toBe(true);
    const again = await Log.open(dir, {});
    expect(files(dir).some((f) => f.endsWith('.deleted'))).toBe(false);
    expect(again.logStartOffset).toBe(3);
    expect(again.logEndOffset).toBe(6);
    await again.close();
  });
});

describe('LogManager retention timer and the log start offset checkpoint', () => {
  it('runs retention every log.retention.check.interval.ms and checkpoints; the start offset survives a reopen', async () => {
    let now = 5_000;
    const opts = {
      logDirs: [tmp],
      brokerId: 0,
      retentionCheckIntervalMs: 20,
      time: () => now,
      defaultConfig: { retentionMs: 2_500, fileDeleteDelayMs: 10 },
    };
    const mgr = await LogManager.open(opts);
    const log = await mgr.createLog('ret', 0, ZERO_ID);
    for (const [i, ts] of [1_000, 2_000, 4_000, 4_500].entries()) {
      if (i > 0) log.roll();
      log.append(batch(3, ts));
    }
    await waitFor(() => log.logStartOffset === 6, { message: 'retention to move the log start offset to 6' });
    expect(log.segments.map((s) => s.baseOffset)).toEqual([6, 9]);

    // DeleteRecords into the middle of a segment: checkpointed (it is past the first segment's base offset)
    expect(deleteRecordsBefore(log, 7)).toBe(7);
    await mgr.awaitCheckpoints();
    const text = fs.readFileSync(path.join(tmp, LOG_START_OFFSET_CHECKPOINT_FILE), 'utf8');
    expect(text).toBe('0\n1\nret 0 7\n');
    // reading below it is out of range; earliest follows
    await expect(log.read(6, 1 << 20)).rejects.toBeInstanceOf(KafkaError);
    expect(await log.offsetForTimestamp(EARLIEST_TIMESTAMP)).toEqual({ offset: 7, timestamp: -1 });

    // DeleteRecords to the start of the active segment deletes the segment below it at once
    expect(deleteRecordsBefore(log, 9)).toBe(9);
    expect(log.segments.map((s) => s.baseOffset)).toEqual([9]);

    now = 1e12; // only the active segment is left: the timer keeps it
    await mgr.runRetention();
    expect(log.segments.map((s) => s.baseOffset)).toEqual([9]);
    await mgr.close();

    // unclean reopen (no marker) keeps the start offset as well
    fs.rmSync(path.join(tmp, '.kafka_cleanshutdown'), { force: true });
    const again = await LogManager.open({ ...opts, retentionCheckIntervalMs: 0 });
    const reopened = again.getLog('ret', 0)!;
    expect(reopened.logStartOffset).toBe(9);
    expect(reopened.logEndOffset).toBe(12);
    await again.close();
  });

  it('a checkpointed start offset inside a segment survives a reopen', async () => {
    const opts = { logDirs: [tmp], brokerId: 0, retentionCheckIntervalMs: 0 };
    const mgr = await LogManager.open(opts);
    const log = await mgr.createLog('mid', 0, ZERO_ID);
    log.append(batch(5, 1_000));
    log.append(batch(5, 2_000));
    deleteRecordsBefore(log, 7);
    await mgr.awaitCheckpoints();
    fs.rmSync(path.join(tmp, '.kafka_cleanshutdown'), { force: true }); // a crash right after: no clean close
    const again = await LogManager.open(opts);
    expect(again.getLog('mid', 0)!.logStartOffset).toBe(7);
    await again.close();
    await mgr.close().catch(() => undefined);
  });

  it('has Kafka defaults', () => {
    expect(DEFAULT_LOG_CONFIG).toMatchObject({ retentionMs: 604800000, retentionBytes: -1, fileDeleteDelayMs: 60000, cleanupPolicy: ['delete'] });
  });
});
