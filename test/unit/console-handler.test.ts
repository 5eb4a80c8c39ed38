/**
 * The console handler's HTTP contract without a cluster (nothing here reaches one): it serves its page and assets
 * with a strict Content-Security-Policy, leaves every other path (/metrics, /health/...) to the server that mounts
 * it, answers unknown or malformed API paths with JSON errors, answers the API only for known Host names (DNS
 * rebinding), and refuses changes that are not same-origin JSON
 * before asking the cluster anything. Plus how keys and values are shown (text, base64, cut) and how Kafka errors
 * map to HTTP statuses. The console against real brokers in a real browser: test/integration/console-*.test.ts.
 */
import { createServer, request, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleHandler, errorResponse, type ConsoleHandler } from '../../src/console/index.js';
import { MAX_SHOWN_BYTES, showBytes } from '../../src/console/messages.js';
import { ErrorCode, KafkaError } from '../../src/protocol/errors.js';

describe('console handler (no cluster needed)', () => {
  let handler: ConsoleHandler;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // Port 1 on loopback: nothing listens there; no test below may need the cluster.
    handler = createConsoleHandler({ bootstrapServers: '127.0.0.1:1', allowedHosts: ['Console.Internal'] });
    server = createServer((req, res) => {
      void handler.handle(req, res).then((served) => {
        if (!served) {
          res.writeHead(299, { 'Content-Type': 'text/plain' });
          res.end('not the console');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await handler.close();
  });

  it('serves the page and its assets with a Content-Security-Policy that allows only its own scripts', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="app.js"></script>');
    for (const [path, type] of [
      ['/app.js', 'text/javascript; charset=utf-8'],
      ['/style.css', 'text/css; charset=utf-8'],
      ['/favicon.svg', 'image/svg+xml'],
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect((await res.arrayBuffer()).byteLength, path).toBeGreaterThan(0);
    }
    // The page never turns data into HTML.
    const js = await (await fetch(`${base}/app.js`)).text();
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('leaves other paths to the server that mounts it', async () => {
    for (const path of ['/metrics', '/health/live', '/health/ready', '/index.htm', '/static/app.js']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(299);
    }
  });

  it('answers unknown and malformed API paths with JSON errors', async () => {
    const unknown = await fetch(`${base}/api/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no such API: GET /api/nothing-here' });
    const malformed = await fetch(`${base}/api/topics/%E0%A4%A`);
    expect(malformed.status).toBe(400);
    const badPost = await fetch(`${base}/`, { method: 'POST' });
    expect(badPost.status).toBe(405);
  });

  it('answers the API only for IP addresses, localhost, this machine and allowed names (DNS rebinding)', async () => {
    const get = (host: string, path = '/api/nothing-here') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: Number(new URL(base).port), path, headers: { Host: host } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await get('attacker.example:9645');
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error).toBe("requests for host 'attacker.example' are refused (DNS rebinding protection); allow it with --allowed-host attacker.example");
    // Passing the check reaches the router: an unknown API is a 404.
    for (const host of ['127.0.0.1:9645', '[::1]:9645', 'localhost:9645', 'LOCALHOST', `${hostname()}:1`, 'console.internal:80']) {
      expect((await get(host)).status, host).toBe(404);
    }
    // The page itself holds no cluster data and is served whatever the Host.
    expect((await get('attacker.example', '/')).status).toBe(200);
  });

  it('refuses a change that is not JSON, or comes from another origin, before asking the cluster', async () => {
    const body = JSON.stringify({ name: 'forged' });
    const form = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'name=forged' });
    expect(form.status).toBe(415);
    const text = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body });
    expect(text.status).toBe(415);
    const cross = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'https://attacker.example' }, body });
    expect(cross.status).toBe(403);
    const opaque = await fetch(`${base}/api/topics/t`, { method: 'DELETE', headers: { 'Content-Type': 'application/json', Origin: 'null' }, body: '{"confirm":"t"}' });
    expect(opaque.status).toBe(403);
    const unconfirmed = await fetch(`${base}/api/topics/t`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: '{"confirm":"other"}' });
    expect(unconfirmed.status).toBe(400);
    expect(await unconfirmed.json()).toEqual({ error: "to delete topic 't', confirm with its name" });
    const notJson = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{name' });
    expect(notJson.status).toBe(400);
    const badReset = await fetch(`${base}/api/groups/g/reset-offsets`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"to":"sideways"}' });
    expect(badReset.status).toBe(400);
  });
});

describe('showBytes: keys, values and headers for the browser', () => {
  it('UTF-8 text as text, binary and control characters as base64, null as null', () => {
    expect(showBytes(null)).toBeNull();
    expect(showBytes(Buffer.from('héllo {"a":1}\n\tok'))).toEqual({ encoding: 'utf8', data: 'héllo {"a":1}\n\tok', size: 18, truncated: false });
    expect(showBytes(Buffer.from([0xff, 0x00, 0x41]))).toEqual({ encoding: 'base64', data: '/wBB', size: 3, truncated: false });
    expect(showBytes(Buffer.from('a\u0000b'))?.encoding).toBe('base64');
    expect(showBytes(Buffer.alloc(0))).toEqual({ encoding: 'utf8', data: '', size: 0, truncated: false });
  });

  it(`cuts what is longer than ${MAX_SHOWN_BYTES} bytes and says so`, () => {
    const big = showBytes(Buffer.alloc(MAX_SHOWN_BYTES + 10, 'x'))!;
    expect(big).toMatchObject({ encoding: 'utf8', size: MAX_SHOWN_BYTES + 10, truncated: true });
    expect(big.data.length).toBe(MAX_SHOWN_BYTES);
    // A multi-byte character cut in half is not text any more: base64 of the first bytes.
    const euro = showBytes(Buffer.from('€'.repeat(MAX_SHOWN_BYTES)))!;
    expect(euro.encoding).toBe('base64');
    expect(Buffer.from(euro.data, 'base64').length).toBe(MAX_SHOWN_BYTES);
  });
});

describe('errorResponse: Kafka errors as HTTP statuses', () => {
  it.each([
    [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 404],
    [ErrorCode.GROUP_ID_NOT_FOUND, 404],
    [ErrorCode.TOPIC_ALREADY_EXISTS, 409],
    [ErrorCode.NON_EMPTY_GROUP, 409],
    [ErrorCode.INVALID_REPLICATION_FACTOR, 400],
    [ErrorCode.TOPIC_AUTHORIZATION_FAILED, 403],
    [ErrorCode.NOT_CONTROLLER, 502],
  ])('code %i → %i', (code, status) => {
    const r = errorResponse(new KafkaError(code, 'the broker said so'));
    expect(r.status).toBe(status);
    expect(r.body.error).toBe('the broker said so');
  });
});
