/**
 * Parks long-polling fetches until the data they may read grows or their max_wait_ms runs out. Waiters
 * register on the partitions they read; one notification wakes every fetch waiting on that partition (they
 * then re-read and decide whether min_bytes is met). The ReplicaManager keeps two: follower fetches wake when a
 * log end offset moves (an append), consumer fetches when a high watermark moves.
 */
export class FetchPurgatory {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Resolves when any of the keys is notified, or after timeoutMs. */
  wait(keys: readonly string[], timeoutMs: number): Promise<void> {
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
