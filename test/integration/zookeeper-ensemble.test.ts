/**
 * A ZooKeeper ensemble of three on loopback (three `kfk zookeeper start` with server.1-3 lines and myid files) under
 * three broker processes whose zookeeper.connect names all three servers. Losing one ZooKeeper server — the
 * ensemble's leader, so that the others elect a new one and every client connection moves — changes nothing for
 * Kafka clients: an idempotent acks=all producer (confluent-kafka) and a consumer (kcat) carry on with no error, no
 * broker loses its session (same registration), no controller or partition leader changes, and the controller still
 * creates topics through the two servers left.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooKeeperRegistry } from '../../src/registry/zookeeper.js';
import { findZooKeeper, zooKeeperMode, ZOOKEEPER_NOT_INSTALLED } from '../../src/registry/zookeeper-server.js';
import { brokerIdPath } from '../../src/registry/paths.js';
import {
  freePorts,
  kcat,
  kfk,
  kfkSpawn,
  makeTempDir,
  registerCleanup,
  REPO_ROOT,
  skipUnless,
  spawnProcess,
  startBrokerProcess,
  SYSTEM_PYTHON,
  waitFor,
  type BackgroundProcess,
  type BrokerProcess,
} from '../helpers/index.js';
import { controllerEpoch, controllerId, partitionStates } from '../helpers/cluster-state.js';
import { editedCopy } from '../helpers/properties.js';

registerCleanup();

const SESSION_MS = 6000;
const CK_IDEMPOTENT = path.join(REPO_ROOT, 'test', 'clients', 'ck_idempotent.py');

describe('a ZooKeeper ensemble of three', skipUnless(findZooKeeper() !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  let dir: string;
  const zkServers = new Map<number, BackgroundProcess>();
  let clientPorts: number[];
  let connect: string;
  let observer: ZooKeeperRegistry;
  const brokers: BrokerProcess[] = [];

  beforeAll(async () => {
    dir = makeTempDir('kfk-zk-ensemble-');
    const ports = await freePorts(9);
    clientPorts = ports.slice(0, 3);
    const servers = Object.fromEntries([1, 2, 3].map((id) => [`server.${id}`, `127.0.0.1:${ports[2 + id]}:${ports[5 + id]}`]));
    // One properties file per server, a copy of the shipped one; its id in <dataDir>/myid, as ZooKeeper's docs say.
    for (const id of [1, 2, 3]) {
      const dataDir = path.join(dir, `zookeeper-${id}`);
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(path.join(dataDir, 'myid'), `${id}\n`);
      editedCopy('config/zookeeper.properties', path.join(dir, `zookeeper-${id}.properties`), {
        dataDir,
        clientPort: String(clientPorts[id - 1]),
        tickTime: '1000',
        initLimit: '10',
        syncLimit: '5',
        ...servers,
      });
    }
    for (const id of [1, 2, 3]) zkServers.set(id, kfkSpawn(['zookeeper', 'start', path.join(dir, `zookeeper-${id}.properties`)]));
    for (const zk of zkServers.values()) await zk.waitForOutput('started (', { timeoutMs: 60_000 });
    await waitFor(async () => (await Promise.all(clientPorts.map((p) => zooKeeperMode('127.0.0.1', p)))).every((m) => m === 'leader' || m === 'follower'), {
      timeoutMs: 60_000,
      message: 'the ensemble to have a quorum',
    });
    connect = clientPorts.map((p) => `127.0.0.1:${p}`).join(',');
    observer = await ZooKeeperRegistry.connect(connect, { sessionTimeoutMs: 20_000, connectionTimeoutMs: 20_000 });
    for (const id of [0, 1, 2]) {
      brokers.push(
        await startBrokerProcess({
          overrides: { 'broker.id': String(id), 'zookeeper.connect': connect, 'zookeeper.session.timeout.ms': String(SESSION_MS), 'offsets.topic.replication.factor': '3' },
          timeoutMs: 30_000,
        }),
      );
    }
  }, 150_000);

  afterAll(async () => {
    for (const b of brokers) await b.stop('SIGTERM', 30_000).catch(() => b.kill9());
    await observer?.close();
    for (const zk of zkServers.values()) await zk.stop('SIGTERM', 20_000);
  }, 120_000);

  it("losing the ensemble's leader changes nothing for producers, consumers, sessions or leaderships", async () => {
    const bootstrap = brokers.map((b) => b.bootstrap).join(',');
    const created = await kfk(['topics', '--create', '--zookeeper', connect, '--topic', 'steady', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=2']);
    expect(created.code, created.stderr).toBe(0);
    await waitFor(async () => [...(await partitionStates(observer, 'steady')).values()].filter((s) => s.isr.length === 3).length === 3, { message: 'steady fully in sync' });

    const registrations = await Promise.all([0, 1, 2].map(async (id) => (await observer.get(brokerIdPath(id)))!.stat.czxid));
    const [ctl, ctlEpoch] = [await controllerId(observer), await controllerEpoch(observer)];
    const states = await partitionStates(observer, 'steady');

    // The test's own ZooKeeper client sees what the brokers' see: its connection drops and comes back, same session.
    const sessionEvents: string[] = [];
    observer.onSessionEvent((e) => sessionEvents.push(e.state));
    const observerSession = observer.session.id;

    const producer = spawnProcess(SYSTEM_PYTHON, [CK_IDEMPOTENT, JSON.stringify({ bootstrap, topic: 'steady', max_count: 1_000_000, pause_every: 20, pause_ms: 5, keys: 30 })], {
      env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      keepStdinOpen: true,
    });
    const consumer = spawnProcess('kcat', ['-b', bootstrap, '-C', '-t', 'steady', '-o', 'beginning', '-q', '-u', '-f', '%s\\n']);
    const consumed = () => consumer.stdout().split('\n').filter((l) => l.startsWith('m-')).length;
    try {
      await producer.waitForOutput('acked 1000\n', { timeoutMs: 60_000 });
      // Kill the ensemble's leader: the two others elect a new one and every client (brokers and the test's own)
      // reconnects to a server that is left, with its session.
      let leader = -1;
      for (const id of [1, 2, 3]) if ((await zooKeeperMode('127.0.0.1', clientPorts[id - 1]!)) === 'leader') leader = id;
      expect(leader).toBeGreaterThan(0);
      await zkServers.get(leader)!.stop('SIGKILL');
      const left = [1, 2, 3].filter((id) => id !== leader);
      await waitFor(async () => (await Promise.all(left.map((id) => zooKeeperMode('127.0.0.1', clientPorts[id - 1]!)))).sort().join() === 'follower,leader', {
        timeoutMs: 30_000,
        message: 'a new ZooKeeper leader among the two left',
      });
      await producer.waitForOutput('acked 3000\n', { timeoutMs: 60_000 });
      await waitFor(() => sessionEvents.join() === 'disconnected,connected', { timeoutMs: 30_000, message: 'the ZooKeeper clients reconnected' });
      expect(observer.session.id).toBe(observerSession);
      // The controller writes through the two servers left.
      const more = await kfk(['topics', '--create', '--bootstrap-server', bootstrap, '--topic', 'after-loss', '--partitions', '2', '--replication-factor', '3']);
      expect(more.code, more.stderr).toBe(0);
      const put = await kcat(['-b', bootstrap, '-P', '-t', 'after-loss', '-X', 'acks=all'], { input: 'x\ny\n' });
      expect(put.code, put.stderr).toBe(0);
    } finally {
      producer.write('stop\n');
    }
    const res = await producer.exited;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout.trim().split('\n').pop()!) as { produced: number; acked: [number, number, number][]; errors: unknown[]; unflushed: number };
    expect(summary.errors).toEqual([]);
    expect(summary.acked.length).toBe(summary.produced);
    await waitFor(() => consumed() >= summary.produced, { timeoutMs: 30_000, message: 'the consumer to read every record' });
    await consumer.stop();
    const values = consumer.stdout().split('\n').filter((l) => l.startsWith('m-'));
    expect(new Set(values).size).toBe(values.length);
    expect(values.length).toBe(summary.produced);

    // Nothing moved: the same sessions (registrations), controller, epochs and leaders.
    expect(await Promise.all([0, 1, 2].map(async (id) => (await observer.get(brokerIdPath(id)))!.stat.czxid))).toEqual(registrations);
    expect([await controllerId(observer), await controllerEpoch(observer)]).toEqual([ctl, ctlEpoch]);
    const after = await partitionStates(observer, 'steady');
    for (const [p, s] of states) {
      expect({ leader: after.get(p)!.leader, leaderEpoch: after.get(p)!.leaderEpoch }, `steady-${p}`).toEqual({ leader: s.leader, leaderEpoch: s.leaderEpoch });
    }
    for (const b of brokers) expect(b.stderr()).not.toContain("registry session was re-established");
  }, 150_000);
});
