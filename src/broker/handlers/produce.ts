/**
 * Produce (key 0), v3-11: record batch v2 only (magic 2), as Kafka 4 does; v3 is librdkafka's
 * MsgVer2 point. acks=0 gets no response at all, and the connection is closed if any partition
 * failed, as Kafka does (KafkaApis.handleProduceRequest). Validation touches batch headers only.
 */
import type { ProduceRequest, ProduceResponseInput, ProduceResponseTopicProduceResponseInput } from '../../protocol/generated/produce.js';
import { ErrorCode } from '../../protocol/errors.js';
import { CloseConnection, NO_RESPONSE, type ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import type { AppendResult } from '../../replication/replica-manager.js';

export function produceHandler(b: BrokerServices): ApiHandler<ProduceRequest, ProduceResponseInput> {
  return {
    apiKey: 0,
    minVersion: 3,
    maxVersion: 11,
    handle(req) {
      const acks = req.acks;
      const validAcks = acks === 0 || acks === 1 || acks === -1;
      const pending: { topic: string; partition: number; result: AppendResult | Promise<AppendResult> }[] = [];
      let anyAsync = false;
      for (const t of req.topicData) {
        for (const p of t.partitionData) {
          let result: AppendResult | Promise<AppendResult>;
          if (!validAcks) result = { errorCode: ErrorCode.INVALID_REQUIRED_ACKS, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 };
          else result = b.replicaManager.appendRecords(t.name, p.index, p.records, acks, req.timeoutMs);
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
          });
        });
        return { responses: [...byTopic.values()], throttleTimeMs: 0 };
      };
      if (!anyAsync) return respond(pending.map((p) => p.result as AppendResult));
      return Promise.all(pending.map((p) => p.result)).then(respond);
    },
  };
}
