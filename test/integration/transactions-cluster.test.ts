/**
 * Transactions in a three-broker cluster, with the coordinator's broker failing:
 *
 * 1. `kfk server start --brokers 3` with the test fault KFK_TEST_TXN_FAULT=halt-before-markers (docs/testing.md): the
 *    broker whose transaction coordinator writes a confluent-kafka producer's PrepareCommit dies right after that write,
 *    before any marker. The new leader of the __transaction_state partition reloads it, sends the markers and writes
 *    CompleteCommit; the producer's commit succeeds (it retries on the new coordinator) and read_committed consumers
 *    see every record of the transaction.
 * 2. startCluster-style brokers in this process: a producer leaves a transaction open and dies, and the broker of its
 *    coordinator is killed too. The new coordinator aborts the transaction once transaction.timeout.ms has passed
 *    (bumping the producer's epoch), the partitions' new leaders (which knew the open transaction from replication)
 *    move their last stable offset, and read_committed consumers (kcat, kafkajs) move on to later committed records.
 *    kafkajs commits and aborts on the same cluster.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import {
  REPO_ROOT,
  freePorts,
  kcat,
  kfk,
  makeTempDir,
  python,
  registerCleanup,
  spawnProcess,
  startBrokerProcess,
  waitFor,
} from '../helpers/index.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchCluster, type RunningCluster } from '../../src/broker/launch-cluster.js';
import { silentLogger, createLogger } from '../../src/server/logger.js';
import { BrokerConnection } from '../../src/client/connection.js';
import { ErrorCode } from '../../src/protocol/errors.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
registerCleanup();

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');

async function readValues(bootstrap: string, topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<string[]> {
  const r = await kcat(['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-X', `isolation.level=${isolation}`, '-f', '%s\n']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('the coordinator killed between PrepareCommit and the markers', () => {
  it('is replaced by a coordinator that completes the commit (kfk server start --brokers 3)', async () => {
    const ports = await freePorts(3);
    const cluster = await startBrokerProcess({
      args: ['--brokers', '3', '--ports', ports.join(',')],
      overrides: {
        listeners: `PLAINTEXT://127.0.0.1:${ports[0]}`,
        'offsets.topic.num.partitions': '3',
        'transaction.state.log.num.partitions': '3',
        'group.initial.rebalance.delay.ms': '0',
      },
      env: { KFK_TEST_FAULT: '1', KFK_TEST_TXN_FAULT: 'halt-before-markers' },
    });
    const bootstrap = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const created = await kfk(['topics', '--create', '--topic', 'failover', '--partitions', '3', '--replication-factor', '3', '--bootstrap-server', bootstrap]);
    expect(created.code, created.stderr).toBe(0);
    const values = Array.from({ length: 30 }, (_, i) => `v${i}`);
    const r = await python(CK, ['produce', JSON.stringify({ bootstrap, transactional_id: 'failover-txn', topic: 'failover', transactions: [{ commit: true, values }] })], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ results: ['committed'] });
    // The fault fired: a broker died after PrepareCommit; another one completed the transaction.
    expect(cluster.stdout() + cluster.stderr()).toMatch(/halt-before-markers: broker \d dies after writing PrepareCommit of failover-txn/);
    await waitFor(() => /completing 1 transactions in PrepareCommit\/PrepareAbort/.test(cluster.stdout() + cluster.stderr()), {
      timeoutMs: 30_000,
      message: 'the new coordinator to resume the transaction',
    });
    const live = ports.map((p) => `127.0.0.1:${p}`).filter((_, i) => !new RegExp(`broker ${i} dies`).test(cluster.stdout() + cluster.stderr()));
    expect(live).toHaveLength(2);
    await waitFor(async () => (await readValues(live.join(','), 'failover', 'read_committed')).length === values.length, {
      timeoutMs: 30_000,
      message: 'read_committed to see the whole transaction',
    });
    expect((await readValues(live.join(','), 'failover', 'read_committed')).sort()).toEqual([...values].sort());
    expect(await cluster.stop()).toBe(0);
  });
});

describe('a transaction left open by a dead producer whose coordinator broker is killed', () => {
  let cluster: RunningCluster | null = null;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is aborted at its timeout by the new coordinator, and read_committed consumers move on', async () => {
    const config = brokerConfigFromProperties({
      listeners: 'PLAINTEXT://127.0.0.1:0',
      'log.dirs': makeTempDir('kfk-txn-cluster-'),
      'offsets.topic.num.partitions': '3',
      'offsets.topic.replication.factor': '3',
      'transaction.state.log.num.partitions': '3',
      'group.initial.rebalance.delay.ms': '0',
      'transaction.abort.timed.out.transaction.cleanup.interval.ms': '500',
      'auto.leader.rebalance.enable': 'false',
    });
    cluster = await launchCluster(config, { brokers: 3, logger: silentLogger, brokerLogger: () => (process.env.KFK_TEST_VERBOSE ? createLogger('info') : silentLogger) });
    const c = cluster;
    const bootstrap = () => c.brokers.filter((b) => b.running).map((b) => b.bootstrap).join(',');
    const created = await kfk(['topics', '--create', '--topic', 'open', '--partitions', '1', '--replication-factor', '3', '--bootstrap-server', bootstrap()]);
    expect(created.code, created.stderr).toBe(0);

    const hang = spawnProcess('/usr/bin/python3', [
      CK,
      'hang',
      JSON.stringify({ bootstrap: bootstrap(), transactional_id: 'left-open', topic: 'open', values: ['o1', 'o2', 'o3'], transaction_timeout_ms: 4000, partition: 0 }),
    ]);
    await hang.waitForOutput('open', { timeoutMs: 60_000 });
    const conn = await BrokerConnection.connect({ host: '127.0.0.1', port: c.brokers[0]!.port });
    let coordinator: number;
    try {
      const found = await conn.request(10, { key: 'left-open', keyType: 1 }, { version: 1 });
      expect(found.errorCode).toBe(ErrorCode.NONE);
      coordinator = found.nodeId;
    } finally {
      conn.close();
    }
    await hang.stop('SIGKILL');
    await c.killBroker(coordinator);

    // A later transaction (kafkajs) on the same partition commits while the dead one is still open.
    const kafka = new Kafka({ brokers: bootstrap().split(','), logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
    const producer = kafka.producer({ transactionalId: 'kj-after', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      let t = await producer.transaction();
      await t.send({ topic: 'open', messages: [{ key: 'k', value: 'after-1', partition: 0 }] });
      await t.commit();
      t = await producer.transaction();
      await t.send({ topic: 'open', messages: [{ key: 'k', value: 'aborted-by-kafkajs', partition: 0 }] });
      await t.abort();
      t = await producer.transaction();
      await t.send({ topic: 'open', messages: [{ key: 'k', value: 'after-2', partition: 0 }] });
      await t.commit();
    } finally {
      await producer.disconnect();
    }

    await waitFor(async () => (await readValues(bootstrap(), 'open', 'read_committed')).length === 2, {
      timeoutMs: 45_000,
      message: 'read_committed to move past the transaction left open (aborted at its 4 s timeout)',
    });
    expect(await readValues(bootstrap(), 'open', 'read_committed')).toEqual(['after-1', 'after-2']);
    expect((await readValues(bootstrap(), 'open', 'read_uncommitted')).sort()).toEqual(['aborted-by-kafkajs', 'after-1', 'after-2', 'o1', 'o2', 'o3']);

    // The new coordinator aborted it with a bumped epoch (the dead producer is fenced).
    const live = c.brokers.find((b) => b.running)!;
    const admin = await BrokerConnection.connect({ host: '127.0.0.1', port: live.port });
    try {
      const found = await admin.request(10, { key: 'left-open', keyType: 1 }, { version: 1 });
      const coord = c.brokers[found.nodeId]!;
      const conn2 = await BrokerConnection.connect({ host: '127.0.0.1', port: coord.port });
      try {
        const d = await conn2.request(65, { transactionalIds: ['left-open'] });
        expect(d.transactionStates[0]).toMatchObject({ errorCode: ErrorCode.NONE, transactionState: 'CompleteAbort', producerEpoch: 1 });
        // Every live replica of the partition (leader or follower) has the producer's state from the replicated
        // batches and markers: no open transaction, the bumped epoch (DescribeProducers answers on followers too).
        const pid = d.transactionStates[0].producerId;
        for (const b of c.brokers.filter((x) => x.running)) {
          const conn3 = await BrokerConnection.connect({ host: '127.0.0.1', port: b.port });
          try {
            await waitFor(
              async () => {
                const p = (await conn3.request(61, { topics: [{ name: 'open', partitionIndexes: [0] }] })).topics[0].partitions[0];
                expect(p.errorCode).toBe(ErrorCode.NONE);
                expect(p.activeProducers.find((x: { producerId: number }) => x.producerId === pid)).toMatchObject({ producerEpoch: 1, currentTxnStartOffset: -1 });
                return true;
              },
              { timeoutMs: 10_000, message: `broker ${b.id}'s producer state of the aborted transaction` },
            );
          } finally {
            conn3.close();
          }
        }
      } finally {
        conn2.close();
      }
    } finally {
      admin.close();
    }

    // The kafkajs read_committed consumer agrees (it needs aborted_transactions sorted by first offset: the open
    // transaction started before the one kafkajs aborted, but its marker came after).
    const consumer = kafka.consumer({ groupId: 'open-reader', readUncommitted: false });
    await consumer.connect();
    const got: string[] = [];
    try {
      await consumer.subscribe({ topic: 'open', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
      await waitFor(() => got.length >= 2, { timeoutMs: 30_000, message: 'the kafkajs consumer to read the committed records' });
    } finally {
      await consumer.disconnect();
    }
    expect(got).toEqual(['after-1', 'after-2']);
  });
});
