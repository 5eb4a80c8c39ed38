/**
 * InitProducerId (key 22), v0-5 (flexible from v2). Clients send it to any broker (librdkafka v4,
 * platformatic 3-5) or to the controller (kafkajs v1).
 *
 * - `transactional_id = null` (idempotent producer): a fresh producer id with epoch 0, from the blocks this
 *   broker reserves in `/latest_producer_id_block` (src/cluster/producer-ids.ts). This is what Kafka's
 *   TransactionCoordinator.handleInitProducerId does for a null id — it "blindly accepts" the request even
 *   when v3+ carries the producer's current id/epoch (KIP-360): it does not bump that epoch but hands out a
 *   new id, since the broker cannot tell whether the id belongs to the requester. Clients take whatever
 *   id/epoch comes back; per-partition state then treats the new id as an unknown producer.
 * - v3+ with only one of producer_id/producer_epoch set: INVALID_REQUEST (KafkaApis checks the pair).
 * - `transactional_id = ""`: INVALID_REQUEST, as Kafka.
 * - any other transactional id: kfk has no transaction coordinator (no `__transaction_state`). Kafka answers
 *   an InitProducerId for a transactional id whose `__transaction_state` partition this broker does not own
 *   with NOT_COORDINATOR; kfk does the same, so clients re-run FindCoordinator, which answers
 *   COORDINATOR_NOT_AVAILABLE for transaction keys (find-coordinator.ts), and they retry until their own
 *   timeout. Transactions therefore fail on the client with a timeout, and never half-work.
 */
import type { InitProducerIdRequest, InitProducerIdResponseInput } from '../../protocol/generated/init-producer-id.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { ProducerIdManager } from '../../cluster/producer-ids.js';

const NO_PRODUCER_ID = -1;
const NO_PRODUCER_EPOCH = -1;

export function initProducerIdHandler(producerIds: ProducerIdManager): ApiHandler<InitProducerIdRequest, InitProducerIdResponseInput> {
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
      if (ctx.apiVersion >= 3 && (req.producerId === NO_PRODUCER_ID) !== (req.producerEpoch === NO_PRODUCER_EPOCH)) {
        return answer(ErrorCode.INVALID_REQUEST);
      }
      if (req.transactionalId !== null) {
        return answer(req.transactionalId === '' ? ErrorCode.INVALID_REQUEST : ErrorCode.NOT_COORDINATOR);
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
