/**
 * kfk perf consume (kafka-consumer-perf-test.sh): a group consumer reads --messages records of --topic (from the
 * earliest offset, or the latest with --from-latest) through the client library's consumer (pollEach: no object
 * per record) and prints Kafka's CSV:
 *
 *   start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
 *
 * or, with --show-detailed-stats, one row per --reporting-interval (time, threadId, ...). Bytes are the keys' and
 * values' lengths, MB are MiB, rebalance.time.ms is the time spent joining the group and fetch.time.ms the rest,
 * as in Kafka's tool. It stops after --timeout ms without a record (with Kafka's warning on standard error).
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, parseKeyValues, readPropertiesFlag, type Opts } from './common.js';
import { MIB, fixed, formatDate, printMetrics } from './perf-common.js';
import { GroupConsumer } from '../src/client/group-consumer.js';
import type { RecordView } from '../src/client/record-view.js';

const HEADER = 'data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec';
/** How long one poll may wait for records (Kafka's tool polls with 100 ms). */
const POLL_MS = 100;

function consumerNumber(props: Record<string, string>, name: string, min = 0): number | undefined {
  const v = props[name];
  return v === undefined ? undefined : parseIntFlag(v, name, min);
}

export async function runPerfConsume(opts: Opts): Promise<number> {
  const topic = opts.topic as string | undefined;
  if (!topic) throw new CliError('Missing required option --topic');
  if (opts.messages === undefined) throw new CliError('Missing required option --messages');
  const messages = parseIntFlag(opts.messages, '--messages', 1);
  const fetchSize = opts.fetchSize === undefined ? 1024 * 1024 : parseIntFlag(opts.fetchSize, '--fetch-size', 1);
  const timeoutMs = opts.timeout === undefined ? 10_000 : parseIntFlag(opts.timeout, '--timeout', 1);
  const reportingIntervalMs = opts.reportingInterval === undefined ? 5000 : parseIntFlag(opts.reportingInterval, '--reporting-interval', 1);
  const dateFormat = opts.dateFormat === undefined ? undefined : String(opts.dateFormat);
  const detailed = opts.showDetailedStats === true;

  const fileProps = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['consumer.config'], '--consumer.config')) };
  const props = { ...fileProps, ...parseKeyValues(opts.consumerProperty as string[] | undefined, '--consumer-property') };
  const security = await clientSecurityOf(props);
  const groupId = (opts.group as string | undefined) ?? props['group.id'] ?? `perf-consumer-${Math.floor(Math.random() * 100_000)}`;
  const isolation = props['isolation.level'];
  if (isolation !== undefined && isolation !== 'read_committed' && isolation !== 'read_uncommitted') {
    throw new CliError(`invalid isolation.level '${isolation}': expected read_committed or read_uncommitted`);
  }
  const consumer = new GroupConsumer({
    bootstrap: bootstrapFrom(opts.bootstrapServer, props),
    clientId: props['client.id'] ?? 'perf-consumer-client',
    ...(security ? { security } : {}),
    groupId,
    topics: [topic],
    autoOffsetReset: opts.fromLatest === true ? 'latest' : 'earliest',
    maxPartitionBytes: fetchSize,
    maxBytes: consumerNumber(props, 'fetch.max.bytes', 1),
    minBytes: consumerNumber(props, 'fetch.min.bytes', 0),
    maxWaitMs: consumerNumber(props, 'fetch.max.wait.ms', 0),
    sessionTimeoutMs: consumerNumber(props, 'session.timeout.ms', 1),
    isolationLevel: isolation as 'read_committed' | 'read_uncommitted' | undefined,
  });

  if (opts.hideHeader !== true) {
    process.stdout.write(detailed ? `time, threadId, ${HEADER}\n` : `start.time, end.time, ${HEADER}\n`);
  }
  let messagesRead = 0;
  let bytesRead = 0;
  const count = (r: RecordView): void => {
    messagesRead++;
    if (r.keyLength > 0) bytesRead += r.keyLength;
    if (r.valueLength > 0) bytesRead += r.valueLength;
  };

  const startMs = Date.now();
  let lastConsumed = startMs;
  let lastReport = startMs;
  let lastBytes = 0;
  let lastMessages = 0;
  let lastRebalance = 0;
  let endMs = startMs;
  // On a terminal: a progress bar on stderr (stdout keeps Kafka's CSV)
  const tty = process.stderr.isTTY === true ? await import('./tty.js') : undefined;
  const progress = tty ? new tty.Progress(process.stderr) : undefined;
  try {
    for (;;) {
      const now = Date.now();
      if (messagesRead >= messages || now - lastConsumed > timeoutMs) break;
      const n = await consumer.pollEach(count, { maxWaitMs: POLL_MS });
      endMs = Date.now();
      if (tty && progress) progress.update(`${tty.bar(messagesRead / messages)} ${messagesRead}/${messages} records consumed`);
      if (n > 0) lastConsumed = endMs;
      if (detailed && endMs - lastReport >= reportingIntervalMs) {
        const rebalance = consumer.rebalanceTimeMs - lastRebalance;
        process.stdout.write(progressRow(endMs, lastReport, bytesRead, lastBytes, messagesRead, lastMessages, rebalance, dateFormat));
        lastReport = endMs;
        lastBytes = bytesRead;
        lastMessages = messagesRead;
        lastRebalance = consumer.rebalanceTimeMs;
      }
    }
    progress?.done();
    if (messagesRead < messages) {
      process.stderr.write(
        `WARNING: Exiting before consuming the expected number of messages: timeout (${timeoutMs} ms) exceeded. You can use the --timeout option to increase the timeout.\n`,
      );
    }
  } finally {
    endMs = Date.now();
    const metrics = opts.printMetrics === true ? consumer.consumer.metrics() : undefined;
    await consumer.close().catch(() => {});
    if (!detailed) {
      const elapsedSec = Math.max(1, endMs - startMs) / 1000;
      const rebalanceMs = consumer.rebalanceTimeMs;
      const fetchMs = Math.max(1, endMs - startMs - rebalanceMs);
      const mb = bytesRead / MIB;
      process.stdout.write(
        [
          formatDate(startMs, dateFormat),
          formatDate(endMs, dateFormat),
          fixed(mb, 4),
          fixed(mb / elapsedSec, 4),
          String(messagesRead),
          fixed(messagesRead / elapsedSec, 4),
          String(rebalanceMs),
          String(fetchMs),
          fixed(mb / (fetchMs / 1000), 4),
          fixed(messagesRead / (fetchMs / 1000), 4),
        ].join(', ') + '\n',
      );
    }
    if (metrics) {
      metrics['records-consumed-total'] = messagesRead;
      metrics['bytes-consumed-total'] = bytesRead;
      printMetrics(
        Object.entries(metrics).map(([name, value]) => [`consumer-fetch-manager-metrics:${name}:{client-id=${props['client.id'] ?? 'perf-consumer-client'}}`, value]),
        (line) => process.stdout.write(`${line}\n`),
      );
    }
  }
  return 0;
}

/** One --show-detailed-stats row (Kafka's printConsumerProgress, thread id 0). */
function progressRow(
  endMs: number,
  startMs: number,
  bytes: number,
  lastBytes: number,
  messages: number,
  lastMessages: number,
  rebalanceMs: number,
  dateFormat: string | undefined,
): string {
  const elapsedMs = Math.max(1, endMs - startMs);
  const intervalMb = (bytes - lastBytes) / MIB;
  const intervalMessages = messages - lastMessages;
  const fetchMs = Math.max(1, elapsedMs - rebalanceMs);
  return (
    [
      formatDate(endMs, dateFormat),
      '0',
      fixed(bytes / MIB, 4),
      fixed((1000 * intervalMb) / elapsedMs, 4),
      String(messages),
      fixed((1000 * intervalMessages) / elapsedMs, 4),
      String(rebalanceMs),
      String(fetchMs),
      fixed((1000 * intervalMb) / fetchMs, 4),
      fixed((1000 * intervalMessages) / fetchMs, 4),
    ].join(', ') + '\n'
  );
}
