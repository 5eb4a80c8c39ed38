/**
 * CreateTopics (key 19), v0-7. Served by the controller (NOT_CONTROLLER elsewhere). Defaults for
 * num_partitions / replication_factor of -1 come from num.partitions / default.replication.factor.
 * v5+ returns the resulting partition count, replication factor and configs; v7 the topic id.
 */
import type { CreateTopicsRequest, CreateTopicsResponseInput } from '../../protocol/generated/create-topics.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { MAX_PARTITIONS_PER_REQUEST, partitionsToCreate, TOO_MANY_PARTITIONS_MESSAGE } from './partition-batch-limit.js';

export function createTopicsHandler(b: BrokerServices): ApiHandler<CreateTopicsRequest, CreateTopicsResponseInput> {
  return {
    apiKey: 19,
    minVersion: 0,
    maxVersion: 7,
    async handle(req) {
      const topics = [];
      const seen = new Map<string, number>();
      for (const t of req.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
      const unique = req.topics.filter((t) => seen.get(t.name) === 1);
      // Checked where Kafka checks it, in the controller: elsewhere the answer is NOT_CONTROLLER.
      const tooMany = b.controller.isActive && partitionsToCreate(unique, b.settings.numPartitions) > MAX_PARTITIONS_PER_REQUEST;
      for (const t of req.topics) {
        if (tooMany && seen.get(t.name) === 1) {
          topics.push({ name: t.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: TOO_MANY_PARTITIONS_MESSAGE, numPartitions: -1, replicationFactor: -1, configs: null });
          continue;
        }
        if (seen.get(t.name)! > 1) {
          topics.push({ name: t.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Create topics request from client contains multiple topics named ${t.name}` });
          continue;
        }
        if (!b.controller.isActive) {
          topics.push({ name: t.name, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: 'This is not the correct controller for this cluster.' });
          continue;
        }
        const assignments = new Map<number, number[]>();
        for (const a of t.assignments) assignments.set(a.partitionIndex, a.brokerIds);
        const configs: Record<string, string> = {};
        for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
        const result = await b.controller.createTopic({
          name: t.name,
          numPartitions: t.numPartitions === -1 ? b.settings.numPartitions : t.numPartitions,
          replicationFactor: t.replicationFactor === -1 ? b.settings.defaultReplicationFactor : t.replicationFactor,
          assignments: assignments.size > 0 ? assignments : undefined,
          configs,
          validateOnly: req.validateOnly,
        });
        const created = result.topic;
        topics.push({
          name: t.name,
          topicId: created?.topicId,
          errorCode: result.errorCode,
          errorMessage: result.errorMessage ?? null,
          numPartitions: created ? created.partitions.length : -1,
          replicationFactor: created ? (created.partitions[0]?.replicas.length ?? -1) : -1,
          configs: created ? Object.entries(created.config).map(([name, value]) => ({ name, value, readOnly: false, configSource: 1, isSensitive: false })) : null,
        });
      }
      return { throttleTimeMs: 0, topics };
    },
  };
}
