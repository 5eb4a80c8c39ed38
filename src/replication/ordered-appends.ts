/**
 * Keeps appends to one partition in the order their produce requests arrived when some are validated
 * asynchronously (a large or compressed batch, record-validator.ts). Kafka validates and appends under the
 * log's lock, so it never reorders a partition's appends behind an earlier request; requests on one connection
 * are handled one at a time anyway, so this matters for requests on different connections that race: the
 * second one waits until the first one's validation (and append) is done, as it would wait for the lock.
 *
 * A partition without anything pending stays synchronous: `run` calls `then` at once with a synchronous
 * verdict and returns its result unchanged.
 */
export class OrderedAppends<K> {
  private readonly tails = new Map<K, { tail: Promise<unknown>; pending: number }>();

  /**
   * Calls `then(verdict)` once every earlier `run` for the same key has called its own `then` (not waited
   * for what that returned: an append waiting for a flush or for replication does not hold up the next
   * append). At once when nothing is pending for the key and the verdict is not a promise.
   */
  run<V, R>(key: K, verdict: V | Promise<V>, then: (v: V) => R | Promise<R>): R | Promise<R> {
    const queued = this.tails.get(key);
    if (!queued && !(verdict instanceof Promise)) return then(verdict);
    const entry = queued ?? { tail: Promise.resolve(), pending: 0 };
    entry.pending++;
    let called!: () => void;
    const thenCalled = new Promise<void>((resolve) => (called = resolve));
    const result = entry.tail
      .then(() => verdict)
      .then(
        (v) => {
          try {
            return then(v);
          } finally {
            called();
          }
        },
        (err: unknown) => {
          called();
          throw err;
        },
      );
    entry.tail = thenCalled;
    this.tails.set(key, entry);
    void thenCalled.then(() => {
      if (--entry.pending === 0 && this.tails.get(key) === entry) this.tails.delete(key);
    });
    return result;
  }
}
