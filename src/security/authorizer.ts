/**
 * Kafka's AclAuthorizer (ZooKeeper era), on kfk's registry: every broker keeps a copy of all ACLs, loaded at
 * start and kept current through the change notifications (so every broker enforces the same set), and decides:
 *
 * 1. a principal in super.users may do anything;
 * 2. ACLs that apply to the resource: the literal name, the literal "*", and prefixed patterns the name starts with,
 *    whose principal is the caller or User:*, and whose host is the caller's address or "*";
 * 3. a matching DENY (for the operation or All) refuses, whatever allows;
 * 4. a matching ALLOW for the operation, All, or an operation that implies it (Read, Write, Delete, Alter imply
 *    Describe; AlterConfigs implies DescribeConfigs) allows;
 * 5. a resource without any ACL is allowed when allow.everyone.if.no.acl.found is true; otherwise refused.
 *
 * Decisions are cached until the ACLs change, so the produce and fetch paths pay a map lookup per topic.
 */
import type { Registry, Watcher } from '../registry/registry.js';
import type { Logger } from '../server/logger.js';
import {
  AclOperation,
  PatternType,
  PermissionType,
  RESOURCE_OPERATIONS,
  ResourceType,
  WILDCARD_HOST,
  WILDCARD_PRINCIPAL,
  WILDCARD_RESOURCE,
  allowImplies,
  filterMatches,
  type AccessControlEntry,
  type AclBinding,
  type AclBindingFilter,
  type ResourcePattern,
} from './acl.js';
import {
  ACL_CHANGE_PREFIX,
  EXTENDED_ACL_CHANGES_PATH,
  LITERAL_ACL_CHANGES_PATH,
  bindingsOf,
  decodeChangeNotification,
  ensureAclPaths,
  patternKey,
  readAllAcls,
  readResourceAcls,
  updateResourceAcls,
} from './acl-store.js';
import { principalString, type KafkaPrincipal } from './principal.js';

export { ACL_AUTHORIZER_CLASSES } from './acl.js';

export interface AuthorizerOptions {
  /** super.users: principals allowed everything ("User:admin;User:broker"). */
  readonly superUsers: ReadonlySet<string>;
  /** allow.everyone.if.no.acl.found */
  readonly allowEveryoneIfNoAclFound: boolean;
}

