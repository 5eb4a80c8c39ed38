/**
 * DeleteTopics (key 20), v0-6. v6 may name topics by id. Served by the controller.
 */
import type { DeleteTopicsRequest, DeleteTopicsResponseInput, DeleteTopicsResponseDeletableTopicResultInput } from '../../protocol/generated/delete-topics.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/primitives.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

export function deleteTopicsHandler(b: BrokerServices): ApiHandler<DeleteTopicsRequest, DeleteTopicsResponseInput> {
  return {
    apiKey: 20,
    minVersion: 0,
    maxVersion: 6,
    async handle(req, ctx) {
      const wanted: { name: string | null; topicId: Buffer }[] =
        ctx.apiVersion >= 6 ? req.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : req.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
      const responses: DeleteTopicsResponseDeletableTopicResultInput[] = [];
      for (const w of wanted) {
        const topic = w.name !== null ? b.metadata.topic(w.name) : b.metadata.topicById(w.topicId);
        if (!b.controller.isActive) {
          responses.push({ name: w.name, topicId: topic?.topicId ?? w.topicId, errorCode: ErrorCode.NOT_CONTROLLER });
          continue;
        }
        if (!topic) {
          const byId = w.name === null;
          responses.push({ name: w.name, topicId: w.topicId, errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null });
          continue;
        }
        if (!b.settings.deleteTopicEnable) {
          responses.push({ name: topic.name, topicId: topic.topicId, errorCode: ErrorCode.TOPIC_DELETION_DISABLED });
          continue;
        }
        const result = await b.controller.deleteTopic(topic.name);
        responses.push({ name: topic.name, topicId: topic.topicId, errorCode: result.errorCode, errorMessage: result.errorMessage ?? null });
      }
      return { throttleTimeMs: 0, responses };
    },
  };
}
