/**
 * acks=all (Kafka's DelayedProduce) and DeleteRecords (DelayedDeleteRecords) waiting in a purgatory, one
 * operation per partition of the request: the request's other partitions wait on their own operations with the
 * same deadline, so the request is answered when the slowest completes or at timeout_ms, as in Kafka.
 */
import { ErrorCode } from '../protocol/errors.js';
import type { DelayedOperation } from './delayed-operations.js';
import type { Partition } from './partition.js';

/** acks=all: done when the high watermark reaches `requiredOffset` (the batch's last offset + 1). */
export class DelayedProduce<R extends { errorCode: number }> implements DelayedOperation {
  constructor(
    private readonly partition: () => Partition | undefined,
    private readonly requiredOffset: number,
    private readonly appended: R,
    private readonly respond: (result: R) => void,
  ) {}

  tryComplete(): boolean {
    const p = this.partition();
    if (p === undefined) {
      this.respond({ ...this.appended, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
      return true;
    }
    const check = p.checkEnoughReplicasReachOffset(this.requiredOffset);
    if (!check.done) return false;
    this.respond(check.errorCode === ErrorCode.NONE ? this.appended : { ...this.appended, errorCode: check.errorCode });
    return true;
  }

  onExpiration(): void {
    this.respond({ ...this.appended, errorCode: ErrorCode.REQUEST_TIMED_OUT });
  }
}

/** DeleteRecords: done when every live replica's log start offset reached `requiredOffset` (the low watermark). */
export class DelayedDeleteRecords implements DelayedOperation {
  constructor(
    private readonly partition: () => Partition | undefined,
    private readonly requiredOffset: number,
    private readonly isLive: (brokerId: number) => boolean,
    private readonly respond: (result: { errorCode: number; lowWatermark: number }) => void,
  ) {}

  tryComplete(): boolean {
    const p = this.partition();
    if (p === undefined || !p.isLeader) {
      this.respond({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: -1 });
      return true;
    }
    const lw = p.lowWatermark(this.isLive);
    if (lw < this.requiredOffset) return false;
    this.respond({ errorCode: ErrorCode.NONE, lowWatermark: lw });
    return true;
  }

  onExpiration(): void {
    const p = this.partition();
    this.respond({ errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: p?.isLeader ? p.lowWatermark(this.isLive) : -1 });
  }
}
