/**
 * The pieces of the connection limits (docs/limits.md): the once-per-source limit log, connection admission
 * with per-IP overrides, the config keys, and — on a real SocketServer over TCP, in process — the broker-wide
 * queued.max.requests budget and the per-connection byte allowance: a client pipelining behind a slow request
 * stops being read, while another client is served, and every request is answered in order in the end.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionQuotas,
  DEFAULT_CONNECTION_LIMITS,
  LimitLog,
  RequestQueueBudget,
  normaliseIp,
  type ConnectionLimits,
} from '../../src/server/connection-quotas.js';
import { SocketServer, idleSweepIntervalMs } from '../../src/server/socket-server.js';
import type { ApiHandler } from '../../src/server/request.js';
import { createLogger, silentLogger } from '../../src/server/logger.js';
import { brokerConfigFromProperties, parseConnectionOverrides } from '../../src/config/broker-config.js';
import { ConfigError } from '../../src/config/config-def.js';
import { connectionLimitsFromConfig } from '../../src/broker/launch.js';
import { FrameSplitter } from '../helpers/recording-proxy.js';
import { encodeRequest } from '../helpers/raw-client.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** Checks `cond` repeatedly for `ms`: a bound that must hold while time passes (not a wait for an event). */
async function holdsFor(ms: number, cond: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    cond();
    await sleep(10);
  }
}

describe('LimitLog', () => {
  it('logs a limit once per source per interval, then reports how many hits it left out', () => {
    const lines: string[] = [];
    let now = 0;
    const log = new LimitLog(createLogger('info', (l) => lines.push(l)), 60_000, () => now);
    for (let i = 0; i < 5; i++) log.hit('max.connections.per.ip', '10.0.0.1', () => `hit ${i}`);
    log.hit('max.connections.per.ip', '10.0.0.2', () => 'other source');
    log.hit('connections.max.idle.ms', '10.0.0.1', () => 'other limit');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/WARN hit 0; further max\.connections\.per\.ip hits from 10\.0\.0\.1 are logged at most once every 60 s/);
    now = 60_000;
    log.hit('max.connections.per.ip', '10.0.0.1', () => 'hit again');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/hit again \(4 more from 10\.0\.0\.1 since the last report\)/);
  });
});

describe('ConnectionQuotas', () => {
  const limits: ConnectionLimits = {
    ...DEFAULT_CONNECTION_LIMITS,
    maxConnections: 5,
    maxConnectionsPerIp: 2,
    maxConnectionsPerIpOverrides: new Map([['10.0.0.9', 4]]),
  };

  it('admits up to the per-IP limit (or its override) and the broker-wide limit; release frees a slot', () => {
    const q = new ConnectionQuotas(limits, silentLogger);
    expect([q.admit('10.0.0.1', 'L'), q.admit('10.0.0.1', 'L'), q.admit('10.0.0.1', 'L')]).toEqual([true, true, false]);
    expect([q.admit('10.0.0.9', 'L'), q.admit('10.0.0.9', 'L'), q.admit('10.0.0.9', 'L')]).toEqual([true, true, true]);
    expect(q.connectionCount).toBe(5);
    expect(q.admit('10.0.0.9', 'L')).toBe(false); // its override would allow a 4th; max.connections does not
    q.release('10.0.0.1');
    expect(q.admit('10.0.0.1', 'L')).toBe(true);
  });

  it('normalises IPv4-mapped IPv6 addresses', () => {
    expect(normaliseIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normaliseIp('::1')).toBe('::1');
    expect(normaliseIp(undefined)).toBe('unknown');
  });
});

describe('RequestQueueBudget', () => {
  it('wakes the connections waiting for room once requests leave the queue', () => {
    const b = new RequestQueueBudget(3);
    b.add(3);
    expect(b.full).toBe(true);
    let woken = 0;
    b.waitForRoom(() => woken++);
    b.remove(1);
    expect(woken).toBe(1);
    b.remove(1);
    expect(woken).toBe(1); // once per wait
  });
});

