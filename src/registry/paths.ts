/**
 * Kafka's ZooKeeper layout (kafka.zk.ZkData) in one place: znode paths and the JSON codecs of
 * their data, so that kfk's znodes read exactly like Kafka's (and Kafka's tools can read ours).
 *
 * JSON is written like Jackson writes a map: key order does not matter to readers. Longs that
 * Kafka writes as strings ("timestamp", "block_start") stay strings.
 */
import { randomBytes } from 'node:crypto';

import { type Registry, RegistryError } from './registry.js';

// ---- paths -------------------------------------------------------------------------------------

export const brokersPath = '/brokers';
export const brokerIdsPath = '/brokers/ids';
export const topicsPath = '/brokers/topics';
export const brokerSeqIdPath = '/brokers/seqid';
export const controllerPath = '/controller';
export const controllerEpochPath = '/controller_epoch';
export const configPath = '/config';
export const configChangesPath = '/config/changes';
export const configChangePrefix = 'config_change_';
export const adminPath = '/admin';
export const deleteTopicsPath = '/admin/delete_topics';
export const reassignPartitionsPath = '/admin/reassign_partitions';
export const preferredReplicaElectionPath = '/admin/preferred_replica_election';
export const clusterPath = '/cluster';
export const clusterIdPath = '/cluster/id';
export const consumersPath = '/consumers';
export const isrChangeNotificationPath = '/isr_change_notification';
export const isrChangePrefix = 'isr_change_';
export const latestProducerIdBlockPath = '/latest_producer_id_block';
export const logDirEventNotificationPath = '/log_dir_event_notification';
export const logDirEventPrefix = 'log_dir_event_';
export const featurePath = '/feature';
/**
 * kfk's own (not Kafka's): `/kfk/offline_replicas/<brokerId>`, an ephemeral node of a broker with failed log dirs
 * naming its replicas in them. Kafka's controller learns them from the broker's answers to LeaderAndIsr after a
 * /log_dir_event_notification; kfk's brokers reconcile from the registry instead, so the broker records them here
 * (they go with its session: a restarted broker recovers its dirs) and the controller reads them.
 */
export const offlineReplicasPath = '/kfk/offline_replicas';

/** Config entity types under /config (ConfigType in Kafka). */
export type ConfigEntityType = 'topics' | 'clients' | 'users' | 'brokers' | 'ips';
export const configEntityTypes: readonly ConfigEntityType[] = ['topics', 'clients', 'users', 'brokers', 'ips'];

/** The persistent paths Kafka creates at start-up (KafkaZkClient.createTopLevelPaths). */
export const persistentPaths: readonly string[] = [
  consumersPath,
  brokerIdsPath,
  topicsPath,
  configChangesPath,
  deleteTopicsPath,
  brokerSeqIdPath,
  isrChangeNotificationPath,
  latestProducerIdBlockPath,
  logDirEventNotificationPath,
  ...configEntityTypes.map((t) => `${configPath}/${t}`),
];

export function brokerIdPath(id: number): string {
  return `${brokerIdsPath}/${id}`;
}
export function topicPath(topic: string): string {
  return `${topicsPath}/${topic}`;
}
export function topicPartitionsPath(topic: string): string {
  return `${topicsPath}/${topic}/partitions`;
}
export function partitionPath(topic: string, partition: number): string {
  return `${topicsPath}/${topic}/partitions/${partition}`;
}
export function partitionStatePath(topic: string, partition: number): string {
  return `${topicsPath}/${topic}/partitions/${partition}/state`;
}
export function entityConfigPath(type: ConfigEntityType, name: string): string {
  return `${configPath}/${type}/${name}`;
}
export function topicConfigPath(topic: string): string {
  return entityConfigPath('topics', topic);
}
export function brokerConfigPath(brokerId: number | '<default>'): string {
  return entityConfigPath('brokers', String(brokerId));
}
export function deleteTopicPath(topic: string): string {
  return `${deleteTopicsPath}/${topic}`;
}

/** Create every persistent top-level path (idempotent), as a Kafka broker does at start-up. */
export async function ensureBasePaths(registry: Registry): Promise<void> {
  for (const p of persistentPaths) await registry.mkdirp(p);
}

// ---- helpers -----------------------------------------------------------------------------------

