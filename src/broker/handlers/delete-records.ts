/**
 * DeleteRecords (key 21), v0-2 (kafka-delete-records.sh, AdminClient.deleteRecords), served by each partition's
 * leader (NOT_LEADER_OR_FOLLOWER elsewhere). Moves the log start offset to the requested offset (-1 = the high
 * watermark) and deletes the segments wholly below it at once; the records below it are no longer readable
 * (Fetch: OFFSET_OUT_OF_RANGE, ListOffsets earliest follows). Followers move theirs when they next fetch, and, as
 * in Kafka, the answer waits (up to timeout_ms, else REQUEST_TIMED_OUT) until every live replica's log start
 * offset reached the target. An offset above the high watermark (or negative other than -1) is
 * OFFSET_OUT_OF_RANGE; one below the current log start offset changes nothing. A topic whose cleanup.policy lacks
 * `delete` is POLICY_VIOLATION, as in Kafka. The answer's low_watermark is the smallest log start offset of the
 * live replicas afterwards.
 */
import type { DeleteRecordsRequest, DeleteRecordsResponseInput, DeleteRecordsResponseDeleteRecordsTopicResultInput } from '../../protocol/generated/delete-records.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

export function deleteRecordsHandler(b: BrokerServices): ApiHandler<DeleteRecordsRequest, DeleteRecordsResponseInput> {
  return {
    apiKey: 21,
    minVersion: 0,
    maxVersion: 2,
    async handle(req) {
      const topics: DeleteRecordsResponseDeleteRecordsTopicResultInput[] = [];
      const pending: Promise<void>[] = [];
      for (const t of req.topics) {
        const partitions = t.partitions.map((p) => {
          const entry = { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: 0 };
          const r = b.replicaManager.deleteRecords(t.name, p.partitionIndex, p.offset, req.timeoutMs);
          const set = (x: { errorCode: number; lowWatermark: number }) => {
            entry.errorCode = x.errorCode;
            entry.lowWatermark = x.lowWatermark;
          };
          if (r instanceof Promise) pending.push(r.then(set));
          else set(r);
          return entry;
        });
        topics.push({ name: t.name, partitions });
      }
      await Promise.all(pending);
      return { throttleTimeMs: 0, topics };
    },
  };
}
