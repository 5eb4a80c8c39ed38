/**
 * OffsetForLeaderEpoch (key 23), v0-4: the end offset of a leader epoch in the leader's log (KIP-101), with the
 * largest epoch <= the one asked for that the log has (v1+, KIP-279). Followers ask it before fetching after a
 * leader change and truncate a divergent tail; consumers (KIP-320) ask it to detect truncation. Served only by
 * the leader (NOT_LEADER_OR_FOLLOWER elsewhere); current_leader_epoch (v2+) is checked: older than the leader's
 * → FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH. replica_id (v3+) is accepted and needs nothing more.
 */
import type { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponseInput } from '../../protocol/generated/offset-for-leader-epoch.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

export function offsetForLeaderEpochHandler(b: BrokerServices): ApiHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponseInput> {
  return {
    apiKey: 23,
    minVersion: 0,
    maxVersion: 4,
    handle(req) {
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          topic: t.topic,
          partitions: t.partitions.map((p) => {
            const r = b.replicaManager.lastOffsetForLeaderEpoch(t.topic, p.partition, p.currentLeaderEpoch, p.leaderEpoch);
            return { partition: p.partition, errorCode: r.errorCode, leaderEpoch: r.leaderEpoch, endOffset: r.endOffset };
          }),
        })),
      };
    },
  };
}
