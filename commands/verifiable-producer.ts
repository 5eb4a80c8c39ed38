/**
 * kfk verifiable-producer (kafka-verifiable-producer.sh, the tool Kafka's system tests drive): produces
 * sequential integers as values and reports every acknowledgement as a JSON line on stdout.
 *
 *   --topic T --max-messages N (default -1: until stopped) --throughput R (records/s, -1: no limit) --acks A
 *   --value-prefix P (values "P.0", "P.1", ...) --repeating-keys K (keys "0".."K-1" in turn; default: no key)
 *   --message-create-time MS (record timestamps start there) --producer.config F --command-config F
 *
 * Events, one JSON object per line, as Kafka's VerifiableProducer prints them:
 *   {"timestamp":..,"name":"startup_complete"}
 *   {"timestamp":..,"name":"producer_send_success","key":null,"value":"0","topic":"t","partition":0,"offset":0}
 *   {"timestamp":..,"name":"producer_send_error","exception":"..","message":"..","topic":"t","key":null,"value":"1"}
 *   {"timestamp":..,"name":"shutdown_complete"}
 *   {"timestamp":..,"name":"tool_data","sent":N,"acked":N,"target_throughput":R,"avg_throughput":X}
 * SIGTERM or SIGINT stops sending, waits for what is in flight, then prints the last two events.
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, writeOut, stopOnSignals, type Opts } from './common.js';

function event(name: string, fields: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ timestamp: Date.now(), name, ...fields })}\n`;
}

export async function runVerifiableProducer(opts: Opts): Promise<number> {
  if (opts.topic === undefined) throw new CliError('Missing required option(s): topic');
  const topic = String(opts.topic);
  const maxMessages = opts.maxMessages === undefined ? -1 : parseIntFlag(opts.maxMessages, '--max-messages', -1);
  const throughput = opts.throughput === undefined ? -1 : parseIntFlag(opts.throughput, '--throughput', -1);
  const acks = String(opts.acks ?? '-1');
  if (!['-1', '0', '1', 'all'].includes(acks)) throw new CliError(`--acks must be -1, 0, 1 or all (got '${acks}')`);
  const repeatingKeys = opts.repeatingKeys === undefined ? undefined : parseIntFlag(opts.repeatingKeys, '--repeating-keys', 1);
  const createTime = opts.messageCreateTime === undefined ? undefined : parseIntFlag(opts.messageCreateTime, '--message-create-time', 0);
  const prefix = opts.valuePrefix === undefined ? undefined : String(opts.valuePrefix);
  const props = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['producer.config'], '--producer.config')) };
  const security = await clientSecurityOf(props);
  const { Producer } = await import('../src/client/producer.js');
  const producer = new Producer({
    bootstrap: bootstrapFrom(opts.bootstrapServer ?? opts.brokerList, props),
    clientId: props['client.id'] ?? 'kfk-verifiable-producer',
    acks: acks as '-1' | '0' | '1' | 'all',
    ...(props['linger.ms'] !== undefined ? { lingerMs: Number(props['linger.ms']) } : {}),
    ...(props['batch.size'] !== undefined ? { batchSize: Number(props['batch.size']) } : {}),
    ...(props['retries'] !== undefined ? { retries: Number(props['retries']) } : {}),
    ...(security ? { security } : {}),
  });

  const signals = stopOnSignals();

  let sent = 0;
  let acked = 0;
  const start = Date.now();
  const inFlight = new Set<Promise<void>>();
  await writeOut(event('startup_complete'));
  try {
    let keyCounter = 0;
    while (!signals.stopped && (maxMessages < 0 || sent < maxMessages)) {
      if (throughput > 0) {
        // pace to the target rate: record n goes out no earlier than n / rate seconds after the start
        const due = start + (sent * 1000) / throughput;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (signals.stopped) break;
      }
      const value = prefix === undefined ? String(sent) : `${prefix}.${sent}`;
      let key: string | null = null;
      if (repeatingKeys !== undefined) {
        key = String(keyCounter);
        keyCounter = (keyCounter + 1) % repeatingKeys;
      }
      const record = { key, value, ...(createTime !== undefined ? { timestamp: createTime + (Date.now() - start) } : {}) };
      sent++;
      const p = producer.send(topic, record).then(
        (md) => {
          acked++;
          process.stdout.write(event('producer_send_success', { key, value, topic, partition: md.partition, offset: md.offset }));
        },
        (err: unknown) => {
          const e = err as Error;
          process.stdout.write(event('producer_send_error', { exception: e?.name ?? 'Error', message: e?.message ?? String(err), topic, key, value }));
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 10000) await Promise.race(inFlight);
      // let acknowledgements print and signals arrive between sends
      if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await producer.flush();
    await Promise.all(inFlight);
  } finally {
    await producer.close().catch(() => undefined);
    signals.dispose();
  }
  const seconds = (Date.now() - start) / 1000;
  await writeOut(
    event('shutdown_complete') +
      event('tool_data', { sent, acked, target_throughput: throughput, avg_throughput: seconds > 0 ? sent / seconds : 0 }),
  );
  return 0;
}
