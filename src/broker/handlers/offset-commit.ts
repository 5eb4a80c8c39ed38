/**
 * OffsetCommit (key 8), v0-9. Every version stores the offsets as records in __consumer_offsets (v0,
 * ZooKeeper-stored in old Kafka, is stored the same way here). Generation -1 with no member id is a simple
 * (standalone) commit, allowed while the group is Empty or unknown, as in Kafka. v1 carries a per-partition
 * commit timestamp, v2-4 a retention time (kept as an expire timestamp), v6+ the leader epoch, v7+
 * group.instance.id. A partition of a topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION.
 */
import type { OffsetCommitRequest, OffsetCommitResponseInput } from '../../protocol/generated/offset-commit.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { OffsetToCommit } from '../../group/group-coordinator.js';
import type { GroupServices } from './group-services.js';

export function offsetCommitHandler(b: GroupServices): ApiHandler<OffsetCommitRequest, OffsetCommitResponseInput> {
  return {
    apiKey: 8,
    minVersion: 0,
    maxVersion: 9,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const gc = b.groupCoordinator;
      const now = Date.now();
      const codes = req.topics.map((t) => t.partitions.map(() => ErrorCode.NONE as number));
      const toCommit: OffsetToCommit[] = [];
      const where: [number, number][] = [];
      req.topics.forEach((t, ti) =>
        t.partitions.forEach((p, pi) => {
          if (!gc) {
            codes[ti]![pi] = ErrorCode.COORDINATOR_NOT_AVAILABLE;
            return;
          }
          if (!b.metadata.partition(t.name, p.partitionIndex)) {
            codes[ti]![pi] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
            return;
          }
          const retention = v >= 2 && v <= 4 ? req.retentionTimeMs : -1;
          toCommit.push({
            topic: t.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            leaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1,
            metadata: p.committedMetadata,
            commitTimestamp: v === 1 && p.commitTimestamp >= 0 ? p.commitTimestamp : now,
            expireTimestamp: retention >= 0 ? now + retention : -1,
          });
          where.push([ti, pi]);
        }),
      );
      if (gc && toCommit.length > 0) {
        const results = await gc.commitOffsets(
          req.groupId,
          v >= 1 ? req.memberId : '',
          v >= 7 ? req.groupInstanceId : null,
          v >= 1 ? req.generationIdOrMemberEpoch : -1,
          toCommit,
        );
        results.forEach((code, i) => {
          const [ti, pi] = where[i]!;
          codes[ti]![pi] = code;
        });
      }
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t, ti) => ({ name: t.name, partitions: t.partitions.map((p, pi) => ({ partitionIndex: p.partitionIndex, errorCode: codes[ti]![pi]! })) })),
      };
    },
  };
}
