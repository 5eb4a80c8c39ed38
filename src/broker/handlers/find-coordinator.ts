/**
 * FindCoordinator (key 10), v0-6. Group keys (type 0) map to the leader of their __consumer_offsets partition,
 * transactional ids (type 1) to the leader of their __transaction_state partition (the same hash, Kafka's). Each
 * topic is created on first use (by the controller; another broker forwards the creation and answers
 * COORDINATOR_NOT_AVAILABLE meanwhile): offsets.topic.num.partitions / transaction.state.log.num.partitions
 * partitions, offsets.topic.replication.factor / transaction.state.log.replication.factor replicas clamped to the
 * live brokers (so a single broker works with Kafka's default of 3), and for __transaction_state
 * min.insync.replicas = transaction.state.log.min.isr clamped to that replication factor. Share-group keys (type 2):
 * INVALID_REQUEST. v4+ answers a batch of keys; earlier versions one key. librdkafka needs v0 in the range.
 */
import type { FindCoordinatorRequest, FindCoordinatorResponseInput, FindCoordinatorResponseCoordinatorInput } from '../../protocol/generated/find-coordinator.js';
import { ErrorCode, errorName } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC } from '../../cluster/topic-names.js';
import { endpointOn } from '../../cluster/metadata-cache.js';
import { offsetsPartitionFor, offsetsTopicConfigs } from '../../group/offsets-topic.js';
import { transactionStatePartitionFor, transactionStateTopicConfigs } from '../../transaction/transaction-log.js';

const GROUP = 0;
const TRANSACTION = 1;

export function findCoordinatorHandler(b: BrokerServices): ApiHandler<FindCoordinatorRequest, FindCoordinatorResponseInput> {
  async function locate(key: string, keyType: number, listenerName: string): Promise<FindCoordinatorResponseCoordinatorInput> {
    const none = (errorCode: number, errorMessage: string | null = null) => ({ key, nodeId: -1, host: '', port: -1, errorCode, errorMessage });
    if (keyType !== GROUP && keyType !== TRANSACTION) return none(ErrorCode.INVALID_REQUEST, `Unknown coordinator key type ${keyType}`);
    if (keyType === TRANSACTION && key === '') return none(ErrorCode.INVALID_REQUEST, 'the transactional id must not be empty');
    const internal = keyType === GROUP ? OFFSETS_TOPIC : TRANSACTION_STATE_TOPIC;
    let topic = b.metadata.topic(internal);
    if (!topic) {
      const s = b.settings;
      const live = b.metadata.brokers.size;
      const replicationFactor = Math.max(1, Math.min(keyType === GROUP ? s.offsetsTopicReplicationFactor : s.transactionStateLogReplicationFactor, live));
      const result = await b.autoTopicCreator.create({
        name: internal,
        numPartitions: keyType === GROUP ? s.offsetsTopicNumPartitions : s.transactionStateLogNumPartitions,
        replicationFactor,
        configs:
          keyType === GROUP
            ? offsetsTopicConfigs(s.offsetsTopicSegmentBytes)
            : transactionStateTopicConfigs(s.transactionStateLogSegmentBytes, Math.min(s.transactionStateLogMinIsr, replicationFactor)),
      });
      // Forwarded to the controller: the client asks again (COORDINATOR_NOT_AVAILABLE is retriable).
      if (result === null) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      if (result.errorCode !== ErrorCode.NONE && result.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
        return none(ErrorCode.COORDINATOR_NOT_AVAILABLE, `could not create ${internal}: ${result.errorMessage ?? errorName(result.errorCode)}`);
      }
      topic = b.metadata.topic(internal);
      if (!topic) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    const index = keyType === GROUP ? offsetsPartitionFor(key, topic.partitions.length) : transactionStatePartitionFor(key, topic.partitions.length);
    const partition = topic.partitions[index];
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
