/**
 * Writes a partition leader's own ISR changes to the registry, as ZooKeeper-era Kafka does
 * (ReplicationUtils.updateLeaderAndIsr, then an /isr_change_notification): a compare-and-set on the partition
 * state znode's version, keeping the leader, leader epoch and controller epoch the leader read. The controller's
 * view wins: a write against an older version fails, and the leader then learns what the registry holds.
 *
 * The sequential `/isr_change_notification/isr_change_` nodes tell a controller which partitions' ISR changed
 * (the controller deletes them once read); notifications written at the same time are batched into one node.
 */
import { isRegistryError, type Registry } from '../registry/registry.js';
import {
  decodePartitionState,
  encodeIsrChangeNotification,
  encodePartitionState,
  isrChangeNotificationPath,
  isrChangePrefix,
  partitionStatePath,
  type PartitionState,
  type TopicPartitionRef,
} from '../registry/paths.js';
import type { Logger } from '../server/logger.js';
import type { PendingIsrChange } from './partition.js';

export type IsrWriteOutcome =
  | { committed: true; zkVersion: number }
  /** Refused: the znode has another version (or is gone); `current` is what it holds now, if anything. */
  | { committed: false; current: { state: PartitionState; zkVersion: number } | null };

export class IsrWriter {
  private queued: TopicPartitionRef[] = [];
  private notifying: Promise<void> | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  /**
   * Compare-and-sets the state znode to `change`. Throws on registry failures other than a version mismatch or a
   * missing node (connection loss: the outcome is unknown, the caller retries the same write).
   */
  async write(topic: string, partition: number, leader: number, change: PendingIsrChange): Promise<IsrWriteOutcome> {
    const path = partitionStatePath(topic, partition);
    const wanted: PartitionState = { controllerEpoch: change.controllerEpoch, leader, leaderEpoch: change.leaderEpoch, isr: change.isr };
    let outcome: IsrWriteOutcome;
    try {
      const stat = await this.registry.set(path, encodePartitionState(wanted), change.zkVersion);
      outcome = { committed: true, zkVersion: stat.version };
    } catch (err) {
      if (!isRegistryError(err, 'BAD_VERSION') && !isRegistryError(err, 'NO_NODE')) throw err;
      const node = await this.registry.get(path);
      if (node === null) return { committed: false, current: null };
      const state = decodePartitionState(node.data);
      // A retry of a write that did land (its answer was lost with the connection) finds its own data.
      if (state.leader === leader && state.leaderEpoch === change.leaderEpoch && sameMembers(state.isr, change.isr)) {
        outcome = { committed: true, zkVersion: node.stat.version };
      } else {
        return { committed: false, current: { state, zkVersion: node.stat.version } };
      }
    }
    this.notify({ topic, partition });
    return outcome;
  }

  /** Queues an ISR change notification; one node carries everything queued while the previous one is written. */
  private notify(ref: TopicPartitionRef): void {
    this.queued.push(ref);
    if (this.notifying !== null) return;
    this.notifying = (async () => {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        try {
          await this.registry.create(`${isrChangeNotificationPath}/${isrChangePrefix}`, encodeIsrChangeNotification(batch), 'persistent_sequential');
        } catch (err) {
          // Brokers follow the state znodes themselves; only a controller reading notifications misses this one.
          this.logger.warn(`could not write an ISR change notification for ${batch.map((p) => `${p.topic}-${p.partition}`).join(', ')}: ${(err as Error).message}`);
        }
      }
    })().finally(() => {
      this.notifying = null;
    });
  }

  /** Resolves once queued notifications are written (tests, shutdown). */
  async flushed(): Promise<void> {
    while (this.notifying !== null) await this.notifying;
  }
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
