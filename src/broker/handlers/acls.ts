/**
 * DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), v0-3, as Kafka's AclApis over the authorizer
 * (src/security/authorizer.ts). v0 knows literal patterns only. Without an authorizer every answer is
 * SECURITY_DISABLED ("No Authorizer is configured on the broker"), as Kafka's.
 *
 * A creation is refused (INVALID_REQUEST) for an unknown or "any" resource type, pattern type other than LITERAL or
 * PREFIXED, operation or permission; an empty resource name; a CLUSTER resource not named kafka-cluster; a principal
 * not of the form Type:name.
 */
import type { CreateAclsRequest, CreateAclsResponseInput } from '../../protocol/generated/create-acls.js';
import type { DescribeAclsRequest, DescribeAclsResponseDescribeAclsResourceInput, DescribeAclsResponseInput } from '../../protocol/generated/describe-acls.js';
import type { DeleteAclsRequest, DeleteAclsResponseDeleteAclsFilterResultInput, DeleteAclsResponseInput } from '../../protocol/generated/delete-acls.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../../server/request.js';
import type { Logger } from '../../server/logger.js';
import { AclOperation, CLUSTER_NAME, PatternType, PermissionType, ResourceType, type AclBinding, type AclBindingFilter } from '../../security/acl.js';
import type { AclAuthorizer } from '../../security/authorizer.js';
import { patternKey, resourcePath } from '../../security/acl-store.js';
import { validatePath } from '../../registry/registry.js';

const DISABLED = 'No Authorizer is configured on the broker';

/** The authorizer, or null when the broker runs without one. */
export type AuthorizerRef = () => AclAuthorizer | null;

function filterOf(f: {
  resourceTypeFilter: number;
  resourceNameFilter: string | null;
  patternTypeFilter: number;
  principalFilter: string | null;
  hostFilter: string | null;
  operation: number;
  permissionType: number;
}): AclBindingFilter {
  return {
    resourceType: f.resourceTypeFilter,
    name: f.resourceNameFilter,
    patternType: f.patternTypeFilter,
    principal: f.principalFilter,
    host: f.hostFilter,
    operation: f.operation,
    permissionType: f.permissionType,
  };
}

/** Why a filter cannot match anything sensible (unknown enums), as Kafka's AclBindingFilter.findIndefiniteField. */
function invalidFilter(f: AclBindingFilter): string | null {
  if (f.resourceType === ResourceType.UNKNOWN || f.resourceType > ResourceType.USER) return 'Resource type is UNKNOWN';
  if (f.patternType === PatternType.UNKNOWN || f.patternType > PatternType.PREFIXED) return 'Resource pattern type is UNKNOWN';
  if (f.operation === AclOperation.UNKNOWN || f.operation > AclOperation.DESCRIBE_TOKENS) return 'Operation is UNKNOWN';
  if (f.permissionType === PermissionType.UNKNOWN || f.permissionType > PermissionType.ALLOW) return 'Permission type is UNKNOWN';
  return null;
}

export function describeAclsHandler(auth: AuthorizerRef): ApiHandler<DescribeAclsRequest, DescribeAclsResponseInput> {
  return {
    apiKey: 29,
    minVersion: 0,
    maxVersion: 3,
    handle(req) {
      const a = auth();
      if (a === null) return { throttleTimeMs: 0, errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: DISABLED, resources: [] };
      const filter = filterOf(req);
      const invalid = invalidFilter(filter);
      if (invalid !== null) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: invalid, resources: [] };
      const byResource = new Map<string, DescribeAclsResponseDescribeAclsResourceInput>();
      for (const b of a.describe(filter)) {
        const k = patternKey(b);
        let r = byResource.get(k);
        if (!r) byResource.set(k, (r = { resourceType: b.resourceType, resourceName: b.name, patternType: b.patternType, acls: [] }));
        r.acls!.push({ principal: b.principal, host: b.host, operation: b.operation, permissionType: b.permissionType });
      }
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, resources: [...byResource.values()] };
    },
  };
}

