/**
 * One connection per other broker, on the inter-broker listener with its security, for the broker's own requests
 * to its peers (transaction markers, the metrics' high watermarks). A broker that moved (another address in the
 * metadata) gets a new connection; a failed or closed one is dropped and the next request connects again.
 */
import { BrokerConnection } from '../client/connection.js';
import type { ClientSecurity } from '../security/client-security.js';
import { endpointOn, type MetadataCache } from './metadata-cache.js';
import type { Logger } from '../server/logger.js';

export interface InterBrokerConnectionsOptions {
  metadata: MetadataCache;
  /** client.id of the connections. */
  clientId: string;
  /** The inter-broker listener (absent: the brokers' registered host and port). */
  listenerName?: string;
  security?: ClientSecurity;
  connectTimeoutMs?: number;
}

/** What a component that sends its own requests to the other brokers is configured with. */
export interface PeerRequestOptions {
  brokerId: number;
  metadata: MetadataCache;
  logger: Logger;
  /** The inter-broker listener (inter.broker.listener.name; absent: the brokers' registered host and port). */
  listenerName?: string;
  security?: ClientSecurity;
  /** Per request. */
  requestTimeoutMs?: number;
}

export class InterBrokerConnections {
  private readonly connections = new Map<number, { address: string; connection: Promise<BrokerConnection> }>();
  private closed = false;

  constructor(private readonly opts: InterBrokerConnectionsOptions) {}

  /** The connection to a live broker, opened if needed. */
  async get(brokerId: number): Promise<BrokerConnection> {
    if (this.closed) throw new Error('inter-broker connections closed');
    const b = this.opts.metadata.brokers.get(brokerId);
    if (b === undefined) throw new Error(`broker ${brokerId} is not live`);
    const ep = this.opts.listenerName !== undefined ? endpointOn(b, this.opts.listenerName) : { host: b.host, port: b.port };
    if (ep === undefined) throw new Error(`broker ${brokerId} has no endpoint on listener ${this.opts.listenerName}`);
    const address = `${ep.host}:${ep.port}`;
    let entry = this.connections.get(brokerId);
    if (entry !== undefined && entry.address !== address) {
      this.drop(brokerId);
      entry = undefined;
    }
    if (entry === undefined) {
      const connection = BrokerConnection.connect({
        host: ep.host,
        port: ep.port,
        clientId: this.opts.clientId,
        ...(this.opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.opts.connectTimeoutMs } : {}),
        ...(this.opts.security ? { security: this.opts.security } : {}),
      });
      const created = { address, connection };
      entry = created;
      this.connections.set(brokerId, created);
      connection.catch(() => {
        if (this.connections.get(brokerId) === created) this.connections.delete(brokerId);
      });
    }
    const conn = await entry.connection;
    if (conn.closed) {
      this.drop(brokerId);
      return this.get(brokerId);
    }
    return conn;
  }

  /** Closes the connection to a broker (after a failed request): the next get() connects again. */
  drop(brokerId: number): void {
    const entry = this.connections.get(brokerId);
    if (entry === undefined) return;
    this.connections.delete(brokerId);
    void entry.connection.then(
      (c) => c.close(),
      () => undefined,
    );
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.connections.keys()]) this.drop(id);
  }
}
