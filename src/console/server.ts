/**
 * A node:http server for the console alone (what `kfk console` runs): every request goes to the console
 * handler; what it does not serve is a 404.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createConsoleHandler, type ConsoleHandler, type ConsoleOptions } from './handler.js';

export interface ConsoleServerOptions extends ConsoleOptions {
  /** Interface to listen on (default 127.0.0.1: the console has no login). */
  host?: string;
  /** Port (default 9645; 0 picks a free one). */
  port?: number;
}

export interface ConsoleServer {
  /** http://host:port/ */
  readonly url: string;
  readonly port: number;
  readonly handler: ConsoleHandler;
  close(): Promise<void>;
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const handler = createConsoleHandler(options);
  const server: Server = createServer((req, res) => {
    handler.handle(req, res).then(
      (served) => {
        if (served) return;
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Not found\n');
      },
      (err: unknown) => {
        options.logger?.error(`console: ${String(err)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 9645, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    port,
    handler,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await handler.close();
    },
  };
}