/** Parses super.users (semicolon-separated principals). */
export function parseSuperUsers(value: string | null | undefined): Set<string> {
  return new Set(
    (value ?? '')
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}

interface StoredResource {
  readonly pattern: ResourcePattern;
  readonly entries: readonly AccessControlEntry[];
}

const MAX_CACHED_DECISIONS = 100_000;

export class AclAuthorizer {
  private readonly resources = new Map<string, StoredResource>();
  /** Literal ACLs by type and name ('*' included). */
  private literal = new Map<string, readonly AccessControlEntry[]>();
  /** Prefixed ACLs by resource type. */
  private prefixed = new Map<number, StoredResource[]>();
  private decisions = new Map<string, boolean>();
  private lastSeen = new Map<string, number>();
  private stopped = false;
  private processing: Promise<void> = Promise.resolve();

  constructor(
    private readonly registry: Registry,
    readonly options: AuthorizerOptions,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await ensureAclPaths(this.registry);
    await this.reload();
  }

  /** Reads every ACL again (start, a new registry session) and re-arms the change watches. */
  async reload(): Promise<void> {
    const all = await readAllAcls(this.registry, (path, err) => this.logger.error(`ignoring the ACL node ${path}: ${err.message}`));
    this.resources.clear();
    for (const [k, r] of all) this.resources.set(k, r);
    this.rebuild();
    for (const dir of [LITERAL_ACL_CHANGES_PATH, EXTENDED_ACL_CHANGES_PATH]) {
      const children = (await this.registry.children(dir, this.watcher(dir))) ?? [];
      this.lastSeen.set(dir, Math.max(-1, ...children.map(seqOf)));
    }
  }

  private watcher(dir: string): Watcher {
    return () => {
      if (this.stopped) return;
      this.processing = this.processing.then(() => this.processChanges(dir)).catch((err: unknown) => {
        this.logger.warn(`processing ACL changes failed, reading every ACL again: ${(err as Error).message}`);
        return this.reload().catch((e: unknown) => this.logger.error(`reading the ACLs failed: ${(e as Error).message}`));
      });
    };
  }

  /** Re-reads the resources named by notifications not seen yet (and re-arms the watch). */
  private async processChanges(dir: string): Promise<void> {
    const children = (await this.registry.children(dir, this.watcher(dir))) ?? [];
    const last = this.lastSeen.get(dir) ?? -1;
    const fresh = children.filter((c) => seqOf(c) > last).sort((a, b) => seqOf(a) - seqOf(b));
    for (const c of fresh) {
      const node = await this.registry.get(`${dir}/${c}`);
      if (node === null) continue;
      const pattern = decodeChangeNotification(dir, node.data);
      const entries = await readResourceAcls(this.registry, pattern);
      const key = patternKey(pattern);
      if (entries.length === 0) this.resources.delete(key);
      else this.resources.set(key, { pattern, entries });
    }
    if (fresh.length > 0) {
      this.lastSeen.set(dir, seqOf(fresh[fresh.length - 1]!));
      this.rebuild();
    }
  }

  private rebuild(): void {
    const literal = new Map<string, AccessControlEntry[]>();
    const prefixed = new Map<number, StoredResource[]>();
    for (const r of this.resources.values()) {
      if (r.pattern.patternType === PatternType.LITERAL) literal.set(`${r.pattern.resourceType}\u0000${r.pattern.name}`, [...r.entries]);
      else {
        const list = prefixed.get(r.pattern.resourceType) ?? [];
        list.push(r);
        prefixed.set(r.pattern.resourceType, list);
      }
    }
    this.literal = literal;
    this.prefixed = prefixed;
    this.decisions = new Map();
  }

  /** The ACL entries that apply to a resource (literal, wildcard, prefixes), whoever they are for. */
  private applicable(resourceType: number, name: string): AccessControlEntry[] {
    const out: AccessControlEntry[] = [];
    const exact = this.literal.get(`${resourceType}\u0000${name}`);
    if (exact) out.push(...exact);
    if (name !== WILDCARD_RESOURCE) {
      const wild = this.literal.get(`${resourceType}\u0000${WILDCARD_RESOURCE}`);
      if (wild) out.push(...wild);
    }
    for (const r of this.prefixed.get(resourceType) ?? []) if (name.startsWith(r.pattern.name)) out.push(...r.entries);
    return out;
  }

  isSuperUser(principal: KafkaPrincipal): boolean {
    return this.options.superUsers.has(principalString(principal));
  }

  /** Whether `principal` connecting from `host` may perform `operation` on the resource. */
  authorize(principal: KafkaPrincipal, host: string, operation: number, resourceType: number, name: string): boolean {
    const p = principalString(principal);
    if (this.options.superUsers.has(p)) return true;
    const key = `${p}\u0000${host}\u0000${operation}\u0000${resourceType}\u0000${name}`;
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const result = this.decide(p, host, operation, resourceType, name);
    if (this.decisions.size >= MAX_CACHED_DECISIONS) this.decisions = new Map();
    this.decisions.set(key, result);
    return result;
  }

  private decide(principal: string, host: string, operation: number, resourceType: number, name: string): boolean {
    const acls = this.applicable(resourceType, name);
    if (acls.length === 0) return this.options.allowEveryoneIfNoAclFound;
    const mine = acls.filter((a) => (a.principal === principal || a.principal === WILDCARD_PRINCIPAL) && (a.host === host || a.host === WILDCARD_HOST));
    if (mine.some((a) => a.permissionType === PermissionType.DENY && (a.operation === operation || a.operation === AclOperation.ALL))) return false;
    return mine.some((a) => a.permissionType === PermissionType.ALLOW && allowImplies(a.operation, operation));
  }

  /**
   * Whether the principal may perform `operation` on some resource of the type (Kafka's authorizeByResourceType,
   * used for idempotent producers: Write on any topic): an ALLOW for it (or All) on a literal or prefixed pattern
   * that no DENY of the same principal covers.
   */
  authorizeByResourceType(principal: KafkaPrincipal, host: string, operation: number, resourceType: number): boolean {
    const p = principalString(principal);
    if (this.options.superUsers.has(p)) return true;
    // no ACL at all for a made-up name: allow.everyone.if.no.acl.found decides, as Kafka's default implementation
    if (this.authorize(principal, host, operation, resourceType, '\u0000hardcode')) return true;
    const relevant = [...this.resources.values()].filter((r) => r.pattern.resourceType === resourceType);
    const matches = (a: AccessControlEntry): boolean =>
      (a.principal === p || a.principal === WILDCARD_PRINCIPAL) && (a.host === host || a.host === WILDCARD_HOST) && (a.operation === operation || a.operation === AclOperation.ALL);
    const denies = relevant.filter((r) => r.entries.some((a) => matches(a) && a.permissionType === PermissionType.DENY)).map((r) => r.pattern);
    if (denies.some((d) => d.patternType === PatternType.LITERAL && d.name === WILDCARD_RESOURCE)) return false;
    const deniedFor = (allow: ResourcePattern): boolean =>
      denies.some((d) =>
        d.patternType === PatternType.PREFIXED ? allow.name.startsWith(d.name) : allow.patternType === PatternType.LITERAL && d.name === allow.name,
      );
    return relevant.some((r) => r.entries.some((a) => matches(a) && a.permissionType === PermissionType.ALLOW) && !deniedFor(r.pattern));
  }

  /** Kafka's authorized_operations bit field: bit n set when operation n is allowed on the resource. */
  authorizedOperations(principal: KafkaPrincipal, host: string, resourceType: number, name: string): number {
    let bits = 0;
    for (const op of RESOURCE_OPERATIONS[resourceType] ?? []) if (this.authorize(principal, host, op, resourceType, name)) bits |= 1 << op;
    return bits;
  }

  /** Every stored binding that matches the filter. */
  describe(filter: AclBindingFilter): AclBinding[] {
    const out: AclBinding[] = [];
    for (const r of this.resources.values()) for (const b of bindingsOf(r.pattern, r.entries)) if (filterMatches(filter, b)) out.push(b);
    return out;
  }

  /** Adds bindings (grouped by resource; each resource one compare-and-set). Returns an error per binding, or null. */
  async create(bindings: readonly AclBinding[]): Promise<(Error | null)[]> {
    const results: (Error | null)[] = bindings.map(() => null);
    const byResource = new Map<string, number[]>();
    bindings.forEach((b, i) => {
      const k = patternKey(b);
      byResource.set(k, [...(byResource.get(k) ?? []), i]);
    });
    for (const indexes of byResource.values()) {
      const pattern = bindings[indexes[0]!]!;
      try {
        const { after } = await updateResourceAcls(this.registry, { resourceType: pattern.resourceType, name: pattern.name, patternType: pattern.patternType }, (current) => {
          const next = [...current];
          for (const i of indexes) {
            const b = bindings[i]!;
            if (!next.some((e) => sameEntry(e, b))) next.push({ principal: b.principal, host: b.host, operation: b.operation, permissionType: b.permissionType });
          }
          return next;
        });
        this.resources.set(patternKey(pattern), { pattern: { resourceType: pattern.resourceType, name: pattern.name, patternType: pattern.patternType }, entries: after });
      } catch (err) {
        for (const i of indexes) results[i] = err as Error;
      }
    }
    this.rebuild();
    return results;
  }

  /** Removes every binding matching each filter; returns what each filter removed (or an error). */
  async delete(filters: readonly AclBindingFilter[]): Promise<({ removed: AclBinding[] } | { error: Error })[]> {
    const results: ({ removed: AclBinding[] } | { error: Error })[] = filters.map(() => ({ removed: [] }));
    const affected = new Map<string, ResourcePattern>();
    for (const f of filters) for (const b of this.describe(f)) affected.set(patternKey(b), { resourceType: b.resourceType, name: b.name, patternType: b.patternType });
    for (const pattern of affected.values()) {
      try {
        const { before, after } = await updateResourceAcls(this.registry, pattern, (current) =>
          current.filter((e) => !filters.some((f) => filterMatches(f, { ...pattern, ...e }))),
        );
        const removed = before.filter((e) => !after.some((a) => sameEntry(a, e)));
        filters.forEach((f, i) => {
          const r = results[i]!;
          if ('removed' in r) for (const e of removed) if (filterMatches(f, { ...pattern, ...e })) r.removed.push({ ...pattern, ...e });
        });
        if (after.length === 0) this.resources.delete(patternKey(pattern));
        else this.resources.set(patternKey(pattern), { pattern, entries: after });
      } catch (err) {
        filters.forEach((f, i) => {
          if (this.describe(f).some((b) => patternKey(b) === patternKey(pattern))) results[i] = { error: err as Error };
        });
      }
    }
    this.rebuild();
    return results;
  }

  close(): void {
    this.stopped = true;
  }
}

function sameEntry(a: AccessControlEntry, b: AccessControlEntry): boolean {
  return a.principal === b.principal && a.host === b.host && a.operation === b.operation && a.permissionType === b.permissionType;
}

function seqOf(child: string): number {
  return child.startsWith(ACL_CHANGE_PREFIX) ? Number(child.slice(ACL_CHANGE_PREFIX.length)) : -1;
}

export { ResourceType };
