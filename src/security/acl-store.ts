/**
 * ACLs in the registry, where Kafka's AclAuthorizer keeps them in ZooKeeper (kafka.zk.ZkData):
 *
 *   /kafka-acl/<ResourceType>/<name>                       literal patterns (name "*" = every resource)
 *   /kafka-acl-extended/prefixed/<ResourceType>/<name>     prefixed patterns
 *     {"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]}
 *   /kafka-acl-changes/acl_changes_<seq>                   "TOPIC:<name>" after a literal change
 *   /kafka-acl-extended-changes/acl_changes_<seq>          {"version":1,"resourceType":"TOPIC","name":..,"patternType":"PREFIXED"}
 *
 * A resource's ACLs change by compare-and-set on its node (re-read and retried on a conflict, as Kafka's
 * updateResourceAcls), and the node goes once its last ACL does; every change leaves a notification, so that every
 * broker re-reads the resource. Notifications older than 15 minutes are removed by the next writer.
 */
import type { MultiOp, Registry } from '../registry/registry.js';
import { isRegistryError } from '../registry/registry.js';
import {
  OPERATION_NAMES,
  PERMISSION_NAMES,
  PatternType,
  RESOURCE_TYPE_NAMES,
  ResourceType,
  enumName,
  nameToId,
  parseEnum,
  type AccessControlEntry,
  type AclBinding,
  type ResourcePattern,
} from './acl.js';

export const LITERAL_ACL_PATH = '/kafka-acl';
export const EXTENDED_ACL_PATH = '/kafka-acl-extended';
export const PREFIXED_ACL_PATH = '/kafka-acl-extended/prefixed';
export const LITERAL_ACL_CHANGES_PATH = '/kafka-acl-changes';
export const EXTENDED_ACL_CHANGES_PATH = '/kafka-acl-extended-changes';
export const ACL_CHANGE_PREFIX = 'acl_changes_';

const CHANGE_EXPIRY_MS = 15 * 60 * 1000;

function rootOf(patternType: number): string {
  if (patternType === PatternType.LITERAL) return LITERAL_ACL_PATH;
  if (patternType === PatternType.PREFIXED) return PREFIXED_ACL_PATH;
  throw new Error(`Invalid pattern type: ${enumName(PatternType, patternType)}`);
}

export function resourcePath(p: ResourcePattern): string {
  const type = RESOURCE_TYPE_NAMES[p.resourceType];
  if (type === undefined) throw new Error(`Invalid resource type: ${enumName(ResourceType, p.resourceType)}`);
  return `${rootOf(p.patternType)}/${type}/${p.name}`;
}

export async function ensureAclPaths(registry: Registry): Promise<void> {
  for (const p of [LITERAL_ACL_PATH, PREFIXED_ACL_PATH, LITERAL_ACL_CHANGES_PATH, EXTENDED_ACL_CHANGES_PATH]) await registry.mkdirp(p);
}

export function encodeAcls(entries: readonly AccessControlEntry[]): Buffer {
  const acls = entries.map((e) => ({ principal: e.principal, permissionType: PERMISSION_NAMES[e.permissionType], operation: OPERATION_NAMES[e.operation], host: e.host }));
  return Buffer.from(JSON.stringify({ version: 1, acls }), 'utf8');
}

export function decodeAcls(data: Buffer | null): AccessControlEntry[] {
  if (data === null || data.length === 0) return [];
  const o = JSON.parse(data.toString('utf8')) as { version?: unknown; acls?: unknown };
  if (o.version !== 1 || !Array.isArray(o.acls)) throw new Error('ACL node: expected {"version":1,"acls":[...]}');
  return o.acls.map((a: { principal?: unknown; permissionType?: unknown; operation?: unknown; host?: unknown }) => {
    const operation = nameToId(OPERATION_NAMES, String(a.operation));
    const permissionType = nameToId(PERMISSION_NAMES, String(a.permissionType));
    if (typeof a.principal !== 'string' || !a.principal.includes(':') || typeof a.host !== 'string' || operation === undefined || permissionType === undefined) {
      throw new Error(`ACL node: bad entry ${JSON.stringify(a)}`);
    }
    return { principal: a.principal, host: a.host, operation, permissionType };
  });
}

/** The change notification of a pattern: its path prefix and data. */
export function changeNotification(p: ResourcePattern): { path: string; data: Buffer } {
  const type = enumName(ResourceType, p.resourceType);
  if (p.patternType === PatternType.LITERAL) return { path: `${LITERAL_ACL_CHANGES_PATH}/${ACL_CHANGE_PREFIX}`, data: Buffer.from(`${type}:${p.name}`, 'utf8') };
  const event = { version: 1, resourceType: type, name: p.name, patternType: enumName(PatternType, p.patternType) };
  return { path: `${EXTENDED_ACL_CHANGES_PATH}/${ACL_CHANGE_PREFIX}`, data: Buffer.from(JSON.stringify(event), 'utf8') };
}

