/**
 * The admin HTTP server without a broker: its own routes, mounted handlers (the way the web console plugs in),
 * readiness answers, and the admin.listeners syntax.
 */
import { afterEach, expect, it } from 'vitest';
import { AdminHttpServer, parseAdminListeners } from '../../src/admin-http/admin-server.js';

let server: AdminHttpServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

it('serves its routes, then the mounted handlers in order, then 404', async () => {
  let ready = { ready: false, reason: 'starting' };
  const seen: string[] = [];
  server = new AdminHttpServer({
    host: '127.0.0.1',
    port: 0,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'up 1\n' }),
    readiness: () => ready,
    handlers: [
      (req) => {
        seen.push(`first ${req.url}`);
        return false;
      },
    ],
  });
  server.mount(async (req, res) => {
    if (!req.url?.startsWith('/api/')) return false;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url }));
    return true;
  });
  await server.start();
  const base = server.url;
  expect(base).toBe(`http://127.0.0.1:${server.boundPort}`);

  expect(await (await fetch(`${base}/metrics`)).text()).toBe('up 1\n');
  const notReady = await fetch(`${base}/health/ready`);
  expect(notReady.status).toBe(503);
  expect(await notReady.text()).toBe('not ready: starting\n');
  ready = { ready: true, reason: 'registered and caught up' };
  expect((await fetch(`${base}/health/ready`)).status).toBe(200);
  expect((await fetch(`${base}/health/live`)).status).toBe(200);

  expect(await (await fetch(`${base}/api/topics?x=1`)).json()).toEqual({ path: '/api/topics?x=1' });
  expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
  // the built-in routes never reach the mounted handlers
  expect(seen).toEqual(['first /api/topics?x=1', 'first /elsewhere']);
});

it('answers 500 when a mounted handler fails, and keeps serving', async () => {
  const errors: unknown[] = [];
  server = new AdminHttpServer({
    host: '127.0.0.1',
    port: 0,
    handlers: [
      () => {
        throw new Error('boom');
      },
    ],
    onError: (e) => errors.push(e),
  });
  await server.start();
  const res = await fetch(`${server.url}/x`);
  expect(res.status).toBe(500);
  expect(await res.text()).toContain('boom');
  expect(errors).toHaveLength(1);
  // no metrics source: /metrics is not served
  expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
});

it('parses admin.listeners and refuses what it cannot serve', () => {
  expect(parseAdminListeners(null)).toEqual([]);
  expect(parseAdminListeners('')).toEqual([]);
  expect(parseAdminListeners('http://localhost:9644')).toEqual([{ host: 'localhost', port: 9644 }]);
  expect(parseAdminListeners('http://:9644, http://[::1]:9645/')).toEqual([
    { host: '', port: 9644 },
    { host: '::1', port: 9645 },
  ]);
  expect(() => parseAdminListeners('https://localhost:9644')).toThrow(/only http:\/\/ is supported/);
  expect(() => parseAdminListeners('localhost:9644')).toThrow(/not of the form http:\/\/host:port/);
  expect(() => parseAdminListeners('http://localhost:99999')).toThrow(/out of range/);
});
