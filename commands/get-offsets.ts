/**
 * kfk get-offsets (kafka-get-offsets.sh, Kafka's GetOffsetShell): the offset of each partition at a point in time.
 *
 *   --topic <regex> [--partitions 0,1] | --topic-partitions t1:0,t2:1-3,t3,t4:2-,t5:-3 (topics are regexes)
 *   --time -1|latest (default) | -2|earliest | -3|max-timestamp (ListOffsets v7, KIP-734) | <timestamp ms>
 *   --exclude-internal-topics, --command-config, --bootstrap-server (--broker-list)
 *
 * Output, as Kafka's: one `topic:partition:offset` line per partition, sorted by topic then partition (-1 where
 * no record is at or after the timestamp).
 */
import { CliError, adminFromFlags, writeOut, type Opts } from './common.js';

interface PartitionFilter {
  topic: RegExp;
  /** Inclusive range; undefined: every partition. */
  range?: [number, number];
}

function regex(s: string, flag: string): RegExp {
  try {
    return new RegExp(`^(?:${s})$`);
  } catch (err) {
    throw new CliError(`${flag}: invalid regular expression '${s}': ${(err as Error).message}`);
  }
}

/** Kafka's --topic-partitions syntax: comma-separated `topic-regex[:partition|:a-b|:a-|:-b]`. */
export function parseTopicPartitions(spec: string): PartitionFilter[] {
  return spec.split(',').filter((s) => s.trim() !== '').map((entry) => {
    const m = /^([^:]*)(?::(\d*)(-?)(\d*))?$/.exec(entry.trim());
    if (!m) throw new CliError(`Invalid topic-partition spec: ${entry}`);
    const topic = regex(m[1] === '' ? '.*' : m[1]!, '--topic-partitions');
    if (m[2] === undefined || (m[2] === '' && m[3] === '' && m[4] === '')) return { topic };
    const lo = m[2] === '' ? 0 : Number(m[2]);
    const hi = m[3] === '' ? lo : m[4] === '' ? Number.MAX_SAFE_INTEGER : Number(m[4]) - 1;
    // Kafka's upper bound of a range is exclusive (1-3: partitions 1 and 2)
    return { topic, range: [lo, hi] };
  });
}

function parseTime(v: unknown): 'latest' | 'earliest' | 'max-timestamp' | { timestamp: number } {
  const s = String(v ?? '-1').trim().toLowerCase();
  if (s === '-1' || s === 'latest') return 'latest';
  if (s === '-2' || s === 'earliest') return 'earliest';
  if (s === '-3' || s === 'max-timestamp') return 'max-timestamp';
  if (!/^\d+$/.test(s)) throw new CliError(`Malformed time argument ${String(v)}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp`);
  return { timestamp: Number(s) };
}

export async function runGetOffsets(opts: Opts): Promise<number> {
  if (opts.topicPartitions !== undefined && (opts.topic !== undefined || opts.partitions !== undefined)) {
    throw new CliError('--topic-partitions cannot be used with --topic or --partitions');
  }
  let filters: PartitionFilter[];
  if (opts.topicPartitions !== undefined) filters = parseTopicPartitions(String(opts.topicPartitions));
  else {
    const topic = regex(opts.topic === undefined ? '.*' : String(opts.topic), '--topic');
    if (opts.partitions === undefined) filters = [{ topic }];
    else {
      filters = String(opts.partitions).split(',').map((p) => {
        if (!/^\s*\d+\s*$/.test(p)) throw new CliError(`--partitions: '${p}' is not a partition id`);
        return { topic, range: [Number(p), Number(p)] as [number, number] };
      });
    }
  }
  const time = parseTime(opts.time);
  const admin = await adminFromFlags(opts, 'kfk-get-offsets');
  try {
    const described = await admin.describeTopics();
    const lines: string[] = [];
    const topics = described
      .filter((t) => !(opts.excludeInternalTopics === true && t.isInternal))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const t of topics) {
      const partitions = t.partitions
        .map((p) => p.partition)
        .filter((p) => filters.some((f) => f.topic.test(t.name) && (f.range === undefined || (p >= f.range[0] && p <= f.range[1]))))
        .sort((a, b) => a - b);
      if (partitions.length === 0) continue;
      const offsets = await admin.listOffsets(t.name, time, { partitions });
      for (const o of offsets) lines.push(`${t.name}:${o.partition}:${o.offset}\n`);
    }
    await writeOut(lines.join(''));
    return 0;
  } finally {
    await admin.close();
  }
}
