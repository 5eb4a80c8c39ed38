/**
 * Metadata (key 3), v0-12.
 * - v0: an empty topic list means all topics (kafka-python's probe sends that). v1+: null = all, [] = none.
 * - Unknown topics are auto-created when the request allows it (always before v4) and
 *   auto.create.topics.enable is set, with num.partitions and default.replication.factor. Only the
 *   controller creates topics: on the controller the answer has the new topic; another broker
 *   forwards the creation to the controller and answers LEADER_NOT_AVAILABLE meanwhile (as Kafka
 *   does right after auto-creating), so that the client asks again.
 * - Only live brokers are listed. A partition whose leader is not alive has LEADER_NOT_AVAILABLE and
 *   leader -1; offline_replicas (v5+) lists its replicas on dead brokers and those in a failed log dir of a live
 *   broker (/kfk/offline_replicas, read by the reconciler); v0, as Kafka, leaves dead
 *   brokers out of replicas and ISR and flags that with REPLICA_NOT_AVAILABLE.
 * - controller_id is a real live broker (kafkajs and librdkafka admin need it); topic ids are real
 *   (@platformatic/kafka keys topics by id from v10).
 * - v12 may ask for topics by id (name null).
 * - With an authorizer (KafkaApis.handleTopicMetadataRequest): all topics lists only those the principal may
 *   Describe; a requested topic without Describe gets TOPIC_AUTHORIZATION_FAILED (whether it exists is not told);
 *   auto-creation needs Create on the cluster or on the topic (else TOPIC_AUTHORIZATION_FAILED); v8+ authorized
 *   operations are filled in when asked (all of a resource's operations without an authorizer).
 */
import type { MetadataRequest, MetadataResponseInput, MetadataResponseTopicInput } from '../../protocol/generated/metadata.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/primitives.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';
import { endpointOn, type TopicInfo } from '../../cluster/metadata-cache.js';
import { invalidTopicNameReason, isInternalTopic } from '../../cluster/topic-names.js';
import { AclOperation, CLUSTER_NAME, RESOURCE_OPERATIONS, ResourceType } from '../../security/acl.js';

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
      const az = b.requestAuthorizer ?? null;
      const may = (op: number, type: number, name: string): boolean => az === null || az.allowed(ctx, op, type, name);
      // Kafka's authorized_operations bit field (without an authorizer: every operation of the resource)
      const operationsOn = (type: number, name: string): number =>
        az !== null ? az.authorizedOperations(ctx, type, name) : (RESOURCE_OPERATIONS[type] ?? []).reduce((bits, op) => bits | (1 << op), 0);
      const refused = (name: string | null, topicId: Buffer): MetadataResponseTopicInput => ({ errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name, topicId, isInternal: false, partitions: [] });
      const topics: MetadataResponseTopicInput[] = [];
      if (allTopics) {
        for (const t of b.metadata.topics()) if (az === null || az.authorizer.authorize(ctx.principal, ctx.clientAddress, AclOperation.DESCRIBE, ResourceType.TOPIC, t.name)) topics.push(describeTopic(b, t, v));
      } else {
        for (const rt of req.topics ?? []) {
          if (rt.name === null) {
            const t = b.metadata.topicById(rt.topicId);
            // topic ids are not secret: an unauthorized one is answered with its id and no name (as Kafka)
            if (t && !may(AclOperation.DESCRIBE, ResourceType.TOPIC, t.name)) topics.push(refused(null, rt.topicId));
            else topics.push(t ? describeTopic(b, t, v) : { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: rt.topicId });
            continue;
          }
          const name = rt.name;
          if (!may(AclOperation.DESCRIBE, ResourceType.TOPIC, name)) {
            topics.push(refused(name, ZERO_UUID));
            continue;
          }
          let t = b.metadata.topic(name);
          if (!t) {
            const invalid = invalidTopicNameReason(name);
            if (invalid) {
              topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, topicId: ZERO_UUID, isInternal: false });
              continue;
            }
            if (allowAutoCreate && !isInternalTopic(name) && !may(AclOperation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME) && !may(AclOperation.CREATE, ResourceType.TOPIC, name)) {
              topics.push(refused(name, ZERO_UUID));
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
        // the brokers' endpoints on the listener the client connected to (brokers without one are left out, as Kafka)
        brokers: [...b.metadata.brokers.values()]
          .sort((x, y) => x.id - y.id)
          .flatMap((br) => {
            const ep = endpointOn(br, ctx.listenerName);
            return ep ? [{ nodeId: br.id, host: ep.host, port: ep.port, rack: br.rack }] : [];
          }),
        clusterId: b.metadata.clusterId,
        controllerId: b.metadata.controllerId,
        topics: v >= 8 && req.includeTopicAuthorizedOperations ? topics.map((t) => (t.errorCode === ErrorCode.NONE && t.name ? { ...t, topicAuthorizedOperations: operationsOn(ResourceType.TOPIC, t.name) } : t)) : topics,
        clusterAuthorizedOperations:
          v >= 8 && v <= 10 && req.includeClusterAuthorizedOperations
            ? may(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME)
              ? operationsOn(ResourceType.CLUSTER, CLUSTER_NAME)
              : 0
            : AUTHORIZED_OPERATIONS_NOT_REQUESTED,
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
        // Kafka's offline replicas: on a dead broker, or in a failed log dir of a live one
        offlineReplicas: p.replicas.filter((r) => !isLive(r) || b.metadata.isReplicaInFailedDir(r, t.name, p.partition)),
      };
    }),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_NOT_REQUESTED,
  };
}
