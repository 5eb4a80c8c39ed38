/**
 * kfk console-consumer (kafka-console-consumer.sh), assign mode: every partition of the topic (or one
 * with --partition), from the latest offset unless --from-beginning / --offset. With --group G it is a
 * member of consumer group G instead (group-consumer.ts): the group's committed offsets are the start
 * (--from-beginning only where none are committed), and it commits as it goes and on exit. Prints each value on its
 * own line (Kafka's DefaultMessageFormatter and its print.* properties) or one JSON object per record
 * (--formatter json); `Processed a total of N messages` goes to stderr at exit.
 */
import {
  CliError,
  bootstrapFrom,
  clientSecurityOf,
  parseIntFlag,
  parseKeyValues,
  readPropertiesFlag,
  warn,
  writeOut,
  type Opts,
} from './common.js';
import { bootstrapFromZooKeeper } from './zookeeper-bootstrap.js';
import { Consumer, type ConsumerOptions, type ConsumerRecord, type IsolationLevel, type OffsetSpec } from '../src/client/consumer.js';
import { ClusterClient } from '../src/client/cluster-client.js';
import { GroupConsumer, type GroupConsumerOptions } from '../src/client/group-consumer.js';
import { ErrorCode, KafkaError } from '../src/protocol/errors.js';
import { DESERIALIZER_NAMES, deserializerFor, type Deserializer } from './deserializers.js';

export interface FormatterConfig {
  printKey: boolean;
  printValue: boolean;
  printTimestamp: boolean;
  printPartition: boolean;
  printOffset: boolean;
  printHeaders: boolean;
  keySeparator: Buffer;
  lineSeparator: Buffer;
  headersSeparator: Buffer;
  headersKeySeparator: Buffer;
  nullLiteral: Buffer;
  /** key.deserializer / value.deserializer (identity: print the bytes). */
  keyDeserializer: Deserializer;
  valueDeserializer: Deserializer;
}

function bool(v: string | undefined, dflt: boolean): boolean {
  return v === undefined ? dflt : v.trim().toLowerCase() === 'true';
}

export function formatterConfig(props: Record<string, string>): FormatterConfig {
  const buf = (v: string | undefined, d: string): Buffer => Buffer.from(v ?? d, 'utf8');
  return {
    printKey: bool(props['print.key'], false),
    printValue: bool(props['print.value'], true),
    printTimestamp: bool(props['print.timestamp'], false),
    printPartition: bool(props['print.partition'], false),
    printOffset: bool(props['print.offset'], false),
    printHeaders: bool(props['print.headers'], false),
    keySeparator: buf(props['key.separator'], '\t'),
    lineSeparator: buf(props['line.separator'], '\n'),
    headersSeparator: buf(props['headers.separator'], ','),
    headersKeySeparator: buf(props['headers.key.separator'], ':'),
    nullLiteral: buf(props['null.literal'], 'null'),
    keyDeserializer: deserializerOf(props['key.deserializer'], 'key.deserializer'),
    valueDeserializer: deserializerOf(props['value.deserializer'], 'value.deserializer'),
  };
}

function deserializerOf(name: string | undefined, what: string): Deserializer {
  if (name === undefined || name.trim() === '') return (b) => b;
  const d = deserializerFor(name);
  if (d === undefined) throw new CliError(`${what}: unknown deserializer '${name}' (kfk has Kafka's built-in ones: ${DESERIALIZER_NAMES.join(', ')})`);
  return d;
}

