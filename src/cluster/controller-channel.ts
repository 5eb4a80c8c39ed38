/**
 * A broker's line to the controller, for the requests a non-controller forwards (Kafka 2.8+'s
 * forwarding manager for CreateTopics from auto-creation, and the broker side of ControlledShutdown).
 * The controller is looked up in the registry (/controller, then its /brokers/ids registration),
 * one connection to it is kept, and it is dropped when the controller moves or the connection fails.
 */
import { BrokerConnection } from '../client/connection.js';
import type { ClientSecurity } from '../security/client-security.js';
import type { Registry } from '../registry/registry.js';
import { brokerIdPath, decodeBrokerRegistration } from '../registry/paths.js';
import { getControllerId } from './controller-epoch.js';

export class NoControllerError extends Error {
  override readonly name = 'NoControllerError';
}

export class ControllerChannel {
  private conn: { controllerId: number; address: string; connection: Promise<BrokerConnection> } | null = null;
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly opts: { brokerId: number; listenerName?: string; requestTimeoutMs?: number; security?: ClientSecurity },
  ) {}

  /** The controller's id as the registry has it now (-1: none). */
  controllerId(): Promise<number> {
    return getControllerId(this.registry);
  }

  /** Sends one request to the current controller; the caller handles NOT_CONTROLLER by retrying. */
  async request<T>(apiKey: number, body: unknown, opts: { version?: number; timeoutMs?: number } = {}): Promise<{ controllerId: number; response: T }> {
    const { controllerId, connection } = await this.connection();
    try {
      const response = await connection.request<T>(apiKey, body, { ...(opts.version !== undefined ? { version: opts.version } : {}), timeoutMs: opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000 });
      return { controllerId, response };
    } catch (err) {
      this.reset();
      throw err;
    }
  }

  /** Forgets the connection (after NOT_CONTROLLER or a failure): the next request looks the controller up again. */
  reset(): void {
    const c = this.conn;
    this.conn = null;
    if (c) void c.connection.then((conn) => conn.close(), () => undefined);
  }

  close(): void {
    this.closed = true;
    this.reset();
  }

  private async connection(): Promise<{ controllerId: number; connection: BrokerConnection }> {
    if (this.closed) throw new NoControllerError('broker is shutting down');
    const id = await this.controllerId();
    if (id < 0) throw new NoControllerError('no controller is elected at the moment');
    const node = await this.registry.get(brokerIdPath(id));
    if (!node) throw new NoControllerError(`controller ${id} is not registered`);
    const reg = decodeBrokerRegistration(id, node.data);
    const ep = reg.endpoints.find((e) => e.listenerName === this.opts.listenerName) ?? reg.endpoints[0];
    if (!ep) throw new NoControllerError(`controller ${id} has no endpoint`);
    const address = `${ep.host}:${ep.port}`;
    if (this.conn && (this.conn.controllerId !== id || this.conn.address !== address)) this.reset();
    if (!this.conn) {
      const connection = BrokerConnection.connect({
        host: ep.host,
        port: ep.port,
        clientId: `broker-${this.opts.brokerId}-controller-channel`,
        ...(this.opts.security ? { security: this.opts.security } : {}),
      });
      this.conn = { controllerId: id, address, connection };
      connection.catch(() => {
        if (this.conn?.connection === connection) this.conn = null;
      });
    }
    const conn = await this.conn.connection;
    if (conn.closed) {
      this.reset();
      return this.connection();
    }
    return { controllerId: id, connection: conn };
  }
}
