/**
 * kfk configs (kafka-configs.sh) for topics and brokers (users and client ids: configs-entities.ts):
 *   --describe --entity-type topics|brokers [--entity-name N | --entity-default] [--all]
 *   --alter --entity-type topics --entity-name T [--add-config k=v,k2=[a,b]] [--delete-config k,k2]
 * Output is Kafka's ConfigCommand's: `Dynamic configs for topic T are:` (or `All configs ...` with --all)
 * and one `  k=v sensitive=false synonyms={SOURCE:name=value, ...}` line per config, sorted by name;
 * `Completed updating config for topic T.` after an alter.
 */
import { CliError, bootstrapFrom, clientSecurityOf, readPropertiesFlag, writeOut, type Opts } from './common.js';
import {
  Admin,
  ConfigResourceError,
  type ConfigEntryDescription,
  type ConfigResourceRef,
  type ConfigSourceName,
} from '../src/client/admin.js';
import { ErrorCode, KafkaError } from '../src/protocol/errors.js';

const ENTITY_TYPES = ['topics', 'brokers'] as const;
type EntityType = (typeof ENTITY_TYPES)[number];

export async function runConfigs(opts: Opts): Promise<number> {
  const describe = opts.describe === true;
  const alter = opts.alter === true;
  if (describe === alter) throw new CliError('Command must include exactly one action: --describe, --alter');
  const { quotaEntitiesOf, runEntityConfigs } = await import('./configs-entities.js');
  const quotaEntities = quotaEntitiesOf(opts);
  if (quotaEntities !== null) {
    if (alter && opts.addConfig === undefined && opts.deleteConfig === undefined) {
      throw new CliError('At least one of --add-config or --delete-config must be specified with --alter');
    }
    const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
    const security = await clientSecurityOf(props);
    const admin = new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-configs', ...(security ? { security } : {}) });
    try {
      const lines = await runEntityConfigs(admin, quotaEntities, opts, describe);
      await writeOut(lines.map((l) => `${l}\n`).join(''));
      return 0;
    } catch (err) {
      if (err instanceof KafkaError && err.code !== ErrorCode.UNKNOWN_SERVER_ERROR) throw new CliError(err.message);
      throw err;
    } finally {
      await admin.close();
    }
  }

  const { entityType, entityName, isDefault } = entityOf(opts);
  if (alter && entityName === undefined && !isDefault) {
    throw new CliError('an entity name must be specified with --alter of topics (--entity-name or --topic)');
  }
  if (alter && opts.addConfig === undefined && opts.deleteConfig === undefined) {
    throw new CliError('At least one of --add-config or --delete-config must be specified with --alter');
  }
  if (describe && (opts.addConfig !== undefined || opts.deleteConfig !== undefined)) {
    throw new CliError('--add-config and --delete-config can only be used with --alter');
  }
  if (alter && opts.all) throw new CliError('--all can only be used with --describe');

  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);
  const admin = new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-configs', ...(security ? { security } : {}) });
  try {
    if (describe) return await runDescribe(admin, entityType, entityName, isDefault, opts.all === true);
    return await runAlter(admin, entityType, isDefault ? '' : entityName!, opts);
  } catch (err) {
    if (err instanceof ConfigResourceError || (err instanceof KafkaError && err.code !== ErrorCode.UNKNOWN_SERVER_ERROR)) {
      throw new CliError(err.message);
    }
    throw err;
  } finally {
    await admin.close();
  }
}

/** The single value of a repeatable flag (topics and brokers take one entity). */
function single(v: unknown, flag: string): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return String(v);
  if (v.length > 1) throw new CliError(`${flag} may be given once for topics and brokers`);
  return v[0] === undefined ? undefined : String(v[0]);
}

function entityOf(opts: Opts): { entityType: EntityType; entityName: string | undefined; isDefault: boolean } {
  let type = single(opts.entityType, '--entity-type');
  let name = single(opts.entityName, '--entity-name');
  if (opts.topic !== undefined) {
    if (type !== undefined && type !== 'topics') throw new CliError('--topic cannot be used with --entity-type other than topics');
    type = 'topics';
    name ??= String(opts.topic);
  }
  if (opts.broker !== undefined) {
    if (type !== undefined && type !== 'brokers') throw new CliError('--broker cannot be used with --entity-type other than brokers');
    type = 'brokers';
    name ??= String(opts.broker);
  }
  if (type === undefined) throw new CliError('--entity-type must be specified (topics, brokers, users or clients)');
  if (type === 'topic') type = 'topics';
  if (type === 'broker') type = 'brokers';
  if (!(ENTITY_TYPES as readonly string[]).includes(type)) {
    throw new CliError(`Invalid entity type ${type}, the entity type must be one of ${ENTITY_TYPES.join(', ')}, users, clients (ips are not supported by kfk)`);
  }
  const isDefault = opts.entityDefault === true || opts.brokerDefaults === true;
  if (isDefault && type !== 'brokers') throw new CliError('--entity-default is only valid with --entity-type brokers');
  if (isDefault && name !== undefined) throw new CliError('--entity-name and --entity-default cannot both be given');
  if (type === 'brokers' && name !== undefined && !/^\d+$/.test(name)) {
    throw new CliError(`The entity name for brokers must be a valid integer broker id, but it is: ${name}`);
  }
  return { entityType: type as EntityType, entityName: name, isDefault };
}

