/**
 * InitProducerId (key 22), v0-5 (flexible from v2). Clients send it to any broker (librdkafka v4, platformatic 3-5)
 * or to the controller (kafkajs v1) for an idempotent producer, and to the transaction coordinator for a
 * transactional one.
 *
 * - `transactional_id = null` (idempotent producer): a fresh producer id with epoch 0, from the blocks this
 *   broker reserves in `/latest_producer_id_block` (src/cluster/producer-ids.ts). This is what Kafka's
 *   TransactionCoordinator.handleInitProducerId does for a null id — it "blindly accepts" the request even
 *   when v3+ carries the producer's current id/epoch (KIP-360): it does not bump that epoch but hands out a
 *   new id, since the broker cannot tell whether the id belongs to the requester. Clients take whatever
 *   id/epoch comes back; per-partition state then treats the new id as an unknown producer.
 * - v3+ with only one of producer_id/producer_epoch set: INVALID_REQUEST (KafkaApis checks the pair).
 * - `transactional_id = ""`: INVALID_REQUEST, as Kafka.
 * - any other transactional id: the transaction coordinator (src/transaction/transaction-coordinator.ts) on the
 *   leader of its __transaction_state partition (NOT_COORDINATOR elsewhere): epoch bump and fencing, or
 *   INVALID_TRANSACTION_TIMEOUT for transaction.timeout.ms above transaction.max.timeout.ms. PRODUCER_FENCED is
 *   INVALID_PRODUCER_EPOCH before v4.
 */
import type { InitProducerIdRequest, InitProducerIdResponseInput } from '../../protocol/generated/init-producer-id.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { ProducerIdManager } from '../../cluster/producer-ids.js';
import type { TransactionCoordinator } from '../../transaction/transaction-coordinator.js';
import { fencedErrorFor } from './transaction-services.js';

const NO_PRODUCER_ID = -1;
const NO_PRODUCER_EPOCH = -1;

export function initProducerIdHandler(
  producerIds: ProducerIdManager,
  transactions: { readonly transactionCoordinator: TransactionCoordinator | null },
): ApiHandler<InitProducerIdRequest, InitProducerIdResponseInput> {
  const answer = (errorCode: number, producerId = NO_PRODUCER_ID, producerEpoch = NO_PRODUCER_EPOCH): InitProducerIdResponseInput => ({
    throttleTimeMs: 0,
    errorCode,
    producerId,
    producerEpoch,
  });
  return {
    apiKey: 22,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      if (v >= 3 && (req.producerId === NO_PRODUCER_ID) !== (req.producerEpoch === NO_PRODUCER_EPOCH)) {
        return answer(ErrorCode.INVALID_REQUEST);
      }
      if (req.transactionalId !== null) {
        if (req.transactionalId === '') return answer(ErrorCode.INVALID_REQUEST);
        const tc = transactions.transactionCoordinator;
        if (tc === null) return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
        const expected = v >= 3 && req.producerId !== NO_PRODUCER_ID ? { producerId: req.producerId, producerEpoch: req.producerEpoch } : null;
        const r = await tc.initProducerId(req.transactionalId, req.transactionTimeoutMs, expected);
        return answer(fencedErrorFor(r.errorCode, v, 4), r.producerId, r.producerEpoch);
      }
      try {
        return answer(ErrorCode.NONE, await producerIds.generateProducerId(), 0);
      } catch (err) {
        if (err instanceof KafkaError) return answer(err.code);
        // registry unreachable or similar: retriable for the client
        return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      }
    },
  };
}
