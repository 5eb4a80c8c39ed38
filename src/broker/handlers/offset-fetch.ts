/**
 * OffsetFetch (key 9), v0-9. A partition without a committed offset answers offset -1 and empty metadata.
 * v0-1: errors per partition; v2+: `topics: null` = every committed partition, plus a top-level error;
 * v5+ the committed leader epoch; v7+ require_stable (a partition with transactional offsets still waiting for
 * their transaction's marker answers UNSTABLE_OFFSET_COMMIT, and the client asks again);
 * v8+ a batch of groups, each with its own error.
 */
import type { OffsetFetchRequest, OffsetFetchResponseInput } from '../../protocol/generated/offset-fetch.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { FetchedOffset } from '../../group/group-coordinator.js';
import type { GroupServices } from './group-services.js';

function byTopic(offsets: FetchedOffset[], errorOverride: number | null) {
  const topics = new Map<string, { name: string; partitions: { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; metadata: string | null; errorCode: number }[] }>();
  for (const o of offsets) {
    let t = topics.get(o.topic);
    if (!t) topics.set(o.topic, (t = { name: o.topic, partitions: [] }));
    t.partitions.push({
      partitionIndex: o.partition,
      committedOffset: o.offset,
      committedLeaderEpoch: o.leaderEpoch,
      metadata: o.metadata,
      errorCode: errorOverride ?? o.errorCode,
    });
  }
  return [...topics.values()];
}

export function offsetFetchHandler(b: GroupServices): ApiHandler<OffsetFetchRequest, OffsetFetchResponseInput> {
  function fetch(groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null, requireStable: boolean) {
    const gc = b.groupCoordinator;
    const wanted = topics ? topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes })) : null;
    if (!gc) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, offsets: [] as FetchedOffset[] };
    return gc.fetchOffsets(groupId, wanted, requireStable);
  }
  return {
    apiKey: 9,
    minVersion: 0,
    maxVersion: 9,
    handle(req, ctx) {
      const v = ctx.apiVersion;
      if (v >= 8) {
        return {
          throttleTimeMs: 0,
          groups: req.groups.map((g) => {
            const r = fetch(g.groupId, g.topics, req.requireStable);
            return { groupId: g.groupId, errorCode: r.errorCode, topics: byTopic(r.offsets, null) };
          }),
        };
      }
      const r = fetch(req.groupId, v >= 2 ? req.topics : (req.topics ?? []), v >= 7 && req.requireStable);
      if (v < 2) {
        // No top-level error field: the group's error goes into every requested partition.
        const offsets =
          r.errorCode === ErrorCode.NONE
            ? r.offsets
            : (req.topics ?? []).flatMap((t) => t.partitionIndexes.map((p) => ({ topic: t.name, partition: p, offset: -1, leaderEpoch: -1, metadata: '', errorCode: r.errorCode })));
        return { throttleTimeMs: 0, topics: byTopic(offsets, null), errorCode: ErrorCode.NONE };
      }
      return { throttleTimeMs: 0, errorCode: r.errorCode, topics: byTopic(r.offsets, null) };
    },
  };
}