/** A new Kafka Uuid string (base64url of 16 random bytes), never ZERO, ONE or starting with '-'. */
export function randomKafkaUuid(): string {
  for (;;) {
    const b = randomBytes(16);
    const s = b.toString('base64url');
    if (s.startsWith('-')) continue;
    if (b.every((x) => x === 0)) continue;
    if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) continue;
    return s;
  }
}

export function isKafkaUuid(s: string): boolean {
  return typeof s === 'string' && /^[A-Za-z0-9_-]{22}$/.test(s) && Buffer.from(s, 'base64url').length === 16;
}

function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function decodeJson(what: string, data: Buffer | null): Record<string, unknown> {
  if (!data || data.length === 0) throw new Error(`${what}: no data`);
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new Error(`${what}: invalid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function num(what: string, obj: Record<string, unknown>, key: string, dflt?: number): number {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new Error(`${what}: missing "${key}"`);
  }
  // Kafka writes some longs as strings.
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`${what}: "${key}" is not a number`);
  return n;
}

function intList(what: string, v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw new Error(`${what}: expected a list of integers`);
  return v as number[];
}

function replicaMap(what: string, v: unknown): Map<number, number[]> {
  const m = new Map<number, number[]>();
  if (v === undefined || v === null) return m;
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: expected an object`);
  for (const [k, replicas] of Object.entries(v as Record<string, unknown>)) {
    const p = Number(k);
    if (!Number.isInteger(p) || p < 0) throw new Error(`${what}: bad partition "${k}"`);
    m.set(p, intList(`${what}[${k}]`, replicas));
  }
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

function replicaObject(m: Map<number, number[]>): Record<string, number[]> {
  const o: Record<string, number[]> = {};
  for (const [p, r] of [...m].sort((a, b) => a[0] - b[0])) o[String(p)] = r;
  return o;
}

// ---- /brokers/ids/<id> -------------------------------------------------------------------------

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';

export interface BrokerEndpoint {
  /** Listener name, e.g. PLAINTEXT or INTERNAL. */
  listenerName: string;
  host: string;
  port: number;
  securityProtocol: string;
}

export interface FeatureRange {
  min_version: number;
  max_version: number;
}

export interface BrokerRegistration {
  id: number;
  endpoints: BrokerEndpoint[];
  rack: string | null;
  /** Registration time, ms since the epoch. */
  timestamp: number;
  jmxPort: number;
  features: Record<string, FeatureRange>;
  /** The znode version this was read from (5 when encoded by kfk). */
  version?: number;
}

/** "PLAINTEXT://host:9092", brackets around IPv6 hosts (Kafka's Utils.formatAddress). */
export function formatEndpoint(listenerName: string, host: string, port: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `${listenerName}://${h}:${port}`;
}

/** Parse "NAME://host:port" (Kafka's EndPoint regex). Host may be empty. */
export function parseEndpoint(s: string): { listenerName: string; host: string; port: number } {
  const m = /^(.*):\/\/\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$/.exec(s);
  if (!m) throw new Error(`Unable to parse ${s} to a broker endpoint`);
  return { listenerName: m[1]!, host: m[2]!, port: Number(m[3]) };
}

/** Encode a broker registration as Kafka 2.7+ does (version 5). */
export function encodeBrokerRegistration(b: BrokerRegistration): Buffer {
  const plaintext = b.endpoints.find((e) => e.securityProtocol === 'PLAINTEXT');
  const protocolMap: Record<string, string> = {};
  for (const e of b.endpoints) protocolMap[e.listenerName] = e.securityProtocol;
  const json: Record<string, unknown> = {
    version: 5,
    host: plaintext ? plaintext.host : null,
    port: plaintext ? plaintext.port : -1,
    jmx_port: b.jmxPort,
    timestamp: String(b.timestamp),
    endpoints: b.endpoints.map((e) => formatEndpoint(e.listenerName, e.host, e.port)),
    listener_security_protocol_map: protocolMap,
  };
  if (b.rack !== null && b.rack !== undefined) json.rack = b.rack;
  json.features = b.features ?? {};
  return encodeJson(json);
}

/** Decode any broker registration version (1-5); the id comes from the path. */
export function decodeBrokerRegistration(id: number, data: Buffer | null): BrokerRegistration {
  const what = `broker ${id} registration`;
  const o = decodeJson(what, data);
  const version = num(what, o, 'version');
  const protocolMap = (o.listener_security_protocol_map ?? null) as Record<string, string> | null;
  let endpoints: BrokerEndpoint[];
  if (Array.isArray(o.endpoints)) {
    endpoints = o.endpoints.map((s) => {
      const e = parseEndpoint(String(s));
      const securityProtocol = protocolMap ? protocolMap[e.listenerName] : e.listenerName;
      if (!securityProtocol) throw new Error(`${what}: no security protocol for listener ${e.listenerName}`);
      return { ...e, securityProtocol };
    });
  } else {
    // v1: only host and port (PLAINTEXT).
    endpoints = [{ listenerName: 'PLAINTEXT', host: String(o.host), port: num(what, o, 'port'), securityProtocol: 'PLAINTEXT' }];
  }
  return {
    id,
    endpoints,
    rack: typeof o.rack === 'string' ? o.rack : null,
    timestamp: num(what, o, 'timestamp', 0),
    jmxPort: num(what, o, 'jmx_port', -1),
    features: (o.features as Record<string, FeatureRange> | undefined) ?? {},
    version,
  };
}

// ---- /brokers/topics/<topic> -------------------------------------------------------------------

export interface TopicAssignment {
  /** partition → replica broker ids (the first is the preferred leader). */
  partitions: Map<number, number[]>;
  addingReplicas: Map<number, number[]>;
  removingReplicas: Map<number, number[]>;
  /** Kafka Uuid string (base64url), null when written by Kafka < 2.8. */
  topicId: string | null;
}

/** Encode a topic assignment as Kafka 2.8+ does (version 3; topic_id when known). */
export function encodeTopicAssignment(a: {
  partitions: Map<number, number[]>;
  addingReplicas?: Map<number, number[]>;
  removingReplicas?: Map<number, number[]>;
  topicId: string | null;
}): Buffer {
  const json: Record<string, unknown> = { version: 3 };
  if (a.topicId) json.topic_id = a.topicId;
  json.partitions = replicaObject(a.partitions);
  json.adding_replicas = replicaObject(a.addingReplicas ?? new Map());
  json.removing_replicas = replicaObject(a.removingReplicas ?? new Map());
  return encodeJson(json);
}

export function decodeTopicAssignment(topic: string, data: Buffer | null): TopicAssignment {
  const what = `topic ${topic} assignment`;
  const o = decodeJson(what, data);
  const topicId = typeof o.topic_id === 'string' ? o.topic_id : null;
  return {
    partitions: replicaMap(`${what} partitions`, o.partitions),
    addingReplicas: replicaMap(`${what} adding_replicas`, o.adding_replicas),
    removingReplicas: replicaMap(`${what} removing_replicas`, o.removing_replicas),
    topicId,
  };
}

// ---- /brokers/topics/<t>/partitions/<p>/state --------------------------------------------------

export interface PartitionState {
  controllerEpoch: number;
  leader: number;
  leaderEpoch: number;
  isr: number[];
  /** 0 = RECOVERED (the default, not written), 1 = RECOVERING. */
  leaderRecoveryState?: number;
}

export function encodePartitionState(s: PartitionState): Buffer {
  const json: Record<string, unknown> = {
    controller_epoch: s.controllerEpoch,
    leader: s.leader,
    version: 1,
    leader_epoch: s.leaderEpoch,
    isr: s.isr,
  };
  if (s.leaderRecoveryState !== undefined && s.leaderRecoveryState !== 0) json.leader_recovery_state = s.leaderRecoveryState;
  return encodeJson(json);
}

export function decodePartitionState(data: Buffer | null): PartitionState {
  const what = 'partition state';
  const o = decodeJson(what, data);
  const s: PartitionState = {
    controllerEpoch: num(what, o, 'controller_epoch'),
    leader: num(what, o, 'leader'),
    leaderEpoch: num(what, o, 'leader_epoch'),
    isr: intList(`${what} isr`, o.isr),
  };
  if (o.leader_recovery_state !== undefined) s.leaderRecoveryState = num(what, o, 'leader_recovery_state');
  return s;
}

// ---- /controller, /controller_epoch ------------------------------------------------------------

export interface ControllerInfo {
  brokerId: number;
  /** ms since the epoch. */
  timestamp: number;
  /** Kafka 3.x (ZK migration) field; -1 when not in KRaft migration. */
  kraftControllerEpoch?: number;
}

/** Encode /controller as Kafka 2.x does (version 1), which Kafka 3.x also reads. */
export function encodeController(c: ControllerInfo): Buffer {
  return encodeJson({ version: 1, brokerid: c.brokerId, timestamp: String(c.timestamp) });
}

export function decodeController(data: Buffer | null): ControllerInfo {
  const what = 'controller';
  const o = decodeJson(what, data);
  const c: ControllerInfo = { brokerId: num(what, o, 'brokerid'), timestamp: num(what, o, 'timestamp', 0) };
  if (o.kraftControllerEpoch !== undefined) c.kraftControllerEpoch = num(what, o, 'kraftControllerEpoch');
  return c;
}

/** /controller_epoch holds a plain integer. */
export function encodeControllerEpoch(epoch: number): Buffer {
  return Buffer.from(String(epoch), 'utf8');
}

export function decodeControllerEpoch(data: Buffer | null): number {
  const s = data ? data.toString('utf8').trim() : '';
  if (!/^-?\d+$/.test(s)) throw new Error(`controller epoch: not an integer: ${JSON.stringify(s)}`);
  return Number(s);
}

// ---- /cluster/id -------------------------------------------------------------------------------

export function encodeClusterId(id: string): Buffer {
  return encodeJson({ version: '1', id });
}

export function decodeClusterId(data: Buffer | null): string {
  const o = decodeJson('cluster id', data);
  if (typeof o.id !== 'string') throw new Error('cluster id: missing "id"');
  return o.id;
}

/**
 * Read /cluster/id, creating it (with `proposed` or a fresh Uuid) if missing. Safe against
 * concurrent brokers: whoever creates it first wins, the others read that one.
 */
export async function getOrCreateClusterId(registry: Registry, proposed?: string): Promise<string> {
  const existing = await registry.get(clusterIdPath);
  if (existing) return decodeClusterId(existing.data);
  await registry.mkdirp(clusterPath);
  try {
    await registry.create(clusterIdPath, encodeClusterId(proposed ?? randomKafkaUuid()), 'persistent');
  } catch (e) {
    if (!(e instanceof RegistryError && e.code === 'NODE_EXISTS')) throw e;
  }
  const now = await registry.get(clusterIdPath);
  if (!now) throw new RegistryError('NO_NODE', clusterIdPath, 'cluster id vanished after creation');
  return decodeClusterId(now.data);
}

// ---- /config/<type>/<name> and /config/changes -------------------------------------------------

/** Entity config: all values are strings. */
export function encodeEntityConfig(config: Record<string, string>): Buffer {
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(config).sort()) sorted[k] = String(config[k]);
  return encodeJson({ version: 1, config: sorted });
}

