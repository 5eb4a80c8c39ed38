/**
 * Leader election as pure functions: Kafka's PartitionLeaderElectionAlgorithms and the
 * leader/ISR transitions of its ZooKeeper-era PartitionStateMachine and ReplicaStateMachine.
 * Nothing here reads or writes the registry; the controller feeds in its view (assignment,
 * current leader and ISR, brokers) and writes what comes out, with the leader epoch bumped.
 *
 * Words used as Kafka uses them:
 *  - assignment: the partition's replicas in order; the first is the preferred replica.
 *  - alive: brokers registered under /brokers/ids, including those in a controlled shutdown.
 *  - eligible: alive brokers that are not shutting down (Kafka's "live" brokers). Only they
 *    are elected.
 */

/** The part of a partition's state an election changes. */
export interface LeaderAndIsr {
  /** -1 when the partition has no leader (offline). */
  leader: number;
  isr: number[];
}

export const NO_LEADER = -1;

/** Why an election found nobody (the controller maps these onto Kafka's error codes). */
export type ElectionFailure = 'no-eligible-leader' | 'preferred-not-eligible';

export type ElectionResult = { ok: true; value: LeaderAndIsr; unclean?: boolean } | { ok: false; reason: ElectionFailure };

// ---- The algorithms (PartitionLeaderElectionAlgorithms) ----------------------------------------

/** First replica in assignment order that is eligible and in the ISR; else, when unclean election is allowed, the first eligible one. */
export function offlinePartitionLeaderElection(
  assignment: readonly number[],
  isr: readonly number[],
  eligible: ReadonlySet<number>,
  uncleanLeaderElectionEnabled: boolean,
): { leader: number; unclean: boolean } | null {
  const clean = assignment.find((r) => eligible.has(r) && isr.includes(r));
  if (clean !== undefined) return { leader: clean, unclean: false };
  if (!uncleanLeaderElectionEnabled) return null;
  const unclean = assignment.find((r) => eligible.has(r));
  return unclean === undefined ? null : { leader: unclean, unclean: true };
}

/** First replica of the target assignment that is eligible and in the ISR (reassignment). */
export function reassignPartitionLeaderElection(target: readonly number[], isr: readonly number[], eligible: ReadonlySet<number>): number | null {
  return target.find((r) => eligible.has(r) && isr.includes(r)) ?? null;
}

/** The preferred replica (first in the assignment), if it is eligible and in the ISR. */
export function preferredReplicaPartitionLeaderElection(assignment: readonly number[], isr: readonly number[], eligible: ReadonlySet<number>): number | null {
  const preferred = assignment[0];
  return preferred !== undefined && eligible.has(preferred) && isr.includes(preferred) ? preferred : null;
}

/** First replica in assignment order that is eligible, in the ISR and not shutting down. */
export function controlledShutdownPartitionLeaderElection(
  assignment: readonly number[],
  isr: readonly number[],
  eligible: ReadonlySet<number>,
  shuttingDown: ReadonlySet<number>,
): number | null {
  return assignment.find((r) => eligible.has(r) && isr.includes(r) && !shuttingDown.has(r)) ?? null;
}

// ---- Transitions -----------------------------------------------------------------------------

/**
 * A new partition's first state (NewPartition → OnlinePartition): the first eligible replica leads
 * and every eligible replica is in the ISR. Null when no replica is eligible (the partition then
 * waits, without a state, for one of its brokers).
 */
export function initialLeaderAndIsr(assignment: readonly number[], eligible: ReadonlySet<number>): LeaderAndIsr | null {
  const isr = assignment.filter((r) => eligible.has(r));
  return isr.length === 0 ? null : { leader: isr[0]!, isr };
}

/**
 * Offline partition election (leaderForOffline): the new leader as above; the ISR keeps its alive
 * members when the leader came from it, and is the leader alone after an unclean election.
 */
export function electForOfflinePartition(
  assignment: readonly number[],
  current: LeaderAndIsr,
  alive: ReadonlySet<number>,
  eligible: ReadonlySet<number>,
  uncleanLeaderElectionEnabled: boolean,
): ElectionResult {
  const choice = offlinePartitionLeaderElection(assignment, current.isr, eligible, uncleanLeaderElectionEnabled);
  if (!choice) return { ok: false, reason: 'no-eligible-leader' };
  const isr = current.isr.includes(choice.leader) ? current.isr.filter((r) => alive.has(r)) : [choice.leader];
  return { ok: true, value: { leader: choice.leader, isr }, unclean: choice.unclean };
}

/** Controlled shutdown election (leaderForControlledShutdown): the shutting-down brokers also leave the ISR. */
export function electForControlledShutdown(
  assignment: readonly number[],
  current: LeaderAndIsr,
  eligible: ReadonlySet<number>,
  shuttingDown: ReadonlySet<number>,
): ElectionResult {
  const leader = controlledShutdownPartitionLeaderElection(assignment, current.isr, eligible, shuttingDown);
  if (leader === null) return { ok: false, reason: 'no-eligible-leader' };
  return { ok: true, value: { leader, isr: current.isr.filter((r) => !shuttingDown.has(r)) } };
}

