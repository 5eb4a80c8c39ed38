/**
 * What a partition leader knows about one follower replica (Kafka's Replica / ReplicaState), learnt only from
 * the follower's fetches: its log end offset (the fetch offset), its log start offset, and when it was last
 * caught up with the leader, which decides whether it stays in (or may rejoin) the ISR.
 */

/** Unknown offset (a follower that has not fetched since this broker became leader). */
export const UNKNOWN_OFFSET = -1;

export class ReplicaState {
  /** The follower's log start offset, from its last fetch (UNKNOWN_OFFSET until then). */
  logStartOffset = UNKNOWN_OFFSET;
  /** The follower's log end offset: the fetch offset of its last fetch (UNKNOWN_OFFSET until then). */
  logEndOffset = UNKNOWN_OFFSET;
  /** The leader's log end offset when the follower last fetched (at least the value at the one before). */
  lastFetchLeaderLogEndOffset = UNKNOWN_OFFSET;
  lastFetchTimeMs = 0;
  /** The last time the follower had everything the leader had (at that time or at its previous fetch). */
  lastCaughtUpTimeMs = 0;

  constructor(readonly brokerId: number) {}

  /**
   * A fetch at `fetchOffset` at `nowMs`, while the leader's log ended at `leaderEndOffset` (Kafka's
   * Replica.updateFetchStateOrThrow): caught up now when it asked for the leader's end; otherwise caught up as
   * of its previous fetch when it now has everything the leader had then.
   */
  updateFetchState(fetchOffset: number, followerStartOffset: number, nowMs: number, leaderEndOffset: number): void {
    if (fetchOffset >= leaderEndOffset) {
      this.lastCaughtUpTimeMs = Math.max(this.lastCaughtUpTimeMs, nowMs);
    } else if (fetchOffset >= this.lastFetchLeaderLogEndOffset) {
      this.lastCaughtUpTimeMs = Math.max(this.lastCaughtUpTimeMs, this.lastFetchTimeMs);
    }
    this.logStartOffset = followerStartOffset;
    this.logEndOffset = fetchOffset;
    this.lastFetchLeaderLogEndOffset = Math.max(leaderEndOffset, this.lastFetchLeaderLogEndOffset);
    this.lastFetchTimeMs = nowMs;
  }

  /**
   * On becoming (or being re-elected) leader (Kafka's Replica.resetReplicaState): an ISR member counts as caught
   * up now, others as never, so that neither the ISR shrinks at once nor a lagging replica holds the high
   * watermark back. A new leader forgets the follower's offsets: it knows them again from the next fetch.
   */
  reset(nowMs: number, leaderEndOffset: number, isNewLeader: boolean, inSync: boolean): void {
    this.lastCaughtUpTimeMs = inSync ? nowMs : 0;
    if (isNewLeader) {
      this.logStartOffset = UNKNOWN_OFFSET;
      this.logEndOffset = UNKNOWN_OFFSET;
      this.lastFetchLeaderLogEndOffset = UNKNOWN_OFFSET;
      this.lastFetchTimeMs = 0;
    } else {
      this.lastFetchLeaderLogEndOffset = leaderEndOffset;
      this.lastFetchTimeMs = inSync ? nowMs : 0;
    }
  }

  /** In sync: it has the leader's whole log, or was caught up within the last `maxLagMs` (Kafka's isCaughtUp). */
  isCaughtUp(leaderEndOffset: number, nowMs: number, maxLagMs: number): boolean {
    return leaderEndOffset === this.logEndOffset || nowMs - this.lastCaughtUpTimeMs <= maxLagMs;
  }
}
