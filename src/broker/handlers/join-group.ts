/**
 * JoinGroup (key 11), v0-9. v0 has no rebalance timeout (the session timeout is used, as Kafka does);
 * v4+ require a known member id: an unknown member first gets MEMBER_ID_REQUIRED with its id (KIP-394);
 * v5+ carry group.instance.id (static membership); v7+ return the protocol type; v9 may tell a static
 * leader rejoining a stable group to skip the assignment (KIP-814). The response waits for the rebalance.
 */
import type { JoinGroupRequest, JoinGroupResponseInput } from '../../protocol/generated/join-group.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { GroupServices } from './group-services.js';

/** Kafka shows a member's host as InetAddress.toString() does: `/127.0.0.1` (no port). */
export function memberHost(remote: string): string {
  const host = remote.replace(/:\d+$/, '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return `/${host}`;
}

export function joinGroupHandler(b: GroupServices): ApiHandler<JoinGroupRequest, JoinGroupResponseInput> {
  return {
    apiKey: 11,
    minVersion: 0,
    maxVersion: 9,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const gc = b.groupCoordinator;
      if (!gc) return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, generationId: -1, protocolName: null, leader: '', memberId: req.memberId, members: [] };
      const r = await gc.join(req.groupId, {
        memberId: req.memberId,
        groupInstanceId: v >= 5 ? req.groupInstanceId : null,
        clientId: ctx.clientId ?? '',
        clientHost: memberHost(ctx.clientHost),
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: v >= 1 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
        protocolType: req.protocolType,
        protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
        requireKnownMemberId: v >= 4,
        supportsSkipAssignment: v >= 9,
      });
      return {
        throttleTimeMs: 0,
        errorCode: r.errorCode,
        generationId: r.generationId,
        protocolType: r.protocolType,
        // Before v7 the protocol name is not nullable.
        protocolName: v >= 7 ? r.protocolName : (r.protocolName ?? ''),
        leader: r.leader,
        skipAssignment: r.skipAssignment,
        memberId: r.memberId,
        members: r.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
      };
    },
  };
}
