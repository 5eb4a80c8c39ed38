/**
 * The web console as a node:http request handler: `/` and its static assets (a plain HTML/CSS/JS page shipped
 * in static/), and a JSON API under `/api/` answered with kfk's own admin, consumer and producer clients.
 * `kfk console` serves it on its own port; a broker's admin listener can mount it next to /metrics: handle()
 * resolves false for every path it does not serve.
 *
 * Safety: the console has no login (bind it to localhost, or put it behind an authenticating proxy). The API answers
 * only requests addressed (Host) to an IP address or a known name, against DNS rebinding (checkHost). A change
 * (POST/DELETE) must come as application/json from the console's own origin, so another web page the browser
 * has open cannot make one (a cross-site form or fetch cannot send that without a CORS preflight, which is never
 * granted); destructive changes also need a typed confirmation (actions.ts). Pages are sent with a strict
 * Content-Security-Policy (scripts only from this origin) on top of the page never inserting cluster data as HTML.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { Admin } from '../client/admin.js';
import { ClusterClient } from '../client/cluster-client.js';
import { Producer } from '../client/producer.js';
import { ConnectionError, RequestTimeoutError } from '../client/connection.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import type { ClientSecurity } from '../security/client-security.js';
import { clientSecurityFromProperties } from '../security/client-security.js';
import type { Logger } from '../server/logger.js';
import { ClusterReader } from './cluster-view.js';
import { ConsoleRequestError, createTopic, deleteTopic, resetGroupOffsets, type ResetTo } from './actions.js';
import { browse, produceOne, type BrowseFrom } from './messages.js';

export interface ConsoleOptions {
  /** host:port[,host:port] of the cluster. */
  bootstrapServers: string;
  /** Client properties (security.protocol, sasl.*, ssl.*, client.id), as in a --command-config file. */
  clientConfig?: Readonly<Record<string, string>>;
  logger?: Logger;
  /**
   * Host names (without port) the API answers to besides IP addresses, `localhost` and this machine's host name:
   * the names a proxy or users reach the console by. Any other Host header is refused (DNS rebinding).
   */
  allowedHosts?: readonly string[];
}

export interface ConsoleHandler {
  /** Serves the request if it is the console's (resolves true), else leaves it untouched (false). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Closes the console's connections to the cluster. */
  close(): Promise<void>;
}

const STATIC_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Largest request body accepted (a produced test record with its headers). */
const MAX_BODY_BYTES = 1024 * 1024;

/** The static assets: next to this module (build copies src/console/static to dist/src/console/static). */
const STATIC_DIR = new URL('./static/', import.meta.url);

function securityOf(props: Readonly<Record<string, string>>): ClientSecurity | undefined {
  const proto = props['security.protocol']?.trim();
  if (proto === undefined || proto === '' || proto.toUpperCase() === 'PLAINTEXT') return undefined;
  return clientSecurityFromProperties(props);
}

