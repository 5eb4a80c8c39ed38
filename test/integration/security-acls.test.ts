/**
 * ACLs (issue 11, item 3) on one broker with authorizer.class.name=kafka.security.authorizer.AclAuthorizer and
 * super.users=User:admin, two listeners:
 *
 *   SASL_PLAINTEXT  PLAIN users admin, alice, bob
 *   MTLS            SSL with ssl.client.auth=required; "CN=<name>,OU=...,O=kfk,C=US" maps to User:<name>
 *
 * The matrix: each operation a client performs (produce, consume with a group, commit offsets, create and delete a
 * topic, describe configs) is refused with Kafka's error without its ACL and works with it; prefixed ACLs; a DENY
 * overrides an ALLOW; the super user needs no ACL; Metadata lists only topics the principal may describe; mutual TLS
 * principals; ACLs managed with `kfk acls` (kafka-acls.sh's flags) and kafkajs's admin.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, ResourcePatternTypes, logLevel, type Admin } from 'kafkajs';
import { freePorts, kcat, kfk, makeTempDir, registerCleanup, startBrokerProcess, waitFor, type BrokerProcess } from '../helpers/index.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certs.js';

registerCleanup();

const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";';

let broker: BrokerProcess;
let certs: TestCertificates;
let dir: string;
let sasl: string;
let mtls: string;
let admin: Admin;

function kafka(user: 'admin' | 'alice' | 'bob'): Kafka {
  return new Kafka({ brokers: [sasl], sasl: { mechanism: 'plain', username: user, password: `${user}-secret` }, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

function props(user: string): string {
  const f = join(dir, `${user}.properties`);
  writeFileSync(f, `security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${user}" password="${user}-secret";\n`);
  return f;
}

async function acls(args: string[]): Promise<string> {
  const r = await kfk(['acls', '--bootstrap-server', sasl, '--command-config', props('admin'), ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The kafkajs error type a call fails with, or 'ok'. */
async function outcome(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (err) {
    const e = err as { type?: string; name?: string; message?: string; errors?: { type?: string }[]; cause?: { type?: string } };
    // kafkajs reports a topic refused in Metadata as "Not authorized to access topics: [...]"
    if (/^Not authorized to access topics/.test(e.message ?? '')) return 'TOPIC_AUTHORIZATION_FAILED';
    return e.type ?? e.cause?.type ?? e.errors?.find((x) => x.type)?.type ?? `${e.name}: ${e.message}`;
  }
}

async function produceAs(user: 'alice' | 'bob' | 'admin', topic: string): Promise<void> {
  const p = kafka(user).producer({ allowAutoTopicCreation: false });
  await p.connect();
  try {
    await p.send({ topic, messages: [{ value: `from ${user}` }] });
  } finally {
    await p.disconnect();
  }
}

beforeAll(async () => {
  certs = await makeTestCertificates({ alice: 'eng', bob: 'ops' });
  dir = makeTempDir('kfk-acls-');
  const [p1, p2] = await freePorts(2);
  sasl = `127.0.0.1:${p1}`;
  mtls = `127.0.0.1:${p2}`;
  broker = await startBrokerProcess({
    overrides: {
      listeners: `SASL_PLAINTEXT://${sasl},MTLS://${mtls}`,
      'listener.security.protocol.map': 'SASL_PLAINTEXT:SASL_PLAINTEXT,MTLS:SSL',
      'security.inter.broker.protocol': 'SASL_PLAINTEXT',
      'sasl.mechanism.inter.broker.protocol': 'PLAIN',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': JAAS,
      'listener.name.mtls.ssl.keystore.type': 'PEM',
      'listener.name.mtls.ssl.keystore.location': certs.broker.pemKeystore,
      'listener.name.mtls.ssl.truststore.type': 'PEM',
      'listener.name.mtls.ssl.truststore.location': certs.caPem,
      'listener.name.mtls.ssl.client.auth': 'required',
      'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+),.*$/$1/,DEFAULT',
      'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer',
      'super.users': 'User:admin',
      'auto.create.topics.enable': 'false',
      'group.initial.rebalance.delay.ms': '0',
      'num.partitions': '1',
    },
  });
  admin = kafka('admin').admin();
  await admin.connect();
  await admin.createTopics({ topics: ['orders', 'app-1', 'app-2', 'other', 'doomed', 'configured'].map((topic) => ({ topic })) });
}, 120_000);

