/**
 * AlterPartitionReassignments (key 45) and ListPartitionReassignments (key 46), v0 (KIP-455): served
 * by the controller (NOT_CONTROLLER, top-level, elsewhere). Alter starts a reassignment per partition
 * (or cancels one with replicas null: NO_REASSIGNMENT_IN_PROGRESS when there is none) and answers
 * once it has started; INVALID_REPLICA_ASSIGNMENT for an empty, duplicated or not-alive replica list;
 * UNKNOWN_TOPIC_OR_PARTITION. List answers the ongoing reassignments (topics null: all) with their
 * full replica set and the adding and removing replicas.
 */
import type {
  AlterPartitionReassignmentsRequest,
  AlterPartitionReassignmentsResponseInput,
} from '../../protocol/generated/alter-partition-reassignments.js';
import type { ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponseInput } from '../../protocol/generated/list-partition-reassignments.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { BrokerServices } from './context.js';

const NOT_CONTROLLER_MESSAGE = 'This is not the correct controller for this cluster.';

export function alterPartitionReassignmentsHandler(b: BrokerServices): ApiHandler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponseInput> {
  return {
    apiKey: 45,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const requests = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas })));
      const outcomes = b.controller.isActive ? await b.controller.alterPartitionReassignments(requests) : null;
      if (outcomes === null || (outcomes.length > 0 && outcomes.every((o) => o.errorCode === ErrorCode.NOT_CONTROLLER))) {
        return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: NOT_CONTROLLER_MESSAGE, responses: [] };
      }
      const byTopic = new Map<string, Array<{ partitionIndex: number; errorCode: number; errorMessage: string | null }>>();
      for (const o of outcomes) {
        let list = byTopic.get(o.topic);
        if (!list) byTopic.set(o.topic, (list = []));
        list.push({ partitionIndex: o.partition, errorCode: o.errorCode, errorMessage: o.errorMessage });
      }
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        responses: [...byTopic.entries()].map(([name, partitions]) => ({ name, partitions })),
      };
    },
  };
}

export function listPartitionReassignmentsHandler(b: BrokerServices): ApiHandler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponseInput> {
  return {
    apiKey: 46,
    minVersion: 0,
    maxVersion: 0,
    async handle(req) {
      const wanted = req.topics === null ? null : req.topics.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })));
      const ongoing = b.controller.isActive ? await b.controller.listPartitionReassignments(wanted) : null;
      if (ongoing === null) return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: NOT_CONTROLLER_MESSAGE, topics: [] };
      const byTopic = new Map<string, Array<{ partitionIndex: number; replicas: number[]; addingReplicas: number[]; removingReplicas: number[] }>>();
      for (const o of ongoing) {
        let list = byTopic.get(o.topic);
        if (!list) byTopic.set(o.topic, (list = []));
        list.push({ partitionIndex: o.partition, replicas: o.replicas, addingReplicas: o.adding, removingReplicas: o.removing });
      }
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, topics: [...byTopic.entries()].map(([name, partitions]) => ({ name, partitions })) };
    },
  };
}
