/**
 * The admin listener of a broker process (admin.listeners): /health/live, /health/ready, and /metrics read with a
 * Prometheus text-format parser. Counters move by exactly what kcat produced and consumed; byte counters match the
 * bytes the log holds; consumer lag per partition matches `kfk consumer-groups --describe`; request counts and
 * latency histograms agree with each other; the partition and controller gauges describe a one-broker cluster.
 */
import { beforeAll, expect, it } from 'vitest';
import { freePort, kcat, kfk, registerCleanup, scrapeMetrics, startBrokerProcess, waitFor, type BrokerProcess, type Scrape } from '../helpers/index.js';

registerCleanup();

let broker: BrokerProcess;
let adminUrl: string;

beforeAll(async () => {
  const adminPort = await freePort();
  adminUrl = `http://127.0.0.1:${adminPort}`;
  broker = await startBrokerProcess({
    overrides: { 'admin.listeners': adminUrl, 'group.initial.rebalance.delay.ms': '0', 'offsets.topic.num.partitions': '3' },
  });
});

const scrape = (): Promise<Scrape> => scrapeMetrics(`${adminUrl}/metrics`);
const num = (v: number | undefined): number => v ?? 0;

async function createTopic(topic: string, partitions: number): Promise<void> {
  const res = await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', topic, '--partitions', String(partitions)]);
  expect(res.code, res.stderr).toBe(0);
}

/** Sum of kafka_log_log_size over the partitions of a topic. */
function logBytes(s: Scrape, topic: string): number {
  return s.samples('kafka_log_log_size').filter((x) => x.labels.topic === topic).reduce((a, x) => a + x.value, 0);
}