export function createConsoleHandler(options: ConsoleOptions): ConsoleHandler {
  const props = options.clientConfig ?? {};
  const security = securityOf(props);
  const cluster = new ClusterClient({
    bootstrap: options.bootstrapServers,
    clientId: props['client.id'] ?? 'kfk-console',
    ...(security ? { security } : {}),
  });
  const admin = new Admin({ cluster });
  const reader = new ClusterReader(admin);
  let producer: Producer | undefined;
  const producerFor = (): Producer => (producer ??= new Producer({ cluster, acks: 'all', lingerMs: 0 }));
  const cache = new Map<string, Buffer>();
  const allowedHosts = new Set(['localhost', hostname().toLowerCase(), ...(options.allowedHosts ?? []).map((h) => h.toLowerCase())]);
  let closed = false;

  async function serveStatic(path: string, res: ServerResponse): Promise<void> {
    const entry = STATIC_FILES[path]!;
    let body = cache.get(entry.file);
    if (!body) {
      body = await readFile(new URL(entry.file, STATIC_DIR));
      cache.set(entry.file, body);
    }
    res.writeHead(200, { 'Content-Type': entry.type, 'Content-Length': body.length, 'Cache-Control': 'no-cache', ...SECURITY_HEADERS });
    res.end(body);
  }

  async function api(req: IncomingMessage, url: URL): Promise<unknown> {
    const method = req.method ?? 'GET';
    let parts: string[];
    try {
      parts = url.pathname.slice('/api/'.length).split('/').map(decodeURIComponent);
    } catch {
      throw new ConsoleRequestError(`malformed URL path: ${url.pathname}`);
    }
    checkHost(req, allowedHosts);
    if (method !== 'GET' && method !== 'HEAD') checkChangeRequest(req);
    const [collection, id, sub] = parts;
    const route = `${method} ${collection ?? ''}${id !== undefined ? '/:id' : ''}${sub !== undefined ? `/${sub}` : ''}`;
    switch (route) {
      case 'GET cluster':
        return reader.cluster();
      case 'GET brokers/:id/configs':
        return reader.brokerConfigs(intParam(id!, 'broker id', 0));
      case 'GET topics':
        return reader.topics();
      case 'POST topics': {
        const body = await jsonBody(req);
        return createTopic(admin, {
          name: stringField(body, 'name'),
          partitions: optionalInt(body, 'partitions', 1),
          replicationFactor: optionalInt(body, 'replicationFactor', 1),
          configs: configsField(body),
        });
      }
      case 'GET topics/:id':
        return reader.topic(id!);
      case 'DELETE topics/:id': {
        const body = await jsonBody(req);
        await deleteTopic(admin, id!, body.confirm);
        return { deleted: id };
      }
      case 'GET topics/:id/records':
        return browse(cluster, {
          topic: id!,
          partition: url.searchParams.has('partition') && url.searchParams.get('partition') !== '' ? intParam(url.searchParams.get('partition')!, 'partition', 0) : null,
          from: browseFrom(url.searchParams),
          limit: url.searchParams.has('limit') ? intParam(url.searchParams.get('limit')!, 'limit', 1) : 50,
        });
      case 'POST topics/:id/records': {
        const body = await jsonBody(req);
        return produceOne(producerFor(), {
          topic: id!,
          partition: optionalInt(body, 'partition', 0),
          key: nullableString(body, 'key'),
          value: nullableString(body, 'value'),
          headers: headersField(body),
        });
      }
      case 'GET groups':
        return reader.groups();
      case 'GET groups/:id':
        return reader.group(id!);
      case 'POST groups/:id/reset-offsets': {
        const body = await jsonBody(req);
        return resetGroupOffsets(admin, {
          groupId: id!,
          topic: body.topic === undefined || body.topic === null || body.topic === '' ? null : stringField(body, 'topic'),
          to: resetTo(body),
          confirm: body.confirm,
          dryRun: body.dryRun === true,
        });
      }
      default:
        throw new ConsoleRequestError(`no such API: ${method} ${url.pathname}`, 404);
    }
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      const path = url.pathname;
      const isApi = path === '/api' || path.startsWith('/api/');
      if (!isApi && !(path in STATIC_FILES)) return false;
      if (closed) {
        sendJson(res, 503, { error: 'the console is shutting down' });
        return true;
      }
      try {
        if (!isApi) {
          if (req.method !== 'GET' && req.method !== 'HEAD') throw new ConsoleRequestError(`${req.method} not allowed`, 405);
          await serveStatic(path, res);
          return true;
        }
        sendJson(res, 200, await api(req, url));
      } catch (err) {
        const { status, body } = errorResponse(err);
        if (status >= 500) options.logger?.warn(`console: ${req.method} ${path}: ${body.error}`);
        if (!res.headersSent) sendJson(res, status, body);
        else res.destroy();
      }
      return true;
    },
    async close() {
      closed = true;
      await producer?.close().catch(() => undefined);
      await admin.close();
      await cluster.close();
    },
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

/** HTTP status and JSON body for an error: Kafka errors by their code, the rest 500. */
export function errorResponse(err: unknown): { status: number; body: { error: string; code?: string } } {
  if (err instanceof ConsoleRequestError) return { status: err.status, body: { error: err.message } };
  if (err instanceof KafkaError) {
    const name = errorName(err.code);
    let status = 502;
    if (err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || err.code === ErrorCode.GROUP_ID_NOT_FOUND) status = 404;
    else if (err.code === ErrorCode.TOPIC_ALREADY_EXISTS || err.code === ErrorCode.NON_EMPTY_GROUP) status = 409;
    else if (/AUTHORIZATION_FAILED$/.test(name)) status = 403;
    else if (/^INVALID_|_TOO_LARGE$|^UNSUPPORTED_|POLICY_VIOLATION/.test(name)) status = 400;
    return { status, body: { error: err.message || name, code: name } };
  }
  if (err instanceof ConnectionError || err instanceof RequestTimeoutError) return { status: 502, body: { error: `cluster unreachable: ${err.message}` } };
  return { status: 500, body: { error: err instanceof Error ? err.message : String(err) } };
}

/**
 * DNS rebinding: a web page whose domain is made to resolve to the console's address is same-origin with it, so
 * the Origin check cannot tell. Its requests carry that domain in Host, though: the API answers only Host values
 * that are IP addresses, localhost, this machine's name, or allowed by name (`allowedHosts`, --allowed-host).
 */
function checkHost(req: IncomingMessage, allowed: ReadonlySet<string>): void {
  const header = req.headers.host ?? '';
  const name = (header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '')).toLowerCase();
  if (name === '' || isIP(name) !== 0 || allowed.has(name)) return;
  throw new ConsoleRequestError(`requests for host '${name}' are refused (DNS rebinding protection); allow it with --allowed-host ${name}`, 403);
}

