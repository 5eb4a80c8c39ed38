/**
 * ZooKeeperRegistry: the Registry (./registry.ts) over a real ZooKeeper ensemble, through
 * node-zookeeper-client. This is how brokers on many machines share one cluster, and how kfk's
 * znodes become visible to ZooKeeper's own tools (zkCli.sh) and to Kafka's.
 *
 *   const registry = await ZooKeeperRegistry.connect('zk1:2181,zk2:2181/kafka', {
 *     sessionTimeoutMs: 18000,
 *     connectionTimeoutMs: 18000,
 *   });
 *
 * - The chroot (`/kafka` above) is created if missing, as Kafka does, with a short-lived session
 *   on the bare ensemble; every path of the registry is then relative to it.
 * - Errors are RegistryErrors with ZooKeeper's codes mapped one to one (NONODE → NO_NODE, ...).
 * - Watches are one-shot and keep the interface's rules: a watcher registered several times on
 *   the same path (by get and exists, say) fires once per event; watchers never fire after close()
 *   or expiry.
 * - Session events: 'disconnected' when the connection drops (calls in flight fail with
 *   CONNECTION_LOSS; the client reconnects by itself), 'connected' when it is back, 'expired' when
 *   the ensemble has ended the session (its ephemeral nodes are gone), 'closed' after close().
 *   After 'expired' this object is dead, like EmbeddedRegistry after expire(): every call fails
 *   with SESSION_EXPIRED. The owner (the broker) opens a new registry with connect() and
 *   re-registers its ephemeral nodes, as Kafka does after a session expiry.
 *
 * Workarounds for node-zookeeper-client 1.1.x:
 * - transaction().check/setData/remove turn version 0 into -1 ("any"): the version is written
 *   into the queued operation directly.
 * - setData() cannot send null data: null is written as an empty buffer.
 * - close() and the connect timeout need the connection manager's internals to stop the client's
 *   reconnect loop; see shutdownClient().
 * - The client waits forever for the answer to its ConnectRequest. A server that is starting can
 *   accept the connection and then drop it without closing it (ZooKeeper 3.8 fails with an NPE
 *   while closing it), which would leave the registry disconnected for good. A watchdog closes
 *   any connection whose handshake takes longer than handshakeTimeoutMs, as ZooKeeper's Java
 *   client does after its connect timeout, and the client tries again.
 */
import zookeeper from 'node-zookeeper-client';
import type { Client, Event as ZkEvent, Stat as ZkStat } from 'node-zookeeper-client';

import { MAX_DATA_BYTES } from './embedded.js';
import {
  type CreateMode,
  type MultiOp,
  type MultiResult,
  type NodeData,
  type Registry,
  type RegistryErrorCode,
  type RegistrySession,
  type SessionListener,
  type SessionState,
  type Stat,
  type WatchEventType,
  type Watcher,
  RegistryError,
  isSequential,
  joinPath,
  parentPath,
  validatePath,
} from './registry.js';

const { CreateMode: ZkCreateMode, Event: ZkEventType, Exception } = zookeeper;

export interface ZooKeeperRegistryOptions {
  /** Requested session timeout (the ensemble clamps it to [2, 20] × tickTime). Default 18000, as Kafka. */
  sessionTimeoutMs?: number;
  /** How long connect() waits for a session before giving up. Default: sessionTimeoutMs. */
  connectionTimeoutMs?: number;
  /** Upper bound of the random delay between reconnection rounds over the servers. Default 500 ms. */
  spinDelayMs?: number;
  /**
   * Give up on a connection attempt whose handshake has not completed after this long, and try
   * again. Default: sessionTimeoutMs / (3 × servers), between 1 and 5 seconds.
   */
  handshakeTimeoutMs?: number;
  /**
   * Create the chroot if it is missing (default true, as a Kafka broker does). Tools that only
   * read (e.g. `--zookeeper` lookups) pass false; under a missing chroot every node is then missing.
   */
  createChroot?: boolean;
  /** Told of every request's latency and of the session's connection events (the broker's ZooKeeper metrics). */
  observer?: ZooKeeperClientObserver;
}

/** What a ZooKeeperRegistry reports to its observer. Must not throw. */
export interface ZooKeeperClientObserver {
  /** A request answered (successfully or not), `ms` after it was sent. */
  requestLatency(ms: number): void;
  /** The session connected (first, or again after a disconnection), disconnected, or expired. */
  sessionEvent(state: 'connected' | 'disconnected' | 'expired'): void;
}