it('answers /health/live and /health/ready, and 404 for paths it does not serve', async () => {
  const live = await fetch(`${adminUrl}/health/live`);
  expect(live.status).toBe(200);
  const ready = await fetch(`${adminUrl}/health/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.text()).toMatch(/^ready: registered and caught up/);
  expect((await fetch(`${adminUrl}/no-such-page`)).status).toBe(404);
});

it('counts exactly the records and bytes kcat produced and consumed, per topic and in total', async () => {
  const topic = 'metered';
  await createTopic(topic, 2);
  const before = await scrape();
  const records = Array.from({ length: 25 }, (_, i) => `value-${i}`);
  const produced = await kcat(['-b', broker.bootstrap, '-t', topic, '-P', '-K', ':'], { input: records.map((v, i) => `k${i}:${v}\n`).join('') });
  expect(produced.code, produced.stderr).toBe(0);

  const afterProduce = await scrape();
  expect(num(afterProduce.value('kafka_server_brokertopicmetrics_messagesin_total', { topic }))).toBe(25);
  expect(num(afterProduce.value('kafka_server_brokertopicmetrics_messagesin_total')) - num(before.value('kafka_server_brokertopicmetrics_messagesin_total'))).toBe(25);
  // every appended byte is a byte of a produced batch (the topic is new: its log holds exactly them)
  const bytes = logBytes(afterProduce, topic);
  expect(bytes).toBeGreaterThan(25 * 'value-0'.length);
  expect(afterProduce.value('kafka_server_brokertopicmetrics_bytesin_total', { topic })).toBe(bytes);
  expect(afterProduce.samples('kafka_log_log_logendoffset').filter((x) => x.labels.topic === topic).reduce((a, x) => a + x.value, 0)).toBe(25);

  const consumed = await kcat(['-b', broker.bootstrap, '-t', topic, '-C', '-o', 'beginning', '-e', '-q']);
  expect(consumed.code, consumed.stderr).toBe(0);
  expect(consumed.stdout.trim().split('\n')).toHaveLength(25);
  const afterConsume = await scrape();
  expect(afterConsume.value('kafka_server_brokertopicmetrics_messagesout_total', { topic })).toBe(25);
  expect(afterConsume.value('kafka_server_brokertopicmetrics_bytesout_total', { topic })).toBe(bytes);
  expect(num(afterConsume.value('kafka_server_brokertopicmetrics_bytesout_total')) - num(afterProduce.value('kafka_server_brokertopicmetrics_bytesout_total'))).toBe(bytes);
  expect(afterConsume.value('kafka_server_brokertopicmetrics_messagesin_total', { topic })).toBe(25);
});

it("drops a deleted topic's series, as Kafka removes its metrics", async () => {
  const topic = 'short-lived';
  await createTopic(topic, 1);
  const produced = await kcat(['-b', broker.bootstrap, '-t', topic, '-P'], { input: 'a\nb\n' });
  expect(produced.code, produced.stderr).toBe(0);
  expect((await scrape()).value('kafka_server_brokertopicmetrics_messagesin_total', { topic })).toBe(2);
  const deleted = await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--delete', '--topic', topic]);
  expect(deleted.code, deleted.stderr).toBe(0);
  await waitFor(async () => {
    const s = await scrape();
    return s.value('kafka_server_brokertopicmetrics_messagesin_total', { topic }) === undefined && s.value('kafka_log_log_size', { topic, partition: '0' }) === undefined;
  }, { message: 'the series of the deleted topic to go' });
});

it('reports consumer lag per group and partition as consumer-groups --describe shows it', async () => {
  const topic = 'lagging';
  const group = 'lag-group';
  await createTopic(topic, 3);
  const input = Array.from({ length: 30 }, (_, i) => `k${i}\tv${i}\n`).join('');
  const p = await kfk(['console-producer', '--bootstrap-server', broker.bootstrap, '--topic', topic, '--property', 'parse.key=true'], { input });
  expect(p.code, p.stderr).toBe(0);
  const c = await kfk(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', topic, '--group', group, '--from-beginning', '--max-messages', '10']);
  expect(c.code, c.stderr).toBe(0);

  const describe = await kfk(['consumer-groups', '--bootstrap-server', broker.bootstrap, '--describe', '--group', group]);
  expect(describe.code, describe.stderr).toBe(0);
  const lagByPartition = new Map<string, number>();
  for (const line of describe.stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === group && cols[1] === topic) lagByPartition.set(cols[2]!, Number(cols[5]));
  }
  expect(lagByPartition.size).toBe(3);
  expect([...lagByPartition.values()].reduce((a, b) => a + b, 0)).toBe(20);

  const s = await scrape();
  const samples = s.samples('kafka_consumergroup_lag').filter((x) => x.labels.consumergroup === group);
  expect(new Map(samples.map((x) => [x.labels.partition!, x.value]))).toEqual(lagByPartition);
  expect(samples.every((x) => x.labels.topic === topic)).toBe(true);
});

it('counts requests per API and version, with a latency histogram per API', async () => {
  const s = await scrape();
  const produce = s.samples('kafka_network_requestmetrics_requests_total').filter((x) => x.labels.request === 'Produce');
  expect(produce.length).toBeGreaterThan(0);
  expect(s.families.get('kafka_network_requestmetrics_totaltimems')?.type).toBe('HISTOGRAM');
  // the histogram observed each Produce request once (a scrape is a snapshot: nothing produces meanwhile)
  const count = s.line('kafka_network_requestmetrics_totaltimems_count', { request: 'Produce' });
  expect(count).toBe(produce.reduce((a, x) => a + x.value, 0));
  expect(s.line('kafka_network_requestmetrics_totaltimems_bucket', { le: '+Inf', request: 'Produce' })).toBe(count);
  expect(s.line('kafka_network_requestmetrics_totaltimems_sum', { request: 'Produce' })).toBeGreaterThan(0);
});

it('describes partitions, the controller and the connections of a one-broker cluster', async () => {
  await waitFor(async () => {
    const s = await scrape();
    expect(s.value('kafka_controller_kafkacontroller_activecontrollercount')).toBe(1);
    expect(s.value('kafka_controller_kafkacontroller_offlinepartitionscount')).toBe(0);
    expect(s.value('kafka_server_replicamanager_underreplicatedpartitions')).toBe(0);
    const partitions = s.value('kafka_server_replicamanager_partitioncount');
    // metered (2) + lagging (3) + __consumer_offsets (3)
    expect(partitions).toBe(8);
    expect(s.value('kafka_server_replicamanager_leadercount')).toBe(partitions);
    expect(s.value('kafka_controller_kafkacontroller_globalpartitioncount')).toBe(partitions);
    expect(s.value('kafka_log_log_numlogsegments', { topic: 'metered', partition: '0' })).toBe(1);
    expect(s.value('kafka_server_delayedoperationpurgatory_purgatorysize', { delayedOperation: 'Produce' })).toBe(0);
    return true;
  }, { message: 'the gauges of a quiet one-broker cluster' });
  // the process's own metrics come along (prom-client's defaults)
  const processFamilies = (await scrape()).families;
  expect(processFamilies.has('process_cpu_user_seconds_total')).toBe(true);
  expect(processFamilies.has('nodejs_eventloop_lag_seconds')).toBe(true);
  // a connection held open shows in the connection count of its listener
  const s0 = await scrape();
  const idle = num(s0.value('kafka_server_socket_server_metrics_connection_count', { listener: 'PLAINTEXT' }));
  const held = await import('node:net').then((net) => net.connect(broker.port, '127.0.0.1'));
  try {
    await waitFor(async () => num((await scrape()).value('kafka_server_socket_server_metrics_connection_count', { listener: 'PLAINTEXT' })) === idle + 1, {
      message: 'the held connection to be counted',
    });
  } finally {
    held.destroy();
  }
});

// Last: the topic it creates would change the partition counts the tests above assert.
it("serves the web console at / and its API, as a client of the broker's own listener", async () => {
  const page = await fetch(`${adminUrl}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  expect(await page.text()).toContain('<title>kfk console</title>');
  await createTopic('console-seen', 3);
  const cluster = (await (await fetch(`${adminUrl}/api/cluster`)).json()) as { brokers: { nodeId: number; port: number }[]; controllerId: number };
  expect(cluster.brokers.map((b) => b.port)).toEqual([broker.port]);
  expect(cluster.controllerId).toBe(cluster.brokers[0]!.nodeId);
  const topics = (await (await fetch(`${adminUrl}/api/topics`)).json()) as { name: string; partitions: number }[];
  expect(topics.find((t) => t.name === 'console-seen')).toMatchObject({ partitions: 3 });
  // /metrics and the health checks stay the admin listener's own
  expect((await fetch(`${adminUrl}/metrics`)).headers.get('content-type')).toMatch(/text\/plain/);
});

// Last: its topic would change the partition gauges the tests above count.
it('times the log flushes flush.messages asks for (LogFlushStats)', async () => {
  const topic = 'flushed-each';
  const created = await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', topic, '--config', 'flush.messages=1']);
  expect(created.code, created.stderr).toBe(0);
  const flushes = (s: Scrape): number => num(s.line('kafka_log_logflushstats_logflushrateandtimems_count', {}));
  const before = await scrape();
  expect(before.families.get('kafka_log_logflushstats_logflushrateandtimems')?.type).toBe('HISTOGRAM');
  // three produce requests, one after another: each append is fsynced before it is acknowledged
  for (const v of ['a', 'b', 'c']) {
    const produced = await kcat(['-b', broker.bootstrap, '-t', topic, '-P'], { input: `${v}\n` });
    expect(produced.code, produced.stderr).toBe(0);
  }
  const after = await scrape();
  expect(flushes(after) - flushes(before)).toBeGreaterThanOrEqual(3);
  expect(after.line('kafka_log_logflushstats_logflushrateandtimems_bucket', { le: '+Inf' })).toBe(flushes(after));
  expect(num(after.line('kafka_log_logflushstats_logflushrateandtimems_sum', {}))).toBeGreaterThan(num(before.line('kafka_log_logflushstats_logflushrateandtimems_sum', {})));
});
