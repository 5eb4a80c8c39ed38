/**
 * kfk verifiable-consumer (kafka-verifiable-consumer.sh, the tool Kafka's system tests drive): a group member
 * that reports what it is assigned, consumes and commits as JSON lines on stdout.
 *
 *   --topic T --group-id G [--group-instance-id I] [--max-messages N] [--session-timeout MS] [--enable-autocommit]
 *   [--reset-policy earliest|latest|none] [--assignment-strategy range|roundrobin|sticky|cooperative-sticky class names]
 *   [--verbose] [--consumer.config F] [--command-config F]
 *
 * Events, as Kafka's VerifiableConsumer prints them:
 *   {"timestamp":..,"name":"startup_complete"}
 *   {"timestamp":..,"name":"partitions_revoked","partitions":[{"topic":"t","partition":0}]}
 *   {"timestamp":..,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}
 *   {"timestamp":..,"name":"records_consumed","count":N,"partitions":[{"topic":"t","partition":0,"count":N,"minOffset":a,"maxOffset":b}]}
 *   {"timestamp":..,"name":"record_data","key":..,"value":..,"topic":"t","partition":0,"offset":a}   (--verbose)
 *   {"timestamp":..,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":b+1}],"success":true}
 *   {"timestamp":..,"name":"shutdown_complete"}
 * Without --enable-autocommit the consumed offsets are committed after every batch of records (synchronously).
 * Assignment events follow the eager protocol: when the assignment changes, the old one is revoked, the new assigned.
 */
import { CliError, bootstrapFrom, clientSecurityOf, parseIntFlag, readPropertiesFlag, stopOnSignals, type Opts } from './common.js';

function event(name: string, fields: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ timestamp: Date.now(), name, ...fields })}\n`;
}

const ASSIGNORS: Record<string, string> = {
  'org.apache.kafka.clients.consumer.RangeAssignor': 'range',
  'org.apache.kafka.clients.consumer.RoundRobinAssignor': 'roundrobin',
  'org.apache.kafka.clients.consumer.StickyAssignor': 'sticky',
  'org.apache.kafka.clients.consumer.CooperativeStickyAssignor': 'cooperative-sticky',
};

export async function runVerifiableConsumer(opts: Opts): Promise<number> {
  if (opts.topic === undefined) throw new CliError('Missing required option(s): topic');
  if (opts.groupId === undefined) throw new CliError('Missing required option(s): group-id');
  const topic = String(opts.topic);
  const maxMessages = opts.maxMessages === undefined ? -1 : parseIntFlag(opts.maxMessages, '--max-messages', -1);
  const reset = String(opts.resetPolicy ?? 'earliest').toLowerCase();
  if (reset !== 'earliest' && reset !== 'latest' && reset !== 'none') throw new CliError(`--reset-policy must be earliest, latest or none (got '${reset}')`);
  const autoCommit = opts.enableAutocommit === true;
  const verbose = opts.verbose === true;
  const props = { ...(await readPropertiesFlag(opts.commandConfig, '--command-config')), ...(await readPropertiesFlag(opts['consumer.config'], '--consumer.config')) };
  const security = await clientSecurityOf(props);
  const assignors = opts.assignmentStrategy === undefined ? undefined : String(opts.assignmentStrategy).split(',').map((a) => ASSIGNORS[a.trim()] ?? a.trim());
  const { GroupConsumer } = await import('../src/client/group-consumer.js');
  const consumer = new GroupConsumer({
    bootstrap: bootstrapFrom(opts.bootstrapServer ?? opts.brokerList, props),
    clientId: props['client.id'] ?? 'kfk-verifiable-consumer',
    groupId: String(opts.groupId),
    groupInstanceId: opts.groupInstanceId === undefined ? null : String(opts.groupInstanceId),
    topics: [topic],
    autoOffsetReset: reset,
    sessionTimeoutMs: opts.sessionTimeout === undefined ? 30000 : parseIntFlag(opts.sessionTimeout, '--session-timeout', 1),
    autoCommit,
    ...(assignors ? { assignors } : {}),
    ...(security ? { security } : {}),
  });

  const signals = stopOnSignals();
  const out = (s: string): void => {
    process.stdout.write(s);
  };

  out(event('startup_complete'));
  let assigned = '';
  let assignment: { topic: string; partition: number }[] = [];
  let consumed = 0;
  try {
    while (!signals.stopped && (maxMessages < 0 || consumed < maxMessages)) {
      let records = await consumer.poll({ maxWaitMs: 500 });
      const now = consumer.assignment().map((p) => ({ topic: p.topic, partition: p.partition })).sort((a, b) => a.partition - b.partition);
      const nowKey = JSON.stringify(now);
      if (nowKey !== assigned) {
        if (assigned !== '') out(event('partitions_revoked', { partitions: assignment }));
        out(event('partitions_assigned', { partitions: now }));
        assigned = nowKey;
        assignment = now;
      }
      if (records.length === 0) continue;
      if (maxMessages >= 0 && consumed + records.length > maxMessages) records = records.slice(0, maxMessages - consumed);
      consumed += records.length;
      const summary = new Map<string, { topic: string; partition: number; count: number; minOffset: number; maxOffset: number }>();
      for (const r of records) {
        const k = `${r.topic}-${r.partition}`;
        const s = summary.get(k);
        if (s === undefined) summary.set(k, { topic: r.topic, partition: r.partition, count: 1, minOffset: r.offset, maxOffset: r.offset });
        else {
          s.count++;
          s.minOffset = Math.min(s.minOffset, r.offset);
          s.maxOffset = Math.max(s.maxOffset, r.offset);
        }
        if (verbose) {
          out(event('record_data', { key: r.key === null ? null : r.key.toString(), value: r.value === null ? null : r.value.toString(), topic: r.topic, partition: r.partition, offset: r.offset }));
        }
      }
      out(event('records_consumed', { count: records.length, partitions: [...summary.values()] }));
      if (!autoCommit) {
        const offsets = [...summary.values()].map((s) => ({ topic: s.topic, partition: s.partition, offset: s.maxOffset + 1 }));
        try {
          await consumer.commit(offsets);
          out(event('offsets_committed', { offsets, success: true }));
        } catch (err) {
          out(event('offsets_committed', { offsets, success: false, error: (err as Error).message }));
        }
      }
    }
  } finally {
    await consumer.close().catch(() => undefined);
    signals.dispose();
  }
  out(event('shutdown_complete'));
  return 0;
}
