/**
 * FindCoordinator (key 10), v0-6. Group keys map to the leader of their __consumer_offsets
 * partition; the topic is created on first use (by the controller; another broker forwards the
 * creation and answers COORDINATOR_NOT_AVAILABLE meanwhile) with offsets.topic.num.partitions partitions and
 * offsets.topic.replication.factor replicas (clamped to the live brokers, so a single broker works
 * with Kafka's default of 3). kfk has no transaction coordinator yet: transaction keys get
 * COORDINATOR_NOT_AVAILABLE, and share-group keys (type 2) INVALID_REQUEST.
 * v4+ answers a batch of keys; earlier versions one key. librdkafka needs v0 in the range.
 */
import type { FindCoordinatorRequest, FindCoordinatorResponseInput, FindCoordinatorResponseCoordinatorInput } from '../../protocol/generated/find-coordinator.js';
import { ErrorCode, errorName } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { OFFSETS_TOPIC } from '../../cluster/topic-names.js';
import { endpointOn } from '../../cluster/metadata-cache.js';
import { offsetsPartitionFor, offsetsTopicConfigs } from '../../group/offsets-topic.js';

const GROUP = 0;
const TRANSACTION = 1;

export function findCoordinatorHandler(b: BrokerServices): ApiHandler<FindCoordinatorRequest, FindCoordinatorResponseInput> {
  async function locate(key: string, keyType: number, listenerName: string): Promise<FindCoordinatorResponseCoordinatorInput> {
    const none = (errorCode: number, errorMessage: string | null = null) => ({ key, nodeId: -1, host: '', port: -1, errorCode, errorMessage });
    if (keyType === TRANSACTION) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'kfk does not have a transaction coordinator yet');
    if (keyType !== GROUP) return none(ErrorCode.INVALID_REQUEST, `Unknown coordinator key type ${keyType}`);
    let topic = b.metadata.topic(OFFSETS_TOPIC);
    if (!topic) {
      const s = b.settings;
      const result = await b.autoTopicCreator.create({
        name: OFFSETS_TOPIC,
        numPartitions: s.offsetsTopicNumPartitions,
        replicationFactor: Math.max(1, Math.min(s.offsetsTopicReplicationFactor, b.metadata.brokers.size)),
        configs: offsetsTopicConfigs(s.offsetsTopicSegmentBytes),
      });
      // Forwarded to the controller: the client asks again (COORDINATOR_NOT_AVAILABLE is retriable).
      if (result === null) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      if (result.errorCode !== ErrorCode.NONE && result.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
        return none(ErrorCode.COORDINATOR_NOT_AVAILABLE, `could not create ${OFFSETS_TOPIC}: ${result.errorMessage ?? errorName(result.errorCode)}`);
      }
      topic = b.metadata.topic(OFFSETS_TOPIC);
      if (!topic) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    const partition = topic.partitions[offsetsPartitionFor(key, topic.partitions.length)];
    const leader = partition ? b.metadata.brokers.get(partition.leader) : undefined;
    // the coordinator's endpoint on the listener the client connected to
    const ep = leader ? endpointOn(leader, listenerName) : undefined;
    if (!leader || !ep) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    return { key, nodeId: leader.id, host: ep.host, port: ep.port, errorCode: ErrorCode.NONE, errorMessage: null };
  }

  return {
    apiKey: 10,
    minVersion: 0,
    maxVersion: 6,
    async handle(req, ctx) {
      if (ctx.apiVersion >= 4) {
        const coordinators = [];
        for (const key of req.coordinatorKeys) coordinators.push(await locate(key, req.keyType, ctx.listenerName));
        return { throttleTimeMs: 0, coordinators };
      }
      const c = await locate(req.key, ctx.apiVersion >= 1 ? req.keyType : GROUP, ctx.listenerName);
      return { throttleTimeMs: 0, errorCode: c.errorCode, errorMessage: c.errorMessage, nodeId: c.nodeId, host: c.host, port: c.port };
    },
  };
}
