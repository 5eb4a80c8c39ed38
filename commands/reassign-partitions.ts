/**
 * kfk reassign-partitions (kafka-reassign-partitions.sh, Kafka 2.6+ over --bootstrap-server):
 *   --generate --topics-to-move-json-file F --broker-list 0,1,2   current and proposed assignments
 *   --execute --reassignment-json-file F [--additional]             start (AlterPartitionReassignments)
 *   --verify --reassignment-json-file F                             complete / still in progress
 *   --cancel --reassignment-json-file F                             cancel ongoing ones
 *   --list                                                          ongoing reassignments
 * The JSON files are Kafka's: {"version":1,"topics":[{"topic":"t"}]} and
 * {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}.
 * kfk has no replication throttles: --throttle and log dirs other than "any" are refused.
 */
import { readFile } from 'node:fs/promises';
import { CliError, bootstrapFrom, clientSecurityOf, readPropertiesFlag, writeOut, type Opts } from './common.js';
import { Admin } from '../src/client/admin.js';
import { assignReplicas } from '../src/cluster/replica-assignment.js';
import { errorName } from '../src/protocol/errors.js';

const ACTIONS = ['generate', 'execute', 'verify', 'cancel', 'list'] as const;

interface PartitionReplicas {
  topic: string;
  partition: number;
  replicas: number[];
}

export async function runReassignPartitions(opts: Opts): Promise<number> {
  const actions = ACTIONS.filter((a) => opts[a] === true);
  if (actions.length !== 1) throw new CliError('Command must include exactly one action: --generate, --execute, --verify, --cancel or --list');
  const action = actions[0]!;
  if (opts.throttle !== undefined && Number(opts.throttle) >= 0) {
    throw new CliError('--throttle is not supported: kfk has no replication throttles (reassignment copies at full speed)');
  }
  if (opts.replicaAlterLogDirsThrottle !== undefined) throw new CliError('--replica-alter-log-dirs-throttle is not supported: kfk does not move replicas between log dirs');
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);

  let plan: PartitionReplicas[] = [];
  let topicsToMove: string[] = [];
  let brokerList: number[] = [];
  if (action === 'generate') {
    if (opts.topicsToMoveJsonFile === undefined) throw new CliError('Missing required argument "[topics-to-move-json-file]"');
    if (opts.brokerList === undefined) throw new CliError('Missing required argument "[broker-list]"');
    topicsToMove = await readTopicsToMove(String(opts.topicsToMoveJsonFile));
    brokerList = parseBrokerList(String(opts.brokerList));
  } else if (action !== 'list') {
    if (opts.reassignmentJsonFile === undefined) throw new CliError('Missing required argument "[reassignment-json-file]"');
    plan = await readReassignment(String(opts.reassignmentJsonFile));
  }

  const admin = new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'reassign-partitions-tool', ...(security ? { security } : {}) });
  try {
    switch (action) {
      case 'generate':
        return await generate(admin, topicsToMove, brokerList);
      case 'execute':
        return await execute(admin, plan, opts.additional === true);
      case 'verify':
        return await verify(admin, plan);
      case 'cancel':
        return await cancel(admin, plan);
      case 'list':
        return await list(admin);
    }
  } finally {
    await admin.close();
  }
}

async function currentAssignment(admin: Admin, topics: readonly string[]): Promise<PartitionReplicas[]> {
  const described = await admin.describeTopics([...new Set(topics)]);
  return described.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: p.replicas })));
}

async function generate(admin: Admin, topics: string[], brokers: number[]): Promise<number> {
  const live = new Set((await admin.describeCluster()).brokers.map((b) => b.nodeId));
  const unknown = brokers.filter((b) => !live.has(b));
  if (unknown.length > 0) throw new CliError(`The broker list contains brokers that are not in the cluster: ${unknown.join(',')}`);
  const current = await currentAssignment(admin, topics);
  const proposed: PartitionReplicas[] = [];
  for (const topic of [...new Set(topics)]) {
    const parts = current.filter((p) => p.topic === topic);
    const rf = parts[0]?.replicas.length ?? 1;
    if (rf > brokers.length) throw new CliError(`Replication factor: ${rf} larger than available brokers: ${brokers.length}.`);
    const assigned = assignReplicas(brokers, parts.length, rf);
    for (const [partition, replicas] of assigned) proposed.push({ topic, partition, replicas });
  }
  await writeOut(`Current partition replica assignment\n${formatJson(current)}\n\nProposed partition reassignment configuration\n${formatJson(proposed)}\n`);
  return 0;
}

