/**
 * Walkthrough steps 3 and 4 (the seed's 单节点多broker) as written, on ports and directories of the test's own:
 *
 * Step 3: ZooKeeper (`kfk zookeeper start`) and three `kfk server start config/server-N.properties` processes, each
 * properties file a copy of the shipped config/server.properties with broker.id, listeners and log.dirs changed (and
 * zookeeper.connect and a short zookeeper.session.timeout.ms, for the test's ZooKeeper and speed);
 * `kfk topics --create --zookeeper ... --replication-factor 3 --partitions 1 --topic testfor3`; `--describe` prints
 * the walkthrough's lines; `kfk console-producer --request-required-acks all`; kill -9 of the leader's process;
 * `--describe` again shows a new leader and the dead broker gone from Isr; `kfk console-consumer --from-beginning`
 * reads every acknowledged message; the dead broker, started again, catches up (byte-identical log) and rejoins Isr.
 *
 * Step 4: the same cluster in one process. `kfk server start --brokers 3` cannot lose one broker alone (a kill takes
 * the process), so the same checks run against startCluster() — the same launch code — in a child process whose
 * brokers are killed and restarted through the public API (test/clients/cluster.mjs); and `kfk server start
 * --brokers 3` itself is killed with -9 as a whole and started again: every acknowledged message is still there.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findZooKeeper, ZOOKEEPER_NOT_INSTALLED } from '../../src/registry/zookeeper-server.js';
import { consecutiveFreePorts, freePort, kfk, kfkSpawn, makeTempDir, registerCleanup, skipUnless, waitFor, type BackgroundProcess } from '../helpers/index.js';
import { startClusterProcess } from '../helpers/cluster-process.js';
import { editedCopy } from '../helpers/properties.js';

registerCleanup();

const SESSION_MS = 4000;
const MESSAGES = Array.from({ length: 50 }, (_, i) => `this is message ${i}`);

interface Described {
  leader: number | 'none';
  replicas: number[];
  isr: number[];
}

/** `kfk topics --describe` of a one-partition topic: checks the walkthrough's shape (tab separated) and parses it. */
function parseDescribe(topic: string, out: string): Described {
  const re = new RegExp(
    `^Topic: ${topic}\\tPartitionCount: 1\\tReplicationFactor: 3\\tConfigs:.*\\n\\tTopic: ${topic}\\tPartition: 0\\tLeader: (\\d+|none)\\tReplicas: (\\d+,\\d+,\\d+)\\tIsr: (\\d+(?:,\\d+)*)\\n$`,
  );
  const m = re.exec(out);
  if (!m) throw new Error(`unexpected --describe output:\n${out}`);
  return { leader: m[1] === 'none' ? 'none' : Number(m[1]), replicas: m[2]!.split(',').map(Number), isr: m[3]!.split(',').map(Number) };
}

/** The bytes of a replica's log (every segment, in order). */
function logBytes(dir: string): Buffer {
  if (!fs.existsSync(dir)) return Buffer.alloc(0);
  return Buffer.concat(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .map((f) => fs.readFileSync(join(dir, f))),
  );
}

