/**
 * Walkthrough step 2 (the seed's 单节点broker) as written, with ports and directories of the test's own:
 * `kfk zookeeper start config/zookeeper.properties`, `kfk server start config/server.properties`,
 * then topics --zookeeper (create, list, describe), console-producer --broker-list and
 * console-consumer --zookeeper --from-beginning. ZooKeeper's own zkCli then shows Kafka's znodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { freePort, kfk, kfkSpawn, makeTempDir, registerCleanup, run, type BackgroundProcess } from '../helpers/index.js';
import { editedCopy } from '../helpers/properties.js';

registerCleanup();

describe('walkthrough step 2: one broker with ZooKeeper', () => {
  let zk: BackgroundProcess;
  let broker: BackgroundProcess;
  let zkConnect: string;
  let brokerList: string;
  let dir: string;

  beforeAll(async () => {
    dir = await makeTempDir('kfk-walk2');
    const zkPort = await freePort();
    const brokerPort = await freePort();
    zkConnect = `127.0.0.1:${zkPort}`;
    brokerList = `127.0.0.1:${brokerPort}`;
    editedCopy('config/zookeeper.properties', join(dir, 'zookeeper.properties'), { dataDir: join(dir, 'zookeeper'), clientPort: String(zkPort) });
    editedCopy('config/server.properties', join(dir, 'server.properties'), {
      listeners: `PLAINTEXT://127.0.0.1:${brokerPort}`,
      'log.dirs': join(dir, 'kafka-logs'),
      'zookeeper.connect': zkConnect,
    });
    zk = kfkSpawn(['zookeeper', 'start', join(dir, 'zookeeper.properties')]);
    await zk.waitForOutput('started (', { timeoutMs: 60_000 });
    broker = kfkSpawn(['server', 'start', join(dir, 'server.properties')], { env: { TMPDIR: dir } });
    await broker.waitForOutput('started (', { timeoutMs: 30_000 });
  });

  afterAll(async () => {
    if (broker) expect((await broker.stop('SIGTERM', 20_000)).code).toBe(0);
    if (zk) await zk.stop('SIGTERM', 20_000);
  });

  it('creates, lists and describes a topic through ZooKeeper', async () => {
    const created = await kfk(['topics', '--create', '--zookeeper', zkConnect, '--replication-factor', '1', '--partitions', '1', '--topic', 'tesr13']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^Created topic "?tesr13"?\.$/m);
    const listed = await kfk(['topics', '--list', '--zookeeper', zkConnect]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')).toContain('tesr13');
    const described = await kfk(['topics', '--zookeeper', zkConnect, '--describe', '--topic', 'tesr13']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toBe(
      'Topic: tesr13\tPartitionCount: 1\tReplicationFactor: 1\tConfigs:\n' + '\tTopic: tesr13\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n',
    );
  });

  it('produces with --broker-list and consumes with --zookeeper --from-beginning', async () => {
    const produced = await kfk(['console-producer', '--broker-list', brokerList, '--topic', 'tesr13'], { input: 'this is a message\nthis is another message\n' });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kfk(['console-consumer', '--zookeeper', zkConnect, '--topic', 'tesr13', '--from-beginning', '--max-messages', '2']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout).toBe('this is a message\nthis is another message\n');
    expect(consumed.stderr).toContain('Processed a total of 2 messages');
  });

  it("leaves Kafka's znodes, readable by ZooKeeper's own zkCli", async () => {
    const zkCli = '/usr/share/zookeeper/bin/zkCli.sh';
    const get = async (path: string) => {
      const r = await run(zkCli, ['-server', zkConnect, 'get', path], { timeoutMs: 30_000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      expect(line, `${path}: ${r.stdout}${r.stderr}`).toBeDefined();
      return JSON.parse(line!);
    };
    const broker0 = await get('/brokers/ids/0');
    expect(broker0.endpoints).toEqual([`PLAINTEXT://${brokerList}`]);
    const topic = await get('/brokers/topics/tesr13');
    expect(topic.partitions).toEqual({ '0': [0] });
    expect(topic.topic_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const state = await get('/brokers/topics/tesr13/partitions/0/state');
    expect(state).toMatchObject({ leader: 0, leader_epoch: 0, isr: [0], version: 1 });
    expect((await get('/controller')).brokerid).toBe(0);
  });
});
