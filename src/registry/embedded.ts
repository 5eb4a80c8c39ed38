/**
 * EmbeddedRegistry: an in-process znode tree with ZooKeeper's semantics (see ./registry.ts).
 *
 * One EmbeddedRegistryStore holds the tree; each `store.connect()` opens a session (an
 * EmbeddedRegistry) with its own id, ephemeral nodes and watches, so several brokers in one
 * process share one tree exactly as several brokers share one ZooKeeper ensemble.
 *
 * Persistence: with a `dir` (or `file`), persistent nodes are saved as JSON to
 * `<dir>/registry.json`, written to a temporary file, fsynced and renamed into place. Ephemeral
 * nodes are never saved: they die with the process, as ZooKeeper sessions do. With
 * `durable: true` (the default) a mutating call resolves only once a snapshot containing it is on
 * disk; concurrent calls share one write (group commit). With `durable: false` writes are
 * debounced by `flushDelayMs`. Either way `close()` flushes. Zxids and session ids are saved too,
 * so czxid (Kafka's broker epoch) keeps increasing across restarts.
 *
 * Only one process may open a given file at a time (the broker's log-dir lock covers that).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir } from '../log/file-io.js';
import { sharedFdCache } from '../log/fd-cache.js';

import {
  type CreateMode,
  type MultiOp,
  type MultiResult,
  type NodeData,
  type Registry,
  type RegistrySession,
  type SessionListener,
  type SessionState,
  type Stat,
  type WatchEventType,
  type Watcher,
  RegistryError,
  baseName,
  isEphemeral,
  isSequential,
  joinPath,
  parentPath,
  sequenceSuffix,
  validatePath,
} from './registry.js';

/** ZooKeeper refuses packets larger than jute.maxbuffer (1 MiB by default); so do we. */
export const MAX_DATA_BYTES = 1024 * 1024 - 1;

export const REGISTRY_FILE_NAME = 'registry.json';

interface Node {
  data: Buffer | null;
  version: number;
  cversion: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  ephemeralOwner: number;
  children: Set<string>;
}

function cloneNode(n: Node): Node {
  return { ...n, children: new Set(n.children) };
}

function statOf(n: Node): Stat {
  return {
    version: n.version,
    cversion: n.cversion,
    czxid: n.czxid,
    mzxid: n.mzxid,
    ctime: n.ctime,
    mtime: n.mtime,
    ephemeralOwner: n.ephemeralOwner,
    dataLength: n.data ? n.data.length : 0,
    numChildren: n.children.size,
  };
}

type ChangeKind = 'created' | 'deleted' | 'changed' | 'children';

interface Change {
  kind: ChangeKind;
  path: string;
}

/** A write transaction: saved originals for rollback, and the watch events to fire on commit. */
interface Tx {
  zxid: number;
  time: number;
  saved: Map<string, Node | undefined>;
  changes: Change[];
}

export interface EmbeddedRegistryOptions {
  /** Persist under this directory as `registry.json`. Without dir/file the tree is memory-only. */
  dir?: string;
  /** Persist to exactly this file (overrides dir). */
  file?: string;
  /** Resolve mutating calls only after they are on disk (default true). */
  durable?: boolean;
  /** Debounce delay for non-durable writes (default 50 ms). */
  flushDelayMs?: number;
  /** fsync the snapshot and its directory (default true). */
  fsync?: boolean;
}

interface SnapshotNode {
  path: string;
  /** Data as UTF-8 text when it round-trips exactly (readable JSON), else base64. */
  text?: string;
  base64?: string;
  version: number;
  cversion: number;
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
}

interface Snapshot {
  format: 'kfk-registry';
  version: 1;
  zxid: number;
  lastSessionId: number;
  nodes: SnapshotNode[];
}

/** The shared tree. Open it with `EmbeddedRegistryStore.open()`, then `connect()` sessions. */
export class EmbeddedRegistryStore {
  private readonly nodes = new Map<string, Node>();
  private readonly sessions = new Map<number, EmbeddedRegistry>();
  private zxid = 0;
  private lastSessionId = 0;
  private closed = false;

