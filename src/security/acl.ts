/**
 * Kafka's ACL model (org.apache.kafka.common.acl / resource): resource types, pattern types, operations and
 * permission types with their protocol ids and the names Kafka writes in ZooKeeper and prints; bindings and binding
 * filters (DescribeAcls, DeleteAcls), and which bindings apply to a resource.
 */

export const ResourceType = { UNKNOWN: 0, ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5, DELEGATION_TOKEN: 6, USER: 7 } as const;
export const PatternType = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
export const AclOperation = {
  UNKNOWN: 0,
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;
export const PermissionType = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 } as const;

/** Authorizer class names kfk honours (authorizer.class.name): Kafka's ACL authorizers, ZooKeeper and KRaft era. */
export const ACL_AUTHORIZER_CLASSES = [
  'kafka.security.authorizer.AclAuthorizer',
  'kafka.security.auth.SimpleAclAuthorizer',
  'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
] as const;

/** The one name of the cluster resource. */
export const CLUSTER_NAME = 'kafka-cluster';
export const WILDCARD_RESOURCE = '*';
export const WILDCARD_PRINCIPAL = 'User:*';
export const WILDCARD_HOST = '*';

/** Names as ZooKeeper nodes and JSON carry them (SecurityUtils.resourceTypeName / operationName / permissionTypeName). */
export const RESOURCE_TYPE_NAMES: Readonly<Record<number, string>> = {
  [ResourceType.TOPIC]: 'Topic',
  [ResourceType.GROUP]: 'Group',
  [ResourceType.CLUSTER]: 'Cluster',
  [ResourceType.TRANSACTIONAL_ID]: 'TransactionalId',
  [ResourceType.DELEGATION_TOKEN]: 'DelegationToken',
  [ResourceType.USER]: 'User',
};

export const OPERATION_NAMES: Readonly<Record<number, string>> = {
  [AclOperation.ALL]: 'All',
  [AclOperation.READ]: 'Read',
  [AclOperation.WRITE]: 'Write',
  [AclOperation.CREATE]: 'Create',
  [AclOperation.DELETE]: 'Delete',
  [AclOperation.ALTER]: 'Alter',
  [AclOperation.DESCRIBE]: 'Describe',
  [AclOperation.CLUSTER_ACTION]: 'ClusterAction',
  [AclOperation.DESCRIBE_CONFIGS]: 'DescribeConfigs',
  [AclOperation.ALTER_CONFIGS]: 'AlterConfigs',
  [AclOperation.IDEMPOTENT_WRITE]: 'IdempotentWrite',
  [AclOperation.CREATE_TOKENS]: 'CreateTokens',
  [AclOperation.DESCRIBE_TOKENS]: 'DescribeTokens',
};

export const PERMISSION_NAMES: Readonly<Record<number, string>> = { [PermissionType.ALLOW]: 'Allow', [PermissionType.DENY]: 'Deny' };

/** The enum names, as kafka-acls.sh prints them (TOPIC, LITERAL, READ, ALLOW). */
export function enumName(table: Readonly<Record<string, number>>, id: number): string {
  return Object.entries(table).find(([, v]) => v === id)?.[0] ?? 'UNKNOWN';
}

/** Parses a name as Kafka's fromString does: case-insensitive, camel case or enum style ("DescribeConfigs", "DESCRIBE_CONFIGS"). */
export function parseEnum(table: Readonly<Record<string, number>>, s: string): number | undefined {
  const norm = s.trim().replace(/[-_\s]/g, '').toUpperCase();
  for (const [k, v] of Object.entries(table)) if (k.replace(/_/g, '') === norm) return v;
  return undefined;
}

export function nameToId(names: Readonly<Record<number, string>>, s: string): number | undefined {
  const lower = s.trim().toLowerCase();
  for (const [id, n] of Object.entries(names)) if (n.toLowerCase() === lower) return Number(id);
  return undefined;
}

export interface ResourcePattern {
  readonly resourceType: number;
  readonly name: string;
  readonly patternType: number;
}

