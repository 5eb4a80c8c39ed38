/** Heartbeat (key 12), v0-4. REBALANCE_IN_PROGRESS tells a member to rejoin; v3+ carry group.instance.id. */
import type { HeartbeatRequest, HeartbeatResponseInput } from '../../protocol/generated/heartbeat.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

export function heartbeatHandler(b: GroupServices): ApiHandler<HeartbeatRequest, HeartbeatResponseInput> {
  return {
    apiKey: 12,
    minVersion: 0,
    maxVersion: 4,
    handle(req, ctx) {
      const gc = b.groupCoordinator;
      const errorCode = gc
        ? gc.heartbeat(req.groupId, req.memberId, ctx.apiVersion >= 3 ? req.groupInstanceId : null, req.generationId)
        : ErrorCode.COORDINATOR_NOT_AVAILABLE;
      return { throttleTimeMs: 0, errorCode };
    },
  };
}
