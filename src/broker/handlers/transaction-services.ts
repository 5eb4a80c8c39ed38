/** What the transaction API handlers use of the broker: the coordinators (null until the broker has started), metadata. */
import type { MetadataCache } from '../../cluster/metadata-cache.js';
import type { GroupCoordinator } from '../../group/group-coordinator.js';
import type { TransactionCoordinator } from '../../transaction/transaction-coordinator.js';
import type { ReplicaManager } from '../../replication/replica-manager.js';
import { ErrorCode } from '../../protocol/errors.js';

export interface TransactionServices {
  readonly transactionCoordinator: TransactionCoordinator | null;
  readonly groupCoordinator: GroupCoordinator | null;
  readonly metadata: MetadataCache;
  readonly replicaManager: ReplicaManager;
}

/**
 * PRODUCER_FENCED (90) came with KIP-588 (InitProducerId v4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2); older
 * versions get INVALID_PRODUCER_EPOCH instead, as Kafka's handlers answer them.
 */
export function fencedErrorFor(code: number, apiVersion: number, firstVersionWithProducerFenced: number): number {
  return code === ErrorCode.PRODUCER_FENCED && apiVersion < firstVersionWithProducerFenced ? ErrorCode.INVALID_PRODUCER_EPOCH : code;
}
