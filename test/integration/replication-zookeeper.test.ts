/**
 * Three broker processes and a real ZooKeeper, driven by kcat and raw requests:
 * - kcat's acks=all records land byte-identical on every replica; Metadata's ISR is all three;
 * - a follower frozen with SIGSTOP leaves the ISR after replica.lag.time.max.ms (state znode and kcat -L) and
 *   acks=all carries on with min.insync.replicas=2; SIGCONT: it catches up and rejoins;
 * - kill -9 of the leader: once its session expires the controller elects another ISR member (leader epoch + 1),
 *   which serves every acknowledged record; the killed broker restarts as a follower, catches up, rejoins the
 *   ISR, and holds the same bytes;
 * - a leader (the controller too) frozen past its ZooKeeper session, while another broker becomes controller and
 *   moves the leadership, is a zombie when it wakes up: it acknowledges no acks=all write and comes back as a
 *   follower.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerConnection } from '../../src/client/connection.js';
import { ApiKey } from '../../src/protocol/generated/apis.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { ZooKeeperRegistry } from '../../src/registry/zookeeper.js';
import { ZOOKEEPER_NOT_INSTALLED, findZooKeeper, startZooKeeper, type RunningZooKeeper } from '../../src/registry/zookeeper-server.js';
import { skipUnless } from '../helpers/skip.js';
import { brokerIdPath } from '../../src/registry/paths.js';
import { freePort, kcat, kfk, makeTempDir, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { readPartitionState } from '../helpers/replication-cluster.js';

registerCleanup();

const install = findZooKeeper();
const SESSION_MS = 6000;
const LAG_MS = 2000;

describe('replication with ZooKeeper and three broker processes', skipUnless(install !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  let zk: RunningZooKeeper;
  let observer: ZooKeeperRegistry;
  const brokers = new Map<number, BrokerProcess>();
  const dataDirs = new Map<number, string>();
  const ports = new Map<number, number>();

  const bootstrap = () => [...brokers.values()].map((b) => b.bootstrap).join(',');

  async function start(id: number): Promise<BrokerProcess> {
    if (!dataDirs.has(id)) dataDirs.set(id, makeTempDir(`kfk-repl-zk-${id}-`));
    if (!ports.has(id)) ports.set(id, await freePort());
    // A broker killed with -9 is still registered until its session times out.
    await waitFor(async () => (await observer.exists(brokerIdPath(id))) === null, { timeoutMs: SESSION_MS * 3, message: `broker ${id} unregistered` });
    const b = await startBrokerProcess({
      port: ports.get(id)!,
      dataDir: dataDirs.get(id)!,
      overrides: {
        'broker.id': String(id),
        'zookeeper.connect': zk.connectString,
        'zookeeper.session.timeout.ms': String(SESSION_MS),
        'replica.lag.time.max.ms': String(LAG_MS),
        'replica.fetch.wait.max.ms': '200',
        'replica.fetch.backoff.ms': '200',
        'replica.socket.timeout.ms': '5000',
        'offsets.topic.replication.factor': '3',
      },
      timeoutMs: 30_000,
    });
    brokers.set(id, b);
    return b;
  }

  beforeAll(async () => {
    zk = await startZooKeeper({ dataDir: makeTempDir('kfk-repl-zk-'), port: await freePort(), host: '127.0.0.1' });
    observer = await ZooKeeperRegistry.connect(zk.connectString, { sessionTimeoutMs: 20_000, connectionTimeoutMs: 10_000 });
    for (const id of [0, 1, 2]) await start(id);
  }, 120_000);

  afterAll(async () => {
    for (const b of brokers.values()) {
      try {
        process.kill(b.pid!, 'SIGCONT');
      } catch {
        // already gone
      }
      await b.stop().catch(() => undefined);
    }
    await observer?.close();
    await zk?.stop();
  }, 60_000);

  async function createTopic(name: string, assignment: number[][], configs: string[] = []): Promise<void> {
    const args = ['topics', '--create', '--topic', name, '--replica-assignment', assignment.map((r) => r.join(':')).join(','), '--bootstrap-server', bootstrap()];
    for (const c of configs) args.push('--config', c);
    const res = await kfk(args);
    expect(res.code, res.stderr).toBe(0);
  }

  const logBytes = (id: number, topic: string): Buffer => {
    const dir = path.join(dataDirs.get(id)!, `${topic}-0`);
    if (!fs.existsSync(dir)) return Buffer.alloc(0);
    return Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => fs.readFileSync(path.join(dir, f))));
  };

  async function identical(topic: string, ids: number[]): Promise<void> {
    await waitFor(
      () => {
        const first = logBytes(ids[0]!, topic);
        return first.length > 0 && ids.every((id) => logBytes(id, topic).equals(first));
      },
      { timeoutMs: 20_000, message: `${topic}: identical logs on brokers ${ids.join(',')}` },
    );
  }

  async function produce(id: number | null, topic: string, acks: string, values: string[]): Promise<string> {
    const res = await kcat(
      ['-b', id === null ? bootstrap() : `127.0.0.1:${ports.get(id)}`, '-P', '-t', topic, '-p', '0', '-X', `acks=${acks}`, '-X', 'message.timeout.ms=15000'],
      { input: values.join('\n') + '\n', timeoutMs: 30_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    return res.stderr;
  }

  async function consume(id: number, topic: string): Promise<string[]> {
    const res = await kcat(['-b', `127.0.0.1:${ports.get(id)}`, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
    expect(res.code, res.stderr).toBe(0);
    return res.stdout.split('\n').filter((l) => l.length > 0);
  }

  async function kcatIsr(topic: string): Promise<number[]> {
    const res = await kcat(['-b', bootstrap(), '-L', '-t', topic, '-J']);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout).topics[0].partitions[0].isrs.map((i: { id: number }) => i.id).sort();
  }

  it('replicates kcat acks=all records byte for byte to every replica', async () => {
    await createTopic('zk-r3', [[0, 1, 2]]);
    const values = Array.from({ length: 200 }, (_, i) => `v${i}`);
    expect(await produce(null, 'zk-r3', 'all', values)).not.toMatch(/failed/i);
    await identical('zk-r3', [0, 1, 2]);
    expect(await consume(0, 'zk-r3')).toEqual(values);
    expect(await kcatIsr('zk-r3')).toEqual([0, 1, 2]);
  });

  it('a frozen follower leaves the ISR, acks=all carries on with min.insync.replicas=2, and it rejoins when thawed', async () => {
    await createTopic('zk-freeze', [[0, 1, 2]], ['min.insync.replicas=2']);
    expect(await produce(0, 'zk-freeze', 'all', ['a'])).not.toMatch(/failed/i);
    process.kill(brokers.get(2)!.pid!, 'SIGSTOP');
    try {
      // acks=all waits for broker 2 until the leader drops it from the ISR, then succeeds with two.
      expect(await produce(0, 'zk-freeze', 'all', ['b', 'c'])).not.toMatch(/failed/i);
      expect((await readPartitionState(observer, 'zk-freeze', 0)).isr.sort()).toEqual([0, 1]);
      await waitFor(async () => (await kcatIsr('zk-freeze')).length === 2, { message: 'kcat -L shows the shrunk ISR' });
    } finally {
      process.kill(brokers.get(2)!.pid!, 'SIGCONT');
    }
    await waitFor(async () => (await readPartitionState(observer, 'zk-freeze', 0)).isr.length === 3, { timeoutMs: 30_000, message: 'broker 2 back in the ISR' });
    await identical('zk-freeze', [0, 1, 2]);
    expect(await consume(0, 'zk-freeze')).toEqual(['a', 'b', 'c']);
  }, 90_000);

  it('kill -9 of the leader: a new leader from the ISR serves every acknowledged record; the old one rejoins as follower', async () => {
    await createTopic('zk-kill', [[1, 2, 0]], ['min.insync.replicas=2']);
    const values = Array.from({ length: 100 }, (_, i) => `k${i}`);
    expect(await produce(1, 'zk-kill', 'all', values)).not.toMatch(/failed/i);
    await brokers.get(1)!.kill9();
    brokers.delete(1);
    await waitFor(async () => (await observer.exists(brokerIdPath(1))) === null, { timeoutMs: SESSION_MS * 3, message: 'broker 1 session expired' });
    // The controller's offline election: the first live ISR member leads, the dead one leaves the ISR.
    await waitFor(async () => (await readPartitionState(observer, 'zk-kill', 0)).leader === 2, { timeoutMs: 20_000, message: 'broker 2 elected' });
    const st = await readPartitionState(observer, 'zk-kill', 0);
    expect(st.isr).toEqual([2, 0]);
    await waitFor(async () => (await consume(2, 'zk-kill')).length === values.length, { message: 'new leader serves the topic' });
    expect(await consume(2, 'zk-kill')).toEqual(values);
    expect(await produce(2, 'zk-kill', 'all', ['after'])).not.toMatch(/failed/i);
    await start(1);
    await waitFor(async () => (await readPartitionState(observer, 'zk-kill', 0)).isr.length === 3, { timeoutMs: 30_000, message: 'broker 1 back in the ISR' });
    expect((await readPartitionState(observer, 'zk-kill', 0)).leaderEpoch).toBe(st.leaderEpoch);
    await identical('zk-kill', [0, 1, 2]);
    expect(await consume(2, 'zk-kill')).toEqual([...values, 'after']);
  }, 120_000);

  it('a leader frozen past its session is a zombie when it wakes: no acks=all write is acknowledged, and it follows the new leader', async () => {
    await createTopic('zk-zombie', [[0, 1, 2]], ['min.insync.replicas=2']);
    expect(await produce(0, 'zk-zombie', 'all', ['z0'])).not.toMatch(/failed/i);
    const zombie = brokers.get(0)!;
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: ports.get(0)! });
    process.kill(zombie.pid!, 'SIGSTOP');
    let answer: Promise<{ errorCode: number }>;
    try {
      await waitFor(async () => (await observer.exists(brokerIdPath(0))) === null, { timeoutMs: SESSION_MS * 3, message: 'broker 0 session expired' });
      // Another broker is controller now: it elects the first live ISR member and takes broker 0 out of the ISR.
      await waitFor(async () => (await readPartitionState(observer, 'zk-zombie', 0)).leader === 1, { timeoutMs: 20_000, message: 'broker 1 elected' });
      expect((await readPartitionState(observer, 'zk-zombie', 0)).isr).toEqual([1, 2]);
      expect(await produce(1, 'zk-zombie', 'all', ['z1'])).not.toMatch(/failed/i);
      // Queued while frozen: the zombie handles it first thing when it wakes.
      answer = conn
        .request(
          ApiKey.Produce,
          { acks: -1, timeoutMs: 5000, topicData: [{ name: 'zk-zombie', partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from('zombie'), timestamp: Date.now() }]) }] }] },
          { version: 9, timeoutMs: 60_000 },
        )
        .then((r: { responses: { partitionResponses: { errorCode: number }[] }[] }) => r.responses[0]!.partitionResponses[0]!);
    } finally {
      process.kill(zombie.pid!, 'SIGCONT');
    }
    const r = await answer;
    conn.close();
    expect(r.errorCode).not.toBe(ErrorCode.NONE);
    // It registers again and follows broker 1, which takes it back into the ISR; whatever it appended alone is cut.
    await waitFor(async () => (await observer.exists(brokerIdPath(0))) !== null, { timeoutMs: 30_000, message: 'broker 0 registered again' });
    await waitFor(async () => (await readPartitionState(observer, 'zk-zombie', 0)).isr.length === 3, { timeoutMs: 30_000, message: 'broker 0 back in the ISR' });
    await identical('zk-zombie', [0, 1, 2]);
    expect(await consume(1, 'zk-zombie')).toEqual(['z0', 'z1']);
  }, 120_000);
});
