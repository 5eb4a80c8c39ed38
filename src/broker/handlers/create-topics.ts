/**
 * CreateTopics (key 19), v0-7. Served by the controller (NOT_CONTROLLER elsewhere). Defaults for
 * num_partitions / replication_factor of -1 come from num.partitions / default.replication.factor.
 * v5+ returns the resulting partition count, replication factor and configs; v7 the topic id.
 */
import type { CreateTopicsRequest, CreateTopicsResponseInput } from '../../protocol/generated/create-topics.js';
import { ErrorCode, KafkaError } from '../../protocol/errors.js';
import type { TopicInfo } from '../../cluster/metadata-cache.js';
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
        const unserved = result.errorCode === ErrorCode.NONE && !req.validateOnly && created ? logCreationError(b, created) : null;
        topics.push({
          name: t.name,
          topicId: created?.topicId,
          errorCode: unserved?.errorCode ?? result.errorCode,
          errorMessage: unserved?.errorMessage ?? result.errorMessage ?? null,
          numPartitions: created ? created.partitions.length : -1,
          replicationFactor: created ? (created.partitions[0]?.replicas.length ?? -1) : -1,
          configs: created ? Object.entries(created.config).map(([name, value]) => ({ name, value, readOnly: false, configSource: 1, isSensitive: false })) : null,
        });
      }
      return { throttleTimeMs: 0, topics };
    },
  };
}

/**
 * A topic is in the registry, but some of its partitions led here have no log yet (out of descriptors, a failed
 * log dir): the client gets that error, not a success (issue 13). The topic exists from then on (a retry answers
 * TOPIC_ALREADY_EXISTS, describe shows it), and the broker creates the missing logs when it can: the error
 * (REQUEST_TIMED_OUT for descriptors) is one clients retry, as for Kafka's own CreateTopics timing out.
 */
function logCreationError(b: BrokerServices, topic: TopicInfo): { errorCode: number; errorMessage: string } | null {
  if (b.partitionFailure === undefined) return null;
  const failed: number[] = [];
  let first: Error | undefined;
  for (const p of topic.partitions) {
    const err = p.leader === b.settings.brokerId ? b.partitionFailure(topic.name, p.partition) : undefined;
    if (err === undefined) continue;
    failed.push(p.partition);
    first ??= err;
  }
  if (first === undefined) return null;
  return {
    errorCode: first instanceof KafkaError ? first.code : ErrorCode.UNKNOWN_SERVER_ERROR,
    errorMessage:
      `Topic '${topic.name}' was created, but the logs of ${failed.length} of its partitions could not be created on broker ${b.settings.brokerId} yet ` +
      `(${first.message}); they are created as soon as that is possible.`,
  };
}
