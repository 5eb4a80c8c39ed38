/**
 * Fetch (key 1), v4-16 (v4 is librdkafka's MsgVer2 point and kafka-python's version; v13+ names
 * topics by id, which @platformatic/kafka needs). No fetch sessions: session_id 0, every fetch full.
 * Returns stored batches as they are, starting at the batch that contains fetch_offset; at least one whole
 * batch even over max_bytes (KIP-74). Only a partition's leader serves it (NOT_LEADER_OR_FOLLOWER elsewhere).
 *
 * Consumers (replica_id -1) read up to the high watermark, or with isolation_level 1 (read_committed) up to the
 * last stable offset, and then get the aborted transactions overlapping the batches returned (from the segments'
 * .txnindex) in aborted_transactions; follower brokers (replica_id >= 0, v15+ in
 * replica_state) read up to the log end offset, and their fetch offset is how the leader learns their progress
 * (ISR, high watermark, acks=all). current_leader_epoch (v9+) is checked (KIP-320); last_fetched_epoch (v12+)
 * is compared with the leader's epochs and a mismatch answered with diverging_epoch. When fewer than min_bytes
 * are ready the fetch waits up to max_wait_ms: a follower's until the log end moves, a consumer's until the
 * high watermark moves. Every answer carries the high watermark.
 */
import type { FetchRequest, FetchResponseInput, FetchResponseFetchableTopicResponseInput } from '../../protocol/generated/fetch.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/primitives.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { partitionKey } from '../../replication/fetch-purgatory.js';
import type { FetchParams, FetchResult } from '../../replication/replica-manager.js';

interface Target {
  topic: string | null;
  topicId: Buffer;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  lastFetchedEpoch: number;
  logStartOffset: number;
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
            currentLeaderEpoch: v >= 9 ? p.currentLeaderEpoch : -1,
            lastFetchedEpoch: v >= 12 ? p.lastFetchedEpoch : -1,
            logStartOffset: v >= 5 ? p.logStartOffset : -1,
            unknownError: info ? ErrorCode.NONE : v >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          });
        }
      }
      const params: FetchParams = { replicaId: v >= 15 ? req.replicaState.replicaId : req.replicaId, isolationLevel: req.isolationLevel };
      const isFollower = params.replicaId >= 0;
      const maxBytes = v >= 3 ? req.maxBytes : 0x7fffffff;
      const deadline = Date.now() + Math.max(0, req.maxWaitMs);
      for (let attempt = 0; ; attempt++) {
        // Data that arrives while the partitions are read (the reads are asynchronous) must still wake the wait below.
        const mark = b.replicaManager.dataMark(isFollower);
        // A follower's fetch offset counts once, when the request arrives (Kafka updates it on the first read).
        const results = await readAll(b, params, targets, maxBytes, attempt === 0);
        const bytes = results.reduce((n, r) => n + (r.records?.length ?? 0), 0);
        const anyError = results.some((r) => r.errorCode !== ErrorCode.NONE || r.divergingEpoch !== undefined);
        const remaining = deadline - Date.now();
        if (bytes >= Math.max(1, req.minBytes) || anyError || remaining <= 0 || targets.length === 0) {
          return buildResponse(targets, results, v);
        }
        const keys = targets.filter((t) => t.topic !== null).map((t) => partitionKey(t.topic!, t.partition));
        await b.replicaManager.waitForData(keys, remaining, isFollower, mark);
        if (!ctx.socket.writable) return buildResponse(targets, results, v);
      }
    },
  };
}

async function readAll(b: BrokerServices, params: FetchParams, targets: Target[], maxBytes: number, updateFetchState: boolean): Promise<FetchResult[]> {
  const out: FetchResult[] = [];
  let budget = maxBytes;
  for (const t of targets) {
    if (t.unknownError !== ErrorCode.NONE || t.topic === null) {
      out.push({ errorCode: t.unknownError || ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null });
      continue;
    }
    // The first partition with data may exceed the budget by one batch (KIP-74); later ones get what is left.
    const limit = Math.min(t.partitionMaxBytes, Math.max(budget, 0));
    const r = await b.replicaManager.readPartition(
      params,
      {
        topic: t.topic,
        partition: t.partition,
        fetchOffset: t.fetchOffset,
        currentLeaderEpoch: t.currentLeaderEpoch,
        lastFetchedEpoch: t.lastFetchedEpoch,
        logStartOffset: t.logStartOffset,
        maxBytes: limit,
        minOneBatch: budget === maxBytes,
      },
      updateFetchState,
    );
    if (r.records) budget -= r.records.length;
    out.push(r);
  }
  return out;
}

function buildResponse(targets: Target[], results: FetchResult[], v: number): FetchResponseInput {
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
      ...(r.divergingEpoch !== undefined ? { divergingEpoch: r.divergingEpoch } : {}),
      abortedTransactions: r.errorCode === ErrorCode.NONE ? (r.abortedTransactions ?? []) : null,
      preferredReadReplica: -1,
      records: r.records ?? Buffer.alloc(0),
    });
  });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: topics };
}
