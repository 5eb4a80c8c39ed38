/**
 * AddPartitionsToTxn (key 24), v0-5: partitions join the producer's transaction on its coordinator. v0-3 (clients)
 * carry one transaction; v4+ (Kafka's brokers, KIP-890) a batch, each with `verify_only` (is every partition already
 * in the open transaction?). A partition of an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION and the others
 * OPERATION_NOT_ATTEMPTED, as Kafka; otherwise every partition gets the coordinator's answer. PRODUCER_FENCED is
 * INVALID_PRODUCER_EPOCH before v2.
 */
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponseInput, AddPartitionsToTxnResponseAddPartitionsToTxnTopicResultInput } from '../../protocol/generated/add-partitions-to-txn.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { TopicPartition } from '../../transaction/transaction-metadata.js';
import { fencedErrorFor, type TransactionServices } from './transaction-services.js';

interface TopicRequest {
  name: string;
  partitions: number[];
}

export function addPartitionsToTxnHandler(b: TransactionServices): ApiHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponseInput> {
  async function one(txnId: string, producerId: number, producerEpoch: number, topics: TopicRequest[], verifyOnly: boolean, version: number) {
    const unknown = new Set<string>();
    const partitions: TopicPartition[] = [];
    for (const t of topics) {
      for (const p of t.partitions) {
        if (b.metadata.partition(t.name, p) === undefined) unknown.add(`${t.name}\u0000${p}`);
        else partitions.push({ topic: t.name, partition: p });
      }
    }
    let code: number;
    if (unknown.size > 0) code = ErrorCode.OPERATION_NOT_ATTEMPTED;
    else if (b.transactionCoordinator === null) code = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    else code = fencedErrorFor(await b.transactionCoordinator.addPartitions(txnId, producerId, producerEpoch, partitions, verifyOnly), version, 2);
    const results: AddPartitionsToTxnResponseAddPartitionsToTxnTopicResultInput[] = topics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({
        partitionIndex: p,
        partitionErrorCode: unknown.has(`${t.name}\u0000${p}`) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : code,
      })),
    }));
    return results;
  }

  return {
    apiKey: 24,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      if (v <= 3) {
        const resultsByTopicV3AndBelow = await one(req.v3AndBelowTransactionalId, req.v3AndBelowProducerId, req.v3AndBelowProducerEpoch, req.v3AndBelowTopics, false, v);
        return { throttleTimeMs: 0, resultsByTopicV3AndBelow };
      }
      const resultsByTransaction = [];
      for (const t of req.transactions) {
        resultsByTransaction.push({ transactionalId: t.transactionalId, topicResults: await one(t.transactionalId, t.producerId, t.producerEpoch, t.topics, t.verifyOnly, v) });
      }
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, resultsByTransaction };
    },
  };
}
