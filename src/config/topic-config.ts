/**
 * The topic config table (Kafka's LogConfig / TopicConfig) with Kafka's defaults, and which broker
 * config supplies each default (segment.bytes ← log.segment.bytes, ...). A topic's effective
 * config is: its override (from /config/topics/<topic>) if any, else the broker's value, else the
 * default; resolveTopicConfig() gives each value with its source, as DescribeConfigs reports it.
 */
import type { BrokerConfig } from './broker-config.js';
import { BROKER_CONFIG_DEF_MAP, CLEANUP_POLICIES, COMPRESSION_TYPES, TIMESTAMP_TYPES } from './broker-config.js';
import {
  type ConfigDef,
  type ConfigSource,
  type ConfigType,
  type ConfigValue,
  type Validator,
  ConfigError,
  JAVA_LONG_MAX,
  atLeast,
  between,
  camelCase,
  configDefMap,
  formatValue,
  inStrings,
  parseValue,
  validList,
} from './config-def.js';

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

export interface TopicConfigDef extends ConfigDef {
  /**
   * Broker configs that supply this config's default, highest precedence first
   * (Kafka's LogConfig.TopicConfigSynonyms plus the broker's own synonyms). Empty: none.
   */
  brokerSynonyms: readonly string[];
  /** The broker's effective value for this config (after the broker's own precedence rules). */
  brokerValue?: (broker: BrokerConfig) => ConfigValue;
}

function t(
  name: string,
  type: ConfigType,
  dflt: ConfigValue,
  brokerSynonyms: readonly string[],
  doc: string,
  validator?: Validator,
  brokerValue?: (broker: BrokerConfig) => ConfigValue,
): TopicConfigDef {
  const def: TopicConfigDef = { name, type, default: dflt, doc, importance: 'medium', brokerSynonyms };
  if (validator) def.validator = validator;
  if (brokerValue) def.brokerValue = brokerValue;
  return def;
}

