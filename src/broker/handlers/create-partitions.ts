/**
 * CreatePartitions (key 37), v0-3: raises the partition count of topics through the controller
 * (NOT_CONTROLLER elsewhere). INVALID_PARTITIONS when the count does not grow, INVALID_REPLICA_ASSIGNMENT
 * for a bad manual assignment, UNKNOWN_TOPIC_OR_PARTITION for a missing topic; every requested topic
 * is in the answer (clients rely on it).
 */
import type {
  CreatePartitionsRequest,
  CreatePartitionsResponseCreatePartitionsTopicResultInput,
  CreatePartitionsResponseInput,
} from '../../protocol/generated/create-partitions.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { MAX_PARTITIONS_PER_REQUEST, partitionsToAdd, TOO_LARGE_BATCH_MESSAGE } from './partition-batch-limit.js';

export function createPartitionsHandler(b: BrokerServices): ApiHandler<CreatePartitionsRequest, CreatePartitionsResponseInput> {
  return {
    apiKey: 37,
    minVersion: 0,
    maxVersion: 3,
    async handle(req) {
      const results: CreatePartitionsResponseCreatePartitionsTopicResultInput[] = [];
      const seen = new Map<string, number>();
      for (const t of req.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
      const unique = req.topics.filter((t) => seen.get(t.name) === 1);
      // Checked where Kafka checks it, in the controller: elsewhere the answer is NOT_CONTROLLER.
      const tooMany = b.controller.isActive && partitionsToAdd(unique, (name) => b.metadata.topic(name)?.partitions.length) > MAX_PARTITIONS_PER_REQUEST;
      for (const t of req.topics) {
        if (tooMany && seen.get(t.name) === 1) {
          results.push({ name: t.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: TOO_LARGE_BATCH_MESSAGE });
          continue;
        }
        if (seen.get(t.name)! > 1) {
          results.push({ name: t.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate topic in request.' });
          continue;
        }
        if (!b.controller.isActive) {
          results.push({ name: t.name, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: 'This is not the correct controller for this cluster.' });
          continue;
        }
        try {
          const r = await b.controller.createPartitions({
            name: t.name,
            count: t.count,
            // An empty list is taken as "no manual assignment" (some clients send [] for null).
            assignments: t.assignments === null || t.assignments.length === 0 ? undefined : t.assignments.map((a) => a.brokerIds),
            validateOnly: req.validateOnly,
          });
          results.push({ name: t.name, errorCode: r.errorCode, errorMessage: r.errorMessage ?? null });
        } catch (err) {
          results.push({ name: t.name, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: (err as Error).message });
        }
      }
      return { throttleTimeMs: 0, results };
    },
  };
}
