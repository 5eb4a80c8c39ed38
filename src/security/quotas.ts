/**
 * Client quotas as Kafka's ClientQuotaManager enforces them (KIP-13, KIP-55, KIP-124, KIP-219):
 *
 * - producer_byte_rate (Produce request bytes), consumer_byte_rate (Fetch response bytes), request_percentage (time
 *   spent handling a client's requests, in percent of one thread), each set for users, client ids and users' client
 *   ids in /config/users and /config/clients (entity-configs.ts), "<default>" for defaults;
 * - for a (user, client id) the most specific setting wins, in KIP-55's order: user+client, user+default client,
 *   user, default user+client, default user+default client, default user, client, default client; all the
 *   connections that setting covers share one rate (a user's quota is shared by all its client ids, a default one
 *   is per user or per client id);
 * - rates are measured over quota.window.num samples of quota.window.size.seconds (at least all but one of them
 *   counted as elapsed, as Kafka's Rate); a request that takes the rate over the bound gets
 *   throttle_time_ms = (rate - bound) / bound * window, and its connection is muted that long (KIP-219).
 *
 * Without any quota configured nothing is recorded: the request path pays one boolean check.
 */
import type { EntityConfigCache, EntityConfigs } from './entity-configs.js';
import { DEFAULT_ENTITY } from './entity-configs.js';

export type QuotaType = 'produce' | 'fetch' | 'request';

export const QUOTA_CONFIG_KEYS: Readonly<Record<QuotaType, string>> = {
  produce: 'producer_byte_rate',
  fetch: 'consumer_byte_rate',
  request: 'request_percentage',
};

export interface QuotaWindow {
  /** quota.window.num */
  readonly samples: number;
  /** quota.window.size.seconds, in ms */
  readonly windowMs: number;
}

/** Kafka's sampled Rate: a ring of samples, each a window long; the rate is per second. */
export class RateSensor {
  private readonly values: Float64Array;
  private readonly starts: Float64Array;
  private current = 0;

  constructor(private readonly w: QuotaWindow, now: number) {
    this.values = new Float64Array(w.samples);
    this.starts = new Float64Array(w.samples).fill(-Infinity);
    this.starts[0] = now;
  }

  /** Adds a value (negative to take one back), rolling to a new sample when the current one is full. */
  record(value: number, now: number): void {
    if (now - this.starts[this.current]! >= this.w.windowMs) {
      this.current = (this.current + 1) % this.w.samples;
      this.starts[this.current] = now;
      this.values[this.current] = 0;
    }
    this.values[this.current]! += value;
  }

  /** Milliseconds the rate is computed over: since the oldest live sample, at least samples - 1 windows. */
  windowSizeMs(now: number): number {
    let oldest = now;
    const horizon = now - this.w.samples * this.w.windowMs;
    for (let i = 0; i < this.w.samples; i++) {
      const s = this.starts[i]!;
      if (s > horizon && s < oldest) oldest = s;
    }
    let elapsed = now - oldest;
    const full = Math.floor(elapsed / this.w.windowMs);
    if (full < this.w.samples - 1) elapsed += (this.w.samples - 1 - full) * this.w.windowMs;
    return elapsed;
  }

  /** Sum of the live samples. */
  total(now: number): number {
    const horizon = now - this.w.samples * this.w.windowMs;
    let t = 0;
    for (let i = 0; i < this.w.samples; i++) if (this.starts[i]! > horizon) t += this.values[i]!;
    return t;
  }

  /** The rate per second. */
  rate(now: number): number {
    return this.total(now) / (this.windowSizeMs(now) / 1000);
  }
}

interface ResolvedQuota {
  /** The bound: bytes per second, or percent (request). */
  readonly bound: number;
  /** The sensor key: who shares this rate. */
  readonly key: string;
}

