/**
 * Broker-wide connection limits, as Kafka's ConnectionQuotas and request channel configure them
 * (docs/limits.md has the table and where kfk departs from Kafka):
 *
 * - max.connections: connections to the broker over all its listeners; one more is closed at accept.
 * - max.connections.per.ip (+ max.connections.per.ip.overrides): the same per client IP address.
 * - connections.max.idle.ms: a connection with no complete request (and no response written) for this long,
 *   and no request being handled, is closed; a client that sends half a frame and goes silent is closed too.
 * - queued.max.requests: requests read from sockets and waiting for their turn, over the whole broker.
 * - bytes queued per connection: a connection stops being read while that much is waiting.
 *
 * Every limit hit is logged through a LimitLog: once per limit and source address per interval, with the count
 * of the hits that were not logged, so a flood of connections cannot flood the log.
 */
import type { Logger } from './logger.js';

export interface ConnectionLimits {
  /** max.connections (Kafka default Integer.MAX_VALUE). */
  readonly maxConnections: number;
  /** max.connections.per.ip (Kafka default Integer.MAX_VALUE). */
  readonly maxConnectionsPerIp: number;
  /** max.connections.per.ip.overrides, by IP address (normalised, see normaliseIp). */
  readonly maxConnectionsPerIpOverrides: ReadonlyMap<string, number>;
  /** connections.max.idle.ms (Kafka default 600000); negative: never closed for idleness. */
  readonly connectionsMaxIdleMs: number;
  /** queued.max.requests (Kafka default 500). */
  readonly queuedMaxRequests: number;
  /** Bytes of complete requests a connection may have waiting before it stops being read. */
  readonly queuedMaxBytesPerConnection: number;
}

const JAVA_INT_MAX = 2147483647;

/**
 * Reading from one connection pauses once this many bytes of complete requests wait behind the one being
 * handled (Kafka reads one request per connection at a time; kfk lets a client pipeline up to this much).
 */
export const DEFAULT_QUEUED_BYTES_PER_CONNECTION = 1024 * 1024;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: JAVA_INT_MAX,
  maxConnectionsPerIp: JAVA_INT_MAX,
  maxConnectionsPerIpOverrides: new Map(),
  connectionsMaxIdleMs: 600_000,
  queuedMaxRequests: 500,
  queuedMaxBytesPerConnection: DEFAULT_QUEUED_BYTES_PER_CONNECTION,
};

/** How often a limit hit is logged per source, at most. */
export const LIMIT_LOG_INTERVAL_MS = 60_000;

/** The IPv4 form of an IPv4-mapped IPv6 address (a dual-stack listener reports ::ffff:127.0.0.1). */
export function normaliseIp(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

/** Logs a limit hit once per (limit, source) per interval, with the number of hits not logged since. */
export class LimitLog {
  private readonly entries = new Map<string, { since: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = LIMIT_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  hit(limit: string, source: string, message: () => string): void {
    const key = `${limit}\u0000${source}`;
    const t = this.now();
    const entry = this.entries.get(key);
    if (entry && t - entry.since < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const missed = entry && entry.suppressed > 0 ? ` (${entry.suppressed} more from ${source} since the last report)` : '';
    this.logger.warn(`${message()}${missed}; further ${limit} hits from ${source} are logged at most once every ${Math.round(this.intervalMs / 1000)} s`);
    this.entries.set(key, { since: t, suppressed: 0 });
    if (this.entries.size > 10_000) this.prune(t);
  }

  private prune(t: number): void {
    for (const [k, e] of this.entries) if (t - e.since >= this.intervalMs) this.entries.delete(k);
  }
}

/**
 * queued.max.requests: the requests read from every connection of the broker and not yet handled. When the
 * budget is spent, connections that already have a request waiting stop being read until it frees up; a
 * connection with nothing waiting may still read its next request, so one client's pipeline cannot lock every
 * other client out (Kafka's network threads block on a full queue, but there each connection holds at most one
 * request, so only many clients together can fill it).
 */
export class RequestQueueBudget {
  private queued = 0;
  private readonly waiting = new Set<() => void>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.queued;
  }

  get full(): boolean {
    return this.queued >= this.max;
  }

  add(n: number): void {
    this.queued += n;
  }

  remove(n: number): void {
    this.queued -= n;
    if (this.waiting.size > 0 && !this.full) {
      const wake = [...this.waiting];
      this.waiting.clear();
      for (const w of wake) w();
    }
  }

  /** Calls `wake` once the budget has room again. */
  waitForRoom(wake: () => void): void {
    this.waiting.add(wake);
  }

  cancel(wake: () => void): void {
    this.waiting.delete(wake);
  }
}

export class ConnectionQuotas {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  readonly requestBudget: RequestQueueBudget;
  readonly limitLog: LimitLog;

  constructor(
    readonly limits: ConnectionLimits,
    logger: Logger,
    limitLog?: LimitLog,
  ) {
    this.requestBudget = new RequestQueueBudget(limits.queuedMaxRequests);
    this.limitLog = limitLog ?? new LimitLog(logger);
  }

  get connectionCount(): number {
    return this.total;
  }

  maxConnectionsFor(ip: string): number {
    return this.limits.maxConnectionsPerIpOverrides.get(ip) ?? this.limits.maxConnectionsPerIp;
  }

  /**
   * Counts a new connection from `ip` and returns true, or returns false (and logs, rate-limited) when it
   * would exceed max.connections or the address's max.connections.per.ip: the caller closes it.
   */
  admit(ip: string, listenerName: string): boolean {
    const fromIp = this.perIp.get(ip) ?? 0;
    const perIpMax = this.maxConnectionsFor(ip);
    if (fromIp >= perIpMax) {
      this.limitLog.hit('max.connections.per.ip', ip, () =>
        `closing a new connection from ${ip} on listener ${listenerName}: it has ${fromIp} connections, max.connections.per.ip${
          this.limits.maxConnectionsPerIpOverrides.has(ip) ? ' (override)' : ''
        } is ${perIpMax}`,
      );
      return false;
    }
    if (this.total >= this.limits.maxConnections) {
      this.limitLog.hit('max.connections', ip, () =>
        `closing a new connection from ${ip} on listener ${listenerName}: the broker has ${this.total} connections, max.connections is ${this.limits.maxConnections}`,
      );
      return false;
    }
    this.total++;
    this.perIp.set(ip, fromIp + 1);
    return true;
  }

  release(ip: string): void {
    this.total--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}
