/**
 * WriteTxnMarkers (key 27), v0-1: sent by a transaction coordinator (or `kfk transactions abort`) to a partition's
 * leader, which appends the COMMIT or ABORT control batch with the producer's id and epoch through the replicated
 * append path with acks=all (ReplicaManager.appendTxnMarker). The partition's producer state checks the epochs
 * (INVALID_PRODUCER_EPOCH for an older producer epoch, TRANSACTION_COORDINATOR_FENCED for an older coordinator epoch).
 * Once a marker is in a __consumer_offsets partition, the group coordinator makes the transaction's offsets visible
 * (commit) or drops them (abort), as Kafka's handler does.
 */
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponseInput } from '../../protocol/generated/write-txn-markers.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import { OFFSETS_TOPIC } from '../../cluster/topic-names.js';
import type { AppendResult } from '../../replication/replica-manager.js';
import type { Logger } from '../../server/logger.js';
import type { TransactionServices } from './transaction-services.js';

/** How long a marker may wait for its replicas (Kafka: request.timeout.ms). */
const MARKER_TIMEOUT_MS = 30_000;

export function writeTxnMarkersHandler(b: TransactionServices & { readonly logger?: Logger }): ApiHandler<WriteTxnMarkersRequest, WriteTxnMarkersResponseInput> {
  async function append(topic: string, partition: number, marker: { producerId: number; producerEpoch: number; coordinatorEpoch: number; commit: boolean }): Promise<number> {
    try {
      const r: AppendResult = await b.replicaManager.appendTxnMarker(topic, partition, marker, MARKER_TIMEOUT_MS);
      return r.errorCode;
    } catch (err) {
      b.logger?.error(`writing a transaction marker to ${topic}-${partition} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return err instanceof KafkaError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR;
    }
  }

  return {
    apiKey: 27,
    minVersion: 0,
    maxVersion: 1,
    async handle(req) {
      const markers = await Promise.all(
        req.markers.map(async (m) => {
          const marker = { producerId: m.producerId, producerEpoch: m.producerEpoch, coordinatorEpoch: m.coordinatorEpoch, commit: m.transactionResult };
          const topics = await Promise.all(
            m.topics.map(async (t) => ({
              name: t.name,
              partitions: await Promise.all(t.partitionIndexes.map(async (p) => ({ partitionIndex: p, errorCode: await append(t.name, p, marker) }))),
            })),
          );
          const offsetsPartitions = topics
            .filter((t) => t.name === OFFSETS_TOPIC)
            .flatMap((t) => t.partitions.filter((p) => p.errorCode === ErrorCode.NONE).map((p) => p.partitionIndex));
          if (offsetsPartitions.length > 0) b.groupCoordinator?.onTransactionCompleted(m.producerId, offsetsPartitions, m.transactionResult);
          return { producerId: m.producerId, topics };
        }),
      );
      return { markers };
    },
  };
}
