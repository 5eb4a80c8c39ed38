/**
 * What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: config resources (topics and
 * brokers), reading a topic's overrides from the registry, and writing them back as Kafka does
 * (AdminZkClient.changeTopicConfig): the full override map to /config/topics/<topic> plus a sequential
 * /config/changes/config_change_ notification, in one multi-op. Brokers pick the change up through
 * their watch on /config/topics/<topic> and reconcile (level-triggered).
 */
import type { BrokerConfig } from '../../config/broker-config.js';
import { BROKER_CONFIG_DEFS, BROKER_CONFIG_SYNONYMS, brokerConfigFromProperties } from '../../config/broker-config.js';
import {
  CONFIG_SOURCE_IDS,
  CONFIG_TYPE_IDS,
  ConfigError,
  NO_DEFAULT,
  formatValue,
  type ConfigType,
} from '../../config/config-def.js';
import { resolveTopicConfig, validateTopicConfig, type ConfigSynonym } from '../../config/topic-config.js';
import type { MetadataCache } from '../../cluster/metadata-cache.js';
import { invalidTopicNameReason } from '../../cluster/topic-names.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { MultiOp, Registry } from '../../registry/registry.js';
import { isRegistryError } from '../../registry/registry.js';
import {
  configChangePrefix,
  configChangesPath,
  decodeTopicConfig,
  encodeConfigChangeNotification,
  encodeTopicConfig,
  topicConfigPath,
  topicPath,
} from '../../registry/paths.js';

/** ConfigResource.Type ids (the protocol's resource_type for config APIs). */
export const ConfigResourceType = {
  UNKNOWN: 0,
  TOPIC: 2,
  BROKER: 4,
  BROKER_LOGGER: 8,
} as const;

/** What the config handlers need of the broker. */
export interface ConfigServices {
  readonly brokerId: number;
  /** The broker's static config (server.properties and --override). */
  readonly brokerConfig: BrokerConfig;
  readonly registry: Registry;
  readonly metadata: MetadataCache;
  /** Re-reads one topic from the registry (so its local logs see a change before the response goes out). */
  reconcileTopic(topic: string): Promise<void>;
}

/** A per-resource failure, answered in that resource's error fields. */
/** Kafka refuses a request that names one config resource twice: returns the keys that repeat. */
export function repeatedResources(resources: readonly { resourceType: number; resourceName: string }[]): (r: { resourceType: number; resourceName: string }) => boolean {
  const seen = new Map<string, number>();
  const key = (r: { resourceType: number; resourceName: string }) => `${r.resourceType}\u0000${r.resourceName}`;
  for (const r of resources) seen.set(key(r), (seen.get(key(r)) ?? 0) + 1);
  return (r) => seen.get(key(r))! > 1;
}

export class ResourceError extends Error {
  constructor(
    readonly code: number,
    message: string | null,
  ) {
    super(message ?? '');
  }
  get errorMessage(): string | null {
    return this.message === '' ? null : this.message;
  }
}

export interface DescribedConfig {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  synonyms: Array<{ name: string; value: string | null; source: number }>;
  configType: number;
  documentation: string | null;
}

/** Checks the name and existence of a topic resource; throws ResourceError. */
export async function checkTopic(s: ConfigServices, topic: string): Promise<void> {
  const invalid = invalidTopicNameReason(topic);
  if (invalid) throw new ResourceError(ErrorCode.INVALID_TOPIC_EXCEPTION, invalid);
  if (!(await s.registry.exists(topicPath(topic)))) {
    throw new ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist.`);
  }
}

/** A topic's overrides as stored at /config/topics/<topic> (empty when there are none). */
export async function readTopicOverrides(registry: Registry, topic: string): Promise<Record<string, string>> {
  const node = await registry.get(topicConfigPath(topic));
  return node ? decodeTopicConfig(node.data) : {};
}

/**
 * Validates a topic's complete new override map (INVALID_CONFIG with Kafka's message on failure) and,
 * unless validateOnly, stores it with a change notification and lets this broker reconcile.
 */
export async function replaceTopicOverrides(
  s: ConfigServices,
  topic: string,
  overrides: Record<string, string>,
  validateOnly: boolean,
): Promise<void> {
  try {
    validateTopicConfig(overrides, s.brokerConfig);
  } catch (err) {
    if (err instanceof ConfigError) throw new ResourceError(ErrorCode.INVALID_CONFIG, err.message);
    throw err;
  }
  if (validateOnly) return;
  const { registry } = s;
  const data = encodeTopicConfig(overrides);
  const ops: MultiOp[] = [];
  if (await registry.exists(topicConfigPath(topic))) ops.push({ op: 'set', path: topicConfigPath(topic), data, version: -1 });
  else ops.push({ op: 'create', path: topicConfigPath(topic), data, mode: 'persistent' });
  ops.push({
    op: 'create',
    path: `${configChangesPath}/${configChangePrefix}`,
    data: encodeConfigChangeNotification('topics', topic),
    mode: 'persistent_sequential',
  });
  try {
    await registry.multi(ops);
  } catch (err) {
    // The topic's config node vanished or appeared in between (a concurrent delete or create).
    if (isRegistryError(err, 'NO_NODE') || isRegistryError(err, 'NODE_EXISTS')) {
      throw new ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic}' does not exist.`);
    }
    throw err;
  }
  // Housekeeping only: an old notification left behind is purged by the next config change (as Kafka's
  // ZkConfigChangeNotification purges expired ones); it must not fail the change that was just written.
  await purgeOldConfigChanges(registry).catch(() => undefined);
  await s.reconcileTopic(topic);
}

