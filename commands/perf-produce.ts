/**
 * kfk perf produce (kafka-producer-perf-test.sh): sends --num-records records through the client library's
 * producer (Producer.produce with a callback per record, as Kafka's tool uses KafkaProducer.send with one), at
 * --throughput records/s or as fast as it goes (-1), and prints Kafka's lines: a window every 5 s
 * (`N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`) and the final
 * `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.`
 *
 * Payload as Kafka's: --record-size bytes of random capital letters, made once and sent every time; or records
 * read from --payload-file split at --payload-delimiter, one picked at random per send; or --payload-monotonic
 * (the record's index as text). Latency is from send to acknowledgement, in ms.
 */
import { readFile } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CliError, bootstrapFrom, clientSecurityOf, isSecurityProperty, parseIntFlag, parseKeyValues, readPropertiesFlag, type Opts } from './common.js';
import { producerOptions } from './console-producer.js';
import { ProducerStats, ProgressOutput, Throttle, printMetrics } from './perf-common.js';
import { Producer } from '../src/client/producer.js';

/** Records sent between two yields to the event loop (so the producer's I/O keeps flowing). */
const SEND_CHUNK = 1000;

/** Kafka's payload: `size` random letters A-Z. */
export function randomPayload(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = 65 + Math.floor(Math.random() * 26);
  return b;
}

/** Producer settings Kafka's clients take that kfk's producer does not (yet): refused rather than ignored. */
const UNSUPPORTED: Record<string, (v: string) => boolean> = {
  'enable.idempotence': (v) => v.trim().toLowerCase() === 'true',
};
/** Kafka's ProducerPerformance defaults for a transactional run. */
const DEFAULT_TRANSACTIONAL_ID = 'performance-producer-default-transactional-id';
const DEFAULT_TRANSACTION_DURATION_MS = 3000;
/** Settings that only concern Java (serializers etc.): accepted without effect. */
const JAVA_ONLY = new Set(['key.serializer', 'value.serializer', 'partitioner.class', 'interceptor.classes', 'metric.reporters', 'send.buffer.bytes', 'receive.buffer.bytes', 'max.block.ms', 'metadata.max.age.ms']);
const KNOWN = new Set([
  'bootstrap.servers',
  'client.id',
  'acks',
  'linger.ms',
  'batch.size',
  'retries',
  'retry.backoff.ms',
  'request.timeout.ms',
  'delivery.timeout.ms',
  'max.in.flight.requests.per.connection',
  'buffer.memory',
  'max.request.size',
  'compression.type',
  'security.protocol',
  'enable.idempotence',
  'transactional.id',
  'transaction.timeout.ms',
]);

async function loadPayloads(opts: Opts): Promise<Buffer[] | null> {
  if (opts.payloadFile === undefined) return null;
  const file = String(opts.payloadFile);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(e.code === 'ENOENT' ? `--payload-file: file '${file}' does not exist` : `--payload-file '${file}': ${e.message}`);
  }
  const delimiter = opts.payloadDelimiter === undefined ? '\n' : unescape(String(opts.payloadDelimiter));
  if (delimiter === '') throw new CliError('--payload-delimiter must not be empty');
  // Java's String.split drops trailing empty strings
  const parts = text.split(delimiter);
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0) throw new CliError(`File does not contain any payload: ${file}`);
  process.stdout.write(`Reading payloads from: ${file}\nNumber of messages read: ${parts.length}\n`);
  return parts.map((p) => Buffer.from(p, 'utf8'));
}

