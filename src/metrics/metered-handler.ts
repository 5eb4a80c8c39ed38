/**
 * Wraps an API handler so that every request is counted and timed (RequestMetrics), and produce and fetch
 * requests move the per-topic counters (BrokerTopicMetrics) by what their response says was appended or sent.
 * The work is per request and per partition: the record count of a batch is read from its header.
 */
import { NO_RESPONSE, type ApiHandler, type RequestContext } from '../server/request.js';
import { API_TABLE } from '../protocol/generated/api-table.js';
import type { ProduceRequest, ProduceResponse } from '../protocol/generated/produce.js';
import type { FetchRequest, FetchResponse } from '../protocol/generated/fetch.js';
import type { BrokerMetrics } from './broker-metrics.js';

const PRODUCE = 0;
const FETCH = 1;

/**
 * Records in a produce or fetch payload, walking the batch headers: a v2 batch's count is at byte 57; a legacy
 * (magic 0/1) message counts as one (a compressed wrapper too: its inner messages are not opened here).
 */
export function countRecords(buf: Buffer): number {
  let pos = 0;
  let n = 0;
  while (pos + 17 <= buf.length) {
    const size = buf.readInt32BE(pos + 8); // batch length / message size, after the 8-byte offset
    const end = pos + 12 + size;
    if (size <= 0 || end > buf.length) break; // a partial batch at the end of a fetch
    const magic = buf.readInt8(pos + 16);
    n += magic >= 2 && pos + 61 <= buf.length ? buf.readInt32BE(pos + 57) : 1;
    pos = end;
  }
  return n;
}

export function meteredHandler(inner: ApiHandler, metrics: BrokerMetrics, topicById: (id: Buffer) => string | undefined): ApiHandler {
  const request = API_TABLE.get(inner.apiKey)?.name ?? String(inner.apiKey);
  const observe = (ctx: RequestContext, started: number): void => {
    metrics.requests.inc({ request, version: String(ctx.apiVersion) });
    metrics.requestTime.observe({ request }, performance.now() - started);
  };
  const account = (body: unknown, res: unknown): void => {
    try {
      if (inner.apiKey === PRODUCE) accountProduce(metrics, body as ProduceRequest, res === NO_RESPONSE ? null : (res as ProduceResponse));
      else if (inner.apiKey === FETCH) accountFetch(metrics, body as FetchRequest, res as FetchResponse, topicById);
    } catch {
      // metrics are bookkeeping: an unexpected shape must not fail the request
    }
  };
  return {
    apiKey: inner.apiKey,
    minVersion: inner.minVersion,
    maxVersion: inner.maxVersion,
    handle(body: unknown, ctx: RequestContext) {
      const started = performance.now();
      let out: ReturnType<ApiHandler['handle']>;
      try {
        out = inner.handle(body, ctx);
      } catch (err) {
        observe(ctx, started);
        throw err;
      }
      if (out instanceof Promise) {
        return out.then(
          (res) => {
            observe(ctx, started);
            account(body, res);
            return res;
          },
          (err: unknown) => {
            observe(ctx, started);
            throw err;
          },
        );
      }
      observe(ctx, started);
      account(body, out);
      return out;
    },
  };
}

/** Appended records and bytes per topic: the partitions the response reports without error (all of them with acks=0). */
function accountProduce(metrics: BrokerMetrics, req: ProduceRequest, res: ProduceResponse | null): void {
  const errors = new Map<string, number>();
  if (res !== null) {
    for (const t of res.responses) for (const p of t.partitionResponses) errors.set(`${t.name}\u0000${p.index}`, p.errorCode);
  }
  let allMessages = 0;
  let allBytes = 0;
  for (const t of req.topicData) {
    metrics.totalProduceRequests.inc({ topic: t.name });
    let messages = 0;
    let bytes = 0;
    let failed = 0;
    for (const p of t.partitionData) {
      const code = errors.get(`${t.name}\u0000${p.index}`) ?? 0;
      if (code !== 0) {
        failed++;
        continue;
      }
      if (p.records === null) continue;
      messages += countRecords(p.records);
      bytes += p.records.length;
    }
    if (failed > 0) metrics.failedProduceRequests.inc({ topic: t.name }, failed);
    if (messages > 0) metrics.messagesIn.inc({ topic: t.name }, messages);
    if (bytes > 0) metrics.bytesIn.inc({ topic: t.name }, bytes);
    allMessages += messages;
    allBytes += bytes;
  }
  metrics.totalProduceRequests.inc();
  if (allMessages > 0) metrics.messagesIn.inc(allMessages);
  if (allBytes > 0) metrics.bytesIn.inc(allBytes);
}

/** Bytes (and records) sent per topic: to consumers in BytesOut, to followers in ReplicationBytesOut. */
function accountFetch(metrics: BrokerMetrics, req: FetchRequest, res: FetchResponse, topicById: (id: Buffer) => string | undefined): void {
  const replicaId = req.replicaState !== undefined && req.replicaState.replicaId >= 0 ? req.replicaState.replicaId : req.replicaId;
  const fromFollower = replicaId >= 0;
  let allBytes = 0;
  let allMessages = 0;
  for (const t of res.responses) {
    const topic = t.topic !== '' ? t.topic : (topicById(t.topicId) ?? '');
    let bytes = 0;
    let messages = 0;
    let failed = 0;
    for (const p of t.partitions) {
      if (p.errorCode !== 0) failed++;
      if (p.records === null || p.records.length === 0) continue;
      bytes += p.records.length;
      if (!fromFollower) messages += countRecords(p.records);
    }
    if (fromFollower) {
      allBytes += bytes;
      continue;
    }
    metrics.totalFetchRequests.inc({ topic });
    if (failed > 0) metrics.failedFetchRequests.inc({ topic }, failed);
    if (bytes > 0) metrics.bytesOut.inc({ topic }, bytes);
    if (messages > 0) metrics.messagesOut.inc({ topic }, messages);
    allBytes += bytes;
    allMessages += messages;
  }
  if (fromFollower) {
    if (allBytes > 0) metrics.replicationBytesOut.inc(allBytes);
    return;
  }
  metrics.totalFetchRequests.inc();
  if (allBytes > 0) metrics.bytesOut.inc(allBytes);
  if (allMessages > 0) metrics.messagesOut.inc(allMessages);
}
