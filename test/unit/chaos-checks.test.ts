/**
 * The chaos checker's verdict (scripts/chaos/checks.mjs) on histories with known faults: a clean history passes, and
 * each fault — a lost, duplicated or moved acknowledged record, a reordered key, a record never sent, a committed offset
 * going back, a delivery below an acknowledged commit, a record the group never read, divergent replicas — fails
 * exactly the check for it.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory, type History } from '../../scripts/chaos/checks.mjs';

const KEYS = 3;

/** Six records v-0..v-5 (keys k-0..k-2, key k-j on partition j), all acknowledged and read by one member. */
function cleanHistory(): History {
  const acked: Array<[number, number, number]> = [];
  const nextOffset = [0, 0, 0];
  for (let i = 0; i < 6; i++) {
    const p = i % KEYS;
    acked.push([i, p, nextOffset[p]!++]);
  }
  const log = acked.map(([i, p, o]) => ({ partition: p, offset: o, key: `k-${i % KEYS}`, value: `v-${i}` }));
  return {
    keys: KEYS,
    produced: 6,
    acked,
    log,
    group: {
      deliveries: log.map((r, n) => ({ ...r, t: 1000 + n * 10, member: 0 })),
      commits: log.map((r, n) => ({ t: 1005 + n * 10, member: 0, partition: r.partition, offset: r.offset + 1 })),
      samples: [
        { t: 1100, partition: 0, offset: 2 },
        { t: 1200, partition: 0, offset: 2 },
      ],
    },
    replicas: [0, 1, 2].map((p) => ({ topicPartition: `chaos-${p}`, brokers: [0, 1, 2], identical: true })),
  };
}

function failed(h: History): string[] {
  return checkHistory(h)
    .checks.filter((c) => !c.ok)
    .map((c) => c.name);
}

