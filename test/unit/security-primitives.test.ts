/**
 * The pieces of issue 11 that need no broker: ssl.principal.mapping.rules (Kafka's SslPrincipalMapperTest cases),
 * JAAS lines, SCRAM against RFC 7677's test vector and Kafka's stored form, entity-name sanitising, and the SASL
 * server state machine driven frame by frame (PLAIN, SCRAM, raw v0 tokens, failures, re-authentication).
 */
import { describe, expect, it } from 'vitest';
import { SslPrincipalMapper } from '../../src/security/ssl-principal.js';
import { JaasError, loginCredentials, parseJaasConfig, plainUsers } from '../../src/security/jaas.js';
import {
  ScramClient,
  credentialFromString,
  credentialToString,
  makeCredential,
  scramMechanism,
  serverSignature,
  verifyClientProof,
  authMessage,
} from '../../src/security/scram.js';
import { desanitizeEntityName, sanitizeEntityName } from '../../src/security/entity-configs.js';
import { PlainUsers, SaslServerAuthenticator, type SaslServerConfig } from '../../src/security/sasl-server.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { decodeResponse, encodeRequest } from '../helpers/raw-client.js';
import type { AuthStep } from '../../src/server/authenticator.js';

describe('ssl.principal.mapping.rules', () => {
  it('accepts and refuses the rules Kafka does', () => {
    for (const ok of [
      'DEFAULT',
      'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/',
      'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT',
      'RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/',
      'RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L',
      'RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U',
      'RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/',
    ]) {
      expect(() => new SslPrincipalMapper(ok), ok).not.toThrow();
    }
    for (const bad of ['default', 'DEFAUL', 'DEFAULT/L', 'DEFAULT/U', 'RULE:CN=(.*?),OU=ServiceUsers.*/$1', 'rule:^CN=(.*?),OU=ServiceUsers.*$/$1/', 'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U', 'RULE:^CN=(.*?),OU=ServiceUsers.*$/L', 'RULE:^CN=(.*?),OU=ServiceUsers.*$/LU']) {
      expect(() => new SslPrincipalMapper(bad), bad).toThrow(/Invalid rule/);
    }
  });

  it('maps names as Kafka does', () => {
    const mapper = new SslPrincipalMapper(
      [
        'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L',
        'RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L',
        'RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U',
        'RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U',
        'DEFAULT',
      ].join(', '),
    );
    expect(mapper.name('CN=Duke,OU=ServiceUsers,O=Org,C=US')).toBe('duke');
    expect(mapper.name('CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US')).toBe('duke@sme');
    expect(mapper.name('cn=duke,ou=sme,dc=mycp,dc=com')).toBe('DUKE@SME');
    expect(mapper.name('cN=duke,OU=JavaSoft,O=Sun Microsystems')).toBe('DUKE');
    expect(mapper.name('OU=JavaSoft,O=Sun Microsystems,C=US')).toBe('OU=JavaSoft,O=Sun Microsystems,C=US');
    expect(new SslPrincipalMapper(String.raw`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`).name(String.raw`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`)).toBe(String.raw`Tkac\, Adam`);
    expect(() => new SslPrincipalMapper('RULE:^CN=x$/y/').name('CN=z')).toThrow(/No rules apply to CN=z/);
  });

  it('splits rules as Kafka does', () => {
    const cases: [string, string][] = [
      ['[]', ''],
      ['[DEFAULT]', 'DEFAULT'],
      ['[RULE:/]', 'RULE://'],
      ['[RULE:/.*]', 'RULE:/.*/'],
      ['[RULE:/.*/L]', 'RULE:/.*/L'],
      ['[RULE:/, DEFAULT]', 'RULE://,DEFAULT'],
      ['[RULE:/, DEFAULT]', '  RULE:// ,  DEFAULT  '],
      ['[RULE:   /     , DEFAULT]', '  RULE:   /     / ,  DEFAULT  '],
      ['[RULE:  /     /U, DEFAULT]', '  RULE:  /     /U   ,DEFAULT  '],
      ['[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]', '  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  '],
      ['[]', ',   , , ,      , , ,   '],
      ['[RULE:/, DEFAULT]', ',,RULE://,,,DEFAULT,,'],
      ['[RULE: /   , DEFAULT]', ',  , RULE: /   /    ,,,   DEFAULT, ,   '],
      ['[RULE:   /  /U, DEFAULT]', '     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,'],
      ['[RULE:,RULE:,/,RULE:,\\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]', 'RULE:,RULE:,/,RULE:,\\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT'],
    ];
    for (const [expected, rules] of cases) expect(String(new SslPrincipalMapper(rules)), rules).toBe(`SslPrincipalMapper(rules = ${expected})`);
  });
});

