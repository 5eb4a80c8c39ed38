/**
 * `kfk transactions` (kafka-transactions.sh): `--bootstrap-server` (and `--command-config`) then a subcommand, with
 * Kafka's columns (each padded to its widest value and followed by a tab, as Kafka's prettyPrintTable):
 *
 *   list                 TransactionalId Coordinator ProducerId TransactionState (every broker's transactions)
 *   describe             --transactional-id T: CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState
 *                        TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions
 *   describe-producers   --topic T --partition P [--broker-id B]: ProducerId ProducerEpoch LatestCoordinatorEpoch
 *                        LastSequence LastTimestamp CurrentTransactionStartOffset
 *   abort                --topic T --partition P and either --start-offset O (the producer whose open transaction
 *                        starts there, found with DescribeProducers) or --producer-id, --producer-epoch and
 *                        --coordinator-epoch: writes an ABORT marker on that partition (WriteTxnMarkers)
 *   find-hanging         --broker-id B or --topic T [--partition P], [--max-transaction-timeout minutes, default 15]:
 *                        open transactions on partitions older than the timeout that their coordinator does not know
 *                        (or knows without that partition): Topic Partition ProducerId ProducerEpoch CoordinatorEpoch
 *                        StartOffset LastTimestamp Duration(min)
 *
 * Values Kafka prints as absent (no coordinator epoch, no open transaction, no start time) are `None`.
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, writeOut, type Opts } from './common.js';
import { createAdmin, type Admin, type ProducerStateDescription } from '../src/client/admin.js';
import { ErrorCode, KafkaError } from '../src/protocol/errors.js';

/** Kafka's ToolsUtils.prettyPrintTable: every column left-aligned to its widest cell, then a tab. */
export function prettyPrintTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (row: readonly string[]) => row.map((cell, i) => `${cell.padEnd(widths[i]!)}\t`).join('') + '\n';
  return line(headers) + rows.map(line).join('');
}

const none = (n: number): string => (n < 0 ? 'None' : String(n));

async function adminFrom(opts: Opts): Promise<Admin> {
  const props = await readPropertiesFlag(opts.commandConfig, '--command-config');
  const security = await clientSecurityOf(props);
  return createAdmin({ bootstrap: bootstrapFrom(opts.bootstrapServer, props), clientId: props['client.id'] ?? 'kfk-transactions', ...(security ? { security } : {}) });
}

function required(opts: Opts, key: string, flag: string): string {
  const v = opts[key];
  if (v === undefined || v === null || v === '') throw new CliError(`Missing required argument "${flag}"`);
  return String(v);
}

export async function runTransactions(sub: string, opts: Opts): Promise<number> {
  const admin = await adminFrom(opts);
  try {
    switch (sub) {
      case 'list':
        return await list(admin);
      case 'describe':
        return await describe(admin, opts);
      case 'describe-producers':
        return await describeProducers(admin, opts);
      case 'abort':
        return await abort(admin, opts);
      case 'find-hanging':
        return await findHanging(admin, opts);
      default:
        throw new CliError(`unknown subcommand '${sub}' (list, describe, describe-producers, abort, find-hanging)`);
    }
  } finally {
    await admin.close();
  }
}

async function list(admin: Admin): Promise<number> {
  const rows = (await admin.listTransactions()).map((t) => [t.transactionalId, String(t.coordinatorId), String(t.producerId), t.state]);
  await writeOut(prettyPrintTable(['TransactionalId', 'Coordinator', 'ProducerId', 'TransactionState'], rows));
  return 0;
}

async function describe(admin: Admin, opts: Opts): Promise<number> {
  const id = required(opts, 'transactionalId', '--transactional-id');
  let d;
  try {
    [d] = await admin.describeTransactions([id]);
  } catch (err) {
    if (err instanceof KafkaError && err.code === ErrorCode.TRANSACTIONAL_ID_NOT_FOUND) throw new CliError(`transactional id '${id}' does not exist`);
    throw err;
  }
  const t = d!;
  const started = t.transactionStartTimeMs >= 0;
  const row = [
    String(t.coordinatorId),
    t.transactionalId,
    String(t.producerId),
    String(t.producerEpoch),
    t.state,
    String(t.transactionTimeoutMs),
    started ? String(t.transactionStartTimeMs) : 'None',
    started ? String(Date.now() - t.transactionStartTimeMs) : 'None',
    t.topicPartitions.map((p) => `${p.topic}-${p.partition}`).join(','),
  ];
  await writeOut(
    prettyPrintTable(
      ['CoordinatorId', 'TransactionalId', 'ProducerId', 'ProducerEpoch', 'TransactionState', 'TransactionTimeoutMs', 'CurrentTransactionStartTimeMs', 'TransactionDurationMs', 'TopicPartitions'],
      [row],
    ),
  );
  return 0;
}

function brokerIdOf(opts: Opts): number | undefined {
  return opts.brokerId === undefined ? undefined : parseIntFlag(opts.brokerId, '--broker-id', 0);
}

async function describeProducers(admin: Admin, opts: Opts): Promise<number> {
  const topic = required(opts, 'topic', '--topic');
  const partition = parseIntFlag(required(opts, 'partition', '--partition'), '--partition', 0);
  const producers = await admin.describeProducers(topic, partition, brokerIdOf(opts));
  const rows = producers.map((p) => [
    String(p.producerId),
    String(p.producerEpoch),
    none(p.coordinatorEpoch),
    String(p.lastSequence),
    String(p.lastTimestamp),
    none(p.currentTransactionStartOffset),
  ]);
  await writeOut(prettyPrintTable(['ProducerId', 'ProducerEpoch', 'LatestCoordinatorEpoch', 'LastSequence', 'LastTimestamp', 'CurrentTransactionStartOffset'], rows));
  return 0;
}

