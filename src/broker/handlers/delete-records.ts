/**
 * DeleteRecords (key 21), v0-2 (kafka-delete-records.sh, AdminClient.deleteRecords). Moves each partition's
 * log start offset to the requested offset (-1 = the high watermark) and deletes the segments wholly below it
 * at once; the records below it are no longer readable (Fetch: OFFSET_OUT_OF_RANGE, ListOffsets earliest
 * follows). An offset above the high watermark (or negative other than -1) is OFFSET_OUT_OF_RANGE; one below
 * the current log start offset changes nothing. A topic whose cleanup.policy lacks `delete` is
 * POLICY_VIOLATION, as in Kafka. The answer's low_watermark is the log start offset afterwards.
 */
import type { DeleteRecordsRequest, DeleteRecordsResponseInput, DeleteRecordsResponseDeleteRecordsTopicResultInput } from '../../protocol/generated/delete-records.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import { deleteRecordsBefore } from '../../log/retention.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

const HIGH_WATERMARK = -1;

export function deleteRecordsHandler(b: BrokerServices): ApiHandler<DeleteRecordsRequest, DeleteRecordsResponseInput> {
  return {
    apiKey: 21,
    minVersion: 0,
    maxVersion: 2,
    handle(req) {
      const topics: DeleteRecordsResponseDeleteRecordsTopicResultInput[] = [];
      for (const t of req.topics) {
        const known = b.metadata.topic(t.name);
        const partitions = t.partitions.map((p) => {
          const result = (errorCode: number, lowWatermark = -1) => ({ partitionIndex: p.partitionIndex, lowWatermark, errorCode });
          const partition = b.replicaManager.getPartition(t.name, p.partitionIndex);
          if (partition === undefined) {
            const exists = known?.partitions.some((kp) => kp.partition === p.partitionIndex) ?? false;
            return result(exists ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          }
          const log = partition.log;
          if (log.isOffline) return result(ErrorCode.KAFKA_STORAGE_ERROR); // its log dir failed
          if (log.isClosed) return result(ErrorCode.NOT_LEADER_OR_FOLLOWER);
          if (!log.config.cleanupPolicy.includes('delete')) return result(ErrorCode.POLICY_VIOLATION);
          const hw = partition.highWatermark;
          const offset = p.offset === HIGH_WATERMARK ? hw : p.offset;
          if (offset < 0 || offset > hw) return result(ErrorCode.OFFSET_OUT_OF_RANGE);
          try {
            return result(ErrorCode.NONE, deleteRecordsBefore(log, offset));
          } catch (err) {
            // a storage failure while removing the segments (the log dir has gone offline): KAFKA_STORAGE_ERROR
            if (err instanceof KafkaError) return result(err.code);
            throw err;
          }
        });
        topics.push({ name: t.name, partitions });
      }
      return { throttleTimeMs: 0, topics };
    },
  };
}
