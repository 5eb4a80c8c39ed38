/**
 * Kafka's default key partitioner: murmur2 exactly as the Java client's Utils.murmur2, so keyed
 * records land on the same partitions as with the Java client, librdkafka (murmur2_random) and kafkajs.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** 32-bit murmur2 of key, as a signed int (Java int semantics). */
export function murmur2(key: Buffer): number {
  const length = key.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    // little-endian 32-bit word
    let k = key[i4]! | (key[i4 + 1]! << 8) | (key[i4 + 2]! << 16) | (key[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length4 << 2;
  const rest = length & 3;
  if (rest === 3) h ^= key[tail + 2]! << 16;
  if (rest >= 2) h ^= key[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= key[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** Partition for a non-null key, as Kafka's default partitioner / BuiltInPartitioner. */
export function partitionForKey(key: Buffer, numPartitions: number): number {
  return toPositive(murmur2(key)) % numPartitions;
}