  readonly file: string | null;
  readonly durable: boolean;
  private readonly flushDelayMs: number;
  private readonly fsync: boolean;
  private changeSeq = 0;
  private persistedSeq = 0;
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastFlushError: unknown = null;

  private constructor(opts: EmbeddedRegistryOptions) {
    this.file = opts.file ?? (opts.dir !== undefined ? join(opts.dir, REGISTRY_FILE_NAME) : null);
    this.durable = opts.durable ?? true;
    this.flushDelayMs = opts.flushDelayMs ?? 50;
    this.fsync = opts.fsync ?? true;
    const now = Date.now();
    this.nodes.set('/', {
      data: null,
      version: 0,
      cversion: 0,
      czxid: 0,
      mzxid: 0,
      pzxid: 0,
      ctime: now,
      mtime: now,
      ephemeralOwner: 0,
      children: new Set(),
    });
  }

  /** Open (or create) a store. Loads `<dir>/registry.json` if it exists. */
  static async open(opts: EmbeddedRegistryOptions = {}): Promise<EmbeddedRegistryStore> {
    const store = new EmbeddedRegistryStore(opts);
    if (store.file) {
      await mkdir(dirname(store.file), { recursive: true });
      store.load();
    }
    return store;
  }

  /** A memory-only store (tests, temporary clusters). */
  static inMemory(): EmbeddedRegistryStore {
    return new EmbeddedRegistryStore({});
  }

  /** Synchronous variant of open(). */
  static openSync(opts: EmbeddedRegistryOptions = {}): EmbeddedRegistryStore {
    const store = new EmbeddedRegistryStore(opts);
    if (store.file) {
      mkdirSync(dirname(store.file), { recursive: true });
      store.load();
    }
    return store;
  }

  /** Open a new session on this tree. */
  connect(): EmbeddedRegistry {
    if (this.closed) throw new RegistryError('CLOSED', undefined, 'registry store is closed');
    const id = ++this.lastSessionId;
    this.markDirty(); // lastSessionId is persisted so ids never repeat across restarts
    const session = new EmbeddedRegistry(this, id);
    this.sessions.set(id, session);
    return session;
  }