export interface AccessControlEntry {
  /** "User:alice" (any "Type:name"; "User:*" for everyone). */
  readonly principal: string;
  /** An IP address, or "*". */
  readonly host: string;
  readonly operation: number;
  readonly permissionType: number;
}

export interface AclBinding extends ResourcePattern, AccessControlEntry {}

/** A DescribeAcls / DeleteAcls filter: ANY and null match everything; MATCH matches what would apply to a resource. */
export interface AclBindingFilter {
  readonly resourceType: number;
  readonly name: string | null;
  readonly patternType: number;
  readonly principal: string | null;
  readonly host: string | null;
  readonly operation: number;
  readonly permissionType: number;
}

/** Whether a stored pattern applies to a resource of that type and name (a literal name, '*', or a prefix of it). */
export function patternApplies(p: ResourcePattern, resourceType: number, name: string): boolean {
  if (p.resourceType !== resourceType) return false;
  if (p.patternType === PatternType.LITERAL) return p.name === name || p.name === WILDCARD_RESOURCE;
  if (p.patternType === PatternType.PREFIXED) return name.startsWith(p.name);
  return false;
}

function patternMatchesFilter(p: ResourcePattern, f: AclBindingFilter): boolean {
  if (f.resourceType !== ResourceType.ANY && f.resourceType !== p.resourceType) return false;
  if (f.patternType === PatternType.MATCH) {
    // bindings that apply to the filter's (literal) name: the name itself, '*', and prefixes of it
    if (f.name === null) return true;
    if (p.patternType === PatternType.LITERAL) return p.name === f.name || p.name === WILDCARD_RESOURCE;
    return p.patternType === PatternType.PREFIXED && f.name.startsWith(p.name);
  }
  if (f.patternType !== PatternType.ANY && f.patternType !== p.patternType) return false;
  return f.name === null || f.name === p.name;
}

/** AclBindingFilter.matches. */
export function filterMatches(f: AclBindingFilter, b: AclBinding): boolean {
  if (!patternMatchesFilter(b, f)) return false;
  if (f.principal !== null && f.principal !== b.principal) return false;
  if (f.host !== null && f.host !== b.host) return false;
  if (f.operation !== AclOperation.ANY && f.operation !== b.operation) return false;
  if (f.permissionType !== PermissionType.ANY && f.permissionType !== b.permissionType) return false;
  return true;
}

/** Operations an ALLOW of `granted` also grants (Kafka: Read/Write/Delete/Alter imply Describe; AlterConfigs implies DescribeConfigs). */
export function allowImplies(granted: number, requested: number): boolean {
  if (granted === requested || granted === AclOperation.ALL) return true;
  if (requested === AclOperation.DESCRIBE) return granted === AclOperation.READ || granted === AclOperation.WRITE || granted === AclOperation.DELETE || granted === AclOperation.ALTER;
  if (requested === AclOperation.DESCRIBE_CONFIGS) return granted === AclOperation.ALTER_CONFIGS;
  return false;
}

/** "Topic:LITERAL:foo", as Kafka's ResourcePattern prints in logs and kafka-acls.sh. */
export function patternString(p: ResourcePattern): string {
  return `ResourcePattern(resourceType=${enumName(ResourceType, p.resourceType)}, name=${p.name}, patternType=${enumName(PatternType, p.patternType)})`;
}

export function bindingKey(b: AclBinding): string {
  return [b.resourceType, b.patternType, b.name, b.principal, b.host, b.operation, b.permissionType].join('\u0000');
}

/** The operations defined for each resource type (for authorized_operations bit fields and kafka-acls.sh checks). */
export const RESOURCE_OPERATIONS: Readonly<Record<number, readonly number[]>> = {
  [ResourceType.TOPIC]: [AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE, AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS],
  [ResourceType.GROUP]: [AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE],
  [ResourceType.CLUSTER]: [AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE],
  [ResourceType.TRANSACTIONAL_ID]: [AclOperation.DESCRIBE, AclOperation.WRITE],
  [ResourceType.DELEGATION_TOKEN]: [AclOperation.DESCRIBE],
  [ResourceType.USER]: [AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS],
};
