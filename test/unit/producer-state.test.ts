/**
 * Idempotent-producer state (src/log/producer-state.ts) on its own and through Log: duplicates answered with
 * their original offsets and stored once, sequence gaps, epochs, sequence wrap-around, Kafka's snapshot format,
 * and the state rebuilt from snapshots and the log after clean and unclean restarts and truncation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { Log } from '../../src/log/log.js';
import {
  NUM_BATCHES_TO_RETAIN,
  ProducerStateManager,
  decodeProducerSnapshot,
  encodeProducerSnapshot,
  incrementSequence,
  snapshotFileName,
} from '../../src/log/producer-state.js';
import { ProducerIdManager } from '../../src/cluster/producer-ids.js';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import { decodeProducerIdBlock, ensureBasePaths, latestProducerIdBlockPath } from '../../src/registry/paths.js';

const INT32_MAX = 0x7fffffff;

let tmp: string;
beforeEach(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kfk-producer-state-'));
});
afterEach(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** A batch of `count` records from producer `pid`/`epoch` starting at sequence `seq` (pid -1: not idempotent). */
function batch(pid: number, epoch: number, seq: number, count = 1, tag = 'v'): Buffer {
  return buildRecordBatch(
    Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`${tag}-${i}`), timestamp: 1_000_000 + i })),
    { producerId: pid, producerEpoch: epoch, baseSequence: seq },
  );
}

function expectCode(fn: () => unknown, code: number): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KafkaError);
    expect((e as KafkaError).code).toBe(code);
    return;
  }
  throw new Error(`expected KafkaError ${code}`);
}

async function values(log: Log): Promise<string[]> {
  const out: string[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = await log.read(offset, 1 << 20);
    for (const b of decodeRecordBatches(records)) {
      for (const r of b.records) out.push(`${b.producerId}:${r.offset}:${r.value!.toString()}`);
      offset = b.lastOffset + 1;
    }
  }
  return out;
}

