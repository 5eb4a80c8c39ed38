/**
 * The controller's record of replicas in failed log dirs: such a replica counts as dead for its own partition
 * only, and the record a broker leaves in the registry round-trips.
 */
import { describe, expect, it } from 'vitest';
import { ControllerContext, tpKey } from '../../src/cluster/controller-context.js';
import { decodeOfflineReplicas, encodeOfflineReplicas } from '../../src/registry/paths.js';

describe('ControllerContext: replicas in failed log dirs', () => {
  it('takes a broker out of the candidate set of the partitions whose replica is offline there, and of no other', () => {
    const ctx = new ControllerContext();
    const brokers = new Set([0, 1, 2]);
    ctx.offlineReplicas.set(1, new Set([tpKey('t', 0), tpKey('u', 3)]));
    expect([...ctx.forPartition(brokers, { topic: 't', partition: 0 })]).toEqual([0, 2]);
    expect([...ctx.forPartition(brokers, { topic: 'u', partition: 3 })]).toEqual([0, 2]);
    // the same set (no copy) where nothing is offline, and the caller's set is never changed
    expect(ctx.forPartition(brokers, { topic: 't', partition: 1 })).toBe(brokers);
    expect([...brokers]).toEqual([0, 1, 2]);
    expect(ctx.isReplicaOffline(1, 't', 0)).toBe(true);
    expect(ctx.isReplicaOffline(0, 't', 0)).toBe(false);
    expect(ctx.isReplicaOffline(1, 't', 1)).toBe(false);
    // a broker not in the set stays out of it
    expect([...ctx.forPartition(new Set([0, 2]), { topic: 't', partition: 0 })]).toEqual([0, 2]);
    ctx.reset();
    expect(ctx.isReplicaOffline(1, 't', 0)).toBe(false);
  });

  it("round-trips a broker's record of its offline replicas", () => {
    const replicas = [
      { topic: 'a.b_c-d', partition: 0 },
      { topic: 'x', partition: 17 },
    ];
    const data = encodeOfflineReplicas(replicas);
    expect(JSON.parse(data.toString('utf8'))).toEqual({ version: 1, partitions: replicas });
    expect(decodeOfflineReplicas(data)).toEqual(replicas);
  });
});
