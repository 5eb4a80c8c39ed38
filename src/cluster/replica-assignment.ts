/**
 * Kafka's rack-unaware replica assignment (AdminUtils.assignReplicasToBrokersRackUnaware):
 * partition leaders spread round-robin from a random start, followers shifted so that replicas
 * of consecutive partitions land on different brokers.
 */
export function assignReplicas(
  brokerIds: readonly number[],
  numPartitions: number,
  replicationFactor: number,
  random: () => number = Math.random,
): Map<number, number[]> {
  const brokers = [...brokerIds].sort((a, b) => a - b);
  const n = brokers.length;
  const out = new Map<number, number[]>();
  const startIndex = Math.floor(random() * n);
  let nextReplicaShift = Math.floor(random() * n);
  for (let p = 0; p < numPartitions; p++) {
    if (p > 0 && p % n === 0) nextReplicaShift++;
    const first = (p + startIndex) % n;
    const replicas = [brokers[first]!];
    for (let j = 0; j < replicationFactor - 1; j++) {
      const shift = 1 + ((nextReplicaShift + j) % (n - 1));
      replicas.push(brokers[(first + shift) % n]!);
    }
    out.set(p, replicas);
  }
  return out;
}