describe('Log with idempotent producers', () => {
  let dir: string;
  beforeEach(() => {
    dir = path.join(tmp, 'idem-0');
  });

  it('answers a retried batch with its original offsets and stores it once', async () => {
    const log = await Log.open(dir);
    expect(log.append(batch(7, 0, 0, 3)).baseOffset).toBe(0);
    expect(log.append(batch(-1, -1, -1, 2)).baseOffset).toBe(3); // a non-idempotent producer in between
    expect(log.append(batch(7, 0, 3, 2)).baseOffset).toBe(5);
    const dup = log.append(batch(7, 0, 0, 3));
    expect(dup).toMatchObject({ baseOffset: 0, lastOffset: 2, validBytes: 0 });
    expect(log.append(batch(7, 0, 3, 2))).toMatchObject({ baseOffset: 5, lastOffset: 6, validBytes: 0 });
    expect(log.logEndOffset).toBe(7);
    expect(log.append(batch(7, 0, 5, 1)).baseOffset).toBe(7);
    expect((await values(log)).length).toBe(8);
    await log.close();
  });

  it('remembers the last five batches per producer', async () => {
    const log = await Log.open(dir);
    for (let i = 0; i < 7; i++) log.append(batch(1, 0, i));
    expect(log.producerState.entry(1)!.batches.map((b) => b.firstSeq)).toEqual([2, 3, 4, 5, 6]);
    for (let i = 2; i < 7; i++) expect(log.append(batch(1, 0, i)).baseOffset).toBe(i);
    // older than the cached window: neither a duplicate nor in sequence
    expectCode(() => log.append(batch(1, 0, 1)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(log.logEndOffset).toBe(7);
    expect(NUM_BATCHES_TO_RETAIN).toBe(5);
    await log.close();
  });

  it('rejects gaps, overlaps, stale epochs, and a new epoch not starting at 0', async () => {
    const log = await Log.open(dir);
    log.append(batch(3, 2, 10, 5)); // unknown producer: any first sequence is accepted
    expectCode(() => log.append(batch(3, 2, 16)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER); // gap
    expectCode(() => log.append(batch(3, 2, 12, 5)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER); // overlap, not a duplicate
    expectCode(() => log.append(batch(3, 1, 15)), ErrorCode.INVALID_PRODUCER_EPOCH);
    expectCode(() => log.append(batch(3, 3, 15)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expectCode(() => log.append(batch(3, 2, -1)), ErrorCode.INVALID_RECORD);
    expect(log.logEndOffset).toBe(5);
    expect(log.append(batch(3, 3, 0, 2)).baseOffset).toBe(5); // new epoch at 0
    expectCode(() => log.append(batch(3, 2, 15)), ErrorCode.INVALID_PRODUCER_EPOCH); // the old epoch is fenced
    expect(log.append(batch(3, 3, 2)).baseOffset).toBe(7);
    expect(log.append(batch(4, 0, 0)).baseOffset).toBe(8); // producers are independent
    await log.close();
  });

  it('wraps sequences from INT32_MAX to 0', async () => {
    expect(incrementSequence(INT32_MAX - 1, 3)).toBe(1);
    expect(incrementSequence(5, 3)).toBe(8);
    const log = await Log.open(dir);
    log.append(batch(9, 0, INT32_MAX - 2, 2)); // INT32_MAX-2 .. INT32_MAX-1
    log.append(batch(9, 0, INT32_MAX, 3)); // INT32_MAX, 0, 1
    expect(log.producerState.entry(9)!.batches.at(-1)).toMatchObject({ firstSeq: INT32_MAX, lastSeq: 1 });
    expect(log.append(batch(9, 0, INT32_MAX, 3)).baseOffset).toBe(2); // duplicate across the wrap
    expect(log.append(batch(9, 0, 2)).baseOffset).toBe(5);
    expect(log.logEndOffset).toBe(6);
    await log.close();
    // the wrapped batch survives a snapshot round trip
    const reopened = await Log.open(dir, { hadCleanShutdown: true });
    expect(reopened.append(batch(9, 0, 2)).baseOffset).toBe(5);
    expect(reopened.append(batch(9, 0, 3)).baseOffset).toBe(6);
    await reopened.close();
  });

  it('checks batches of one append against each other', async () => {
    const log = await Log.open(dir);
    expect(log.append(Buffer.concat([batch(5, 0, 0, 2), batch(5, 0, 2, 2)])).lastOffset).toBe(3);
    expectCode(() => log.append(Buffer.concat([batch(5, 0, 4), batch(5, 0, 6)])), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(log.logEndOffset).toBe(4);
    await log.close();
  });

  it('keeps the state across a clean restart through the snapshot written on close', async () => {
    const log = await Log.open(dir);
    log.append(batch(11, 4, 0, 3));
    log.append(batch(12, 0, 0, 1));
    await log.close();
    expect(fs.readdirSync(dir)).toContain(snapshotFileName(4));
    const reopened = await Log.open(dir, { hadCleanShutdown: true });
    expect(reopened.append(batch(11, 4, 0, 3)).baseOffset).toBe(0); // still a duplicate
    expectCode(() => reopened.append(batch(11, 3, 3)), ErrorCode.INVALID_PRODUCER_EPOCH);
    expectCode(() => reopened.append(batch(12, 0, 2)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(reopened.append(batch(11, 4, 3)).baseOffset).toBe(4);
    await reopened.close();
  });

  it('rebuilds the state from roll snapshots and the log after an unclean shutdown', async () => {
    const config = { segmentBytes: 400 };
    const log = await Log.open(dir, { config });
    const firstOffsets: number[] = [];
    for (let i = 0; i < 30; i++) firstOffsets.push(log.append(batch(21, 0, i * 2, 2, `r${i}`)).baseOffset);
    expect(log.segments.length).toBeGreaterThan(3);
    const snaps = fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot'));
    expect(snaps.length).toBeGreaterThan(0);
    // crash: no close, no clean-shutdown marker; one more snapshot is damaged
    await log.flush();
    log.closeWithoutFlush();
    const newest = snaps.sort().at(-1)!;
    fs.writeFileSync(path.join(dir, newest), Buffer.from('garbage'));
    // Recovery re-validates the segments from the recovery point (here: the last one, which starts at the newest
    // snapshot's offset) and replays them from a snapshot at or below their start.
    const reopened = await Log.open(dir, { config, hadCleanShutdown: false, recoveryPoint: Number(newest.slice(0, 20)) });
    expect(fs.existsSync(path.join(dir, newest))).toBe(false); // unreadable: deleted, an older one used
    for (let i = 25; i < 30; i++) expect(reopened.append(batch(21, 0, i * 2, 2, `r${i}`)).baseOffset).toBe(firstOffsets[i]);
    expect(reopened.logEndOffset).toBe(60);
    expectCode(() => reopened.append(batch(21, 0, 61)), ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect(reopened.append(batch(21, 0, 60)).baseOffset).toBe(60);
    await reopened.close();
  });

  it('rebuilds from the whole log when there is no snapshot', async () => {
    const log = await Log.open(dir);
    log.append(batch(30, 1, 0, 4));
    log.append(batch(31, 0, 100, 1));
    await log.flush();
    log.closeWithoutFlush();
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.snapshot')) fs.rmSync(path.join(dir, f));
    const reopened = await Log.open(dir);
    expect(reopened.producerState.entry(30)).toMatchObject({ epoch: 1, batches: [{ firstSeq: 0, lastSeq: 3, firstOffset: 0, lastOffset: 3 }] });
    expect(reopened.append(batch(31, 0, 100)).baseOffset).toBe(4);
    await reopened.close();
  });

  it('truncation rebuilds the state and drops snapshots past the new end', async () => {
    const config = { segmentBytes: 300 };
    const log = await Log.open(dir, { config });
    for (let i = 0; i < 20; i++) log.append(batch(40, 0, i, 1, `t${i}`));
    expect(fs.readdirSync(dir).some((f) => f.endsWith('.snapshot'))).toBe(true);
    await log.truncateTo(5);
    expect(log.logEndOffset).toBe(5);
    expect(log.producerState.listSnapshots().every((o) => o <= 5)).toBe(true);
    expect(log.producerState.entry(40)!.batches.at(-1)).toMatchObject({ lastSeq: 4, lastOffset: 4 });
    expect(log.append(batch(40, 0, 5)).baseOffset).toBe(5); // not a duplicate of the removed batch
    log.truncateFullyAndStartAt(100);
    expect(log.producerState.entry(40)).toBeUndefined();
    expect(log.append(batch(40, 0, 77)).baseOffset).toBe(100);
    await log.close();
  });
});

describe('producer snapshot files', () => {
  it('round-trips in Kafka layout: int16 version 1, CRC-32C of the rest, then the entries', () => {
    const entries = [
      {
        producerId: 1000,
        epoch: 2,
        batches: [{ firstSeq: 5, lastSeq: 9, firstOffset: 100, lastOffset: 104, timestamp: 1234 }],
        coordinatorEpoch: -1,
        currentTxnFirstOffset: -1,
        lastTimestamp: 1234,
      },
      {
        producerId: 2 ** 40,
        epoch: 0,
        batches: [{ firstSeq: INT32_MAX - 1, lastSeq: 0, firstOffset: 7, lastOffset: 9, timestamp: -1 }],
        coordinatorEpoch: 3,
        currentTxnFirstOffset: 8,
        lastTimestamp: -1,
      },
    ];
    const buf = encodeProducerSnapshot(entries);
    expect(buf.readInt16BE(0)).toBe(1);
    expect(buf.readUInt32BE(2)).toBe(crc32c(buf, 6, buf.length));
    expect(buf.readInt32BE(6)).toBe(2); // entry count
    expect(buf.length).toBe(6 + 4 + 2 * 46);
    // first entry: producerId, epoch, lastSequence, lastOffset, offsetDelta, timestamp, coordinatorEpoch, txnFirstOffset
    expect(Number(buf.readBigInt64BE(10))).toBe(1000);
    expect(buf.readInt16BE(18)).toBe(2);
    expect(buf.readInt32BE(20)).toBe(9);
    expect(Number(buf.readBigInt64BE(24))).toBe(104);
    expect(buf.readInt32BE(32)).toBe(4);
    expect(Number(buf.readBigInt64BE(36))).toBe(1234);
    expect(buf.readInt32BE(44)).toBe(-1);
    expect(Number(buf.readBigInt64BE(48))).toBe(-1);
    expect(decodeProducerSnapshot(buf)).toEqual(entries);
    const bad = Buffer.from(buf);
    bad[20] ^= 1;
    expect(() => decodeProducerSnapshot(bad)).toThrow(/CRC/);
    expect(() => decodeProducerSnapshot(buf.subarray(0, buf.length - 3))).toThrow();
  });

  it('writes snapshots named by offset and skips unchanged state', async () => {
    const dir = path.join(tmp, 's-0');
    fs.mkdirSync(dir);
    const m = new ProducerStateManager(dir);
    m.applyBatch(buildRecordBatch([{ key: null, value: Buffer.from('x'), timestamp: 5 }], { producerId: 3, producerEpoch: 0, baseSequence: 0, baseOffset: 41 }));
    m.takeSnapshot(true);
    m.takeSnapshot(true);
    expect(fs.readdirSync(dir)).toEqual([snapshotFileName(42)]);
    expect(snapshotFileName(42)).toBe('00000000000000000042.snapshot');
    const fresh = new ProducerStateManager(dir);
    await fresh.rebuild(0, 42, async () => Buffer.alloc(0));
    expect(fresh.entry(3)).toEqual({
      producerId: 3,
      epoch: 0,
      batches: [{ firstSeq: 0, lastSeq: 0, firstOffset: 41, lastOffset: 41, timestamp: 5 }],
      coordinatorEpoch: -1,
      currentTxnFirstOffset: -1,
      lastTimestamp: 5,
    });
  });
});

describe('producer id blocks in /latest_producer_id_block', () => {
  it('hands out ids from blocks reserved with compare-and-set, never twice across brokers and restarts', async () => {
    const store = EmbeddedRegistryStore.inMemory();
    try {
      const a = store.connect();
      const b = store.connect();
      await ensureBasePaths(a);
      const m0 = new ProducerIdManager(a, 0, 3);
      const m1 = new ProducerIdManager(b, 1, 3);
      // concurrent callers on two brokers race for blocks
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? m0 : m1).generateProducerId()));
      expect(new Set(ids).size).toBe(20);
      expect(Math.min(...ids)).toBe(0);
      const node = await a.get(latestProducerIdBlockPath);
      const latest = decodeProducerIdBlock(node!.data)!;
      expect(latest.blockEnd - latest.blockStart).toBe(2);
      expect(Math.max(...ids)).toBeLessThanOrEqual(latest.blockEnd);
      // a restarted broker starts after the latest block
      const again = new ProducerIdManager(a, 0, 3);
      expect(await again.generateProducerId()).toBe(latest.blockEnd + 1);
      // Kafka's JSON layout
      expect(JSON.parse((await a.get(latestProducerIdBlockPath))!.data!.toString())).toEqual({
        version: 1,
        broker: 0,
        block_start: String(latest.blockEnd + 1),
        block_end: String(latest.blockEnd + 3),
      });
      const big = new ProducerIdManager(b, 1);
      const first = await big.generateProducerId();
      expect(first).toBe(latest.blockEnd + 4);
      expect(await big.generateProducerId()).toBe(first + 1);
      expect(decodeProducerIdBlock((await a.get(latestProducerIdBlockPath))!.data)!.blockEnd).toBe(first + 999);
    } finally {
      await store.close();
    }
  });
});
