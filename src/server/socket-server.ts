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
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${this.listener.host || '0.0.0.0'}:${this.listener.port}`;
        const why = err.code === 'EADDRINUSE' ? 'address already in use (is another broker running there?)' : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new Error(`cannot listen on ${where} for listener ${this.listener.name}: ${why}`));
      });
      server.listen({ host: this.listener.host || undefined, port: this.listener.port }, () => {
        server.removeAllListeners('error');
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
