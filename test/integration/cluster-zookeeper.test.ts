/**
 * A cluster of three broker processes on a real ZooKeeper (the seed's 单节点多broker), driven by
 * kill -9, SIGSTOP/SIGCONT and SIGTERM, and observed as users would: kcat -L from every live
 * broker, `kfk topics --describe --zookeeper`, and the znodes (/controller, /controller_epoch,
 * partition states) read from ZooKeeper.
 *
 * The tests run in order on one cluster; each leaves all three brokers running.
 * zookeeper.session.timeout.ms is 6 s, so a killed broker is noticed within about that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZooKeeperRegistry } from '../../src/registry/zookeeper.js';
import { findZooKeeper, startZooKeeper, ZOOKEEPER_NOT_INSTALLED, type RunningZooKeeper } from '../../src/registry/zookeeper-server.js';
import { brokerIdPath, decodeTopicAssignment, topicPath } from '../../src/registry/paths.js';
import { freePort, kcat, kfk, makeTempDir, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { assignment, controllerEpoch, controllerId, kcatMetadata, partitionStates } from '../helpers/cluster-state.js';

registerCleanup();

const install = findZooKeeper();
const requireZk = process.env.CI === 'true' || process.env.KFK_REQUIRE_ZOOKEEPER === '1';
const SESSION_TIMEOUT_MS = 6000;
/** Long enough for ZooKeeper to expire a dead broker's session and the controller to act. */
const FAILOVER_DEADLINE_MS = SESSION_TIMEOUT_MS * 4;

if (!install && requireZk) {
  describe('three brokers on ZooKeeper', () => {
    it('needs ZooKeeper', () => {
      throw new Error(`${ZOOKEEPER_NOT_INSTALLED}: CI requires it`);
    });
  });
}

