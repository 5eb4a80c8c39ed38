/**
 * DescribeTransactions (key 65), v0: the state of transactional ids this broker coordinates (NOT_COORDINATOR for the
 * others, TRANSACTIONAL_ID_NOT_FOUND for unknown ones): state, timeout, start time, producer id and epoch, and the
 * partitions of the open transaction (while it completes, those still without their marker).
 */
import type { DescribeTransactionsRequest, DescribeTransactionsResponseInput } from '../../protocol/generated/describe-transactions.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { TransactionServices } from './transaction-services.js';

export function describeTransactionsHandler(b: TransactionServices): ApiHandler<DescribeTransactionsRequest, DescribeTransactionsResponseInput> {
  return {
    apiKey: 65,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      const tc = b.transactionCoordinator;
      const transactionStates = req.transactionalIds.map((id) => {
        const d = tc?.describe(id);
        if (d === undefined) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, transactionalId: id, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] };
        const byTopic = new Map<string, number[]>();
        for (const tp of d.partitions) {
          let ids = byTopic.get(tp.topic);
          if (ids === undefined) byTopic.set(tp.topic, (ids = []));
          ids.push(tp.partition);
        }
        return {
          errorCode: d.errorCode,
          transactionalId: id,
          transactionState: d.state,
          transactionTimeoutMs: d.timeoutMs,
          transactionStartTimeMs: d.startTimeMs,
          producerId: d.producerId,
          producerEpoch: d.producerEpoch,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, c) => a - c) })),
        };
      });
      return { throttleTimeMs: 0, transactionStates };
    },
  };
}