/** The quota of (user, client id) for a type, by KIP-55's precedence; null when none applies. */
export function resolveQuota(c: EntityConfigs, type: QuotaType, user: string, clientId: string): ResolvedQuota | null {
  const k = QUOTA_CONFIG_KEYS[type];
  const get = (cfg: Readonly<Record<string, string>> | undefined): number | undefined => {
    const v = cfg?.[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const both = `u:${user}\u0000c:${clientId}`;
  const userOnly = `u:${user}\u0000c:`;
  const clientOnly = `u:\u0000c:${clientId}`;
  const candidates: [number | undefined, string][] = [
    [get(c.userClients.get(user)?.get(clientId)), both],
    [get(c.userClients.get(user)?.get(DEFAULT_ENTITY)), both],
    [get(c.users.get(user)), userOnly],
    [get(c.userClients.get(DEFAULT_ENTITY)?.get(clientId)), both],
    [get(c.userClients.get(DEFAULT_ENTITY)?.get(DEFAULT_ENTITY)), both],
    [get(c.users.get(DEFAULT_ENTITY)), userOnly],
    [get(c.clients.get(clientId)), clientOnly],
    [get(c.clients.get(DEFAULT_ENTITY)), clientOnly],
  ];
  for (const [bound, key] of candidates) if (bound !== undefined) return { bound, key };
  return null;
}

function anyQuota(c: EntityConfigs): boolean {
  const has = (cfg: Readonly<Record<string, string>>) => Object.values(QUOTA_CONFIG_KEYS).some((k) => cfg[k] !== undefined);
  for (const cfg of c.users.values()) if (has(cfg)) return true;
  for (const cfg of c.clients.values()) if (has(cfg)) return true;
  for (const m of c.userClients.values()) for (const cfg of m.values()) if (has(cfg)) return true;
  return false;
}

/** The broker's client quotas: one manager for all three types, following the registry's configs. */
export class ClientQuotas {
  /** Whether any quota is configured (else nothing is recorded). */
  enabled = false;
  private configs: EntityConfigs | null = null;
  private readonly resolved = new Map<string, ResolvedQuota | null>();
  private readonly sensors = new Map<string, RateSensor>();

  constructor(
    readonly window: QuotaWindow,
    private readonly now: () => number = Date.now,
  ) {}

  /** Follows the registry's user and client configs. */
  follow(cache: EntityConfigCache): void {
    this.update(cache.current);
    cache.onUpdate((c) => this.update(c));
  }

  update(c: EntityConfigs): void {
    this.configs = c;
    this.enabled = anyQuota(c);
    this.resolved.clear();
    // a changed bound takes effect at once; the rates measured so far are kept (as Kafka keeps its sensors)
  }

  private quota(type: QuotaType, user: string, clientId: string): ResolvedQuota | null {
    const rk = `${type}\u0000${user}\u0000${clientId}`;
    let q = this.resolved.get(rk);
    if (q === undefined) {
      q = this.configs ? resolveQuota(this.configs, type, user, clientId) : null;
      if (this.resolved.size > 100_000) this.resolved.clear();
      this.resolved.set(rk, q);
    }
    return q;
  }

  private sensor(type: QuotaType, key: string, now: number): RateSensor {
    const sk = `${type}\u0000${key}`;
    let s = this.sensors.get(sk);
    if (s === undefined) {
      s = new RateSensor(this.window, now);
      this.sensors.set(sk, s);
    }
    return s;
  }

  /**
   * Records `value` (bytes, or ms of handling for 'request': percent of a thread = ms per second / 10) and returns
   * the throttle time: 0 while the rate stays within the bound.
   */
  recordAndGetThrottleMs(type: QuotaType, user: string, clientId: string, value: number): number {
    if (!this.enabled) return 0;
    const q = this.quota(type, user, clientId);
    if (q === null) return 0;
    const now = this.now();
    const s = this.sensor(type, q.key, now);
    const recorded = type === 'request' ? value / 10 : value; // ms per second → percent of one thread
    s.record(recorded, now);
    const rate = s.rate(now);
    if (rate <= q.bound) return 0;
    return Math.round(((rate - q.bound) / q.bound) * s.windowSizeMs(now));
  }

  /**
   * The most that may be recorded at once without being throttled for sure: the quota over all but one sample
   * (Kafka's getMaxValueInQuotaWindow; a consumer's fetch is bounded by it). Infinity without a quota.
   */
  maxValueInWindow(type: QuotaType, user: string, clientId: string): number {
    if (!this.enabled) return Infinity;
    const q = this.quota(type, user, clientId);
    return q === null ? Infinity : q.bound * (this.window.samples - 1) * (this.window.windowMs / 1000);
  }

  /** Takes back a recorded value (a throttled fetch returns no data, as Kafka's unrecordQuotaSensor). */
  unrecord(type: QuotaType, user: string, clientId: string, value: number): void {
    if (!this.enabled) return;
    const q = this.quota(type, user, clientId);
    if (q === null) return;
    const now = this.now();
    this.sensor(type, q.key, now).record(-(type === 'request' ? value / 10 : value), now);
  }
}