describe('chaos checks', () => {
  it('passes a clean history', () => {
    const v = checkHistory(cleanHistory());
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.stats).toMatchObject({ produced: 6, acknowledged: 6, inLog: 6, inLogNotAcknowledged: 0, groupDeliveries: 6, groupRedeliveries: 0 });
  });

  it('accepts records written but never acknowledged, and redeliveries between commits', () => {
    const h = cleanHistory();
    h.produced = 7;
    h.log.push({ partition: 0, offset: 2, key: 'k-0', value: 'v-6' }); // its acknowledgement was lost
    h.group.deliveries.push({ t: 2000, member: 1, partition: 1, offset: 1, key: 'k-1', value: 'v-4' }); // no commit after it yet... the last acked commit of p1 is 2
    h.group.commits = h.group.commits.filter((c) => !(c.partition === 1 && c.offset === 2));
    const v = checkHistory(h);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.stats.inLogNotAcknowledged).toBe(1);
    expect(v.stats.groupRedeliveries).toBe(1);
  });

  it('finds a lost, a duplicated and a moved acknowledged record', () => {
    const lost = cleanHistory();
    lost.log = lost.log.filter((r) => r.value !== 'v-4');
    lost.group.deliveries = lost.group.deliveries.filter((r) => r.value !== 'v-4');
    expect(failed(lost)).toEqual(['every acknowledged record is in the log, where its delivery report said', 'the group read every acknowledged record']);
    const duplicated = cleanHistory();
    duplicated.log.push({ partition: 1, offset: 2, key: 'k-1', value: 'v-1' });
    expect(failed(duplicated)).toEqual(['the broker wrote no record twice (no copies within one producer epoch)']);
    const moved = cleanHistory();
    moved.acked[0] = [0, 0, 5];
    expect(failed(moved)).toEqual(['every acknowledged record is in the log, where its delivery report said']);
  });

  it('tells copies the client sent again under a new producer epoch from copies the broker wrote twice', () => {
    const h = cleanHistory();
    // v-1 and v-4 (partition 1, offsets 0-1, epoch 0) sent again after the client bumped its epoch: offsets 2-3.
    h.log.push({ partition: 1, offset: 2, key: 'k-1', value: 'v-1' }, { partition: 1, offset: 3, key: 'k-1', value: 'v-4' });
    h.acked = h.acked.map(([i, p, o]) => (p === 1 ? [i, p, o + 2] : [i, p, o]));
    h.batches = [
      { partition: 1, baseOffset: 0, lastOffset: 1, producerEpoch: 0 },
      { partition: 1, baseOffset: 2, lastOffset: 3, producerEpoch: 1 },
    ];
    const v = checkHistory(h);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.stats.clientResentDuplicates).toBe(2);
    expect(v.clientResent[0]).toBe('v-1 at 1/0 (producer epoch 0) and 1/2 (producer epoch 1)');
    // The same copies in one producer epoch: the broker failed to recognise a retry.
    h.batches = [{ partition: 1, baseOffset: 0, lastOffset: 3, producerEpoch: 0 }];
    expect(failed(h)).toEqual(['the broker wrote no record twice (no copies within one producer epoch)']);
  });

  it('accepts an acknowledgement without an offset (a retried batch the broker already had) when the record is there once', () => {
    const h = cleanHistory();
    h.acked[4] = [4, 1, -1];
    const v = checkHistory(h);
    expect(v.ok).toBe(true);
    expect(v.stats.acknowledgedWithoutOffset).toBe(1);
    h.log = h.log.filter((r) => r.value !== 'v-4');
    h.group.deliveries = h.group.deliveries.filter((r) => r.value !== 'v-4');
    expect(failed(h)).toEqual(['every acknowledged record is in the log, where its delivery report said', 'the group read every acknowledged record']);
  });

  it('finds records out of send order for a key', () => {
    const h = cleanHistory();
    const a = h.log.find((r) => r.value === 'v-2')!;
    const b = h.log.find((r) => r.value === 'v-5')!;
    [a.offset, b.offset] = [b.offset, a.offset];
    h.acked = h.log.map((r) => [Number(r.value.slice(2)), r.partition, r.offset]);
    expect(failed(h)).toEqual(['records are in send order per key']);
  });

  it('finds a record that was never sent, in the log or delivered to the group', () => {
    const inLog = cleanHistory();
    inLog.log.push({ partition: 2, offset: 2, key: 'k-2', value: 'v-99' });
    expect(failed(inLog)).toEqual(['no record is read that was never sent']);
    const wrongKey = cleanHistory();
    wrongKey.group.deliveries.push({ t: 5000, member: 0, partition: 0, offset: 1, key: 'k-2', value: 'v-3' });
    expect(failed(wrongKey)).toEqual(['no record is read that was never sent', 'nothing is delivered to the group below an acknowledged commit']);
  });

  it('finds committed offsets going backwards, in the samples and in one member\'s commits', () => {
    const sampled = cleanHistory();
    sampled.group.samples.push({ t: 1300, partition: 0, offset: 1 });
    expect(failed(sampled)).toEqual(['committed offsets never go backwards']);
    const committed = cleanHistory();
    committed.group.commits.push({ t: 5000, member: 0, partition: 2, offset: 1 });
    expect(failed(committed)).toEqual(['committed offsets never go backwards']);
  });

  it('finds a delivery below a commit another member had acknowledged', () => {
    const h = cleanHistory();
    h.group.deliveries.push({ t: 3000, member: 1, partition: 0, offset: 0, key: 'k-0', value: 'v-0' });
    expect(failed(h)).toEqual(['nothing is delivered to the group below an acknowledged commit']);
    // The same delivery before the commit was acknowledged is at-least-once, not a violation.
    const early = cleanHistory();
    early.group.deliveries.push({ t: 1001, member: 1, partition: 0, offset: 0, key: 'k-0', value: 'v-0' });
    expect(failed(early)).toEqual([]);
  });

  it('finds replicas that differ', () => {
    const h = cleanHistory();
    h.replicas[1] = { topicPartition: 'chaos-1', brokers: [0, 1, 2], identical: false, detail: 'broker 2 differs at byte 70' };
    const v = checkHistory(h);
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => !c.ok)).toMatchObject({ violations: 1, examples: ['chaos-1 on brokers 0,1,2: broker 2 differs at byte 70'] });
  });
});
