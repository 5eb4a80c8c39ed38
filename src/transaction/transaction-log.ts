/**
 * `__transaction_state` (Kafka's TransactionLog): where transactional id T lives, the topic's configs, and its records.
 *
 * - Partition: abs(javaHashCode(T)) % transaction.state.log.num.partitions, as for groups.
 * - Record key = int16 version (0) + TransactionLogKey v0 (the transactional id).
 * - Record value = int16 version (0) + TransactionLogValue v0 (producer id and epoch, timeout, state byte, the
 *   partitions by topic — null in state Empty —, last update and start times); a null value is a tombstone (the id
 *   expired). Written exactly as Kafka writes them, so Kafka's tools read kfk's log and the other way round.
 */
import { Reader, Writer } from '../protocol/primitives.js';
import { readTransactionLogKey, sizeTransactionLogKey, writeTransactionLogKey } from '../protocol/generated/transaction-log-key.js';
import {
  readTransactionLogValue,
  sizeTransactionLogValue,
  writeTransactionLogValue,
  type TransactionLogValueInput,
} from '../protocol/generated/transaction-log-value.js';
import { offsetsPartitionFor } from '../group/offsets-topic.js';
import { TXN_STATE_IDS, txnStateFromId, type TopicPartition, type TxnTransit } from './transaction-metadata.js';

const KEY_VERSION = 0;
const VALUE_VERSION = 0;

/** The __transaction_state partition of a transactional id. */
export function transactionStatePartitionFor(transactionalId: string, numPartitions: number): number {
  return offsetsPartitionFor(transactionalId, numPartitions);
}

/**
 * The topic configs Kafka gives __transaction_state (TransactionStateManager.transactionTopicConfigs). kfk clamps
 * min.insync.replicas to the replication factor it creates the topic with (itself clamped to the live brokers), so a
 * one-broker cluster can run transactions with Kafka's default transaction.state.log.min.isr of 2.
 */
export function transactionStateTopicConfigs(segmentBytes: number, minIsr: number): Record<string, string> {
  return {
    'cleanup.policy': 'compact',
    'compression.type': 'producer',
    'min.insync.replicas': String(minIsr),
    'segment.bytes': String(segmentBytes),
    'unclean.leader.election.enable': 'false',
  };
}

export function transactionLogKey(transactionalId: string): Buffer {
  const k = { transactionalId };
  const w = Writer.alloc(2 + sizeTransactionLogKey(k, KEY_VERSION));
  w.int16(KEY_VERSION);
  writeTransactionLogKey(w, k, KEY_VERSION);
  return w.finish();
}

function groupByTopic(partitions: readonly TopicPartition[]): { topic: string; partitionIds: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const tp of partitions) {
    let ids = byTopic.get(tp.topic);
    if (ids === undefined) byTopic.set(tp.topic, (ids = []));
    ids.push(tp.partition);
  }
  return [...byTopic].map(([topic, partitionIds]) => ({ topic, partitionIds: partitionIds.sort((a, b) => a - b) }));
}

export function transactionLogValue(t: TxnTransit): Buffer {
  const v: TransactionLogValueInput = {
    producerId: t.producerId,
    producerEpoch: t.producerEpoch,
    transactionTimeoutMs: t.txnTimeoutMs,
    transactionStatus: TXN_STATE_IDS[t.state],
    transactionPartitions: t.state === 'Empty' ? null : groupByTopic(t.partitions),
    transactionLastUpdateTimestampMs: t.txnLastUpdateTimestamp,
    transactionStartTimestampMs: t.txnStartTimestamp,
  };
  const w = Writer.alloc(2 + sizeTransactionLogValue(v, VALUE_VERSION));
  w.int16(VALUE_VERSION);
  writeTransactionLogValue(w, v, VALUE_VERSION);
  return w.finish();
}

/** The transactional id of a record key, or null when the key is not a TransactionLogKey. */
export function decodeTransactionLogKey(key: Buffer): string | null {
  if (key.length < 2) return null;
  const r = new Reader(key);
  const version = r.int16();
  if (version !== KEY_VERSION) return null;
  return readTransactionLogKey(r, version).transactionalId;
}

/** A record value as the state it describes (Kafka's readTxnRecordValue); throws on an unknown version. */
export function decodeTransactionLogValue(value: Buffer): TxnTransit {
  const r = new Reader(value);
  const version = r.int16();
  if (version < 0 || version > 1) throw new Error(`unknown transaction log value version ${version}`);
  const v = readTransactionLogValue(r, version);
  const partitions: TopicPartition[] = [];
  for (const t of v.transactionPartitions ?? []) for (const p of t.partitionIds) partitions.push({ topic: t.topic, partition: p });
  return {
    producerId: v.producerId,
    lastProducerId: v.previousProducerId,
    producerEpoch: v.producerEpoch,
    lastProducerEpoch: -1,
    txnTimeoutMs: v.transactionTimeoutMs,
    state: txnStateFromId(v.transactionStatus),
    partitions,
    txnStartTimestamp: v.transactionStartTimestampMs,
    txnLastUpdateTimestamp: v.transactionLastUpdateTimestampMs,
  };
}
