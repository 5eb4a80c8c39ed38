/**
 * The admin operations of issue 11, on a ClusterClient (Admin.cluster): SCRAM credentials (Describe- and
 * AlterUserScramCredentials: the password is salted here, only the salt and the salted password travel, as
 * Kafka's admin client does). ACLs and client quotas are added beside them.
 */
import { randomBytes } from 'node:crypto';
import { ApiKey } from '../protocol/generated/api-table.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import type { DescribeUserScramCredentialsResponse } from '../protocol/generated/describe-user-scram-credentials.js';
import type { AlterUserScramCredentialsResponse } from '../protocol/generated/alter-user-scram-credentials.js';
import { saltedPassword, scramMechanism, scramMechanismByType, type ScramMechanismName } from '../security/scram.js';
import type { ClusterClient } from './cluster-client.js';
import type { DescribeClientQuotasResponse } from '../protocol/generated/describe-client-quotas.js';
import type { AlterClientQuotasResponse } from '../protocol/generated/alter-client-quotas.js';
import type { CreateAclsResponse } from '../protocol/generated/create-acls.js';
import type { DescribeAclsResponse } from '../protocol/generated/describe-acls.js';
import type { DeleteAclsResponse } from '../protocol/generated/delete-acls.js';
import type { AclBinding, AclBindingFilter } from '../security/acl.js';

export interface UserScramCredentials {
  readonly user: string;
  readonly credentials: readonly { mechanism: string; iterations: number }[];
}

/** A user's SCRAM credentials (all users with credentials when `users` is null). Throws a KafkaError per failed user. */
export async function describeUserScramCredentials(cluster: ClusterClient, users: readonly string[] | null): Promise<UserScramCredentials[]> {
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, { users: users === null ? null : users.map((name) => ({ name })) });
  });
  if (resp.errorCode !== ErrorCode.NONE) throw new KafkaError(resp.errorCode, resp.errorMessage ?? errorName(resp.errorCode));
  return resp.results.map((r) => {
    if (r.errorCode !== ErrorCode.NONE) throw new KafkaError(r.errorCode, r.errorMessage ?? errorName(r.errorCode));
    return { user: r.user, credentials: r.credentialInfos.map((c) => ({ mechanism: scramMechanismByType(c.mechanism)?.name ?? `UNKNOWN(${c.mechanism})`, iterations: c.iterations })) };
  });
}

export type ScramCredentialAlteration =
  | { readonly user: string; readonly mechanism: ScramMechanismName; readonly iterations: number; readonly password: string }
  | { readonly user: string; readonly mechanism: ScramMechanismName; readonly delete: true };

/** Creates, replaces or deletes SCRAM credentials; throws a KafkaError for the first user that failed. */
export async function alterUserScramCredentials(cluster: ClusterClient, alterations: readonly ScramCredentialAlteration[]): Promise<void> {
  const deletions: { name: string; mechanism: number }[] = [];
  const upsertions: { name: string; mechanism: number; iterations: number; salt: Buffer; saltedPassword: Buffer }[] = [];
  for (const a of alterations) {
    const m = scramMechanism(a.mechanism);
    if (m === undefined) throw new KafkaError(ErrorCode.UNSUPPORTED_SASL_MECHANISM, `unknown SCRAM mechanism ${a.mechanism}`);
    if ('delete' in a) deletions.push({ name: a.user, mechanism: m.type });
    else {
      const salt = randomBytes(32);
      upsertions.push({ name: a.user, mechanism: m.type, iterations: a.iterations, salt, saltedPassword: saltedPassword(m, a.password, salt, a.iterations) });
    }
  }
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, { deletions, upsertions });
  });
  for (const r of resp.results) {
    if (r.errorCode !== ErrorCode.NONE) throw new KafkaError(r.errorCode, `user ${r.user}: ${r.errorMessage ?? errorName(r.errorCode)}`);
  }
}

/** A quota entity: user and/or client id; a null name is the default entity ("<default>"). */
export interface QuotaEntity {
  readonly user?: string | null;
  readonly clientId?: string | null;
}

export interface ClientQuotaEntry {
  readonly entity: QuotaEntity;
  readonly values: Readonly<Record<string, number>>;
}

function entityComponents(e: QuotaEntity): { entityType: string; entityName: string | null }[] {
  return [
    ...(e.user !== undefined ? [{ entityType: 'user', entityName: e.user }] : []),
    ...(e.clientId !== undefined ? [{ entityType: 'client-id', entityName: e.clientId }] : []),
  ];
}