/** Kafka removes config change notifications older than 15 minutes; so does kfk, after each write. */
const CONFIG_CHANGE_EXPIRY_MS = 15 * 60 * 1000;

async function purgeOldConfigChanges(registry: Registry, now = Date.now()): Promise<void> {
  const children = (await registry.children(configChangesPath)) ?? [];
  for (const child of children) {
    if (!child.startsWith(configChangePrefix)) continue;
    const path = `${configChangesPath}/${child}`;
    const stat = await registry.exists(path);
    if (stat && now - stat.ctime > CONFIG_CHANGE_EXPIRY_MS) {
      // Gone or rewritten meanwhile (another broker purging): nothing left to do for this one.
      await registry.delete(path, stat.version).catch(() => undefined);
    }
  }
}

function synonymsOut(synonyms: readonly ConfigSynonym[]): DescribedConfig['synonyms'] {
  return synonyms.map((y) => ({ name: y.name, value: y.value, source: CONFIG_SOURCE_IDS[y.source] }));
}

/** Every topic config of `topic` with value, source, synonyms, type and doc (Kafka's ConfigHelper). */
export async function describeTopicConfigs(s: ConfigServices, topic: string): Promise<DescribedConfig[]> {
  await checkTopic(s, topic);
  const overrides = await readTopicOverrides(s.registry, topic);
  let resolved;
  try {
    resolved = resolveTopicConfig(s.brokerConfig, overrides);
  } catch {
    // Stored overrides that no longer validate (written by another tool): describe the valid ones.
    const valid: Record<string, string> = {};
    for (const [k, v] of Object.entries(overrides)) {
      try {
        validateTopicConfig({ [k]: v }, s.brokerConfig);
        valid[k] = v;
      } catch {
        /* skipped */
      }
    }
    resolved = resolveTopicConfig(s.brokerConfig, valid);
  }
  return resolved.entries.map((e) => ({
    name: e.name,
    value: e.valueString,
    readOnly: false,
    isDefault: e.isDefault,
    configSource: CONFIG_SOURCE_IDS[e.source],
    isSensitive: false,
    synonyms: synonymsOut(e.synonyms),
    configType: CONFIG_TYPE_IDS[e.type],
    documentation: e.doc,
  }));
}

/** Broker configs that KafkaConfig marks sensitive (passwords), whose values are never sent. */
function isSensitiveBrokerConfig(type: ConfigType): boolean {
  return type === 'password';
}

// ---- dynamic broker configs (/config/brokers/<id> and /config/brokers/<default>) -------------------------------

/**
 * The broker configs kfk can change while running: the broker-wide defaults of the log settings (Kafka's
 * DynamicLogConfig), applied to every log without a topic override of its own. Others are refused as Kafka refuses
 * a config that is not dynamically updatable.
 */
export const DYNAMIC_BROKER_CONFIGS: ReadonlySet<string> = new Set([
  'log.segment.bytes',
  'log.roll.ms',
  'log.roll.hours',
  'log.index.interval.bytes',
  'log.index.size.max.bytes',
  'message.max.bytes',
  'log.flush.interval.messages',
  'log.flush.interval.ms',
  'log.message.timestamp.type',
  'log.message.timestamp.before.max.ms',
  'log.message.timestamp.after.max.ms',
  'log.message.timestamp.difference.max.ms',
  'log.retention.ms',
  'log.retention.minutes',
  'log.retention.hours',
  'log.retention.bytes',
  'log.segment.delete.delay.ms',
  'log.cleanup.policy',
  'log.cleaner.min.cleanable.ratio',
  'log.cleaner.min.compaction.lag.ms',
  'log.cleaner.delete.retention.ms',
]);

