/**
 * TLS listeners (issue 11, item 1) against third-party clients. One broker with three listeners:
 *
 *   PLAINTEXT  inter-broker
 *   SSL        PEM keystore with an encrypted key (ssl.key.password), no client certificates
 *   MTLS       (mapped to SSL) PKCS12 keystore and truststore, ssl.client.auth=required, and
 *              ssl.principal.mapping.rules turning "CN=alice,OU=eng,O=kfk,C=US" into "alice"
 *
 * kcat, confluent-kafka (librdkafka), kafka-python, kafkajs and the kfk CLI (--command-config) produce and consume
 * over TLS; Metadata on each listener advertises that listener's port; a client without a trusted certificate is
 * refused on MTLS; a keystore file replaced on disk is served to new connections without a restart.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import {
  REPO_ROOT,
  freePorts,
  kcat,
  kfk,
  python,
  registerCleanup,
  startBrokerProcess,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { KEY_PASSWORD, STORE_PASSWORD, makeTestCertificates, type TestCertificates } from '../helpers/certs.js';

registerCleanup();

const SCRIPT = join(REPO_ROOT, 'test', 'clients', 'secure_roundtrip.py');

let certs: TestCertificates;
let broker: BrokerProcess;
let ports: { plain: number; ssl: number; mtls: number };
/** The SSL listener's keystore: a copy, replaced by the reload test. */
let sslKeystore: string;