/** `\n`, `\t` and `\\` written out on a command line. */
function unescape(s: string): string {
  return s.replace(/\\([nrt\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!);
}

export async function runPerfProduce(opts: Opts): Promise<number> {
  const topic = opts.topic as string | undefined;
  if (!topic) throw new CliError('Missing required option --topic');
  if (opts.numRecords === undefined) throw new CliError('Missing required option --num-records');
  const numRecords = parseIntFlag(opts.numRecords, '--num-records', 1);
  const throughput = opts.throughput === undefined ? -1 : parseIntFlag(opts.throughput, '--throughput', -1);
  const sources = [opts.recordSize !== undefined, opts.payloadFile !== undefined, opts.payloadMonotonic === true].filter(Boolean).length;
  if (sources !== 1) throw new CliError('Exactly one of --record-size, --payload-file or --payload-monotonic is required');
  const recordSize = opts.recordSize === undefined ? 0 : parseIntFlag(opts.recordSize, '--record-size', 0);
  const reportingIntervalMs = opts.reportingInterval === undefined ? 5000 : parseIntFlag(opts.reportingInterval, '--reporting-interval', 1);

  const fileProps = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['producer.config'], '--producer.config')) };
  const props = { ...fileProps, ...parseKeyValues(opts.producerProps as string[] | undefined, '--producer-props') };
  const security = await clientSecurityOf(props);
  for (const [k, v] of Object.entries(props)) {
    if (UNSUPPORTED[k]?.(v)) throw new CliError(`${k}=${v} is not supported by kfk's producer yet`);
    if (!KNOWN.has(k) && !JAVA_ONLY.has(k) && !isSecurityProperty(k)) process.stderr.write(`Warning: the configuration '${k}' was supplied but isn't a known config.\n`);
  }
  const producerOpts = producerOptions(props, {});
  if (props['client.id'] === undefined) producerOpts.clientId = 'perf-producer-client';
  // Transactions as Kafka's perf tool: with a transactional id (flag or transactional.id) or a transaction duration,
  // records are sent in transactions committed every --transaction-duration-ms (default 3000).
  const durationFlag = opts.transactionDurationMs === undefined ? undefined : parseIntFlag(opts.transactionDurationMs, '--transaction-duration-ms', 1);
  const transactionalId = (opts.transactionalId as string | undefined) ?? props['transactional.id'] ?? (durationFlag !== undefined ? DEFAULT_TRANSACTIONAL_ID : undefined);
  const transactionDurationMs = transactionalId !== undefined ? (durationFlag ?? DEFAULT_TRANSACTION_DURATION_MS) : 0;
  if (transactionalId !== undefined) {
    producerOpts.transactionalId = transactionalId;
    if (props['transaction.timeout.ms'] !== undefined) producerOpts.transactionTimeoutMs = parseIntFlag(props['transaction.timeout.ms'], 'transaction.timeout.ms', 1);
  }
  const bootstrap = bootstrapFrom(opts.bootstrapServer, props);

  const payloads = await loadPayloads(opts);
  const fixedPayload = payloads === null && opts.payloadMonotonic !== true ? randomPayload(recordSize) : null;
  const output = new ProgressOutput();
  const producer = new Producer({ ...producerOpts, bootstrap, ...(security ? { security } : {}) });
  let failure: Error | undefined;
  let stats: ProducerStats | undefined;
  let progress: NodeJS.Timeout | undefined;
  try {
    // Metadata first (as KafkaProducer's first send waits for it), so the clock starts with the sending.
    await producer.partitionsFor(topic);
    if (transactionalId !== undefined) await producer.initTransactions();
    let transactionStart = -1;
    stats = new ProducerStats(numRecords, reportingIntervalMs, output);
    const s = stats;
    const throttle = new Throttle(throughput);
    if (output.isTTY) {
      progress = setInterval(() => output.bar(s.count, numRecords, `${s.count}/${numRecords} records acknowledged`), 250);
      progress.unref();
    }
    for (let i = 0; i < numRecords && !failure; i++) {
      if (transactionalId !== undefined && transactionStart < 0) {
        producer.beginTransaction();
        transactionStart = Date.now();
      }
      const value = fixedPayload ?? (payloads ? payloads[Math.floor(Math.random() * payloads.length)]! : Buffer.from(String(i)));
      const sendStart = Date.now();
      const bytes = value.length;
      // the send time is the record's timestamp too (what the producer would take), read once
      producer.produce(topic, { value, timestamp: sendStart }, (err) => {
        const now = Date.now();
        if (err) {
          failure ??= err;
          return;
        }
        s.record(now - sendStart, bytes, now);
      });
      if (!throttle.unthrottled) await throttle.wait(i + 1);
      else if ((i + 1) % SEND_CHUNK === 0) {
        await producer.waitForBufferSpace();
        await yieldToLoop();
      }
      if (transactionStart >= 0 && Date.now() - transactionStart >= transactionDurationMs) {
        await producer.commitTransaction();
        transactionStart = -1;
      }
    }
    if (transactionStart >= 0 && !failure) await producer.commitTransaction();
    await producer.flush();
  } catch (err) {
    failure ??= err as Error;
  } finally {
    if (progress) clearInterval(progress);
    output.clearBar();
    await producer.close().catch(() => {});
  }
  if (stats) output.line(stats.totalLine());
  if (opts.printMetrics === true) {
    const clientId = producerOpts.clientId ?? 'perf-producer-client';
    printMetrics(
      Object.entries(producer.metrics()).map(([name, value]) => [`producer-metrics:${name}:{client-id=${clientId}}`, value]),
      (line) => output.line(line),
    );
  }
  if (failure) {
    const note = stats ? ` (${numRecords - stats.count} of ${numRecords} records not acknowledged)` : '';
    throw new CliError(`${failure.message}${note}`);
  }
  return 0;
}
