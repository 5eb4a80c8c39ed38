/**
 * A Registry that outlives its sessions. When the current session expires (ZooKeeper dropped it:
 * its ephemeral nodes and watches are gone), it opens a new one and tells its listeners with a
 * `connected` event, so that the broker re-registers, re-runs the controller election and
 * reconciles (which re-arms its watches), as Kafka's broker does on a new ZooKeeper session.
 * Calls made while there is no live session wait for the next one.
 */
import {
  RegistryError,
  isRegistryError,
  type CreateMode,
  type MultiOp,
  type MultiResult,
  type NodeData,
  type Registry,
  type RegistrySession,
  type SessionListener,
  type Stat,
  type Watcher,
} from './registry.js';

export interface ReconnectingRegistryOptions {
  /** Delay between attempts to open a new session (default 1000 ms). */
  retryDelayMs?: number;
  /** Called when an attempt to open a new session fails (for logs). */
  onRetry?: (err: unknown) => void;
}

export class ReconnectingRegistry implements Registry {
  private inner: Registry;
  private unsubscribe: () => void;
  private readonly listeners = new Set<SessionListener>();
  private reconnecting: Promise<void> | null = null;
  private closed = false;

  private constructor(
    inner: Registry,
    private readonly connect: () => Promise<Registry>,
    private readonly opts: ReconnectingRegistryOptions,
  ) {
    this.inner = inner;
    this.unsubscribe = this.watchSession(inner);
  }

  static async open(connect: () => Promise<Registry>, opts: ReconnectingRegistryOptions = {}): Promise<ReconnectingRegistry> {
    return new ReconnectingRegistry(await connect(), connect, opts);
  }

  /** The live session's registry (tests use it to expire a session). */
  get current(): Registry {
    return this.inner;
  }

  get session(): RegistrySession {
    return this.inner.session;
  }

  private watchSession(r: Registry): () => void {
    return r.onSessionEvent((e) => {
      if (e.state === 'expired' && r === this.inner && !this.closed) {
        this.emit({ state: 'expired' });
        void this.reconnect();
      } else if (e.state === 'disconnected' && r === this.inner) {
        this.emit({ state: 'disconnected' });
      }
    });
  }

  private emit(e: { state: 'connected' | 'disconnected' | 'expired' | 'closed' }): void {
    for (const l of [...this.listeners]) l(e);
  }

  private reconnect(): Promise<void> {
    this.reconnecting ??= (async () => {
      const old = this.inner;
      this.unsubscribe();
      // The old session is gone (that is why we reconnect): closing it only releases its client's socket and
      // timers, and a failure to do so cannot affect the new session.
      await old.close().catch(() => {});
      while (!this.closed) {
        try {
          const next = await this.connect();
          if (this.closed) {
            await next.close();
            return;
          }
          this.inner = next;
          this.unsubscribe = this.watchSession(next);
          this.reconnecting = null;
          this.emit({ state: 'connected' });
          return;
        } catch (err) {
          this.opts.onRetry?.(err);
          await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 1000));
        }
      }
    })();
    return this.reconnecting;
  }

  /** Runs a call on the live session; a call that hits an expired session waits for the next one and runs again. */
  private async call<T>(fn: (r: Registry) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.closed) throw new RegistryError('CLOSED', undefined, 'registry is closed');
      if (this.reconnecting) await this.reconnecting;
      const r = this.inner;
      try {
        return await fn(r);
      } catch (err) {
        if (isRegistryError(err, 'SESSION_EXPIRED') && !this.closed) {
          if (r === this.inner) void this.reconnect();
          continue;
        }
        throw err;
      }
    }
  }

  create(path: string, data: Buffer | null, mode?: CreateMode): Promise<string> {
    return this.call((r) => r.create(path, data, mode));
  }
  get(path: string, watch?: Watcher): Promise<NodeData | null> {
    return this.call((r) => r.get(path, watch));
  }
  set(path: string, data: Buffer | null, expectedVersion?: number): Promise<Stat> {
    return this.call((r) => r.set(path, data, expectedVersion));
  }
  delete(path: string, expectedVersion?: number): Promise<void> {
    return this.call((r) => r.delete(path, expectedVersion));
  }
  deleteRecursive(path: string): Promise<boolean> {
    return this.call((r) => r.deleteRecursive(path));
  }
  exists(path: string, watch?: Watcher): Promise<Stat | null> {
    return this.call((r) => r.exists(path, watch));
  }
  children(path: string, watch?: Watcher): Promise<string[] | null> {
    return this.call((r) => r.children(path, watch));
  }
  mkdirp(path: string): Promise<void> {
    return this.call((r) => r.mkdirp(path));
  }
  multi(ops: MultiOp[]): Promise<MultiResult[]> {
    return this.call((r) => r.multi(ops));
  }
  onSessionEvent(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    await this.inner.close();
    this.emit({ state: 'closed' });
  }
}
