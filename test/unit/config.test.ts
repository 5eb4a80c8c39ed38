import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  BROKER_CONFIG_DEFS,
  brokerConfigFromProperties,
  brokerConfigSource,
  formatListeners,
  loadBrokerConfig,
  parseListeners,
  parseOverride,
} from '../../src/config/broker-config.js';
import {
  ConfigError,
  JAVA_LONG_MAX,
  NO_DEFAULT,
  Password,
  atLeast,
  camelCase,
  convertValue,
  formatValue,
  javaDoubleString,
  parseConfig,
  type ConfigDef,
} from '../../src/config/config-def.js';
import { formatProperties, parseProperties, readPropertiesFileSync } from '../../src/config/properties.js';
import { TOPIC_CONFIG_DEFS, resolveTopicConfig, validateTopicConfig } from '../../src/config/topic-config.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/tmp.js';

afterAll(async () => {
  await cleanupTempDirs();
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('Java .properties parser', () => {
  it('handles separators, comments and whitespace as Java does', () => {
    const p = parseProperties(
      [
        '# comment',
        '! also a comment',
        '   # indented comment',
        '',
        '   ',
        'a=1',
        'b = 2',
        'c:3',
        'd : 4',
        'e 5',
        'f\t\t6',
        '   g=7',
        'h =  trailing   ',
        'empty=',
        'novalue',
        'k = = starts with equals',
        'l  :x:y',
        'a=override',
      ].join('\n'),
    );
    expect(p).toEqual({
      a: 'override',
      b: '2',
      c: '3',
      d: '4',
      e: '5',
      f: '6',
      g: '7',
      h: 'trailing   ',
      empty: '',
      novalue: '',
      k: '= starts with equals',
      l: 'x:y',
    });
  });

  it('joins continuation lines and handles escapes', () => {
    const text =
      'listeners=PLAINTEXT://a:9092,\\\n' +
      '          SSL://b:9093\r\n' +
      'two\\\\=backslash\n' +
      'esc=tab\\there\\nnl\\u0041\\\\end\n' +
      'key\\ with\\ spaces=v\n' +
      'key\\=eq\\:colon=w\n' +
      '# comment ending in backslash \\\n' +
      'next=not part of the comment\n' +
      'odd=ends \\\\\\\n' +
      '  continued\n' +
      'cont=a\\\n' +
      '\n' +
      'after=x\r' +
      'last=no newline\\';
    expect(parseProperties(text)).toEqual({
      listeners: 'PLAINTEXT://a:9092,SSL://b:9093',
      'two\\': 'backslash',
      esc: 'tab\there\nnlA\\end',
      'key with spaces': 'v',
      'key=eq:colon': 'w',
      next: 'not part of the comment',
      odd: 'ends \\continued',
      cont: 'a',
      after: 'x',
      last: 'no newline',
    });
  });

  it('rejects a malformed \\u escape', () => {
    expect(() => parseProperties('x=\\u12')).toThrow(/Malformed \\uxxxx encoding/);
  });

  it('formats properties so that they parse back', () => {
    const props = { 'a b': 'x', 'c=d': ' lead and:#! é', n: 'line\nbreak', e: '' };
    const text = formatProperties(props, ['header']);
    expect(text.startsWith('#header\n')).toBe(true);
    expect(parseProperties(text)).toEqual(props);
  });

  it('reads the shipped config files', () => {
    const server = readPropertiesFileSync(path.join(REPO_ROOT, 'config/server.properties'));
    expect(server).toMatchObject({
      'broker.id': '0',
      listeners: 'PLAINTEXT://localhost:9092',
      'log.dirs': '/tmp/kafka-logs',
      'num.partitions': '1',
      'zookeeper.connect': 'localhost:2181',
      'zookeeper.connection.timeout.ms': '18000',
      'log.retention.hours': '168',
      'log.segment.bytes': '1073741824',
      'log.retention.check.interval.ms': '300000',
      'offsets.topic.replication.factor': '1',
      'group.initial.rebalance.delay.ms': '0',
    });
    const zk = readPropertiesFileSync(path.join(REPO_ROOT, 'config/zookeeper.properties'));
    expect(zk).toEqual({ dataDir: '/tmp/zookeeper', clientPort: '2181', maxClientCnxns: '0', 'admin.enableServer': 'false' });
    // And the broker config accepts it.
    const cfg = loadBrokerConfig({ file: path.join(REPO_ROOT, 'config/server.properties') });
    expect(cfg.zookeeperConnect).toBe('localhost:2181');
    expect(cfg.groupInitialRebalanceDelayMs).toBe(0);
    expect(cfg.offsetsTopicReplicationFactor).toBe(1);
  });
});

describe('ConfigDef conversion and validation (Kafka wording)', () => {
  const defs: ConfigDef[] = [
    { name: 'i', type: 'int', default: 1, doc: '', validator: atLeast(1) },
    { name: 'l', type: 'long', default: JAVA_LONG_MAX, doc: '' },
    { name: 's', type: 'short', default: 3, doc: '' },
    { name: 'd', type: 'double', default: 0.5, doc: '' },
    { name: 'b', type: 'boolean', default: true, doc: '' },
    { name: 'list', type: 'list', default: [], doc: '' },
    { name: 'str', type: 'string', default: null, doc: '' },
    { name: 'pw', type: 'password', default: null, doc: '' },
  ];

  it('converts values of every type', () => {
    const p = parseConfig(defs, {
      i: ' 42 ',
      l: '9223372036854775807',
      s: '-32768',
      d: '1e-3',
      b: 'TRUE',
      list: 'a, b ,c',
      str: '  x  ',
      pw: 'secret',
      other: 'kept',
    });
    expect(p.values).toMatchObject({ i: 42, l: JAVA_LONG_MAX, s: -32768, d: 0.001, b: true, list: ['a', 'b', 'c'], str: 'x' });
    expect(p.values.pw).toBeInstanceOf(Password);
    expect(String(p.values.pw)).toBe('[hidden]');
    expect((p.values.pw as Password).value).toBe('secret');
    expect(p.unknown).toEqual({ other: 'kept' });
    expect([...p.explicit].sort()).toEqual(['b', 'd', 'i', 'l', 'list', 'pw', 's', 'str']);
    expect(parseConfig(defs, {}).values).toMatchObject({ i: 1, str: null, list: [] });
    expect(convertValue({ name: 'list', type: 'list' }, '  ')).toEqual([]);
    expect(convertValue({ name: 'd', type: 'double' }, '2.5d')).toBe(2.5);
  });

  it('reports bad values as Kafka does', () => {
    expect(configError(() => parseConfig(defs, { i: 'abc' })).message).toBe(
      'Invalid value abc for configuration i: Not a number of type INT',
    );
    expect(configError(() => parseConfig(defs, { i: '2147483648' })).message).toBe(
      'Invalid value 2147483648 for configuration i: Not a number of type INT',
    );
    expect(configError(() => parseConfig(defs, { i: '0' })).message).toBe('Invalid value 0 for configuration i: Value must be at least 1');
    expect(configError(() => parseConfig(defs, { l: '9223372036854775808' })).message).toMatch(/Not a number of type LONG/);
    expect(configError(() => parseConfig(defs, { s: '40000' })).message).toMatch(/Not a number of type SHORT/);
    expect(configError(() => parseConfig(defs, { d: 'x1' })).message).toMatch(/Not a number of type DOUBLE/);
    expect(configError(() => parseConfig(defs, { b: 'yes' })).message).toBe(
      'Invalid value yes for configuration b: Expected value to be either true or false',
    );
    const e = configError(() => parseConfig(defs, { zzz: '1' }, { strictUnknown: true }));
    expect(e.message).toBe('Unknown configuration zzz');
    expect(e.key).toBe('zzz');
    expect(
      configError(() => parseConfig([{ name: 'req', type: 'string', default: NO_DEFAULT, doc: '' }], {})).message,
    ).toBe('Missing required configuration "req" which has no default value.');
  });

  it('formats values as Kafka prints them', () => {
    expect(formatValue({ type: 'long' }, JAVA_LONG_MAX)).toBe('9223372036854775807');
    expect(formatValue({ type: 'long' }, Number('9223372036854775807'))).toBe('9223372036854775807');
    expect(formatValue({ type: 'list' }, ['compact', 'delete'])).toBe('compact,delete');
    expect(formatValue({ type: 'double' }, 0.5)).toBe('0.5');
    expect(formatValue({ type: 'double' }, 1)).toBe('1.0');
    expect(formatValue({ type: 'int' }, null)).toBeNull();
    expect(javaDoubleString(1e10)).toBe('1.0E10');
    expect(javaDoubleString(1.5e-5)).toBe('1.5E-5');
    expect(camelCase('log.retention.ms')).toBe('logRetentionMs');
  });
});

describe('broker config', () => {
  it('runs without a file on kfk defaults (Kafka defaults elsewhere)', () => {
    const c = loadBrokerConfig({ overrides: {} });
    expect(c.brokerId).toBe(0);
    expect(c.listeners).toEqual([{ name: 'PLAINTEXT', host: 'localhost', port: 9092, securityProtocol: 'PLAINTEXT' }]);
    expect(c.advertisedListeners).toEqual(c.listeners);
    expect(c.interBrokerListenerName).toBe('PLAINTEXT');
    expect(c.logDirs).toEqual(['./kfk-data']);
    expect(c.zookeeperConnect).toBeNull();
    expect(c.zookeeperSessionTimeoutMs).toBe(18000);
    expect(c.zookeeperConnectionTimeoutMs).toBe(18000);
    expect(c.numPartitions).toBe(1);
    expect(c.defaultReplicationFactor).toBe(1);
    expect(c.autoCreateTopicsEnable).toBe(true);
    expect(c.deleteTopicEnable).toBe(true);
    expect(c.messageMaxBytes).toBe(1048588);
    expect(c.socketRequestMaxBytes).toBe(104857600);
    expect(c.logSegmentBytes).toBe(1073741824);
    expect(c.logRollMs).toBe(168 * 3600_000);
    expect(c.logRetentionMs).toBe(168 * 3600_000);
    expect(c.logRetentionBytes).toBe(-1);
    expect(c.logRetentionCheckIntervalMs).toBe(300000);
    expect(c.logIndexIntervalBytes).toBe(4096);
    expect(c.logIndexSizeMaxBytes).toBe(10485760);
    expect(c.logFlushIntervalMessages).toBe(JAVA_LONG_MAX);
    expect(c.logFlushIntervalMs).toBe(JAVA_LONG_MAX);
    expect(c.minInsyncReplicas).toBe(1);
    expect(c.uncleanLeaderElectionEnable).toBe(false);
    expect(c.offsetsTopicNumPartitions).toBe(50);
    expect(c.offsetsTopicReplicationFactor).toBe(3);
    expect(c.groupInitialRebalanceDelayMs).toBe(3000);
    expect(c.numNetworkThreads).toBe(3);
    expect(c.numIoThreads).toBe(8);
    expect(c.controlledShutdownEnable).toBe(true);
    expect(c.brokerRack).toBeNull();
    expect(c.clusterId).toBeNull();
    expect(c.explicit.size).toBe(0);
    expect(brokerConfigSource(c, 'num.partitions')).toBe('DEFAULT_CONFIG');
  });

  it('every default passes its own validator', () => {
    for (const def of BROKER_CONFIG_DEFS) {
      if (def.default !== NO_DEFAULT && def.default !== null) expect(() => def.validator?.validate(def.name, def.default as never)).not.toThrow();
    }
    for (const def of TOPIC_CONFIG_DEFS) {
      if (def.default !== NO_DEFAULT && def.default !== null) expect(() => def.validator?.validate(def.name, def.default as never)).not.toThrow();
    }
  });

  it('overrides win over the file; unknown keys are kept, bad values fail', () => {
    const dir = makeTempDir('kfk-test-config-');
    const file = path.join(dir, 'server.properties');
    fs.writeFileSync(file, 'broker.id=1\nnum.partitions=3\nlog.dirs=/a, /b ,\nsome.plugin.setting=x\n');
    const c = loadBrokerConfig({ file, overrides: { 'num.partitions': '5', 'broker.rack': 'r1' } });
    expect(c.brokerId).toBe(1);
    expect(c.numPartitions).toBe(5);
    expect(c.logDirs).toEqual(['/a', '/b']);
    expect(c.brokerRack).toBe('r1');
    expect(c.unknown).toEqual({ 'some.plugin.setting': 'x' });
    expect(c.originals['num.partitions']).toBe('5');
    expect(brokerConfigSource(c, 'num.partitions')).toBe('STATIC_BROKER_CONFIG');

    expect(configError(() => loadBrokerConfig({ overrides: { 'num.partitions': 'abc' } })).message).toBe(
      'Invalid value abc for configuration num.partitions: Not a number of type INT',
    );
    expect(configError(() => loadBrokerConfig({ overrides: { 'num.partitions': '0' } })).message).toBe(
      'Invalid value 0 for configuration num.partitions: Value must be at least 1',
    );
    expect(configError(() => loadBrokerConfig({ overrides: { 'auto.create.topics.enable': 'maybe' } })).message).toBe(
      'Invalid value maybe for configuration auto.create.topics.enable: Expected value to be either true or false',
    );
    expect(configError(() => loadBrokerConfig({ file: path.join(dir, 'missing.properties') })).message).toMatch(
      /Cannot read config file .*missing\.properties: no such file/,
    );
    expect(parseOverride('log.dirs=/x=y')).toEqual(['log.dirs', '/x=y']);
    expect(() => parseOverride('nokey')).toThrow(ConfigError);
  });

  it("applies Kafka's precedence for retention, roll and log dirs", () => {
    const b = (raw: Record<string, string>) => brokerConfigFromProperties(raw);
    expect(b({ 'log.retention.hours': '1' }).logRetentionMs).toBe(3600_000);
    expect(b({ 'log.retention.hours': '1', 'log.retention.minutes': '2' }).logRetentionMs).toBe(120_000);
    expect(b({ 'log.retention.hours': '1', 'log.retention.minutes': '2', 'log.retention.ms': '5' }).logRetentionMs).toBe(5);
    expect(b({ 'log.retention.ms': '-5' }).logRetentionMs).toBe(-1);
    expect(b({ 'log.retention.hours': '-1' }).logRetentionMs).toBe(-1);
    expect(b({ 'log.roll.hours': '2' }).logRollMs).toBe(7200_000);
    expect(b({ 'log.roll.hours': '2', 'log.roll.ms': '1000' }).logRollMs).toBe(1000);
    expect(b({ 'log.roll.jitter.hours': '1' }).logRollJitterMs).toBe(3600_000);
    expect(b({ 'log.flush.scheduler.interval.ms': '3000' }).logFlushIntervalMs).toBe(3000);
    expect(b({ 'log.flush.interval.ms': '10', 'log.flush.scheduler.interval.ms': '3000' }).logFlushIntervalMs).toBe(10);
    expect(b({ 'log.dir': '/one' }).logDirs).toEqual(['/one']);
    expect(b({ 'log.dir': '/one', 'log.dirs': '/two,/three' }).logDirs).toEqual(['/two', '/three']);
    expect(configError(() => b({ 'log.dirs': ' , ' })).message).toMatch(/At least one log directory/);
    expect(brokerConfigSource(b({ 'log.retention.hours': '1' }), 'log.retention.ms')).toBe('STATIC_BROKER_CONFIG');
  });

  it('parses listeners', () => {
    const map = { PLAINTEXT: 'PLAINTEXT', SSL: 'SSL', INTERNAL: 'SASL_PLAINTEXT' } as const;
    expect(parseListeners('PLAINTEXT://:9092', map)).toEqual([{ name: 'PLAINTEXT', host: '', port: 9092, securityProtocol: 'PLAINTEXT' }]);
    expect(parseListeners('plaintext://0.0.0.0:9092 , INTERNAL://[::1]:9093,SSL://h.example:9094', map)).toEqual([
      { name: 'PLAINTEXT', host: '0.0.0.0', port: 9092, securityProtocol: 'PLAINTEXT' },
      { name: 'INTERNAL', host: '::1', port: 9093, securityProtocol: 'SASL_PLAINTEXT' },
      { name: 'SSL', host: 'h.example', port: 9094, securityProtocol: 'SSL' },
    ]);
    expect(formatListeners(parseListeners('PLAINTEXT://:9092,INTERNAL://[::1]:9093', map))).toBe('PLAINTEXT://:9092,INTERNAL://[::1]:9093');
    expect(configError(() => parseListeners('localhost:9092', map)).message).toBe(
      'Invalid value localhost:9092 for configuration listeners: Unable to parse localhost:9092 to a broker endpoint',
    );
    expect(configError(() => parseListeners('FOO://:1', map)).message).toMatch(/No security protocol defined for listener FOO/);
    expect(configError(() => parseListeners('PLAINTEXT://:1,PLAINTEXT://:2', map)).message).toMatch(/different name/);

    const c = brokerConfigFromProperties({
      listeners: 'INTERNAL://:9093,EXTERNAL://:9092',
      'advertised.listeners': 'INTERNAL://broker1:9093,EXTERNAL://public.example:9092',
      'listener.security.protocol.map': 'INTERNAL:PLAINTEXT,EXTERNAL:SSL',
      'inter.broker.listener.name': 'internal',
    });
    expect(c.listeners.map((l) => `${l.name}/${l.securityProtocol}/${l.host}:${l.port}`)).toEqual([
      'INTERNAL/PLAINTEXT/:9093',
      'EXTERNAL/SSL/:9092',
    ]);
    expect(c.advertisedListeners[1]).toEqual({ name: 'EXTERNAL', host: 'public.example', port: 9092, securityProtocol: 'SSL' });
    expect(c.interBrokerListenerName).toBe('INTERNAL');
    expect(c.interBrokerSecurityProtocol).toBe('PLAINTEXT');

    expect(configError(() => brokerConfigFromProperties({ listeners: 'SSL://:9093' })).message).toMatch(
      /inter.broker.listener.name must be a listener name defined in advertised.listeners/,
    );
    expect(configError(() => brokerConfigFromProperties({ 'advertised.listeners': 'PLAINTEXT://0.0.0.0:9092' })).message).toMatch(
      /nonroutable meta-address 0.0.0.0/,
    );
    expect(configError(() => brokerConfigFromProperties({ listeners: 'PLAINTEXT://:9092,SSL://:9092', 'security.inter.broker.protocol': 'PLAINTEXT' })).message).toMatch(
      /different port/,
    );
    // Kafka < 3.0 style port/host.name.
    const old = brokerConfigFromProperties({ port: '9095', 'host.name': 'h', 'advertised.host.name': 'pub' });
    expect(old.listeners).toEqual([{ name: 'PLAINTEXT', host: 'h', port: 9095, securityProtocol: 'PLAINTEXT' }]);
    expect(old.advertisedListeners).toEqual([{ name: 'PLAINTEXT', host: 'pub', port: 9095, securityProtocol: 'PLAINTEXT' }]);
  });

  it('validates broker.id', () => {
    expect(brokerConfigFromProperties({ 'broker.id': '-1' }).brokerId).toBe(-1);
    expect(configError(() => brokerConfigFromProperties({ 'broker.id': '1001' })).message).toMatch(/reserved.broker.max.id/);
    expect(configError(() => brokerConfigFromProperties({ 'broker.id': '-2' })).key).toBe('broker.id');
  });
});

describe('topic config', () => {
  const names = TOPIC_CONFIG_DEFS.map((d) => d.name);

  it('has the topic configs with Kafka defaults when nothing is set', () => {
    for (const n of [
      'cleanup.policy',
      'compression.type',
      'delete.retention.ms',
      'file.delete.delay.ms',
      'flush.messages',
      'flush.ms',
      'index.interval.bytes',
      'max.message.bytes',
      'message.timestamp.type',
      'min.cleanable.dirty.ratio',
      'min.compaction.lag.ms',
      'min.insync.replicas',
      'retention.bytes',
      'retention.ms',
      'segment.bytes',
      'segment.index.bytes',
      'segment.jitter.ms',
      'segment.ms',
      'unclean.leader.election.enable',
      'message.timestamp.difference.max.ms',
    ]) {
      expect(names).toContain(n);
    }
    const r = resolveTopicConfig(loadBrokerConfig({}));
    expect(r.config).toMatchObject({
      cleanupPolicy: ['delete'],
      compressionType: 'producer',
      deleteRetentionMs: 86400000,
      fileDeleteDelayMs: 60000,
      flushMessages: JAVA_LONG_MAX,
      flushMs: JAVA_LONG_MAX,
      indexIntervalBytes: 4096,
      maxMessageBytes: 1048588,
      messageTimestampType: 'CreateTime',
      minCleanableDirtyRatio: 0.5,
      minCompactionLagMs: 0,
      minInsyncReplicas: 1,
      retentionBytes: -1,
      retentionMs: 604800000,
      segmentBytes: 1073741824,
      segmentIndexBytes: 10485760,
      segmentJitterMs: 0,
      segmentMs: 604800000,
      uncleanLeaderElectionEnable: false,
    });
    expect(r.entries.map((e) => e.name)).toEqual([...names].sort());
    expect(r.entries.every((e) => e.source === 'DEFAULT_CONFIG' && e.isDefault)).toBe(true);
    const flush = r.entries.find((e) => e.name === 'flush.ms')!;
    expect(flush.valueString).toBe('9223372036854775807');
    const retention = r.entries.find((e) => e.name === 'retention.ms')!;
    expect(retention.synonyms).toEqual([{ name: 'log.retention.hours', value: '168', source: 'DEFAULT_CONFIG' }]);
  });

  it('takes defaults from the broker config and reports sources', () => {
    const broker = brokerConfigFromProperties({
      'log.segment.bytes': '1048576',
      'log.retention.hours': '1',
      'log.cleanup.policy': 'compact',
      'min.insync.replicas': '2',
    });
    const r = resolveTopicConfig(broker, { 'retention.ms': '1000', 'cleanup.policy': 'compact,delete' });
    const byName = new Map(r.entries.map((e) => [e.name, e]));
    expect(byName.get('segment.bytes')).toMatchObject({ value: 1048576, valueString: '1048576', source: 'STATIC_BROKER_CONFIG', isDefault: true });
    expect(byName.get('min.insync.replicas')).toMatchObject({ value: 2, source: 'STATIC_BROKER_CONFIG' });
    expect(byName.get('retention.ms')).toMatchObject({ value: 1000, valueString: '1000', source: 'DYNAMIC_TOPIC_CONFIG', isDefault: false });
    expect(byName.get('retention.ms')!.synonyms).toEqual([
      { name: 'retention.ms', value: '1000', source: 'DYNAMIC_TOPIC_CONFIG' },
      { name: 'log.retention.hours', value: '1', source: 'STATIC_BROKER_CONFIG' },
      { name: 'log.retention.hours', value: '168', source: 'DEFAULT_CONFIG' },
    ]);
    expect(byName.get('cleanup.policy')).toMatchObject({ valueString: 'compact,delete', source: 'DYNAMIC_TOPIC_CONFIG' });
    expect(byName.get('compression.type')).toMatchObject({ value: 'producer', source: 'DEFAULT_CONFIG' });
    expect(r.config.segmentBytes).toBe(1048576);
    expect(r.config.retentionMs).toBe(1000);
    expect(r.config.cleanupPolicy).toEqual(['compact', 'delete']);

    // Broker-level derived values: log.retention.hours=1 → retention.ms 3600000.
    expect(resolveTopicConfig(broker).config.retentionMs).toBe(3600000);
    expect(resolveTopicConfig(brokerConfigFromProperties({ 'log.roll.ms': '123' })).entries.find((e) => e.name === 'segment.ms')).toMatchObject({
      value: 123,
      source: 'STATIC_BROKER_CONFIG',
    });
  });

  it('rejects unknown names and bad values', () => {
    expect(configError(() => validateTopicConfig({ 'retention.msx': '1' })).message).toBe('Unknown topic config name: retention.msx');
    expect(configError(() => validateTopicConfig({ 'retention.ms': 'abc' })).message).toBe(
      'Invalid value abc for configuration retention.ms: Not a number of type LONG',
    );
    expect(configError(() => validateTopicConfig({ 'retention.ms': '-2' })).message).toBe(
      'Invalid value -2 for configuration retention.ms: Value must be at least -1',
    );
    expect(configError(() => validateTopicConfig({ 'cleanup.policy': 'compact,shrink' })).message).toBe(
      'Invalid value shrink for configuration cleanup.policy: String must be one of: compact, delete',
    );
    expect(configError(() => validateTopicConfig({ 'compression.type': 'brotli' })).message).toMatch(/String must be one of/);
    expect(configError(() => validateTopicConfig({ 'min.cleanable.dirty.ratio': '1.5' })).message).toBe(
      'Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1',
    );
    expect(configError(() => validateTopicConfig({ 'min.compaction.lag.ms': '10', 'max.compaction.lag.ms': '5' })).message).toBe(
      'conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)',
    );
    expect(validateTopicConfig({ 'segment.bytes': '1024', 'unclean.leader.election.enable': 'true' })).toEqual({
      'segment.bytes': 1024,
      'unclean.leader.election.enable': true,
    });
    expect(() => resolveTopicConfig(loadBrokerConfig({}), { bogus: '1' })).toThrow('Unknown topic config name: bogus');
  });
});