/** The pattern a change notification names (literal: "TYPE:name", extended: the JSON event). */
export function decodeChangeNotification(changesPath: string, data: Buffer | null): ResourcePattern {
  const s = data?.toString('utf8') ?? '';
  if (changesPath === LITERAL_ACL_CHANGES_PATH) {
    const i = s.indexOf(':');
    const type = i > 0 ? parseEnum(ResourceType, s.slice(0, i)) : undefined;
    if (type === undefined) throw new Error(`expected a string in format ResourceType:ResourceName but got ${s}`);
    return { resourceType: type, name: s.slice(i + 1), patternType: PatternType.LITERAL };
  }
  const e = JSON.parse(s) as { resourceType?: string; name?: string; patternType?: string };
  const resourceType = parseEnum(ResourceType, String(e.resourceType));
  const patternType = parseEnum(PatternType, String(e.patternType));
  if (resourceType === undefined || patternType === undefined || typeof e.name !== 'string') throw new Error(`bad ACL change event ${s}`);
  return { resourceType, name: e.name, patternType };
}

/** The ACLs of one resource pattern. */
export async function readResourceAcls(registry: Registry, p: ResourcePattern): Promise<AccessControlEntry[]> {
  const node = await registry.get(resourcePath(p));
  return node ? decodeAcls(node.data) : [];
}

/**
 * Changes one resource's ACLs (compare-and-set, retried on a concurrent change), with its change notification in
 * the same multi-op. Returns the ACLs before and after.
 */
export async function updateResourceAcls(
  registry: Registry,
  p: ResourcePattern,
  change: (current: readonly AccessControlEntry[]) => AccessControlEntry[],
): Promise<{ before: AccessControlEntry[]; after: AccessControlEntry[] }> {
  const path = resourcePath(p);
  await registry.mkdirp(path.slice(0, path.lastIndexOf('/')));
  for (let attempt = 0; ; attempt++) {
    const node = await registry.get(path);
    const before = node ? decodeAcls(node.data) : [];
    const after = change(before);
    const same = after.length === before.length && after.every((a, i) => aceEquals(a, before[i]!));
    if (same) return { before, after };
    const note = changeNotification(p);
    const ops: MultiOp[] = [];
    if (node === null) ops.push({ op: 'create', path, data: encodeAcls(after), mode: 'persistent' });
    else if (after.length === 0) ops.push({ op: 'delete', path, version: node.stat.version });
    else ops.push({ op: 'set', path, data: encodeAcls(after), version: node.stat.version });
    ops.push({ op: 'create', path: note.path, data: note.data, mode: 'persistent_sequential' });
    try {
      await registry.multi(ops);
      await purgeOldChanges(registry, note.path.slice(0, note.path.lastIndexOf('/'))).catch(() => undefined);
      return { before, after };
    } catch (err) {
      if (attempt < 10 && (isRegistryError(err, 'BAD_VERSION') || isRegistryError(err, 'NODE_EXISTS') || isRegistryError(err, 'NO_NODE'))) continue;
      throw err;
    }
  }
}

function aceEquals(a: AccessControlEntry, b: AccessControlEntry): boolean {
  return a.principal === b.principal && a.host === b.host && a.operation === b.operation && a.permissionType === b.permissionType;
}

async function purgeOldChanges(registry: Registry, dir: string, now = Date.now()): Promise<void> {
  for (const child of (await registry.children(dir)) ?? []) {
    const path = `${dir}/${child}`;
    const stat = await registry.exists(path);
    // gone or rewritten meanwhile (another writer purging): nothing to do for this one
    if (stat && now - stat.ctime > CHANGE_EXPIRY_MS) await registry.delete(path, stat.version).catch(() => undefined);
  }
}

/** Every ACL in the registry. A node that does not parse is reported through `onBadNode` and skipped. */
export async function readAllAcls(registry: Registry, onBadNode: (path: string, err: Error) => void): Promise<Map<string, { pattern: ResourcePattern; entries: AccessControlEntry[] }>> {
  const out = new Map<string, { pattern: ResourcePattern; entries: AccessControlEntry[] }>();
  for (const [root, patternType] of [
    [LITERAL_ACL_PATH, PatternType.LITERAL],
    [PREFIXED_ACL_PATH, PatternType.PREFIXED],
  ] as const) {
    for (const typeName of (await registry.children(root)) ?? []) {
      const resourceType = nameToId(RESOURCE_TYPE_NAMES, typeName);
      if (resourceType === undefined) continue;
      for (const name of (await registry.children(`${root}/${typeName}`)) ?? []) {
        const path = `${root}/${typeName}/${name}`;
        const node = await registry.get(path);
        if (!node) continue;
        try {
          const pattern = { resourceType, name, patternType };
          out.set(patternKey(pattern), { pattern, entries: decodeAcls(node.data) });
        } catch (err) {
          onBadNode(path, err as Error);
        }
      }
    }
  }
  return out;
}

export function patternKey(p: ResourcePattern): string {
  return `${p.resourceType}\u0000${p.patternType}\u0000${p.name}`;
}

/** Bindings of a stored resource. */
export function bindingsOf(pattern: ResourcePattern, entries: readonly AccessControlEntry[]): AclBinding[] {
  return entries.map((e) => ({ ...pattern, ...e }));
}