async function execute(admin: Admin, plan: PartitionReplicas[], additional: boolean): Promise<number> {
  if (!additional && (await admin.listPartitionReassignments()).length > 0) {
    throw new CliError('Cannot execute because there is an existing partition assignment. Use --additional to override this and create a new partition assignment in addition to the existing one.');
  }
  const current = await currentAssignment(admin, plan.map((p) => p.topic));
  const known = new Set(current.map((p) => `${p.topic}-${p.partition}`));
  const missing = plan.filter((p) => !known.has(`${p.topic}-${p.partition}`));
  if (missing.length > 0) throw new CliError(`Topic or partition does not exist: ${missing.map((p) => `${p.topic}-${p.partition}`).join(',')}`);
  const relevant = current.filter((c) => plan.some((p) => p.topic === c.topic && p.partition === c.partition));
  await writeOut(`Current partition replica assignment\n\n${formatJson(relevant)}\n\nSave this to use as the --reassignment-json-file option during rollback\n`);
  const results = await admin.alterPartitionReassignments(plan.map((p) => ({ topic: p.topic, partition: p.partition, replicas: p.replicas })));
  const failed = results.filter((r) => r.errorCode !== 0);
  if (failed.length > 0) {
    throw new CliError(`Error reassigning partition(s): ${failed.map((f) => `${f.topic}-${f.partition}: ${errorName(f.errorCode)}${f.errorMessage ? `: ${f.errorMessage}` : ''}`).join('; ')}`);
  }
  await writeOut(`Successfully started partition reassignment${plan.length === 1 ? '' : 's'} for ${sorted(plan).map((p) => `${p.topic}-${p.partition}`).join(',')}\n`);
  return 0;
}

async function verify(admin: Admin, plan: PartitionReplicas[]): Promise<number> {
  const ongoing = new Map((await admin.listPartitionReassignments()).map((r) => [`${r.topic}-${r.partition}`, r]));
  const current = new Map((await currentAssignment(admin, plan.map((p) => p.topic))).map((c) => [`${c.topic}-${c.partition}`, c.replicas]));
  const lines = ['Status of partition reassignment:'];
  for (const p of sorted(plan)) {
    const name = `${p.topic}-${p.partition}`;
    if (ongoing.has(name)) {
      lines.push(`Reassignment of partition ${name} is still in progress.`);
      continue;
    }
    const replicas = current.get(name) ?? [];
    if (replicas.join(',') === p.replicas.join(',')) lines.push(`Reassignment of partition ${name} is complete.`);
    else lines.push(`There is no active reassignment of partition ${name}, but replica set is ${replicas.join(',')} rather than ${p.replicas.join(',')}.`);
  }
  await writeOut(`${lines.join('\n')}\n`);
  if (process.stderr.isTTY === true) {
    // On a terminal, how far the whole plan is, on stderr (stdout keeps Kafka's lines)
    const tty = await import('./tty.js');
    const done = lines.filter((l) => l.endsWith('is complete.')).length;
    const colours = tty.palette(process.stderr);
    const text = `${tty.bar(done / Math.max(1, plan.length))} ${done} of ${plan.length} partition reassignment(s) complete`;
    process.stderr.write(`${done === plan.length ? colours.green(text) : colours.yellow(text)}\n`);
  }
  return 0;
}

async function cancel(admin: Admin, plan: PartitionReplicas[]): Promise<number> {
  const ongoing = new Set((await admin.listPartitionReassignments(plan.map((p) => ({ topic: p.topic, partition: p.partition })))).map((r) => `${r.topic}-${r.partition}`));
  const toCancel = sorted(plan).filter((p) => ongoing.has(`${p.topic}-${p.partition}`));
  if (toCancel.length > 0) {
    const results = await admin.alterPartitionReassignments(toCancel.map((p) => ({ topic: p.topic, partition: p.partition, replicas: null })));
    const failed = results.filter((r) => r.errorCode !== 0);
    if (failed.length > 0) {
      throw new CliError(`Error cancelling partition reassignment(s): ${failed.map((f) => `${f.topic}-${f.partition}: ${errorName(f.errorCode)}`).join('; ')}`);
    }
  }
  await writeOut(`Successfully cancelled partition reassignment(s) for: ${toCancel.map((p) => `${p.topic}-${p.partition}`).join(',')}\n`);
  return 0;
}

