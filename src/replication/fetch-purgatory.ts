/**
 * Parks long-polling fetches until the data they may read grows or their max_wait_ms runs out. Waiters
 * register on the partitions they read; one notification wakes every fetch waiting on that partition (they
 * then re-read and decide whether min_bytes is met). The ReplicaManager keeps two: follower fetches wake when a
 * log end offset moves (an append), consumer fetches when a high watermark moves.
 *
 * A fetch reads first and parks after, and its reads are asynchronous: data that arrives while it reads (an append
 * between reading a partition and parking) must still wake it, or it waits out its whole max_wait_ms with data
 * ready (for a follower, every acks=all produce appended then waited that long). So a fetch takes a `mark()` before
 * reading and passes it to `wait()`, which returns at once when one of its keys was notified since (Kafka's
 * DelayedFetch checks again once it is watched, for the same reason).
 */
export class FetchPurgatory {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Notifications so far, and the number of each key's latest (one entry per partition ever notified). */
  private seq = 0;
  private readonly notifiedAt = new Map<string, number>();

  /** A point in the notifications, to pass to wait(). */
  mark(): number {
    return this.seq;
  }

  /**
   * Resolves when any of the keys is notified, or after timeoutMs; at once when one was notified after `since` (a
   * mark() taken before the caller read).
   */
  wait(keys: readonly string[], timeoutMs: number, since?: number): Promise<void> {
    if (since !== undefined && keys.some((k) => (this.notifiedAt.get(k) ?? 0) > since)) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const k of keys) {
          const set = this.waiters.get(k);
          if (set) {
            set.delete(finish);
            if (set.size === 0) this.waiters.delete(k);
          }
        }
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, timeoutMs));
      for (const k of keys) {
        let set = this.waiters.get(k);
        if (!set) this.waiters.set(k, (set = new Set()));
        set.add(finish);
      }
    });
  }

  /** Fetches waiting (PurgatorySize): one waiter may watch several partitions. */
  get size(): number {
    const all = new Set<() => void>();
    for (const set of this.waiters.values()) for (const fn of set) all.add(fn);
    return all.size;
  }

  notify(key: string): void {
    this.notifiedAt.set(key, ++this.seq);
    const set = this.waiters.get(key);
    if (!set) return;
    for (const fn of [...set]) fn();
  }

  /** Wakes every waiter (shutdown). */
  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const fn of [...set]) fn();
  }
}

export const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