  /** The highest zxid assigned so far. */
  get lastZxid(): number {
    return this.zxid;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Close every open session, then write the final snapshot. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const s of [...this.sessions.values()]) await s.close();
    this.closed = true;
    await this.flush();
  }

  /** Write every change made so far to disk (no-op for memory-only stores). */
  async flush(): Promise<void> {
    if (!this.file) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const target = this.changeSeq;
    while (this.persistedSeq < target) {
      if (this.writing) {
        // Waits for the write in flight; its failure belongs to whoever started it, and this loop then writes
        // again because persistedSeq has not reached the target.
        await this.writing.catch(() => undefined);
        continue;
      }
      const p = this.writeSnapshot();
      this.writing = p;
      try {
        await p;
      } finally {
        this.writing = null;
      }
    }
  }

  // ---- internal: used by sessions ----------------------------------------------------------

  /** @internal */
  lookup(path: string): Node | undefined {
    return this.nodes.get(path);
  }

  /** @internal Run `fn` as one atomic write transaction; fires watches and persists on success. */
  write<T>(fn: (tx: Tx) => T): T {
    const tx: Tx = { zxid: ++this.zxid, time: Date.now(), saved: new Map(), changes: [] };
    let result: T;
    try {
      result = fn(tx);
    } catch (e) {
      for (const [path, orig] of tx.saved) {
        if (orig === undefined) this.nodes.delete(path);
        else this.nodes.set(path, orig);
      }
      throw e;
    }
    if (tx.saved.size > 0) {
      // Even ephemeral-only changes are saved: they move the zxid (czxid is Kafka's broker epoch,
      // which must keep increasing across restarts) and parents' cversion (sequence numbers).
      this.markDirty();
      for (const change of tx.changes) {
        for (const s of this.sessions.values()) s.trigger(change);
      }
    }
    return result;
  }

  /** @internal Resolve once the current state is durable (if this store is durable). */
  async afterWrite(): Promise<void> {
    if (this.durable && this.file) {
      try {
        await this.flush();
      } catch (e) {
        throw new RegistryError('SYSTEM_ERROR', undefined, `cannot persist registry to ${this.file}: ${String(e)}`);
      }
    }
  }

  /** @internal */
  detach(id: number): void {
    this.sessions.delete(id);
  }

  /** @internal */
  createNode(tx: Tx, path: string, data: Buffer | null, mode: CreateMode, owner: number): string {
    const seq = isSequential(mode);
    validatePath(path, seq);
    checkData(path, data);
    if (path === '/') throw new RegistryError('NODE_EXISTS', path);
    const parent = parentPath(path);
    const pnode = this.nodes.get(parent);
    if (!pnode) throw new RegistryError('NO_NODE', path);
    if (pnode.ephemeralOwner !== 0) throw new RegistryError('NO_CHILDREN_FOR_EPHEMERALS', path);
    const actual = seq ? path + sequenceSuffix(pnode.cversion) : path;
    if (this.nodes.has(actual)) throw new RegistryError('NODE_EXISTS', actual);
    this.save(tx, parent);
    this.save(tx, actual);
    const p = this.nodes.get(parent)!;
    this.nodes.set(actual, {
      data: data ? Buffer.from(data) : null,
      version: 0,
      cversion: 0,
      czxid: tx.zxid,
      mzxid: tx.zxid,
      pzxid: tx.zxid,
      ctime: tx.time,
      mtime: tx.time,
      ephemeralOwner: isEphemeral(mode) ? owner : 0,
      children: new Set(),
    });
    p.children.add(baseName(actual));
    p.cversion++;
    p.pzxid = tx.zxid;
    tx.changes.push({ kind: 'created', path: actual }, { kind: 'children', path: parent });
    return actual;
  }

  /** @internal */
  setData(tx: Tx, path: string, data: Buffer | null, expectedVersion: number): Stat {
    validatePath(path);
    checkData(path, data);
    const n = this.nodes.get(path);
    if (!n) throw new RegistryError('NO_NODE', path);
    if (expectedVersion !== -1 && n.version !== expectedVersion) throw new RegistryError('BAD_VERSION', path);
    this.save(tx, path);
    const m = this.nodes.get(path)!;
    m.data = data ? Buffer.from(data) : null;
    m.version++;
    m.mzxid = tx.zxid;
    m.mtime = tx.time;
    tx.changes.push({ kind: 'changed', path });
    return statOf(m);
  }

  /** @internal */
  deleteNode(tx: Tx, path: string, expectedVersion: number): void {
    validatePath(path);
    if (path === '/') throw new RegistryError('BAD_ARGUMENTS', path, 'cannot delete the root node');
    const n = this.nodes.get(path);
    if (!n) throw new RegistryError('NO_NODE', path);
    if (expectedVersion !== -1 && n.version !== expectedVersion) throw new RegistryError('BAD_VERSION', path);
    if (n.children.size > 0) throw new RegistryError('NOT_EMPTY', path);
    const parent = parentPath(path);
    this.save(tx, path);
    this.save(tx, parent);
    this.nodes.delete(path);
    const p = this.nodes.get(parent)!;
    p.children.delete(baseName(path));
    p.cversion++;
    p.pzxid = tx.zxid;
    tx.changes.push({ kind: 'deleted', path }, { kind: 'children', path: parent });
  }

  /** @internal */
  checkVersion(path: string, expectedVersion: number): void {
    validatePath(path);
    const n = this.nodes.get(path);
    if (!n) throw new RegistryError('NO_NODE', path);
    if (expectedVersion !== -1 && n.version !== expectedVersion) throw new RegistryError('BAD_VERSION', path);
  }

  /** @internal Paths of the nodes under `path` (excluded), deepest first. */
  subtree(path: string): string[] {
    const out: string[] = [];
    const walk = (p: string): void => {
      const n = this.nodes.get(p);
      if (!n) return;
      for (const c of n.children) {
        const cp = joinPath(p, c);
        walk(cp);
        out.push(cp);
      }
    };
    walk(path);
    return out;
  }

  /** @internal Ephemeral nodes owned by a session. */
  ephemeralsOf(owner: number): string[] {
    const out: string[] = [];
    for (const [path, n] of this.nodes) if (n.ephemeralOwner === owner) out.push(path);
    return out;
  }

  private save(tx: Tx, path: string): void {
    if (tx.saved.has(path)) return;
    const n = this.nodes.get(path);
    tx.saved.set(path, n ? cloneNode(n) : undefined);
    // Replace the live node by a copy so the saved original stays untouched.
    if (n) this.nodes.set(path, cloneNode(n));
  }

  private markDirty(): void {
    this.changeSeq++;
    if (!this.file || this.durable || this.closed) return;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush().catch((e: unknown) => {
          this.lastFlushError = e;
        });
      }, this.flushDelayMs);
      this.timer.unref();
    }
  }

  /** The last error from a background (debounced) write, if any. */
  get backgroundFlushError(): unknown {
    return this.lastFlushError;
  }

  private snapshot(): Snapshot {
    const nodes: SnapshotNode[] = [];
    const paths = [...this.nodes.keys()].sort();
    for (const path of paths) {
      const n = this.nodes.get(path)!;
      if (n.ephemeralOwner !== 0) continue;
      const sn: SnapshotNode = {
        path,
        version: n.version,
        cversion: n.cversion,
        czxid: n.czxid,
        mzxid: n.mzxid,
        pzxid: n.pzxid,
        ctime: n.ctime,
        mtime: n.mtime,
      };
      if (n.data) {
        const text = n.data.toString('utf8');
        if (Buffer.from(text, 'utf8').equals(n.data)) sn.text = text;
        else sn.base64 = n.data.toString('base64');
      }
      nodes.push(sn);
    }
    return { format: 'kfk-registry', version: 1, zxid: this.zxid, lastSessionId: this.lastSessionId, nodes };
  }

  private async writeSnapshot(): Promise<void> {
    const file = this.file!;
    const seq = this.changeSeq;
    const body = JSON.stringify(this.snapshot(), null, 1) + '\n';
    const tmp = `${file}.tmp`;
    // within the process's descriptor budget (src/log/fd-cache.ts): out of descriptors, idle log files are closed
    // and the write is tried again, instead of failing a topic creation whose logs could still be opened
    await sharedFdCache().withPermit(async () => {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(body, 'utf8');
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
    }, `writing ${tmp}`);
    await rename(tmp, file);
    // Where the platform cannot fsync a directory this is skipped (the rename is still atomic); a real failure
    // (EIO, ...) is thrown: the snapshot is not known to be durable then.
    if (this.fsync) await fsyncDir(dirname(file));
    if (seq > this.persistedSeq) this.persistedSeq = seq;
  }

  private load(): void {
    const file = this.file!;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    let snap: Snapshot;
    try {
      snap = JSON.parse(text) as Snapshot;
    } catch (e) {
      throw new RegistryError('SYSTEM_ERROR', undefined, `corrupt registry file ${file}: ${(e as Error).message}`);
    }
    if (snap?.format !== 'kfk-registry' || snap.version !== 1 || !Array.isArray(snap.nodes)) {
      throw new RegistryError('SYSTEM_ERROR', undefined, `${file} is not a kfk registry snapshot (version 1)`);
    }
    this.nodes.clear();
    for (const sn of snap.nodes) {
      const data =
        sn.text !== undefined ? Buffer.from(sn.text, 'utf8') : sn.base64 !== undefined ? Buffer.from(sn.base64, 'base64') : null;
      const node: Node = {
        data,
        version: sn.version,
        cversion: sn.cversion,
        czxid: sn.czxid,
        mzxid: sn.mzxid,
        pzxid: sn.pzxid,
        ctime: sn.ctime,
        mtime: sn.mtime,
        ephemeralOwner: 0,
        children: new Set(),
      };
      if (sn.path !== '/') {
        const parent = this.nodes.get(parentPath(sn.path));
        if (!parent) throw new RegistryError('SYSTEM_ERROR', sn.path, `corrupt registry file ${file}: ${sn.path} has no parent`);
        parent.children.add(baseName(sn.path));
      }
      this.nodes.set(sn.path, node);
    }
    if (!this.nodes.has('/')) throw new RegistryError('SYSTEM_ERROR', undefined, `corrupt registry file ${file}: no root`);
    this.zxid = snap.zxid;
    this.lastSessionId = snap.lastSessionId;
    this.changeSeq = 0;
    this.persistedSeq = 0;
  }
}

