/**
 * The controller's election algorithms (src/cluster/leader-election.ts), case by case against
 * Kafka's PartitionLeaderElectionAlgorithms and the ZooKeeper-era state machines.
 */
import { describe, expect, it } from 'vitest';
import {
  electForControlledShutdown,
  electForOfflinePartition,
  electForReassignment,
  electPreferredReplica,
  initialLeaderAndIsr,
  leaderAndIsrForBrokerChange,
  offlinePartitionLeaderElection,
  partitionsToRebalance,
  removeReplicaFromIsr,
} from '../../src/cluster/leader-election.js';

const set = (...ids: number[]): Set<number> => new Set(ids);

describe('offline partition election', () => {
  it('takes the first replica in assignment order that is alive and in the ISR', () => {
    expect(offlinePartitionLeaderElection([3, 1, 2], [1, 2], set(1, 2, 3), false)).toEqual({ leader: 1, unclean: false });
    expect(offlinePartitionLeaderElection([3, 1, 2], [2, 1], set(2, 3), false)).toEqual({ leader: 2, unclean: false });
  });

  it('finds nobody when no ISR member is alive, unless unclean election is allowed', () => {
    expect(offlinePartitionLeaderElection([1, 2, 3], [1], set(2, 3), false)).toBeNull();
    expect(offlinePartitionLeaderElection([1, 2, 3], [1], set(3, 2), true)).toEqual({ leader: 2, unclean: true });
    expect(offlinePartitionLeaderElection([1, 2, 3], [1], set(), true)).toBeNull();
  });

  it('keeps the alive ISR members, or only the leader after an unclean election', () => {
    expect(electForOfflinePartition([1, 2, 3], { leader: 1, isr: [1, 2, 3] }, set(2, 3), set(2, 3), false)).toEqual({
      ok: true,
      value: { leader: 2, isr: [2, 3] },
      unclean: false,
    });
    expect(electForOfflinePartition([1, 2, 3], { leader: -1, isr: [1] }, set(3), set(3), true)).toEqual({ ok: true, value: { leader: 3, isr: [3] }, unclean: true });
    expect(electForOfflinePartition([1, 2, 3], { leader: -1, isr: [1] }, set(3), set(3), false)).toEqual({ ok: false, reason: 'no-eligible-leader' });
  });
});

describe('first state of a new partition', () => {
  it('is led by the first eligible replica with every eligible replica in the ISR', () => {
    expect(initialLeaderAndIsr([2, 0, 1], set(0, 1, 2))).toEqual({ leader: 2, isr: [2, 0, 1] });
    expect(initialLeaderAndIsr([2, 0, 1], set(0, 1))).toEqual({ leader: 0, isr: [0, 1] });
    expect(initialLeaderAndIsr([2], set(0, 1))).toBeNull();
  });
});

describe('controlled shutdown election', () => {
  it('moves leadership to another ISR member that is not shutting down, and drops the shutting-down brokers from the ISR', () => {
    expect(electForControlledShutdown([0, 1, 2], { leader: 0, isr: [0, 1, 2] }, set(1, 2), set(0))).toEqual({ ok: true, value: { leader: 1, isr: [1, 2] } });
    expect(electForControlledShutdown([0, 1, 2], { leader: 0, isr: [0, 2] }, set(1, 2), set(0))).toEqual({ ok: true, value: { leader: 2, isr: [2] } });
  });

  it('fails when the leader is the only eligible ISR member', () => {
    expect(electForControlledShutdown([0, 1], { leader: 0, isr: [0] }, set(1), set(0))).toEqual({ ok: false, reason: 'no-eligible-leader' });
  });
});

describe('preferred and reassignment elections', () => {
  it('elects the preferred replica only when it is eligible and in the ISR, leaving the ISR alone', () => {
    expect(electPreferredReplica([1, 2, 3], { leader: 2, isr: [2, 3, 1] }, set(1, 2, 3))).toEqual({ ok: true, value: { leader: 1, isr: [2, 3, 1] } });
    expect(electPreferredReplica([1, 2, 3], { leader: 2, isr: [2, 3] }, set(1, 2, 3))).toEqual({ ok: false, reason: 'preferred-not-eligible' });
    expect(electPreferredReplica([1, 2, 3], { leader: 2, isr: [2, 3, 1] }, set(2, 3))).toEqual({ ok: false, reason: 'preferred-not-eligible' });
  });

  it('elects from the target replicas for a reassignment', () => {
    expect(electForReassignment([4, 5], { leader: 1, isr: [1, 5, 4] }, set(1, 4, 5))).toEqual({ ok: true, value: { leader: 4, isr: [1, 5, 4] } });
    expect(electForReassignment([4, 5], { leader: 1, isr: [1] }, set(1, 4, 5))).toEqual({ ok: false, reason: 'no-eligible-leader' });
  });
});