async function abort(admin: Admin, opts: Opts): Promise<number> {
  const topic = required(opts, 'topic', '--topic');
  const partition = parseIntFlag(required(opts, 'partition', '--partition'), '--partition', 0);
  let spec;
  if (opts.startOffset !== undefined) {
    if (opts.producerId !== undefined || opts.producerEpoch !== undefined || opts.coordinatorEpoch !== undefined) {
      throw new CliError('--start-offset cannot be combined with --producer-id, --producer-epoch or --coordinator-epoch');
    }
    const startOffset = parseIntFlag(opts.startOffset, '--start-offset', 0);
    const producers = await admin.describeProducers(topic, partition);
    const match = producers.filter((p) => p.currentTransactionStartOffset === startOffset);
    if (match.length === 0) throw new CliError(`Could not find any open transactions starting at offset ${startOffset} on partition ${topic}-${partition}`);
    if (match.length > 1) throw new CliError(`Found ${match.length} open transactions starting at offset ${startOffset} on partition ${topic}-${partition}`);
    const p = match[0]!;
    spec = { topic, partition, producerId: p.producerId, producerEpoch: p.producerEpoch, coordinatorEpoch: Math.max(0, p.coordinatorEpoch) };
  } else {
    spec = {
      topic,
      partition,
      producerId: parseIntFlag(required(opts, 'producerId', '--producer-id'), '--producer-id', 0),
      producerEpoch: parseIntFlag(required(opts, 'producerEpoch', '--producer-epoch'), '--producer-epoch', 0),
      coordinatorEpoch: parseIntFlag(required(opts, 'coordinatorEpoch', '--coordinator-epoch'), '--coordinator-epoch', 0),
    };
  }
  await admin.abortTransaction(spec);
  return 0;
}

interface OpenTransaction {
  topic: string;
  partition: number;
  producer: ProducerStateDescription;
}

async function findHanging(admin: Admin, opts: Opts): Promise<number> {
  const brokerId = brokerIdOf(opts);
  const topic = opts.topic === undefined ? undefined : String(opts.topic);
  const onePartition = opts.partition === undefined ? undefined : parseIntFlag(opts.partition, '--partition', 0);
  if ((brokerId === undefined) === (topic === undefined)) throw new CliError('find-hanging needs either --broker-id or --topic');
  if (onePartition !== undefined && topic === undefined) throw new CliError('--partition needs --topic');
  const maxMinutes = opts.maxTransactionTimeout === undefined ? 15 : parseIntFlag(opts.maxTransactionTimeout, '--max-transaction-timeout', 0);
  const maxMs = maxMinutes * 60_000;

  // 1. open transactions on the partitions asked about (Kafka's collectCandidateOpenTransactions)
  const partitions: { topic: string; partition: number }[] = [];
  if (topic !== undefined) {
    if (onePartition !== undefined) partitions.push({ topic, partition: onePartition });
    else for (const p of (await admin.describeTopics([topic]))[0]!.partitions) partitions.push({ topic, partition: p.partition });
  } else {
    for (const t of await admin.describeTopics()) for (const p of t.partitions) if (p.replicas.includes(brokerId!)) partitions.push({ topic: t.name, partition: p.partition });
  }
  const open: OpenTransaction[] = [];
  for (const tp of partitions) {
    for (const producer of await admin.describeProducers(tp.topic, tp.partition, brokerId)) {
      if (producer.currentTransactionStartOffset >= 0) open.push({ ...tp, producer });
    }
  }
  // 2. what their coordinators know (ListTransactions by producer id, then DescribeTransactions)
  const now = Date.now();
  const expired = (t: OpenTransaction) => now - t.producer.lastTimestamp > maxMs;
  const byProducer = new Map<number, OpenTransaction[]>();
  for (const t of open) byProducer.set(t.producer.producerId, [...(byProducer.get(t.producer.producerId) ?? []), t]);
  const hanging: OpenTransaction[] = [];
  if (byProducer.size > 0) {
    const listings = await admin.listTransactions({ producerIds: [...byProducer.keys()] });
    const idOf = new Map(listings.map((l) => [l.producerId, l.transactionalId]));
    for (const [producerId, txns] of byProducer) {
      const id = idOf.get(producerId);
      let description;
      if (id !== undefined) {
        try {
          [description] = await admin.describeTransactions([id]);
        } catch (err) {
          if (!(err instanceof KafkaError && err.code === ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)) throw err;
        }
      }
      for (const t of txns) {
        const known =
          description !== undefined &&
          description.producerId === producerId &&
          description.producerEpoch === t.producer.producerEpoch &&
          description.topicPartitions.some((p) => p.topic === t.topic && p.partition === t.partition);
        if (!known && expired(t)) hanging.push(t);
      }
    }
  }
  const rows = hanging.map((t) => [
    t.topic,
    String(t.partition),
    String(t.producer.producerId),
    String(t.producer.producerEpoch),
    none(t.producer.coordinatorEpoch),
    String(t.producer.currentTransactionStartOffset),
    String(t.producer.lastTimestamp),
    String(Math.floor((now - t.producer.lastTimestamp) / 60_000)),
  ]);
  await writeOut(prettyPrintTable(['Topic', 'Partition', 'ProducerId', 'ProducerEpoch', 'CoordinatorEpoch', 'StartOffset', 'LastTimestamp', 'Duration(min)'], rows));
  return 0;
}