/** Kafka's DefaultMessageFormatter: [timestamp][partition][offset][headers][key][value], separated by key.separator. */
export function formatRecord(r: ConsumerRecord, cfg: FormatterConfig, out: Buffer[]): void {
  const fields: Buffer[] = [];
  if (cfg.printTimestamp) fields.push(Buffer.from(`${r.timestampType}:${r.timestamp}`));
  if (cfg.printPartition) fields.push(Buffer.from(`Partition:${r.partition}`));
  if (cfg.printOffset) fields.push(Buffer.from(`Offset:${r.offset}`));
  if (cfg.printHeaders) {
    if (r.headers.length === 0) {
      fields.push(Buffer.from('NO_HEADERS'));
    } else {
      const parts: Buffer[] = [];
      r.headers.forEach((h, i) => {
        if (i > 0) parts.push(cfg.headersSeparator);
        parts.push(Buffer.from(h.key, 'utf8'), cfg.headersKeySeparator, h.value ?? cfg.nullLiteral);
      });
      fields.push(Buffer.concat(parts));
    }
  }
  if (cfg.printKey) fields.push(r.key === null ? cfg.nullLiteral : cfg.keyDeserializer(r.key));
  if (cfg.printValue) fields.push(r.value === null ? cfg.nullLiteral : cfg.valueDeserializer(r.value));
  fields.forEach((f, i) => {
    if (i > 0) out.push(cfg.keySeparator);
    out.push(f);
  });
  // Kafka ends the line only after the value; without print.value the fields still end the record.
  if (fields.length > 0) out.push(cfg.lineSeparator);
}

/** One JSON object per line: topic, partition, offset, timestamp, key, value, headers (UTF-8 strings or null). */
export function formatJson(r: ConsumerRecord, cfg?: Pick<FormatterConfig, 'keyDeserializer' | 'valueDeserializer'>): string {
  const headers: Record<string, string | null> = {};
  for (const h of r.headers) headers[h.key] = h.value === null ? null : h.value.toString('utf8');
  return `${JSON.stringify({
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key === null ? null : (cfg ? cfg.keyDeserializer(r.key) : r.key).toString('utf8'),
    value: r.value === null ? null : (cfg ? cfg.valueDeserializer(r.value) : r.value).toString('utf8'),
    headers,
  })}\n`;
}

const DEFAULT_FORMATTERS = new Set([
  'default',
  'kafka.tools.DefaultMessageFormatter',
  'org.apache.kafka.tools.consumer.DefaultMessageFormatter',
]);
/** Kafka's NoOpMessageFormatter: consumes and prints nothing (the count still goes to stderr). */
const NOOP_FORMATTERS = new Set(['noop', 'kafka.tools.NoOpMessageFormatter', 'org.apache.kafka.tools.consumer.NoOpMessageFormatter']);

function parseOffset(v: unknown): OffsetSpec {
  const s = String(v).trim().toLowerCase();
  if (s === 'earliest' || s === 'latest') return s;
  if (!/^\d+$/.test(s)) throw new CliError(`invalid value '${String(v)}' for --offset: expected earliest, latest or a non-negative offset`);
  return Number(s);
}