describe('a replica leaving the ISR', () => {
  it('never empties the ISR and leaves the partition without a leader when the leader goes', () => {
    expect(removeReplicaFromIsr({ leader: 1, isr: [1, 2] }, 2)).toEqual({ leader: 1, isr: [1] });
    expect(removeReplicaFromIsr({ leader: 1, isr: [1, 2] }, 1)).toEqual({ leader: -1, isr: [2] });
    expect(removeReplicaFromIsr({ leader: 1, isr: [1] }, 1)).toEqual({ leader: -1, isr: [1] });
    expect(removeReplicaFromIsr({ leader: 1, isr: [1] }, 3)).toBeNull();
  });
});

describe('state after a broker change', () => {
  const all = set(0, 1, 2);

  it('changes nothing when every ISR member is alive', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: 0, isr: [0, 1, 2] }, all, all, false)).toBeNull();
  });

  it('takes a dead follower out of the ISR', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: 0, isr: [0, 1, 2] }, set(0, 2), set(0, 2), false)).toEqual({ value: { leader: 0, isr: [0, 2] }, unclean: false });
  });

  it('elects a new leader from the live ISR when the leader died', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: 0, isr: [0, 1, 2] }, set(1, 2), set(1, 2), false)).toEqual({ value: { leader: 1, isr: [1, 2] }, unclean: false });
  });

  it('leaves the partition offline (leader -1) with the last ISR member listed when no ISR member is alive', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: 0, isr: [0] }, set(1, 2), set(1, 2), false)).toEqual({ value: { leader: -1, isr: [0] }, unclean: false });
    // Already offline: nothing more to write until an ISR member returns.
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: -1, isr: [0] }, set(1, 2), set(1, 2), false)).toBeNull();
  });

  it('keeps every dead ISR member listed when all of them died at once (any of them leads cleanly on return)', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: 0, isr: [0, 1] }, set(2), set(2), false)).toEqual({ value: { leader: -1, isr: [0, 1] }, unclean: false });
  });

  it('elects the returning ISR member of an offline partition', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: -1, isr: [0] }, all, all, false)).toEqual({ value: { leader: 0, isr: [0] }, unclean: false });
  });

  it('elects any live replica of an offline partition when unclean election is allowed', () => {
    expect(leaderAndIsrForBrokerChange([0, 1, 2], { leader: -1, isr: [0] }, set(1, 2), set(1, 2), true)).toEqual({ value: { leader: 1, isr: [1] }, unclean: true });
  });

  it('does not elect brokers that are shutting down, and keeps a shutting-down leader nobody can replace', () => {
    // Leader 0 is shutting down (alive, not eligible); 1 is in the ISR and takes over.
    expect(leaderAndIsrForBrokerChange([0, 1], { leader: 0, isr: [0, 1] }, set(0, 1), set(1), false)).toEqual({ value: { leader: 1, isr: [0, 1] }, unclean: false });
    // Nobody else in the ISR: it keeps leading.
    expect(leaderAndIsrForBrokerChange([0, 1], { leader: 0, isr: [0] }, set(0, 1), set(1), false)).toBeNull();
  });
});

describe('leader balance', () => {
  const p = (name: string, replicas: number[], leader: number | undefined) => ({ partition: name, replicas, leader });

  it('moves leadership back to a preferred replica whose share of foreign-led partitions exceeds the threshold', () => {
    const partitions = [p('a', [0, 1], 1), p('b', [0, 1], 0), p('c', [1, 0], 1), p('d', [2, 0], 2)];
    // Broker 0 prefers a and b; a is led elsewhere: 50% > 10%.
    expect(partitionsToRebalance(partitions, set(0, 1, 2), 10)).toEqual(['a']);
    // 50% is not above 50%.
    expect(partitionsToRebalance(partitions, set(0, 1, 2), 50)).toEqual([]);
  });

  it('skips preferred replicas that are not eligible and partitions without a state', () => {
    expect(partitionsToRebalance([p('a', [0, 1], 1)], set(1), 10)).toEqual([]);
    expect(partitionsToRebalance([p('a', [0, 1], undefined)], set(0, 1), 10)).toEqual([]);
  });
});
