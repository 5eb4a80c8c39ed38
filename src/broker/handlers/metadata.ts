/**
 * Metadata (key 3), v0-12.
 * - v0: an empty topic list means all topics (kafka-python's probe sends that). v1+: null = all, [] = none.
 * - Unknown topics are auto-created when the request allows it (always before v4) and
 *   auto.create.topics.enable is set, with num.partitions and default.replication.factor. Only the
 *   controller creates topics: on the controller the answer has the new topic; another broker
 *   forwards the creation to the controller and answers LEADER_NOT_AVAILABLE meanwhile (as Kafka
 *   does right after auto-creating), so that the client asks again.
 * - Only live brokers are listed. A partition whose leader is not alive has LEADER_NOT_AVAILABLE and
 *   leader -1; offline_replicas (v5+) lists its replicas on dead brokers; v0, as Kafka, leaves dead
 *   brokers out of replicas and ISR and flags that with REPLICA_NOT_AVAILABLE.
 * - controller_id is a real live broker (kafkajs and librdkafka admin need it); topic ids are real
 *   (@platformatic/kafka keys topics by id from v10).
 * - v12 may ask for topics by id (name null).
 */
import type { MetadataRequest, MetadataResponseInput, MetadataResponseTopicInput } from '../../protocol/generated/metadata.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/primitives.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import type { TopicInfo } from '../../cluster/metadata-cache.js';
import { invalidTopicNameReason, isInternalTopic } from '../../cluster/topic-names.js';

const AUTHORIZED_OPERATIONS_NOT_REQUESTED = -2147483648;

export function metadataHandler(b: BrokerServices): ApiHandler<MetadataRequest, MetadataResponseInput> {
  return {
    apiKey: 3,
    minVersion: 0,
    maxVersion: 12,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const allTopics = req.topics === null || (v === 0 && req.topics.length === 0);
      const allowAutoCreate = (v < 4 || req.allowAutoTopicCreation) && b.settings.autoCreateTopicsEnable;
      const topics: MetadataResponseTopicInput[] = [];
      if (allTopics) {
        for (const t of b.metadata.topics()) topics.push(describeTopic(b, t, v));
      } else {
        for (const rt of req.topics ?? []) {
          if (rt.name === null) {
            const t = b.metadata.topicById(rt.topicId);
            topics.push(t ? describeTopic(b, t, v) : { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: rt.topicId });
            continue;
          }
          const name = rt.name;
          let t = b.metadata.topic(name);
          if (!t) {
            const invalid = invalidTopicNameReason(name);
            if (invalid) {
              topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, topicId: ZERO_UUID, isInternal: false });
              continue;
            }
            if (allowAutoCreate && !isInternalTopic(name)) {
              const result = await b.autoTopicCreator.create({
                name,
                numPartitions: b.settings.numPartitions,
                replicationFactor: b.settings.defaultReplicationFactor,
              });
              if (result === null) {
                topics.push({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, name, topicId: ZERO_UUID, isInternal: false, partitions: [] });
                continue;
              }
              if (result.errorCode === ErrorCode.NONE || result.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) {
                t = b.metadata.topic(name);
                if (!t) {
                  // Created, but not yet in this broker's metadata: the client asks again.
                  topics.push({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, name, topicId: ZERO_UUID, isInternal: false, partitions: [] });
                  continue;
                }
              }
            }
          }
          topics.push(t ? describeTopic(b, t, v) : { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID });
        }
      }
      return {
        throttleTimeMs: 0,
        brokers: [...b.metadata.brokers.values()]
          .sort((x, y) => x.id - y.id)
          .map((br) => ({ nodeId: br.id, host: br.host, port: br.port, rack: br.rack })),
        clusterId: b.metadata.clusterId,
        controllerId: b.metadata.controllerId,
        topics,
        clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_NOT_REQUESTED,
      };
    },
  };
}

function describeTopic(b: BrokerServices, t: TopicInfo, v: number): MetadataResponseTopicInput {
  const live = b.metadata.brokers;
  const isLive = (r: number): boolean => live.has(r);
  // Kafka's MetadataCache: only v0 drops dead brokers from replicas and ISR (errorUnavailableEndpoints).
  const filterDead = v === 0;
  // a partition led here whose log could not be created yet has no leader to talk to (issue 13)
  const unserved = (p: number, leader: number): boolean => leader === b.settings.brokerId && b.partitionFailure?.(t.name, p) !== undefined;
  return {
    errorCode: ErrorCode.NONE,
    name: t.name,
    topicId: t.topicId,
    isInternal: t.internal,
    partitions: t.partitions.map((p) => {
      const leaderLive = p.leader >= 0 && isLive(p.leader);
      const replicas = filterDead ? p.replicas.filter(isLive) : p.replicas;
      const isr = filterDead ? p.isr.filter(isLive) : p.isr;
      const errorCode = !leaderLive || unserved(p.partition, p.leader)
        ? ErrorCode.LEADER_NOT_AVAILABLE
        : replicas.length < p.replicas.length || isr.length < p.isr.length
          ? ErrorCode.REPLICA_NOT_AVAILABLE
          : ErrorCode.NONE;
      return {
        errorCode,
        partitionIndex: p.partition,
        leaderId: leaderLive ? p.leader : -1,
        leaderEpoch: p.leaderEpoch,
        replicaNodes: replicas,
        isrNodes: isr,
        offlineReplicas: p.replicas.filter((r) => !isLive(r)),
      };
    }),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_NOT_REQUESTED,
  };
}
