/**
 * TxnOffsetCommit (key 28), v0-4: sent to the group's coordinator inside a transaction (after AddOffsetsToTxn). The
 * offsets are appended to __consumer_offsets as a transactional batch of the producer and become the group's
 * committed offsets only when the transaction commits (group-coordinator.ts). v2+ carry the committed leader epoch,
 * v3+ the member id, group instance id and generation, which are checked when given. A partition of a topic that does
 * not exist gets UNKNOWN_TOPIC_OR_PARTITION.
 */
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponseInput } from '../../protocol/generated/txn-offset-commit.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { OffsetToCommit } from '../../group/group-coordinator.js';
import type { GroupServices } from './group-services.js';

export function txnOffsetCommitHandler(b: GroupServices): ApiHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponseInput> {
  return {
    apiKey: 28,
    minVersion: 0,
    maxVersion: 4,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const gc = b.groupCoordinator;
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
          toCommit.push({
            topic: t.name,
            partition: p.partitionIndex,
            offset: p.committedOffset,
            leaderEpoch: v >= 2 ? p.committedLeaderEpoch : -1,
            metadata: p.committedMetadata,
            commitTimestamp: -1,
            expireTimestamp: -1,
          });
          where.push([ti, pi]);
        }),
      );
      if (gc && toCommit.length > 0) {
        const results = await gc.commitTransactionalOffsets(
          req.groupId,
          req.producerId,
          req.producerEpoch,
          v >= 3 ? req.memberId : '',
          v >= 3 ? req.groupInstanceId : null,
          v >= 3 ? req.generationId : -1,
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