beforeAll(async () => {
  certs = await makeTestCertificates({ alice: 'eng', bob: 'ops' });
  const [plain, ssl, mtls] = await freePorts(3);
  ports = { plain: plain!, ssl: ssl!, mtls: mtls! };
  sslKeystore = join(certs.dir, 'ssl-listener-keystore.pem');
  copyFileSync(certs.broker.encryptedPemKeystore, sslKeystore);
  broker = await startBrokerProcess({
    overrides: {
      listeners: `PLAINTEXT://127.0.0.1:${ports.plain},SSL://127.0.0.1:${ports.ssl},MTLS://127.0.0.1:${ports.mtls}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL',
      'inter.broker.listener.name': 'PLAINTEXT',
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': sslKeystore,
      'ssl.key.password': KEY_PASSWORD,
      'listener.name.mtls.ssl.keystore.type': 'PKCS12',
      'listener.name.mtls.ssl.keystore.location': certs.broker.p12Keystore,
      'listener.name.mtls.ssl.keystore.password': STORE_PASSWORD,
      'listener.name.mtls.ssl.key.password': STORE_PASSWORD,
      'listener.name.mtls.ssl.truststore.type': 'PKCS12',
      'listener.name.mtls.ssl.truststore.location': certs.caP12,
      'listener.name.mtls.ssl.truststore.password': STORE_PASSWORD,
      'listener.name.mtls.ssl.client.auth': 'required',
      'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+),OU=[^,]+,O=kfk,C=US$/$1/L,DEFAULT',
      'num.partitions': '1',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
}, 120_000);

const sslAddr = () => `127.0.0.1:${ports.ssl}`;
const mtlsAddr = () => `127.0.0.1:${ports.mtls}`;

function kcatSsl(extra: string[] = []): string[] {
  return ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${certs.caPem}`, ...extra];
}

async function kcatRoundTrip(bootstrap: string, topic: string, sec: string[]): Promise<string[]> {
  const p = await kcat(['-b', bootstrap, ...sec, '-P', '-t', topic], { input: 'one\ntwo\nthree\n' });
  expect(p.code, p.stderr).toBe(0);
  const c = await kcat(['-b', bootstrap, ...sec, '-C', '-t', topic, '-o', 'beginning', '-e', '-q']);
  expect(c.code, c.stderr).toBe(0);
  return c.stdout.split('\n').filter((l) => l !== '');
}

async function pyRoundTrip(which: 'kp' | 'ck', bootstrap: string, topic: string, config: Record<string, unknown>, group?: string): Promise<{ consumed?: string[]; error?: string }> {
  const res = await python(SCRIPT, [which, JSON.stringify({ bootstrap, topic, values: ['a', 'b', 'c'], config, ...(group ? { group } : {}) })], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { consumed?: string[]; error?: string };
}

describe('SSL listener', () => {
  it('kcat produces and consumes, and Metadata advertises the SSL port', async () => {
    expect(await kcatRoundTrip(sslAddr(), 'tls-kcat', kcatSsl())).toEqual(['one', 'two', 'three']);
    const meta = await kcat(['-b', sslAddr(), ...kcatSsl(), '-L', '-J']);
    expect(meta.code, meta.stderr).toBe(0);
    expect((JSON.parse(meta.stdout) as { brokers: { name: string }[] }).brokers.map((b) => b.name)).toEqual([`127.0.0.1:${ports.ssl}`]);
    // the PLAINTEXT listener still advertises its own port
    const plainMeta = await kcat(['-b', broker.bootstrap, '-L', '-J']);
    expect((JSON.parse(plainMeta.stdout) as { brokers: { name: string }[] }).brokers.map((b) => b.name)).toEqual([`127.0.0.1:${ports.plain}`]);
  });

  it('confluent-kafka produces and consumes with a group', async () => {
    const out = await pyRoundTrip('ck', sslAddr(), 'tls-ck', { 'security.protocol': 'SSL', 'ssl.ca.location': certs.caPem }, 'ck-group');
    expect(out).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
  });

  it('kafka-python produces and consumes with a group', async () => {
    const out = await pyRoundTrip('kp', sslAddr(), 'tls-kp', { security_protocol: 'SSL', ssl_cafile: certs.caPem }, 'kp-group');
    expect(out).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
  });

  it('kafkajs produces and consumes', async () => {
    const { readFileSync } = await import('node:fs');
    const kafka = new Kafka({ brokers: [sslAddr()], ssl: { ca: [readFileSync(certs.caPem, 'utf8')] }, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'tls-kafkajs', messages: [{ value: 'x' }, { value: 'y' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: 'kafkajs-tls', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'tls-kafkajs', fromBeginning: true });
    const got: string[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) });
    try {
      await waitFor(() => got.length >= 2, { timeoutMs: 30_000, message: 'kafkajs to consume both records over TLS' });
    } finally {
      await consumer.disconnect();
    }
    expect(got).toEqual(['x', 'y']);
  });

  it('the kfk CLI takes --command-config with a PEM or a PKCS12 truststore; a client that does not trust the broker is refused', async () => {
    const pem = join(certs.dir, 'client-pem.properties');
    writeFileSync(pem, `security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=${certs.caPem}\n`);
    const p12 = join(certs.dir, 'client-p12.properties');
    writeFileSync(p12, `security.protocol=SSL\nssl.truststore.type=PKCS12\nssl.truststore.location=${certs.caP12}\nssl.truststore.password=${STORE_PASSWORD}\n`);
    const created = await kfk(['topics', '--bootstrap-server', sslAddr(), '--command-config', pem, '--create', '--topic', 'tls-cli']);
    expect(created.code, created.stderr).toBe(0);
    const produced = await kfk(['console-producer', '--bootstrap-server', sslAddr(), '--producer.config', p12, '--topic', 'tls-cli'], { input: 'l1\nl2\n' });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kfk(['console-consumer', '--bootstrap-server', sslAddr(), '--command-config', pem, '--topic', 'tls-cli', '--from-beginning', '--max-messages', '2']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(['l1', 'l2']);
    // no truststore: the system's CAs do not know the test CA
    const untrusting = join(certs.dir, 'client-none.properties');
    writeFileSync(untrusting, 'security.protocol=SSL\n');
    const refused = await kfk(['topics', '--bootstrap-server', sslAddr(), '--command-config', untrusting, '--list']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/SSL handshake failed: .*certificate/);
    // Kafka's default store type is JKS: refused with the conversion hint, not sent in plaintext
    const jks = join(certs.dir, 'client-jks.properties');
    writeFileSync(jks, `security.protocol=SSL\nssl.truststore.location=${certs.caPem}\n`);
    const jksRes = await kfk(['topics', '--bootstrap-server', sslAddr(), '--command-config', jks, '--list']);
    expect(jksRes.code).toBe(1);
    expect(jksRes.stderr).toMatch(/^Error: Invalid value JKS for configuration ssl\.truststore\.type: not supported .*keytool -importkeystore/m);
    // the broker's passwords are sensitive: described without their values
    const described = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--describe', '--entity-type', 'brokers', '--entity-name', '0', '--all']);
    expect(described.stdout).toMatch(/^ {2}ssl\.key\.password=null sensitive=true /m);
    expect(described.stdout).not.toContain(KEY_PASSWORD);
    expect(broker.stderr()).not.toContain(KEY_PASSWORD);
  });
});

describe('MTLS listener (ssl.client.auth=required)', () => {
  it('serves a client with a trusted certificate (kcat, kafka-python, kfk CLI)', async () => {
    const alice = certs.clients.alice!;
    const sec = kcatSsl(['-X', `ssl.certificate.location=${alice.certFile}`, '-X', `ssl.key.location=${alice.keyFile}`]);
    expect(await kcatRoundTrip(mtlsAddr(), 'mtls-kcat', sec)).toEqual(['one', 'two', 'three']);
    const out = await pyRoundTrip('kp', mtlsAddr(), 'mtls-kp', { security_protocol: 'SSL', ssl_cafile: certs.caPem, ssl_certfile: alice.certFile, ssl_keyfile: alice.keyFile });
    expect(out).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    const props = join(certs.dir, 'client-mtls.properties');
    writeFileSync(
      props,
      `security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=${certs.caPem}\nssl.keystore.type=PKCS12\nssl.keystore.location=${alice.p12Keystore}\nssl.keystore.password=${STORE_PASSWORD}\n`,
    );
    const listed = await kfk(['topics', '--bootstrap-server', mtlsAddr(), '--command-config', props, '--list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')).toContain('mtls-kcat');
  });

  it('refuses a client without a certificate, and one whose certificate is signed by an unknown CA', async () => {
    const [none, stranger] = await Promise.all([
      kcat(['-b', mtlsAddr(), ...kcatSsl(), '-L', '-m', '3']),
      kcat(['-b', mtlsAddr(), ...kcatSsl(['-X', `ssl.certificate.location=${certs.stranger.certFile}`, '-X', `ssl.key.location=${certs.stranger.keyFile}`]), '-L', '-m', '3']),
    ]);
    expect(none.code).not.toBe(0);
    expect(stranger.code).not.toBe(0);
    await waitFor(() => /Failed authentication with \S+ \(SSL handshake failed/.test(broker.stderr()), { message: 'the broker to log the refused handshakes' });
  });
});

describe('certificate rotation', () => {
  /** The serial number of the certificate the SSL listener serves to a new connection. */
  function servedSerial(): Promise<string | null> {
    return new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: ports.ssl, rejectUnauthorized: false }, () => {
        resolve(s.getPeerX509Certificate()?.serialNumber ?? null);
        s.destroy();
      });
      s.on('error', () => resolve(null));
    });
  }

  it('a keystore replaced on disk is served to new connections, without a restart', async () => {
    const fresh = await makeTestCertificates();
    const before = await servedSerial();
    copyFileSync(fresh.broker.encryptedPemKeystore, sslKeystore);
    const expected = new X509Certificate(fresh.broker.certPem).serialNumber;
    expect(expected).not.toBe(before);
    await waitFor(async () => (await servedSerial()) === expected, { timeoutMs: 20_000, message: 'the new certificate to be served' });
    expect(broker.stderr()).toMatch(/listener SSL: reloaded the TLS keystore and truststore/);
    // and clients trusting the new CA work through it
    const c = await kcat(['-b', sslAddr(), '-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${fresh.caPem}`, '-L']);
    expect(c.code, c.stderr).toBe(0);
  });
});
