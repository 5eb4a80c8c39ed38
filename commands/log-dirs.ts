/**
 * kfk log-dirs (kafka-log-dirs.sh): the log dirs of brokers with the size and offset lag of each replica
 * (DescribeLogDirs, API 35).
 *
 *   --describe [--broker-list 0,1] [--topic-list t1,t2] [--command-config F] [--bootstrap-server S]
 *
 * Output, as Kafka's LogDirsCommand:
 *   Querying brokers for log directories information
 *   Received log directory information from brokers 0,1
 *   {"version":1,"brokers":[{"broker":0,"logDirs":[{"logDir":"/data","error":null,"partitions":[{"partition":"t-0","size":70,"offsetLag":0,"isFuture":false}]}]}]}
 */
import { CliError, adminFromFlags, writeOut, type Opts } from './common.js';
import { errorName } from '../src/protocol/errors.js';

function list(v: unknown): string[] {
  return v === undefined ? [] : String(v).split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Kafka's exception class names for the errors a log dir can have. */
const ERROR_CLASSES: Record<string, string> = {
  KAFKA_STORAGE_ERROR: 'org.apache.kafka.common.errors.KafkaStorageException',
  UNKNOWN_SERVER_ERROR: 'org.apache.kafka.common.errors.UnknownServerException',
};

export async function runLogDirs(opts: Opts): Promise<number> {
  if (opts.describe !== true) throw new CliError('Command must include exactly one action: --describe');
  const brokers = list(opts.brokerList).map((b) => {
    if (!/^\d+$/.test(b)) throw new CliError(`--broker-list: '${b}' is not a broker id`);
    return Number(b);
  });
  const topics = list(opts.topicList);
  const admin = await adminFromFlags(opts, 'kfk-log-dirs');
  try {
    await writeOut('Querying brokers for log directories information\n');
    const dirs = await admin.describeLogDirs(brokers.length > 0 ? brokers : undefined, topics.length > 0 ? topics : undefined);
    const ids = [...dirs.keys()].sort((a, b) => a - b);
    const doc = {
      version: 1,
      brokers: ids.map((id) => ({
        broker: id,
        logDirs: dirs.get(id)!.map((d) => ({
          logDir: d.logDir,
          error: d.errorCode === 0 ? null : (ERROR_CLASSES[errorName(d.errorCode)] ?? errorName(d.errorCode)),
          partitions: d.partitions.map((p) => ({ partition: `${p.topic}-${p.partition}`, size: p.size, offsetLag: p.offsetLag, isFuture: p.isFuture })),
        })),
      })),
    };
    await writeOut(`Received log directory information from brokers ${ids.join(',')}\n${JSON.stringify(doc)}\n`);
    return 0;
  } finally {
    await admin.close();
  }
}
