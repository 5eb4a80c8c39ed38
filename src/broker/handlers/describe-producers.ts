/**
 * DescribeProducers (key 61), v0: the active producers of partitions this broker hosts, leader or follower, as Kafka's
 * ReplicaManager.activeProducerState (NOT_LEADER_OR_FOLLOWER for a partition hosted elsewhere,
 * UNKNOWN_TOPIC_OR_PARTITION for one that does not exist), from the partition's producer state:
 * producer id and epoch, last sequence and timestamp, the epoch of the coordinator that wrote its last marker, and
 * the first offset of its open transaction (-1 when none). `kfk transactions describe-producers` and `find-hanging`
 * use it.
 */
import type { DescribeProducersRequest, DescribeProducersResponseInput } from '../../protocol/generated/describe-producers.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { TransactionServices } from './transaction-services.js';

export function describeProducersHandler(b: Pick<TransactionServices, 'replicaManager' | 'metadata'>): ApiHandler<DescribeProducersRequest, DescribeProducersResponseInput> {
  return {
    apiKey: 61,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      const topics = req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => {
          const none = (errorCode: number, errorMessage: string | null = null) => ({ partitionIndex, errorCode, errorMessage, activeProducers: [] });
          const p = b.replicaManager.getPartition(t.name, partitionIndex);
          if (p === undefined) {
            return none(b.metadata.partition(t.name, partitionIndex) !== undefined ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          }
          if (p.log.isOffline) return none(ErrorCode.KAFKA_STORAGE_ERROR);
          const activeProducers = [...p.log.producerState.entries()].map((e) => ({
            producerId: e.producerId,
            producerEpoch: e.epoch,
            lastSequence: e.batches[e.batches.length - 1]?.lastSeq ?? -1,
            lastTimestamp: e.lastTimestamp,
            coordinatorEpoch: e.coordinatorEpoch,
            currentTxnStartOffset: e.currentTxnFirstOffset,
          }));
          return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
        }),
      }));
      return { throttleTimeMs: 0, topics };
    },
  };
}