/** A parsed connect string: `host:port[,host:port...][/chroot]`. */
export interface ZooKeeperConnectString {
  /** The server list without the chroot, e.g. "zk1:2181,zk2:2181". */
  hosts: string;
  /** The chroot, e.g. "/kafka", or null when there is none. */
  chroot: string | null;
}

/** Split a connect string into its server list and chroot (validated). */
export function parseConnectString(connectString: string): ZooKeeperConnectString {
  const s = connectString.trim();
  const slash = s.indexOf('/');
  const hosts = (slash < 0 ? s : s.slice(0, slash)).trim();
  let chroot: string | null = slash < 0 ? null : s.slice(slash);
  if (chroot !== null && /^\/+$/.test(chroot)) chroot = null;
  if (hosts === '' || hosts.split(',').some((h) => h.trim() === '')) {
    throw new RegistryError('BAD_ARGUMENTS', undefined, `Invalid ZooKeeper connect string ${JSON.stringify(connectString)}: expected host:port[,host:port][/chroot]`);
  }
  for (const h of hosts.split(',')) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h.trim());
    if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      throw new RegistryError('BAD_ARGUMENTS', undefined, `Invalid ZooKeeper server ${JSON.stringify(h)} in connect string ${JSON.stringify(connectString)}`);
    }
  }
  if (chroot !== null) {
    try {
      validatePath(chroot);
    } catch (e) {
      throw new RegistryError(
        'BAD_ARGUMENTS',
        undefined,
        `Invalid chroot ${JSON.stringify(chroot)} in ZooKeeper connect string ${JSON.stringify(connectString)}: ${(e as Error).message}`,
      );
    }
  }
  return { hosts, chroot };
}

// ---- node-zookeeper-client internals we rely on -------------------------------------------------

/** ConnectionManager.STATES of node-zookeeper-client. */
const CM = { CLOSING: -1, CLOSED: -2, CONNECTING: 1, CONNECTED: 2, CONNECTED_READ_ONLY: 3 } as const;

interface ConnectionManagerInternals {
  state: number;
  connectTimeoutHandler: ReturnType<typeof setTimeout> | null;
  socket?: { destroy(): void; destroyed?: boolean };
  setState(state: number): void;
  connect(): void;
  on(event: 'state', listener: (state: number) => void): void;
  removeListener(event: 'state', listener: (state: number) => void): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
}

interface TransactionInternals {
  ops: Array<{ version?: number }>;
}

function cmOf(client: Client): ConnectionManagerInternals {
  return (client as unknown as { connectionManager: ConnectionManagerInternals }).connectionManager;
}

/** Stop functions of the handshake watchdogs, by client. */
const watchdogs = new WeakMap<Client, () => void>();

/**
 * Close the client's connection when its handshake (TCP connect + ConnectRequest/Response) takes
 * longer than timeoutMs, so that the client tries again (see the module comment).
 */
function startHandshakeWatchdog(client: Client, timeoutMs: number): void {
  const cm = cmOf(client);
  let socket: ConnectionManagerInternals['socket'] | null = null;
  let since = 0;
  const timer = setInterval(() => {
    const current = cm.state === CM.CONNECTING && cm.socket && !cm.socket.destroyed ? cm.socket : null;
    if (current !== socket) {
      socket = current;
      since = Date.now();
    } else if (current && Date.now() - since > timeoutMs) {
      current.destroy();
      socket = null;
    }
  }, Math.max(50, Math.min(250, Math.floor(timeoutMs / 4))));
  timer.unref();
  watchdogs.set(client, () => clearInterval(timer));
}

// ---- conversions ---------------------------------------------------------------------------------

/** Whether `p` settles within `ms` (the timer is cleared either way, so it never holds the process). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** A ZooKeeper long (8 bytes, big endian) as a number: exact up to 2^53, which zxids and times stay under. */
function longOf(b: Buffer | undefined): number {
  if (!b || b.length < 8) return 0;
  return Number(b.readBigInt64BE(0));
}

/** A 64-bit session id as the interface's number: its low 53 bits (see RegistrySession). */
export function sessionIdNumber(b: Buffer | undefined): number {
  if (!b || b.length < 8) return 0;
  return Number(BigInt.asUintN(53, b.readBigUInt64BE(0)));
}

