/**
 * EndTxn (key 26), v0-4 (v5, KIP-890's epoch bump per transaction, is unstable in Kafka's specs and not advertised):
 * commits or aborts the producer's transaction on its coordinator. Answered once PrepareCommit/PrepareAbort is in
 * __transaction_state; the markers follow. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.
 */
import type { EndTxnRequest, EndTxnResponseInput } from '../../protocol/generated/end-txn.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import { fencedErrorFor, type TransactionServices } from './transaction-services.js';

export function endTxnHandler(b: TransactionServices): ApiHandler<EndTxnRequest, EndTxnResponseInput> {
  return {
    apiKey: 26,
    minVersion: 0,
    maxVersion: 4,
    async handle(req, ctx) {
      const tc = b.transactionCoordinator;
      if (tc === null) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
      const code = await tc.endTransaction(req.transactionalId, req.producerId, req.producerEpoch, req.committed);
      return { throttleTimeMs: 0, errorCode: fencedErrorFor(code, ctx.apiVersion, 2) };
    },
  };
}
