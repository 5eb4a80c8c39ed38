/**
 * ListGroups (key 16), v0-4: the groups this broker coordinates. v4 filters by state (case-insensitive)
 * and returns each group's state. v5's type filter (KIP-848 groups) is not served, so not advertised.
 */
import type { ListGroupsRequest, ListGroupsResponseInput } from '../../protocol/generated/list-groups.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

export function listGroupsHandler(b: GroupServices): ApiHandler<ListGroupsRequest, ListGroupsResponseInput> {
  return {
    apiKey: 16,
    minVersion: 0,
    maxVersion: 4,
    handle(req, ctx) {
      const gc = b.groupCoordinator;
      if (!gc) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, groups: [] };
      const groups = gc.listGroups(ctx.apiVersion >= 4 ? req.statesFilter : []);
      return {
        throttleTimeMs: 0,
        errorCode: gc.loading ? ErrorCode.COORDINATOR_LOAD_IN_PROGRESS : ErrorCode.NONE,
        groups: groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: 'classic' })),
      };
    },
  };
}