describe('the ACL matrix (kafkajs as alice; ACLs added with kafkajs admin.createAcls)', () => {
  const allow = async (resourceType: AclResourceTypes, resourceName: string, operation: AclOperationTypes, patternType = ResourcePatternTypes.LITERAL) =>
    admin.createAcls({ acl: [{ resourceType, resourceName, resourcePatternType: patternType, principal: 'User:alice', host: '*', operation, permissionType: AclPermissionTypes.ALLOW }] });

  it('produce: Write on the topic', async () => {
    expect(await outcome(() => produceAs('alice', 'orders'))).toBe('TOPIC_AUTHORIZATION_FAILED');
    await allow(AclResourceTypes.TOPIC, 'orders', AclOperationTypes.WRITE);
    expect(await outcome(() => produceAs('alice', 'orders'))).toBe('ok');
  });

  it('commit offsets (OffsetCommit): Read on the group (GROUP_AUTHORIZATION_FAILED), then on the topic (per partition)', async () => {
    const { BrokerConnection } = await import('../../src/client/connection.js');
    const conn = await BrokerConnection.connect({
      host: '127.0.0.1',
      port: Number(sasl.split(':')[1]),
      security: { protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'PLAIN', username: 'alice', password: 'alice-secret' } },
    });
    const commit = async (): Promise<{ errorCode: number; partitionCode: number }> => {
      const r = await conn.request<{ topics: { partitions: { errorCode: number }[] }[] }>(8, {
        groupId: 'alice-group',
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1,
        topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: '' }] }],
      }, { version: 2 });
      const code = r.topics[0]!.partitions[0]!.errorCode;
      return { errorCode: code, partitionCode: code };
    };
    try {
      expect((await commit()).errorCode).toBe(30); // GROUP_AUTHORIZATION_FAILED in every partition
      await allow(AclResourceTypes.GROUP, 'alice-group', AclOperationTypes.READ);
      // the group's coordinator must be up (FindCoordinator creates __consumer_offsets): Read implies Describe
      await waitFor(async () => (await conn.request<{ errorCode: number }>(10, { key: 'alice-group', keyType: 0 }, { version: 1 })).errorCode === 0, { message: 'the coordinator of alice-group' });
      await waitFor(async () => (await commit()).partitionCode !== 16 && (await commit()).partitionCode !== 14, { message: 'the coordinator to load alice-group' });
      expect((await commit()).partitionCode).toBe(29); // TOPIC_AUTHORIZATION_FAILED
      await allow(AclResourceTypes.TOPIC, 'orders', AclOperationTypes.READ);
      expect((await commit()).partitionCode).toBe(0);
    } finally {
      conn.close();
    }
  });

  it('consume with a group (kafkajs): Read on the group and on the topic', async () => {
    const consume = async (groupId: string) => {
      const consumer = kafka('alice').consumer({ groupId, retry: { retries: 0 }, maxWaitTimeInMs: 100 });
      await consumer.connect();
      const got: string[] = [];
      try {
        await consumer.subscribe({ topic: 'orders', fromBeginning: true });
        let failure: unknown = null;
        consumer.on(consumer.events.CRASH, (e) => (failure = e.payload.error));
        await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) });
        await waitFor(() => got.length >= 1 || failure !== null, { timeoutMs: 30_000, message: 'alice to consume orders, or be refused' });
        if (failure !== null) throw failure;
      } finally {
        await consumer.disconnect();
      }
      return got;
    };
    // kafkajs reports a refused FindCoordinator as "Failed to find group coordinator"; the broker logs the refusal
    expect(await outcome(() => consume('alice-readers'))).toMatch(/GROUP_AUTHORIZATION_FAILED|KafkaJSGroupCoordinatorNotFound/);
    await waitFor(() => /Principal = User:alice is Denied Operation = Describe from host = 127\.0\.0\.1 on resource = Group:LITERAL:alice-readers for request = FindCoordinator/.test(broker.stderr()), { message: 'the refusal in the broker log' });
    await allow(AclResourceTypes.GROUP, 'alice-readers', AclOperationTypes.READ);
    expect(await consume('alice-readers')).toContain('from alice');
  });

  it('create and delete a topic: Create (cluster or topic), Delete on the topic', async () => {
    const withAdmin = async <T>(f: (a: Admin) => Promise<T>) => {
      const a = kafka('alice').admin();
      await a.connect();
      try {
        return await f(a);
      } finally {
        await a.disconnect();
      }
    };
    expect(await outcome(() => withAdmin((a) => a.createTopics({ topics: [{ topic: 'alice-new' }] })))).toBe('TOPIC_AUTHORIZATION_FAILED');
    await allow(AclResourceTypes.TOPIC, 'alice-', AclOperationTypes.CREATE, ResourcePatternTypes.PREFIXED);
    // kafkajs then waits for the new topic's leaders in Metadata: Describe too
    await allow(AclResourceTypes.TOPIC, 'alice-', AclOperationTypes.DESCRIBE, ResourcePatternTypes.PREFIXED);
    expect(await outcome(() => withAdmin((a) => a.createTopics({ topics: [{ topic: 'alice-new' }] })))).toBe('ok');
    expect(await outcome(() => withAdmin((a) => a.deleteTopics({ topics: ['doomed'] })))).toBe('TOPIC_AUTHORIZATION_FAILED');
    await allow(AclResourceTypes.TOPIC, 'doomed', AclOperationTypes.DELETE);
    expect(await outcome(() => withAdmin((a) => a.deleteTopics({ topics: ['doomed'] })))).toBe('ok');
  });

  it('describe configs: DescribeConfigs on the topic (AlterConfigs implies it)', async () => {
    const describeConfigs = async () => {
      const a = kafka('alice').admin();
      await a.connect();
      try {
        const r = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: 'configured' }] });
        const res = r.resources[0]!;
        if (res.errorCode !== 0) throw Object.assign(new Error(res.errorMessage ?? ''), { type: res.errorCode === 29 ? 'TOPIC_AUTHORIZATION_FAILED' : String(res.errorCode) });
      } finally {
        await a.disconnect();
      }
    };
    expect(await outcome(describeConfigs)).toBe('TOPIC_AUTHORIZATION_FAILED');
    await allow(AclResourceTypes.TOPIC, 'configured', AclOperationTypes.ALTER_CONFIGS);
    expect(await outcome(describeConfigs)).toBe('ok');
  });

  it('a prefixed ACL covers the names it starts, a DENY overrides an ALLOW, the super user needs no ACL', async () => {
    await allow(AclResourceTypes.TOPIC, 'app-', AclOperationTypes.ALL, ResourcePatternTypes.PREFIXED);
    expect(await outcome(() => produceAs('alice', 'app-1'))).toBe('ok');
    expect(await outcome(() => produceAs('alice', 'other'))).toBe('TOPIC_AUTHORIZATION_FAILED');
    await admin.createAcls({
      acl: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'app-2', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:alice', host: '*', operation: AclOperationTypes.WRITE, permissionType: AclPermissionTypes.DENY }],
    });
    expect(await outcome(() => produceAs('alice', 'app-2'))).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect(await outcome(() => produceAs('admin', 'other'))).toBe('ok');
    await waitFor(() => /Principal = User:alice is Denied Operation = Write from host = 127\.0\.0\.1 on resource = Topic:LITERAL:app-2 for request = Produce/.test(broker.stderr()), { message: 'the denial in the broker log' });
  });
});

