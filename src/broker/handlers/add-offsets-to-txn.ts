/**
 * AddOffsetsToTxn (key 25), v0-4: the group's __consumer_offsets partition joins the producer's transaction (Kafka
 * adds exactly that partition), so the TxnOffsetCommits that follow are committed or aborted with it.
 * PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.
 */
import type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponseInput } from '../../protocol/generated/add-offsets-to-txn.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import { OFFSETS_TOPIC } from '../../cluster/topic-names.js';
import { fencedErrorFor, type TransactionServices } from './transaction-services.js';

export function addOffsetsToTxnHandler(b: TransactionServices): ApiHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponseInput> {
  return {
    apiKey: 25,
    minVersion: 0,
    maxVersion: 4,
    async handle(req, ctx) {
      const tc = b.transactionCoordinator;
      const gc = b.groupCoordinator;
      if (tc === null || gc === null) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
      const partition = gc.partitionFor(req.groupId);
      const code = await tc.addPartitions(req.transactionalId, req.producerId, req.producerEpoch, [{ topic: OFFSETS_TOPIC, partition }]);
      return { throttleTimeMs: 0, errorCode: fencedErrorFor(code, ctx.apiVersion, 2) };
    },
  };
}
