/**
 * Writes leader and ISR changes the controller decided (elections, brokers leaving ISRs), as
 * Kafka's ZooKeeper-era controller does: each partition's state znode is set with the version the
 * controller last read, inside a multi-op that checks the controller epoch (fencedMulti), with the
 * leader epoch + 1 and this controller's epoch. When a partition leader changed the ISR in between
 * (BAD_VERSION), the state is read again and the change recomputed from it; the new state never
 * overwrites one the controller has not seen. A failed epoch check aborts with ControllerMovedError.
 */
import { isRegistryError, type Registry } from '../registry/registry.js';
import { decodePartitionState, encodePartitionState, partitionStatePath, type PartitionState } from '../registry/paths.js';
import type { ControllerContext, PartitionStateWithVersion, TopicPartitionRef } from './controller-context.js';
import { fencedMulti } from './controller-epoch.js';
import type { ElectionFailure, LeaderAndIsr } from './leader-election.js';

/** What to do with one partition, given its current state: a change, nothing, or a failed election. */
export type LeaderAndIsrDecision = { change: LeaderAndIsr; unclean?: boolean } | { failure: ElectionFailure; message: string } | null;

export type LeaderAndIsrOutcome =
  | { status: 'updated'; state: PartitionState; unclean: boolean }
  | { status: 'unchanged'; state: PartitionState }
  | { status: 'failed'; failure: ElectionFailure; message: string }
  /** The partition (its topic) no longer exists, or has no state yet. */
  | { status: 'missing' };

/** Conflicting writers are rare; a partition that keeps changing under us is given up on after this many attempts. */
const MAX_ATTEMPTS = 10;
/** Partition writes in flight at once (each is one round trip to ZooKeeper). */
const CONCURRENCY = 32;

export async function writeLeaderAndIsr(
  registry: Registry,
  ctx: ControllerContext,
  partitions: readonly TopicPartitionRef[],
  decide: (tp: TopicPartitionRef, current: PartitionStateWithVersion, replicas: number[]) => LeaderAndIsrDecision,
): Promise<Map<TopicPartitionRef, LeaderAndIsrOutcome>> {
  const out = new Map<TopicPartitionRef, LeaderAndIsrOutcome>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < partitions.length) {
      const tp = partitions[next++]!;
      out.set(tp, await writeOne(registry, ctx, tp, decide));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, partitions.length) }, worker));
  return out;
}

async function writeOne(
  registry: Registry,
  ctx: ControllerContext,
  tp: TopicPartitionRef,
  decide: (tp: TopicPartitionRef, current: PartitionStateWithVersion, replicas: number[]) => LeaderAndIsrDecision,
): Promise<LeaderAndIsrOutcome> {
  for (let attempt = 0; ; attempt++) {
    const current = ctx.partitionState(tp.topic, tp.partition);
    const replicas = ctx.replicas(tp.topic, tp.partition);
    if (!current || !replicas) return { status: 'missing' };
    const decision = decide(tp, current, replicas);
    if (decision === null) return { status: 'unchanged', state: current.state };
    if ('failure' in decision) return { status: 'failed', failure: decision.failure, message: decision.message };
    const state: PartitionState = {
      controllerEpoch: ctx.epoch,
      leader: decision.change.leader,
      leaderEpoch: current.state.leaderEpoch + 1,
      isr: decision.change.isr,
    };
    const path = partitionStatePath(tp.topic, tp.partition);
    try {
      const [result] = await fencedMulti(registry, ctx.epochZkVersion, [{ op: 'set', path, data: encodePartitionState(state), version: current.version }]);
      const version = result && result.op === 'set' ? result.stat.version : current.version + 1;
      ctx.setPartitionState(tp.topic, tp.partition, { state, version });
      return { status: 'updated', state, unclean: decision.unclean === true };
    } catch (err) {
      if (isRegistryError(err, 'NO_NODE')) {
        ctx.removePartitionState(tp.topic, tp.partition);
        return { status: 'missing' };
      }
      if (!isRegistryError(err, 'BAD_VERSION') || attempt + 1 >= MAX_ATTEMPTS) throw err;
      // A leader changed its ISR since we read the state: read it again and decide again.
      if (!(await refreshPartitionState(registry, ctx, tp))) return { status: 'missing' };
    }
  }
}

/** Re-reads one partition's state znode into the context; false when it no longer exists. */
export async function refreshPartitionState(registry: Registry, ctx: ControllerContext, tp: TopicPartitionRef): Promise<boolean> {
  const node = await registry.get(partitionStatePath(tp.topic, tp.partition));
  if (!node) {
    ctx.removePartitionState(tp.topic, tp.partition);
    return false;
  }
  ctx.setPartitionState(tp.topic, tp.partition, { state: decodePartitionState(node.data), version: node.stat.version });
  return true;
}
