/**
 * LeaveGroup (key 13), v0-5. v0-2 remove one member (its error is the top-level error); v3+ a batch of
 * members, each by member id or group.instance.id (KIP-345), with per-member errors; v5 adds a reason.
 */
import type { LeaveGroupRequest, LeaveGroupResponseInput } from '../../protocol/generated/leave-group.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

export function leaveGroupHandler(b: GroupServices): ApiHandler<LeaveGroupRequest, LeaveGroupResponseInput> {
  return {
    apiKey: 13,
    minVersion: 0,
    maxVersion: 5,
    handle(req, ctx) {
      const v = ctx.apiVersion;
      const gc = b.groupCoordinator;
      const leaving = v >= 3 ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId })) : [{ memberId: req.memberId, groupInstanceId: null }];
      const r = gc ? gc.leave(req.groupId, leaving) : { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] as number[] };
      if (v < 3) return { throttleTimeMs: 0, errorCode: r.errorCode !== ErrorCode.NONE ? r.errorCode : (r.members[0] ?? ErrorCode.NONE), members: [] };
      return {
        throttleTimeMs: 0,
        errorCode: r.errorCode,
        members: r.errorCode !== ErrorCode.NONE ? [] : leaving.map((m, i) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: r.members[i]! })),
      };
    },
  };
}
