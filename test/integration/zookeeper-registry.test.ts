/**
 * ZooKeeperRegistry against a real ZooKeeper (Debian's `zookeeper` package, run by
 * src/registry/zookeeper-server.ts): the registry conformance suite, Kafka's znode layout as seen
 * by ZooKeeper's own zkCli, session expiry, connection loss and connect failures.
 *
 * Skipped when ZooKeeper is not installed, except in CI (CI=true) or with KFK_REQUIRE_ZOOKEEPER=1,
 * where its absence is a failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  brokerIdPath,
  decodeBrokerRegistration,
  decodePartitionState,
  decodeTopicAssignment,
  encodeBrokerRegistration,
  encodePartitionState,
  encodeTopicAssignment,
  ensureBasePaths,
  partitionPath,
  partitionStatePath,
  randomKafkaUuid,
  topicPath,
} from '../../src/registry/paths.js';
import { type RegistryError, type SessionEvent, type WatchEvent } from '../../src/registry/registry.js';
import {
  ZooKeeperRegistry,
  type ZooKeeperRegistryOptions,
  expireZooKeeperSession,
  parseConnectString,
} from '../../src/registry/zookeeper.js';
import {
  type RunningZooKeeper,
  ZOOKEEPER_CLI_CLASS,
  ZOOKEEPER_NOT_INSTALLED,
  findZooKeeper,
  startZooKeeper,
} from '../../src/registry/zookeeper-server.js';
import { freePort } from '../helpers/ports.js';
import { run } from '../helpers/run.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/tmp.js';
import { skipUnless } from '../helpers/skip.js';
import { waitFor } from '../helpers/wait.js';
import { registryConformance } from '../registry-conformance.js';

const install = findZooKeeper();
const required = process.env.CI === 'true' || process.env.KFK_REQUIRE_ZOOKEEPER === '1';

const OPTS: ZooKeeperRegistryOptions = { sessionTimeoutMs: 6000, connectionTimeoutMs: 10_000 };
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const newChroot = (): string => `/kfk-test-${randomBytes(6).toString('hex')}`;

if (!install && required) {
  describe('ZooKeeper', () => {
    it('is installed', () => {
      throw new Error(`${ZOOKEEPER_NOT_INSTALLED}: CI requires it for the ZooKeeper registry tests`);
    });
  });
}

describe('ZooKeeperRegistry (real ZooKeeper)', skipUnless(install !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  let zk: RunningZooKeeper;
  /** Every registry a test opens, closed in afterAll even when the test failed. */
  const opened = new Set<ZooKeeperRegistry>();

  async function open(connectString: string, opts: ZooKeeperRegistryOptions = OPTS): Promise<ZooKeeperRegistry> {
    const r = await ZooKeeperRegistry.connect(connectString, opts);
    opened.add(r);
    return r;
  }

  /** zkCli.sh (Debian's script, or the same class on other installs), one command per run. */
  async function zkCli(...command: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = '/usr/share/zookeeper/bin/zkCli.sh';
    const server = ['-server', zk.connectString];
    const r = existsSync(script)
      ? await run(script, [...server, ...command], { timeoutMs: 30_000 })
      : await run(install!.java, ['-cp', install!.classpath, ZOOKEEPER_CLI_CLASS, ...server, ...command], { timeoutMs: 30_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  beforeAll(async () => {
    zk = await startZooKeeper({ dataDir: makeTempDir('kfk-test-zk-'), port: await freePort(), host: '127.0.0.1' });
  });

  afterAll(async () => {
    await Promise.all([...opened].map((r) => r.close().catch(() => undefined)));
    await zk?.stop();
    await cleanupTempDirs();
  });

  // Two sessions on the ensemble, each test under a fresh chroot (created by connect()).
  registryConformance('ZooKeeperRegistry', async () => {
    const cs = `${zk.connectString}${newChroot()}`;
    const a = await open(cs);
    const b = await open(cs);
    return {
      a,
      b,
      close: async () => {
        await a.close();
        await b.close();
      },
    };
  });

  it('parses connect strings', () => {
    expect(parseConnectString('zk1:2181,zk2:2182/kafka/prod')).toEqual({ hosts: 'zk1:2181,zk2:2182', chroot: '/kafka/prod' });
    expect(parseConnectString('localhost:2181')).toEqual({ hosts: 'localhost:2181', chroot: null });
    expect(parseConnectString('localhost:2181/')).toEqual({ hosts: 'localhost:2181', chroot: null });
    expect(() => parseConnectString('/kafka')).toThrow(/connect string/);
    expect(() => parseConnectString('h:99999')).toThrow(/Invalid ZooKeeper server/);
    expect(() => parseConnectString('h:2181/a//b')).toThrow(/Invalid chroot/);
  });

  it('creates a missing chroot, as Kafka does, and works relative to it', async () => {
    const chroot = `${newChroot()}/kafka`;
    const r = await open(`${zk.connectString}${chroot}`);
    const bare = await open(zk.connectString);
    expect(await bare.exists(chroot)).not.toBeNull();
    expect(await r.children('/')).toEqual([]);
    expect(await r.create('/x', buf('1'))).toBe('/x');
    expect(await r.create('/seq-', null, 'persistent_sequential')).toBe('/seq-0000000001');
    const [res] = await r.multi([{ op: 'create', path: '/m-', data: null, mode: 'ephemeral_sequential' }]);
    expect(res).toEqual({ op: 'create', path: '/m-0000000002' });
    expect((await bare.get(`${chroot}/x`))?.data?.toString()).toBe('1');
    const seen: WatchEvent[] = [];
    await r.get('/x', (e) => seen.push(e));
    await bare.set(`${chroot}/x`, buf('2'));
    await waitFor(() => seen.length > 0, { timeoutMs: 5000, message: 'watch event inside the chroot' });
    expect(seen).toEqual([{ type: 'changed', path: '/x' }]);
    expect(await r.deleteRecursive('/')).toBe(true);
    expect(await bare.children(chroot)).toEqual([]);

    // Read-only tools can opt out of creating it.
    const missing = newChroot();
    const reader = await open(`${zk.connectString}${missing}`, { ...OPTS, createChroot: false });
    expect(await reader.children('/brokers/ids')).toBeNull();
    expect(await bare.exists(missing)).toBeNull();
  });

  it('honours version 0 in multi (node-zookeeper-client turns it into -1)', async () => {
    const r = await open(`${zk.connectString}${newChroot()}`);
    await r.create('/v', buf('a'));
    await r.set('/v', buf('b')); // version 1
    for (const op of [
      { op: 'check', path: '/v', version: 0 },
      { op: 'set', path: '/v', data: buf('c'), version: 0 },
      { op: 'delete', path: '/v', version: 0 },
    ] as const) {
      await expect(r.multi([op])).rejects.toMatchObject({ code: 'BAD_VERSION', opIndex: 0 });
    }
    await expect(r.set('/v', buf('c'), 0)).rejects.toMatchObject({ code: 'BAD_VERSION' });
    expect((await r.get('/v'))?.data?.toString()).toBe('b');
    const [set] = await r.multi([{ op: 'set', path: '/v', data: null, version: 1 }]);
    expect(set?.op === 'set' && set.stat.version).toBe(2);
    const got = await r.get('/v');
    expect(got!.data === null || got!.data.length === 0).toBe(true);
  });

  it("writes Kafka's znode layout: zkCli reads kfk's JSON, and kfk reads JSON written by zkCli", async () => {
    const chroot = newChroot();
    const r = await open(`${zk.connectString}${chroot}`);
    await ensureBasePaths(r);
    const topicId = randomKafkaUuid();
    const assignment = encodeTopicAssignment({ partitions: new Map([[0, [1, 2]], [1, [2, 1]]]), topicId });
    await r.create(topicPath('x'), assignment);
    await r.mkdirp(partitionPath('x', 0));
    await r.create(partitionStatePath('x', 0), encodePartitionState({ controllerEpoch: 1, leader: 1, leaderEpoch: 0, isr: [1, 2] }));
    await r.create(
      brokerIdPath(1),
      encodeBrokerRegistration({
        id: 1,
        endpoints: [{ listenerName: 'PLAINTEXT', host: 'localhost', port: 9092, securityProtocol: 'PLAINTEXT' }],
        rack: null,
        timestamp: 1700000000000,
        jmxPort: -1,
        features: {},
      }),
      'ephemeral',
    );
    // A Kafka 0.11-style topic written with ZooKeeper's own tool.
    const legacy = '{"version":1,"partitions":{"0":[0]}}';

    const jsonLine = (out: string): unknown => JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!);
    const [topic, state, ids, created] = await Promise.all([
      zkCli('get', `${chroot}/brokers/topics/x`),
      zkCli('get', `${chroot}/brokers/topics/x/partitions/0/state`),
      zkCli('ls', `${chroot}/brokers/ids`),
      zkCli('create', `${chroot}/brokers/topics/legacy`, legacy),
    ]);
    expect(topic.code, topic.stderr).toBe(0);
    expect(jsonLine(topic.stdout)).toEqual({
      version: 3,
      topic_id: topicId,
      partitions: { '0': [1, 2], '1': [2, 1] },
      adding_replicas: {},
      removing_replicas: {},
    });
    expect(jsonLine(state.stdout)).toEqual({ controller_epoch: 1, leader: 1, version: 1, leader_epoch: 0, isr: [1, 2] });
    expect(ids.stdout).toContain('[1]');
    expect(created.code, created.stderr).toBe(0);

    const back = await r.get(topicPath('legacy'));
    expect(back?.data?.toString()).toBe(legacy);
    const decoded = decodeTopicAssignment('legacy', back!.data);
    expect([...decoded.partitions]).toEqual([[0, [0]]]);
    expect(decoded.topicId).toBeNull();
    expect(decodePartitionState((await r.get(partitionStatePath('x', 0)))!.data).isr).toEqual([1, 2]);
    const reg = await r.get(brokerIdPath(1));
    expect(reg?.stat.ephemeralOwner).toBe(r.session.id);
    expect(decodeBrokerRegistration(1, reg!.data).endpoints[0]?.port).toBe(9092);
  });

  it('session expiry deletes the ephemeral nodes, the other session sees it, and the owner can re-register', async () => {
    const cs = `${zk.connectString}${newChroot()}`;
    const a = await open(cs);
    const b = await open(cs);
    await a.mkdirp('/brokers/ids');
    await a.create('/brokers/ids/1', buf('{"version":5}'), 'ephemeral');
    await a.create('/controller', buf('{"brokerid":1}'), 'ephemeral');
    const events: SessionEvent[] = [];
    a.onSessionEvent((e) => events.push(e));
    const aWatch: WatchEvent[] = [];
    await a.children('/brokers/ids', (e) => aWatch.push(e));
    const seen: WatchEvent[] = [];
    await b.exists('/brokers/ids/1', (e) => seen.push(e));
    await b.exists('/controller', (e) => seen.push(e));

    await expireZooKeeperSession(a);
    await waitFor(() => seen.length === 2, { timeoutMs: 5000, message: 'deletion events in the other session' });
    expect(seen).toEqual(
      expect.arrayContaining([
        { type: 'deleted', path: '/brokers/ids/1' },
        { type: 'deleted', path: '/controller' },
      ]),
    );
    expect(await b.exists('/brokers/ids/1')).toBeNull();
    expect(await b.exists('/controller')).toBeNull();
    expect(events.map((e) => e.state)).toContain('expired');
    expect(events.at(-1)).toEqual({ state: 'expired' });
    expect(a.isClosed).toBe(true);
    await expect(a.get('/brokers/ids')).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(aWatch).toEqual([]); // an expired session's watches never fire

    // What a broker does on 'expired': a new session, and register again.
    const a2 = await open(cs);
    expect(a2.session.id).not.toBe(a.session.id);
    await a2.create('/brokers/ids/1', buf('{"version":5}'), 'ephemeral');
    expect((await b.exists('/brokers/ids/1'))?.ephemeralOwner).toBe(a2.session.id);
    await a.close(); // harmless after expiry
  });

  it('fails calls with CONNECTION_LOSS when the connection stays down', async () => {
    const dataDir = makeTempDir('kfk-test-zk-');
    const own = await startZooKeeper({ dataDir, port: await freePort(), host: '127.0.0.1' });
    try {
      const r = await open(own.connectString, { sessionTimeoutMs: 20_000, connectionTimeoutMs: 3000 });
      await own.kill();
      await waitFor(async () => (await r.get('/').then(() => false, (e: RegistryError) => e.code === 'CONNECTION_LOSS')), {
        timeoutMs: 10_000,
        message: 'CONNECTION_LOSS',
      });
      await r.close();
      await expect(r.get('/')).rejects.toMatchObject({ code: 'CLOSED' });
    } finally {
      await own.stop();
    }
  });

  it('rejects with a one-line error naming the address when nothing answers', async () => {
    const port = await freePort();
    // It gives up (rejects) after connectionTimeoutMs instead of retrying forever; a hang fails on the test's timeout.
    const err = (await ZooKeeperRegistry.connect(`127.0.0.1:${port}/kafka`, { sessionTimeoutMs: 6000, connectionTimeoutMs: 1500 }).catch(
      (e: unknown) => e,
    )) as RegistryError;
    expect(err.code).toBe('CONNECTION_LOSS');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain('\n');
  });

  it('retries a connection whose handshake never completes', async () => {
    // A server that accepts connections and never answers (as a starting ZooKeeper sometimes does).
    const sockets: net.Socket[] = [];
    const mute = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const port = (mute.address() as net.AddressInfo).port;
    try {
      const err = (await ZooKeeperRegistry.connect(`127.0.0.1:${port}`, {
        sessionTimeoutMs: 6000,
        connectionTimeoutMs: 1500,
        handshakeTimeoutMs: 300,
        spinDelayMs: 50,
      }).catch((e: unknown) => e)) as RegistryError;
      expect(err.code).toBe('CONNECTION_LOSS');
      expect(sockets.length).toBeGreaterThan(1);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });

  it('refuses to start a second server on a port in use', async () => {
    await expect(startZooKeeper({ dataDir: makeTempDir('kfk-test-zk-'), port: zk.port, host: '127.0.0.1' })).rejects.toThrow(
      /already in use/,
    );
  });

  it('reports disconnected/connected across a server restart and keeps the session', async () => {
    const dataDir = makeTempDir('kfk-test-zk-');
    const port = await freePort();
    let own = await startZooKeeper({ dataDir, port, host: '127.0.0.1', });
    try {
      // the observer (the broker's ZooKeeper client metrics) hears the same events, and every request's latency
      const observed: string[] = [];
      let requests = 0;
      const observer = { sessionEvent: (state: string) => observed.push(state), requestLatency: (ms: number) => (requests += ms >= 0 ? 1 : 0) };
      const r = await open(own.connectString, { sessionTimeoutMs: 20_000, connectionTimeoutMs: 20_000, handshakeTimeoutMs: 1500, observer });
      await r.create('/eph', null, 'ephemeral');
      expect(observed).toEqual(['connected']);
      expect(requests).toBeGreaterThanOrEqual(1);
      const events: string[] = [];
      r.onSessionEvent((e) => events.push(e.state));
      await own.stop();
      await waitFor(() => events.includes('disconnected'), { timeoutMs: 5000, message: 'disconnected event' });
      // A call made while disconnected waits for the connection (up to connectionTimeoutMs).
      const pending = r.exists('/eph');
      pending.catch(() => undefined); // awaited below; no unhandled rejection if the test fails earlier
      own = await startZooKeeper({ dataDir, port, host: '127.0.0.1', });
      await waitFor(() => events.includes('connected'), { timeoutMs: 20_000, message: 'connected event' });
      expect(events).toEqual(['disconnected', 'connected']);
      expect(observed).toEqual(['connected', 'disconnected', 'connected']);
      expect((await pending)?.ephemeralOwner).toBe(r.session.id);
      const before = requests;
      await r.exists('/eph');
      expect(requests).toBe(before + 1);
      await r.close();
      expect(events).toEqual(['disconnected', 'connected', 'closed']);
    } finally {
      await own.stop();
    }
  });
});