/** Preferred replica election (leaderForPreferredReplica): the ISR is unchanged. */
export function electPreferredReplica(assignment: readonly number[], current: LeaderAndIsr, eligible: ReadonlySet<number>): ElectionResult {
  const leader = preferredReplicaPartitionLeaderElection(assignment, current.isr, eligible);
  if (leader === null) return { ok: false, reason: 'preferred-not-eligible' };
  return { ok: true, value: { leader, isr: [...current.isr] } };
}

/** Reassignment election (leaderForReassign): a leader from the target replicas; the ISR is unchanged. */
export function electForReassignment(target: readonly number[], current: LeaderAndIsr, eligible: ReadonlySet<number>): ElectionResult {
  const leader = reassignPartitionLeaderElection(target, current.isr, eligible);
  if (leader === null) return { ok: false, reason: 'no-eligible-leader' };
  return { ok: true, value: { leader, isr: [...current.isr] } };
}

/**
 * A replica leaves the ISR (the OfflineReplica transition): the ISR never becomes empty (its last
 * member stays, so that it is elected when it returns), and a leader that leaves leaves the
 * partition without one. Null when the replica is not in the ISR (nothing to write).
 */
export function removeReplicaFromIsr(current: LeaderAndIsr, replica: number): LeaderAndIsr | null {
  if (!current.isr.includes(replica)) return null;
  const isr = current.isr.length === 1 ? [...current.isr] : current.isr.filter((r) => r !== replica);
  const leader = current.leader === replica ? NO_LEADER : current.leader;
  return { leader, isr };
}

/**
 * The state a partition should have given which brokers are alive, in one step (one leader epoch
 * bump) where Kafka takes two (OfflineReplica for each dead replica, then OnlinePartition for
 * partitions without a leader). Used on broker changes and when a controller takes over.
 *  - The ISR loses its dead members, but is never emptied.
 *  - A partition whose leader is not eligible (dead or shutting down) gets the offline election.
 *    When nobody can be elected: a dead leader becomes -1 (the ISR, all dead, is kept as it was,
 *    so any of its members leads cleanly when it returns); a leader still shutting down stays.
 * Returns null when nothing changes.
 */
export function leaderAndIsrForBrokerChange(
  assignment: readonly number[],
  current: LeaderAndIsr,
  alive: ReadonlySet<number>,
  eligible: ReadonlySet<number>,
  uncleanLeaderElectionEnabled: boolean,
): { value: LeaderAndIsr; unclean: boolean } | null {
  if (current.leader !== NO_LEADER && eligible.has(current.leader)) {
    const isr = current.isr.filter((r) => alive.has(r));
    if (isr.length === 0 || sameMembers(isr, current.isr)) return null;
    return { value: { leader: current.leader, isr }, unclean: false };
  }
  const elected = electForOfflinePartition(assignment, current, alive, eligible, uncleanLeaderElectionEnabled);
  if (elected.ok) return { value: elected.value, unclean: elected.unclean === true };
  if (current.leader !== NO_LEADER && alive.has(current.leader)) {
    // The leader is shutting down and nobody else can take over: it keeps leading, its dead followers leave.
    const isr = current.isr.filter((r) => alive.has(r));
    if (isr.length === 0 || sameMembers(isr, current.isr)) return null;
    return { value: { leader: current.leader, isr }, unclean: false };
  }
  if (current.leader === NO_LEADER) {
    const aliveIsr = current.isr.filter((r) => alive.has(r));
    // Members that are alive but not eligible (shutting down) are not elected; dead ones stay listed.
    if (aliveIsr.length === 0 || sameMembers(aliveIsr, current.isr)) return null;
    return { value: { leader: NO_LEADER, isr: aliveIsr }, unclean: false };
  }
  return { value: { leader: NO_LEADER, isr: [...current.isr] }, unclean: false };
}

/** True when both lists hold the same brokers in the same order. */
export function sameLeaderAndIsr(a: LeaderAndIsr, b: LeaderAndIsr): boolean {
  return a.leader === b.leader && sameMembers(a.isr, b.isr);
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- Leader balance (auto.leader.rebalance.enable) ------------------------------------------

export interface PartitionLeadership<T> {
  partition: T;
  replicas: readonly number[];
  /** The current leader, or undefined when the partition has no state yet. */
  leader: number | undefined;
}

/**
 * Kafka's checkAndTriggerAutoLeaderRebalance: partitions are grouped by their preferred replica;
 * a broker whose share of partitions led by someone else exceeds
 * leader.imbalance.per.broker.percentage gets those partitions back, when it is eligible. (The
 * preferred election then also needs it in the ISR.) Returns the partitions to elect.
 */
export function partitionsToRebalance<T>(
  partitions: ReadonlyArray<PartitionLeadership<T>>,
  eligible: ReadonlySet<number>,
  imbalancePercentage: number,
): T[] {
  const byPreferred = new Map<number, Array<PartitionLeadership<T>>>();
  for (const p of partitions) {
    const preferred = p.replicas[0];
    if (preferred === undefined) continue;
    let list = byPreferred.get(preferred);
    if (!list) byPreferred.set(preferred, (list = []));
    list.push(p);
  }
  const out: T[] = [];
  for (const [broker, list] of [...byPreferred.entries()].sort((a, b) => a[0] - b[0])) {
    const notPreferred = list.filter((p) => p.leader !== undefined && p.leader !== broker);
    const ratio = notPreferred.length / list.length;
    if (ratio > imbalancePercentage / 100 && eligible.has(broker)) out.push(...notPreferred.map((p) => p.partition));
  }
  return out;
}
