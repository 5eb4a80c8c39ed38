/**
 * Kafka's bound on how many partitions one admin request may create (ReplicationControlManager's
 * MAX_PARTITIONS_PER_BATCH and QuorumController's MAX_RECORDS_PER_USER_OP, both 10 000). Without it, one
 * CreateTopics or CreatePartitions asking for millions of partitions makes the broker build millions of
 * assignments and logs: its memory climbs past a gigabyte and every other client waits (found by the
 * fuzzer, test/fixtures/fuzz). Kafka answers such a request with POLICY_VIOLATION for every topic in it.
 */
export const MAX_PARTITIONS_PER_REQUEST = 10_000;

/** CreateTopics: ReplicationControlManager.validateTotalNumberOfPartitions's message. */
export const TOO_MANY_PARTITIONS_MESSAGE = 'Excessively large number of partitions per request.';
/** CreatePartitions: the message of the PolicyViolationException a too-long record batch becomes. */
export const TOO_LARGE_BATCH_MESSAGE = 'Unable to perform excessively large batch operation.';

/**
 * Partitions a CreateTopics request would create, counted as Kafka counts them: the assignments when
 * given, else num_partitions (-1: the broker default; 0 or less: none).
 */
export function partitionsToCreate(
  topics: readonly { numPartitions: number; assignments: readonly unknown[] }[],
  defaultNumPartitions: number,
): number {
  let total = 0;
  for (const t of topics) {
    if (t.assignments.length > 0) total += t.assignments.length;
    else if (t.numPartitions === -1) total += defaultNumPartitions;
    else if (t.numPartitions > 0) total += t.numPartitions;
  }
  return total;
}

/**
 * Partitions a CreatePartitions request would add. A topic this broker's metadata does not know yet counts
 * from 0: the controller reads the registry, which may already hold a topic the metadata cache has not seen
 * (the fuzzer found exactly that race, with __consumer_offsets re-created by FindCoordinator).
 */
export function partitionsToAdd(topics: readonly { name: string; count: number }[], currentCount: (topic: string) => number | undefined): number {
  let total = 0;
  for (const t of topics) {
    const current = currentCount(t.name) ?? 0;
    if (t.count > current) total += t.count - current;
  }
  return total;
}
