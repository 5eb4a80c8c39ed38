/**
 * OffsetDelete (key 47), v0. Deletes committed offsets of a group: any partition while the group is Empty;
 * while a consumer group is active, partitions of topics it subscribes to get GROUP_SUBSCRIBED_TO_TOPIC.
 * An active group of another protocol type gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
 */
import type { OffsetDeleteRequest, OffsetDeleteResponseInput } from '../../protocol/generated/offset-delete.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

export function offsetDeleteHandler(b: GroupServices): ApiHandler<OffsetDeleteRequest, OffsetDeleteResponseInput> {
  return {
    apiKey: 47,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const gc = b.groupCoordinator;
      if (!gc) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, throttleTimeMs: 0, topics: [] };
      const tps = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })));
      const r = await gc.deleteOffsets(req.groupId, tps);
      if (r.errorCode !== ErrorCode.NONE) return { errorCode: r.errorCode, throttleTimeMs: 0, topics: [] };
      let i = 0;
      return {
        errorCode: ErrorCode.NONE,
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => {
            const known = b.metadata.partition(t.name, p.partitionIndex) !== undefined;
            const code = r.partitions[i++]!;
            return { partitionIndex: p.partitionIndex, errorCode: known ? code : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
          }),
        })),
      };
    },
  };
}
