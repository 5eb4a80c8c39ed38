/**
 * Brokers authenticating to each other (issue 11, item 5): `kfk server start --brokers 3` whose only listener is
 * secured, so that replication (replica fetchers) and forwarding to the controller run over it:
 *
 *   - SASL_SSL with PLAIN between brokers (sasl.mechanism.inter.broker.protocol, the broker's own username and
 *     password in the listener's JAAS line) and SCRAM-SHA-512 for clients;
 *   - SSL with ssl.client.auth=required: every broker presents its certificate to the others (mutual TLS).
 *
 * A topic with replication factor 3 and min.insync.replicas=3 takes acks=all writes only while both followers
 * fetch: the records acknowledged prove the brokers authenticated to each other.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { REPO_ROOT, freePorts, kcat, kfk, makeTempDir, python, registerCleanup, startBrokerProcess, waitFor } from '../helpers/index.js';
import { makeTestCertificates } from '../helpers/certs.js';

registerCleanup();

const CK = path.join(REPO_ROOT, 'test', 'clients', 'ck_transactions.py');

/** Creates a topic over the secured listener and waits until all three replicas are in its ISR. */
async function replicatedTopic(bootstrap: string, props: string, topic: string): Promise<void> {
  const created = await kfk(['topics', '--bootstrap-server', bootstrap, '--command-config', props, '--create', '--topic', topic, '--partitions', '2', '--replication-factor', '3', '--config', 'min.insync.replicas=3']);
  expect(created.code, created.stderr).toBe(0);
  await waitFor(
    async () => {
      const d = await kfk(['topics', '--bootstrap-server', bootstrap, '--command-config', props, '--describe', '--topic', topic]);
      const isrs = [...d.stdout.matchAll(/Isr: ([\d,]+)/g)].map((m) => m[1]!.split(',').sort().join(','));
      return isrs.length === 2 && isrs.every((i) => i === '0,1,2');
    },
    { timeoutMs: 30_000, message: `every replica of ${topic} in its ISR` },
  );
}

