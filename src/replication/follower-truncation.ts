/**
 * Where a follower truncates its log so that it never diverges from the leader's (KIP-101, KIP-279): from the
 * leader's answer for the follower's latest epoch (OffsetsForLeaderEpoch, or a Fetch response's diverging_epoch),
 * never from the follower's high watermark. Kafka's AbstractFetcherThread.getOffsetTruncationState.
 */

export interface EpochEndOffset {
  /** The largest epoch <= the one asked for that the leader has, -1 when unknown. */
  leaderEpoch: number;
  /** Where that epoch ends in the leader's log, -1 when unknown. */
  endOffset: number;
}

export interface FollowerLogView {
  readonly logEndOffset: number;
  /** The follower's own endOffsetFor (leader-epoch-cache semantics). */
  endOffsetFor(epoch: number): EpochEndOffset;
}

export interface OffsetTruncationState {
  /** Truncate the log to this offset (no-op when >= its log end offset). */
  offset: number;
  /** False when the epochs do not agree yet: ask again with the follower's (new) latest epoch. */
  completed: boolean;
}

export function offsetTruncationState(leader: EpochEndOffset, follower: FollowerLogView): OffsetTruncationState {
  const replicaEnd = follower.logEndOffset;
  if (leader.endOffset < 0) {
    // The leader knows no end for the follower's latest epoch (it has no epoch at or below it): nothing to go
    // on, so keep the log and fetch; a Fetch that does not match then answers OFFSET_OUT_OF_RANGE or diverging_epoch.
    return { offset: replicaEnd, completed: true };
  }
  if (leader.leaderEpoch < 0) {
    // An answer without an epoch (OffsetsForLeaderEpoch v0): the leader's offset is all there is.
    return { offset: Math.min(leader.endOffset, replicaEnd), completed: true };
  }
  const mine = follower.endOffsetFor(leader.leaderEpoch);
  if (mine.endOffset < 0) {
    // The follower tracks no epoch at or below the leader's: the leader's end is the safe point.
    return { offset: Math.min(leader.endOffset, replicaEnd), completed: true };
  }
  if (mine.leaderEpoch !== leader.leaderEpoch) {
    // The follower does not have the epoch the leader answered with: cut back to the end of the follower's own
    // largest epoch below it, then ask again.
    return { offset: Math.min(mine.endOffset, replicaEnd), completed: false };
  }
  return { offset: Math.min(mine.endOffset, leader.endOffset, replicaEnd), completed: true };
}