describe('clients and tools', () => {
  it('Metadata lists only the topics a principal may describe', async () => {
    const list = async (user: 'admin' | 'bob') => {
      const a = kafka(user).admin();
      await a.connect();
      try {
        return (await a.listTopics()).filter((t) => !t.startsWith('__')).sort();
      } finally {
        await a.disconnect();
      }
    };
    expect(await list('bob')).toEqual([]);
    expect(await list('admin')).toEqual(expect.arrayContaining(['orders', 'other', 'app-1']));
    await acls(['--add', '--allow-principal', 'User:bob', '--operation', 'Describe', '--topic', 'other']);
    expect(await list('bob')).toEqual(['other']);
  });

  it('librdkafka (kcat) reports the refusals; kfk acls lists and removes ACLs', async () => {
    const bobSec = ['-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN', '-X', 'sasl.username=bob', '-X', 'sasl.password=bob-secret'];
    const refused = await kcat(['-b', sasl, ...bobSec, '-P', '-t', 'other'], { input: 'x\n' });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Topic authorization failed/);
    await acls(['--add', '--allow-principal', 'User:bob', '--producer', '--topic', 'other']);
    const ok = await kcat(['-b', sasl, ...bobSec, '-P', '-t', 'other'], { input: 'x\n' });
    expect(ok.code, ok.stderr).toBe(0);
    const listed = await acls(['--list', '--topic', 'other']);
    expect(listed).toContain('Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=other, patternType=LITERAL)`: \n');
    expect(listed).toContain('\t(principal=User:bob, host=*, operation=WRITE, permissionType=ALLOW)');
    expect(listed).toContain('(principal=User:bob, host=*, operation=CREATE, permissionType=ALLOW)');
    await acls(['--remove', '--allow-principal', 'User:bob', '--operation', 'Write', '--topic', 'other', '--force']);
    const after = await acls(['--list', '--topic', 'other', '--principal', 'User:bob']);
    expect(after).not.toContain('operation=WRITE');
    expect(after).toContain('operation=DESCRIBE');
    const again = await kcat(['-b', sasl, ...bobSec, '-P', '-t', 'other'], { input: 'y\n' });
    expect(again.code).not.toBe(0);
  });

  it('a client certificate is the principal its subject maps to (mutual TLS)', async () => {
    const sec = (who: 'alice' | 'bob') => ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${certs.caPem}`, '-X', `ssl.certificate.location=${certs.clients[who]!.certFile}`, '-X', `ssl.key.location=${certs.clients[who]!.keyFile}`];
    await acls(['--add', '--allow-principal', 'User:alice', '--operation', 'Write', '--topic', 'tls-only']);
    const created = await kfk(['topics', '--bootstrap-server', sasl, '--command-config', props('admin'), '--create', '--topic', 'tls-only']);
    expect(created.code, created.stderr).toBe(0);
    const asAlice = await kcat(['-b', mtls, ...sec('alice'), '-P', '-t', 'tls-only'], { input: 'by certificate\n' });
    expect(asAlice.code, asAlice.stderr).toBe(0);
    const asBob = await kcat(['-b', mtls, ...sec('bob'), '-P', '-t', 'tls-only'], { input: 'x\n' });
    expect(asBob.code).not.toBe(0);
    expect(asBob.stderr).toMatch(/Topic authorization failed/);
    await waitFor(() => /Principal = User:bob is Denied Operation = \w+ from host = 127\.0\.0\.1 on resource = Topic:LITERAL:tls-only/.test(broker.stderr()), { message: "bob's certificate refused as User:bob" });
  });

  it('cluster operations need the cluster resource: CreateAcls by a non-super user, ListGroups', async () => {
    const a = kafka('alice').admin();
    await a.connect();
    try {
      expect(
        await outcome(() =>
          a.createAcls({ acl: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'x', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:alice', host: '*', operation: AclOperationTypes.ALL, permissionType: AclPermissionTypes.ALLOW }] }),
        ),
      ).toBe('CLUSTER_AUTHORIZATION_FAILED');
      // alice sees only the groups she may describe (Read implies Describe); the admin sees every group
      const groups = (await a.listGroups()).groups.map((g) => g.groupId);
      expect(groups).toContain('alice-readers');
      expect(groups.every((g) => g.startsWith('alice-'))).toBe(true);
    } finally {
      await a.disconnect();
    }
  });
});
