/**
 * kfk perf e2e (Kafka's EndToEndLatency, kafka-e2e-latency.sh): the time from sending a record to a consumer
 * receiving it, through the client library's producer (linger.ms=0) and consumer (assigned to every partition at
 * its end). Without --throughput it works as Kafka's tool: send one record, wait until it is consumed, repeat.
 * With --throughput N it sends N records/s without waiting (each carries its index) while the consumer
 * receives them, so latency is measured under a steady load.
 *
 * Kafka's output: `i<TAB>latency-ms` every 1000 records, then `Avg latency: X ms` and
 * `Percentiles: 50th = A, 99th = B, 99.9th = C` (whole ms, as Kafka's), then the same with µs precision.
 * Kafka's positional form also works: `kfk perf e2e broker_list topic num_messages producer_acks message_size_bytes [properties_file]`.
 */
import type { ClientSecurity } from '../src/security/client-security.js';
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, type Opts } from './common.js';
import { Throttle, fixed, percentiles } from './perf-common.js';
import { randomPayload } from './perf-produce.js';
import { Producer, normalizeAcks, type Acks } from '../src/client/producer.js';
import { Consumer } from '../src/client/consumer.js';
import type { RecordView } from '../src/client/record-view.js';

interface E2eSettings {
  bootstrap: string;
  topic: string;
  numRecords: number;
  acks: Acks;
  recordSize: number;
  throughput: number;
  warmupRecords: number;
  props: Record<string, string>;
  security: ClientSecurity | undefined;
}

async function settings(opts: Opts, args: readonly string[]): Promise<E2eSettings> {
  if (args.length > 0 && (args.length < 5 || args.length > 6)) {
    throw new CliError('USAGE: kfk perf e2e broker_list topic num_messages producer_acks message_size_bytes [properties_file] (or the --flags, see --help)');
  }
  const [brokerList, posTopic, posNum, posAcks, posSize, posProps] = args;
  const props = await readPropertiesFlag(posProps ?? opts.commandConfig ?? opts['producer.config'], posProps ? 'properties_file' : '--command-config');
  const security = await clientSecurityOf(props);
  const topic = posTopic ?? (opts.topic as string | undefined);
  if (!topic) throw new CliError('Missing required option --topic');
  const numRaw = posNum ?? opts.numRecords;
  if (numRaw === undefined) throw new CliError('Missing required option --num-records');
  const acksRaw = String(posAcks ?? opts.producerAcks ?? '1').trim();
  let acks: Acks;
  try {
    acks = normalizeAcks(acksRaw as '0' | '1' | '-1' | 'all');
  } catch {
    throw new CliError(`invalid producer acks '${acksRaw}': expected 0, 1, -1 or all`);
  }
  if (acks === 0) throw new CliError('producer acks 0 is not useful here: the latency starts at the send and ends at the consume');
  return {
    bootstrap: brokerList ?? bootstrapFrom(opts.bootstrapServer, props),
    topic,
    numRecords: parseIntFlag(numRaw, '--num-records', 1),
    acks,
    recordSize: parseIntFlag(posSize ?? opts.recordSize ?? 100, '--record-size', 8),
    throughput: opts.throughput === undefined ? -1 : parseIntFlag(opts.throughput, '--throughput', -1),
    warmupRecords: opts.warmupRecords === undefined ? 0 : parseIntFlag(opts.warmupRecords, '--warmup-records', 0),
    props,
    security,
  };
}

