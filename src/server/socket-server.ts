/**
 * A listener: accepts TCP connections, admits them through the broker's ConnectionQuotas (a connection over
 * max.connections or max.connections.per.ip is closed at accept, as Kafka closes it), hands each to a
 * Connection, and closes connections idle for connections.max.idle.ms.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Connection } from './connection.js';
import { ConnectionQuotas, DEFAULT_CONNECTION_LIMITS, normaliseIp } from './connection-quotas.js';
import { RequestRunner } from './request-runner.js';
import type { ApiHandler } from './request.js';
import type { Logger } from './logger.js';

export interface ListenerSpec {
  name: string;
  host: string;
  port: number;
}

export interface SocketServerOptions {
  maxRequestBytes: number;
  handlers: ReadonlyMap<number, ApiHandler>;
  logger: Logger;
  /** Body for an ApiVersions request of an unsupported version: v0 layout with error 35. */
  unsupportedApiVersionsBody: () => Record<string, unknown>;
  /** Requests wait for this before they are handled (the broker's first reconciliation). */
  ready?: Promise<void>;
  /** Shared by all listeners of a broker; default: Kafka's default limits for this listener alone. */
  quotas?: ConnectionQuotas;
}

/** How often idle connections are looked for: a tenth of connections.max.idle.ms, within [50 ms, 5 s]. */
export function idleSweepIntervalMs(idleMs: number): number {
  return Math.min(5000, Math.max(50, Math.floor(idleMs / 10)));
}

export class SocketServer {
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  private readonly quotas: ConnectionQuotas;
  private readonly runner: RequestRunner;
  private idleTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  boundPort = 0;

  constructor(
    readonly listener: ListenerSpec,
    private readonly options: SocketServerOptions,
  ) {
    this.quotas = options.quotas ?? new ConnectionQuotas(DEFAULT_CONNECTION_LIMITS, options.logger);
    this.runner = new RequestRunner({
      handlers: options.handlers,
      logger: options.logger,
      listenerName: listener.name,
      unsupportedApiVersionsBody: options.unsupportedApiVersionsBody,
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${this.listener.host || '0.0.0.0'}:${this.listener.port}`;
        const why = err.code === 'EADDRINUSE' ? 'address already in use (is another broker running there?)' : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new Error(`cannot listen on ${where} for listener ${this.listener.name}: ${why}`));
      });
      server.listen({ host: this.listener.host || undefined, port: this.listener.port }, () => {
        server.removeAllListeners('error');
        // After listening, an error is an accept failure (EMFILE, ENFILE, ...): the listener keeps going.
        server.on('error', (err: NodeJS.ErrnoException) =>
          this.quotas.limitLog.hit('accept', this.listener.name, () => `listener ${this.listener.name} failed to accept a connection: ${err.code ?? err.message}`),
        );
        const addr = server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.listener.port;
        this.server = server;
        this.startIdleSweep();
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    // An error before the Connection takes the socket over (e.g. a reset) must not go unhandled.
    socket.on('error', () => socket.destroy());
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const ip = normaliseIp(socket.remoteAddress);
    if (!this.quotas.admit(ip, this.listener.name)) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, {
      maxRequestBytes: this.options.maxRequestBytes,
      runner: this.runner,
      logger: this.options.logger,
      requestBudget: this.quotas.requestBudget,
      maxQueuedBytes: this.quotas.limits.queuedMaxBytesPerConnection,
      ...(this.options.ready ? { ready: this.options.ready } : {}),
    });
    this.connections.add(conn);
    socket.once('close', () => {
      this.connections.delete(conn);
      this.quotas.release(ip);
    });
  }

  private startIdleSweep(): void {
    const idleMs = this.quotas.limits.connectionsMaxIdleMs;
    if (idleMs < 0) return;
    this.idleTimer = setInterval(() => this.closeIdleConnections(idleMs), idleSweepIntervalMs(idleMs));
    this.idleTimer.unref();
  }

  private closeIdleConnections(idleMs: number): void {
    const now = Date.now();
    for (const conn of this.connections) {
      const since = conn.idleSince();
      if (since === null || now - since < idleMs) continue;
      const ip = normaliseIp(conn.socket.remoteAddress);
      this.quotas.limitLog.hit('connections.max.idle.ms', ip, () =>
        `closing connection from ${conn.clientHost}: no complete request for ${now - since} ms (connections.max.idle.ms is ${idleMs})`,
      );
      conn.close();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const server = this.server;
    this.server = null;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    for (const c of this.connections) c.close();
    this.connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
