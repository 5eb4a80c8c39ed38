/**
 * The range and round-robin assignors against the examples in Kafka's RangeAssignor / RoundRobinAssignor
 * documentation, and the embedded consumer protocol bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  assignorByName,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  rangeAssignor,
  roundRobinAssignor,
  type GroupAssignment,
} from '../../src/client/assignors.js';

/** memberId → ['t0-0', ...] for readable expectations. */
function flat(a: GroupAssignment): Record<string, string[]> {
  return Object.fromEntries([...a].map(([m, tps]) => [m, tps.map((tp) => `${tp.topic}-${tp.partition}`)]));
}

const twoTopics = new Map([
  ['t0', 3],
  ['t1', 3],
]);

describe('range assignor', () => {
  it('2 members × 2 topics with 3 partitions: the first member gets the extra partition of each topic', () => {
    const a = rangeAssignor.assign(
      [
        { memberId: 'C1', topics: ['t0', 't1'] },
        { memberId: 'C0', topics: ['t0', 't1'] },
      ],
      twoTopics,
    );
    expect(flat(a)).toEqual({ C0: ['t0-0', 't0-1', 't1-0', 't1-1'], C1: ['t0-2', 't1-2'] });
  });

  it('assigns per topic among that topic\'s subscribers only; more members than partitions leaves some empty', () => {
    const a = rangeAssignor.assign(
      [
        { memberId: 'a', topics: ['x'] },
        { memberId: 'b', topics: ['x', 'y'] },
        { memberId: 'c', topics: ['x'] },
      ],
      new Map([
        ['x', 2],
        ['y', 5],
      ]),
    );
    expect(flat(a)).toEqual({ a: ['x-0'], b: ['x-1', 'y-0', 'y-1', 'y-2', 'y-3', 'y-4'], c: [] });
  });

  it('7 partitions over 3 members: 3, 2, 2', () => {
    const a = rangeAssignor.assign(
      ['m2', 'm0', 'm1'].map((memberId) => ({ memberId, topics: ['t'] })),
      new Map([['t', 7]]),
    );
    expect(flat(a)).toEqual({ m0: ['t-0', 't-1', 't-2'], m1: ['t-3', 't-4'], m2: ['t-5', 't-6'] });
  });

  it('orders static members by group instance id first', () => {
    const a = rangeAssignor.assign(
      [
        { memberId: 'a', groupInstanceId: 'z', topics: ['t'] },
        { memberId: 'b', groupInstanceId: 'y', topics: ['t'] },
      ],
      new Map([['t', 3]]),
    );
    expect(flat(a)).toEqual({ b: ['t-0', 't-1'], a: ['t-2'] });
  });
});

describe('round-robin assignor', () => {
  it('2 members × 2 topics with 3 partitions: dealt alternately over the sorted topic-partitions', () => {
    const a = roundRobinAssignor.assign(
      [
        { memberId: 'C1', topics: ['t1', 't0'] },
        { memberId: 'C0', topics: ['t0', 't1'] },
      ],
      twoTopics,
    );
    expect(flat(a)).toEqual({ C0: ['t0-0', 't0-2', 't1-1'], C1: ['t0-1', 't1-0', 't1-2'] });
  });

  it('skips members not subscribed to a topic (Kafka\'s documented example)', () => {
    const a = roundRobinAssignor.assign(
      [
        { memberId: 'C0', topics: ['t0'] },
        { memberId: 'C1', topics: ['t0', 't1'] },
        { memberId: 'C2', topics: ['t0', 't1', 't2'] },
      ],
      new Map([
        ['t0', 1],
        ['t1', 2],
        ['t2', 3],
      ]),
    );
    expect(flat(a)).toEqual({ C0: ['t0-0'], C1: ['t1-0'], C2: ['t1-1', 't2-0', 't2-1', 't2-2'] });
  });
});

describe('assignor names and the consumer protocol bytes', () => {
  it('accepts short and Java class names', () => {
    expect(assignorByName('range')).toBe(rangeAssignor);
    expect(assignorByName('org.apache.kafka.clients.consumer.RoundRobinAssignor')).toBe(roundRobinAssignor);
    expect(() => assignorByName('sticky')).toThrow(/unknown partition assignor/);
  });

  it('encodes a v0 subscription as Kafka does: int16 version, topics, null user data', () => {
    const buf = encodeSubscription(['ab']);
    expect(buf.toString('hex')).toBe('0000' + '00000001' + '0002' + Buffer.from('ab').toString('hex') + 'ffffffff');
    expect(decodeSubscription(buf)).toEqual({ version: 0, topics: ['ab'], userData: null });
  });

  it('reads newer subscription versions (v1 owned partitions) and round-trips assignments', () => {
    // v1: topics ["t"], user data null, owned partitions [] — as a newer Java client sends.
    const v1 = Buffer.from('0001' + '00000001' + '0001' + '74' + 'ffffffff' + '00000000', 'hex');
    expect(decodeSubscription(v1).topics).toEqual(['t']);
    const tps = [
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 2 },
      { topic: 'b', partition: 1 },
    ];
    expect(decodeAssignment(encodeAssignment(tps))).toEqual(tps);
    expect(decodeAssignment(Buffer.alloc(0))).toEqual([]);
  });
});
