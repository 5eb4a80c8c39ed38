/**
 * User and client-id configs in the registry, where Kafka (ZooKeeper mode) keeps them:
 *
 *   /config/users/<user>                      SCRAM credentials and quotas of a user ("<default>": every user)
 *   /config/users/<user>/clients/<client-id>  quotas of a client id of that user
 *   /config/clients/<client-id>               quotas of a client id ("<default>": every client id)
 *
 * Each holds {"version":1,"config":{...}} (all values strings); names are URL-encoded as Kafka's Sanitizer does.
 * A write also creates a sequential /config/changes/config_change_ node naming the entity, so every broker picks
 * it up. EntityConfigCache is a broker's copy of all of them, re-read when a change notification appears.
 */
import type { MultiOp, Registry } from '../registry/registry.js';
import { ConfigChangeFollower } from '../registry/config-change-follower.js';
import { configChangePrefix, configChangesPath, decodeEntityConfig, encodeEntityConfig } from '../registry/paths.js';
import type { Logger } from '../server/logger.js';

export const DEFAULT_ENTITY = '<default>';

/** Kafka's Sanitizer.sanitize: URL encoding with '*' as %2A and ' ' as %20 (a ZooKeeper-safe node name). */
export function sanitizeEntityName(name: string): string {
  if (name === DEFAULT_ENTITY) return name;
  // encodeURIComponent leaves - _ . ! ~ * ' ( ) as is; Java's URLEncoder leaves - _ . * and encodes ~ ! ' ( )
  return encodeURIComponent(name)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/\*/g, '%2A');
}

/** Whether a name can be an entity's node (not empty; "." and ".." are not node names, even URL-encoded). */
export function isValidEntityName(name: string): boolean {
  const s = sanitizeEntityName(name);
  return s !== '' && s !== '.' && s !== '..';
}

export function desanitizeEntityName(node: string): string {
  if (node === DEFAULT_ENTITY) return node;
  try {
    return decodeURIComponent(node.replace(/\+/g, ' '));
  } catch {
    return node;
  }
}

export function userEntityPath(user: string): string {
  return `users/${sanitizeEntityName(user)}`;
}

export function clientEntityPath(clientId: string): string {
  return `clients/${sanitizeEntityName(clientId)}`;
}

export function userClientEntityPath(user: string, clientId: string): string {
  return `users/${sanitizeEntityName(user)}/clients/${sanitizeEntityName(clientId)}`;
}

export async function readEntityConfig(registry: Registry, entityPath: string): Promise<Record<string, string>> {
  const node = await registry.get(`/config/${entityPath}`);
  return node ? decodeEntityConfig(node.data) : {};
}

/**
 * Writes an entity's whole config and its change notification in one multi-op (parents created first), as
 * Kafka's AdminZkClient.changeEntityConfig does.
 */
export async function writeEntityConfig(registry: Registry, entityPath: string, config: Record<string, string>): Promise<void> {
  const path = `/config/${entityPath}`;
  await registry.mkdirp(path.slice(0, path.lastIndexOf('/')));
  for (let attempt = 0; ; attempt++) {
    const exists = await registry.exists(path);
    const ops: MultiOp[] = [
      exists ? { op: 'set', path, data: encodeEntityConfig(config), version: exists.version } : { op: 'create', path, data: encodeEntityConfig(config), mode: 'persistent' },
      { op: 'create', path: `${configChangesPath}/${configChangePrefix}`, data: Buffer.from(JSON.stringify({ version: 2, entity_path: entityPath })), mode: 'persistent_sequential' },
    ];
    try {
      await registry.multi(ops);
      return;
    } catch (err) {
      // another writer got there between the read and the write: read again (a few times)
      const code = (err as { code?: string }).code;
      if (attempt < 5 && (code === 'BAD_VERSION' || code === 'NODE_EXISTS' || code === 'NO_NODE')) continue;
      throw err;
    }
  }
}

export interface EntityConfigs {
  /** By user name (desanitized) or "<default>". */
  readonly users: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** By user name (or "<default>"), then client id (or "<default>"). */
  readonly userClients: ReadonlyMap<string, ReadonlyMap<string, Readonly<Record<string, string>>>>;
  /** By client id or "<default>". */
  readonly clients: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

const EMPTY: EntityConfigs = { users: new Map(), userClients: new Map(), clients: new Map() };

/** Reads every user, user/client and client config. */
export async function readAllEntityConfigs(registry: Registry): Promise<EntityConfigs> {
  const users = new Map<string, Record<string, string>>();
  const userClients = new Map<string, Map<string, Record<string, string>>>();
  const clients = new Map<string, Record<string, string>>();
  for (const node of (await registry.children('/config/users')) ?? []) {
    const name = desanitizeEntityName(node);
    const data = await registry.get(`/config/users/${node}`);
    if (data) users.set(name, safeDecode(data.data));
    const cs = (await registry.children(`/config/users/${node}/clients`)) ?? [];
    if (cs.length > 0) {
      const m = new Map<string, Record<string, string>>();
      for (const c of cs) {
        const cd = await registry.get(`/config/users/${node}/clients/${c}`);
        if (cd) m.set(desanitizeEntityName(c), safeDecode(cd.data));
      }
      userClients.set(name, m);
    }
  }
  for (const node of (await registry.children('/config/clients')) ?? []) {
    const data = await registry.get(`/config/clients/${node}`);
    if (data) clients.set(desanitizeEntityName(node), safeDecode(data.data));
  }
  return { users, userClients, clients };
}

function safeDecode(data: Buffer | null): Record<string, string> {
  try {
    return decodeEntityConfig(data);
  } catch {
    return {}; // a node another tool wrote badly: treated as empty rather than failing every reader
  }
}

/**
 * A broker's copy of the user and client configs, re-read (whole: they are few) whenever /config/changes gets a
 * child naming users or clients, and on start. Listeners hear about each new copy.
 */
export class EntityConfigCache {
  private configs: EntityConfigs = EMPTY;
  private readonly listeners: Array<(c: EntityConfigs) => void> = [];
  private readonly changes: ConfigChangeFollower;

  constructor(
    private readonly registry: Registry,
    logger: Logger,
  ) {
    this.changes = new ConfigChangeFollower(registry, logger, {
      what: 'user and client configs',
      concerns: (entityPath) => entityPath.startsWith('users/') || entityPath.startsWith('clients/'),
      reread: async () => {
        this.configs = await readAllEntityConfigs(this.registry);
        for (const l of this.listeners) l(this.configs);
      },
    });
  }

  get current(): EntityConfigs {
    return this.configs;
  }

  onUpdate(listener: (c: EntityConfigs) => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    await this.registry.mkdirp('/config/users');
    await this.registry.mkdirp('/config/clients');
    await this.changes.start();
  }

  /** Re-reads everything (a new registry session may have missed notifications). */
  reload(): Promise<void> {
    return this.changes.reload();
  }

  close(): void {
    this.changes.close();
  }
}