export async function runConsoleConsumer(opts: Opts): Promise<number> {
  const include = (opts.include ?? opts.whitelist) as string | undefined;
  const topic = opts.topic as string | undefined;
  if ((topic === undefined) === (include === undefined)) {
    throw new CliError('Exactly one of --topic or --include/--whitelist is required');
  }
  if (opts.offset !== undefined && opts.partition === undefined) {
    throw new CliError('The partition is required when offset is specified.');
  }
  if (opts.offset !== undefined && opts.fromBeginning) {
    throw new CliError('Options from-beginning and offset cannot be specified together.');
  }
  if (opts.partition !== undefined && include !== undefined) {
    throw new CliError('Options --partition and --include cannot be specified together.');
  }
  if (opts.group !== undefined && opts.partition !== undefined) {
    throw new CliError('Options group and partition cannot be specified together.');
  }
  const partition = opts.partition !== undefined ? parseIntFlag(opts.partition, '--partition', 0) : undefined;
  const startOffset: OffsetSpec = opts.offset !== undefined ? parseOffset(opts.offset) : opts.fromBeginning ? 'earliest' : 'latest';
  const maxMessages = opts.maxMessages !== undefined ? parseIntFlag(opts.maxMessages, '--max-messages') : -1;
  const timeoutMs = opts.timeoutMs !== undefined ? parseIntFlag(opts.timeoutMs, '--timeout-ms', 0) : undefined;

  let includeRe: RegExp | undefined;
  if (include !== undefined) {
    try {
      includeRe = new RegExp(`^(?:${include})$`);
    } catch (err) {
      throw new CliError(`invalid --include regex '${include}': ${(err as Error).message}`);
    }
  }

  const fileProps = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['consumer.config'], '--consumer.config')) };
  const props = { ...fileProps, ...parseKeyValues(opts.consumerProperty as string[] | undefined, '--consumer-property') };
  const security = await clientSecurityOf(props);

  const isolation = String(opts.isolationLevel ?? props['isolation.level'] ?? 'read_uncommitted').trim().toLowerCase();
  if (isolation !== 'read_committed' && isolation !== 'read_uncommitted') {
    throw new CliError(`invalid value '${isolation}' for --isolation-level: expected read_committed or read_uncommitted`);
  }

  const formatter = opts.formatter === undefined ? 'default' : String(opts.formatter);
  const json = formatter.toLowerCase() === 'json';
  const noop = NOOP_FORMATTERS.has(formatter);
  if (!json && !noop && !DEFAULT_FORMATTERS.has(formatter)) {
    throw new CliError(`unknown formatter '${formatter}' (supported: json, kafka.tools.DefaultMessageFormatter, kafka.tools.NoOpMessageFormatter)`);
  }
  const fmtProps = {
    ...(opts.keyDeserializer !== undefined ? { 'key.deserializer': String(opts.keyDeserializer) } : {}),
    ...(opts.valueDeserializer !== undefined ? { 'value.deserializer': String(opts.valueDeserializer) } : {}),
    ...(await readPropertiesFlag(opts.formatterConfig, '--formatter-config')),
    ...parseKeyValues(opts.property as string[] | undefined, '--property'),
  };
  const skipOnError = opts.skipMessageOnError === true;
  const fmt = formatterConfig(fmtProps);

  const num = (k: string, min = 0): number | undefined => (props[k] === undefined ? undefined : parseIntFlag(props[k], k, min));
  const reset = props['auto.offset.reset']?.trim().toLowerCase();
  const maxWait = Math.min(num('fetch.max.wait.ms') ?? 500, timeoutMs !== undefined ? Math.max(timeoutMs, 10) : Infinity);
  const cluster = new ClusterClient({
    bootstrap:
      opts.zookeeper !== undefined ? await bootstrapFromZooKeeper(String(opts.zookeeper)) : bootstrapFrom(opts.bootstrapServer, props),
    clientId: props['client.id'] ?? 'console-consumer',
    requestTimeoutMs: num('request.timeout.ms', 1),
    ...(security ? { security } : {}),
  });
  const consumerOpts: ConsumerOptions = {
    cluster,
    isolationLevel: isolation as IsolationLevel,
    maxWaitMs: maxWait,
    minBytes: num('fetch.min.bytes') ?? 1,
    maxBytes: num('fetch.max.bytes', 1),
    maxPartitionBytes: num('max.partition.fetch.bytes', 1),
    autoOffsetReset: opts.fromBeginning ? 'earliest' : reset === 'earliest' || reset === 'none' ? reset : 'latest',
    allowAutoTopicCreation: props['allow.auto.create.topics'] === undefined ? true : bool(props['allow.auto.create.topics'], true),
  };
  const consumer = new Consumer(consumerOpts);
  // --group (or group.id): subscribe as a member of the group and commit as it goes (auto commit).
  const groupId = opts.group !== undefined ? String(opts.group) : props['group.id'];
  let groupConsumer: GroupConsumer | undefined;
  const groupOptions = (topics: string[]): GroupConsumerOptions => ({
    ...consumerOpts,
    groupId: groupId!,
    topics,
    autoOffsetReset: opts.fromBeginning ? 'earliest' : reset === 'earliest' || reset === 'none' ? reset : 'latest',
    groupInstanceId: props['group.instance.id'] ?? null,
    sessionTimeoutMs: num('session.timeout.ms', 1),
    rebalanceTimeoutMs: num('max.poll.interval.ms', 1),
    heartbeatIntervalMs: num('heartbeat.interval.ms', 1),
    autoCommit: bool(props['enable.auto.commit'], true),
    autoCommitIntervalMs: num('auto.commit.interval.ms', 0),
    assignors: props['partition.assignment.strategy']?.split(',').map((a) => a.trim()).filter((a) => a !== ''),
  });

  let stopping = false;
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) process.exit(130);
    stopping = true;
    if (!groupConsumer) void consumer.close();
    void cluster.close(); // ends a fetch that is waiting on the broker
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let count = 0;
  let lastActivity = Date.now();
  const timedOut = (): boolean => timeoutMs !== undefined && Date.now() - lastActivity >= timeoutMs;
  let warned = false;
  try {
    // Assign partitions, waiting for the topic to exist (as Kafka's consumer does) within --timeout-ms.
    for (;;) {
      if (stopping || timedOut()) return 0;
      try {
        if (groupId !== undefined) {
          let names: string[];
          if (includeRe) {
            const md = await cluster.refreshMetadata(null);
            names = [...md.topics.values()].filter((t) => !t.isInternal && includeRe!.test(t.name)).map((t) => t.name).sort();
            if (names.length === 0) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `no topic matches '${include}'`);
          } else {
            await cluster.topicMetadata(topic!, { refresh: true, allowAutoTopicCreation: consumerOpts.allowAutoTopicCreation });
            names = [topic!];
          }
          groupConsumer = new GroupConsumer(groupOptions(names));
          await groupConsumer.ensureJoined();
        } else if (includeRe) {
          const md = await cluster.refreshMetadata(null);
          const names = [...md.topics.values()].filter((t) => !t.isInternal && includeRe!.test(t.name)).map((t) => t.name).sort();
          if (names.length === 0) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `no topic matches '${include}'`);
          for (const n of names) await consumer.assignTopic(n, startOffset);
        } else if (partition !== undefined) {
          const t = await cluster.topicMetadata(topic!, { refresh: true, allowAutoTopicCreation: consumerOpts.allowAutoTopicCreation });
          if (!t.partitions.some((p) => p.partition === partition)) {
            throw new CliError(`Topic '${topic}' has no partition ${partition} (it has ${t.partitions.length})`);
          }
          consumer.assign([{ topic: topic!, partition, offset: startOffset }]);
        } else {
          await consumer.assignTopic(topic!, startOffset);
        }
        break;
      } catch (err) {
        if (!(err instanceof KafkaError) || err.code !== ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || stopping) throw err;
        if (!warned) {
          warn(`${topic !== undefined ? `topic '${topic}' does not exist yet` : err.message}; waiting for it`);
          warned = true;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    lastActivity = Date.now();

    while (!stopping && (maxMessages < 0 || count < maxMessages)) {
      const remaining = timeoutMs === undefined ? undefined : Math.max(10, timeoutMs - (Date.now() - lastActivity));
      const records = groupConsumer
        ? await groupConsumer.poll({ maxWaitMs: remaining, maxRecords: maxMessages < 0 ? undefined : maxMessages - count })
        : await consumer.poll({ maxWaitMs: remaining });
      if (stopping) break;
      if (records.length === 0) {
        if (timedOut()) break;
        continue;
      }
      lastActivity = Date.now();
      const take = maxMessages < 0 ? records.length : Math.min(records.length, maxMessages - count);
      const out: Buffer[] = [];
      for (let i = 0; i < take; i++) {
        const r = records[i]!;
        if (noop) continue;
        const mark = out.length;
        try {
          if (json) out.push(Buffer.from(formatJson(r, fmt), 'utf8'));
          else formatRecord(r, fmt, out);
        } catch (err) {
          // Kafka's ConsoleConsumer: a record the formatter cannot print stops the consumer, or is skipped with
          // --skip-message-on-error (what was already formatted is printed either way)
          out.length = mark;
          const what = `${(err as Error).name}: ${(err as Error).message} (${r.topic}-${r.partition} offset ${r.offset})`;
          if (!skipOnError) {
            count += i;
            if (out.length > 0) await writeOut(Buffer.concat(out));
            throw new CliError(`Error processing message, terminating consumer process: ${what}`);
          }
          process.stderr.write(`ERROR Error processing message, skipping this message: ${what}\n`);
        }
      }
      count += take;
      if (out.length > 0) await writeOut(Buffer.concat(out));
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Closing must go on whatever fails; what failed is said (a failed final commit means the group reads
    // these records again, at-least-once).
    const warnOnClose = (what: string) => (err: unknown) =>
      process.stderr.write(`Warning: ${what} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await groupConsumer?.close().catch(warnOnClose('committing offsets and leaving the group'));
    await consumer.close().catch(warnOnClose('closing the consumer'));
    await cluster.close().catch(warnOnClose('closing the connections'));
    process.stderr.write(`Processed a total of ${count} messages\n`);
  }
}
