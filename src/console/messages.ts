/**
 * The console's message browser and test producer: reads a bounded slice of a topic (one partition or all,
 * from an offset, a timestamp, the beginning or the end) with kfk's consumer, and sends one record with kfk's
 * producer. Keys, values and header values travel to the browser as text when they are UTF-8 text, as base64
 * otherwise, and are cut at MAX_SHOWN_BYTES (the browser says so).
 */
import type { ClusterClient } from '../client/cluster-client.js';
import { Consumer, listOffsets, type ConsumerRecord } from '../client/consumer.js';
import type { Producer } from '../client/producer.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';

/** Bytes of one key, value or header value sent to the browser. */
export const MAX_SHOWN_BYTES = 64 * 1024;
/** Most records one browse request returns. */
export const MAX_LIMIT = 500;
/** How long one browse request keeps fetching before it answers with what it has. */
const BROWSE_DEADLINE_MS = 10_000;

export interface ShownBytes {
  encoding: 'utf8' | 'base64';
  data: string;
  /** Size of the whole key/value in bytes. */
  size: number;
  /** Cut at MAX_SHOWN_BYTES. */
  truncated: boolean;
}

export interface RecordView {
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: string;
  key: ShownBytes | null;
  value: ShownBytes | null;
  headers: Array<{ key: string; value: ShownBytes | null }>;
}

export type BrowseFrom = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset'; offset: number } | { kind: 'timestamp'; timestamp: number } | { kind: 'positions'; positions: Map<number, number> };

export interface BrowseRequest {
  topic: string;
  /** null: every partition. */
  partition: number | null;
  from: BrowseFrom;
  limit: number;
}

export interface BrowseResult {
  records: RecordView[];
  /** Per partition: the offset to continue from (follow mode), and the log end offset seen. */
  partitions: Array<{ partition: number; nextOffset: number; logEndOffset: number; logStartOffset: number }>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text when the bytes are UTF-8 without control characters other than tab and newlines, else base64. */
export function showBytes(buf: Buffer | null): ShownBytes | null {
  if (buf === null) return null;
  const cut = buf.length > MAX_SHOWN_BYTES ? buf.subarray(0, MAX_SHOWN_BYTES) : buf;
  let text: string | null = null;
  try {
    text = utf8.decode(cut);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) text = null;
  } catch {
    // A value cut in the middle of a UTF-8 sequence, or binary: shown as base64.
    text = null;
  }
  return text !== null
    ? { encoding: 'utf8', data: text, size: buf.length, truncated: cut !== buf }
    : { encoding: 'base64', data: cut.toString('base64'), size: buf.length, truncated: cut !== buf };
}

function recordView(r: ConsumerRecord): RecordView {
  return {
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    timestampType: r.timestampType,
    key: showBytes(r.key),
    value: showBytes(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: showBytes(h.value) })),
  };
}

/**
 * Reads up to `limit` records. Each partition is read from its start position up to the log end offset seen
 * when the request began (so a busy topic cannot keep the request open); records from several partitions are
 * merged by timestamp. The answer says where each partition continues, for follow mode.
 */