async function list(admin: Admin): Promise<number> {
  const ongoing = (await admin.listPartitionReassignments()).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  if (ongoing.length === 0) {
    await writeOut('No partition reassignments found.\n');
    return 0;
  }
  const lines = ['Current partition reassignments:'];
  for (const r of ongoing) {
    lines.push(`${r.topic}-${r.partition}: replicas: ${r.replicas.join(',')}. adding: ${r.addingReplicas.join(',')}. removing: ${r.removingReplicas.join(',')}.`);
  }
  await writeOut(`${lines.join('\n')}\n`);
  return 0;
}

function sorted(plan: PartitionReplicas[]): PartitionReplicas[] {
  return [...plan].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}

/** Kafka's reassignment JSON, compact as Jackson writes it. */
function formatJson(parts: PartitionReplicas[]): string {
  return JSON.stringify({
    version: 1,
    partitions: sorted(parts).map((p) => ({ topic: p.topic, partition: p.partition, replicas: p.replicas, log_dirs: p.replicas.map(() => 'any') })),
  });
}

function parseBrokerList(s: string): number[] {
  const ids = s.split(',').map((x) => x.trim());
  if (ids.some((x) => !/^\d+$/.test(x))) throw new CliError(`--broker-list: expected broker ids like 0,1,2 (got '${s}')`);
  const nums = ids.map(Number);
  const dupes = nums.filter((n, i) => nums.indexOf(n) !== i);
  if (dupes.length > 0) throw new CliError(`Broker list contains duplicate entries: ${[...new Set(dupes)].join(',')}`);
  return nums;
}

async function readJson(path: string, flag: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`${flag}: ${e.code === 'ENOENT' ? `file '${path}' does not exist` : e.message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${flag} '${path}': invalid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CliError(`${flag} '${path}': expected a JSON object`);
  return json as Record<string, unknown>;
}

async function readTopicsToMove(path: string): Promise<string[]> {
  const json = await readJson(path, '--topics-to-move-json-file');
  const topics = json.topics;
  if (!Array.isArray(topics) || topics.length === 0) throw new CliError('--topics-to-move-json-file: expected {"topics":[{"topic":"t"}],"version":1}');
  const names = topics.map((t) => (t as { topic?: unknown })?.topic);
  if (names.some((n) => typeof n !== 'string')) throw new CliError('--topics-to-move-json-file: each entry needs a "topic" string');
  const dupes = (names as string[]).filter((n, i) => names.indexOf(n) !== i);
  if (dupes.length > 0) throw new CliError(`List of topics to reassign contains duplicate entries: ${[...new Set(dupes)].join(',')}`);
  return names as string[];
}

async function readReassignment(path: string): Promise<PartitionReplicas[]> {
  const json = await readJson(path, '--reassignment-json-file');
  const parts = json.partitions;
  if (!Array.isArray(parts) || parts.length === 0) throw new CliError('Partition reassignment list cannot be empty.');
  const out: PartitionReplicas[] = [];
  for (const item of parts) {
    const { topic, partition, replicas, log_dirs: logDirs } = (item ?? {}) as { topic?: unknown; partition?: unknown; replicas?: unknown; log_dirs?: unknown };
    if (typeof topic !== 'string' || !Number.isInteger(partition) || !Array.isArray(replicas) || !replicas.every((r) => Number.isInteger(r))) {
      throw new CliError(`--reassignment-json-file: each partition needs "topic", "partition" and "replicas" (got ${JSON.stringify(item)})`);
    }
    if (replicas.length === 0) throw new CliError(`Partition replica list cannot be empty (${topic}-${partition as number})`);
    const dupes = (replicas as number[]).filter((r, i) => replicas.indexOf(r) !== i);
    if (dupes.length > 0) throw new CliError(`Partition replica lists may not contain duplicate entries: ${topic}-${partition as number} contains multiple entries for ${dupes.join(',')}`);
    if (Array.isArray(logDirs) && logDirs.some((d) => d !== 'any')) throw new CliError('log_dirs other than "any" are not supported: kfk does not move replicas between log dirs');
    out.push({ topic, partition: partition as number, replicas: replicas as number[] });
  }
  const seen = new Set<string>();
  for (const p of out) {
    const k = `${p.topic}-${p.partition}`;
    if (seen.has(k)) throw new CliError(`Partition reassignment contains duplicate topic partitions: ${k}`);
    seen.add(k);
  }
  return out;
}
