/**
 * Topic configs through the wire, in process: DescribeConfigs (every topic config with value, source,
 * synonyms, type, documentation; every version's shape; broker resources), AlterConfigs (replace all,
 * validate_only), IncrementalAlterConfigs (SET/DELETE/APPEND/SUBTRACT), the registry writes Kafka makes
 * (/config/topics/<t> + /config/changes/config_change_), logs picking up a change level-triggered, and
 * CreatePartitions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { TOPIC_CONFIG_DEFS } from '../../src/config/topic-config.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { applyIncrementalOps } from '../../src/broker/handlers/incremental-alter-configs.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { Admin, ConfigResourceError } from '../../src/client/admin.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { ApiKey } from '../../src/protocol/generated/apis.js';
import { configChangesPath, decodeConfigChangeNotification, decodeTopicConfig, topicConfigPath } from '../../src/registry/paths.js';
import { silentLogger } from '../../src/server/logger.js';
import type { Registry } from '../../src/registry/registry.js';
import { formatEntry, parseAddConfig, parseDeleteConfig } from '../../commands/configs.js';

const TOPIC = 2;
const BROKER = 4;

let dataDir: string;
let running: RunningBroker;
let conn: BrokerConnection;
let admin: Admin;
let registry: Registry;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'kfk-configs-'));
  const config = brokerConfigFromProperties({
    'broker.id': '0',
    listeners: 'PLAINTEXT://127.0.0.1:0',
    'log.dirs': dataDir,
    'log.retention.hours': '48',
    'message.max.bytes': '500000',
  });
  running = await launchBroker(config, { logger: silentLogger });
  registry = running.broker.options.registry;
  conn = await BrokerConnection.connect({ host: '127.0.0.1', port: running.port });
  admin = new Admin({ bootstrap: running.bootstrap });
  await admin.createTopics([{ name: 'cfg', numPartitions: 2, configs: { 'retention.ms': '1000', 'cleanup.policy': 'compact' } }]);
  await admin.createTopics([{ name: 'plain', numPartitions: 1 }]);
});

afterAll(async () => {
  conn?.close();
  await admin?.close();
  await running?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type Entry = {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  synonyms: { name: string; value: string | null; source: number }[];
  configType: number;
  documentation: string | null;
};

async function describeTopic(topic: string, version = 4, extra: Record<string, unknown> = {}): Promise<{ errorCode: number; errorMessage: string | null; configs: Entry[] }> {
  const res = await conn.request(
    ApiKey.DescribeConfigs,
    { resources: [{ resourceType: TOPIC, resourceName: topic, configurationKeys: null }], includeSynonyms: true, includeDocumentation: true, ...extra },
    { version },
  );
  return res.results[0];
}

function byName(configs: Entry[]): Map<string, Entry> {
  return new Map(configs.map((c) => [c.name, c]));
}

describe('DescribeConfigs', () => {
  it('returns every topic config with value, source, synonyms, type and documentation', async () => {
    const r = await describeTopic('cfg');
    expect(r.errorCode).toBe(0);
    expect(r.configs.map((c) => c.name).sort()).toEqual(TOPIC_CONFIG_DEFS.map((d) => d.name).sort());
    const m = byName(r.configs);
    // an override
    expect(m.get('retention.ms')).toMatchObject({ value: '1000', configSource: 1, readOnly: false, isSensitive: false, configType: 5 });
    expect(m.get('retention.ms')!.synonyms).toEqual([
      { name: 'retention.ms', value: '1000', source: 1 },
      { name: 'log.retention.hours', value: '48', source: 4 },
      { name: 'log.retention.hours', value: '168', source: 5 },
    ]);
    expect(m.get('cleanup.policy')).toMatchObject({ value: 'compact', configSource: 1, configType: 7 });
    // set by the broker's file (message.max.bytes) → STATIC_BROKER_CONFIG
    expect(m.get('max.message.bytes')).toMatchObject({ value: '500000', configSource: 4, configType: 3 });
    expect(m.get('max.message.bytes')!.synonyms).toEqual([
      { name: 'message.max.bytes', value: '500000', source: 4 },
      { name: 'message.max.bytes', value: '1048588', source: 5 },
    ]);
    // Kafka's default
    expect(m.get('segment.bytes')).toMatchObject({ value: '1073741824', configSource: 5, configType: 3 });
    expect(m.get('flush.messages')!.value).toBe('9223372036854775807');
    expect(m.get('min.cleanable.dirty.ratio')).toMatchObject({ value: '0.5', configType: 6 });
    expect(m.get('preallocate')).toMatchObject({ value: 'false', configType: 1 });
    expect(m.get('segment.bytes')!.documentation).toMatch(/segment/i);
  });

  it('leaves synonyms and documentation out unless asked', async () => {
    const r = await describeTopic('cfg', 4, { includeSynonyms: false, includeDocumentation: false });
    const m = byName(r.configs);
    expect(m.get('retention.ms')!.synonyms).toEqual([]);
    expect(m.get('retention.ms')!.documentation).toBeFalsy();
    expect(m.get('retention.ms')!.configType).toBe(5);
  });

  it('answers every version: v0 is_default, v1+ config_source and synonyms', async () => {
    for (const v of [0, 1, 2, 3, 4]) {
      const r = await describeTopic('cfg', v);
      expect(r.errorCode, `v${v}`).toBe(0);
      expect(r.configs).toHaveLength(TOPIC_CONFIG_DEFS.length);
      const m = byName(r.configs);
      if (v === 0) {
        expect(m.get('retention.ms')!.isDefault).toBe(false);
        expect(m.get('segment.bytes')!.isDefault).toBe(true);
      } else {
        expect(m.get('retention.ms')!.configSource).toBe(1);
        expect(m.get('retention.ms')!.synonyms.length).toBeGreaterThan(0);
      }
    }
  });

  it('filters by configuration_keys (null or empty: all)', async () => {
    const res = await conn.request(ApiKey.DescribeConfigs, {
      resources: [
        { resourceType: TOPIC, resourceName: 'cfg', configurationKeys: ['retention.ms', 'segment.bytes', 'no.such.config'] },
        { resourceType: TOPIC, resourceName: 'plain', configurationKeys: [] },
      ],
    });
    expect(res.results[0].configs.map((c: Entry) => c.name).sort()).toEqual(['retention.ms', 'segment.bytes']);
    expect(res.results[1].configs).toHaveLength(TOPIC_CONFIG_DEFS.length);
  });

  it('answers per resource: unknown topic, invalid name, unsupported resource type', async () => {
    const res = await conn.request(ApiKey.DescribeConfigs, {
      resources: [
        { resourceType: TOPIC, resourceName: 'nope', configurationKeys: null },
        { resourceType: TOPIC, resourceName: 'bad/name', configurationKeys: null },
        { resourceType: 8, resourceName: '0', configurationKeys: null },
        { resourceType: TOPIC, resourceName: 'plain', configurationKeys: null },
      ],
    });
    expect(res.results.map((r: { errorCode: number }) => r.errorCode)).toEqual([
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.NONE,
    ]);
    expect(res.results[0].configs).toEqual([]);
  });

  it("describes this broker's static configs (and refuses another broker id)", async () => {
    const res = await conn.request(ApiKey.DescribeConfigs, {
      resources: [
        { resourceType: BROKER, resourceName: '0', configurationKeys: null },
        { resourceType: BROKER, resourceName: '7', configurationKeys: null },
      ],
      includeSynonyms: true,
    });
    const [mine, other] = res.results;
    expect(mine.errorCode).toBe(0);
    const m = byName(mine.configs);
    expect(m.get('message.max.bytes')).toMatchObject({ value: '500000', configSource: 4, readOnly: false }); // a dynamic broker config
    expect(m.get('num.partitions')).toMatchObject({ readOnly: true });
    expect(m.get('num.partitions')).toMatchObject({ value: '1', configSource: 5 });
    expect(m.get('log.retention.hours')!.synonyms).toEqual([
      { name: 'log.retention.hours', value: '48', source: 4 },
      { name: 'log.retention.hours', value: '168', source: 5 },
    ]);
    expect(other.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe('AlterConfigs and IncrementalAlterConfigs', () => {
  it('applies KIP-339 operations to overrides', () => {
    const cur = { 'retention.ms': '5', 'cleanup.policy': 'compact' };
    expect(applyIncrementalOps(cur, [{ name: 'segment.ms', configOperation: 0, value: '100' }, { name: 'retention.ms', configOperation: 1, value: null }])).toEqual({
      'cleanup.policy': 'compact',
      'segment.ms': '100',
    });
    expect(applyIncrementalOps(cur, [{ name: 'cleanup.policy', configOperation: 2, value: 'delete,compact' }])['cleanup.policy']).toBe('compact,delete');
    expect(applyIncrementalOps(cur, [{ name: 'cleanup.policy', configOperation: 3, value: 'compact' }])['cleanup.policy']).toBe('');
    // no override yet: the list default is the base
    expect(applyIncrementalOps({}, [{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }])['cleanup.policy']).toBe('delete,compact');
    expect(() => applyIncrementalOps(cur, [{ name: 'retention.ms', configOperation: 2, value: '1' }])).toThrow(
      'Config value append is not allowed for config key: retention.ms',
    );
    expect(() => applyIncrementalOps(cur, [{ name: 'a', configOperation: 0, value: '1' }, { name: 'a', configOperation: 1, value: null }])).toThrow(/duplicate/);
    expect(() => applyIncrementalOps(cur, [{ name: 'a', configOperation: 9, value: '1' }])).toThrow(/operation/);
  });

  it('sets and deletes overrides, writes /config/topics/<t> with a change notification, and the logs follow', async () => {
    await admin.createTopics([{ name: 'alter-me', numPartitions: 2 }]);
    const before = (await registry.children(configChangesPath)) ?? [];
    await admin.incrementalAlterConfigs({ type: 'topic', name: 'alter-me' }, { set: { 'max.message.bytes': '2000', 'segment.ms': '60000' } });
    expect(decodeTopicConfig((await registry.get(topicConfigPath('alter-me')))!.data)).toEqual({ 'max.message.bytes': '2000', 'segment.ms': '60000' });
    const after = (await registry.children(configChangesPath)) ?? [];
    const added = after.filter((c) => !before.includes(c));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^config_change_\d{10}$/);
    expect(decodeConfigChangeNotification((await registry.get(`${configChangesPath}/${added[0]}`))!.data)).toEqual({ type: 'topics', name: 'alter-me' });
    for (const p of [0, 1]) {
      const log = running.broker.replicaManager.getPartition('alter-me', p)!.log;
      expect(log.config.maxMessageBytes).toBe(2000);
      expect(log.config.segmentMs).toBe(60000);
    }
    const [d] = await admin.describeConfigs([{ type: 'topic', name: 'alter-me' }]);
    expect(d!.configs.find((c) => c.name === 'max.message.bytes')).toMatchObject({ value: '2000', source: 'DYNAMIC_TOPIC_CONFIG' });

    await admin.incrementalAlterConfigs({ type: 'topic', name: 'alter-me' }, { delete: ['max.message.bytes'] });
    expect(decodeTopicConfig((await registry.get(topicConfigPath('alter-me')))!.data)).toEqual({ 'segment.ms': '60000' });
    // back to the broker's value (message.max.bytes=500000)
    expect(running.broker.replicaManager.getPartition('alter-me', 0)!.log.config.maxMessageBytes).toBe(500000);

    // AlterConfigs replaces everything
    await admin.alterConfigs({ type: 'topic', name: 'alter-me' }, { 'retention.bytes': '1000000' });
    expect(decodeTopicConfig((await registry.get(topicConfigPath('alter-me')))!.data)).toEqual({ 'retention.bytes': '1000000' });
    expect(running.broker.replicaManager.getPartition('alter-me', 0)!.log.config.segmentMs).toBe(604800000);
  });

  it("rejects invalid configs with Kafka's message and writes nothing on validate_only", async () => {
    const ref = { type: 'topic' as const, name: 'plain' };
    const err = (await admin.incrementalAlterConfigs(ref, { set: { 'no.such': '1' } }).catch((e: unknown) => e)) as ConfigResourceError;
    expect(err).toBeInstanceOf(ConfigResourceError);
    expect(err.code).toBe(ErrorCode.INVALID_CONFIG);
    expect(err.message).toBe('Unknown topic config name: no.such');
    const bad = (await admin.alterConfigs(ref, { 'retention.ms': 'abc' }).catch((e: unknown) => e)) as ConfigResourceError;
    expect(bad.code).toBe(ErrorCode.INVALID_CONFIG);
    expect(bad.message).toBe('Invalid value abc for configuration retention.ms: Not a number of type LONG');
    const lag = (await admin.incrementalAlterConfigs(ref, { set: { 'min.compaction.lag.ms': '10', 'max.compaction.lag.ms': '5' } }).catch((e: unknown) => e)) as ConfigResourceError;
    expect(lag.code).toBe(ErrorCode.INVALID_CONFIG);

    await admin.incrementalAlterConfigs(ref, { set: { 'retention.ms': '77' } }, { validateOnly: true });
    await admin.alterConfigs(ref, { 'retention.ms': '77' }, { validateOnly: true });
    expect(decodeTopicConfig((await registry.get(topicConfigPath('plain')))?.data ?? null)).toEqual({});

    const missing = (await admin.incrementalAlterConfigs({ type: 'topic', name: 'nope' }, { set: { 'retention.ms': '1' } }).catch((e: unknown) => e)) as ConfigResourceError;
    expect(missing.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('stores dynamic broker configs in /config/brokers/<id|<default>>, and refuses the static ones with INVALID_REQUEST', async () => {
    for (const apiKey of [ApiKey.AlterConfigs, ApiKey.IncrementalAlterConfigs]) {
      const configs = apiKey === ApiKey.AlterConfigs ? [{ name: 'broker.id', value: '10' }] : [{ name: 'broker.id', configOperation: 0, value: '10' }];
      const res = await conn.request(apiKey, { resources: [{ resourceType: BROKER, resourceName: '0', configs }], validateOnly: false });
      expect(res.responses[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
      expect(res.responses[0].errorMessage).toMatch(/Cannot update these configs dynamically: Set\(broker.id\)/);
    }
    const set = await conn.request(ApiKey.IncrementalAlterConfigs, {
      resources: [
        { resourceType: BROKER, resourceName: '0', configs: [{ name: 'message.max.bytes', configOperation: 0, value: '5000' }] },
        { resourceType: BROKER, resourceName: '', configs: [{ name: 'log.retention.ms', configOperation: 0, value: '60000' }] },
      ],
      validateOnly: false,
    });
    expect(set.responses.map((r: { errorCode: number }) => r.errorCode)).toEqual([0, 0]);
    expect(decodeTopicConfig((await registry.get('/config/brokers/0'))!.data)).toEqual({ 'message.max.bytes': '5000' });
    expect(decodeTopicConfig((await registry.get('/config/brokers/<default>'))!.data)).toEqual({ 'log.retention.ms': '60000' });
    const replaced = await conn.request(ApiKey.AlterConfigs, { resources: [{ resourceType: BROKER, resourceName: '0', configs: [] }], validateOnly: false });
    expect(replaced.responses[0].errorCode).toBe(0);
    expect(decodeTopicConfig((await registry.get('/config/brokers/0'))!.data)).toEqual({});
  });

  it('serves every version of AlterConfigs (v0-2) and IncrementalAlterConfigs (v0-1)', async () => {
    for (const v of [0, 1, 2]) {
      const res = await conn.request(
        ApiKey.AlterConfigs,
        { resources: [{ resourceType: TOPIC, resourceName: 'plain', configs: [{ name: 'segment.ms', value: String(1000 + v) }] }], validateOnly: false },
        { version: v },
      );
      expect(res.responses[0].errorCode).toBe(0);
      expect(decodeTopicConfig((await registry.get(topicConfigPath('plain')))!.data)).toEqual({ 'segment.ms': String(1000 + v) });
    }
    for (const v of [0, 1]) {
      const res = await conn.request(
        ApiKey.IncrementalAlterConfigs,
        { resources: [{ resourceType: TOPIC, resourceName: 'plain', configs: [{ name: 'segment.ms', configOperation: 1, value: null }] }], validateOnly: false },
        { version: v },
      );
      expect(res.responses[0].errorCode).toBe(0);
    }
    expect(decodeTopicConfig((await registry.get(topicConfigPath('plain')))!.data)).toEqual({});
  });
});

describe('CreatePartitions', () => {
  it('adds partitions, refuses a count that does not grow, and answers every topic', async () => {
    await admin.createTopics([{ name: 'grow', numPartitions: 2 }]);
    await admin.createPartitions('grow', 4);
    const [t] = await admin.describeTopics(['grow']);
    expect(t!.partitions.map((p) => [p.partition, p.leader, p.replicas])).toEqual([
      [0, 0, [0]],
      [1, 0, [0]],
      [2, 0, [0]],
      [3, 0, [0]],
    ]);
    expect(running.broker.replicaManager.getPartition('grow', 3)).toBeDefined();

    for (const v of [0, 1, 2, 3]) {
      const res = await conn.request(
        ApiKey.CreatePartitions,
        {
          topics: [
            { name: 'grow', count: 4, assignments: null },
            { name: 'grow2', count: 3, assignments: null },
            { name: 'nope', count: 3, assignments: null },
          ],
          timeoutMs: 5000,
          validateOnly: false,
        },
        { version: v },
      );
      expect(res.results.map((r: { name: string; errorCode: number }) => [r.name, r.errorCode])).toEqual([
        ['grow', ErrorCode.INVALID_PARTITIONS],
        ['grow2', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
        ['nope', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ]);
      expect(res.results[0].errorMessage).toBe('Topic already has 4 partitions.');
    }
    const lower = await conn.request(ApiKey.CreatePartitions, { topics: [{ name: 'grow', count: 1, assignments: null }], timeoutMs: 5000, validateOnly: false });
    expect(lower.results[0].errorMessage).toBe('Topic currently has 4 partitions, which is higher than the requested 1.');

    // manual assignment and validate_only
    const manual = await conn.request(ApiKey.CreatePartitions, {
      topics: [{ name: 'grow', count: 6, assignments: [{ brokerIds: [0] }] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(manual.results[0].errorCode).toBe(ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    const unknown = await conn.request(ApiKey.CreatePartitions, {
      topics: [{ name: 'grow', count: 5, assignments: [{ brokerIds: [9] }] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(unknown.results[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'Unknown broker(s) in replica assignment: 9.' });
    const dry = await conn.request(ApiKey.CreatePartitions, { topics: [{ name: 'grow', count: 8, assignments: null }], timeoutMs: 5000, validateOnly: true });
    expect(dry.results[0].errorCode).toBe(0);
    expect((await admin.describeTopics(['grow']))[0]!.partitions).toHaveLength(4);
    const ok = await conn.request(ApiKey.CreatePartitions, {
      topics: [{ name: 'grow', count: 5, assignments: [{ brokerIds: [0] }] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    expect(ok.results[0].errorCode).toBe(0);
    expect((await admin.describeTopics(['grow']))[0]!.partitions).toHaveLength(5);
  });
});

describe('kfk configs argument parsing and output', () => {
  it('parses --add-config with bracketed lists and --delete-config lists', () => {
    expect(parseAddConfig(['retention.ms=1000,cleanup.policy=[compact,delete]', 'segment.ms=5'])).toEqual({
      'retention.ms': '1000',
      'cleanup.policy': 'compact,delete',
      'segment.ms': '5',
    });
    expect(() => parseAddConfig(['retention.ms'])).toThrow(/key=val/);
    expect(parseDeleteConfig(['a,b', 'c'])).toEqual(['a', 'b', 'c']);
  });

  it("prints an entry as Kafka's ConfigCommand does", () => {
    expect(
      formatEntry({
        name: 'retention.ms',
        value: '1000',
        source: 'DYNAMIC_TOPIC_CONFIG',
        isDefault: false,
        isSensitive: false,
        readOnly: false,
        synonyms: [
          { name: 'retention.ms', value: '1000', source: 'DYNAMIC_TOPIC_CONFIG' },
          { name: 'log.retention.hours', value: '168', source: 'DEFAULT_CONFIG' },
        ],
        configType: 5,
        documentation: null,
      }),
    ).toBe('retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}');
  });
});