async function produceAcksAll(brokerList: string, topic: string, lines: string[]): Promise<void> {
  const res = await kfk(['console-producer', '--broker-list', brokerList, '--topic', topic, '--request-required-acks', 'all'], { input: lines.join('\n') + '\n', timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
}

async function consumeAll(bootstrap: string, topic: string, count: number): Promise<string[]> {
  const res = await kfk(['console-consumer', '--bootstrap-server', bootstrap, '--topic', topic, '--from-beginning', '--max-messages', String(count), '--timeout-ms', '20000'], {
    timeoutMs: 60_000,
  });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split('\n').filter((l) => l !== '');
}

describe('walkthrough step 3: three broker processes and ZooKeeper', skipUnless(findZooKeeper() !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  let dir: string;
  let zk: BackgroundProcess;
  let zkConnect: string;
  const ports: number[] = [];
  const servers: Array<BackgroundProcess | null> = [null, null, null];
  const propertiesFile = (id: number) => join(dir, id === 0 ? 'server.properties' : `server-${id}.properties`);
  const logDir = (id: number) => join(dir, id === 0 ? 'kafka-logs' : `kafka-logs-${id}`);
  const brokerList = () => ports.map((p) => `127.0.0.1:${p}`).join(',');

  async function startServer(id: number): Promise<void> {
    const proc = kfkSpawn(['server', 'start', propertiesFile(id)]);
    servers[id] = proc;
    await proc.waitForOutput('started (', { timeoutMs: 30_000 });
  }

  async function describeTopic(topic: string): Promise<Described> {
    const res = await kfk(['topics', '--zookeeper', zkConnect, '--describe', '--topic', topic]);
    expect(res.code, res.stderr).toBe(0);
    return parseDescribe(topic, res.stdout);
  }

  beforeAll(async () => {
    dir = makeTempDir('kfk-walk3-');
    const zkPort = await freePort();
    zkConnect = `127.0.0.1:${zkPort}`;
    editedCopy('config/zookeeper.properties', join(dir, 'zookeeper.properties'), { dataDir: join(dir, 'zookeeper'), clientPort: String(zkPort) });
    zk = kfkSpawn(['zookeeper', 'start', join(dir, 'zookeeper.properties')]);
    for (let id = 0; id < 3; id++) ports.push(await freePort());
    // cp config/server.properties config/server-N.properties, with broker.id, listeners and log.dirs changed.
    for (let id = 0; id < 3; id++) {
      editedCopy('config/server.properties', propertiesFile(id), {
        'broker.id': String(id),
        listeners: `PLAINTEXT://127.0.0.1:${ports[id]}`,
        'log.dirs': logDir(id),
        'zookeeper.connect': zkConnect,
        'zookeeper.session.timeout.ms': String(SESSION_MS),
      });
    }
    await zk.waitForOutput('started (', { timeoutMs: 60_000 });
    for (let id = 0; id < 3; id++) await startServer(id);
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) if (s && !s.hasExited()) await s.stop('SIGTERM', 30_000);
    if (zk) await zk.stop('SIGTERM', 20_000);
  }, 90_000);

  it('creates testfor3 with --zookeeper and describes it as the walkthrough shows', async () => {
    const created = await kfk(['topics', '--create', '--zookeeper', zkConnect, '--replication-factor', '3', '--partitions', '1', '--topic', 'testfor3']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^Created topic "?testfor3"?\.$/m);
    const d = await describeTopic('testfor3');
    expect([...d.replicas].sort()).toEqual([0, 1, 2]);
    expect([...d.isr].sort()).toEqual([0, 1, 2]);
    expect(d.leader).toBe(d.replicas[0]); // the preferred replica leads a new topic
  });

  it('keeps every acks=all message when the leader is killed; the restarted broker catches up and rejoins the ISR', async () => {
    await produceAcksAll(brokerList(), 'testfor3', MESSAGES);
    const before = await describeTopic('testfor3');
    const dead = before.leader as number;
    await servers[dead]!.stop('SIGKILL');

    // describe again: a new leader, the dead broker gone from Isr (after its ZooKeeper session expires).
    let after: Described | undefined;
    await waitFor(
      async () => {
        after = await describeTopic('testfor3');
        return after.leader !== 'none' && after.leader !== dead && !after.isr.includes(dead);
      },
      { timeoutMs: SESSION_MS * 5, message: `a new leader of testfor3 and broker ${dead} out of its ISR` },
    );
    expect(after!.replicas).toEqual(before.replicas);
    expect([...after!.isr].sort()).toEqual([0, 1, 2].filter((id) => id !== dead));

    // Consume from the beginning (the bootstrap list still names the dead broker, as a user's would).
    expect(await consumeAll(brokerList(), 'testfor3', MESSAGES.length)).toEqual(MESSAGES);
    // The new leader takes acks=all writes.
    await produceAcksAll(brokerList(), 'testfor3', ['written while one broker is down']);

    await startServer(dead);
    await waitFor(async () => (await describeTopic('testfor3')).isr.length === 3, { timeoutMs: 30_000, message: `broker ${dead} back in the ISR of testfor3` });
    const leader = (await describeTopic('testfor3')).leader as number;
    await waitFor(() => logBytes(join(logDir(dead), 'testfor3-0')).equals(logBytes(join(logDir(leader), 'testfor3-0'))), {
      message: `broker ${dead}'s replica identical to the leader's`,
    });
    expect(await consumeAll(`127.0.0.1:${ports[dead]}`, 'testfor3', MESSAGES.length + 1)).toEqual([...MESSAGES, 'written while one broker is down']);
  }, 120_000);
});

describe('walkthrough step 4: the same cluster in one process', () => {
  it('startCluster() in a child process: describe, acks=all, a killed leader, consume, restart and rejoin', async () => {
    const cluster = await startClusterProcess({ brokers: 3 });
    try {
      const bootstrap = cluster.bootstrap;
      const describeTopic = async (): Promise<Described> => {
        const res = await kfk(['topics', '--bootstrap-server', cluster.liveBootstrap(), '--describe', '--topic', 'testfor3']);
        expect(res.code, res.stderr).toBe(0);
        return parseDescribe('testfor3', res.stdout);
      };
      const created = await kfk(['topics', '--create', '--bootstrap-server', bootstrap, '--replication-factor', '3', '--partitions', '1', '--topic', 'testfor3']);
      expect(created.code, created.stderr).toBe(0);
      const before = await describeTopic();
      expect([...before.isr].sort()).toEqual([0, 1, 2]);
      await produceAcksAll(bootstrap, 'testfor3', MESSAGES);

      const dead = before.leader as number;
      await cluster.kill(dead);
      let after: Described | undefined;
      await waitFor(
        async () => {
          after = await describeTopic();
          return after.leader !== 'none' && after.leader !== dead && !after.isr.includes(dead);
        },
        { timeoutMs: 20_000, message: `a new leader of testfor3 and broker ${dead} out of its ISR` },
      );
      expect(await consumeAll(bootstrap, 'testfor3', MESSAGES.length)).toEqual(MESSAGES);
      await produceAcksAll(bootstrap, 'testfor3', ['written while one broker is down']);

      await cluster.restart(dead);
      await waitFor(async () => (await describeTopic()).isr.length === 3, { timeoutMs: 20_000, message: `broker ${dead} back in the ISR of testfor3` });
      const leader = (await describeTopic()).leader as number;
      const replicaDir = (id: number) => join(cluster.dataDir, `broker-${id}`, 'testfor3-0');
      await waitFor(() => logBytes(replicaDir(dead)).equals(logBytes(replicaDir(leader))), { message: `broker ${dead}'s replica identical to the leader's` });
    } finally {
      expect(await cluster.close()).toBe(0);
    }
  }, 120_000);

  it('kfk server start --brokers 3 killed with -9 and started again keeps every acknowledged message', async () => {
    const dir = makeTempDir('kfk-walk4-');
    const base = await consecutiveFreePorts(3);
    const args = ['server', 'start', '--brokers', '3', '--override', `listeners=PLAINTEXT://127.0.0.1:${base}`, '--override', `log.dirs=${join(dir, 'kafka-logs')}`];
    const start = async (): Promise<BackgroundProcess> => {
      const proc = kfkSpawn(args);
      await waitFor(() => (proc.stdout().match(/^started \(/gm) ?? []).length === 3 || proc.hasExited(), { timeoutMs: 30_000, message: 'three started lines' });
      if (proc.hasExited()) throw new Error(`kfk server start --brokers 3 exited: ${proc.stderr()}`);
      return proc;
    };
    const bootstrap = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`).join(',');
    const first = await start();
    const created = await kfk(['topics', '--create', '--bootstrap-server', bootstrap, '--replication-factor', '3', '--partitions', '1', '--topic', 'testfor3']);
    expect(created.code, created.stderr).toBe(0);
    await produceAcksAll(bootstrap, 'testfor3', MESSAGES);
    await first.stop('SIGKILL');

    const second = await start();
    try {
      await waitFor(
        async () => {
          const res = await kfk(['topics', '--bootstrap-server', bootstrap, '--describe', '--topic', 'testfor3']);
          return res.code === 0 && parseDescribe('testfor3', res.stdout).isr.length === 3;
        },
        { timeoutMs: 20_000, message: 'testfor3 led with all three in its ISR after the restart' },
      );
      expect(await consumeAll(bootstrap, 'testfor3', MESSAGES.length)).toEqual(MESSAGES);
    } finally {
      expect((await second.stop('SIGTERM', 30_000)).code).toBe(0);
    }
  }, 120_000);
});
