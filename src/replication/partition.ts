/**
 * One partition hosted by this broker: its log, leader epoch and high watermark.
 * With a single replica in the ISR the high watermark is the log end offset; replication
 * (a later issue) moves it to the minimum log end offset of the ISR.
 */
import type { Log } from '../log/log.js';

export class Partition {
  leaderEpoch: number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly topicId: Buffer,
    readonly log: Log,
    leaderEpoch: number,
  ) {
    this.leaderEpoch = leaderEpoch;
  }

  get highWatermark(): number {
    return this.log.logEndOffset;
  }

  /** Without transactions the last stable offset is the high watermark. */
  get lastStableOffset(): number {
    return this.highWatermark;
  }
}
