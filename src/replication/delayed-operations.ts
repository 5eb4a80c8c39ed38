/**
 * A purgatory of delayed operations (Kafka's DelayedOperationPurgatory), for requests that wait on replication:
 * acks=all produce (until the high watermark passes the batch) and DeleteRecords (until every live replica's log
 * start offset passes the target).
 *
 * An operation is watched under the keys of the partitions it waits on; whoever changes a partition's state
 * calls `checkAndComplete(key)`, which re-runs `tryComplete` of the operations watching it. An operation that
 * has not completed by its deadline is expired. Either way it completes exactly once.
 */
export interface DelayedOperation {
  /** Checks the condition; returns true when the operation is done (it then must not be run again). */
  tryComplete(): boolean;
  /** The deadline passed before tryComplete returned true. */
  onExpiration(): void;
}

interface Watched {
  op: DelayedOperation;
  keys: readonly string[];
  timer: NodeJS.Timeout;
  done: boolean;
}

export class DelayedOperationPurgatory {
  private readonly watchers = new Map<string, Set<Watched>>();

  /** Completes the operation now if it can; otherwise watches it under `keys` until done or `timeoutMs`. */
  tryCompleteElseWatch(op: DelayedOperation, keys: readonly string[], timeoutMs: number): void {
    if (op.tryComplete()) return;
    const w: Watched = { op, keys, done: false, timer: undefined as unknown as NodeJS.Timeout };
    w.timer = setTimeout(() => {
      if (w.done) return;
      this.finish(w);
      op.onExpiration();
    }, Math.max(0, timeoutMs));
    for (const k of keys) {
      let set = this.watchers.get(k);
      if (!set) this.watchers.set(k, (set = new Set()));
      set.add(w);
    }
  }

  /** Re-checks the operations watching `key`; returns how many completed. */
  checkAndComplete(key: string): number {
    const set = this.watchers.get(key);
    if (!set) return 0;
    let n = 0;
    for (const w of [...set]) {
      if (w.done) continue;
      if (w.op.tryComplete()) {
        this.finish(w);
        n++;
      }
    }
    return n;
  }

  /** Operations being watched (each counted once). */
  get size(): number {
    const all = new Set<Watched>();
    for (const set of this.watchers.values()) for (const w of set) all.add(w);
    return all.size;
  }

  /** Expires every waiting operation (shutdown). */
  expireAll(): void {
    const all = new Set<Watched>();
    for (const set of this.watchers.values()) for (const w of set) all.add(w);
    for (const w of all) {
      if (w.done) continue;
      this.finish(w);
      w.op.onExpiration();
    }
  }

  private finish(w: Watched): void {
    w.done = true;
    clearTimeout(w.timer);
    for (const k of w.keys) {
      const set = this.watchers.get(k);
      if (!set) continue;
      set.delete(w);
      if (set.size === 0) this.watchers.delete(k);
    }
  }
}