function statOf(s: ZkStat): Stat {
  return {
    version: s.version,
    cversion: s.cversion,
    czxid: longOf(s.czxid),
    mzxid: longOf(s.mzxid),
    ctime: longOf(s.ctime),
    mtime: longOf(s.mtime),
    ephemeralOwner: sessionIdNumber(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

function zkMode(mode: CreateMode): number {
  switch (mode) {
    case 'persistent':
      return ZkCreateMode.PERSISTENT;
    case 'ephemeral':
      return ZkCreateMode.EPHEMERAL;
    case 'persistent_sequential':
      return ZkCreateMode.PERSISTENT_SEQUENTIAL;
    case 'ephemeral_sequential':
      return ZkCreateMode.EPHEMERAL_SEQUENTIAL;
    default:
      throw new RegistryError('BAD_ARGUMENTS', undefined, `unknown create mode ${JSON.stringify(mode)}`);
  }
}

const codeNames = new Map<number, RegistryErrorCode>([
  [Exception.NO_NODE, 'NO_NODE'],
  [Exception.NODE_EXISTS, 'NODE_EXISTS'],
  [Exception.BAD_VERSION, 'BAD_VERSION'],
  [Exception.NOT_EMPTY, 'NOT_EMPTY'],
  [Exception.NO_CHILDREN_FOR_EPHEMERALS, 'NO_CHILDREN_FOR_EPHEMERALS'],
  [Exception.BAD_ARGUMENTS, 'BAD_ARGUMENTS'],
  [Exception.CONNECTION_LOSS, 'CONNECTION_LOSS'],
  [Exception.OPERATION_TIMEOUT, 'CONNECTION_LOSS'],
  [Exception.SESSION_EXPIRED, 'SESSION_EXPIRED'],
]);

/** Map a ZooKeeper error code (e.g. -101) to a RegistryErrorCode. */
export function registryErrorCode(zkCode: number): RegistryErrorCode {
  return codeNames.get(zkCode) ?? 'SYSTEM_ERROR';
}

function zkCodeName(zkCode: number): string {
  for (const [k, v] of Object.entries(Exception as unknown as Record<string, unknown>)) if (v === zkCode) return k;
  return String(zkCode);
}

/** Turn whatever node-zookeeper-client reported into a RegistryError. */
function toRegistryError(e: unknown, path?: string): RegistryError {
  if (e instanceof RegistryError) return e;
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (err && typeof err.code === 'number') {
    const code = registryErrorCode(err.code);
    const detail = code === 'SYSTEM_ERROR' ? ` (ZooKeeper error ${zkCodeName(err.code)})` : '';
    return new RegistryError(code, path, `${code}: ${path ?? ''}${detail}`.replace(/: $/, ''));
  }
  const message = err && typeof err.message === 'string' ? err.message : String(e);
  // The library validates arguments with assert().
  if (err && (err.name === 'AssertionError' || (err as { code?: unknown }).code === 'ERR_ASSERTION')) {
    return new RegistryError('BAD_ARGUMENTS', path, message);
  }
  return new RegistryError('SYSTEM_ERROR', path, message);
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

// ---- the registry --------------------------------------------------------------------------------

export class ZooKeeperRegistry implements Registry {
  readonly session: RegistrySession;
  /** The connect string this registry was opened with. */
  readonly connectString: string;
  readonly hosts: string;
  readonly chroot: string | null;

  private state: 'open' | 'closed' | 'expired' = 'open';
  private disconnected = false;
  /** Calls made while disconnected wait (up to connectionTimeoutMs) for the connection to come back. */
  private readonly reconnectWaiters = new Set<() => void>();
  private readonly connectionTimeoutMs: number;
  private readonly listeners = new Set<SessionListener>();
  private readonly watches: Record<WatchKind, Map<string, Set<Watcher>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  /** One stable library-level watcher per path, so the library never registers duplicates. */
  private readonly handlers = new Map<string, (e: ZkEvent) => void>();
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly client: Client,
    connectString: string,
    parsed: ZooKeeperConnectString,
    connectionTimeoutMs: number,
    private readonly observer: ZooKeeperClientObserver | undefined,
  ) {
    this.connectionTimeoutMs = connectionTimeoutMs;
    this.connectString = connectString;
    this.hosts = parsed.hosts;
    this.chroot = parsed.chroot;
    this.session = { id: sessionIdNumber(client.getSessionId()) };
    client.on('disconnected', () => {
      if (this.state !== 'open' || this.disconnected) return;
      this.disconnected = true;
      this.observer?.sessionEvent('disconnected');
      this.emit('disconnected');
    });
    client.on('connected', () => {
      if (this.state !== 'open' || !this.disconnected) return;
      this.disconnected = false;
      this.observer?.sessionEvent('connected');
      this.emit('connected');
      this.wakeWaiters();
    });
    client.on('expired', () => {
      if (this.state !== 'open') return;
      this.observer?.sessionEvent('expired');
      this.end('expired');
      // The library stops reconnecting by itself once the session is expired; make sure (outside
      // the library's socket handler).
      setImmediate(() => void this.shutdownClient());
    });
  }

  /**
   * Open a session on the ensemble `host:port[,host:port][/chroot]`, creating the chroot if it is
   * missing. Rejects (RegistryError CONNECTION_LOSS, one line naming the address) if no server
   * gives a session within connectionTimeoutMs.
   */
  static async connect(connectString: string, options: ZooKeeperRegistryOptions = {}): Promise<ZooKeeperRegistry> {
    const parsed = parseConnectString(connectString);
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 18_000;
    const connectionTimeoutMs = options.connectionTimeoutMs ?? sessionTimeoutMs;
    if (parsed.chroot !== null && options.createChroot !== false) {
      // a short session of its own, not the one the observer follows
      const { observer: _unobserved, ...bareOptions } = options;
      const bare = await ZooKeeperRegistry.open(parsed.hosts, { hosts: parsed.hosts, chroot: null }, sessionTimeoutMs, connectionTimeoutMs, bareOptions);
      try {
        await bare.mkdirp(parsed.chroot);
      } finally {
        await bare.close();
      }
    }
    return ZooKeeperRegistry.open(connectString.trim(), parsed, sessionTimeoutMs, connectionTimeoutMs, options);
  }

  private static async open(
    connectString: string,
    parsed: ZooKeeperConnectString,
    sessionTimeoutMs: number,
    connectionTimeoutMs: number,
    options: ZooKeeperRegistryOptions,
  ): Promise<ZooKeeperRegistry> {
    const target = parsed.chroot === null ? parsed.hosts : `${parsed.hosts}${parsed.chroot}`;
    const client = zookeeper.createClient(target, {
      sessionTimeout: sessionTimeoutMs,
      spinDelay: options.spinDelayMs ?? 500,
      retries: 0,
    });
    const servers = parsed.hosts.split(',').length;
    startHandshakeWatchdog(client, options.handshakeTimeoutMs ?? Math.min(5000, Math.max(1000, Math.floor(sessionTimeoutMs / (3 * servers)))));
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        client.removeListener('connected', onConnected);
        client.removeListener('expired', onFailed);
        client.removeListener('authenticationFailed', onFailed);
        if (err) {
          // Reject now; stopping the client's reconnect loop may take up to its spin delay.
          reject(err);
          void shutdownClient(client, 2000);
        } else {
          resolve();
        }
      };
      const onConnected = (): void => finish();
      const onFailed = (): void =>
        finish(new RegistryError('CONNECTION_LOSS', undefined, `ZooKeeper at ${parsed.hosts} refused the session`));
      const timer = setTimeout(
        () =>
          finish(
            new RegistryError(
              'CONNECTION_LOSS',
              undefined,
              `cannot connect to ZooKeeper at ${parsed.hosts} within ${connectionTimeoutMs} ms (is it running? Start one with: kfk zookeeper start config/zookeeper.properties)`,
            ),
          ),
        connectionTimeoutMs,
      );
      client.once('connected', onConnected);
      client.once('expired', onFailed);
      client.once('authenticationFailed', onFailed);
      try {
        client.connect();
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    });
    options.observer?.sessionEvent('connected');
    return new ZooKeeperRegistry(client, connectString, parsed, connectionTimeoutMs, options.observer);
  }

  /** Whether close() was called or the session expired. */
  get isClosed(): boolean {
    return this.state !== 'open';
  }

  /** The negotiated session timeout (ms). */
  get sessionTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  /** @internal The session's 64-bit id and password (for tests that end the session server-side). */
  sessionCredentials(): { id: Buffer; password: Buffer } {
    return { id: this.client.getSessionId(), password: this.client.getSessionPassword() };
  }

  // ---- Registry ----------------------------------------------------------------------------------

  async create(path: string, data: Buffer | null, mode: CreateMode = 'persistent'): Promise<string> {
    this.ensureOpen();
    validatePath(path, isSequential(mode));
    checkData(path, data);
    const flags = zkMode(mode);
    return this.call<string>(path, (cb) => {
      // ACLs default to OPEN_ACL_UNSAFE (world:anyone:cdrwa), as Kafka's without zookeeper.set.acl.
      if (data) this.client.create(path, data, flags, cb);
      else this.client.create(path, flags, cb);
    });
  }

  async get(path: string, watch?: Watcher): Promise<NodeData | null> {
    this.ensureOpen();
    validatePath(path);
    try {
      const [data, stat] = await this.call<[Buffer | undefined, ZkStat]>(
        path,
        (cb) => {
          const done = (e: unknown, d: Buffer | undefined, s: ZkStat): void => {
            if (!e && watch) this.addWatch('data', path, watch);
            cb(e, [d, s]);
          };
          if (watch) this.client.getData(path, this.handlerFor(path), done as never);
          else this.client.getData(path, done as never);
        },
      );
      return { data: data ?? null, stat: statOf(stat) };
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'NO_NODE') return null;
      throw e;
    }
  }

  async set(path: string, data: Buffer | null, expectedVersion = -1): Promise<Stat> {
    this.ensureOpen();
    validatePath(path);
    checkData(path, data);
    const stat = await this.call<ZkStat>(path, (cb) => this.client.setData(path, data ?? Buffer.alloc(0), expectedVersion, cb));
    return statOf(stat);
  }

  async delete(path: string, expectedVersion = -1): Promise<void> {
    this.ensureOpen();
    validatePath(path);
    if (path === '/') throw new RegistryError('BAD_ARGUMENTS', path, 'cannot delete the root node');
    await this.call<void>(path, (cb) => this.client.remove(path, expectedVersion, (e) => cb(e, undefined)));
  }

  async deleteRecursive(path: string): Promise<boolean> {
    this.ensureOpen();
    validatePath(path);
    return this.deleteTree(path, 0);
  }

  private async deleteTree(path: string, depth: number): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      let kids = await this.children(path);
      // Only the top call's answer matters: false when the node was not there to begin with.
      if (kids === null) return depth > 0 || attempt > 0;
      // ZooKeeper's own /zookeeper (quotas, config) cannot be deleted.
      if (path === '/' && this.chroot === null) kids = kids.filter((k) => k !== 'zookeeper');
      // Requests of one session are applied in order, so pipelining the subtrees is safe.
      await Promise.all(kids.map((k) => this.deleteTree(joinPath(path, k), depth + 1)));
      if (path === '/') return true;
      try {
        await this.delete(path);
        return true;
      } catch (e) {
        if (e instanceof RegistryError && e.code === 'NO_NODE') return true; // deleted concurrently
        // A child was created meanwhile: go round again (a few times).
        if (e instanceof RegistryError && e.code === 'NOT_EMPTY' && attempt < 10) continue;
        throw e;
      }
    }
  }

  async exists(path: string, watch?: Watcher): Promise<Stat | null> {
    this.ensureOpen();
    validatePath(path);
    const stat = await this.call<ZkStat | null>(path, (cb) => {
      const done = (e: unknown, s: ZkStat | null): void => {
        // The library registers an exists watch as a data watch when the node exists.
        if (!e && watch) this.addWatch(s ? 'data' : 'exist', path, watch);
        cb(e, s);
      };
      if (watch) this.client.exists(path, this.handlerFor(path), done as never);
      else this.client.exists(path, done as never);
    });
    return stat ? statOf(stat) : null;
  }

  async children(path: string, watch?: Watcher): Promise<string[] | null> {
    this.ensureOpen();
    validatePath(path);
    try {
      const kids = await this.call<string[]>(path, (cb) => {
        const done = (e: unknown, c: string[]): void => {
          if (!e && watch) this.addWatch('child', path, watch);
          cb(e, c);
        };
        if (watch) this.client.getChildren(path, this.handlerFor(path), done as never);
        else this.client.getChildren(path, done as never);
      });
      return [...(kids ?? [])].sort();
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'NO_NODE') return null;
      throw e;
    }
  }

  async mkdirp(path: string): Promise<void> {
    this.ensureOpen();
    validatePath(path);
    if (path === '/' || (await this.exists(path))) return;
    const missing: string[] = [];
    for (let p = path; p !== '/'; p = parentPath(p)) missing.unshift(p);
    // One round trip: the creates are applied in order; existing ancestors answer NODE_EXISTS.
    const results = await Promise.allSettled(missing.map((p) => this.create(p, null, 'persistent')));
    for (const r of results) {
      if (r.status === 'rejected' && !(r.reason instanceof RegistryError && r.reason.code === 'NODE_EXISTS')) throw r.reason;
    }
  }

  async multi(ops: MultiOp[]): Promise<MultiResult[]> {
    this.ensureOpen();
    if (ops.length === 0) return [];
    const tx = this.client.transaction();
    const queued = (tx as unknown as TransactionInternals).ops;
    ops.forEach((op, i) => {
      try {
        switch (op.op) {
          case 'check':
            validatePath(op.path);
            tx.check(op.path);
            queued[queued.length - 1]!.version = op.version;
            break;
          case 'create': {
            const mode = op.mode ?? 'persistent';
            validatePath(op.path, isSequential(mode));
            checkData(op.path, op.data);
            if (op.data) tx.create(op.path, op.data, zkMode(mode));
            else tx.create(op.path, zkMode(mode));
            break;
          }
          case 'set':
            validatePath(op.path);
            checkData(op.path, op.data);
            tx.setData(op.path, op.data);
            queued[queued.length - 1]!.version = op.version ?? -1;
            break;
          case 'delete':
            validatePath(op.path);
            tx.remove(op.path);
            queued[queued.length - 1]!.version = op.version ?? -1;
            break;
          default:
            throw new RegistryError('BAD_ARGUMENTS', undefined, `unknown multi op ${JSON.stringify(op)}`);
        }
      } catch (e) {
        const err = toRegistryError(e, (op as { path?: string }).path);
        err.opIndex = i;
        throw err;
      }
    });
    interface TxResult {
      type: number;
      path?: string;
      stat?: ZkStat;
      err?: number;
    }
    const results = await new Promise<TxResult[]>((resolve, reject) => {
      try {
        const sent = performance.now();
        tx.commit((error: unknown, res: TxResult[] | undefined) => {
          this.observer?.requestLatency(performance.now() - sent);
          if (!error) {
            resolve(res ?? []);
            return;
          }
          // The first operation whose error is not OK is the one that failed.
          const idx = (res ?? []).findIndex((r) => r.err !== undefined && r.err !== Exception.OK);
          const failed = idx >= 0 ? ops[idx] : undefined;
          const err = toRegistryError(idx >= 0 ? { code: res![idx]!.err } : error, failed?.path);
          if (idx >= 0) err.opIndex = idx;
          reject(err);
        });
      } catch (e) {
        reject(toRegistryError(e));
      }
    });
    return ops.map((op, i): MultiResult => {
      const r = results[i];
      switch (op.op) {
        case 'check':
          return { op: 'check' };
        case 'create':
          return { op: 'create', path: r?.path ?? op.path };
        case 'set':
          return { op: 'set', stat: statOf(r!.stat!) };
        case 'delete':
          return { op: 'delete' };
      }
    });
  }

  onSessionEvent(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * End the session: the ensemble deletes its ephemeral nodes (other sessions' watches fire) before
   * this resolves. Safe to call more than once, and after expiry.
   */
  async close(): Promise<void> {
    if (this.state === 'open') this.end('closed');
    await this.shutdownClient();
  }

  // ---- internals ---------------------------------------------------------------------------------

  private ensureOpen(): void {
    if (this.state === 'closed') throw new RegistryError('CLOSED', undefined, 'registry session is closed');
    if (this.state === 'expired') throw new RegistryError('SESSION_EXPIRED', undefined, 'ZooKeeper session expired');
  }

  private wakeWaiters(): void {
    const waiters = [...this.reconnectWaiters];
    this.reconnectWaiters.clear();
    for (const w of waiters) w();
  }

  /**
   * Run one library call, mapping its error (and synchronous throws) to RegistryError.
   *
   * While the connection is down, node-zookeeper-client would hold a request until it reconnects,
   * however long that takes. Like Kafka's ZooKeeperClient (waitUntilConnected), a call made then
   * waits for the connection up to connectionTimeoutMs and fails with CONNECTION_LOSS after that.
   * Requests already sent when the connection drops fail with CONNECTION_LOSS at once (they may or
   * may not have been applied, as in ZooKeeper).
   */
  private call<T>(path: string, start: (cb: (err: unknown, result: T) => void) => void): Promise<T> {
    if (!this.disconnected) return this.send(path, start);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reconnectWaiters.delete(wake);
        reject(new RegistryError('CONNECTION_LOSS', path, `CONNECTION_LOSS: ${path} (not connected to ZooKeeper at ${this.hosts} for ${this.connectionTimeoutMs} ms)`));
      }, this.connectionTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.reconnectWaiters.add(wake);
    }).then(() => {
      this.ensureOpen();
      return this.send(path, start);
    });
  }

  private send<T>(path: string, start: (cb: (err: unknown, result: T) => void) => void): Promise<T> {
    const sent = performance.now();
    return new Promise<T>((resolve, reject) => {
      const cb = (err: unknown, result: T): void => {
        this.observer?.requestLatency(performance.now() - sent);
        if (err) {
          const e = toRegistryError(err, path);
          // A call that raced with close()/expiry reports what really happened.
          if (e.code === 'CONNECTION_LOSS' && this.state === 'closed') reject(new RegistryError('CLOSED', path, 'registry session is closed'));
          else if (e.code === 'CONNECTION_LOSS' && this.state === 'expired') reject(new RegistryError('SESSION_EXPIRED', path, 'ZooKeeper session expired'));
          else reject(e);
        } else {
          resolve(result);
        }
      };
      try {
        start(cb as never);
      } catch (e) {
        reject(toRegistryError(e, path));
      }
    });
  }

  private handlerFor(path: string): (e: ZkEvent) => void {
    let h = this.handlers.get(path);
    if (!h) {
      h = (event: ZkEvent) => this.onWatchEvent(path, event);
      this.handlers.set(path, h);
    }
    return h;
  }

  private addWatch(kind: WatchKind, path: string, w: Watcher): void {
    if (this.state !== 'open') return;
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

  /**
   * The library calls a path's handler once per watch table it had (data, existence, child) for
   * the same event; the first call takes every watcher the event consumes, the others find none.
   */
  private onWatchEvent(path: string, event: ZkEvent): void {
    if (!this.watches.data.has(path) && !this.watches.exist.has(path) && !this.watches.child.has(path)) {
      this.handlers.delete(path);
    }
    if (this.state !== 'open') return;
    const fire = new Set<Watcher>();
    let type: WatchEventType;
    switch (event.getType()) {
      case ZkEventType.NODE_CREATED:
        type = 'created';
        this.take('exist', path, fire);
        this.take('data', path, fire);
        break;
      case ZkEventType.NODE_DATA_CHANGED:
        type = 'changed';
        this.take('data', path, fire);
        this.take('exist', path, fire);
        break;
      case ZkEventType.NODE_DELETED:
        type = 'deleted';
        this.take('data', path, fire);
        this.take('exist', path, fire);
        this.take('child', path, fire);
        break;
      case ZkEventType.NODE_CHILDREN_CHANGED:
        type = 'children';
        this.take('child', path, fire);
        break;
      default:
        return;
    }
    if (!this.watches.data.has(path) && !this.watches.exist.has(path) && !this.watches.child.has(path)) {
      this.handlers.delete(path);
    }
    for (const w of fire) {
      const ev = { type, path };
      queueMicrotask(() => {
        if (this.state !== 'open') return;
        try {
          w(ev);
        } catch (e) {
          // A throwing watcher must not break the client; surface it like an unhandled error.
          setImmediate(() => {
            throw e;
          });
        }
      });
    }
  }

  private end(state: 'closed' | 'expired'): void {
    this.state = state;
    for (const m of Object.values(this.watches)) m.clear();
    this.handlers.clear();
    this.emit(state);
    this.wakeWaiters(); // they fail with CLOSED / SESSION_EXPIRED
  }

  private emit(state: SessionState): void {
    for (const l of [...this.listeners]) {
      queueMicrotask(() => {
        try {
          l({ state });
        } catch (e) {
          setImmediate(() => {
            throw e;
          });
        }
      });
    }
  }

  private shutdownClient(): Promise<void> {
    if (!this.closing) this.closing = shutdownClient(this.client, Math.min(5000, Math.max(1000, this.client.getSessionTimeout())));
    return this.closing;
  }
}

