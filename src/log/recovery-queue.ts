/**
 * The work queue of one log dir's recovery after an unclean shutdown (Kafka's `num.recovery.threads.per.data.dir`
 * thread pool): at most `threads` jobs run at a time, in the order they were added, except that a job someone
 * is waiting for (a client asked for its partition) is moved to the front (`promote`), so the broker serves the
 * partitions its clients use before the rest. On Node the "threads" are concurrent recoveries: their reads and
 * fsyncs run on the libuv thread pool, their CRC checks on the event loop in between.
 */
export interface RecoveryJob {
  readonly key: string;
}

export class RecoveryQueue<J extends RecoveryJob> {
  /** In the order added; `head` is the next to look at (no shifting of a 10,000-element array). */
  private waiting: J[] = [];
  private head = 0;
  private readonly urgent: J[] = [];
  private readonly queued = new Map<string, J>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly threads: number,
    private readonly run: (job: J) => Promise<void>,
  ) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`recovery threads must be a positive integer, got ${threads}`);
  }

  /** Jobs not started yet. */
  get pending(): number {
    return this.queued.size;
  }

  get active(): number {
    return this.running;
  }

  add(job: J, first = false): void {
    if (this.stopped) throw new Error('the recovery queue is stopped');
    this.queued.set(job.key, job);
    if (first) this.urgent.push(job);
    else this.waiting.push(job);
    this.pump();
  }

  /** Moves a job that has not started to the front of the queue; false when it is not queued. */
  promote(key: string): boolean {
    const job = this.queued.get(key);
    if (job === undefined) return false;
    if (!this.urgent.includes(job)) this.urgent.push(job);
    return true;
  }

  /** Takes a job that has not started out of the queue; false when it is not queued. */
  remove(key: string): boolean {
    return this.queued.delete(key);
  }

  /** Starts nothing new; returns the jobs that had not started. Jobs running finish (see `idle`). */
  stop(): J[] {
    this.stopped = true;
    const left = [...this.queued.values()];
    this.queued.clear();
    this.waiting = [];
    this.head = 0;
    this.urgent.length = 0;
    return left;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private next(): J | undefined {
    // a job is skipped when it was removed, or already taken from the other list (promoted)
    while (this.urgent.length > 0) {
      const job = this.urgent.shift()!;
      if (this.take(job)) return job;
    }
    while (this.head < this.waiting.length) {
      const job = this.waiting[this.head++]!;
      if (this.take(job)) return job;
    }
    this.waiting = [];
    this.head = 0;
    return undefined;
  }

  private take(job: J): boolean {
    if (this.queued.get(job.key) !== job) return false;
    this.queued.delete(job.key);
    return true;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.threads) {
      const job = this.next();
      if (job === undefined) break;
      this.running++;
      // `run` reports its own failures; the queue only keeps count
      void this.run(job)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.running === 0 && (this.queued.size === 0 || this.stopped)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
