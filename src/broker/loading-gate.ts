/**
 * Requests for a partition whose log is still recovering after an unclean shutdown wait for it (issue 13).
 *
 * Kafka serves nothing before every log is loaded (its listeners open after LogManager.startup), so a client
 * of a restarting Kafka broker just waits and retries. kfk serves each partition as soon as its log is recovered
 * (the recovery runs in the background, `num.recovery.threads.per.data.dir` logs per dir at a time), and a
 * Produce, Fetch, ListOffsets, OffsetForLeaderEpoch or DeleteRecords naming a partition still recovering waits
 * for it, after moving it to the front of the recovery queue, so the partitions clients use come back first.
 * The wait is bounded (the produce timeout, or GATE_MAX_WAIT_MS); after that the request is handled as it is,
 * and the handler answers for the partition as for one not hosted here (a retriable error). See
 * docs/storage.md, "Start-up and recovery".
 */
import type { ApiHandler } from '../server/request.js';

/** Longest wait of a request (other than a produce, which waits up to its own timeout) for recovering partitions. */
export const GATE_MAX_WAIT_MS = 30_000;

export interface LoadingGateOptions {
  /** Whether any partition is loading at all (the fast path when none is). */
  anyLoading(): boolean;
  isLoading(topic: string, partition: number): boolean;
  /** Resolves once the partition's log is recovered and served (or its recovery failed). */
  awaitServed(topic: string, partition: number): Promise<void>;
  /** Topic names of Fetch v13+ topic ids. */
  topicNameById(id: Buffer): string | undefined;
}

const PRODUCE = 0;
const FETCH = 1;
const LIST_OFFSETS = 2;
const DELETE_RECORDS = 21;
const OFFSET_FOR_LEADER_EPOCH = 23;

/** The API keys whose requests name partitions whose logs they read or write. */
export const GATED_API_KEYS: ReadonlySet<number> = new Set([PRODUCE, FETCH, LIST_OFFSETS, DELETE_RECORDS, OFFSET_FOR_LEADER_EPOCH]);

interface NamedTopic {
  name?: string;
  topic?: string;
  topicId?: Buffer;
  partitionData?: { index: number }[];
  partitions?: { partition?: number; partitionIndex?: number }[];
}

/** The (topic, partition) pairs a request of a gated API names. */
export function requestedPartitions(apiKey: number, request: unknown, topicNameById: (id: Buffer) => string | undefined): [string, number][] {
  const body = request as { topicData?: NamedTopic[]; topics?: NamedTopic[] };
  const topics = (apiKey === PRODUCE ? body.topicData : body.topics) ?? [];
  const out: [string, number][] = [];
  for (const t of topics) {
    const name = t.name ?? (t.topic !== undefined && t.topic !== '' ? t.topic : t.topicId !== undefined ? topicNameById(t.topicId) : undefined);
    if (name === undefined) continue;
    if (t.partitionData !== undefined) for (const p of t.partitionData) out.push([name, p.index]);
    for (const p of t.partitions ?? []) {
      const index = p.partition ?? p.partitionIndex;
      if (index !== undefined) out.push([name, index]);
    }
  }
  return out;
}

/** Wraps a handler of a gated API so that it runs once the partitions it names are recovered (bounded wait). */
export function gateWhileLoading<Req, Res>(handler: ApiHandler<Req, Res>, opts: LoadingGateOptions): ApiHandler<Req, Res> {
  if (!GATED_API_KEYS.has(handler.apiKey)) return handler;
  return {
    apiKey: handler.apiKey,
    minVersion: handler.minVersion,
    maxVersion: handler.maxVersion,
    handle(request, ctx) {
      if (!opts.anyLoading()) return handler.handle(request, ctx);
      const waiting = requestedPartitions(handler.apiKey, request, opts.topicNameById).filter(([t, p]) => opts.isLoading(t, p));
      if (waiting.length === 0) return handler.handle(request, ctx);
      const produceTimeout = handler.apiKey === PRODUCE ? (request as { timeoutMs?: number }).timeoutMs : undefined;
      const bound = produceTimeout !== undefined && produceTimeout >= 0 ? Math.min(produceTimeout, GATE_MAX_WAIT_MS) : GATE_MAX_WAIT_MS;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, bound);
      });
      const served = Promise.all(waiting.map(([t, p]) => opts.awaitServed(t, p).catch(() => undefined)));
      return Promise.race([served, timeout])
        .finally(() => clearTimeout(timer))
        .then(() => handler.handle(request, ctx));
    },
  };
}
