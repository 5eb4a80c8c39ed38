/**
 * kfk leader-election (kafka-leader-election.sh): preferred or unclean leader election through the
 * controller (ElectLeaders, key 43).
 *
 *   --election-type preferred|unclean (PREFERRED/UNCLEAN too), and exactly one of
 *   --topic T --partition P | --all-topic-partitions | --path-to-json-file F ({"partitions":[{"topic":..,"partition":..}]})
 *   --bootstrap-server (default localhost:9092, as every kfk command), --admin.config file
 *
 * Output, as Kafka's LeaderElectionCommand:
 *   Successfully completed leader election (PREFERRED) for partitions t-0, t-1
 *   Valid replica already elected for partitions t-2
 *   Error completing leader election (PREFERRED) for partition: t-3: <error>: <message>
 * and exit code 1 ("N replica(s) could not be elected") when any partition failed.
 */
import { readFile } from 'node:fs/promises';
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, writeOut, type Opts } from './common.js';
import { Admin } from '../src/client/admin.js';
import { ErrorCode, errorName } from '../src/protocol/errors.js';

interface TopicPartition {
  topic: string;
  partition: number;
}

export async function runLeaderElection(opts: Opts): Promise<number> {
  const typeFlag = opts.electionType;
  if (typeFlag === undefined) throw new CliError('Missing required option(s): election-type');
  const type = String(typeFlag).trim().toLowerCase();
  if (type !== 'preferred' && type !== 'unclean') throw new CliError(`--election-type must be preferred or unclean (got '${String(typeFlag)}')`);

  const selectors = [opts.topic !== undefined, opts.allTopicPartitions === true, opts.pathToJsonFile !== undefined].filter(Boolean).length;
  if (selectors !== 1) throw new CliError('One and only one of the following options is required: --topic, --all-topic-partitions, --path-to-json-file');
  if (opts.topic !== undefined && opts.partition === undefined) throw new CliError('Missing required option(s): partition');
  if (opts.partition !== undefined && opts.topic === undefined) throw new CliError('Option "--partition" needs "--topic"');

  let partitions: TopicPartition[] | null = null;
  if (opts.topic !== undefined) partitions = [{ topic: String(opts.topic), partition: parseIntFlag(opts.partition, '--partition', 0) }];
  if (opts.pathToJsonFile !== undefined) partitions = await readElectionFile(String(opts.pathToJsonFile));

  const props = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['admin.config'], '--admin.config')) };
  const security = await clientSecurityOf(props);
  const admin = new Admin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-leader-election', ...(security ? { security } : {}) });
  try {
    const results = await admin.electLeaders(type, partitions);
    const label = type.toUpperCase();
    const name = (r: TopicPartition): string => `${r.topic}-${r.partition}`;
    const sorted = [...results].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    const succeeded = sorted.filter((r) => r.errorCode === ErrorCode.NONE);
    const noop = sorted.filter((r) => r.errorCode === ErrorCode.ELECTION_NOT_NEEDED);
    const failed = sorted.filter((r) => r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.ELECTION_NOT_NEEDED);
    const lines: string[] = [];
    if (succeeded.length > 0) lines.push(`Successfully completed leader election (${label}) for partitions ${succeeded.map(name).join(', ')}`);
    if (noop.length > 0) lines.push(`Valid replica already elected for partitions ${noop.map(name).join(', ')}`);
    for (const f of failed) {
      lines.push(`Error completing leader election (${label}) for partition: ${name(f)}: ${errorName(f.errorCode)}${f.errorMessage ? `: ${f.errorMessage}` : ''}`);
    }
    await writeOut(lines.map((l) => `${l}\n`).join(''));
    if (failed.length > 0) throw new CliError(`${failed.length} replica(s) could not be elected`);
    return 0;
  } finally {
    await admin.close();
  }
}

/** Kafka's --path-to-json-file format: {"partitions": [{"topic": "foo", "partition": 1}, ...]}. */
async function readElectionFile(path: string): Promise<TopicPartition[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`--path-to-json-file: ${e.code === 'ENOENT' ? `file '${path}' does not exist` : e.message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--path-to-json-file '${path}': invalid JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CliError('Replica election data is empty');
  const list = (json as { partitions?: unknown }).partitions;
  if (list === undefined) throw new CliError('Replica election data is missing "partitions" field');
  if (!Array.isArray(list)) throw new CliError('Replica election data: "partitions" must be a list');
  const out: TopicPartition[] = [];
  const seen = new Set<string>();
  const dupes = new Set<string>();
  for (const item of list) {
    const topic = (item as { topic?: unknown })?.topic;
    const partition = (item as { partition?: unknown })?.partition;
    if (typeof topic !== 'string' || !Number.isInteger(partition) || (partition as number) < 0) {
      throw new CliError(`Replica election data: each entry needs a "topic" string and a "partition" number (got ${JSON.stringify(item)})`);
    }
    const key = `${topic}-${partition as number}`;
    if (seen.has(key)) dupes.add(key);
    seen.add(key);
    out.push({ topic, partition: partition as number });
  }
  if (dupes.size > 0) throw new CliError(`Replica election data contains duplicate partitions: ${[...dupes].join(',')}`);
  return out;
}
