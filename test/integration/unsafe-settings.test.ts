/**
 * `kfk server start` refuses settings whose silent ignoring would weaken safety: exit code 1, one line on
 * stderr naming the setting, and nothing created in the data directory (docs/limits.md, "Refused settings"):
 * also a TLS or SASL listener that cannot be secured as configured (no keystore, a JKS store, GSSAPI).
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort, kfk, makeTempDir } from '../helpers/index.js';

describe('server start refuses unsafe settings', () => {
  it('an unsecurable SSL or SASL listener, an authorizer, ZooKeeper ACLs', async () => {
    const port = await freePort();
    const ssl = ['--override', `listeners=PLAINTEXT://127.0.0.1:${port},SSL://127.0.0.1:${port + 1}`, '--override', 'inter.broker.listener.name=PLAINTEXT'];
    const cases: [string[], RegExp][] = [
      [ssl, /^Error: listener SSL \(SSL\) needs a certificate: set ssl\.keystore\.location/],
      [[...ssl, '--override', 'ssl.keystore.location=/etc/kafka/broker.jks'], /^Error: Invalid value JKS for configuration ssl\.keystore\.type: not supported \(JKS is Kafka's default when ssl\.keystore\.type is not set\): .*keytool/],
      [
        ['--override', `listeners=SASL_PLAINTEXT://127.0.0.1:${port}`, '--override', 'security.inter.broker.protocol=SASL_PLAINTEXT'],
        /^Error: Invalid value GSSAPI for configuration sasl\.enabled\.mechanisms: not supported: GSSAPI \(GSSAPI is Kafka's default when sasl\.enabled\.mechanisms is not set\)/,
      ],
      [
        ['--override', `listeners=SASL_PLAINTEXT://127.0.0.1:${port}`, '--override', 'security.inter.broker.protocol=SASL_PLAINTEXT', '--override', 'sasl.enabled.mechanisms=PLAIN'],
        /^Error: listener SASL_PLAINTEXT enables PLAIN but listener\.name\.sasl_plaintext\.plain\.sasl\.jaas\.config is not set/,
      ],
      [
        ['--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', 'authorizer.class.name=com.example.LdapAuthorizer'],
        /^Error: Invalid value com\.example\.LdapAuthorizer for configuration authorizer\.class\.name: not supported: kfk cannot load Java classes/,
      ],
      [
        ['--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', 'zookeeper.set.acl=true'],
        /^Error: Invalid value true for configuration zookeeper\.set\.acl: not supported/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const dataDir = makeTempDir('kfk-refused');
      const r = await kfk(['server', 'start', '--override', `log.dirs=${dataDir}`, ...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stdout).not.toMatch(/started/);
      expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
    }
  });
});
