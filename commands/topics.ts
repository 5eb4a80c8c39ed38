/**
 * kfk topics (kafka-topics.sh): --create, --list, --describe, --delete, --alter.
 * Output shapes follow docs/cli.md (Kafka's, tab separated for --describe).
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, parseKeyValues, readPropertiesFlag, writeOut, type Opts } from './common.js';
import { bootstrapFromZooKeeper } from './zookeeper-bootstrap.js';
import { Admin, TopicError, type TopicDescription } from '../src/client/admin.js';
import { ErrorCode, KafkaError } from '../src/protocol/errors.js';
import { invalidTopicNameReason } from '../src/cluster/topic-names.js';

const ACTIONS = ['create', 'list', 'describe', 'delete', 'alter'] as const;

export async function runTopics(opts: Opts): Promise<number> {
  const actions = ACTIONS.filter((a) => opts[a] === true);
  if (actions.length !== 1) {
    throw new CliError('Command must include exactly one action: --list, --describe, --create, --alter or --delete');
  }
  const action = actions[0]!;
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);
  const topic = opts.topic as string | undefined;
  if ((action === 'create' || action === 'delete' || action === 'alter') && !topic) {
    throw new CliError(`--${action} requires --topic`);
  }
  checkFlagsFor(action, opts);

  const bootstrap =
    opts.zookeeper !== undefined ? await bootstrapFromZooKeeper(String(opts.zookeeper)) : bootstrapFrom(opts.bootstrapServer, props);
  const admin = new Admin({ bootstrap, clientId: props['client.id'] ?? 'kfk-topics', ...(security ? { security } : {}) });
  try {
    switch (action) {
      case 'create':
        return await create(admin, topic!, opts);
      case 'list':
        return await list(admin, opts);
      case 'describe':
        return await describe(admin, topic, opts);
      case 'delete':
        return await del(admin, topic!, opts);
      case 'alter':
        return await alter(admin, topic!, opts);
    }
  } finally {
    await admin.close();
  }
}

/** Rejects flags that make no sense for the action, as kafka-topics.sh does. */
function checkFlagsFor(action: (typeof ACTIONS)[number], opts: Opts): void {
  const only: Array<[string, string, ReadonlyArray<(typeof ACTIONS)[number]>]> = [
    ['partitions', '--partitions', ['create', 'alter']],
    ['replicationFactor', '--replication-factor', ['create']],
    ['replicaAssignment', '--replica-assignment', ['create']],
    ['config', '--config', ['create']],
    ['ifNotExists', '--if-not-exists', ['create']],
    ['ifExists', '--if-exists', ['delete', 'alter', 'describe']],
    ['underReplicatedPartitions', '--under-replicated-partitions', ['describe']],
    ['unavailablePartitions', '--unavailable-partitions', ['describe']],
    ['underMinIsrPartitions', '--under-min-isr-partitions', ['describe']],
    ['atMinIsrPartitions', '--at-min-isr-partitions', ['describe']],
  ];
  for (const [key, flag, actions] of only) {
    if (opts[key] !== undefined && !actions.includes(action)) {
      throw new CliError(`Option "${flag}" can't be used with "--${action}"`);
    }
  }
  // Kafka's replication report options exclude each other.
  const reports = REPORT_FLAGS.filter(([key]) => opts[key] !== undefined);
  if (reports.length > 1) throw new CliError(`Option "${reports[0]![1]}" can't be used with "${reports[1]![1]}"`);
}

const REPORT_FLAGS: ReadonlyArray<readonly [string, string]> = [
  ['underReplicatedPartitions', '--under-replicated-partitions'],
  ['unavailablePartitions', '--unavailable-partitions'],
  ['underMinIsrPartitions', '--under-min-isr-partitions'],
  ['atMinIsrPartitions', '--at-min-isr-partitions'],
];

function validateTopicName(topic: string): void {
  const reason = invalidTopicNameReason(topic);
  if (reason) throw new CliError(reason);
}

