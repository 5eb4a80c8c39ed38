/**
 * Where the request path meets client quotas (quotas.ts), as KafkaApis applies them:
 *
 * - Produce: the request's bytes against producer_byte_rate (acks=0 too), and its handling time against
 *   request_percentage (not for acks=0);
 * - Fetch from a consumer: the response's record bytes against consumer_byte_rate and the handling time against
 *   request_percentage; a throttled fetch returns no data (the bytes are taken back), as Kafka's;
 * - every other client request: its handling time against request_percentage.
 * Exempt, as in Kafka: followers' fetches (replication), ApiVersions and SASL, and the inter-broker APIs.
 * The larger throttle wins; it goes into the response's throttle_time_ms and mutes the connection.
 */
import type { RequestQuotaHook } from '../server/request-runner.js';
import type { RequestContext } from '../server/request.js';
import type { ClientQuotas } from './quotas.js';

/** APIs never throttled: ApiVersions, SASL, and the ones brokers send each other. */
const EXEMPT = new Set([4, 5, 6, 7, 17, 18, 27, 36, 56, 57, 67]);

function followerFetch(req: { replicaId?: number; replicaState?: { replicaId?: number } }): boolean {
  return (req.replicaState?.replicaId ?? -1) >= 0 || (req.replicaId ?? -1) >= 0;
}

function fetchedBytes(response: Record<string, unknown>): number {
  let n = 0;
  for (const t of (response.responses as { partitions: { records: Buffer | null }[] }[] | undefined) ?? []) {
    for (const p of t.partitions) n += p.records?.length ?? 0;
  }
  return n;
}

export function quotaHook(quotas: ClientQuotas): RequestQuotaHook {
  return {
    get enabled() {
      return quotas.enabled;
    },
    prepare(ctx: RequestContext, request: unknown): void {
      if (ctx.apiKey !== 1) return;
      const req = request as { maxBytes?: number; minBytes?: number; replicaId?: number; replicaState?: { replicaId?: number } };
      if (followerFetch(req)) return;
      // as Kafka: a consumer's fetch returns at most what its quota allows in one window, so a response is not
      // thrown away whole for being larger than the quota
      const cap = quotas.maxValueInWindow('fetch', ctx.principal.name, ctx.clientId ?? '');
      if (!Number.isFinite(cap)) return;
      const max = Math.max(1, Math.floor(cap));
      if (typeof req.maxBytes === 'number' && req.maxBytes > max) req.maxBytes = max;
      if (typeof req.minBytes === 'number' && typeof req.maxBytes === 'number' && req.minBytes > req.maxBytes) req.minBytes = req.maxBytes;
    },
    apply(ctx: RequestContext, request: unknown, response: Record<string, unknown> | null, frameBytes: number, handlerMs: number): number {
      if (EXEMPT.has(ctx.apiKey)) return 0;
      const req = request as Record<string, unknown>;
      if (ctx.apiKey === 1 && followerFetch(req)) return 0;
      const user = ctx.principal.name;
      const clientId = ctx.clientId ?? '';
      let bandwidth = 0;
      let time = 0;
      if (ctx.apiKey === 0) {
        bandwidth = quotas.recordAndGetThrottleMs('produce', user, clientId, frameBytes);
        if (req.acks !== 0) time = quotas.recordAndGetThrottleMs('request', user, clientId, handlerMs);
      } else if (ctx.apiKey === 1 && response !== null) {
        time = quotas.recordAndGetThrottleMs('request', user, clientId, handlerMs);
        const bytes = fetchedBytes(response);
        bandwidth = quotas.recordAndGetThrottleMs('fetch', user, clientId, bytes);
        if (Math.max(bandwidth, time) > 0) {
          // a throttled fetch returns no data, and its bytes are not counted (they were not sent)
          quotas.unrecord('fetch', user, clientId, bytes);
          response.responses = [];
        }
      } else {
        time = quotas.recordAndGetThrottleMs('request', user, clientId, handlerMs);
      }
      const throttle = Math.max(bandwidth, time);
      if (throttle > 0 && response !== null) response.throttleTimeMs = throttle;
      return throttle;
    },
  };
}
