/**
 * `kfk server start` refuses settings whose silent ignoring would weaken safety: exit code 1, one line on
 * stderr naming the setting, and nothing created in the data directory (docs/limits.md, "Refused settings").
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort, kfk, makeTempDir } from '../helpers/index.js';

describe('server start refuses unsafe settings', () => {
  it('an SSL or SASL listener, an authorizer, ZooKeeper ACLs', async () => {
    const port = await freePort();
    const cases: [string[], RegExp][] = [
      [['--override', `listeners=SSL://127.0.0.1:${port}`], /^Error: Invalid value SSL:\/\/127\.0\.0\.1:\d+ for configuration listeners: not supported: listener SSL uses security protocol SSL/],
      [
        ['--override', `listeners=SASL_PLAINTEXT://127.0.0.1:${port}`, '--override', 'security.inter.broker.protocol=SASL_PLAINTEXT'],
        /^Error: Invalid value SASL_PLAINTEXT:\/\/127\.0\.0\.1:\d+ for configuration listeners: not supported: .*SASL_PLAINTEXT/,
      ],
      [
        ['--override', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--override', 'authorizer.class.name=kafka.security.authorizer.AclAuthorizer'],
        /^Error: Invalid value kafka\.security\.authorizer\.AclAuthorizer for configuration authorizer\.class\.name: not supported: kfk has no authorizer/,
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
