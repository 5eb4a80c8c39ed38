/**
 * Produce (key 0), v0-11. Only record batches v2 (magic 2) are stored. v3+ requests must carry exactly
 * that (a magic 0/1 or other non-2 buffer → INVALID_RECORD, as Kafka's ProduceRequest.validateRecords).
 * v0-2 requests carry legacy message sets (magic 0 from v0-1 clients, magic 1 from v2), which are
 * up-converted to one v2 batch with the producer's codec (src/protocol/legacy-messages.ts) and then take
 * the same validation and append path; a v0-2 request that already carries a v2 batch is taken as is
 * (Kafka does not check the magic for those versions either).
 * Why v0 at all: librdkafka (kcat, confluent-kafka; 2.0.2 here, at least through 2.10) only compresses with
 * gzip/snappy/lz4 when the broker's Produce range contains v0 (lz4 also needs FindCoordinator ∋ 0); it still
 * sends v3+ itself.
 * acks=0 gets no response at all, and the connection is closed if any partition failed, as Kafka does
 * (KafkaApis.handleProduceRequest). Every record of a v2 batch is validated (record-validator.ts); refused
 * records are listed in record_errors (v8+).
 */
import type { ProduceRequest, ProduceResponseInput, ProduceResponseTopicProduceResponseInput } from '../../protocol/generated/produce.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import { CloseConnection, NO_RESPONSE, type ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import type { AppendResult } from '../../replication/replica-manager.js';
import { upConvertToBatch } from '../../protocol/legacy-messages.js';
import { uncompressedLimit } from '../../protocol/record-validator.js';

/** Position of the magic byte, in a v2 batch header as in a legacy message entry. */
const MAGIC_POS = 16;
/** First Produce version that must carry record batches v2. */
const MIN_V2_ONLY_VERSION = 3;
/** First Produce version that may carry zstd batches (KIP-110). */
const MIN_ZSTD_VERSION = 7;
const ZSTD = 4;
/** Position of the attributes (codec in bits 0-2) in a v2 batch header. */
const ATTRIBUTES_POS = 21;

/**
 * The records to append for one partition: the request's buffer, or its up-conversion to a v2 batch for a
 * legacy message set in Produce v0-2; or the error to answer with.
 */
function recordsToAppend(records: Buffer | null, version: number, maxMessageBytes: number): Buffer | null | AppendResult {
  if (!records || records.length === 0) return records; // the append path answers these
  const magic = records.length > MAGIC_POS ? records.readInt8(MAGIC_POS) : undefined;
  if (magic === 2) {
    // As Kafka's ProduceRequest.validateRecords, before anything else.
    if (version < MIN_ZSTD_VERSION && records.length > ATTRIBUTES_POS + 1 && (records.readInt16BE(ATTRIBUTES_POS) & 0x07) === ZSTD) {
      return failed(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `Produce requests with version ${version} are not allowed to use ZStandard compression`);
    }
    return records;
  }
  if (version >= MIN_V2_ONLY_VERSION) {
    if (magic === undefined) return records; // truncated: the append path reports it
    return failed(
      ErrorCode.INVALID_RECORD,
      `Produce requests with version ${version} are only allowed to contain record batches with magic version 2, got magic ${magic}`,
    );
  }
  const converted = upConvertToBatch(records, uncompressedLimit(maxMessageBytes));
  if (Buffer.isBuffer(converted)) return converted;
  return failed(converted.errorCode, converted.errorMessage);
}

function failed(errorCode: number, errorMessage?: string): AppendResult {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 };
}

/**
 * One partition's append, failing on its own: a throw or a rejection becomes that partition's error (the code
 * of a KafkaError, else UNKNOWN_SERVER_ERROR) and is logged, as Kafka's ReplicaManager.appendToLocalLog does.
 * Without it, a throw for one partition would leave the promises of the partitions before it unhandled.
 */
function isolated(b: BrokerServices, topic: string, partition: number, append: () => AppendResult | Promise<AppendResult>): AppendResult | Promise<AppendResult> {
  const fail = (err: unknown): AppendResult => {
    b.logger?.error(`error appending to ${topic}-${partition}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return err instanceof KafkaError ? failed(err.code, err.message) : failed(ErrorCode.UNKNOWN_SERVER_ERROR);
  };
  try {
    const result = append();
    return result instanceof Promise ? result.catch(fail) : result;
  } catch (err) {
    return fail(err);
  }
}

export function produceHandler(b: BrokerServices): ApiHandler<ProduceRequest, ProduceResponseInput> {
  return {
    apiKey: 0,
    minVersion: 0,
    maxVersion: 11,
    handle(req, ctx) {
      const acks = req.acks;
      const validAcks = acks === 0 || acks === 1 || acks === -1;
      const pending: { topic: string; partition: number; result: AppendResult | Promise<AppendResult> }[] = [];
      let anyAsync = false;
      for (const t of req.topicData) {
        for (const p of t.partitionData) {
          let result: AppendResult | Promise<AppendResult>;
          if (!validAcks) result = failed(ErrorCode.INVALID_REQUIRED_ACKS);
          else {
            result = isolated(b, t.name, p.index, () => {
              // An unknown partition is answered first (by the append path), as Kafka checks it before the records.
              const hosted = b.replicaManager.getPartition(t.name, p.index);
              const records = hosted ? recordsToAppend(p.records, ctx.apiVersion, hosted.log.config.maxMessageBytes) : p.records;
              if (records === null || Buffer.isBuffer(records)) return b.replicaManager.appendRecords(t.name, p.index, records, acks, req.timeoutMs);
              return records;
            });
          }
          if (result instanceof Promise) anyAsync = true;
          pending.push({ topic: t.name, partition: p.index, result });
        }
      }
      const respond = (results: AppendResult[]) => {
        if (acks === 0) {
          if (results.some((r) => r.errorCode !== ErrorCode.NONE)) throw new CloseConnection('acks=0 produce failed');
          return NO_RESPONSE;
        }
        const byTopic = new Map<string, ProduceResponseTopicProduceResponseInput>();
        results.forEach((r, i) => {
          const { topic, partition } = pending[i]!;
          let tr = byTopic.get(topic);
          if (!tr) byTopic.set(topic, (tr = { name: topic, partitionResponses: [] }));
          tr.partitionResponses!.push({
            index: partition,
            errorCode: r.errorCode,
            baseOffset: r.baseOffset,
            logAppendTimeMs: r.logAppendTime,
            logStartOffset: r.logStartOffset,
            errorMessage: r.errorMessage ?? null,
            recordErrors: r.recordErrors?.map((e) => ({ batchIndex: e.batchIndex, batchIndexErrorMessage: e.message })) ?? [],
          });
        });
        return { responses: [...byTopic.values()], throttleTimeMs: 0 };
      };
      if (!anyAsync) return respond(pending.map((p) => p.result as AppendResult));
      return Promise.all(pending.map((p) => p.result)).then(respond);
    },
  };
}