function checkData(path: string, data: Buffer | null): void {
  if (data !== null && !Buffer.isBuffer(data)) {
    throw new RegistryError('BAD_ARGUMENTS', path, `data for ${path} must be a Buffer or null`);
  }
  if (data && data.length > MAX_DATA_BYTES) {
    throw new RegistryError('BAD_ARGUMENTS', path, `data for ${path} is ${data.length} bytes; the limit is ${MAX_DATA_BYTES}`);
  }
}

type WatchKind = 'data' | 'exist' | 'child';

/** One session on an EmbeddedRegistryStore. */
export class EmbeddedRegistry implements Registry {
  readonly session: RegistrySession;
  private state: 'open' | 'closed' | 'expired' = 'open';
  private readonly watches: Record<WatchKind, Map<string, Set<Watcher>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  private readonly listeners = new Set<SessionListener>();

  /** Use `store.connect()`. */
  constructor(
    readonly store: EmbeddedRegistryStore,
    id: number,
  ) {
    this.session = { id };
  }

  private ensureOpen(): void {
    if (this.state === 'closed') throw new RegistryError('CLOSED', undefined, 'registry session is closed');
    if (this.state === 'expired') throw new RegistryError('SESSION_EXPIRED', undefined, 'registry session expired');
  }

  private addWatch(kind: WatchKind, path: string, w: Watcher | undefined): void {
    if (!w) return;
    let set = this.watches[kind].get(path);
    if (!set) this.watches[kind].set(path, (set = new Set()));
    set.add(w);
  }

