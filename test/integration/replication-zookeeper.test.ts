/**
 * Three broker processes and a real ZooKeeper, driven by third-party clients (kcat, confluent-kafka) and raw requests:
 * - kcat's acks=all records land byte-identical on every replica; Metadata's ISR is all three;
 * - a follower frozen with SIGSTOP leaves the ISR after replica.lag.time.max.ms (state znode and kcat -L) and
 *   acks=all carries on with min.insync.replicas=2; SIGCONT: it catches up and rejoins;
 * - failover under load: kcat and confluent-kafka produce with acks=all and enable.idempotence to an RF=3 topic
 *   (min.insync.replicas=2) while the leader of every partition is killed with -9: new leaders (epoch + 1) once its
 *   session expires, the dead broker out of every ISR, both producers carry on, and every acknowledged record is
 *   read back exactly once, at the offset its delivery report gave, in send order per key; nothing else is read.
 *   The killed broker restarts, truncates what it must, catches up, rejoins every ISR and holds the same bytes;
 * - with two of three brokers down, acks=all is refused (NOT_ENOUGH_REPLICAS) while acks=1 still works;
 * - a leader (the controller too) frozen past its ZooKeeper session, while another broker becomes controller and
 *   moves the leadership, is a zombie when it wakes up: it acknowledges no acks=all write (raw Produce, and a kcat
 *   producer that knows only it), and comes back as a follower with the tail it took alone cut.
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
import { freePort, kcat, kfk, makeTempDir, registerCleanup, REPO_ROOT, sleep, spawnProcess, startBrokerProcess, SYSTEM_PYTHON, waitFor, type BrokerProcess } from '../helpers/index.js';
import { kcatMetadata, partitionStates } from '../helpers/cluster-state.js';
import { readPartitionState } from '../helpers/replication-cluster.js';

/**
 * Established TCP connections to 127.0.0.1:`port` with bytes the server has not read (/proc/net/tcp): how a test
 * sees that a client's request waits at a stopped (SIGSTOP) broker.
 */
function connectionsWithUnreadRequests(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] !== local || cols[3] !== '01') continue; // 01: ESTABLISHED
    if (parseInt(cols[4]!.split(':')[1]!, 16) > 0) n++; // tx_queue:rx_queue
  }
  return n;
}

registerCleanup();

const install = findZooKeeper();
const SESSION_MS = 6000;
const LAG_MS = 2000;
const CK_IDEMPOTENT = path.join(REPO_ROOT, 'test', 'clients', 'ck_idempotent.py');

