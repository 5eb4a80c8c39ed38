/**
 * The Registry: kfk's source of truth for cluster metadata, with ZooKeeper's data model.
 *
 * A registry is a tree of znodes addressed by absolute slash-separated paths ("/brokers/ids/0").
 * Every node carries optional data and a Stat (version counters and zxids). The API mirrors
 * ZooKeeper's so that two backends fit behind it:
 *  - EmbeddedRegistry (./embedded.ts): an in-process tree persisted under the data dir.
 *  - ZooKeeperRegistry: a real ensemble through node-zookeeper-client.
 * test/registry-conformance.ts pins the semantics both must share.
 *
 * Semantics (ZooKeeper's):
 *  - A node's parent must exist (NO_NODE otherwise); ephemeral nodes cannot have children.
 *  - `version` counts data changes (set); `cversion` counts child creations and deletions.
 *  - Sequential nodes get the parent's cversion appended, zero-padded to 10 digits.
 *  - Ephemeral nodes belong to the session that created them and vanish when it ends.
 *  - Watches are one-shot callbacks registered by get/exists/children. They fire at most once,
 *    asynchronously, after the change is applied. A watch function registered several times on
 *    the same path (e.g. by get and exists) fires once per event, as ZooKeeper's client does.
 *    get/children on a missing node return null and register no watch (use exists to wait for
 *    a node to appear).
 *      get(p, w)       → 'changed' | 'deleted'
 *      exists(p, w)    → 'created' (if missing) | 'changed' | 'deleted' (if present)
 *      children(p, w)  → 'children' (a child created or deleted) | 'deleted'
 *  - multi() applies all operations or none.
 *
 * Notes for a node-zookeeper-client backend (the conformance suite was run against ZooKeeper 3.8
 * through a throwaway adapter, and these were the traps):
 *  - getData returns `undefined` for a node created with null data: return null.
 *  - Wrap each user Watcher in one cached function (a WeakMap from watcher to wrapper), or the
 *    client cannot de-duplicate a watcher registered by both get and exists.
 *  - Map event names NODE_CREATED/NODE_DELETED/NODE_DATA_CHANGED/NODE_CHILDREN_CHANGED to
 *    created/deleted/changed/children; exception names (NO_NODE, BAD_VERSION, ...) are already
 *    RegistryErrorCodes.
 *  - For multi, opIndex is the first result whose err is neither 0 (OK) nor -2
 *    (RUNTIME_INCONSISTENCY, ZooKeeper's mark for the ops after the failure).
 *  - Session ids, czxid and ephemeralOwner are 8-byte Buffers: take their low 53 bits.
 */

export type CreateMode = 'persistent' | 'ephemeral' | 'persistent_sequential' | 'ephemeral_sequential';

export interface Stat {
  /** Number of data changes (set) to this node. */
  version: number;
  /** Number of child creations/deletions under this node. */
  cversion: number;
  /** Zxid of the transaction that created the node (Kafka uses it as the broker epoch). */
  czxid: number;
  /** Zxid of the transaction that last changed the node's data. */
  mzxid: number;
  /** Creation time, ms since the epoch. */
  ctime: number;
  /** Last data modification time, ms since the epoch. */
  mtime: number;
  /** Owning session id for ephemeral nodes, 0 for persistent ones. */
  ephemeralOwner: number;
  dataLength: number;
  numChildren: number;
}

export interface NodeData {
  data: Buffer | null;
  stat: Stat;
}

export type WatchEventType = 'created' | 'deleted' | 'changed' | 'children';

export interface WatchEvent {
  type: WatchEventType;
  path: string;
}

export type Watcher = (event: WatchEvent) => void;

export type SessionState = 'connected' | 'disconnected' | 'expired' | 'closed';

export interface SessionEvent {
  state: SessionState;
}

export type SessionListener = (event: SessionEvent) => void;

export interface RegistrySession {
  /**
   * The session id: the ephemeralOwner of this session's nodes, never 0. ZooKeeper's session ids
   * are 64-bit; a ZooKeeper backend must map them (and ephemeralOwner) to the same number, e.g.
   * their low 53 bits, so that `stat.ephemeralOwner === registry.session.id` stays exact.
   */
  readonly id: number;
}