/** `0:1,1:2` → partition 0 on brokers 0 and 1, partition 1 on brokers 1 and 2. */
function parseReplicaAssignment(value: string): Record<number, number[]> {
  const out: Record<number, number[]> = {};
  value.split(',').forEach((part, idx) => {
    const ids = part.split(':').map((s) => parseIntFlag(s, '--replica-assignment', 0));
    if (new Set(ids).size !== ids.length) throw new CliError(`--replica-assignment: partition ${idx} has duplicate broker ids (${part})`);
    out[idx] = ids;
  });
  return out;
}

async function create(admin: Admin, topic: string, opts: Opts): Promise<number> {
  validateTopicName(topic);
  const partitions = opts.partitions !== undefined ? parseIntFlag(opts.partitions, '--partitions') : undefined;
  if (partitions !== undefined && partitions < 1) throw new CliError('The partitions must be greater than 0');
  const rf = opts.replicationFactor !== undefined ? parseIntFlag(opts.replicationFactor, '--replication-factor') : undefined;
  if (rf !== undefined && (rf < 1 || rf > 32767)) throw new CliError('The replication factor must be between 1 and 32767');
  const assignments = opts.replicaAssignment !== undefined ? parseReplicaAssignment(String(opts.replicaAssignment)) : undefined;
  if (assignments && (partitions !== undefined || rf !== undefined)) {
    throw new CliError('Option "--replica-assignment" can\'t be used with "--partitions" or "--replication-factor"');
  }
  const configs = parseKeyValues(opts.config as string[] | undefined, '--config');
  try {
    await admin.createTopics([{ name: topic, numPartitions: partitions, replicationFactor: rf, configs, assignments }]);
  } catch (err) {
    if (err instanceof KafkaError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS) {
      if (opts.ifNotExists) return 0;
      throw new CliError(`Topic '${topic}' already exists.`);
    }
    throw err;
  }
  await writeOut(`Created topic ${topic}.\n`);
  return 0;
}

async function list(admin: Admin, opts: Opts): Promise<number> {
  let names = await admin.listTopics({ includeInternal: !opts.excludeInternal });
  if (typeof opts.topic === 'string') names = names.filter(topicMatcher(opts.topic));
  await writeOut(names.map((n) => `${n}\n`).join(''));
  return 0;
}

/** Kafka treats --topic of list/describe as a regex; an exact name matches itself. */
function topicMatcher(pattern: string): (name: string) => boolean {
  let re: RegExp | undefined;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch {
    re = undefined; // not a valid regex: it can still match a topic by its exact name
  }
  return (name) => name === pattern || (re !== undefined && re.test(name));
}