/** A change must be JSON from the console's own page (see the module comment). */
function checkChangeRequest(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new ConsoleRequestError('changes must be sent as application/json', 415);
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = '';
    }
    if (originHost !== req.headers.host) throw new ConsoleRequestError(`cross-origin change refused (origin ${origin})`, 403);
  } else if (origin === 'null') {
    throw new ConsoleRequestError('cross-origin change refused (opaque origin)', 403);
  }
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ConsoleRequestError(`request body larger than ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConsoleRequestError('request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConsoleRequestError('request body must be a JSON object');
  return value as Record<string, unknown>;
}

function intParam(s: string, what: string, min: number): number {
  if (!/^-?\d+$/.test(s.trim())) throw new ConsoleRequestError(`${what} must be an integer, got '${s}'`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) throw new ConsoleRequestError(`${what} must be an integer >= ${min}, got '${s}'`);
  return n;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v === '') throw new ConsoleRequestError(`'${name}' must be a non-empty string`);
  return v;
}

function nullableString(body: Record<string, unknown>, name: string): string | null {
  const v = body[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ConsoleRequestError(`'${name}' must be a string or null`);
  return v;
}

function optionalInt(body: Record<string, unknown>, name: string, min: number): number | null {
  const v = body[name];
  if (v === undefined || v === null || v === '') return null;
  return intParam(String(v), `'${name}'`, min);
}

function configsField(body: Record<string, unknown>): Record<string, string> {
  const v = body.configs;
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConsoleRequestError("'configs' must be an object of name: value");
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string') throw new ConsoleRequestError(`config '${k}' must have a string value`);
    out[k] = val;
  }
  return out;
}

function headersField(body: Record<string, unknown>): Array<{ key: string; value: string | null }> {
  const v = body.headers;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConsoleRequestError("'headers' must be a list of {key, value}");
  return v.map((h: unknown) => {
    if (typeof h !== 'object' || h === null) throw new ConsoleRequestError("'headers' must be a list of {key, value}");
    const { key, value } = h as { key?: unknown; value?: unknown };
    if (typeof key !== 'string' || key === '') throw new ConsoleRequestError('a header needs a non-empty key');
    if (value !== null && value !== undefined && typeof value !== 'string') throw new ConsoleRequestError(`header '${key}' must have a string value`);
    return { key, value: (value as string | undefined) ?? null };
  });
}

function browseFrom(q: URLSearchParams): BrowseFrom {
  const from = q.get('from') ?? 'latest';
  switch (from) {
    case 'earliest':
      return { kind: 'earliest' };
    case 'latest':
      return { kind: 'latest' };
    case 'offset':
      return { kind: 'offset', offset: intParam(q.get('offset') ?? '', 'offset', 0) };
    case 'timestamp':
      return { kind: 'timestamp', timestamp: timestampParam(q.get('timestamp') ?? '') };
    case 'positions': {
      const positions = new Map<number, number>();
      for (const item of (q.get('positions') ?? '').split(',').filter((s) => s !== '')) {
        const [p, o] = item.split(':');
        positions.set(intParam(p ?? '', 'partition', 0), intParam(o ?? '', 'offset', 0));
      }
      return { kind: 'positions', positions };
    }
    default:
      throw new ConsoleRequestError("'from' must be earliest, latest, offset, timestamp or positions");
  }
}

/** Epoch milliseconds, or an ISO-8601 date-time. */
function timestampParam(s: string): number {
  if (/^\d+$/.test(s.trim())) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new ConsoleRequestError(`timestamp must be epoch milliseconds or an ISO-8601 date-time, got '${s}'`);
  return t;
}

function resetTo(body: Record<string, unknown>): ResetTo {
  const to = body.to;
  switch (to) {
    case 'earliest':
      return { kind: 'earliest' };
    case 'latest':
      return { kind: 'latest' };
    case 'offset':
      return { kind: 'offset', offset: intParam(String(body.offset ?? ''), "'offset'", 0) };
    case 'shift':
      return { kind: 'shift', by: intParam(String(body.shiftBy ?? ''), "'shiftBy'", Number.MIN_SAFE_INTEGER) };
    case 'timestamp':
      return { kind: 'timestamp', timestamp: timestampParam(String(body.timestamp ?? '')) };
    default:
      throw new ConsoleRequestError("'to' must be earliest, latest, offset, shift or timestamp");
  }
}
