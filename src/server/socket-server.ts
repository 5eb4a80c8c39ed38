/**
 * A listener: accepts TCP connections, admits them through the broker's ConnectionQuotas (a connection over
 * max.connections or max.connections.per.ip is closed at accept, as Kafka closes it), hands each to a
 * Connection, and closes connections idle for connections.max.idle.ms.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { adoptWithSharedReadBuffer } from './shared-read-buffer.js';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { Connection } from './connection.js';
import type { ConnectionAuthenticator } from './authenticator.js';
import { ANONYMOUS, type KafkaPrincipal } from '../security/principal.js';
import { ConnectionQuotas, DEFAULT_CONNECTION_LIMITS, normaliseIp } from './connection-quotas.js';
import { RequestRunner, type RequestQuotaHook } from './request-runner.js';
import type { ApiHandler } from './request.js';
import type { Logger } from './logger.js';

export interface ListenerSpec {
  name: string;
  host: string;
  port: number;
}

/** How a listener secures its connections (src/security/listener-security.ts builds it from the config). */
export interface ListenerTransport {
  /** SSL and SASL_SSL: every connection is TLS. */
  readonly tls?: {
    /** The keystore and truststore (and versions) now. */
    options(): SecureContextOptions;
    /** Calls back when they change (files replaced on disk): new connections get the new ones. */
    onChange(listener: (options: SecureContextOptions) => void): void;
    readonly clientAuth: 'required' | 'requested' | 'none';
    /** The principal of a client certificate; throws when none can be made (no mapping rule applies). */
    principalOf(cert: X509Certificate): KafkaPrincipal;
  };
  /** SASL_PLAINTEXT and SASL_SSL: a new authenticator for each connection. */
  readonly authenticator?: () => ConnectionAuthenticator;
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
  /** TLS and SASL; none: PLAINTEXT. */
  transport?: ListenerTransport;
  /** Client quotas: byte rates and request time per user and client id (none: nothing is throttled). */
  clientQuotas?: RequestQuotaHook;
}

/** A TLS handshake not done within this long is abandoned (Node's default for its TLS servers). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 120_000;

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
  /** TLS listeners: the (never listening) tls.Server doing the handshakes, and the sockets in one. */
  private readonly tlsServer: TlsServer | null;
  private readonly handshaking = new Set<Socket>();
  boundPort = 0;

  /** Open connections (socket-server-metrics connection-count). */
  get connectionCount(): number {
    return this.connections.size;
  }

  get listenerName(): string {
    return this.listener.name;
  }

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
      ...(options.clientQuotas ? { quotas: options.clientQuotas } : {}),
    });
    this.tlsServer = options.transport?.tls ? this.makeTlsServer(options.transport.tls) : null;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      // Plaintext connections are accepted paused, to be adopted by a socket reading into the shared buffer.
      const server = createServer({ pauseOnConnect: this.tlsServer === null }, (socket) => this.accept(socket));
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
    if (this.tlsServer !== null) {
      // TLS first: the Connection starts once the handshake is done (tlsServer 'secureConnection')
      this.handshaking.add(socket);
      socket.once('close', () => {
        this.handshaking.delete(socket);
        this.quotas.release(ip);
      });
      this.tlsServer.emit('connection', socket);
      return;
    }
    let conn: Connection | null = null;
    const adopted = adoptWithSharedReadBuffer(socket, (chunk) => conn?.onBorrowedData(chunk));
    if (adopted === null) socket.resume();
    const stream = adopted ?? socket;
    stream.on('error', () => stream.destroy());
    conn = this.startConnection(stream, stream, adopted !== null);
    stream.once('close', () => this.quotas.release(ip));
  }

  private startConnection(stream: Socket, raw: Socket, borrowedReads = false): Connection {
    const authenticator = this.options.transport?.authenticator?.();
    const conn = new Connection(stream, {
      borrowedReads,
      maxRequestBytes: this.options.maxRequestBytes,
      runner: this.runner,
      logger: this.options.logger,
      requestBudget: this.quotas.requestBudget,
      maxQueuedBytes: this.quotas.limits.queuedMaxBytesPerConnection,
      ...(this.options.ready ? { ready: this.options.ready } : {}),
      ...(authenticator ? { authenticator } : {}),
    });
    this.connections.add(conn);
    raw.once('close', () => this.connections.delete(conn));
    return conn;
  }

  /**
   * The TLS side of the listener: a tls.Server that never listens itself, fed with the sockets this listener
   * accepted (Node's documented way to inject connections), so that admission happens before the handshake and
   * Node verifies client certificates exactly as for its own servers.
   */
  private makeTlsServer(tls: NonNullable<ListenerTransport['tls']>): TlsServer {
    const server = createTlsServer({
      ...tls.options(),
      requestCert: tls.clientAuth !== 'none',
      // 'requested': a certificate is optional, but one that is presented must verify (as Java's wantClientAuth)
      rejectUnauthorized: tls.clientAuth === 'required',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    });
    tls.onChange((options) => server.setSecureContext(options));
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.options.logger.info(`Failed authentication with ${socket.remoteAddress ?? 'unknown'} (SSL handshake failed: ${err.message})`);
      socket.destroy();
    });
    server.on('secureConnection', (socket: TLSSocket) => this.onSecure(socket, tls));
    return server;
  }

  /** After the handshake: the client certificate's principal (mutual TLS), or a refusal; then the connection. */
  private onSecure(socket: TLSSocket, tls: NonNullable<ListenerTransport['tls']>): void {
    const host = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    const cert = socket.getPeerX509Certificate();
    let principal = ANONYMOUS; // no certificate (ssl.client.auth none or requested)
    if (cert !== undefined) {
      if (!socket.authorized) {
        this.options.logger.info(`Failed authentication with ${host} (SSL handshake failed: client certificate not trusted: ${String(socket.authorizationError)})`);
        socket.destroy();
        return;
      }
      try {
        principal = tls.principalOf(cert);
      } catch (err) {
        this.options.logger.info(`Failed authentication with ${host} (${(err as Error).message})`);
        socket.destroy();
        return;
      }
    }
    const conn = this.startConnection(socket, socket);
    conn.transportPrincipal = principal;
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
    for (const sock of this.handshaking) sock.destroy();
    this.handshaking.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
