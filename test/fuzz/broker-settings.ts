/**
 * Broker settings for fuzzing, shared by the in-process and the process target. Small
 * __consumer_offsets and no initial rebalance delay keep group requests quick; everything else is
 * the broker's default, so the fuzzer sees what a user runs.
 */
export const FUZZ_BROKER_OVERRIDES: Record<string, string> = {
  'num.partitions': '2',
  'offsets.topic.num.partitions': '2',
  'offsets.topic.replication.factor': '1',
  'group.initial.rebalance.delay.ms': '0',
};