describe('inter-broker security', () => {
  it('SASL_SSL with PLAIN between brokers (a super user), ACLs added through one broker enforced by the others, clients on SCRAM', async () => {
    const certs = await makeTestCertificates();
    const dir = makeTempDir('kfk-ib-sasl-');
    const ports = await freePorts(3);
    const jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret" user_admin="admin-secret";';
    const cluster = await startBrokerProcess({
      args: ['--brokers', '3', '--ports', ports.join(',')],
      overrides: {
        listeners: `SASL_SSL://127.0.0.1:${ports[0]}`,
        'security.inter.broker.protocol': 'SASL_SSL',
        'sasl.mechanism.inter.broker.protocol': 'PLAIN',
        'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
        'listener.name.sasl_ssl.plain.sasl.jaas.config': jaas,
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.location': certs.broker.pemKeystore,
        'ssl.truststore.type': 'PEM',
        'ssl.truststore.location': certs.caPem,
        'replica.fetch.wait.max.ms': '200',
        'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer',
        'super.users': 'User:broker;User:admin',
      },
      timeoutMs: 60_000,
    });
    const bootstrap = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const admin = join(dir, 'admin.properties');
    writeFileSync(
      admin,
      `security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location=${certs.caPem}\nsasl.mechanism=PLAIN\n` +
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";\n',
    );
    const user = await kfk(['configs', '--bootstrap-server', bootstrap, '--command-config', admin, '--alter', '--entity-type', 'users', '--entity-name', 'app', '--add-config', 'SCRAM-SHA-512=[password=app-secret]']);
    expect(user.code, user.stderr).toBe(0);
    await replicatedTopic(bootstrap, admin, 'replicated-sasl');
    const sec = ['-X', 'security.protocol=SASL_SSL', '-X', `ssl.ca.location=${certs.caPem}`, '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=app', '-X', 'sasl.password=app-secret'];
    // the ACLs go in through broker 0; broker 2 must enforce them too (it follows the change notifications)
    const lastBroker = `127.0.0.1:${ports[2]}`;
    const listed = async () => JSON.parse((await kcat(['-b', lastBroker, ...sec, '-L', '-J'])).stdout) as { topics: { topic: string }[] };
    expect((await listed()).topics.map((t) => t.topic)).not.toContain('replicated-sasl');
    const acl = await kfk(['acls', '--bootstrap-server', `127.0.0.1:${ports[0]}`, '--command-config', admin, '--add', '--allow-principal', 'User:app', '--producer', '--consumer', '--topic', 'replicated-sasl', '--group', 'app']);
    expect(acl.code, acl.stderr).toBe(0);
    await waitFor(async () => (await listed()).topics.some((t) => t.topic === 'replicated-sasl'), { message: 'broker 2 to allow User:app to describe the topic' });
    const p = await kcat(['-b', bootstrap, ...sec, '-X', 'acks=all', '-P', '-t', 'replicated-sasl', '-p', '0'], { input: 'r1\nr2\nr3\n' });
    expect(p.code, p.stderr).toBe(0);
    const c = await kcat(['-b', bootstrap, ...sec, '-C', '-t', 'replicated-sasl', '-p', '0', '-o', 'beginning', '-e', '-q']);
    expect(c.stdout).toBe('r1\nr2\nr3\n');
    expect(cluster.stderr()).not.toMatch(/broker-secret|admin-secret|app-secret/);
    expect(await cluster.stop()).toBe(0);
  }, 120_000);

  it('SSL with ssl.client.auth=required: brokers present their certificates to each other', async () => {
    const certs = await makeTestCertificates({ alice: 'eng' });
    const dir = makeTempDir('kfk-ib-ssl-');
    const ports = await freePorts(3);
    const cluster = await startBrokerProcess({
      args: ['--brokers', '3', '--ports', ports.join(',')],
      overrides: {
        listeners: `SSL://127.0.0.1:${ports[0]}`,
        'security.inter.broker.protocol': 'SSL',
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.location': certs.broker.pemKeystore,
        'ssl.truststore.type': 'PEM',
        'ssl.truststore.location': certs.caPem,
        'ssl.client.auth': 'required',
        'replica.fetch.wait.max.ms': '200',
      },
      timeoutMs: 60_000,
    });
    const bootstrap = ports.map((p) => `127.0.0.1:${p}`).join(',');
    const alice = certs.clients.alice!;
    const props = join(dir, 'alice.properties');
    writeFileSync(props, `security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=${certs.caPem}\nssl.keystore.type=PEM\nssl.keystore.location=${alice.pemKeystore}\n`);
    await replicatedTopic(bootstrap, props, 'replicated-ssl');
    const sec = ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${certs.caPem}`, '-X', `ssl.certificate.location=${alice.certFile}`, '-X', `ssl.key.location=${alice.keyFile}`];
    const p = await kcat(['-b', bootstrap, ...sec, '-X', 'acks=all', '-P', '-t', 'replicated-ssl', '-p', '1'], { input: 's1\ns2\n' });
    expect(p.code, p.stderr).toBe(0);
    const c = await kcat(['-b', bootstrap, ...sec, '-C', '-t', 'replicated-ssl', '-p', '1', '-o', 'beginning', '-e', '-q']);
    expect(c.stdout).toBe('s1\ns2\n');
    // Transactions over mutual TLS: the coordinator's markers go to the partition leaders on the inter-broker listener,
    // presenting the broker's certificate; read_committed sees the committed transaction only.
    const clientConfig = { 'security.protocol': 'ssl', 'ssl.ca.location': certs.caPem, 'ssl.certificate.location': alice.certFile, 'ssl.key.location': alice.keyFile };
    const txn = await python(CK, ['produce', JSON.stringify({ bootstrap, client_config: clientConfig, transactional_id: 'tls-txn', topic: 'replicated-ssl', transactions: [{ commit: true, values: ['t1', 't2'], partition: 0 }, { commit: false, values: ['x1'], partition: 0 }] })], { timeoutMs: 90_000 });
    expect(txn.code, txn.stderr).toBe(0);
    expect(JSON.parse(txn.stdout.trim().split('\n').pop()!).results).toEqual(['committed', 'aborted']);
    const committed = await kcat(['-b', bootstrap, ...sec, '-X', 'isolation.level=read_committed', '-C', '-t', 'replicated-ssl', '-p', '0', '-o', 'beginning', '-e', '-q']);
    expect(committed.stdout).toBe('t1\nt2\n');
    expect(await cluster.stop()).toBe(0);
  }, 120_000);

  it('refuses to start when the inter-broker mechanism has no credentials or is not enabled', async () => {
    const [port] = await freePorts(1);
    const base = ['server', 'start', '--override', `log.dirs=${makeTempDir('kfk-ib-bad-')}`, '--override', `listeners=SASL_PLAINTEXT://127.0.0.1:${port}`, '--override', 'security.inter.broker.protocol=SASL_PLAINTEXT'];
    const noJaas = await kfk([...base, '--override', 'sasl.enabled.mechanisms=SCRAM-SHA-512', '--override', 'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512']);
    expect(noJaas.code).toBe(1);
    expect(noJaas.stderr).toMatch(/^Error: SASL SCRAM-SHA-512 needs listener\.name\.sasl_plaintext\.scram-sha-512\.sasl\.jaas\.config with a username and a password$/m);
    const notEnabled = await kfk([...base, '--override', 'sasl.enabled.mechanisms=SCRAM-SHA-512', '--override', 'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256']);
    expect(notEnabled.code).toBe(1);
    expect(notEnabled.stderr).toMatch(/^Error: Invalid value SCRAM-SHA-256 for configuration sasl\.mechanism\.inter\.broker\.protocol: must be included in sasl\.enabled\.mechanisms/m);
  });
});