export function decodeEntityConfig(data: Buffer | null): Record<string, string> {
  if (!data || data.length === 0) return {};
  const o = decodeJson('entity config', data);
  const c = (o.config ?? {}) as Record<string, unknown>;
  if (typeof c !== 'object' || Array.isArray(c)) throw new Error('entity config: "config" is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c)) out[k] = String(v);
  return out;
}

export const encodeTopicConfig = encodeEntityConfig;
export const decodeTopicConfig = decodeEntityConfig;

/** /config/changes/config_change_<seq> data (version 2). */
export function encodeConfigChangeNotification(type: ConfigEntityType, name: string): Buffer {
  return encodeJson({ version: 2, entity_path: `${type}/${name}` });
}

export function decodeConfigChangeNotification(data: Buffer | null): { type: string; name: string } {
  const o = decodeJson('config change notification', data);
  const p = String(o.entity_path ?? '');
  const i = p.indexOf('/');
  if (i < 0) throw new Error(`config change notification: bad entity_path ${JSON.stringify(p)}`);
  return { type: p.slice(0, i), name: p.slice(i + 1) };
}

// ---- /isr_change_notification, /latest_producer_id_block, /admin ------------------------------

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export function encodeIsrChangeNotification(partitions: TopicPartitionRef[]): Buffer {
  return encodeJson({ version: 1, partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) });
}