  private take(kind: WatchKind, path: string, into: Set<Watcher>): void {
    const set = this.watches[kind].get(path);
    if (!set) return;
    this.watches[kind].delete(path);
    for (const w of set) into.add(w);
  }

  /** @internal Called by the store after a committed change. */
  trigger(change: Change): void {
    if (this.state !== 'open') return;
    const fire = new Set<Watcher>();
    let type: WatchEventType;
    switch (change.kind) {
      case 'created':
        type = 'created';
        this.take('exist', change.path, fire);
        this.take('data', change.path, fire);
        break;
      case 'changed':
        type = 'changed';
        this.take('data', change.path, fire);
        this.take('exist', change.path, fire);
        break;
      case 'deleted':
        type = 'deleted';
        this.take('data', change.path, fire);
        this.take('exist', change.path, fire);
        this.take('child', change.path, fire);
        break;
      case 'children':
        type = 'children';
        this.take('child', change.path, fire);
        break;
    }
    for (const w of fire) {
      const event = { type, path: change.path };
      queueMicrotask(() => {
        try {
          w(event);
        } catch (e) {
          // A throwing watcher must not break the registry; surface it like an unhandled error.
          setImmediate(() => {
            throw e;
          });
        }
      });
    }
  }

  async create(path: string, data: Buffer | null, mode: CreateMode = 'persistent'): Promise<string> {
    this.ensureOpen();
    const actual = this.store.write((tx) => this.store.createNode(tx, path, data, mode, this.session.id));
    await this.store.afterWrite();
    return actual;
  }

  async get(path: string, watch?: Watcher): Promise<NodeData | null> {
    this.ensureOpen();
    validatePath(path);
    const n = this.store.lookup(path);
    if (!n) return null;
    this.addWatch('data', path, watch);
    return { data: n.data ? Buffer.from(n.data) : null, stat: statOf(n) };
  }

  async set(path: string, data: Buffer | null, expectedVersion = -1): Promise<Stat> {
    this.ensureOpen();
    const stat = this.store.write((tx) => this.store.setData(tx, path, data, expectedVersion));
    await this.store.afterWrite();
    return stat;
  }

