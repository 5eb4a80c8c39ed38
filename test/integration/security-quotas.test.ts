/**
 * Client quotas (issue 11, item 4): producer_byte_rate and consumer_byte_rate set with `kfk configs` for a client id
 * and for a user (/config/clients, /config/users), enforced as Kafka does (KIP-219): a client over its quota gets
 * throttle_time_ms in its responses and its connection is muted meanwhile, so its rate comes down to the quota;
 * clients without a quota are not throttled.
 *
 * The broker measures over quota.window.num=2 one-second samples (Kafka's default is 11), so that the burst a new
 * client may make before the first throttle is one second's worth and the runs stay short.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { freePorts, kfk, pythonCode, registerCleanup, startBrokerProcess, type BrokerProcess } from '../helpers/index.js';

registerCleanup();

const MB = 1024 * 1024;
let broker: BrokerProcess;
let saslAddr: string;

beforeAll(async () => {
  const [plain, sasl] = await freePorts(2);
  saslAddr = `127.0.0.1:${sasl}`;
  broker = await startBrokerProcess({
    overrides: {
      listeners: `PLAINTEXT://127.0.0.1:${plain},SASL_PLAINTEXT://${saslAddr}`,
      'inter.broker.listener.name': 'PLAINTEXT',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required user_capped="capped-secret";',
      'quota.window.num': '2',
      'num.partitions': '1',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  const set = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'clients', '--entity-name', 'slow', '--add-config', `producer_byte_rate=${MB},consumer_byte_rate=${MB}`]);
  expect(set.code, set.stderr).toBe(0);
  const d = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--describe', '--entity-type', 'clients', '--entity-name', 'slow']);
  expect(d.stdout).toBe(`Quota configs for client-id 'slow' are consumer_byte_rate=${MB}.0, producer_byte_rate=${MB}.0\n`);
  for (const t of ['quota-slow', 'quota-fast']) expect((await kfk(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', t])).code).toBe(0);
}, 60_000);

/** perf produce's final line: records/sec and MB/sec; and its throttle metrics. */
function produced(stdout: string): { mbPerSec: number; throttleMax: number } {
  const last = /records sent, [\d.]+ records\/sec \(([\d.]+) MB\/sec\)/.exec(stdout.split('\n').filter((l) => /^\d+ records sent, [\d.]+ records\/sec/.test(l) && /50th/.test(l))[0] ?? '');
  const throttle = /produce-throttle-time-max:\{client-id=[^}]*\} : ([\d.]+)/.exec(stdout);
  return { mbPerSec: Number(last?.[1]), throttleMax: Number(throttle?.[1]) };
}

describe('byte-rate quotas of a client id', () => {
  it('a producer under a 1 MB/s quota comes down to about 1 MB/s and sees throttle_time_ms; a producer without a quota is not throttled', async () => {
    const args = (clientId: string, topic: string, records: number) => [
      'perf', 'produce', '--bootstrap-server', broker.bootstrap, '--topic', topic, '--num-records', String(records), '--record-size', '10000',
      '--throughput', '-1', '--producer-props', `client.id=${clientId}`, 'acks=1', '--print-metrics',
    ];
    const [slow, fast] = await Promise.all([kfk(args('slow', 'quota-slow', 800), { timeoutMs: 60_000 }), kfk(args('fast', 'quota-fast', 300), { timeoutMs: 60_000 })]);
    expect(slow.code, slow.stderr).toBe(0);
    expect(fast.code, fast.stderr).toBe(0);
    const s = produced(slow.stdout);
    const f = produced(fast.stdout);
    // 7.6 MB at 1 MB/s: after the first second's burst (1 MB) every produce is throttled, so the run's rate is at
    // most (7.6 MB) / (6.6 s) ≈ 1.15 MB/s; a slow machine only lowers it.
    expect(s.mbPerSec).toBeGreaterThan(0);
    expect(s.mbPerSec).toBeLessThan(1.3);
    expect(s.throttleMax).toBeGreaterThan(0);
    expect(f.throttleMax).toBe(0);
  }, 90_000);

  it('a consumer under a 1 MB/s quota is throttled too (fetches answered without data meanwhile)', async () => {
    const r = await kfk(
      ['perf', 'consume', '--bootstrap-server', broker.bootstrap, '--topic', 'quota-slow', '--messages', '500', '--consumer-property', 'client.id=slow', '--print-metrics', '--hide-header'],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const cols = r.stdout.split('\n')[0]!.split(', ');
    const fetchMbPerSec = Number(cols[8]);
    expect(Number(cols[4])).toBeGreaterThanOrEqual(500); // perf consume stops after the batch that reaches --messages
    expect(fetchMbPerSec).toBeLessThan(1.3);
    expect(Number(/fetch-throttle-time-max:\{client-id=slow\} : ([\d.]+)/.exec(r.stdout)?.[1])).toBeGreaterThan(0);
  }, 90_000);
});

describe('byte-rate quota of a user', () => {
  it('kafka-python, authenticated as a user with a 512 KB/s quota, is throttled (its produce-throttle-time metrics)', async () => {
    const set = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'capped', '--add-config', 'producer_byte_rate=524288']);
    expect(set.code, set.stderr).toBe(0);
    const d = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--describe', '--entity-type', 'users', '--entity-name', 'capped']);
    expect(d.stdout).toMatch(/^Quota configs for user-principal 'capped' are producer_byte_rate=524288\.0$/m);
    const r = await pythonCode(
      `
import json
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers='${saslAddr}', security_protocol='SASL_PLAINTEXT', sasl_mechanism='PLAIN',
                  sasl_plain_username='capped', sasl_plain_password='capped-secret', acks=1, client_id='any-client')
for i in range(150):
    p.send('quota-fast', b'x' * 10000)
p.flush(60)
m = p.metrics()['producer-metrics']
print(json.dumps({'max': m['produce-throttle-time-max'], 'avg': m['produce-throttle-time-avg']}))
p.close()
`,
      [],
      { timeoutMs: 90_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as { max: number; avg: number };
    expect(m.max).toBeGreaterThan(0);
  }, 120_000);
});
