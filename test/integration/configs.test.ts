/**
 * Topic configs against a broker process: `kfk topics --create --config`, `kfk configs --describe/--alter`,
 * the `Configs:` column of `kfk topics --describe`, third-party clients (kafkajs describeConfigs /
 * alterConfigs, confluent-kafka AdminClient.describe_configs / alter_configs), an altered
 * max.message.bytes taking effect on the running broker and surviving a restart (kcat gets
 * MESSAGE_TOO_LARGE), and `kfk topics --alter --partitions` seen by kcat -L.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { kcat, kfk, pythonCode, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { TOPIC_CONFIG_DEFS } from '../../src/config/topic-config.js';

registerCleanup();

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;

beforeAll(async () => {
  broker = await startBrokerProcess();
  kafka = new Kafka({ clientId: 'kfk-configs-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } });
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
});

function B(): string[] {
  return ['--bootstrap-server', broker.bootstrap];
}

async function ok(args: string[]): Promise<string> {
  const res = await kfk(args);
  expect(res.code, `kfk ${args.join(' ')}\n${res.stderr}`).toBe(0);
  return res.stdout;
}

describe('kfk configs', () => {
  it('shows --config overrides of a created topic as DYNAMIC_TOPIC_CONFIG, and in topics --describe', async () => {
    await ok(['topics', ...B(), '--create', '--topic', 'cfg-created', '--partitions', '1', '--config', 'retention.ms=1000', '--config', 'cleanup.policy=compact']);
    const out = await ok(['configs', ...B(), '--describe', '--entity-type', 'topics', '--entity-name', 'cfg-created']);
    expect(out).toBe(
      'Dynamic configs for topic cfg-created are:\n' +
        '  cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}\n' +
        '  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}\n',
    );
    const all = (await ok(['configs', ...B(), '--describe', '--entity-type', 'topics', '--entity-name', 'cfg-created', '--all'])).trimEnd().split('\n');
    expect(all[0]).toBe('All configs for topic cfg-created are:');
    expect(all.slice(1)).toHaveLength(TOPIC_CONFIG_DEFS.length);
    expect(all).toContain('  segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}');

    const described = await ok(['topics', ...B(), '--describe', '--topic', 'cfg-created']);
    expect(described.split('\n')[0]).toBe('Topic: cfg-created\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: cleanup.policy=compact,retention.ms=1000');
  });

  it('alters: --add-config and --delete-config round trip; errors are one line with exit 1', async () => {
    await ok(['topics', ...B(), '--create', '--topic', 'cfg-alter', '--partitions', '1']);
    const describeDyn = () => ok(['configs', ...B(), '--describe', '--entity-type', 'topics', '--entity-name', 'cfg-alter']);
    expect(await describeDyn()).toBe('Dynamic configs for topic cfg-alter are:\n');

    expect(await ok(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', 'cfg-alter', '--add-config', 'segment.ms=60000,cleanup.policy=[compact,delete]'])).toBe(
      'Completed updating config for topic cfg-alter.\n',
    );
    expect(await describeDyn()).toBe(
      'Dynamic configs for topic cfg-alter are:\n' +
        '  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}\n' +
        '  segment.ms=60000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:segment.ms=60000, DEFAULT_CONFIG:log.roll.hours=168}\n',
    );
    await ok(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', 'cfg-alter', '--delete-config', 'cleanup.policy', '--add-config', 'retention.bytes=1000000']);
    expect((await ok(['topics', ...B(), '--describe', '--topic', 'cfg-alter'])).split('\n')[0]).toMatch(/\tConfigs: retention\.bytes=1000000,segment\.ms=60000$/);
    await ok(['configs', ...B(), '--alter', '--topic', 'cfg-alter', '--delete-config', 'retention.bytes,segment.ms']);
    expect(await describeDyn()).toBe('Dynamic configs for topic cfg-alter are:\n');

    const unknown = await kfk(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', 'cfg-alter', '--add-config', 'no.such.config=1']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('Error: Unknown topic config name: no.such.config\n');
    const badValue = await kfk(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', 'cfg-alter', '--add-config', 'retention.ms=soon']);
    expect(badValue.code).toBe(1);
    expect(badValue.stderr).toBe('Error: Invalid value soon for configuration retention.ms: Not a number of type LONG\n');
    const notSet = await kfk(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', 'cfg-alter', '--delete-config', 'retention.ms']);
    expect(notSet.code).toBe(1);
    expect(notSet.stderr).toBe('Error: Invalid config(s): retention.ms\n');
    const missing = await kfk(['configs', ...B(), '--describe', '--entity-type', 'topics', '--entity-name', 'no-such-topic']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: Topic 'no-such-topic' does not exist.\n");
    const brokerAlter = await kfk(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-name', '0', '--add-config', 'num.partitions=5,broker.id=3']);
    expect(brokerAlter.code).toBe(1);
    expect(brokerAlter.stderr.trim().split('\n')).toHaveLength(1);
    expect(brokerAlter.stderr).toMatch(/^Error: Invalid config value for resource ConfigResource\(type=BROKER, name='0'\): Cannot update these configs dynamically: Set\(broker.id, num.partitions\)/);
    const brokerBad = await kfk(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-default', '--add-config', 'log.retention.ms=soon']);
    expect(brokerBad.code).toBe(1);
    expect(brokerBad.stderr).toMatch(/^Error: Invalid config value for resource ConfigResource\(type=BROKER, name=''\): Invalid value soon for configuration log.retention.ms/);
  });

  it('describes a broker', async () => {
    expect(await ok(['configs', ...B(), '--describe', '--entity-type', 'brokers', '--entity-name', '0'])).toBe('Dynamic configs for broker 0 are:\n');
    const all = await ok(['configs', ...B(), '--describe', '--entity-type', 'brokers', '--entity-name', '0', '--all']);
    expect(all).toContain('All configs for broker 0 are:\n');
    expect(all).toContain(`  listeners=PLAINTEXT://127.0.0.1:${broker.port} sensitive=false synonyms={STATIC_BROKER_CONFIG:listeners=PLAINTEXT://127.0.0.1:${broker.port}`);
    expect(all).toContain('  num.partitions=1 sensitive=false synonyms={DEFAULT_CONFIG:num.partitions=1}\n');
  });

  it('stores dynamic broker configs in /config/brokers and applies them to the running broker', async () => {
    const topic = 'cfg-dynamic';
    await ok(['topics', ...B(), '--create', '--topic', topic]);
    const produce = (bytes: number) => kfk(['console-producer', ...B(), '--topic', topic, '--message-send-max-retries', '0'], { input: `${'x'.repeat(bytes)}\n` });
    expect((await produce(600)).code).toBe(0);

    // the cluster-wide default and broker 0's own, as kafka-configs.sh prints them
    expect(await ok(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-default', '--add-config', 'log.retention.ms=3600000'])).toBe(
      'Completed updating default config for brokers in the cluster.\n',
    );
    expect(await ok(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-name', '0', '--add-config', 'message.max.bytes=300'])).toBe(
      'Completed updating config for broker 0.\n',
    );
    try {
      await dynamicConfigsApplied(produce);
    } finally {
      // the later tests run on the static config
      await kfk(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-name', '0', '--delete-config', 'message.max.bytes']);
      await kfk(['configs', ...B(), '--alter', '--entity-type', 'brokers', '--entity-default', '--delete-config', 'log.retention.ms']);
    }
    await waitFor(async () => (await produce(600)).code === 0, { timeoutMs: 15_000, message: 'the 600-byte record to be accepted again' });
    expect(await ok(['configs', ...B(), '--describe', '--entity-type', 'brokers', '--entity-name', '0'])).toBe('Dynamic configs for broker 0 are:\n');
  });

  async function dynamicConfigsApplied(produce: (bytes: number) => ReturnType<typeof kfk>): Promise<void> {
    expect(await ok(['configs', ...B(), '--describe', '--entity-type', 'brokers', '--entity-default'])).toBe(
      'Default configs for brokers in the cluster are:\n  log.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000}\n',
    );
    expect(await ok(['configs', ...B(), '--describe', '--entity-type', 'brokers', '--entity-name', '0'])).toBe(
      'Dynamic configs for broker 0 are:\n  message.max.bytes=300 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:message.max.bytes=300, DEFAULT_CONFIG:message.max.bytes=1048588}\n',
    );
    // a third-party client sees the same sources
    const described = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configNames: ['message.max.bytes', 'log.retention.ms'] }], includeSynonyms: false });
    expect(described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue, e.configSource, e.readOnly]).sort()).toEqual([
      ['log.retention.ms', '3600000', 3, false],
      ['message.max.bytes', '300', 2, false],
    ]);

    // the running broker applies message.max.bytes to a topic without an override of its own
    await waitFor(async () => (await produce(600)).code === 1, { timeoutMs: 15_000, message: 'a 600-byte record to be refused' });
    expect((await produce(600)).stderr).toMatch(/exceeds max.message.bytes 300/);
    expect((await produce(100)).code).toBe(0);
  }
});

describe('third-party clients', () => {
  it('kafkajs describeConfigs returns every topic config with its default and source; alterConfigs replaces', async () => {
    await admin.createTopics({ topics: [{ topic: 'cfg-kafkajs', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '5000' }] }] });
    const res = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg-kafkajs' }], includeSynonyms: true });
    const entries = res.resources[0]!.configEntries;
    expect(entries.map((e) => e.configName).sort()).toEqual(TOPIC_CONFIG_DEFS.map((d) => d.name).sort());
    const by = new Map(entries.map((e) => [e.configName, e]));
    expect(by.get('retention.ms')).toMatchObject({ configValue: '5000', isDefault: false, configSource: 1, isSensitive: false, readOnly: false });
    expect(by.get('segment.bytes')).toMatchObject({ configValue: '1073741824', isDefault: true, configSource: 5 });
    expect((by.get('retention.ms') as unknown as { configSynonyms: { configName: string; configSource: number }[] }).configSynonyms.map((s) => [s.configName, s.configSource])).toEqual([
      ['retention.ms', 1],
      ['log.retention.hours', 5],
    ]);

    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg-kafkajs', configEntries: [{ name: 'segment.ms', value: '120000' }] }],
    });
    const after = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg-kafkajs', configNames: ['retention.ms', 'segment.ms'] }], includeSynonyms: false });
    expect(after.resources[0]!.configEntries.map((e) => [e.configName, e.configValue, e.configSource]).sort()).toEqual([
      ['retention.ms', '604800000', 5],
      ['segment.ms', '120000', 1],
    ]);
    await expect(
      admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg-kafkajs', configEntries: [{ name: 'bogus', value: '1' }] }] }),
    ).rejects.toMatchObject({ type: 'INVALID_CONFIG' });
  });

  it('confluent-kafka AdminClient.describe_configs / alter_configs', async () => {
    await ok(['topics', ...B(), '--create', '--topic', 'cfg-ck', '--partitions', '1', '--config', 'max.message.bytes=64000']);
    const code = `
import json, sys
from confluent_kafka.admin import AdminClient, ConfigResource
from confluent_kafka import KafkaException
a = json.loads(sys.argv[1])
admin = AdminClient({'bootstrap.servers': a['bootstrap']})
def describe():
    out = {}
    for res, f in admin.describe_configs([ConfigResource('topic', a['topic'])], request_timeout=15).items():
        for k, e in f.result().items():
            out[k] = {'value': e.value, 'source': int(getattr(e.source, 'value', e.source)), 'is_default': e.is_default,
                      'is_sensitive': e.is_sensitive, 'synonyms': sorted(e.synonyms.keys())}
    return out
before = describe()
for res, f in admin.alter_configs([ConfigResource('topic', a['topic'], set_config={'retention.ms': '3600000'})], request_timeout=15).items():
    f.result()
after = describe()
err = None
try:
    for res, f in admin.alter_configs([ConfigResource('topic', a['topic'], set_config={'nope.nope': '1'})], request_timeout=15).items():
        f.result()
except KafkaException as e:
    err = str(e.args[0].str())
print(json.dumps({'before': before, 'after': after, 'err': err}))
`;
    const res = await pythonCode(code, [JSON.stringify({ bootstrap: broker.bootstrap, topic: 'cfg-ck' })], { timeoutMs: 40_000 });
    expect(res.code, res.stderr).toBe(0);
    type E = { value: string; source: number; is_default: boolean; is_sensitive: boolean; synonyms: string[] };
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { before: Record<string, E>; after: Record<string, E>; err: string | null };
    expect(Object.keys(out.before).sort()).toEqual(TOPIC_CONFIG_DEFS.map((d) => d.name).sort());
    expect(out.before['max.message.bytes']).toMatchObject({ value: '64000', source: 1, is_default: false, is_sensitive: false });
    expect(out.before['max.message.bytes']!.synonyms).toEqual(['max.message.bytes', 'message.max.bytes']);
    expect(out.before['retention.ms']).toMatchObject({ value: '604800000', source: 5, is_default: true });
    // alter_configs is AlterConfigs: it replaces every override
    expect(out.after['retention.ms']).toMatchObject({ value: '3600000', source: 1 });
    expect(out.after['max.message.bytes']).toMatchObject({ value: '1048588', source: 5 });
    expect(out.err).toBe('Unknown topic config name: nope.nope');
  });
});

describe('configs on the running broker', () => {
  it('an altered max.message.bytes rejects larger records at once and after a restart', async () => {
    const topic = 'cfg-size';
    await ok(['topics', ...B(), '--create', '--topic', topic, '--partitions', '1']);
    const big = 'x'.repeat(3000);
    const produce = (value: string) => kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-X', 'message.max.bytes=1000000'], { input: `${value}\n`, timeoutMs: 30_000 });
    expect((await produce(big)).code).toBe(0);

    await ok(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', topic, '--add-config', 'max.message.bytes=2000']);
    const rejected = await produce(big);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/Message size too large/i);
    expect((await produce('small')).code).toBe(0);

    broker = await broker.restart();
    const afterRestart = await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-X', 'message.max.bytes=1000000'], { input: `${big}\n`, timeoutMs: 30_000 });
    expect(afterRestart.code).not.toBe(0);
    expect(afterRestart.stderr).toMatch(/Message size too large/i);
    expect(await ok(['configs', ...B(), '--describe', '--entity-type', 'topics', '--entity-name', topic])).toContain('  max.message.bytes=2000 sensitive=false');

    await ok(['configs', ...B(), '--alter', '--entity-type', 'topics', '--entity-name', topic, '--delete-config', 'max.message.bytes']);
    expect((await produce(big)).code).toBe(0);
    const read = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%S\\n']);
    expect(read.stdout.trim().split('\n')).toEqual(['3000', '5', '3000']);
  });

  it('topics --alter --partitions grows a topic, and kcat sees and uses the new partitions', async () => {
    const topic = 'cfg-grow';
    await ok(['topics', ...B(), '--create', '--topic', topic, '--partitions', '1']);
    await ok(['topics', ...B(), '--alter', '--topic', topic, '--partitions', '3']);
    const md = await kcat(['-b', broker.bootstrap, '-L', '-t', topic]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain(`topic "${topic}" with 3 partitions:`);
    expect(md.stdout).toMatch(/partition 2, leader 0, replicas: 0, isrs: 0/);
    expect((await kcat(['-b', broker.bootstrap, '-P', '-t', topic, '-p', '2'], { input: 'in-new-partition\n' })).code).toBe(0);
    const read = await kcat(['-b', broker.bootstrap, '-C', '-t', topic, '-p', '2', '-o', 'beginning', '-e', '-q']);
    expect(read.stdout.trim()).toBe('in-new-partition');

    const same = await kfk(['topics', ...B(), '--alter', '--topic', topic, '--partitions', '3']);
    expect(same.code).toBe(1);
    expect(same.stderr).toBe('Error: Topic already has 3 partitions.\n');
    expect((await ok(['topics', ...B(), '--describe', '--topic', topic])).split('\n')[0]).toContain('PartitionCount: 3');
  });
});