  async delete(path: string, expectedVersion = -1): Promise<void> {
    this.ensureOpen();
    this.store.write((tx) => this.store.deleteNode(tx, path, expectedVersion));
    await this.store.afterWrite();
  }

  async deleteRecursive(path: string): Promise<boolean> {
    this.ensureOpen();
    validatePath(path);
    if (!this.store.lookup(path)) return false;
    this.store.write((tx) => {
      for (const p of this.store.subtree(path)) this.store.deleteNode(tx, p, -1);
      if (path !== '/') this.store.deleteNode(tx, path, -1);
    });
    await this.store.afterWrite();
    return true;
  }

  async exists(path: string, watch?: Watcher): Promise<Stat | null> {
    this.ensureOpen();
    validatePath(path);
    const n = this.store.lookup(path);
    this.addWatch(n ? 'data' : 'exist', path, watch);
    return n ? statOf(n) : null;
  }

  async children(path: string, watch?: Watcher): Promise<string[] | null> {
    this.ensureOpen();
    validatePath(path);
    const n = this.store.lookup(path);
    if (!n) return null;
    this.addWatch('child', path, watch);
    return [...n.children].sort();
  }

  async mkdirp(path: string): Promise<void> {
    this.ensureOpen();
    validatePath(path);
    if (path === '/' || this.store.lookup(path)) return;
    const missing: string[] = [];
    for (let p = path; p !== '/' && !this.store.lookup(p); p = parentPath(p)) missing.unshift(p);
    this.store.write((tx) => {
      for (const p of missing) this.store.createNode(tx, p, null, 'persistent', this.session.id);
    });
    await this.store.afterWrite();
  }

  async multi(ops: MultiOp[]): Promise<MultiResult[]> {
    this.ensureOpen();
    const results = this.store.write((tx) => {
      const out: MultiResult[] = [];
      ops.forEach((op, i) => {
        try {
          switch (op.op) {
            case 'check':
              this.store.checkVersion(op.path, op.version);
              out.push({ op: 'check' });
              break;
            case 'create':
              out.push({
                op: 'create',
                path: this.store.createNode(tx, op.path, op.data, op.mode ?? 'persistent', this.session.id),
              });
              break;
            case 'set':
              out.push({ op: 'set', stat: this.store.setData(tx, op.path, op.data, op.version ?? -1) });
              break;
            case 'delete':
              this.store.deleteNode(tx, op.path, op.version ?? -1);
              out.push({ op: 'delete' });
              break;
            default:
              throw new RegistryError('BAD_ARGUMENTS', undefined, `unknown multi op ${JSON.stringify(op)}`);
          }
        } catch (e) {
          if (e instanceof RegistryError) e.opIndex = i;
          throw e;
        }
      });
      return out;
    });
    await this.store.afterWrite();
    return results;
  }

  onSessionEvent(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** End the session: delete its ephemeral nodes (other sessions' watches fire), then flush. */
  async close(): Promise<void> {
    if (this.state !== 'open') {
      this.store.detach(this.session.id);
      return;
    }
    this.end('closed');
    await this.store.flush();
  }

  /**
   * Simulate ZooKeeper session expiry (tests, fault injection): the session's ephemeral nodes
   * are deleted, its watches dropped, listeners get 'expired', and later calls fail with
   * SESSION_EXPIRED.
   */
  expire(): void {
    if (this.state !== 'open') return;
    this.end('expired');
  }

  private end(state: 'closed' | 'expired'): void {
    this.state = state;
    for (const m of Object.values(this.watches)) m.clear();
    const owned = this.store.ephemeralsOf(this.session.id);
    if (owned.length > 0) {
      this.store.write((tx) => {
        for (const p of owned) this.store.deleteNode(tx, p, -1);
      });
    }
    this.store.detach(this.session.id);
    this.emit(state);
  }

  private emit(state: SessionState): void {
    for (const l of [...this.listeners]) {
      queueMicrotask(() => l({ state }));
    }
  }

  get isClosed(): boolean {
    return this.state !== 'open';
  }
}