export type MultiOp =
  | { op: 'check'; path: string; version: number }
  | { op: 'create'; path: string; data: Buffer | null; mode?: CreateMode }
  | { op: 'set'; path: string; data: Buffer | null; version?: number }
  | { op: 'delete'; path: string; version?: number };

export type MultiResult =
  | { op: 'check' }
  | { op: 'create'; path: string }
  | { op: 'set'; stat: Stat }
  | { op: 'delete' };

export type RegistryErrorCode =
  | 'NO_NODE'
  | 'NODE_EXISTS'
  | 'BAD_VERSION'
  | 'NOT_EMPTY'
  | 'NO_CHILDREN_FOR_EPHEMERALS'
  | 'BAD_ARGUMENTS'
  | 'CONNECTION_LOSS'
  | 'SESSION_EXPIRED'
  | 'CLOSED'
  | 'SYSTEM_ERROR';

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  /** For errors raised by multi(): the index of the operation that failed. */
  opIndex?: number;

  constructor(
    readonly code: RegistryErrorCode,
    readonly path?: string,
    message?: string,
  ) {
    super(message ?? (path !== undefined ? `${code}: ${path}` : code));
  }
}

export function isRegistryError(e: unknown, code?: RegistryErrorCode): e is RegistryError {
  return e instanceof RegistryError && (code === undefined || e.code === code);
}

export interface Registry {
  readonly session: RegistrySession;

  /**
   * Create a node. The parent must exist. Returns the actual path (with the sequence suffix for
   * sequential modes).
   */
  create(path: string, data: Buffer | null, mode?: CreateMode): Promise<string>;

  /** Data and stat of a node, or null if it does not exist (no watch is set then). */
  get(path: string, watch?: Watcher): Promise<NodeData | null>;

  /** Compare-and-set: expectedVersion -1 matches any version. */
  set(path: string, data: Buffer | null, expectedVersion?: number): Promise<Stat>;

  /** Delete a node without children. expectedVersion -1 matches any version. */
  delete(path: string, expectedVersion?: number): Promise<void>;

  /** Delete a node and its whole subtree. Returns false if the node did not exist. */
  deleteRecursive(path: string): Promise<boolean>;

  /** Stat of a node or null. With a watch: fires on creation if missing, on change/delete if present. */
  exists(path: string, watch?: Watcher): Promise<Stat | null>;

  /** Sorted child names, or null if the node does not exist (no watch is set then). */
  children(path: string, watch?: Watcher): Promise<string[] | null>;

  /** Create the node and any missing ancestors as persistent nodes with null data. */
  mkdirp(path: string): Promise<void>;

  /** Apply all operations atomically, or none (throws the first failure, with opIndex set). */
  multi(ops: MultiOp[]): Promise<MultiResult[]>;

  /** Listen to session state changes; returns an unsubscribe function. */
  onSessionEvent(listener: SessionListener): () => void;

  /** End the session: its ephemeral nodes are deleted (firing other sessions' watches). */
  close(): Promise<void>;
}

/** Validate a znode path as ZooKeeper does; throws RegistryError('BAD_ARGUMENTS'). */
export function validatePath(path: string, sequential = false): void {
  const bad = (why: string): never => {
    throw new RegistryError('BAD_ARGUMENTS', path, `Invalid path ${JSON.stringify(path)}: ${why}`);
  };
  if (typeof path !== 'string' || path.length === 0) bad('empty');
  if (path[0] !== '/') bad('must start with /');
  if (path === '/') return;
  if (path.endsWith('/') && !sequential) bad('must not end with /');
  const parts = path.slice(1).split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    if (part === '' && !(last && sequential)) bad('empty node name');
    if (part === '.' || part === '..') bad('relative paths are not allowed');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/.test(part)) bad('invalid character');
  }
}

/** Parent of a normalized path ("/" for top-level nodes). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last component of a path ("" for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** The sequence suffix ZooKeeper appends: the parent's cversion, 10 digits, zero-padded. */
export function sequenceSuffix(n: number): string {
  return String(n).padStart(10, '0');
}

export function isSequential(mode: CreateMode): boolean {
  return mode === 'persistent_sequential' || mode === 'ephemeral_sequential';
}

export function isEphemeral(mode: CreateMode): boolean {
  return mode === 'ephemeral' || mode === 'ephemeral_sequential';
}