function singular(t: EntityType): 'topic' | 'broker' {
  return t === 'topics' ? 'topic' : 'broker';
}

async function runDescribe(admin: Admin, entityType: EntityType, entityName: string | undefined, isDefault: boolean, all: boolean): Promise<number> {
  let names: string[];
  if (isDefault) names = [''];
  else if (entityName !== undefined) names = [entityName];
  else if (entityType === 'topics') names = await admin.listTopics();
  else names = [...(await admin.describeCluster()).brokers.map((b) => String(b.nodeId)), ''];

  const out: string[] = [];
  for (const name of names) {
    const ref: ConfigResourceRef = { type: singular(entityType), name };
    const [res] = await admin.describeConfigs([ref], { includeSynonyms: true });
    const wanted: ConfigSourceName | null = all
      ? null
      : entityType === 'topics'
        ? 'DYNAMIC_TOPIC_CONFIG'
        : name === ''
          ? 'DYNAMIC_DEFAULT_BROKER_CONFIG'
          : 'DYNAMIC_BROKER_CONFIG';
    const entries = (res?.configs ?? []).filter((c) => wanted === null || c.source === wanted).sort((a, b) => cmp(a.name, b.name));
    if (name === '') out.push(`Default configs for ${entityType} in the cluster are:`);
    else out.push(`${all ? 'All' : 'Dynamic'} configs for ${singular(entityType)} ${name} are:`);
    for (const e of entries) out.push(`  ${formatEntry(e)}`);
  }
  await writeOut(out.map((l) => `${l}\n`).join(''));
  return 0;
}

/** `k=v sensitive=false synonyms={SOURCE:name=value, ...}`, as ConfigCommand prints an entry. */
export function formatEntry(e: ConfigEntryDescription): string {
  const synonyms = e.synonyms.map((s) => `${s.source}:${s.name}=${s.value ?? 'null'}`).join(', ');
  return `${e.name}=${e.value ?? 'null'} sensitive=${e.isSensitive} synonyms={${synonyms}}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Parses --add-config: `k1=v1,k2=[v2,v3],k3=v4` (square brackets keep a list value's commas, as
 * kafka-configs.sh). Repeated flags are merged.
 */
export function parseAddConfig(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of values) {
    const items: string[] = [];
    let depth = 0;
    let cur = '';
    for (const ch of raw) {
      if (ch === '[') depth++;
      else if (ch === ']') depth = Math.max(0, depth - 1);
      if (ch === ',' && depth === 0) {
        items.push(cur);
        cur = '';
      } else cur += ch;
    }
    items.push(cur);
    for (const item of items) {
      if (item.trim() === '') continue;
      const i = item.indexOf('=');
      if (i <= 0) throw new CliError(`Invalid entity config: all configs to be added must be in the format "key=val" (got '${item}')`);
      let value = item.slice(i + 1).trim();
      if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
      out[item.slice(0, i).trim()] = value;
    }
  }
  return out;
}

/** Parses --delete-config: `k1,k2` (repeated flags merged). */
export function parseDeleteConfig(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function asList(v: unknown): string[] {
  if (v === undefined || v === null || v === false) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

async function runAlter(admin: Admin, entityType: EntityType, name: string, opts: Opts): Promise<number> {
  const set = parseAddConfig(asList(opts.addConfig));
  const del = parseDeleteConfig(asList(opts.deleteConfig));
  const both = del.filter((k) => k in set);
  if (both.length > 0) throw new CliError(`Invalid config(s): ${both.join(',')} (both added and deleted)`);
  const ref: ConfigResourceRef = { type: singular(entityType), name };
  if (del.length > 0 && entityType === 'topics') {
    // As kafka-configs.sh: only configs that are currently set for the topic can be deleted.
    const [res] = await admin.describeConfigs([ref]);
    const current = new Set((res?.configs ?? []).filter((c) => c.source === 'DYNAMIC_TOPIC_CONFIG').map((c) => c.name));
    const invalid = del.filter((k) => !current.has(k));
    if (invalid.length > 0) throw new CliError(`Invalid config(s): ${invalid.join(',')}`);
  }
  await admin.incrementalAlterConfigs(ref, { set, delete: del });
  await writeOut(name === '' ? 'Completed updating default config for brokers in the cluster.\n' : `Completed updating config for ${singular(entityType)} ${name}.\n`);
  return 0;
}