/** Quotas of the entities matching `filter` exactly (strict: no other entity types), as kafka-configs describes them. */
export async function describeClientQuotas(cluster: ClusterClient, filter: QuotaEntity, strict = true, anyOf: readonly string[] = []): Promise<ClientQuotaEntry[]> {
  const components = [
    ...entityComponents(filter).map((c) => ({ entityType: c.entityType, matchType: c.entityName === null ? 1 : 0, match: c.entityName })),
    // every entity of these types ('user', 'client-id')
    ...anyOf.map((entityType) => ({ entityType, matchType: 2, match: null })),
  ];
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, { components, strict });
  });
  if (resp.errorCode !== ErrorCode.NONE) throw new KafkaError(resp.errorCode, resp.errorMessage ?? errorName(resp.errorCode));
  return (resp.entries ?? []).map((e) => {
    const entity: { user?: string | null; clientId?: string | null } = {};
    for (const c of e.entity) {
      if (c.entityType === 'user') entity.user = c.entityName;
      else if (c.entityType === 'client-id') entity.clientId = c.entityName;
    }
    return { entity, values: Object.fromEntries(e.values.map((v) => [v.key, v.value])) };
  });
}

/** Sets (`set`) and removes (`remove`) quota values of one entity; throws a KafkaError when refused. */
export async function alterClientQuotas(cluster: ClusterClient, entity: QuotaEntity, set: Readonly<Record<string, number>>, remove: readonly string[] = []): Promise<void> {
  const ops = [...Object.entries(set).map(([key, value]) => ({ key, value, remove: false })), ...remove.map((key) => ({ key, value: 0, remove: true }))];
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, { entries: [{ entity: entityComponents(entity), ops }], validateOnly: false });
  });
  for (const e of resp.entries) if (e.errorCode !== ErrorCode.NONE) throw new KafkaError(e.errorCode, e.errorMessage ?? errorName(e.errorCode));
}

// ---- ACLs ---------------------------------------------------------------------------------------

/** Adds ACL bindings; throws a KafkaError for the first refused one. */
export async function createAcls(cluster: ClusterClient, bindings: readonly AclBinding[]): Promise<void> {
  if (bindings.length === 0) return;
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<CreateAclsResponse>(ApiKey.CreateAcls, {
      creations: bindings.map((b) => ({
        resourceType: b.resourceType,
        resourceName: b.name,
        resourcePatternType: b.patternType,
        principal: b.principal,
        host: b.host,
        operation: b.operation,
        permissionType: b.permissionType,
      })),
    });
  });
  for (const r of resp.results) if (r.errorCode !== ErrorCode.NONE) throw new KafkaError(r.errorCode, r.errorMessage ?? errorName(r.errorCode));
}

/** The ACL bindings matching a filter. */
export async function describeAcls(cluster: ClusterClient, f: AclBindingFilter): Promise<AclBinding[]> {
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<DescribeAclsResponse>(ApiKey.DescribeAcls, {
      resourceTypeFilter: f.resourceType,
      resourceNameFilter: f.name,
      patternTypeFilter: f.patternType,
      principalFilter: f.principal,
      hostFilter: f.host,
      operation: f.operation,
      permissionType: f.permissionType,
    });
  });
  if (resp.errorCode !== ErrorCode.NONE) throw new KafkaError(resp.errorCode, resp.errorMessage ?? errorName(resp.errorCode));
  return resp.resources.flatMap((r) =>
    r.acls.map((a) => ({ resourceType: r.resourceType, name: r.resourceName, patternType: r.patternType, principal: a.principal, host: a.host, operation: a.operation, permissionType: a.permissionType })),
  );
}

/** Removes the ACLs matching each filter; returns what was removed. */
export async function deleteAcls(cluster: ClusterClient, filters: readonly AclBindingFilter[]): Promise<AclBinding[]> {
  if (filters.length === 0) return [];
  const resp = await cluster.retry(async () => {
    const conn = await cluster.anyConnection();
    return conn.request<DeleteAclsResponse>(ApiKey.DeleteAcls, {
      filters: filters.map((f) => ({
        resourceTypeFilter: f.resourceType,
        resourceNameFilter: f.name,
        patternTypeFilter: f.patternType,
        principalFilter: f.principal,
        hostFilter: f.host,
        operation: f.operation,
        permissionType: f.permissionType,
      })),
    });
  });
  const removed: AclBinding[] = [];
  for (const r of resp.filterResults) {
    if (r.errorCode !== ErrorCode.NONE) throw new KafkaError(r.errorCode, r.errorMessage ?? errorName(r.errorCode));
    for (const m of r.matchingAcls) {
      removed.push({ resourceType: m.resourceType, name: m.resourceName, patternType: m.patternType, principal: m.principal, host: m.host, operation: m.operation, permissionType: m.permissionType });
    }
  }
  return removed;
}