export const BROKER_DEFAULT_ENTITY = '<default>';

/** The dynamic configs in the registry: the cluster-wide defaults and this broker's own. */
export interface DynamicBrokerConfigs {
  readonly defaults: Readonly<Record<string, string>>;
  readonly broker: Readonly<Record<string, string>>;
}

/** The znode name of a broker resource: "<default>" for "", else the broker id (any broker's: ZooKeeper mode). */
export function brokerEntityName(resourceName: string): string {
  if (resourceName === '') return BROKER_DEFAULT_ENTITY;
  if (!/^\d+$/.test(resourceName)) throw new ResourceError(ErrorCode.INVALID_REQUEST, `Invalid broker id ${resourceName}`);
  return String(Number(resourceName));
}

export async function readBrokerEntityConfig(registry: Registry, entity: string): Promise<Record<string, string>> {
  const node = await registry.get(`/config/brokers/${entity}`);
  if (!node) return {};
  try {
    return decodeTopicConfig(node.data);
  } catch {
    return {};
  }
}

export async function readDynamicBrokerConfigs(registry: Registry, brokerId: number): Promise<DynamicBrokerConfigs> {
  return { defaults: await readBrokerEntityConfig(registry, BROKER_DEFAULT_ENTITY), broker: await readBrokerEntityConfig(registry, String(brokerId)) };
}

/**
 * Validates a broker resource's complete new dynamic config and, unless validateOnly, writes it to
 * /config/brokers/<id|<default>> with a change notification (Kafka's AdminZkClient.changeBrokerConfig); every
 * broker applies it when it sees the notification.
 */
export async function replaceBrokerConfigs(s: ConfigServices, resourceName: string, configs: Record<string, string>, validateOnly: boolean): Promise<void> {
  const entity = brokerEntityName(resourceName);
  const resource = `ConfigResource(type=BROKER, name='${resourceName}')`;
  const fixed = Object.keys(configs).filter((k) => !DYNAMIC_BROKER_CONFIGS.has(k)).sort();
  if (fixed.length > 0) {
    throw new ResourceError(
      ErrorCode.INVALID_REQUEST,
      `Invalid config value for resource ${resource}: Cannot update these configs dynamically: Set(${fixed.join(', ')}) (kfk can change these at run time: ${[...DYNAMIC_BROKER_CONFIGS].join(', ')})`,
    );
  }
  try {
    brokerConfigFromProperties({ ...s.brokerConfig.originals, ...configs });
  } catch (err) {
    if (err instanceof ConfigError) throw new ResourceError(ErrorCode.INVALID_CONFIG, `Invalid config value for resource ${resource}: ${err.message}`);
    throw err;
  }
  if (validateOnly) return;
  const { writeEntityConfig } = await import('../../security/entity-configs.js');
  await writeEntityConfig(s.registry, `brokers/${entity}`, configs);
}

