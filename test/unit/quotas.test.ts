/**
 * Client quotas without a broker: KIP-55's precedence between user, client-id and default settings (and who shares a
 * rate), Kafka's sampled rate with its minimum window, the throttle time formula, request_percentage, and the
 * request-path hook (exemptions, a throttled fetch returning no data).
 */
import { describe, expect, it } from 'vitest';
import { ClientQuotas, RateSensor, resolveQuota } from '../../src/security/quotas.js';
import { quotaHook } from '../../src/security/quota-hook.js';
import type { EntityConfigs } from '../../src/security/entity-configs.js';
import type { RequestContext } from '../../src/server/request.js';
import { userPrincipal } from '../../src/security/principal.js';

function configs(c: { users?: Record<string, Record<string, string>>; clients?: Record<string, Record<string, string>>; userClients?: Record<string, Record<string, Record<string, string>>> }): EntityConfigs {
  return {
    users: new Map(Object.entries(c.users ?? {})),
    clients: new Map(Object.entries(c.clients ?? {})),
    userClients: new Map(Object.entries(c.userClients ?? {}).map(([u, m]) => [u, new Map(Object.entries(m))])),
  };
}

describe('quota resolution (KIP-55)', () => {
  const all = configs({
    userClients: { alice: { app: { producer_byte_rate: '1' }, '<default>': { producer_byte_rate: '2' } }, '<default>': { app: { producer_byte_rate: '4' }, '<default>': { producer_byte_rate: '5' } } },
    users: { alice: { producer_byte_rate: '3' }, '<default>': { producer_byte_rate: '6' } },
    clients: { app: { producer_byte_rate: '7' }, '<default>': { producer_byte_rate: '8', consumer_byte_rate: '80' } },
  });

  it('takes the most specific setting, in Kafka\'s order', () => {
    expect(resolveQuota(all, 'produce', 'alice', 'app')?.bound).toBe(1);
    expect(resolveQuota(all, 'produce', 'alice', 'other')?.bound).toBe(2);
    expect(resolveQuota(configs({ users: { alice: { producer_byte_rate: '3' } }, userClients: { '<default>': { app: { producer_byte_rate: '4' } } } }), 'produce', 'alice', 'app')?.bound).toBe(3);
    expect(resolveQuota(all, 'produce', 'bob', 'app')?.bound).toBe(4);
    expect(resolveQuota(all, 'produce', 'bob', 'other')?.bound).toBe(5);
    expect(resolveQuota(configs({ users: { '<default>': { producer_byte_rate: '6' } }, clients: { app: { producer_byte_rate: '7' } } }), 'produce', 'bob', 'app')?.bound).toBe(6);
    expect(resolveQuota(configs({ clients: { app: { producer_byte_rate: '7' }, '<default>': { producer_byte_rate: '8' } } }), 'produce', 'bob', 'app')?.bound).toBe(7);
    expect(resolveQuota(configs({ clients: { '<default>': { producer_byte_rate: '8' } } }), 'produce', 'bob', 'x')?.bound).toBe(8);
    // each quota type resolves on its own
    expect(resolveQuota(all, 'fetch', 'alice', 'app')?.bound).toBe(80);
    expect(resolveQuota(all, 'request', 'alice', 'app')).toBeNull();
  });

  it('shares a user\'s rate between its client ids, and gives each client id its own under a default', () => {
    const user = configs({ users: { alice: { producer_byte_rate: '100' } } });
    expect(resolveQuota(user, 'produce', 'alice', 'a')?.key).toBe(resolveQuota(user, 'produce', 'alice', 'b')?.key);
    const perClient = configs({ clients: { '<default>': { producer_byte_rate: '100' } } });
    expect(resolveQuota(perClient, 'produce', 'alice', 'a')?.key).not.toBe(resolveQuota(perClient, 'produce', 'alice', 'b')?.key);
    expect(resolveQuota(perClient, 'produce', 'alice', 'a')?.key).toBe(resolveQuota(perClient, 'produce', 'bob', 'a')?.key);
  });
});

describe('rates and throttle times', () => {
  it('measures over the samples, at least all but one window, and throttles by (rate - bound) / bound * window', () => {
    let now = 1_000_000;
    const s = new RateSensor({ samples: 3, windowMs: 1000 }, now);
    s.record(3000, now);
    expect(s.windowSizeMs(now)).toBe(2000); // 2 full windows assumed at the start
    expect(s.rate(now)).toBe(1500);
    now += 2500;
    s.record(0, now);
    expect(s.windowSizeMs(now)).toBe(2500);
    now += 10_000; // the old samples expire
    expect(s.total(now)).toBe(0);

    let t = 0;
    const q = new ClientQuotas({ samples: 3, windowMs: 1000 }, () => t);
    q.update(configs({ clients: { app: { producer_byte_rate: '1000', request_percentage: '10' } } }));
    expect(q.enabled).toBe(true);
    expect(q.recordAndGetThrottleMs('produce', 'ANONYMOUS', 'app', 2000)).toBe(0); // 2000 over 2 s: at the bound
    expect(q.recordAndGetThrottleMs('produce', 'ANONYMOUS', 'app', 1000)).toBe(1000); // 3000 / 2 s = 1500/s: (1500-1000)/1000 * 2000 ms
    expect(q.recordAndGetThrottleMs('produce', 'ANONYMOUS', 'other', 1_000_000)).toBe(0); // no quota for this client
    // request_percentage 10 = 100 ms of handling per second: 300 ms within 2 s is 15 %
    expect(q.recordAndGetThrottleMs('request', 'ANONYMOUS', 'app', 300)).toBe(1000);
    q.update(configs({}));
    expect(q.enabled).toBe(false);
    expect(q.recordAndGetThrottleMs('produce', 'ANONYMOUS', 'app', 1e9)).toBe(0);
  });
});

describe('the request-path hook', () => {
  const ctx = (apiKey: number, clientId = 'app'): RequestContext =>
    ({ apiKey, apiVersion: 11, correlationId: 1, clientId, clientHost: '127.0.0.1:1', listenerName: 'PLAINTEXT', principal: userPrincipal('ANONYMOUS'), clientAddress: '127.0.0.1' }) as unknown as RequestContext;

  it('throttles a consumer\'s fetch (no data, bytes taken back), never a follower\'s, and never ApiVersions', () => {
    const q = new ClientQuotas({ samples: 2, windowMs: 1000 }, () => 0);
    q.update(configs({ clients: { app: { consumer_byte_rate: '1000', request_percentage: '1' } } }));
    const hook = quotaHook(q);
    const response = () => ({ throttleTimeMs: 0, responses: [{ topic: 't', partitions: [{ records: Buffer.alloc(5000) }] }] });
    const follower = response();
    expect(hook.apply(ctx(1), { replicaId: 1 }, follower, 100, 1), 'follower').toBe(0);
    expect(follower.responses).toHaveLength(1);
    const consumer = response();
    const throttle = hook.apply(ctx(1), { replicaId: -1, replicaState: { replicaId: -1 } }, consumer, 100, 0);
    expect(throttle).toBeGreaterThan(0);
    expect(consumer).toEqual({ throttleTimeMs: throttle, responses: [] });
    expect(hook.apply(ctx(18), {}, { throttleTimeMs: 0 }, 100, 1000)).toBe(0);
  });
});
