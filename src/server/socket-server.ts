/** A listener: accepts TCP connections and hands each to a Connection. */
import { createServer, type Server, type Socket } from 'node:net';
import { Connection, type ConnectionOptions } from './connection.js';

export interface ListenerSpec {
  name: string;
  host: string;
  port: number;
}

export class SocketServer {
  private server: Server | null = null;
  private readonly connections = new Set<Connection>();
  boundPort = 0;

  constructor(
    readonly listener: ListenerSpec,
    private readonly connectionOptions: Omit<ConnectionOptions, 'listenerName'>,
  ) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket: Socket) => {
        const conn = new Connection(socket, { ...this.connectionOptions, listenerName: this.listener.name });
        this.connections.add(conn);
        socket.on('close', () => this.connections.delete(conn));
      });
      server.once('error', reject);
      server.listen({ host: this.listener.host || undefined, port: this.listener.port }, () => {
        server.off('error', reject);
        const addr = server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.listener.port;
        this.server = server;
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.connections) c.close();
    this.connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