describe('JAAS lines', () => {
  it('reads a PLAIN server line and a SCRAM client line', () => {
    const m = parseJaasConfig('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \\"quoted\\" one";');
    expect(m.loginModule).toBe('org.apache.kafka.common.security.plain.PlainLoginModule');
    expect(m.controlFlag).toBe('required');
    expect(loginCredentials(m)).toEqual({ username: 'admin', password: 'admin-secret' });
    expect([...plainUsers(m)]).toEqual([
      ['admin', 'admin-secret'],
      ['alice', 'a "quoted" one'],
    ]);
    const s = parseJaasConfig('org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=alice\n  password="p=w;d";');
    expect(loginCredentials(s)).toEqual({ username: 'alice', password: 'p=w;d' });
  });

  it('refuses malformed lines without quoting them (they hold passwords)', () => {
    const secret = 'hunter2';
    for (const bad of [`X required password="${secret}"`, `X sometimes password="${secret}";`, `X required password;`, `A required; B required;`, `X required password="${secret}`]) {
      let err: unknown;
      try {
        parseJaasConfig(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(JaasError);
      expect((err as Error).message).not.toContain(secret);
    }
  });
});

describe('SCRAM', () => {
  const sha256 = scramMechanism('SCRAM-SHA-256')!;

  it('matches the RFC 7677 test vector, on both sides', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const credential = makeCredential(sha256, 'pencil', 4096, salt);
    const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    const withoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const auth = authMessage(clientFirstBare, serverFirst, withoutProof);
    expect(verifyClientProof(sha256, credential, auth, Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64'))).toBe(true);
    expect(verifyClientProof(sha256, credential, auth, Buffer.from('eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64'))).toBe(false);
    expect(serverSignature(sha256, credential.serverKey, auth).toString('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');

    const client = new ScramClient(sha256, 'user', 'pencil', new Map(), 'rOprNGfwEbeRWgbNEkqO');
    expect(client.first()).toBe(`n,,${clientFirstBare}`);
    expect(client.final(serverFirst)).toBe(`${withoutProof},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`);
    expect(() => client.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
    expect(() => client.verifyServerFinal('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/Invalid server signature/);
  });

  it('stores credentials in Kafka\'s form, without the password', () => {
    const c = makeCredential(scramMechanism('SCRAM-SHA-512')!, 'alice-secret', 8192);
    const s = credentialToString(c);
    expect(s).toMatch(/^salt=[A-Za-z0-9+/=]+,stored_key=[A-Za-z0-9+/=]+,server_key=[A-Za-z0-9+/=]+,iterations=8192$/);
    expect(s).not.toContain('alice-secret');
    expect(credentialFromString(s)).toEqual(c);
    expect(() => credentialFromString('salt=x,iterations=1')).toThrow(/Credentials not valid/);
  });
});

describe('entity names in the registry', () => {
  it('are URL-encoded as Kafka\'s Sanitizer does', () => {
    expect(sanitizeEntityName('alice')).toBe('alice');
    expect(sanitizeEntityName('CN=alice,OU=eng')).toBe('CN%3Dalice%2COU%3Deng');
    expect(sanitizeEntityName('a b*c~(!)')).toBe('a%20b%2Ac%7E%28%21%29');
    expect(sanitizeEntityName('<default>')).toBe('<default>');
    for (const n of ['CN=alice,OU=eng', 'a b*c~(!)', 'ünïcødé', 'x+y']) expect(desanitizeEntityName(sanitizeEntityName(n))).toBe(n);
  });
});

describe('SASL server (one connection, frame by frame)', () => {
  const scram512 = scramMechanism('SCRAM-SHA-512')!;
  const bobCredential = makeCredential(scram512, 'bob-secret', 4096);
  let now = 1_000_000;
  function server(extra: Partial<SaslServerConfig> = {}): SaslServerAuthenticator {
    return new SaslServerAuthenticator({
      listenerName: 'SASL_PLAINTEXT',
      mechanisms: ['PLAIN', 'SCRAM-SHA-512'],
      plainUsers: new PlainUsers(new Map([['alice', 'alice-secret']])),
      scramCredentials: { credential: (u, m) => (u === 'bob' && m === 'SCRAM-SHA-512' ? bobCredential : undefined) },
      reauthMs: 0,
      maxReceiveBytes: 524288,
      failedAuthenticationDelayMs: 100,
      fakeSaltKey: Buffer.alloc(32, 7),
      now: () => now,
      ...extra,
    });
  }
  /** A request frame without its size prefix (what the connection hands over). */
  const frame = (apiKey: number, version: number, body: unknown, id = 1): Buffer => encodeRequest(apiKey, version, id, body).subarray(4);
  const step = (s: SaslServerAuthenticator, f: Buffer): AuthStep => s.handle(f) as AuthStep;
  const body = <T>(st: AuthStep, apiKey: number, version: number): T => decodeResponse<T>(st.response!, apiKey, version).body;

  it('PLAIN with SaslHandshake v1 and SaslAuthenticate: ApiVersions first passes through, the right password authenticates', () => {
    const s = server();
    expect(s.wants(frame(18, 3, { clientSoftwareName: 'x', clientSoftwareVersion: '1' }))).toBe(true);
    expect(step(s, frame(18, 3, { clientSoftwareName: 'x', clientSoftwareVersion: '1' })).passThrough).toBe(true);
    const hs = step(s, frame(17, 1, { mechanism: 'PLAIN' }));
    expect(body<{ errorCode: number; mechanisms: string[] }>(hs, 17, 1)).toEqual({ errorCode: 0, mechanisms: ['PLAIN', 'SCRAM-SHA-512'] });
    const auth = step(s, frame(36, 2, { authBytes: Buffer.from('\0alice\0alice-secret') }));
    expect(auth.failure).toBeUndefined();
    expect(body<{ errorCode: number }>(auth, 36, 2).errorCode).toBe(0);
    expect(s.principal).toEqual({ principalType: 'User', name: 'alice' });
    expect(s.maxReceiveBytes).toBeNull();
    expect(s.wants(frame(3, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }))).toBe(false);
  });

  it('PLAIN with a wrong password fails with SASL_AUTHENTICATION_FAILED, after the delay, naming no password', () => {
    const s = server();
    step(s, frame(17, 1, { mechanism: 'PLAIN' }));
    const auth = step(s, frame(36, 1, { authBytes: Buffer.from('\0alice\0wrong-one') }));
    expect(auth.failure?.delayMs).toBe(100);
    expect(auth.failure?.reason).not.toContain('wrong-one');
    const b = body<{ errorCode: number; errorMessage: string }>(auth, 36, 1);
    expect(b).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: 'Authentication failed: Invalid username or password' });
    expect(s.principal.name).toBe('ANONYMOUS');
  });

  it('SaslHandshake v0 (kafka-python): raw size-prefixed tokens, no error response on failure', () => {
    const ok = server();
    step(ok, frame(17, 0, { mechanism: 'PLAIN' }));
    const raw = step(ok, Buffer.from('\0alice\0alice-secret'));
    expect(raw.response).toEqual(Buffer.alloc(4)); // an empty token, size-prefixed
    expect(ok.principal.name).toBe('alice');
    const bad = server();
    step(bad, frame(17, 0, { mechanism: 'PLAIN' }));
    const failed = step(bad, Buffer.from('\0alice\0nope'));
    expect(failed.failure).toBeDefined();
    expect(failed.response).toBeNull();
  });

  it('SCRAM-SHA-512: a known user authenticates and gets the server signature; an unknown user fails only at the proof', () => {
    const s = server();
    step(s, frame(17, 1, { mechanism: 'SCRAM-SHA-512' }));
    const client = new ScramClient(scram512, 'bob', 'bob-secret');
    const first = step(s, frame(36, 2, { authBytes: Buffer.from(client.first()) }));
    const serverFirst = body<{ authBytes: Buffer }>(first, 36, 2).authBytes.toString();
    const final = step(s, frame(36, 2, { authBytes: Buffer.from(client.final(serverFirst)) }));
    const f = body<{ errorCode: number; authBytes: Buffer }>(final, 36, 2);
    expect(f.errorCode).toBe(0);
    client.verifyServerFinal(f.authBytes.toString());
    expect(s.principal.name).toBe('bob');

    const u = server();
    step(u, frame(17, 1, { mechanism: 'SCRAM-SHA-512' }));
    const ghost = new ScramClient(scram512, 'ghost', 'whatever');
    const gFirst = step(u, frame(36, 2, { authBytes: Buffer.from(ghost.first()) }));
    expect(gFirst.failure).toBeUndefined(); // looks like any other user so far
    const gFinal = step(u, frame(36, 2, { authBytes: Buffer.from(ghost.final(body<{ authBytes: Buffer }>(gFirst, 36, 2).authBytes.toString())) }));
    expect(body<{ errorCode: number; errorMessage: string }>(gFinal, 36, 2)).toMatchObject({
      errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED,
      errorMessage: 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
    });
  });

  it('refuses an unknown mechanism (listing the enabled ones) and any request before the handshake', () => {
    const s = server();
    const hs = step(s, frame(17, 1, { mechanism: 'GSSAPI' }));
    expect(body<{ errorCode: number; mechanisms: string[] }>(hs, 17, 1)).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ['PLAIN', 'SCRAM-SHA-512'] });
    expect(hs.failure).toBeDefined();
    const early = step(server(), frame(3, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }));
    expect(early.failure?.reason).toMatch(/unexpected request \(API key 3\) during the SASL handshake/);
    expect(early.response).toBeNull();
  });

  it('re-authenticates within the session (KIP-368), and refuses a change of principal', () => {
    const s = server({ reauthMs: 60_000 });
    step(s, frame(17, 1, { mechanism: 'PLAIN' }));
    const auth = step(s, frame(36, 1, { authBytes: Buffer.from('\0alice\0alice-secret') }));
    expect(body<{ sessionLifetimeMs: number }>(auth, 36, 1).sessionLifetimeMs).toBe(60_000);
    expect(s.expired(now + 59_000)).toBe(false);
    expect(s.expired(now + 61_000)).toBe(true);
    now += 30_000;
    const hs = frame(17, 1, { mechanism: 'PLAIN' });
    expect(s.wants(hs)).toBe(true);
    step(s, hs);
    const again = step(s, frame(36, 1, { authBytes: Buffer.from('\0alice\0alice-secret') }));
    expect(body<{ errorCode: number }>(again, 36, 1).errorCode).toBe(0);
    expect(s.expired(now + 59_000)).toBe(false); // a new session
    now += 30_000;
    s.wants(hs);
    step(s, hs);
    const other = new PlainUsers(new Map([['x', 'y']]));
    expect(other.size).toBe(1);
    const changed = step(s, frame(36, 1, { authBytes: Buffer.from('\0alice\0wrong') }));
    expect(changed.failure).toBeDefined();
  });

  it('without a session end a SaslHandshake after authentication goes to the request handlers (ILLEGAL_SASL_STATE)', () => {
    const s = server();
    step(s, frame(17, 1, { mechanism: 'PLAIN' }));
    step(s, frame(36, 1, { authBytes: Buffer.from('\0alice\0alice-secret') }));
    expect(s.wants(frame(17, 1, { mechanism: 'PLAIN' }))).toBe(false);
    expect(s.expired(Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});
