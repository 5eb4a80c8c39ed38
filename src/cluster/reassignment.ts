/**
 * Partition reassignment as pure functions (Kafka's PartitionReplicaAssignment and the checks of
 * KafkaController.validateReassignment, KIP-455). A partition being reassigned has the full replica
 * set RS = TRS + ORS (target first), AR = TRS - ORS adding and RR = ORS - TRS removing, all written
 * in its topic's assignment znode. It completes once every target replica is in the ISR: leadership
 * moves into the target set if needed, the removed replicas leave the ISR, and RS becomes TRS.
 */

export interface ReplicaAssignment {
  /** RS: the full replica set (target replicas first while reassigning). */
  replicas: number[];
  /** AR */
  adding: number[];
  /** RR */
  removing: number[];
}

export const isBeingReassigned = (a: ReplicaAssignment): boolean => a.adding.length > 0 || a.removing.length > 0;

/** TRS: the replicas the partition ends up with. */
export function targetReplicas(a: ReplicaAssignment): number[] {
  return a.replicas.filter((r) => !a.removing.includes(r));
}

/** ORS: the replicas before the ongoing reassignment (what a cancellation goes back to). */
export function originReplicas(a: ReplicaAssignment): number[] {
  return a.replicas.filter((r) => !a.adding.includes(r));
}

/** Kafka's reassignTo: from the origin replicas (an ongoing reassignment is replaced) to `target`. */
export function reassignTo(current: ReplicaAssignment, target: readonly number[]): ReplicaAssignment {
  const origin = originReplicas(current);
  const replicas = [...new Set([...target, ...origin])];
  return { replicas, adding: target.filter((r) => !origin.includes(r)), removing: origin.filter((r) => !target.includes(r)) };
}

/** Kafka's validateReassignment: an error message (INVALID_REPLICA_ASSIGNMENT), or null. */
export function invalidReassignment(target: readonly number[], current: ReplicaAssignment, liveBrokers: ReadonlySet<number>): string | null {
  if (target.length === 0) return 'Empty replica list specified in partition reassignment.';
  if (new Set(target).size !== target.length) return `Duplicate replica ids in partition reassignment replica list: ${target.join(',')}`;
  if (target.some((r) => !Number.isInteger(r) || r < 0)) return `Invalid broker id in replica list: ${target.join(',')}`;
  const adding = reassignTo(current, target).adding;
  if (!adding.every((r) => liveBrokers.has(r))) {
    return `Replica assignment has brokers that are not alive. Replica list: ${adding.join(',')}, live broker list: ${[...liveBrokers].sort((a, b) => a - b).join(',')}`;
  }
  return null;
}

export function sameReplicas(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