/**
 * Stop a node-zookeeper-client client for good. When connected, a CloseSession request ends the
 * session (the ensemble deletes its ephemeral nodes before answering); otherwise, or if the answer
 * does not come within timeoutMs, the socket is destroyed and the reconnect loop stopped.
 */
async function shutdownClient(client: Client, timeoutMs: number): Promise<void> {
  watchdogs.get(client)?.();
  watchdogs.delete(client);
  const cm = cmOf(client);
  if (cm.state === CM.CLOSED) return;
  const closed = new Promise<void>((resolve) => {
    const onState = (s: number): void => {
      if (s === CM.CLOSED) {
        cm.removeListener('state', onState);
        resolve();
      }
    };
    cm.on('state', onState);
  });
  if (cm.state === CM.CONNECTED || cm.state === CM.CONNECTED_READ_ONLY) {
    client.close();
    if (await settlesWithin(closed, timeoutMs)) {
      if (cm.connectTimeoutHandler) clearTimeout(cm.connectTimeoutHandler);
      cm.connectTimeoutHandler = null;
      return;
    }
  }
  // Not connected (or no answer): stop the reconnect loop by closing whatever socket there is.
  if (cm.state !== CM.CLOSED) cm.setState(CM.CLOSING);
  const deadline = Date.now() + 5000;
  while (cm.state !== CM.CLOSED && Date.now() < deadline) {
    const sock = cm.socket;
    if (sock && !sock.destroyed) sock.destroy();
    await settlesWithin(closed, 20);
  }
  if (cm.state !== CM.CLOSED) cm.setState(CM.CLOSED);
  // The library leaves its socket connect timer armed; it would hold the event loop open.
  if (cm.connectTimeoutHandler) clearTimeout(cm.connectTimeoutHandler);
  cm.connectTimeoutHandler = null;
}