export async function browse(cluster: ClusterClient, req: BrowseRequest): Promise<BrowseResult> {
  const meta = await cluster.topicMetadata(req.topic, { refresh: true });
  const all = meta.partitions.map((p) => p.partition);
  if (req.partition !== null && !all.includes(req.partition)) {
    throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${req.topic}' has no partition ${req.partition}.`);
  }
  const partitions = req.partition === null ? all : [req.partition];
  const limit = Math.max(1, Math.min(MAX_LIMIT, req.limit));
  const bounds = await logBounds(cluster, req.topic, partitions);
  const starts = await startOffsets(cluster, req, partitions, bounds, limit);

  const consumer = new Consumer({ cluster, maxWaitMs: 200, autoOffsetReset: 'earliest' });
  const collected = new Map<number, ConsumerRecord[]>();
  try {
    const pending = new Set(partitions.filter((p) => starts.get(p)! < bounds.get(p)!.end));
    consumer.assign([...pending].map((partition) => ({ topic: req.topic, partition, offset: starts.get(partition)! })));
    const deadline = Date.now() + BROWSE_DEADLINE_MS;
    while (pending.size > 0 && Date.now() < deadline) {
      for (const r of await consumer.poll({ maxWaitMs: 200 })) {
        if (!pending.has(r.partition) || r.offset >= bounds.get(r.partition)!.end) continue;
        let list = collected.get(r.partition);
        if (!list) collected.set(r.partition, (list = []));
        list.push(r);
      }
      for (const p of [...pending]) {
        const got = collected.get(p)?.length ?? 0;
        const pos = consumer.position(req.topic, p);
        if (got >= limit || (pos !== undefined && pos >= bounds.get(p)!.end)) {
          pending.delete(p);
          consumer.unassign([{ topic: req.topic, partition: p }]);
        }
      }
    }
  } finally {
    await consumer.close();
  }

  // Oldest first within each partition, then merged by timestamp, and cut to the limit.
  const read = [...collected.values()].flatMap((list) => list.slice(0, limit));
  if (partitions.length > 1) read.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset);
  // From the end, the oldest are dropped (and each partition continues after what was read); otherwise the
  // newest are (and each partition continues after what is shown).
  const fromEnd = req.from.kind === 'latest';
  const records = fromEnd ? read.slice(Math.max(0, read.length - limit)) : read.slice(0, limit);
  const next = new Map(starts);
  for (const r of fromEnd ? read : records) if (r.offset + 1 > (next.get(r.partition) ?? 0)) next.set(r.partition, r.offset + 1);
  return {
    records: records.map(recordView),
    partitions: partitions.map((p) => ({ partition: p, nextOffset: next.get(p)!, logEndOffset: bounds.get(p)!.end, logStartOffset: bounds.get(p)!.start })),
  };
}

async function logBounds(cluster: ClusterClient, topic: string, partitions: number[]): Promise<Map<number, { start: number; end: number }>> {
  const [earliest, latest] = await Promise.all([
    listOffsets(cluster, partitions.map((partition) => ({ topic, partition, spec: 'earliest' as const }))),
    listOffsets(cluster, partitions.map((partition) => ({ topic, partition, spec: 'latest' as const }))),
  ]);
  const out = new Map<number, { start: number; end: number }>();
  for (const p of partitions) {
    const k = `${topic}\u0000${p}`;
    out.set(p, { start: earliest.get(k)?.offset ?? 0, end: latest.get(k)?.offset ?? 0 });
  }
  return out;
}

async function startOffsets(
  cluster: ClusterClient,
  req: BrowseRequest,
  partitions: number[],
  bounds: Map<number, { start: number; end: number }>,
  limit: number,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const clamp = (p: number, o: number): number => Math.min(Math.max(o, bounds.get(p)!.start), bounds.get(p)!.end);
  const from = req.from;
  if (from.kind === 'timestamp') {
    const found = await listOffsets(cluster, partitions.map((partition) => ({ topic: req.topic, partition, spec: { timestamp: from.timestamp } })));
    for (const p of partitions) {
      const o = found.get(`${req.topic}\u0000${p}`)?.offset ?? -1;
      // No record at or after the timestamp: the partition starts at its end.
      out.set(p, o < 0 ? bounds.get(p)!.end : clamp(p, o));
    }
    return out;
  }
  for (const p of partitions) {
    const b = bounds.get(p)!;
    if (from.kind === 'earliest') out.set(p, b.start);
    else if (from.kind === 'latest') out.set(p, Math.max(b.start, b.end - limit));
    else if (from.kind === 'offset') out.set(p, clamp(p, from.offset));
    else out.set(p, clamp(p, from.positions.get(p) ?? b.end));
  }
  return out;
}

export interface ProduceRequest {
  topic: string;
  partition: number | null;
  key: string | null;
  value: string | null;
  headers: Array<{ key: string; value: string | null }>;
}

/** Sends one record (acks=all) and resolves with where it was written. */
export async function produceOne(producer: Producer, req: ProduceRequest): Promise<{ partition: number; offset: number; timestamp: number }> {
  const md = await producer.send(req.topic, {
    key: req.key,
    value: req.value,
    headers: req.headers,
    ...(req.partition !== null ? { partition: req.partition } : {}),
  });
  return { partition: md.partition, offset: md.offset, timestamp: md.timestamp };
}
