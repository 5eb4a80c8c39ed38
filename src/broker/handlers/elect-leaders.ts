/**
 * ElectLeaders (key 43), v0-2: preferred (v0+) or unclean (v1+, election_type 1) leader election on
 * the controller (NOT_CONTROLLER elsewhere, top-level from v1 so that clients look the controller up
 * again). Per partition: NONE when a leader was elected, ELECTION_NOT_NEEDED when the preferred
 * replica already leads (or, for unclean, a live leader exists), PREFERRED_LEADER_NOT_AVAILABLE /
 * ELIGIBLE_LEADERS_NOT_AVAILABLE when nobody can be elected, UNKNOWN_TOPIC_OR_PARTITION.
 * Null topic_partitions means every partition; then, as Kafka does, partitions that needed no
 * election are left out of the answer.
 */
import type { ElectLeadersRequest, ElectLeadersResponseInput, ElectLeadersResponseReplicaElectionResultInput } from '../../protocol/generated/elect-leaders.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import { ELECTION_TYPE_PREFERRED, ELECTION_TYPE_UNCLEAN, type ElectionOutcome } from '../../cluster/controller.js';
import type { BrokerServices } from './context.js';

export function electLeadersHandler(b: BrokerServices): ApiHandler<ElectLeadersRequest, ElectLeadersResponseInput> {
  return {
    apiKey: 43,
    minVersion: 0,
    maxVersion: 2,
    async handle(req, ctx) {
      const type = ctx.apiVersion >= 1 ? req.electionType : ELECTION_TYPE_PREFERRED;
      const requested = req.topicPartitions === null ? null : req.topicPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
      if (type !== ELECTION_TYPE_PREFERRED && type !== ELECTION_TYPE_UNCLEAN) {
        return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, replicaElectionResults: [] };
      }
      if (!b.controller.isActive) {
        const outcomes = (requested ?? []).map((tp) => ({ ...tp, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: null }));
        return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_CONTROLLER, replicaElectionResults: group(outcomes) };
      }
      let outcomes = await b.controller.electLeaders(type === ELECTION_TYPE_UNCLEAN ? 'unclean' : 'preferred', requested);
      if (requested === null) outcomes = outcomes.filter((o) => o.errorCode !== ErrorCode.ELECTION_NOT_NEEDED);
      const topLevel = outcomes.length > 0 && outcomes.every((o) => o.errorCode === ErrorCode.NOT_CONTROLLER) ? ErrorCode.NOT_CONTROLLER : ErrorCode.NONE;
      return { throttleTimeMs: 0, errorCode: topLevel, replicaElectionResults: group(outcomes) };
    },
  };
}

function group(outcomes: ElectionOutcome[]): ElectLeadersResponseReplicaElectionResultInput[] {
  const byTopic = new Map<string, ElectionOutcome[]>();
  for (const o of outcomes) {
    let list = byTopic.get(o.topic);
    if (!list) byTopic.set(o.topic, (list = []));
    list.push(o);
  }
  return [...byTopic.entries()].map(([topic, list]) => ({
    topic,
    partitionResult: list.map((o) => ({ partitionId: o.partition, errorCode: o.errorCode, errorMessage: o.errorMessage })),
  }));
}