describe.skipIf(!install)('three brokers on ZooKeeper', () => {
  let zk: RunningZooKeeper;
  let observer: ZooKeeperRegistry;
  let tmp: string;
  const brokers: Array<BrokerProcess | null> = [null, null, null];
  const ports: number[] = [];
  const dataDirs: string[] = [];

  async function start(id: number): Promise<BrokerProcess> {
    // A broker killed by -9 keeps its registration until ZooKeeper expires its session.
    await waitFor(async () => (await observer.exists(brokerIdPath(id))) === null, {
      timeoutMs: FAILOVER_DEADLINE_MS,
      message: `broker ${id}'s old registration to expire`,
    });
    const b = await startBrokerProcess({
      port: ports[id]!,
      dataDir: dataDirs[id]!,
      env: { TMPDIR: tmp },
      timeoutMs: 30_000,
      overrides: {
        'broker.id': String(id),
        'zookeeper.connect': zk.connectString,
        'zookeeper.session.timeout.ms': String(SESSION_TIMEOUT_MS),
        'controlled.shutdown.retry.backoff.ms': '500',
        'auto.leader.rebalance.enable': 'false',
        'offsets.topic.num.partitions': '3',
      },
    });
    brokers[id] = b;
    return b;
  }

  const liveIds = (): number[] => brokers.flatMap((b, id) => (b && !b.hasExited() ? [id] : []));
  const zkFlag = (): string[] => ['--zookeeper', zk.connectString];

  async function ensureAllRunning(): Promise<void> {
    for (let id = 0; id < 3; id++) if (!brokers[id] || brokers[id]!.hasExited()) await start(id);
    await waitFor(async () => ((await observer.children('/brokers/ids')) ?? []).length === 3, { timeoutMs: 20_000, message: 'three brokers registered' });
  }

  async function createTopic(name: string, ...args: string[]): Promise<void> {
    const res = await kfk(['topics', '--create', ...zkFlag(), '--topic', name, ...args], { timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
  }

  beforeAll(async () => {
    tmp = makeTempDir('kfk-zk-cluster-');
    zk = await startZooKeeper({ dataDir: makeTempDir('kfk-zk-cluster-zk-'), port: await freePort(), host: '127.0.0.1' });
    observer = await ZooKeeperRegistry.connect(zk.connectString, { sessionTimeoutMs: SESSION_TIMEOUT_MS, connectionTimeoutMs: 20_000 });
    for (let id = 0; id < 3; id++) {
      ports.push(await freePort());
      dataDirs.push(makeTempDir(`kfk-zk-cluster-${id}-`));
    }
    for (let id = 0; id < 3; id++) await start(id);
  }, 120_000);

  afterAll(async () => {
    for (const b of brokers) {
      if (b && !b.hasExited()) {
        try {
          process.kill(b.pid!, 'SIGCONT');
        } catch {
          /* gone */
        }
        await b.stop('SIGTERM', 30_000).catch(() => b.kill9());
      }
    }
    await observer?.close();
    await zk?.stop();
  }, 120_000);

  it('kill -9 of a leader: a new leader with the leader epoch + 1, the dead broker out of every ISR, seen from every broker', async () => {
    await createTopic('testfor3', '--replication-factor', '3', '--partitions', '3');
    const before = await partitionStates(observer, 'testfor3');
    const ctl = await controllerId(observer);
    const victim = [...before.values()].map((s) => s.leader).find((l) => l !== ctl)!;
    expect(victim).toBeGreaterThanOrEqual(0);
    await brokers[victim]!.kill9();

    await waitFor(async () => [...(await partitionStates(observer, 'testfor3')).values()].every((s) => !s.isr.includes(victim) && s.leader !== victim), {
      timeoutMs: FAILOVER_DEADLINE_MS,
      message: `broker ${victim} out of every ISR`,
    });
    const after = await partitionStates(observer, 'testfor3');
    for (const [p, s] of after) expect(s.leaderEpoch, `partition ${p}`).toBe(before.get(p)!.leaderEpoch + 1);
    await waitFor(
      async () => {
        for (const id of liveIds()) {
          const md = await kcatMetadata(brokers[id]!.bootstrap, 'testfor3');
          if (md.brokers.some((b) => b.id === victim)) return false;
          for (const part of md.topics[0]!.partitions) {
            const s = after.get(part.partition)!;
            if (part.leader !== s.leader || part.isrs.join() !== s.isr.join()) return false;
          }
        }
        return true;
      },
      { timeoutMs: 10_000, message: 'every live broker reports the new leaders' },
    );
    const described = await kfk(['topics', ...zkFlag(), '--describe', '--topic', 'testfor3']);
    expect(described.code, described.stderr).toBe(0);
    for (const [p, s] of after) {
      expect(described.stdout).toMatch(new RegExp(`\\tTopic: testfor3\\tPartition: ${p}\\tLeader: ${s.leader}\\tReplicas: [0-9,]+\\tIsr: ${s.isr.join(',')}\\n`));
      expect(s.isr).not.toContain(victim);
    }
    await ensureAllRunning();
  }, 120_000);

  it('kill -9 of the controller: another broker takes over with a new epoch and carries on', async () => {
    const oldController = await controllerId(observer);
    const oldEpoch = await controllerEpoch(observer);
    await brokers[oldController]!.kill9();
    await waitFor(async () => {
      const id = await controllerId(observer);
      return id >= 0 && id !== oldController;
    }, { timeoutMs: FAILOVER_DEADLINE_MS, message: 'a new controller' });
    expect(await controllerEpoch(observer)).toBe(oldEpoch + 1);
    const newController = await controllerId(observer);
    // It reloaded the state and handled the old controller's death.
    await waitFor(async () => [...(await partitionStates(observer, 'testfor3')).values()].every((s) => !s.isr.includes(oldController)), {
      timeoutMs: 10_000,
      message: 'the dead controller out of every ISR',
    });
    // A topic created afterwards works.
    await createTopic('after-failover', '--replication-factor', '2', '--partitions', '2');
    const created = await partitionStates(observer, 'after-failover');
    expect(created.size).toBe(2);
    for (const s of created.values()) expect(s).toMatchObject({ controllerEpoch: oldEpoch + 1, leaderEpoch: 0 });
    const put = await kcat(['-b', brokers[newController]!.bootstrap, '-P', '-t', 'after-failover', '-p', '0'], { input: 'still here\n' });
    expect(put.code, put.stderr).toBe(0);
    // A broker death afterwards is handled too.
    const other = liveIds().find((id) => id !== newController)!;
    await brokers[other]!.kill9();
    await waitFor(async () => [...(await partitionStates(observer, 'after-failover')).values()].every((s) => !s.isr.includes(other)), {
      timeoutMs: FAILOVER_DEADLINE_MS,
      message: `broker ${other} out of every ISR`,
    });
    await ensureAllRunning();
    expect(await controllerId(observer)).toBe(newController);
  }, 120_000);

  it('a controller paused past its session is deposed; resumed, it resigns instead of writing', async () => {
    const paused = await controllerId(observer);
    const epoch = await controllerEpoch(observer);
    const proc = brokers[paused]!;
    process.kill(proc.pid!, 'SIGSTOP');
    try {
      await waitFor(async () => {
        const id = await controllerId(observer);
        return id >= 0 && id !== paused;
      }, { timeoutMs: FAILOVER_DEADLINE_MS, message: 'another controller while the old one is paused' });
      expect(await controllerEpoch(observer)).toBe(epoch + 1);
    } finally {
      process.kill(proc.pid!, 'SIGCONT');
    }
    await waitFor(() => /resigned as controller/.test(proc.stderr()), { timeoutMs: FAILOVER_DEADLINE_MS, message: 'the old controller resigns' });
    // It registers again under a new session and serves as an ordinary broker.
    await waitFor(async () => (await observer.exists(brokerIdPath(paused))) !== null, { timeoutMs: FAILOVER_DEADLINE_MS, message: 'registered again' });
    expect(await controllerId(observer)).not.toBe(paused);
    // Every partition state it could have touched carries the new controller's epoch or an older one from before the pause.
    for (const t of ['testfor3', 'after-failover']) {
      for (const s of (await partitionStates(observer, t)).values()) expect(s.controllerEpoch).toBeLessThanOrEqual(epoch + 1);
    }
    // Its metadata follows the registry once it has reconciled under the new session.
    await waitFor(async () => (await kcatMetadata(proc.bootstrap)).controllerid === (await controllerId(observer)), {
      timeoutMs: 15_000,
      message: 'the resumed broker reports the new controller',
    });
    await ensureAllRunning();
  }, 120_000);

  it('SIGTERM of a leader moves its leaderships before it exits: no partition with another ISR member is ever without a leader', async () => {
    await createTopic('rolling', '--replication-factor', '3', '--partitions', '6');
    const states = await partitionStates(observer, 'rolling');
    const ctl = await controllerId(observer);
    const victim = [0, 1, 2].find((id) => id !== ctl && [...states.values()].some((s) => s.leader === id))!;
    const watcher = liveIds().find((id) => id !== victim)!;
    const seen: string[] = [];
    let answers = 0;
    let stop = false;
    const poll = (async () => {
      while (!stop) {
        try {
          const md = await kcatMetadata(brokers[watcher]!.bootstrap, 'rolling');
          answers++;
          for (const p of md.topics[0]?.partitions ?? []) if (p.leader < 0 || p.error) seen.push(`partition ${p.partition}: leader ${p.leader} ${p.error ?? ''}`);
        } catch {
          // A slow kcat run on a loaded machine says nothing about the partitions; the next poll does.
        }
      }
    })();
    const code = await brokers[victim]!.stop('SIGTERM', 60_000);
    stop = true;
    await poll;
    expect(code).toBe(0);
    expect(answers).toBeGreaterThan(0);
    expect(seen).toEqual([]);
    // Its rolling-* leaderships all moved at the first attempt (older topics whose ISR is the broker alone cannot move).
    expect(brokers[victim]!.stderr()).toContain('starting controlled shutdown');
    expect(brokers[victim]!.stderr()).not.toMatch(/remaining partitions to move: .*rolling-/);
    for (const s of (await partitionStates(observer, 'rolling')).values()) {
      expect(s.leader).not.toBe(victim);
      expect(s.isr).not.toContain(victim);
    }
    await ensureAllRunning();
  }, 120_000);

  it('controller failover while a broker is down and a topic is being created: the topic is created once, led by live brokers', async () => {
    const ctl = await controllerId(observer);
    const down = [0, 1, 2].find((id) => id !== ctl)!;
    const survivor = [0, 1, 2].find((id) => id !== ctl && id !== down)!;
    await brokers[down]!.kill9();
    await waitFor(async () => (await observer.exists(brokerIdPath(down))) === null, { timeoutMs: FAILOVER_DEADLINE_MS, message: `broker ${down} gone` });

    // The creation goes to the controller, which is killed the moment the topic is in ZooKeeper: before, or while,
    // it answers and makes its replicas leaders.
    const live = [ctl, survivor].map((id) => brokers[id]!.bootstrap).join(',');
    const creating = kfk(['topics', '--create', '--bootstrap-server', live, '--topic', 'racing', '--partitions', '6', '--replication-factor', '2'], { timeoutMs: 90_000 });
    let created: Awaited<ReturnType<typeof assignment>> | null = null;
    await waitFor(async () => (await observer.exists(topicPath('racing'))) !== null, { timeoutMs: 30_000, intervalMs: 5, message: 'racing written to ZooKeeper' });
    await brokers[ctl]!.kill9();
    const topicId = decodeTopicAssignment('racing', (await observer.get(topicPath('racing')))!.data).topicId;
    created = await assignment(observer, 'racing');
    const res = await creating;
    // Created once: the tool says so, or — when the dead controller created it but its answer was lost — the retry on
    // the next controller finds it there (Kafka's admin client reports the same TopicExistsException).
    if (res.code === 0) expect(res.stdout).toMatch(/^Created topic "?racing"?\.$/m);
    else expect(res.stderr).toMatch(/already exists/);
    // Six partitions of two replicas, none on the broker that was down.
    expect([...created.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const replicas of created.values()) expect([...replicas].sort()).toEqual([ctl, survivor].sort());

    await waitFor(async () => (await controllerId(observer)) === survivor, { timeoutMs: FAILOVER_DEADLINE_MS, message: `broker ${survivor} controller` });
    // Every partition led by the one live broker; nothing was created a second time.
    await waitFor(async () => [...(await partitionStates(observer, 'racing')).values()].every((st) => st.leader === survivor && st.isr.join() === String(survivor)), {
      timeoutMs: FAILOVER_DEADLINE_MS,
      message: `every partition of racing led by broker ${survivor}`,
    });
    expect((await partitionStates(observer, 'racing')).size).toBe(6);
    expect(decodeTopicAssignment('racing', (await observer.get(topicPath('racing')))!.data).topicId).toBe(topicId);
    expect(await assignment(observer, 'racing')).toEqual(created);
    const md = await kcatMetadata(brokers[survivor]!.bootstrap, 'racing');
    expect(md.topics[0]!.partitions.map((p) => p.leader)).toEqual([survivor, survivor, survivor, survivor, survivor, survivor]);
    const put = await kcat(['-b', brokers[survivor]!.bootstrap, '-P', '-t', 'racing', '-K', ':', '-X', 'acks=all'], { input: 'a:1\nb:2\nc:3\nd:4\n' });
    expect(put.code, put.stderr).toBe(0);

    // Both come back: the dead controller rejoins the ISRs; the topic is still the same one.
    await ensureAllRunning();
    await waitFor(async () => [...(await partitionStates(observer, 'racing')).values()].every((st) => st.isr.length === 2), {
      timeoutMs: FAILOVER_DEADLINE_MS,
      message: `broker ${ctl} back in the ISRs of racing`,
    });
    const got = await kcat(['-b', brokers[ctl]!.bootstrap, '-C', '-t', 'racing', '-o', 'beginning', '-e', '-q', '-f', '%s\\n']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout.split('\n').filter(Boolean).sort()).toEqual(['1', '2', '3', '4']);
  }, 180_000);
});
