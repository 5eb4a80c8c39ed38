/**
 * Fetch (key 1), v4-16 (v4 is librdkafka's MsgVer2 point and kafka-python's version; v13+ names
 * topics by id, which @platformatic/kafka needs). No fetch sessions: session_id 0, every fetch full.
 * Returns stored batches as they are, starting at the batch that contains fetch_offset, up to the
 * high watermark; at least one whole batch even over max_bytes (KIP-74). When fewer than min_bytes
 * are ready it waits in the purgatory up to max_wait_ms, woken by appends.
 */
import type { FetchRequest, FetchResponseInput, FetchResponseFetchableTopicResponseInput } from '../../protocol/generated/fetch.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/primitives.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { partitionKey } from '../../replication/fetch-purgatory.js';

interface Target {
  topic: string | null;
  topicId: Buffer;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  unknownError: number;
}

export function fetchHandler(b: BrokerServices): ApiHandler<FetchRequest, FetchResponseInput> {
  return {
    apiKey: 1,
    minVersion: 4,
    maxVersion: 16,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const targets: Target[] = [];
      for (const t of req.topics) {
        const info = v >= 13 ? b.metadata.topicById(t.topicId) : b.metadata.topic(t.topic);
        for (const p of t.partitions) {
          targets.push({
            topic: info?.name ?? (v >= 13 ? null : t.topic),
            topicId: v >= 13 ? t.topicId : (info?.topicId ?? ZERO_UUID),
            partition: p.partition,
            fetchOffset: p.fetchOffset,
            partitionMaxBytes: p.partitionMaxBytes,
            unknownError: info ? ErrorCode.NONE : v >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          });
        }
      }
      const maxBytes = v >= 3 ? req.maxBytes : 0x7fffffff;
      const deadline = Date.now() + Math.max(0, req.maxWaitMs);
      const readCommitted = req.isolationLevel === 1;
      for (;;) {
        const results = await readAll(b, targets, maxBytes, readCommitted);
        const bytes = results.reduce((n, r) => n + (r.records?.length ?? 0), 0);
        const anyError = results.some((r) => r.errorCode !== ErrorCode.NONE);
        const remaining = deadline - Date.now();
        if (bytes >= Math.max(1, req.minBytes) || anyError || remaining <= 0 || targets.length === 0) {
          return buildResponse(targets, results, v);
        }
        const keys = targets.filter((t) => t.topic !== null).map((t) => partitionKey(t.topic!, t.partition));
        await b.replicaManager.waitForData(keys, remaining);
        if (!ctx.socket.writable) return buildResponse(targets, results, v);
      }
    },
  };
}

interface PartitionRead {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  records: Buffer | null;
}

async function readAll(b: BrokerServices, targets: Target[], maxBytes: number, readCommitted: boolean): Promise<PartitionRead[]> {
  const out: PartitionRead[] = [];
  let budget = maxBytes;
  for (const t of targets) {
    if (t.unknownError !== ErrorCode.NONE || t.topic === null) {
      out.push({ errorCode: t.unknownError || ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null });
      continue;
    }
    // The first partition with data may exceed the budget by one batch (KIP-74); later ones get what is left.
    const limit = Math.min(t.partitionMaxBytes, Math.max(budget, 0));
    const r = await b.replicaManager.fetchPartition(t.topic, t.partition, t.fetchOffset, limit, budget === maxBytes, readCommitted);
    if (r.records) budget -= r.records.length;
    out.push(r);
  }
  return out;
}

function buildResponse(targets: Target[], results: PartitionRead[], v: number): FetchResponseInput {
  const topics: FetchResponseFetchableTopicResponseInput[] = [];
  let current: FetchResponseFetchableTopicResponseInput | null = null;
  let currentKey = '';
  targets.forEach((t, i) => {
    const key = v >= 13 ? t.topicId.toString('hex') : (t.topic ?? '');
    if (!current || key !== currentKey) {
      current = { topic: t.topic ?? '', topicId: t.topicId, partitions: [] };
      currentKey = key;
      topics.push(current);
    }
    const r = results[i]!;
    current.partitions!.push({
      partitionIndex: t.partition,
      errorCode: r.errorCode,
      highWatermark: r.highWatermark,
      lastStableOffset: r.lastStableOffset,
      logStartOffset: r.logStartOffset,
      abortedTransactions: r.errorCode === ErrorCode.NONE ? [] : null,
      preferredReadReplica: -1,
      records: r.records ?? Buffer.alloc(0),
    });
  });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: topics };
}