export async function runPerfE2e(opts: Opts, args: readonly string[] = []): Promise<number> {
  const s = await settings(opts, args);
  const producer = new Producer({ bootstrap: s.bootstrap, clientId: 'perf-e2e-producer', acks: s.acks, lingerMs: 0, ...(s.security ? { security: s.security } : {}) });
  const consumer = new Consumer({ bootstrap: s.bootstrap, clientId: 'perf-e2e-consumer', maxWaitMs: 500, minBytes: 1, ...(s.security ? { security: s.security } : {}) });
  // warm-up records (connections made, code optimized) go first and are not counted
  const warmup = s.warmupRecords;
  const n = warmup + s.numRecords;
  const sentAt = new Float64Array(n);
  const latencies = new Float64Array(n);
  const received = new Uint8Array(n);
  let receivedCount = 0;
  let unexpected = 0;
  let failure: Error | undefined;
  // Each record's value: its index (uint32) then random letters, so a received record names its own send time.
  const template = randomPayload(s.recordSize);
  let waiter: { index: number; resolve: () => void } | undefined;

  const onRecord = (r: RecordView): void => {
    const now = performance.now();
    const value = r.value;
    const index = value && value.length === s.recordSize ? value.readUInt32BE(0) : -1;
    if (index < 0 || index >= n || received[index] === 1 || sentAt[index] === 0) {
      unexpected++;
      return;
    }
    received[index] = 1;
    receivedCount++;
    const latency = now - sentAt[index]!;
    latencies[index] = latency;
    if (index >= warmup && (index - warmup) % 1000 === 0) process.stdout.write(`${index - warmup}\t${latency}\n`);
    if (waiter && waiter.index === index) {
      const w = waiter;
      waiter = undefined;
      w.resolve();
    }
  };

  let consuming = true;
  let consumeLoop: Promise<void> = Promise.resolve();
  try {
    const partitions = await producer.partitionsFor(s.topic);
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: s.topic, partition, offset: 'latest' as const })));
    await consumer.poll({ maxWaitMs: 0 }); // resolves the end offsets before the first send (Kafka's seekToEnd)
    consumeLoop = (async () => {
      while (consuming && !failure) await consumer.pollEach(onRecord, { maxWaitMs: 100 });
    })().catch((err: unknown) => {
      failure ??= err as Error;
      waiter?.resolve();
    });
    const throttle = new Throttle(s.throughput);
    for (let i = 0; i < n && !failure; i++) {
      const value = Buffer.from(template);
      value.writeUInt32BE(i, 0);
      const arrived = throttle.unthrottled ? new Promise<void>((resolve) => (waiter = { index: i, resolve })) : undefined;
      sentAt[i] = performance.now();
      producer.produce(s.topic, { value }, (err) => {
        if (err) {
          failure ??= err;
          waiter?.resolve();
        }
      });
      if (arrived) await arrived;
      else await throttle.wait(i + 1);
    }
    await producer.flush();
    // wait for the last records (throttled mode): until all arrived or the consumer goes quiet for 10 s
    let seen = receivedCount;
    let quietSince = Date.now();
    while (receivedCount < n && !failure && Date.now() - quietSince < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (receivedCount !== seen) {
        seen = receivedCount;
        quietSince = Date.now();
      }
    }
  } finally {
    consuming = false;
    await consumeLoop;
    await producer.close().catch(() => {});
    await consumer.close().catch(() => {});
  }
  if (failure) throw new CliError(failure.message);
  if (receivedCount < n) throw new CliError(`only ${receivedCount} of ${n} records were consumed (within 10 s of the last one)`);
  if (unexpected > 0) process.stderr.write(`Warning: ${unexpected} records on the topic were not sent by this run (ignored)\n`);

  const measured = latencies.subarray(warmup);
  const m = measured.length;
  let total = 0;
  for (let i = 0; i < m; i++) total += measured[i]!;
  const whole = Int32Array.from(measured, (v) => Math.floor(v));
  const [p50, p99, p999] = percentiles(whole, m, [0.5, 0.99, 0.999]);
  process.stdout.write(`Avg latency: ${fixed(total / m, 4)} ms\n`);
  process.stdout.write(`Percentiles: 50th = ${p50}, 99th = ${p99}, 99.9th = ${p999}\n`);
  const [q50, q99, q999, max] = percentiles(measured, m, [0.5, 0.99, 0.999, 1]);
  process.stdout.write(
    `Latency (ms): avg ${fixed(total / m, 3)}, 50th ${fixed(q50!, 3)}, 99th ${fixed(q99!, 3)}, 99.9th ${fixed(q999!, 3)}, max ${fixed(max!, 3)}` +
      (s.throughput > 0 ? ` at ${s.throughput} records/s\n` : ' (one record at a time)\n'),
  );
  return 0;
}