export const TOPIC_CONFIG_DEFS: readonly TopicConfigDef[] = [
  t('cleanup.policy', 'list', ['delete'], ['log.cleanup.policy'], 'delete (by time/size), compact (latest value per key), or both.', validList(...CLEANUP_POLICIES)),
  t('compression.type', 'string', 'producer', ['compression.type'], "Final compression of the topic's data; producer keeps the producer's codec.", inStrings(...COMPRESSION_TYPES)),
  t('delete.retention.ms', 'long', 86400000, ['log.cleaner.delete.retention.ms'], 'How long tombstones are kept in a compacted topic.', atLeast(0)),
  t('file.delete.delay.ms', 'long', 60000, ['log.segment.delete.delay.ms'], 'Delay before a deleted segment file is removed.', atLeast(0)),
  t('flush.messages', 'long', JAVA_LONG_MAX, ['log.flush.interval.messages'], 'fsync after this many messages.', atLeast(1)),
  t('flush.ms', 'long', JAVA_LONG_MAX, ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'], 'fsync after this much time.', atLeast(0), (b) => b.logFlushIntervalMs),
  t('follower.replication.throttled.replicas', 'list', [], [], 'Replicas throttled on the follower side (accepted; kfk does not throttle).'),
  t('index.interval.bytes', 'int', 4096, ['log.index.interval.bytes'], 'Bytes of log between offset index entries.', atLeast(0)),
  t('leader.replication.throttled.replicas', 'list', [], [], 'Replicas throttled on the leader side (accepted; kfk does not throttle).'),
  t('max.compaction.lag.ms', 'long', JAVA_LONG_MAX, ['log.cleaner.max.compaction.lag.ms'], 'Maximum time a message stays ineligible for compaction.', atLeast(1)),
  t('max.message.bytes', 'int', 1048588, ['message.max.bytes'], 'Largest record batch size allowed.', atLeast(0)),
  t('message.downconversion.enable', 'boolean', true, ['log.message.downconversion.enable'], 'Down-convert batches for old consumers.'),
  t('message.format.version', 'string', '3.0-IV1', ['log.message.format.version'], 'Accepted for compatibility; kfk always writes record batch v2.'),
  t('message.timestamp.after.max.ms', 'long', JAVA_LONG_MAX, ['log.message.timestamp.after.max.ms'], 'How far in the future a CreateTime timestamp may be.', atLeast(0)),
  t('message.timestamp.before.max.ms', 'long', JAVA_LONG_MAX, ['log.message.timestamp.before.max.ms'], 'How far in the past a CreateTime timestamp may be.', atLeast(0)),
  t('message.timestamp.difference.max.ms', 'long', JAVA_LONG_MAX, ['log.message.timestamp.difference.max.ms'], 'Maximum difference between a CreateTime timestamp and the broker time.', atLeast(0)),
  t('message.timestamp.type', 'string', 'CreateTime', ['log.message.timestamp.type'], 'CreateTime or LogAppendTime.', inStrings(...TIMESTAMP_TYPES)),
  t('min.cleanable.dirty.ratio', 'double', 0.5, ['log.cleaner.min.cleanable.ratio'], 'Minimum dirty ratio before the log is compacted.', between(0, 1)),
  t('min.compaction.lag.ms', 'long', 0, ['log.cleaner.min.compaction.lag.ms'], 'Minimum time a message stays uncompacted.', atLeast(0)),
  t('min.insync.replicas', 'int', 1, ['min.insync.replicas'], 'Minimum ISR size for acks=all produce requests to succeed.', atLeast(1)),
  t('preallocate', 'boolean', false, ['log.preallocate'], 'Preallocate segment files.'),
  t('retention.bytes', 'long', -1, ['log.retention.bytes'], 'Maximum partition size before old segments are deleted; -1 means no limit.'),
  t('retention.ms', 'long', WEEK_MS, ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'], 'Delete segments older than this; -1 keeps them forever.', atLeast(-1), (b) => b.logRetentionMs),
  t('segment.bytes', 'int', 1073741824, ['log.segment.bytes'], 'Maximum size of a segment file.', atLeast(14)),
  t('segment.index.bytes', 'int', 10485760, ['log.index.size.max.bytes'], 'Maximum size of an index file.', atLeast(4)),
  t('segment.jitter.ms', 'long', 0, ['log.roll.jitter.ms', 'log.roll.jitter.hours'], 'Maximum random jitter subtracted from segment.ms.', atLeast(0), (b) => b.logRollJitterMs),
  t('segment.ms', 'long', WEEK_MS, ['log.roll.ms', 'log.roll.hours'], 'Roll a new segment after this time.', atLeast(1), (b) => b.logRollMs),
  t('unclean.leader.election.enable', 'boolean', false, ['unclean.leader.election.enable'], 'Elect an out-of-sync replica when no ISR member is alive (may lose data).'),
];

export const TOPIC_CONFIG_DEF_MAP: ReadonlyMap<string, TopicConfigDef> = configDefMap(TOPIC_CONFIG_DEFS) as Map<
  string,
  TopicConfigDef
>;

/** Typed topic config (camelCase of the Kafka names). */
export interface TopicConfig {
  cleanupPolicy: string[];
  compressionType: string;
  deleteRetentionMs: number;
  fileDeleteDelayMs: number;
  flushMessages: number;
  flushMs: number;
  followerReplicationThrottledReplicas: string[];
  indexIntervalBytes: number;
  leaderReplicationThrottledReplicas: string[];
  maxCompactionLagMs: number;
  maxMessageBytes: number;
  messageDownconversionEnable: boolean;
  messageFormatVersion: string;
  messageTimestampAfterMaxMs: number;
  messageTimestampBeforeMaxMs: number;
  messageTimestampDifferenceMaxMs: number;
  messageTimestampType: 'CreateTime' | 'LogAppendTime';
  minCleanableDirtyRatio: number;
  minCompactionLagMs: number;
  minInsyncReplicas: number;
  preallocate: boolean;
  retentionBytes: number;
  retentionMs: number;
  segmentBytes: number;
  segmentIndexBytes: number;
  segmentJitterMs: number;
  segmentMs: number;
  uncleanLeaderElectionEnable: boolean;
}

export type TopicConfigSource = Extract<ConfigSource, 'DEFAULT_CONFIG' | 'STATIC_BROKER_CONFIG' | 'DYNAMIC_TOPIC_CONFIG'>;

export interface ConfigSynonym {
  name: string;
  value: string | null;
  source: TopicConfigSource;
}

export interface TopicConfigEntry {
  name: string;
  type: ConfigType;
  value: ConfigValue;
  /** The value as DescribeConfigs reports it (lists comma-joined, Long.MAX exact). */
  valueString: string | null;
  source: TopicConfigSource;
  /** True when the value is not overridden for the topic (DescribeConfigs v0 is_default). */
  isDefault: boolean;
  readOnly: false;
  sensitive: false;
  /** Where else a value is set, highest precedence first (DescribeConfigs include_synonyms). */
  synonyms: ConfigSynonym[];
  doc: string;
}

export interface ResolvedTopicConfig {
  config: TopicConfig;
  /** One entry per topic config, sorted by name. */
  entries: TopicConfigEntry[];
  /** The validated overrides (converted). */
  overrides: Record<string, ConfigValue>;
}

export function isTopicConfigName(name: string): boolean {
  return TOPIC_CONFIG_DEF_MAP.has(name);
}

/** Kafka's check that min.compaction.lag.ms <= max.compaction.lag.ms. */
function checkCompactionLag(min: number, max: number): void {
  if (min > max) {
    throw new ConfigError(
      `conflict topic config setting min.compaction.lag.ms (${min}) > max.compaction.lag.ms (${formatValue({ type: 'long' }, max)})`,
      'min.compaction.lag.ms',
      min,
    );
  }
}

/**
 * Validate topic config overrides (CreateTopics configs, AlterConfigs, /config/topics data):
 * unknown names are errors ("Unknown topic config name: x"), bad values too. Returns the
 * converted values. With `broker`, cross-checks against the broker's defaults as Kafka does.
 */
export function validateTopicConfig(overrides: Record<string, string>, broker?: BrokerConfig): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  for (const [name, raw] of Object.entries(overrides)) {
    const def = TOPIC_CONFIG_DEF_MAP.get(name);
    if (!def) throw new ConfigError(`Unknown topic config name: ${name}`, name, raw);
    if (raw === null || raw === undefined) throw ConfigError.invalid(name, raw, 'Value must be non-null');
    out[name] = parseValue(def, String(raw));
  }
  const effective = (name: string): number => {
    if (name in out) return out[name] as number;
    const def = TOPIC_CONFIG_DEF_MAP.get(name)!;
    return (broker ? brokerSuppliedValue(def, broker) : def.default) as number;
  };
  checkCompactionLag(effective('min.compaction.lag.ms'), effective('max.compaction.lag.ms'));
  return out;
}

function brokerSuppliedValue(def: TopicConfigDef, broker: BrokerConfig): ConfigValue {
  if (def.brokerValue) return def.brokerValue(broker);
  const syn = def.brokerSynonyms[0];
  if (syn !== undefined && syn in broker.values) return broker.values[syn]!;
  return def.default as ConfigValue;
}

/**
 * The effective config of a topic: each value with its source (DYNAMIC_TOPIC_CONFIG for an
 * override, STATIC_BROKER_CONFIG when a broker synonym was set in server.properties or
 * --override, DEFAULT_CONFIG otherwise). Throws ConfigError for invalid overrides.
 */
export function resolveTopicConfig(broker: BrokerConfig, overrides: Record<string, string> = {}): ResolvedTopicConfig {
  const parsed = validateTopicConfig(overrides, broker);
  const entries: TopicConfigEntry[] = [];
  const config: Record<string, ConfigValue> = {};
  for (const def of [...TOPIC_CONFIG_DEFS].sort((a, b) => a.name.localeCompare(b.name))) {
    const synonyms: ConfigSynonym[] = [];
    const overridden = def.name in parsed;
    if (overridden) synonyms.push({ name: def.name, value: formatValue(def, parsed[def.name]!), source: 'DYNAMIC_TOPIC_CONFIG' });
    for (const syn of def.brokerSynonyms) {
      if (broker.explicit.has(syn)) {
        const bdef = BROKER_CONFIG_DEF_MAP.get(syn)!;
        synonyms.push({ name: syn, value: formatValue(bdef, broker.values[syn]!), source: 'STATIC_BROKER_CONFIG' });
      }
    }
    for (const syn of def.brokerSynonyms) {
      const bdef = BROKER_CONFIG_DEF_MAP.get(syn)!;
      const dflt = bdef.default;
      if (dflt !== null && typeof dflt !== 'symbol') synonyms.push({ name: syn, value: formatValue(bdef, dflt), source: 'DEFAULT_CONFIG' });
    }

    let value: ConfigValue;
    let source: TopicConfigSource;
    if (overridden) {
      value = parsed[def.name]!;
      source = 'DYNAMIC_TOPIC_CONFIG';
    } else {
      value = brokerSuppliedValue(def, broker);
      source = def.brokerSynonyms.some((s) => broker.explicit.has(s)) ? 'STATIC_BROKER_CONFIG' : 'DEFAULT_CONFIG';
    }
    config[camelCase(def.name)] = value;
    entries.push({
      name: def.name,
      type: def.type,
      value,
      valueString: formatValue(def, value),
      source,
      isDefault: !overridden,
      readOnly: false,
      sensitive: false,
      synonyms,
      doc: def.doc,
    });
  }
  return { config: config as unknown as TopicConfig, entries, overrides: parsed };
}

/** Only the topic's overrides, as `k=v` strings sorted by name (kfk topics --describe "Configs:"). */
export function formatTopicOverrides(overrides: Record<string, string>): string {
  return Object.keys(overrides)
    .sort()
    .map((k) => `${k}=${overrides[k]}`)
    .join(',');
}
