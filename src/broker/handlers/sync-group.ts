/**
 * SyncGroup (key 14), v0-5. The leader sends the assignment; every member waits until it is stored in
 * __consumer_offsets and then gets its own, always as bytes (empty when the leader gave it none).
 * v3+ carry group.instance.id, v5 the protocol type and name (checked, returned).
 */
import type { SyncGroupRequest, SyncGroupResponseInput } from '../../protocol/generated/sync-group.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

const EMPTY = Buffer.alloc(0);

export function syncGroupHandler(b: GroupServices): ApiHandler<SyncGroupRequest, SyncGroupResponseInput> {
  return {
    apiKey: 14,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const gc = b.groupCoordinator;
      if (!gc) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, protocolType: null, protocolName: null, assignment: EMPTY };
      const r = await gc.sync(req.groupId, {
        memberId: req.memberId,
        groupInstanceId: v >= 3 ? req.groupInstanceId : null,
        generationId: req.generationId,
        protocolType: v >= 5 ? req.protocolType : null,
        protocolName: v >= 5 ? req.protocolName : null,
        assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment ?? EMPTY })),
      });
      return { throttleTimeMs: 0, errorCode: r.errorCode, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment ?? EMPTY };
    },
  };
}
