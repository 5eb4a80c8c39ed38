/**
 * The admin listener (admin.listeners=http://host:port, off by default): a node:http server in the broker's
 * process serving
 *
 *   GET /metrics       Prometheus' text format (src/metrics, names in docs/metrics.md)
 *   GET /health/live   200 while the process serves HTTP at all
 *   GET /health/ready  200 once the broker is registered and caught up, 503 with the reason otherwise
 *
 * Other paths go to the mounted handlers, in the order they were mounted (the web console mounts itself at `/`
 * and `/api/*`): a handler answers and returns true, or returns false to pass the request on. A path nobody
 * serves is a 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A mounted handler: answers the request and returns true, or leaves it alone and returns false. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export interface AdminServerOptions {
  host: string;
  port: number;
  /** The /metrics body and its content type; absent: /metrics is a 404 (a console-only server). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** /health/ready; absent: ready whenever live. */
  readiness?: () => { ready: boolean; reason: string };
  handlers?: readonly AdminHandler[];
  /** Failures of a handler are logged here. */
  onError?: (err: unknown) => void;
}

export class AdminHttpServer {
  private readonly server: Server;
  private readonly handlers: AdminHandler[];
  private port = 0;

  constructor(private readonly opts: AdminServerOptions) {
    this.handlers = [...(opts.handlers ?? [])];
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        opts.onError?.(err);
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${(err as Error)?.message ?? err}\n`);
        else res.destroy();
      });
    });
    // An idle keep-alive connection must not hold a broker's shutdown.
    this.server.keepAliveTimeout = 5000;
  }

  /** Adds a handler for paths the server does not serve itself (tried after those mounted before it). */
  mount(handler: AdminHandler): void {
    this.handlers.push(handler);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`admin listener http://${this.opts.host}:${this.opts.port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The bound port (the configured one, or the one chosen for port 0). */
  get boundPort(): number {
    return this.port;
  }

  /** The URL clients reach it at. */
  get url(): string {
    const host = this.opts.host === '' || this.opts.host === '0.0.0.0' ? 'localhost' : this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return `http://${host}:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && path === '/health/live') {
      send(res, 200, 'text/plain; charset=utf-8', 'live\n');
      return;
    }
    if (get && path === '/health/ready') {
      const r = this.opts.readiness ? this.opts.readiness() : { ready: true, reason: 'live' };
      send(res, r.ready ? 200 : 503, 'text/plain; charset=utf-8', `${r.ready ? 'ready' : 'not ready'}: ${r.reason}\n`);
      return;
    }
    if (get && path === '/metrics' && this.opts.metrics) {
      const m = await this.opts.metrics();
      send(res, 200, m.contentType, m.body);
      return;
    }
    for (const h of this.handlers) {
      if (await h(req, res)) return;
    }
    send(res, 404, 'text/plain; charset=utf-8', `not found: ${path}\n`);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Parses admin.listeners: comma-separated http://host:port URLs (https is not supported: refused). */
export function parseAdminListeners(value: string | null | undefined): { host: string; port: number }[] {
  if (value === null || value === undefined || value.trim() === '') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry) => {
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\[[^\]]*\]|[^:/]*):(\d+)\/?$/.exec(entry);
      if (!m) throw new Error(`Invalid value ${value} for configuration admin.listeners: '${entry}' is not of the form http://host:port`);
      if (m[1]!.toLowerCase() !== 'http') {
        throw new Error(`Invalid value ${value} for configuration admin.listeners: only http:// is supported (kfk has no TLS on the admin listener; put a TLS proxy in front)`);
      }
      const port = Number(m[3]);
      if (port > 65535) throw new Error(`Invalid value ${value} for configuration admin.listeners: port ${port} is out of range`);
      return { host: m[2]!.replace(/^\[|\]$/g, ''), port };
    });
}