async function describe(admin: Admin, topic: string | undefined, opts: Opts): Promise<number> {
  let topics: TopicDescription[];
  const isPlainName = topic !== undefined && invalidTopicNameReason(topic) === null;
  if (topic !== undefined && isPlainName) {
    try {
      topics = await admin.describeTopics([topic]);
    } catch (err) {
      if (err instanceof KafkaError && err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        // Maybe a regex that is also a legal name (e.g. "test.*" is not, "test." is): try matching.
        const all = await admin.describeTopics();
        topics = all.filter((t) => topicMatcher(topic)(t.name));
        if (topics.length === 0) {
          if (opts.ifExists) return 0;
          throw new CliError(`Topic '${topic}' does not exist.`);
        }
      } else {
        throw err;
      }
    }
  } else {
    topics = await admin.describeTopics();
    if (topic !== undefined) {
      topics = topics.filter((t) => topicMatcher(topic)(t.name));
      if (topics.length === 0) {
        if (opts.ifExists) return 0;
        throw new CliError(`Topic '${topic}' does not exist.`);
      }
    }
  }
  if (opts.excludeInternal) topics = topics.filter((t) => !t.isInternal);
  // With a replication report option (Kafka's DescribeOptions), only matching partitions are printed, without the topic lines.
  const partitionFilter = REPORT_FLAGS.some(([key]) => opts[key] !== undefined);
  const configs = partitionFilter ? new Map<string, Record<string, string>>() : await admin.describeTopicConfigs(topics.map((t) => t.name));
  const minIsr = opts.underMinIsrPartitions || opts.atMinIsrPartitions ? await minInsyncReplicas(admin, topics.map((t) => t.name)) : new Map<string, number>();
  const liveBrokers = opts.unavailablePartitions ? new Set((await admin.describeCluster()).brokers.map((b) => b.nodeId)) : new Set<number>();
  const lines: string[] = [];
  // On a terminal: offline partitions in red, under-replicated ones in yellow (tty.ts loads only there)
  const colours = process.stdout.isTTY === true ? (await import('./tty.js')).palette(process.stdout) : undefined;
  const colour = (line: string, p: TopicDescription['partitions'][number]): string => {
    if (colours === undefined) return line;
    if (p.leader < 0) return colours.red(line);
    return p.isr.length < p.replicas.length ? colours.yellow(line) : line;
  };
  for (const t of topics) {
    const parts = t.partitions.filter((p) => {
      const hasLeader = p.leader >= 0;
      const min = minIsr.get(t.name);
      if (opts.underReplicatedPartitions) return p.isr.length < p.replicas.length;
      if (opts.unavailablePartitions) return !hasLeader || !liveBrokers.has(p.leader);
      if (opts.underMinIsrPartitions) return !hasLeader || (min !== undefined && p.isr.length < min);
      if (opts.atMinIsrPartitions) return min !== undefined && p.isr.length === min;
      return true;
    });
    if (!partitionFilter) {
      const rf = t.partitions[0]?.replicas.length ?? 0;
      const cfg = Object.entries(configs.get(t.name) ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      lines.push(`Topic: ${t.name}\tPartitionCount: ${t.partitions.length}\tReplicationFactor: ${rf}\tConfigs:${cfg ? ` ${cfg}` : ''}`);
    }
    for (const p of parts) lines.push(colour(formatPartition(t.name, p), p));
  }
  await writeOut(lines.map((l) => `${l}\n`).join(''));
  return 0;
}

/** Kafka's partition line: Leader `none` when the partition has no (live) leader. */
function formatPartition(topic: string, p: TopicDescription['partitions'][number]): string {
  const leader = p.leader < 0 ? 'none' : String(p.leader);
  return `\tTopic: ${topic}\tPartition: ${p.partition}\tLeader: ${leader}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}`;
}

/** Each topic's effective min.insync.replicas (its override, else the broker's), from DescribeConfigs. */
async function minInsyncReplicas(admin: Admin, names: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (names.length === 0) return out;
  const described = await admin.describeConfigs(
    names.map((name) => ({ type: 'topic' as const, name })),
    { configNames: ['min.insync.replicas'] },
  );
  for (const d of described) {
    const value = d.configs.find((c) => c.name === 'min.insync.replicas')?.value;
    if (value !== null && value !== undefined && /^\d+$/.test(value)) out.set(d.name, Number(value));
  }
  return out;
}

async function del(admin: Admin, topic: string, opts: Opts): Promise<number> {
  try {
    await admin.deleteTopics([topic]);
  } catch (err) {
    if (err instanceof KafkaError && err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      if (opts.ifExists) return 0;
      throw new CliError(`Topic '${topic}' does not exist.`);
    }
    if (err instanceof KafkaError && err.code === ErrorCode.TOPIC_DELETION_DISABLED) {
      throw new CliError(`Topic deletion is disabled on the broker (delete.topic.enable=false): topic '${topic}' was not deleted.`);
    }
    throw err;
  }
  return 0;
}

async function alter(admin: Admin, topic: string, opts: Opts): Promise<number> {
  if (opts.partitions === undefined) throw new CliError('--alter requires --partitions (the new partition count)');
  const count = parseIntFlag(opts.partitions, '--partitions', 1);
  try {
    await admin.createPartitions(topic, count);
  } catch (err) {
    if (err instanceof KafkaError && err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      if (opts.ifExists) return 0;
      throw new CliError(`Topic '${topic}' does not exist.`);
    }
    if (err instanceof KafkaError && err.code === ErrorCode.UNSUPPORTED_VERSION) {
      throw new CliError('the broker does not support adding partitions (CreatePartitions) yet');
    }
    if (err instanceof TopicError) throw new CliError(err.message);
    throw err;
  }
  return 0;
}
