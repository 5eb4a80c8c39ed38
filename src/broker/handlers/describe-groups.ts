/**
 * DescribeGroups (key 15), v0-5. An unknown group is described as Dead with no error, as Kafka does.
 * Member metadata and assignments, and the protocol name, are filled in only while the group is Stable.
 * v3+ authorized operations (no authorizer: every group operation) when asked for; v4+ group.instance.id.
 */
import type { DescribeGroupsRequest, DescribeGroupsResponseInput } from '../../protocol/generated/describe-groups.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

/** READ(3), DELETE(6), DESCRIBE(8): the ACL operations that apply to a group. */
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OMITTED = -2147483648;

export function describeGroupsHandler(b: GroupServices): ApiHandler<DescribeGroupsRequest, DescribeGroupsResponseInput> {
  return {
    apiKey: 15,
    minVersion: 0,
    maxVersion: 5,
    handle(req, ctx) {
      const gc = b.groupCoordinator;
      const ops = ctx.apiVersion >= 3 && req.includeAuthorizedOperations ? GROUP_OPERATIONS : OMITTED;
      return {
        throttleTimeMs: 0,
        groups: req.groups.map((groupId) => {
          if (!gc) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, groupId, groupState: '', protocolType: '', protocolData: '', members: [], authorizedOperations: OMITTED };
          const { errorCode, summary } = gc.describeGroup(groupId);
          if (errorCode !== ErrorCode.NONE) return { errorCode, groupId, groupState: '', protocolType: '', protocolData: '', members: [], authorizedOperations: OMITTED };
          return {
            errorCode,
            groupId,
            groupState: summary.state,
            protocolType: summary.protocolType,
            protocolData: summary.protocolData,
            members: summary.members.map((m) => ({
              memberId: m.memberId,
              groupInstanceId: m.groupInstanceId,
              clientId: m.clientId,
              clientHost: m.clientHost,
              memberMetadata: m.metadata,
              memberAssignment: m.assignment,
            })),
            authorizedOperations: ops,
          };
        }),
      };
    },
  };
}