function creationError(b: AclBinding): string | null {
  if (b.resourceType === ResourceType.UNKNOWN || b.resourceType === ResourceType.ANY || b.resourceType > ResourceType.USER) return 'Invalid resource type';
  if (b.patternType !== PatternType.LITERAL && b.patternType !== PatternType.PREFIXED) return 'Resource pattern type must be LITERAL or PREFIXED';
  if (b.operation === AclOperation.UNKNOWN || b.operation === AclOperation.ANY || b.operation > AclOperation.DESCRIBE_TOKENS) return 'Invalid operation';
  if (b.permissionType !== PermissionType.ALLOW && b.permissionType !== PermissionType.DENY) return 'Invalid permission type';
  if (b.name === '') return 'Invalid empty resource name specified';
  if (b.resourceType === ResourceType.CLUSTER && b.name !== CLUSTER_NAME) return `The only valid name for the CLUSTER resource is ${CLUSTER_NAME}`;
  const i = b.principal.indexOf(':');
  if (i <= 0 || i === b.principal.length - 1) return `expected a string in format principalType:principalName but got ${b.principal}`;
  if (b.host === '') return 'Invalid empty host';
  try {
    validatePath(resourcePath(b));
  } catch {
    return `Invalid resource name ${JSON.stringify(b.name)}: it cannot be stored (no '/', '.', '..' or control characters)`;
  }
  return null;
}

export function createAclsHandler(auth: AuthorizerRef, logger: Logger): ApiHandler<CreateAclsRequest, CreateAclsResponseInput> {
  return {
    apiKey: 30,
    minVersion: 0,
    maxVersion: 3,
    async handle(req) {
      const a = auth();
      if (a === null) return { throttleTimeMs: 0, results: req.creations.map(() => ({ errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: DISABLED })) };
      const bindings: AclBinding[] = req.creations.map((c) => ({
        resourceType: c.resourceType,
        name: c.resourceName,
        patternType: c.resourcePatternType,
        principal: c.principal,
        host: c.host,
        operation: c.operation,
        permissionType: c.permissionType,
      }));
      const errors = bindings.map(creationError);
      const valid = bindings.filter((_, i) => errors[i] === null);
      const stored = await a.create(valid);
      let v = 0;
      return {
        throttleTimeMs: 0,
        results: bindings.map((_, i) => {
          const e = errors[i];
          if (e !== null && e !== undefined) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: e };
          const err = stored[v++];
          if (err) {
            logger.error(`CreateAcls: storing an ACL failed: ${err.stack ?? err.message}`);
            return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null };
          }
          return { errorCode: ErrorCode.NONE, errorMessage: null };
        }),
      };
    },
  };
}

export function deleteAclsHandler(auth: AuthorizerRef, logger: Logger): ApiHandler<DeleteAclsRequest, DeleteAclsResponseInput> {
  return {
    apiKey: 31,
    minVersion: 0,
    maxVersion: 3,
    async handle(req) {
      const a = auth();
      if (a === null) return { throttleTimeMs: 0, filterResults: req.filters.map(() => ({ errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: DISABLED, matchingAcls: [] })) };
      const filters = req.filters.map(filterOf);
      const invalid = filters.map(invalidFilter);
      const results = await a.delete(filters.filter((_, i) => invalid[i] === null));
      let v = 0;
      const filterResults: DeleteAclsResponseDeleteAclsFilterResultInput[] = filters.map((_, i) => {
        const why = invalid[i];
        if (why !== null && why !== undefined) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: why, matchingAcls: [] };
        const r = results[v++]!;
        if ('error' in r) {
          logger.error(`DeleteAcls: removing ACLs failed: ${r.error.stack ?? r.error.message}`);
          return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null, matchingAcls: [] };
        }
        return {
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          matchingAcls: r.removed.map((b) => ({
            errorCode: ErrorCode.NONE,
            errorMessage: null,
            resourceType: b.resourceType,
            resourceName: b.name,
            patternType: b.patternType,
            principal: b.principal,
            host: b.host,
            operation: b.operation,
            permissionType: b.permissionType,
          })),
        };
      });
      return { throttleTimeMs: 0, filterResults };
    },
  };
}