export function decodeIsrChangeNotification(data: Buffer | null): TopicPartitionRef[] {
  const o = decodeJson('isr change notification', data);
  return decodePartitionRefs(o.partitions);
}

// ---- /log_dir_event_notification ----------------------------------------------------------------

/** The only event Kafka defines (LogDirEventNotificationSequenceZNode.LogDirFailureEvent). */
export const LOG_DIR_FAILURE_EVENT = 1;

/** `{"version":1,"broker":<id>,"event":1}`: a log dir of this broker failed. */
export function encodeLogDirEventNotification(brokerId: number): Buffer {
  return encodeJson({ version: 1, broker: brokerId, event: LOG_DIR_FAILURE_EVENT });
}

export function decodeLogDirEventNotification(data: Buffer | null): { brokerId: number; event: number } {
  const o = decodeJson('log dir event notification', data);
  return { brokerId: num('log dir event notification', o, 'broker'), event: num('log dir event notification', o, 'event') };
}

/**
 * Kafka's propagateLogDirEvent: a persistent sequential `/log_dir_event_notification/log_dir_event_<seq>` that
 * tells the controller a log dir of `brokerId` failed, so it can elect new leaders for the partitions there.
 * Resolves with the created path.
 */
export function propagateLogDirEvent(registry: Registry, brokerId: number): Promise<string> {
  return registry.create(`${logDirEventNotificationPath}/${logDirEventPrefix}`, encodeLogDirEventNotification(brokerId), 'persistent_sequential');
}

