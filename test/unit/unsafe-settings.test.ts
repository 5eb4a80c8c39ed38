/**
 * Settings kfk refuses at start-up because ignoring them would weaken safety (docs/limits.md), and the ones it
 * must not refuse.
 */
import { describe, expect, it } from 'vitest';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { ConfigError } from '../../src/config/config-def.js';
import { refuseUnsafeProperties, refuseUnsafeSettings, unsafeProperties, unsafeSettings } from '../../src/config/unsafe-settings.js';

/** What both checks refuse: the raw one (start-up, before validation) and the typed one (launchBroker). */
function refused(props: Record<string, string>): string[] {
  const raw = unsafeProperties(props).map((r) => r.key);
  let typed: string[] | null = null;
  try {
    typed = unsafeSettings(brokerConfigFromProperties(props)).map((r) => r.key);
  } catch {
    // Kafka's validation refuses some of these configs anyway (e.g. no PLAINTEXT listener for inter-broker)
  }
  if (typed !== null) expect(typed).toEqual(raw);
  return raw;
}

describe('unsafe settings', () => {
  it('leaves listeners to the listener security checks (TLS and SASL are honoured)', () => {
    expect(refused({ listeners: 'SSL://127.0.0.1:9093', 'security.inter.broker.protocol': 'SSL' })).toEqual([]);
    expect(refused({ listeners: 'SASL_SSL://:9095', 'security.inter.broker.protocol': 'SASL_SSL' })).toEqual([]);
  });

  it('refuses an authorizer it cannot run, topic and config policies, ZooKeeper ACLs and ZooKeeper TLS', () => {
    expect(refused({ 'authorizer.class.name': 'com.example.LdapAuthorizer' })).toEqual(['authorizer.class.name']);
    for (const honoured of ['kafka.security.authorizer.AclAuthorizer', 'kafka.security.auth.SimpleAclAuthorizer', 'org.apache.kafka.metadata.authorizer.StandardAuthorizer']) {
      expect(refused({ 'authorizer.class.name': honoured })).toEqual([]);
    }
    expect(refused({ 'create.topic.policy.class.name': 'com.example.Policy' })).toEqual(['create.topic.policy.class.name']);
    expect(refused({ 'alter.config.policy.class.name': 'com.example.Policy' })).toEqual(['alter.config.policy.class.name']);
    expect(refused({ 'zookeeper.set.acl': 'true' })).toEqual(['zookeeper.set.acl']);
    expect(refused({ 'zookeeper.ssl.client.enable': 'true' })).toEqual(['zookeeper.ssl.client.enable']);
  });

  it('accepts the defaults, empty or false values, and settings that only matter with what it refuses', () => {
    expect(refused({})).toEqual([]);
    expect(
      refused({
        'authorizer.class.name': '',
        'zookeeper.set.acl': 'false',
        'zookeeper.ssl.client.enable': 'false',
        'ssl.client.auth': 'required',
        'sasl.enabled.mechanisms': 'PLAIN',
        'super.users': 'User:admin',
        // honoured by replication: never refused
        'min.insync.replicas': '2',
        'unclean.leader.election.enable': 'true',
      }),
    ).toEqual([]);
  });

  it('names the setting in one line', () => {
    let err: unknown;
    try {
      refuseUnsafeProperties({ 'zookeeper.set.acl': 'true' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as ConfigError).message;
    expect(msg).toMatch(/^Invalid value true for configuration zookeeper\.set\.acl: not supported: kfk creates znodes with open ACLs/);
    expect(msg).not.toContain('\n');
    expect((err as ConfigError).key).toBe('zookeeper.set.acl');
    expect(() => refuseUnsafeSettings(brokerConfigFromProperties({ 'authorizer.class.name': 'X' }))).toThrow(
      /^Invalid value X for configuration authorizer\.class\.name: not supported: kfk cannot load Java classes; its ACL authorizer is kafka\.security\.authorizer\.AclAuthorizer/,
    );
  });
});