/**
 * Fault injection for tests: make the ensemble expire `registry`'s session, the way a long network
 * partition does. The registry's connection is cut and held down, a second connection takes over
 * the session and closes it (the ensemble deletes its ephemeral nodes), then the registry
 * reconnects and is told its session has expired. Resolves once the registry has seen 'expired'.
 */
export async function expireZooKeeperSession(registry: ZooKeeperRegistry, timeoutMs = 10_000): Promise<void> {
  if (registry.isClosed) throw new RegistryError('CLOSED', undefined, 'registry session is already over');
  const { id, password } = registry.sessionCredentials();
  // eslint-disable-next-line @typescript-eslint/dot-notation -- the private client, for fault injection
  const cm = cmOf(registry['client']);
  const expired = new Promise<void>((resolve) => {
    const off = registry.onSessionEvent((e) => {
      if (e.state === 'expired' || e.state === 'closed') {
        off();
        resolve();
      }
    });
  });
  // Hold the reconnect until the session is gone.
  const realConnect = cm.connect;
  let wanted = false;
  cm.connect = () => {
    wanted = true;
  };
  try {
    cm.socket?.destroy();
    const killer = zookeeper.createClient(registry.hosts, {
      sessionTimeout: registry.sessionTimeoutMs,
      spinDelay: 100,
      retries: 0,
      sessionId: id,
      sessionPassword: password,
    } as never);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot reach ZooKeeper at ${registry.hosts} to expire a session`)), timeoutMs);
      killer.once('connected', () => {
        clearTimeout(timer);
        resolve();
      });
      killer.once('expired', () => {
        clearTimeout(timer);
        resolve();
      });
      killer.connect();
    });
    await shutdownClient(killer, timeoutMs);
  } finally {
    if (realConnect === Object.getPrototypeOf(cm).connect) delete (cm as Partial<ConnectionManagerInternals>).connect;
    else cm.connect = realConnect;
    if (wanted) cm.connect();
  }
  if (!(await settlesWithin(expired, timeoutMs))) {
    throw new Error(`session of ${registry.connectString} did not expire within ${timeoutMs} ms`);
  }
}