export function offlineReplicasBrokerPath(brokerId: number): string {
  return `${offlineReplicasPath}/${brokerId}`;
}

/** `{"version":1,"partitions":[{"topic":..,"partition":..}]}`: a broker's replicas in failed log dirs. */
export function encodeOfflineReplicas(partitions: TopicPartitionRef[]): Buffer {
  return encodeJson({ version: 1, partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) });
}

export function decodeOfflineReplicas(data: Buffer | null): TopicPartitionRef[] {
  return decodePartitionRefs(decodeJson('offline replicas', data).partitions);
}

/**
 * Records the broker's replicas in failed log dirs (all of them: the node is replaced), then tells the controller
 * with Kafka's log dir event notification. Resolves with the notification's path.
 */
export async function publishOfflineReplicas(registry: Registry, brokerId: number, partitions: TopicPartitionRef[]): Promise<string> {
  const path = offlineReplicasBrokerPath(brokerId);
  const data = encodeOfflineReplicas(partitions);
  for (const parent of ['/kfk', offlineReplicasPath]) {
    try {
      await registry.create(parent, null, 'persistent');
    } catch (err) {
      if (!(err instanceof RegistryError && err.code === 'NODE_EXISTS')) throw err;
    }
  }
  try {
    await registry.create(path, data, 'ephemeral');
  } catch (err) {
    if (!(err instanceof RegistryError && err.code === 'NODE_EXISTS')) throw err;
    await registry.set(path, data, -1);
  }
  return propagateLogDirEvent(registry, brokerId);
}

function decodePartitionRefs(v: unknown): TopicPartitionRef[] {
  if (!Array.isArray(v)) return [];
  return v.map((x: { topic: unknown; partition: unknown }) => ({ topic: String(x.topic), partition: Number(x.partition) }));
}

export interface ProducerIdBlock {
  brokerId: number;
  /** First producer id of the block (inclusive). */
  blockStart: number;
  /** Last producer id of the block (inclusive). */
  blockEnd: number;
}

export function encodeProducerIdBlock(b: ProducerIdBlock): Buffer {
  return encodeJson({ version: 1, broker: b.brokerId, block_start: String(b.blockStart), block_end: String(b.blockEnd) });
}

export function decodeProducerIdBlock(data: Buffer | null): ProducerIdBlock | null {
  if (!data || data.length === 0) return null;
  const what = 'producer id block';
  const o = decodeJson(what, data);
  return { brokerId: num(what, o, 'broker'), blockStart: num(what, o, 'block_start'), blockEnd: num(what, o, 'block_end') };
}

export function encodeReassignPartitions(r: Array<TopicPartitionRef & { replicas: number[] }>): Buffer {
  return encodeJson({
    version: 1,
    partitions: r.map((p) => ({ topic: p.topic, partition: p.partition, replicas: p.replicas })),
  });
}

export function decodeReassignPartitions(data: Buffer | null): Array<TopicPartitionRef & { replicas: number[] }> {
  const o = decodeJson('reassign partitions', data);
  if (!Array.isArray(o.partitions)) return [];
  return o.partitions.map((x: { topic: unknown; partition: unknown; replicas: unknown }) => ({
    topic: String(x.topic),
    partition: Number(x.partition),
    replicas: intList('reassign partitions replicas', x.replicas),
  }));
}

export function encodePreferredReplicaElection(partitions: TopicPartitionRef[]): Buffer {
  return encodeJson({ version: 1, partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) });
}

export function decodePreferredReplicaElection(data: Buffer | null): TopicPartitionRef[] {
  return decodePartitionRefs(decodeJson('preferred replica election', data).partitions);
}