describe('replication with ZooKeeper and three broker processes', skipUnless(install !== null, ZOOKEEPER_NOT_INSTALLED), () => {
  let zk: RunningZooKeeper;
  let observer: ZooKeeperRegistry;
  const brokers = new Map<number, BrokerProcess>();
  const dataDirs = new Map<number, string>();
  const ports = new Map<number, number>();

  const bootstrap = () => [...brokers.values()].map((b) => b.bootstrap).join(',');

  async function start(id: number): Promise<BrokerProcess> {
    if (!dataDirs.has(id)) dataDirs.set(id, makeTempDir(`kfk-repl-zk-${id}-`));
    // A broker killed with -9 is still registered until its session times out.
    await waitFor(async () => (await observer.exists(brokerIdPath(id))) === null, { timeoutMs: SESSION_MS * 3, message: `broker ${id} unregistered` });
    // The first start lets the harness pick the port (it retries when another process takes a free port before the
    // broker binds it, as happens on a shared machine); restarts keep that port.
    const b = await startBrokerProcess({
      ...(ports.has(id) ? { port: ports.get(id)! } : {}),
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
    ports.set(id, b.port);
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

  const logBytes = (id: number, topic: string, partition = 0): Buffer => {
    const dir = path.join(dataDirs.get(id)!, `${topic}-${partition}`);
    if (!fs.existsSync(dir)) return Buffer.alloc(0);
    return Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => fs.readFileSync(path.join(dir, f))));
  };

  async function identical(topic: string, ids: number[], partition = 0): Promise<void> {
    await waitFor(
      () => {
        const first = logBytes(ids[0]!, topic, partition);
        return first.length > 0 && ids.every((id) => logBytes(id, topic, partition).equals(first));
      },
      { timeoutMs: 20_000, message: `${topic}-${partition}: identical logs on brokers ${ids.join(',')}` },
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

  it('failover under load: kcat and confluent-kafka (idempotent, acks=all) keep every acknowledged record exactly once through a kill -9 of the leader', async () => {
    // Every partition led by broker 1 (not the controller, broker 0): its death moves every leadership.
    await createTopic('load', [[1, 2, 0], [1, 0, 2], [1, 2, 0]], ['min.insync.replicas=2']);
    const ck = spawnProcess(SYSTEM_PYTHON, [CK_IDEMPOTENT, JSON.stringify({ bootstrap: bootstrap(), topic: 'load', max_count: 1_000_000, pause_every: 20, pause_ms: 5, keys: 50 })], {
      env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      keepStdinOpen: true,
    });
    const kc = spawnProcess('kcat', ['-b', bootstrap(), '-P', '-t', 'load', '-p', '0', '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', 'message.timeout.ms=120000', '-X', 'linger.ms=5', '-v', '-v', '-v'], {
      keepStdinOpen: true,
    });
    const kcDelivered = () => (kc.stderr().match(/^% Message delivered to partition 0 /gm) ?? []).length;
    const ckAcked = () => Number(/acked (\d+)\n(?![\s\S]*acked)/.exec(ck.stdout())?.[1] ?? 0);
    let kcSent = 0;
    let feeding = true;
    // A steady load from kcat: 20 lines every 10 ms (pacing, not synchronisation).
    const feeder = (async () => {
      while (feeding) {
        kc.write(Array.from({ length: 20 }, () => `kc-${kcSent++}\n`).join(''));
        await sleep(10);
      }
      kc.end();
    })();
    try {
      await ck.waitForOutput('acked 1000\n', { timeoutMs: 60_000 });
      await waitFor(() => kcDelivered() >= 500, { timeoutMs: 60_000, message: 'kcat deliveries before the kill' });
      const before = await partitionStates(observer, 'load');
      await brokers.get(1)!.kill9();
      brokers.delete(1);
      const [ckAtKill, kcAtKill] = [ckAcked(), kcDelivered()];

      // New leaders within seconds (the session timeout, then the controller's election), broker 1 out of every ISR.
      await waitFor(async () => [...(await partitionStates(observer, 'load')).values()].every((st) => st.leader >= 0 && st.leader !== 1 && !st.isr.includes(1)), {
        timeoutMs: SESSION_MS * 3,
        message: 'new leaders for load, broker 1 out of every ISR',
      });
      for (const [p, st] of await partitionStates(observer, 'load')) expect(st.leaderEpoch, `load-${p}`).toBe(before.get(p)!.leaderEpoch + 1);
      // Both producers carry on through the new leaders.
      await ck.waitForOutput(`acked ${(Math.floor(ckAtKill / 500) + 3) * 500}\n`, { timeoutMs: 60_000 });
      await waitFor(() => kcDelivered() >= kcAtKill + 500, { timeoutMs: 60_000, message: 'kcat deliveries after the failover' });
    } finally {
      feeding = false;
      await feeder;
      ck.write('stop\n');
    }
    const ckRes = await ck.exited;
    const kcRes = await kc.exited;
    expect(ckRes.code, ckRes.stderr).toBe(0);
    expect(kcRes.code, kcRes.stderr).toBe(0);
    const summary = JSON.parse(ckRes.stdout.trim().split('\n').pop()!) as { produced: number; acked: [number, number, number][]; errors: unknown[]; unflushed: number };
    expect(summary.errors).toEqual([]);
    expect(summary.unflushed).toBe(0);
    expect(summary.acked.length).toBe(summary.produced);
    expect(kcRes.stderr).not.toMatch(/Delivery failed/);
    expect(kcDelivered()).toBe(kcSent);

    // Read everything back (from a live broker): each acknowledged record exactly once, where its delivery report
    // said, in send order per key and per partition; nothing that was never sent.
    const read = await kcat(['-b', bootstrap(), '-C', '-t', 'load', '-o', 'beginning', '-e', '-q', '-f', '%p %o %k %s\\n'], { timeoutMs: 60_000 });
    expect(read.code, read.stderr).toBe(0);
    const records = read.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [p, o, k, v] = l.split(' ');
        return { partition: Number(p), offset: Number(o), key: k!, value: v! };
      });
    const ckRead = records.filter((r) => r.value.startsWith('m-'));
    const kcRead = records.filter((r) => r.value.startsWith('kc-'));
    expect(ckRead.length + kcRead.length).toBe(records.length);
    expect(ckRead.map((r) => `${r.value}@${r.partition}:${r.offset}`).sort()).toEqual(summary.acked.map(([i, p, o]) => `m-${i}@${p}:${o}`).sort());
    const lastOfKey = new Map<string, number>();
    for (const r of ckRead) {
      const i = Number(r.value.slice(2));
      expect(r.key).toBe(`k-${i % 50}`);
      expect(i, `order of key ${r.key}`).toBeGreaterThan(lastOfKey.get(r.key) ?? -1);
      lastOfKey.set(r.key, i);
    }
    expect(kcRead.map((r) => r.value)).toEqual(Array.from({ length: kcSent }, (_, i) => `kc-${i}`));
    expect(kcRead.every((r) => r.partition === 0)).toBe(true);

    // Broker 1 comes back: it truncates what it must, catches up and rejoins every ISR with the same bytes.
    await start(1);
    await waitFor(async () => [...(await partitionStates(observer, 'load')).values()].every((st) => st.isr.length === 3), {
      timeoutMs: 30_000,
      message: 'broker 1 back in every ISR of load',
    });
    for (const p of [0, 1, 2]) await identical('load', [0, 1, 2], p);
  }, 180_000);

  it('with two of three brokers down, acks=all is refused with NOT_ENOUGH_REPLICAS while acks=1 still works; both return and catch up', async () => {
    await createTopic('two-down', [[0, 1, 2]], ['min.insync.replicas=2']);
    expect(await produce(null, 'two-down', 'all', ['before'])).not.toMatch(/failed/i);
    // Broker 0 is the controller; the other two die together.
    await Promise.all([1, 2].map((id) => brokers.get(id)!.kill9()));
    brokers.delete(1);
    brokers.delete(2);
    await waitFor(async () => (await readPartitionState(observer, 'two-down', 0)).isr.join() === '0', { timeoutMs: SESSION_MS * 3, message: 'the ISR of two-down shrunk to broker 0' });
    // The leader learns the new ISR from ZooKeeper a moment later (under load, seconds): before that it would take
    // the write and refuse it only after the append (NOT_ENOUGH_REPLICAS_AFTER_APPEND, the record then in its log).
    await waitFor(async () => (await kcatMetadata(`127.0.0.1:${ports.get(0)}`, 'two-down')).topics[0]?.partitions[0]?.isrs.join() === '0', {
      timeoutMs: 20_000,
      message: 'broker 0 serving two-down with the ISR [0]',
    });

    const refused = await kcat(
      ['-b', `127.0.0.1:${ports.get(0)}`, '-P', '-t', 'two-down', '-p', '0', '-X', 'acks=all', '-X', 'message.send.max.retries=0', '-X', 'message.timeout.ms=10000'],
      { input: 'refused\n', timeoutMs: 30_000 },
    );
    expect(refused.stderr).toMatch(/Delivery failed for message: Broker: Not enough in-sync replicas/);
    expect(await produce(0, 'two-down', '1', ['acks-1'])).not.toMatch(/failed/i);
    expect(await consume(0, 'two-down')).toEqual(['before', 'acks-1']);

    await start(1);
    await start(2);
    await waitFor(async () => (await readPartitionState(observer, 'two-down', 0)).isr.length === 3, { timeoutMs: 30_000, message: 'brokers 1 and 2 back in the ISR' });
    await identical('two-down', [0, 1, 2]);
    expect(await produce(null, 'two-down', 'all', ['after'])).not.toMatch(/failed/i);
    expect(await consume(0, 'two-down')).toEqual(['before', 'acks-1', 'after']);
  }, 120_000);

  it('a leader frozen past its session is a zombie when it wakes: it acknowledges no acks=all write, and follows the new leader with its divergent tail cut', async () => {
    await createTopic('zk-zombie', [[0, 1, 2]], ['min.insync.replicas=2']);
    expect(await produce(0, 'zk-zombie', 'all', ['z0'])).not.toMatch(/failed/i);
    const zombie = brokers.get(0)!; // the leader, and the controller too
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: ports.get(0)! });
    const produceRaw = (acks: number, value: string) =>
      conn
        .request(
          ApiKey.Produce,
          { acks, timeoutMs: 5000, topicData: [{ name: 'zk-zombie', partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from(value), timestamp: Date.now() }]) }] }] },
          { version: 9, timeoutMs: 60_000 },
        )
        .then((r: { responses: { partitionResponses: { errorCode: number; baseOffset: bigint | number }[] }[] }) => r.responses[0]!.partitionResponses[0]!);
    process.kill(zombie.pid!, 'SIGSTOP');
    let acks1: ReturnType<typeof produceRaw>;
    let acksAll: ReturnType<typeof produceRaw>;
    let pointedAtZombie: ReturnType<typeof spawnProcess>;
    try {
      await waitFor(async () => (await observer.exists(brokerIdPath(0))) === null, { timeoutMs: SESSION_MS * 3, message: 'broker 0 session expired' });
      // Another broker is controller now: it elects the first live ISR member and takes broker 0 out of the ISR.
      await waitFor(async () => (await readPartitionState(observer, 'zk-zombie', 0)).leader === 1, { timeoutMs: 20_000, message: 'broker 1 elected' });
      expect((await readPartitionState(observer, 'zk-zombie', 0)).isr).toEqual([1, 2]);
      expect(await produce(1, 'zk-zombie', 'all', ['z1'])).not.toMatch(/failed/i);
      // Queued while frozen, handled first thing when it wakes: an acks=1 write (it may take it; Kafka's acks=1
      // promises no more) and an acks=all write (it must not acknowledge it).
      acks1 = produceRaw(1, 'zombie-acks-1');
      acksAll = produceRaw(-1, 'zombie-acks-all');
      // And a third-party producer that knows only the zombie (idempotent, acks=all).
      const queuedBefore = connectionsWithUnreadRequests(ports.get(0)!);
      pointedAtZombie = spawnProcess(
        'kcat',
        ['-b', `127.0.0.1:${ports.get(0)}`, '-P', '-t', 'zk-zombie', '-p', '0', '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', 'message.timeout.ms=15000', '-v', '-v', '-v'],
        { keepStdinOpen: true },
      );
      pointedAtZombie.write(Array.from({ length: 20 }, (_, i) => `kc-zombie-${i}\n`).join(''));
      pointedAtZombie.end();
      // kcat has connected and its first request waits, unread, at the frozen broker (the kernel accepted it)
      await waitFor(() => connectionsWithUnreadRequests(ports.get(0)!) > queuedBefore, { message: 'kcat queued at the frozen broker' });
    } finally {
      process.kill(zombie.pid!, 'SIGCONT');
    }
    const [r1, rAll] = await Promise.all([acks1!, acksAll!]);
    conn.close();
    expect(rAll.errorCode).not.toBe(ErrorCode.NONE);
    // The acks=1 write was taken: the requests were waiting in the socket when the broker woke, and it learns that
    // its session is gone only a ZooKeeper round trip later. It is a divergent tail at the end of its log.
    expect(r1.errorCode).toBe(ErrorCode.NONE);
    const kcRes = await pointedAtZombie!.exited;
    const delivered = (kcRes.stderr.match(/^% Message delivered to partition 0 /gm) ?? []).length;

    // It registers again and follows broker 1, which takes it back into the ISR; whatever it appended alone is cut.
    await waitFor(async () => (await observer.exists(brokerIdPath(0))) !== null, { timeoutMs: 30_000, message: 'broker 0 registered again' });
    await waitFor(async () => (await readPartitionState(observer, 'zk-zombie', 0)).isr.length === 3, { timeoutMs: 30_000, message: 'broker 0 back in the ISR' });
    await identical('zk-zombie', [0, 1, 2]);
    const values = await consume(1, 'zk-zombie');
    expect(values.slice(0, 2)).toEqual(['z0', 'z1']);
    expect(values).not.toContain('zombie-acks-all');
    // What kcat reports delivered (it may reach broker 1 through the metadata the woken broker gives it) is there,
    // exactly once and in order; a record it gave up on may be there too (written, its answer lost in the failover).
    const kcValues = values.filter((v) => v.startsWith('kc-zombie-'));
    expect(kcValues.length).toBeGreaterThanOrEqual(delivered);
    expect(kcValues).toEqual(Array.from({ length: kcValues.length }, (_, i) => `kc-zombie-${i}`));
    // The zombie's own tail is gone: it truncated it as a follower (KIP-101), and the replicas are identical.
    expect(values).not.toContain('zombie-acks-1');
    expect(zombie.stderr()).toMatch(/truncated zk-zombie-0 from \d+ to \d+/);
  }, 120_000);
});
