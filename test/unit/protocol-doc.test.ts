/**
 * docs/protocol.md's table must match what the broker advertises, and the advertised ranges must
 * contain the versions real clients need (../shared/docs/protocol-notes.md §2).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Broker } from '../../src/broker/broker.js';
import { API_CODECS } from '../../src/protocol/generated/apis.js';
import { silentLogger } from '../../src/server/logger.js';
import type { Registry } from '../../src/registry/registry.js';

function advertised(): Map<number, { min: number; max: number }> {
  const broker = new Broker({
    brokerId: 0,
    listeners: [],
    logDirs: ['/nonexistent'],
    registry: {} as Registry,
    numPartitions: 1,
    defaultReplicationFactor: 1,
    autoCreateTopicsEnable: true,
    deleteTopicEnable: true,
    socketRequestMaxBytes: 1 << 20,
    logDefaults: {},
    logger: silentLogger,
  });
  return new Map([...broker.apiHandlers.values()].map((h) => [h.apiKey, { min: h.minVersion, max: h.maxVersion }]));
}

describe('advertised API versions', () => {
  const served = advertised();

  it('docs/protocol.md lists exactly the served ranges', () => {
    const doc = readFileSync(resolve(__dirname, '../../docs/protocol.md'), 'utf8');
    const rows = new Map<number, { min: number; max: number }>();
    for (const m of doc.matchAll(/^\| (\w+) \| (\d+) \| (\d+) \| (\d+) \|/gm)) {
      rows.set(Number(m[2]), { min: Number(m[3]), max: Number(m[4]) });
      expect(API_CODECS.get(Number(m[2]))?.name, `name of key ${m[2]}`).toBe(m[1]);
    }
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(served));
  });

  it('never advertises a version the codecs lack or an unstable one', () => {
    for (const [key, r] of served) {
      const codec = API_CODECS.get(key)!;
      expect(r.min).toBeGreaterThanOrEqual(codec.minVersion);
      expect(r.max).toBeLessThanOrEqual(codec.maxStableVersion);
    }
  });

  it("contains the clients' required points", () => {
    const has = (key: number, v: number) => {
      const r = served.get(key);
      return r !== undefined && r.min <= v && v <= r.max;
    };
    expect(has(0, 3) && has(1, 4)).toBe(true); // librdkafka MsgVer2
    expect(has(0, 7) && has(1, 10)).toBe(true); // librdkafka ZSTD
    expect(has(3, 0) && has(3, 1) && has(3, 4)).toBe(true); // kafka-python probe, client; >=4 so it infers 0.11+
    expect(has(1, 13)).toBe(true); // @platformatic/kafka needs topic ids in Fetch
    expect(has(3, 12)).toBe(true);
    expect(has(18, 0) && has(18, 3)).toBe(true);
  });
});