/** The configs of this broker (resource name = its id, or "" for the cluster-wide dynamic defaults). */
export function describeBrokerConfigs(s: ConfigServices, resourceName: string, dynamic: DynamicBrokerConfigs = { defaults: {}, broker: {} }): DescribedConfig[] {
  if (resourceName !== '' && resourceName !== String(s.brokerId)) {
    throw new ResourceError(
      ErrorCode.INVALID_REQUEST,
      `Unexpected broker id, expected ${s.brokerId} or empty string, but received ${resourceName}`,
    );
  }
  const cfg = s.brokerConfig;
  const defs = new Map(BROKER_CONFIG_DEFS.map((d) => [d.name, d]));
  // The cluster-wide default resource ("") holds only the dynamic defaults.
  if (resourceName === '') {
    return Object.keys(dynamic.defaults)
      .sort()
      .map((name) => {
        const def = defs.get(name);
        return {
          name,
          value: dynamic.defaults[name]!,
          readOnly: false,
          isDefault: false,
          configSource: CONFIG_SOURCE_IDS.DYNAMIC_DEFAULT_BROKER_CONFIG,
          isSensitive: false,
          synonyms: [{ name, value: dynamic.defaults[name]!, source: CONFIG_SOURCE_IDS.DYNAMIC_DEFAULT_BROKER_CONFIG }],
          configType: def ? CONFIG_TYPE_IDS[def.type] : 0,
          documentation: def?.doc ?? null,
        };
      });
  }
  const synonymGroup = new Map<string, readonly string[]>();
  for (const group of Object.values(BROKER_CONFIG_SYNONYMS)) for (const n of group) synonymGroup.set(n, group);
  const out: DescribedConfig[] = [];
  for (const def of [...BROKER_CONFIG_DEFS].sort((a, b) => a.name.localeCompare(b.name))) {
    const sensitive = isSensitiveBrokerConfig(def.type);
    const raw = cfg.values[def.name];
    const value = sensitive ? null : raw === undefined ? null : formatValue(def, raw);
    const explicit = cfg.explicit.has(def.name);
    const group = synonymGroup.get(def.name) ?? [def.name];
    const synonyms: DescribedConfig['synonyms'] = [];
    // the precedence of Kafka's DynamicBrokerConfig: this broker's dynamic config, the dynamic default, static, default
    for (const n of group) if (dynamic.broker[n] !== undefined) synonyms.push({ name: n, value: dynamic.broker[n]!, source: CONFIG_SOURCE_IDS.DYNAMIC_BROKER_CONFIG });
    for (const n of group) if (dynamic.defaults[n] !== undefined) synonyms.push({ name: n, value: dynamic.defaults[n]!, source: CONFIG_SOURCE_IDS.DYNAMIC_DEFAULT_BROKER_CONFIG });
    for (const n of group) {
      if (cfg.explicit.has(n)) {
        const d = defs.get(n)!;
        synonyms.push({ name: n, value: isSensitiveBrokerConfig(d.type) ? null : formatValue(d, cfg.values[n] ?? null), source: CONFIG_SOURCE_IDS.STATIC_BROKER_CONFIG });
      }
    }
    for (const n of group) {
      const d = defs.get(n)!;
      if (d.default !== NO_DEFAULT && d.default !== null) {
        synonyms.push({ name: n, value: isSensitiveBrokerConfig(d.type) ? null : formatValue(d, d.default), source: CONFIG_SOURCE_IDS.DEFAULT_CONFIG });
      }
    }
    const dyn = sensitive ? undefined : (dynamic.broker[def.name] ?? dynamic.defaults[def.name]);
    out.push({
      name: def.name,
      value: dyn ?? value,
      // only the dynamic log defaults change at run time (DYNAMIC_BROKER_CONFIGS)
      readOnly: !DYNAMIC_BROKER_CONFIGS.has(def.name),
      isDefault: !explicit && dyn === undefined,
      configSource:
        dynamic.broker[def.name] !== undefined
          ? CONFIG_SOURCE_IDS.DYNAMIC_BROKER_CONFIG
          : dynamic.defaults[def.name] !== undefined
            ? CONFIG_SOURCE_IDS.DYNAMIC_DEFAULT_BROKER_CONFIG
            : explicit
              ? CONFIG_SOURCE_IDS.STATIC_BROKER_CONFIG
              : CONFIG_SOURCE_IDS.DEFAULT_CONFIG,
      isSensitive: sensitive,
      synonyms,
      configType: CONFIG_TYPE_IDS[def.type],
      documentation: def.doc,
    });
  }
  return out;
}


export function resourceErrorOf(err: unknown): ResourceError {
  if (err instanceof ResourceError) return err;
  if (err instanceof ConfigError) return new ResourceError(ErrorCode.INVALID_CONFIG, err.message);
  return new ResourceError(ErrorCode.UNKNOWN_SERVER_ERROR, (err as Error)?.message ?? String(err));
}

/**
 * The config services of a broker. Without a BrokerConfig (tests that build a Broker by hand), the
 * broker is described as running on Kafka's defaults.
 */
export function brokerConfigServices(
  o: { brokerId: number; registry: Registry; brokerConfig?: BrokerConfig },
  metadata: MetadataCache,
  reconcileTopic: (topic: string) => Promise<void>,
): ConfigServices {
  let cfg = o.brokerConfig;
  return {
    brokerId: o.brokerId,
    get brokerConfig() {
      cfg ??= brokerConfigFromProperties({ 'broker.id': String(o.brokerId) });
      return cfg;
    },
    registry: o.registry,
    metadata,
    reconcileTopic,
  };
}
