/**
 * ListTransactions (key 66), v0-1: the transactions this broker coordinates, filtered by state, producer id and (v1)
 * duration (open longer than that many ms). Unknown state names are echoed back in unknown_state_filters.
 */
import type { ListTransactionsRequest, ListTransactionsResponseInput } from '../../protocol/generated/list-transactions.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { TransactionServices } from './transaction-services.js';

export function listTransactionsHandler(b: TransactionServices): ApiHandler<ListTransactionsRequest, ListTransactionsResponseInput> {
  return {
    apiKey: 66,
    minVersion: 0,
    maxVersion: 1,
    handle(req, ctx) {
      const tc = b.transactionCoordinator;
      if (tc === null) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, unknownStateFilters: [], transactionStates: [] };
      const r = tc.list(req.stateFilters, req.producerIdFilters, ctx.apiVersion >= 1 ? req.durationFilter : -1);
      return {
        throttleTimeMs: 0,
        errorCode: r.errorCode,
        unknownStateFilters: r.unknownStateFilters,
        transactionStates: r.transactions.map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, transactionState: t.state })),
      };
    },
  };
}