describe('config', () => {
  it('parses max.connections.per.ip.overrides (host or IP : count, IPv6 too)', () => {
    expect(parseConnectionOverrides('127.0.0.1:200, localhost:5,[::1]:7,::2:8')).toEqual({ '127.0.0.1': 200, localhost: 5, '::1': 7, '::2': 8 });
    expect(parseConnectionOverrides('')).toEqual({});
    expect(() => parseConnectionOverrides('127.0.0.1')).toThrow(ConfigError);
    expect(() => parseConnectionOverrides('127.0.0.1:many')).toThrow(/max\.connections\.per\.ip\.overrides/);
  });

  it('max.connections.per.ip may be 0 only with overrides, as in Kafka', () => {
    expect(() => brokerConfigFromProperties({ 'max.connections.per.ip': '0' })).toThrow(
      /max\.connections\.per\.ip can be set to zero only if max\.connections\.per\.ip\.overrides property is set/,
    );
    const c = brokerConfigFromProperties({ 'max.connections.per.ip': '0', 'max.connections.per.ip.overrides': '10.1.1.1:3' });
    expect(c.maxConnectionsPerIp).toBe(0);
    expect(c.maxConnectionsPerIpOverrides).toEqual({ '10.1.1.1': 3 });
  });

  it("has Kafka's defaults, and launch resolves host names in the overrides", async () => {
    const d = brokerConfigFromProperties({});
    expect([d.maxConnections, d.maxConnectionsPerIp, d.connectionsMaxIdleMs, d.queuedMaxRequests]).toEqual([2147483647, 2147483647, 600000, 500]);
    const limits = await connectionLimitsFromConfig(brokerConfigFromProperties({ 'max.connections.per.ip.overrides': 'localhost:9,10.2.2.2:4' }));
    expect(limits.maxConnectionsPerIpOverrides.get('127.0.0.1')).toBe(9);
    expect(limits.maxConnectionsPerIpOverrides.get('10.2.2.2')).toBe(4);
    await expect(connectionLimitsFromConfig(brokerConfigFromProperties({ 'max.connections.per.ip.overrides': 'no-such-host.invalid:1' }))).rejects.toThrow(
      /cannot resolve host no-such-host\.invalid/,
    );
  });

  it('sweeps for idle connections often enough for small limits, rarely for large ones', () => {
    expect(idleSweepIntervalMs(600_000)).toBe(5000);
    expect(idleSweepIntervalMs(1000)).toBe(100);
    expect(idleSweepIntervalMs(10)).toBe(50);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Back-pressure on a real SocketServer

const HEARTBEAT = 12;

describe('queued requests', () => {
  let server: SocketServer | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.stop();
    server = undefined;
  });

  /** A Heartbeat handler that holds requests from client id 'slow' until released. */
  function slowHandler(): { handler: ApiHandler; release: () => void; handled: () => number } {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let handled = 0;
    return {
      release: () => open(),
      handled: () => handled,
      handler: {
        apiKey: HEARTBEAT,
        minVersion: 0,
        maxVersion: 4,
        async handle(_req, ctx) {
          if (ctx.clientId === 'slow') await gate;
          handled++;
          return { throttleTimeMs: 0, errorCode: 0 };
        },
      },
    };
  }

  async function start(limits: Partial<ConnectionLimits>, handler: ApiHandler): Promise<{ port: number; quotas: ConnectionQuotas }> {
    const quotas = new ConnectionQuotas({ ...DEFAULT_CONNECTION_LIMITS, ...limits }, silentLogger);
    server = new SocketServer(
      { name: 'PLAINTEXT', host: '127.0.0.1', port: 0 },
      { maxRequestBytes: 10 << 20, handlers: new Map([[HEARTBEAT, handler]]), logger: silentLogger, unsupportedApiVersionsBody: () => ({}), quotas },
    );
    await server.start();
    return { port: server.boundPort, quotas };
  }

  function connect(port: number): Promise<{ socket: net.Socket; ids: number[] }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      const ids: number[] = [];
      const splitter = new FrameSplitter();
      socket.on('data', (chunk: Buffer) => {
        for (const f of splitter.push(chunk)) ids.push(f.readInt32BE(4));
      });
      socket.once('connect', () => resolve({ socket, ids }));
      socket.once('error', reject);
    });
  }

  const heartbeat = (id: number, clientId: string, groupId = 'g') =>
    encodeRequest(HEARTBEAT, 1, id, { groupId, generationId: 1, memberId: 'm' }, clientId);

  it('queued.max.requests: a pipelining client behind a slow request stops being read; another client is served', async () => {
    const slow = slowHandler();
    const { port, quotas } = await start({ queuedMaxRequests: 10 }, slow.handler);
    // 2 KB requests: one socket read holds at most ~32 of them
    const frames = Array.from({ length: 1000 }, (_, i) => heartbeat(i, 'slow', 'g'.repeat(2000)));
    const greedy = await connect(port);
    greedy.socket.write(Buffer.concat(frames));
    await waitFor(() => quotas.requestBudget.size > 0, { message: 'requests queued' });
    // the broker stopped reading: what is queued is the budget plus at most one socket read's worth
    const frameBytes = frames[0]!.length;
    const oneRead = Math.ceil((64 * 1024) / frameBytes) + 1;
    await holdsFor(300, () => expect(quotas.requestBudget.size).toBeLessThanOrEqual(10 + oneRead));

    const other = await connect(port);
    other.socket.write(heartbeat(7, 'fast'));
    await waitFor(() => other.ids.length === 1, { message: 'the other client is answered' });
    expect(greedy.ids).toEqual([]);

    slow.release();
    await waitFor(() => greedy.ids.length === 1000, { timeoutMs: 30_000, message: 'every pipelined request answered' });
    expect(greedy.ids).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(quotas.requestBudget.size).toBe(0);
  });

  it('bytes queued per connection: reading pauses at the allowance, whatever queued.max.requests says', async () => {
    const slow = slowHandler();
    const { port, quotas } = await start({ queuedMaxRequests: 100_000, queuedMaxBytesPerConnection: 256 * 1024 }, slow.handler);
    const frames = Array.from({ length: 200 }, (_, i) => heartbeat(i, 'slow', 'g'.repeat(30_000))); // ~30 KB each, ~6 MB
    const greedy = await connect(port);
    greedy.socket.write(Buffer.concat(frames));
    await waitFor(() => quotas.requestBudget.size > 0, { message: 'requests queued' });
    // 256 KB of ~30 KB requests, plus one socket read's worth
    const bound = Math.ceil((256 * 1024 + 64 * 1024) / frames[0]!.length) + 1;
    await holdsFor(300, () => expect(quotas.requestBudget.size).toBeLessThanOrEqual(bound));
    slow.release();
    await waitFor(() => greedy.ids.length === 200, { timeoutMs: 30_000, message: 'every request answered' });
    expect(greedy.ids).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});
