/**
 * DeleteGroups (key 42), v0-2. Only an Empty group can be deleted (NON_EMPTY_GROUP otherwise;
 * GROUP_ID_NOT_FOUND when unknown); its offsets and metadata get tombstones in __consumer_offsets.
 */
import type { DeleteGroupsRequest, DeleteGroupsResponseInput } from '../../protocol/generated/delete-groups.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

export function deleteGroupsHandler(b: GroupServices): ApiHandler<DeleteGroupsRequest, DeleteGroupsResponseInput> {
  return {
    apiKey: 42,
    minVersion: 0,
    maxVersion: 2,
    async handle(req) {
      const gc = b.groupCoordinator;
      const results = [];
      for (const groupId of req.groupsNames) {
        results.push({ groupId, errorCode: gc ? await gc.deleteGroup(groupId) : ErrorCode.COORDINATOR_NOT_AVAILABLE });
      }
      return { throttleTimeMs: 0, results };
    },
  };
}
