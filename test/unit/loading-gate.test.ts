/**
 * src/broker/loading-gate.ts: a request naming a partition still recovering waits for it (and only then reaches
 * its handler); requests naming none, and every other API, go straight through.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gateWhileLoading, requestedPartitions, GATE_MAX_WAIT_MS } from '../../src/broker/loading-gate.js';
import type { ApiHandler, RequestContext } from '../../src/server/request.js';

const ctx = {} as RequestContext;
const id = Buffer.alloc(16, 3);

afterEach(() => {
  vi.useRealTimers();
});

describe('requestedPartitions', () => {
  it('reads the partitions of Produce, Fetch (by name and by topic id), ListOffsets, DeleteRecords and OffsetForLeaderEpoch', () => {
    const byId = (b: Buffer) => (b.equals(id) ? 'by-id' : undefined);
    expect(requestedPartitions(0, { topicData: [{ name: 'p', partitionData: [{ index: 1 }, { index: 4 }] }] }, byId)).toEqual([['p', 1], ['p', 4]]);
    expect(requestedPartitions(1, { topics: [{ topic: 'f', topicId: Buffer.alloc(16), partitions: [{ partition: 2 }] }, { topic: '', topicId: id, partitions: [{ partition: 0 }] }] }, byId)).toEqual([
      ['f', 2],
      ['by-id', 0],
    ]);
    expect(requestedPartitions(2, { topics: [{ name: 'l', partitions: [{ partitionIndex: 7 }] }] }, byId)).toEqual([['l', 7]]);
    expect(requestedPartitions(21, { topics: [{ name: 'd', partitions: [{ partitionIndex: 3 }] }] }, byId)).toEqual([['d', 3]]);
    expect(requestedPartitions(23, { topics: [{ topic: 'e', partitions: [{ partition: 5 }] }] }, byId)).toEqual([['e', 5]]);
  });
});

describe('gateWhileLoading', () => {
  function handler(apiKey: number): ApiHandler & { calls: number } {
    const h = {
      apiKey,
      minVersion: 0,
      maxVersion: 9,
      calls: 0,
      handle() {
        h.calls++;
        return { ok: true };
      },
    };
    return h;
  }

  it('runs the handler only once the recovering partition it names is served', async () => {
    let release!: () => void;
    const served = new Promise<void>((r) => (release = r));
    const waitedFor: string[] = [];
    const h = handler(0);
    const gated = gateWhileLoading(h, {
      anyLoading: () => true,
      isLoading: (t, p) => t === 'busy' && p === 1,
      awaitServed: (t, p) => {
        waitedFor.push(`${t}-${p}`);
        return served;
      },
      topicNameById: () => undefined,
    });
    const result = gated.handle({ timeoutMs: 30_000, topicData: [{ name: 'busy', partitionData: [{ index: 0 }, { index: 1 }] }] }, ctx) as Promise<unknown>;
    await new Promise((r) => setImmediate(r));
    expect(h.calls).toBe(0);
    expect(waitedFor).toEqual(['busy-1']);
    release();
    expect(await result).toEqual({ ok: true });
    expect(h.calls).toBe(1);
  });

  it('goes straight through when nothing it names is recovering, and for other APIs', () => {
    const h = handler(1);
    const gated = gateWhileLoading(h, { anyLoading: () => true, isLoading: () => false, awaitServed: () => Promise.resolve(), topicNameById: () => undefined });
    expect(gated.handle({ topics: [{ topic: 't', partitions: [{ partition: 0 }] }] }, ctx)).toEqual({ ok: true });
    const metadata = handler(3);
    expect(gateWhileLoading(metadata, { anyLoading: () => true, isLoading: () => true, awaitServed: () => new Promise(() => {}), topicNameById: () => undefined })).toBe(metadata);
  });

  it('waits at most the produce timeout, then lets the handler answer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = handler(0);
    const gated = gateWhileLoading(h, { anyLoading: () => true, isLoading: () => true, awaitServed: () => new Promise(() => {}), topicNameById: () => undefined });
    const result = gated.handle({ timeoutMs: 5000, topicData: [{ name: 't', partitionData: [{ index: 0 }] }] }, ctx) as Promise<unknown>;
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.calls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual({ ok: true });
    // other requests wait at most GATE_MAX_WAIT_MS
    const f = handler(2);
    const g = gateWhileLoading(f, { anyLoading: () => true, isLoading: () => true, awaitServed: () => new Promise(() => {}), topicNameById: () => undefined });
    const r2 = g.handle({ topics: [{ name: 't', partitions: [{ partitionIndex: 0 }] }] }, ctx) as Promise<unknown>;
    await vi.advanceTimersByTimeAsync(GATE_MAX_WAIT_MS);
    expect(await r2).toEqual({ ok: true });
  });
});
