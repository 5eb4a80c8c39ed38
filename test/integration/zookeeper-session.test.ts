/**
 * A broker in ZooKeeper mode survives the loss of its ZooKeeper session: after expiry (its ephemeral
 * registration and controller node are deleted by ZooKeeper) it opens a new session, registers
 * again, wins the election again and keeps serving real clients (kcat). Its ZooKeeper client metrics count the
 * expiry and the second session, and time the requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { silentLogger } from '../../src/server/logger.js';
import { ReconnectingRegistry } from '../../src/registry/reconnecting.js';
import { ZooKeeperRegistry, expireZooKeeperSession } from '../../src/registry/zookeeper.js';
import { startZooKeeper } from '../../src/registry/zookeeper-server.js';
import { brokerIdPath, controllerPath, decodeController } from '../../src/registry/paths.js';
import { freePort } from '../helpers/ports.js';
import { kcat } from '../helpers/run.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

describe('ZooKeeper session expiry', () => {
  let zk: Awaited<ReturnType<typeof startZooKeeper>>;
  let broker: RunningBroker;
  let observer: ZooKeeperRegistry;

  beforeAll(async () => {
    zk = await startZooKeeper({ dataDir: await makeTempDir('kfk-zk-session'), port: await freePort(), host: '127.0.0.1' });
    const config = brokerConfigFromProperties({
      'zookeeper.connect': `127.0.0.1:${zk.port}`,
      'zookeeper.session.timeout.ms': '6000',
      listeners: 'PLAINTEXT://127.0.0.1:0',
      'log.dirs': await makeTempDir('kfk-zk-session-logs'),
    });
    broker = await launchBroker(config, { logger: silentLogger });
    observer = await ZooKeeperRegistry.connect(`127.0.0.1:${zk.port}`);
  });

  afterAll(async () => {
    await observer?.close();
    await broker?.stop();
    await zk?.stop();
    await cleanupTempDirs();
  });

  it('registers again and keeps serving after its session expires', async () => {
    const put = await kcat(['-b', broker.bootstrap, '-P', '-t', 'survivor'], { input: 'before\n' });
    expect(put.code, put.stderr).toBe(0);
    const firstSession = (await observer.get(brokerIdPath(0)))!.stat.ephemeralOwner;

    // the ZooKeeper client's metrics (ZooKeeperClientMetrics, SessionExpireListener), read from the broker's registry
    const metric = async (name: string): Promise<number> => {
      const m = await broker.broker.metrics.registry.getSingleMetric(name)?.get();
      // a counter's one value, or a histogram's _count
      const values = (m?.values ?? []) as Array<{ value: number; metricName?: string }>;
      return values.filter((v) => v.metricName === undefined || v.metricName === name || v.metricName === `${name}_count`).reduce((a, v) => a + v.value, 0);
    };
    expect(await metric('kafka_server_sessionexpirelistener_zookeeperexpires_total')).toBe(0);
    expect(await metric('kafka_server_sessionexpirelistener_zookeepersyncconnects_total')).toBe(1);
    const requestsBefore = await metric('kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms');
    expect(requestsBefore).toBeGreaterThan(0);

    const registry = broker.broker.options.registry as ReconnectingRegistry;
    await expireZooKeeperSession(registry.current as ZooKeeperRegistry);

    // ZooKeeper deleted the old registration; the broker must come back under a new session.
    await waitFor(
      async () => {
        const node = await observer.get(brokerIdPath(0));
        return node !== null && node.stat.ephemeralOwner !== firstSession;
      },
      { timeoutMs: 30_000, message: 'broker 0 registered again under a new session' },
    );
    await waitFor(
      async () => {
        const c = await observer.get(controllerPath);
        return c !== null && decodeController(c.data).brokerId === 0;
      },
      { timeoutMs: 30_000, message: 'broker 0 controller again' },
    );

    // one expiry, one more session; the new registration's requests timed too
    expect(await metric('kafka_server_sessionexpirelistener_zookeeperexpires_total')).toBe(1);
    expect(await metric('kafka_server_sessionexpirelistener_zookeepersyncconnects_total')).toBe(2);
    expect(await metric('kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms')).toBeGreaterThan(requestsBefore);

    const put2 = await kcat(['-b', broker.bootstrap, '-P', '-t', 'survivor'], { input: 'after\n' });
    expect(put2.code, put2.stderr).toBe(0);
    const got = await kcat(['-b', broker.bootstrap, '-C', '-t', 'survivor', '-o', 'beginning', '-e', '-q']);
    expect(got.stdout.split('\n').filter(Boolean)).toEqual(['before', 'after']);
  });
});
