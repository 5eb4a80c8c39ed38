/**
 * SASL (issue 11, item 2) against third-party clients. One broker:
 *
 *   PLAINTEXT       administration (SCRAM users are created through it) and inter-broker
 *   SASL_PLAINTEXT  PLAIN (users from the JAAS line), SCRAM-SHA-256, SCRAM-SHA-512
 *   SASL_SSL        the same over TLS
 *   REAUTH          SASL_PLAINTEXT with connections.max.reauth.ms=1500 (KIP-368)
 *
 * SCRAM credentials are made with `kfk configs --alter --entity-type users ... --add-config 'SCRAM-SHA-512=[...]'`
 * and stored as Kafka stores them (salted, in /config/users/<user>; never the password). kcat, confluent-kafka,
 * kafka-python, kafkajs and the kfk CLI produce and consume with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; a wrong
 * password is refused and reported by each client; a session that is not re-authenticated ends.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import {
  REPO_ROOT,
  freePorts,
  kcat,
  kfk,
  makeTempDir,
  python,
  pythonCode,
  registerCleanup,
  sleep,
  startBrokerProcess,
  waitFor,
  type BrokerProcess,
} from '../helpers/index.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certs.js';
import { RawConnection, decodeResponse, encodeRequest } from '../helpers/raw-client.js';
import { ErrorCode } from '../../src/protocol/errors.js';

registerCleanup();

const SCRIPT = join(REPO_ROOT, 'test', 'clients', 'secure_roundtrip.py');
const PLAIN_JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";';

let certs: TestCertificates;
let broker: BrokerProcess;
let ports: { plain: number; sasl: number; saslSsl: number; reauth: number };
let dir: string;

beforeAll(async () => {
  certs = await makeTestCertificates();
  dir = makeTempDir('kfk-sasl-');
  const [plain, sasl, saslSsl, reauth] = await freePorts(4);
  ports = { plain: plain!, sasl: sasl!, saslSsl: saslSsl!, reauth: reauth! };
  broker = await startBrokerProcess({
    overrides: {
      listeners: `PLAINTEXT://127.0.0.1:${plain},SASL_PLAINTEXT://127.0.0.1:${sasl},SASL_SSL://127.0.0.1:${saslSsl},REAUTH://127.0.0.1:${reauth}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,REAUTH:SASL_PLAINTEXT',
      'inter.broker.listener.name': 'PLAINTEXT',
      'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': PLAIN_JAAS,
      'listener.name.sasl_ssl.plain.sasl.jaas.config': PLAIN_JAAS,
      'listener.name.reauth.sasl.enabled.mechanisms': 'SCRAM-SHA-512',
      'listener.name.reauth.connections.max.reauth.ms': '1500',
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': certs.broker.pemKeystore,
      'num.partitions': '1',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  for (const [user, mechs] of [
    ['bob', 'SCRAM-SHA-512=[iterations=8192,password=bob-secret],SCRAM-SHA-256=[password=bob-secret]'],
    ['carol', 'SCRAM-SHA-256=[iterations=4096,password=carol-secret]'],
  ] as const) {
    const r = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', user, '--add-config', mechs]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Completed updating config for user ${user}.\n`);
  }
}, 120_000);

const saslAddr = () => `127.0.0.1:${ports.sasl}`;
const saslSslAddr = () => `127.0.0.1:${ports.saslSsl}`;

function kcatSasl(mechanism: string, user: string, password: string, ssl = false): string[] {
  return [
    '-X',
    `security.protocol=${ssl ? 'SASL_SSL' : 'SASL_PLAINTEXT'}`,
    ...(ssl ? ['-X', `ssl.ca.location=${certs.caPem}`] : []),
    '-X',
    `sasl.mechanisms=${mechanism}`,
    '-X',
    `sasl.username=${user}`,
    '-X',
    `sasl.password=${password}`,
  ];
}

async function pyRoundTrip(which: 'kp' | 'ck', bootstrap: string, topic: string, config: Record<string, unknown>): Promise<{ consumed?: string[]; error?: string }> {
  const res = await python(SCRIPT, [which, JSON.stringify({ bootstrap, topic, values: ['a', 'b', 'c'], config })], { timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { consumed?: string[]; error?: string };
}

describe('credentials', () => {
  it('kfk configs describes and deletes SCRAM credentials; the registry holds salted keys only', async () => {
    const d = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--describe', '--entity-type', 'users', '--entity-name', 'bob']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe("SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192\n");
    const registry = readFileSync(join(broker.dataDir, 'kfk-registry.json'), 'utf8');
    expect(registry).not.toMatch(/bob-secret|carol-secret/);
    expect(registry).toMatch(/\/config\/users\/bob/);
    expect(registry).toMatch(/SCRAM-SHA-512\\?"?:\\?"salt=[A-Za-z0-9+/=]+,stored_key=[A-Za-z0-9+/=]+,server_key=[A-Za-z0-9+/=]+,iterations=8192/);
    const del = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'carol', '--delete-config', 'SCRAM-SHA-256']);
    expect(del.code, del.stderr).toBe(0);
    const gone = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--describe', '--entity-type', 'users', '--entity-name', 'carol']);
    expect(gone.stdout).toMatch(/^Error retrieving SCRAM credential configs for user-principal 'carol': Attempt to describe a user credential that does not exist: carol/);
    // deleted on the broker as well: carol can no longer log in
    const refused = await kcat(['-b', saslAddr(), ...kcatSasl('SCRAM-SHA-256', 'carol', 'carol-secret'), '-L', '-m', '3']);
    expect(refused.code).not.toBe(0);
    const tooFew = await kfk(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'x', '--add-config', 'SCRAM-SHA-512=[iterations=1000,password=p]']);
    expect(tooFew.code).toBe(1);
    expect(tooFew.stderr).toMatch(/Iterations 1000 is less than the minimum 4096 required for SCRAM-SHA-512/);
  });
});

describe('kcat (librdkafka)', () => {
  it('PLAIN on SASL_PLAINTEXT, SCRAM-SHA-512 and SCRAM-SHA-256 on SASL_SSL', async () => {
    const p = await kcat(['-b', saslAddr(), ...kcatSasl('PLAIN', 'alice', 'alice-secret'), '-P', '-t', 'sasl-kcat'], { input: 'one\ntwo\n' });
    expect(p.code, p.stderr).toBe(0);
    for (const m of ['SCRAM-SHA-512', 'SCRAM-SHA-256']) {
      const c = await kcat(['-b', saslSslAddr(), ...kcatSasl(m, 'bob', 'bob-secret', true), '-C', '-t', 'sasl-kcat', '-o', 'beginning', '-e', '-q']);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stdout).toBe('one\ntwo\n');
    }
  });

  it('a wrong password is refused and reported as an authentication failure', async () => {
    const cases = [
      ['SCRAM-SHA-512', 'bob'],
      ['PLAIN', 'alice'],
      ['SCRAM-SHA-512', 'nobody'],
    ] as const;
    const results = await Promise.all(cases.map(([m, user]) => kcat(['-b', saslAddr(), ...kcatSasl(m, user, 'wrong'), '-L', '-m', '3'])));
    results.forEach((r, i) => {
      const m = cases[i]![0];
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`SASL authentication error: Authentication failed${m === 'PLAIN' ? ': Invalid username or password' : ` during authentication due to invalid credentials with SASL mechanism ${m}`}`));
    });
    await waitFor(() => /Failed authentication with \S+ \(invalid SCRAM-SHA-512 proof for user "bob"\)/.test(broker.stderr()), { message: 'the refusal in the broker log' });
    expect(broker.stderr()).not.toMatch(/wrong/);
  });
});

describe('confluent-kafka', () => {
  it('SCRAM-SHA-512 and SCRAM-SHA-256 on SASL_SSL, PLAIN on SASL_PLAINTEXT; a wrong password is an authentication failure', async () => {
    const scram = { 'security.protocol': 'SASL_SSL', 'ssl.ca.location': certs.caPem, 'sasl.mechanisms': 'SCRAM-SHA-512', 'sasl.username': 'bob', 'sasl.password': 'bob-secret' };
    expect(await pyRoundTrip('ck', saslSslAddr(), 'sasl-ck', scram)).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    expect(await pyRoundTrip('ck', saslSslAddr(), 'sasl-ck256', { ...scram, 'sasl.mechanisms': 'SCRAM-SHA-256' })).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    const plain = { 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'PLAIN', 'sasl.username': 'alice', 'sasl.password': 'alice-secret' };
    expect(await pyRoundTrip('ck', saslAddr(), 'sasl-ck2', plain)).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    const bad = await pyRoundTrip('ck', saslSslAddr(), 'sasl-ck3', { ...scram, 'sasl.password': 'wrong' });
    expect(bad.error).toMatch(/Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512/);
  });
});

describe('kafka-python', () => {
  it('PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (SaslHandshake v0, raw tokens)', async () => {
    const base = { security_protocol: 'SASL_PLAINTEXT' };
    expect(await pyRoundTrip('kp', saslAddr(), 'sasl-kp1', { ...base, sasl_mechanism: 'PLAIN', sasl_plain_username: 'alice', sasl_plain_password: 'alice-secret' })).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    const ssl = { security_protocol: 'SASL_SSL', ssl_cafile: certs.caPem };
    for (const m of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
      expect(await pyRoundTrip('kp', saslSslAddr(), `sasl-kp-${m}`, { ...ssl, sasl_mechanism: m, sasl_plain_username: 'bob', sasl_plain_password: 'bob-secret' })).toEqual({ produced: 3, consumed: ['a', 'b', 'c'] });
    }
  });

  it('a wrong password: the broker ends the raw SASL exchange, and kafka-python reports the failed authentication', async () => {
    // SaslHandshake v0 has no error response: Kafka closes the connection, and so does kfk
    const r = await pythonCode(
      `
import logging, sys
logging.basicConfig(level=logging.ERROR, stream=sys.stdout, format='%(message)s')
from kafka import KafkaProducer
try:
    KafkaProducer(bootstrap_servers='${saslAddr()}', security_protocol='SASL_PLAINTEXT', sasl_mechanism='SCRAM-SHA-256',
                  sasl_plain_username='bob', sasl_plain_password='wrong', api_version_auto_timeout_ms=3000)
    print('CONNECTED')
except Exception as e:
    print('REFUSED', type(e).__name__)
`,
      [],
      { timeoutMs: 60_000 },
    );
    expect(r.stdout).toMatch(/REFUSED NoBrokersAvailable/);
    expect(r.stdout).toMatch(/Error receiving reply from server|Connection reset during recv/);
    expect(r.stdout).not.toMatch(/CONNECTED/);
  });
});

describe('kafkajs', () => {
  it('SCRAM-SHA-512 and SCRAM-SHA-256 on SASL_SSL, PLAIN on SASL_PLAINTEXT: produce and consume; a wrong password is refused', async () => {
    const roundTrip = async (sasl: SASLOptions & { username: string }, ssl: boolean, topic: string): Promise<string[]> => {
      const kafka = new Kafka({ brokers: [ssl ? saslSslAddr() : saslAddr()], sasl, ...(ssl ? { ssl: { ca: [readFileSync(certs.caPem, 'utf8')] } } : {}), logLevel: logLevel.NOTHING, retry: { retries: 0 } });
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send({ topic, messages: [{ value: `${sasl.mechanism}-1` }, { value: `${sasl.mechanism}-2` }] });
      } finally {
        await producer.disconnect();
      }
      const consumer = kafka.consumer({ groupId: `kafkajs-${topic}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      const got: string[] = [];
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) });
        await waitFor(() => got.length >= 2, { timeoutMs: 30_000, message: `kafkajs to consume ${topic}` });
      } finally {
        await consumer.disconnect();
      }
      return got;
    };
    expect(await roundTrip({ mechanism: 'scram-sha-512', username: 'bob', password: 'bob-secret' }, true, 'sasl-kafkajs-512')).toEqual(['scram-sha-512-1', 'scram-sha-512-2']);
    expect(await roundTrip({ mechanism: 'scram-sha-256', username: 'bob', password: 'bob-secret' }, true, 'sasl-kafkajs-256')).toEqual(['scram-sha-256-1', 'scram-sha-256-2']);
    expect(await roundTrip({ mechanism: 'plain', username: 'alice', password: 'alice-secret' }, false, 'sasl-kafkajs-plain')).toEqual(['plain-1', 'plain-2']);
    await expect(roundTrip({ mechanism: 'scram-sha-512', username: 'bob', password: 'wrong' }, false, 'sasl-kafkajs-x')).rejects.toThrow(/SASL SCRAM SHA512 authentication failed/);
  });
});

describe('kfk CLI', () => {
  it('takes sasl.mechanism and sasl.jaas.config from --command-config; a wrong password fails with the broker\'s message', async () => {
    const props = (password: string) => {
      const f = join(dir, `client-${password}.properties`);
      writeFileSync(
        f,
        `security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location=${certs.caPem}\nsasl.mechanism=SCRAM-SHA-512\n` +
          `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="${password}";\n`,
      );
      return f;
    };
    const created = await kfk(['topics', '--bootstrap-server', saslSslAddr(), '--command-config', props('bob-secret'), '--create', '--topic', 'sasl-cli']);
    expect(created.code, created.stderr).toBe(0);
    const produced = await kfk(['console-producer', '--bootstrap-server', saslSslAddr(), '--producer.config', props('bob-secret'), '--topic', 'sasl-cli'], { input: 'x\ny\n' });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kfk(['console-consumer', '--bootstrap-server', saslSslAddr(), '--consumer.config', props('bob-secret'), '--topic', 'sasl-cli', '--from-beginning', '--max-messages', '2', '--group', 'cli-sasl']);
    expect(consumed.stdout.trim().split('\n')).toEqual(['x', 'y']);
    const groups = await kfk(['consumer-groups', '--bootstrap-server', saslSslAddr(), '--command-config', props('bob-secret'), '--describe', '--group', 'cli-sasl']);
    expect(groups.code, groups.stderr).toBe(0);
    const wrong = await kfk(['topics', '--bootstrap-server', saslSslAddr(), '--command-config', props('wrong'), '--list']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^Error: authentication failed at 127\.0\.0\.1:\d+: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512$/m);
    const gssapi = join(dir, 'gssapi.properties');
    writeFileSync(gssapi, 'security.protocol=SASL_PLAINTEXT\n');
    const noMech = await kfk(['topics', '--bootstrap-server', saslAddr(), '--command-config', gssapi, '--list']);
    expect(noMech.stderr).toMatch(/^Error: Invalid value GSSAPI for configuration sasl\.mechanism: not supported \(GSSAPI is Kafka's default when sasl\.mechanism is not set\)/m);
  });
});

describe('re-authentication (KIP-368, connections.max.reauth.ms=1500 on REAUTH)', () => {
  it('the kfk client re-authenticates on its connection and keeps using it past several session ends', async () => {
    const { BrokerConnection } = await import('../../src/client/connection.js');
    const conn = await BrokerConnection.connect({
      host: '127.0.0.1',
      port: ports.reauth,
      security: { protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'SCRAM-SHA-512', username: 'bob', password: 'bob-secret' } },
    });
    try {
      // about 4.5 s of requests on the one connection: the 1.5 s session ends three times meanwhile
      const until = Date.now() + 4500;
      let answered = 0;
      while (Date.now() < until) {
        const meta = await conn.request<{ brokers: unknown[] }>(3, { topics: [], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
        expect(meta.brokers).toHaveLength(1);
        answered++;
        await sleep(100); // pacing: a steady trickle of requests across the session ends
      }
      expect(conn.closed).toBe(false);
      expect(answered).toBeGreaterThan(10);
    } finally {
      conn.close();
    }
  });

  it('a client that does not re-authenticate is disconnected at its next request after the session ends', async () => {
    const conn = await RawConnection.open(ports.reauth);
    try {
      await conn.write(encodeRequest(17, 1, 1, { mechanism: 'SCRAM-SHA-512' }));
      const { ScramClient, scramMechanism } = await import('../../src/security/scram.js');
      const client = new ScramClient(scramMechanism('SCRAM-SHA-512')!, 'bob', 'bob-secret');
      await conn.write(encodeRequest(36, 1, 2, { authBytes: Buffer.from(client.first()) }));
      const [, first] = await conn.frames(2);
      const serverFirst = decodeResponse<{ authBytes: Buffer }>(first!, 36, 1).body.authBytes.toString();
      await conn.write(encodeRequest(36, 1, 3, { authBytes: Buffer.from(client.final(serverFirst)) }));
      const final = decodeResponse<{ errorCode: number; sessionLifetimeMs: number }>((await conn.frames(3))[2]!, 36, 1).body;
      expect(final).toMatchObject({ errorCode: ErrorCode.NONE, sessionLifetimeMs: 1500 });
      await conn.write(encodeRequest(3, 1, 4, { topics: [] }));
      await conn.frames(4); // within the session: answered
      await sleep(1700); // the passage of time is the point: let the session end
      await conn.write(encodeRequest(3, 1, 5, { topics: [] }));
      expect(await conn.waitForClose(10_000)).toBe('closed');
      expect(conn.received).toHaveLength(4);
    } finally {
      conn.destroy();
    }
  });
});
