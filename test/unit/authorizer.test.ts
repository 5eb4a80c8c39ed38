/**
 * The ACL authorizer on an in-memory registry: Kafka's decision rules (super users, literal, wildcard and prefixed
 * patterns, deny over allow, implied operations, hosts, allow.everyone.if.no.acl.found), ACLs stored in Kafka's
 * znodes with change notifications that a second broker's authorizer follows, and the API table covering every
 * API the broker serves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import { AclAuthorizer, parseSuperUsers } from '../../src/security/authorizer.js';
import { AclOperation as Op, PatternType, PermissionType, ResourceType as R, type AclBinding } from '../../src/security/acl.js';
import { userPrincipal } from '../../src/security/principal.js';
import { silentLogger } from '../../src/server/logger.js';
import { API_AUTHORIZATION } from '../../src/security/api-authorization.js';
import { Broker } from '../../src/broker/broker.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { waitFor } from '../helpers/wait.js';

const stores: EmbeddedRegistryStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function authorizers(n: number, opts: { superUsers?: string; allowEveryone?: boolean } = {}): Promise<AclAuthorizer[]> {
  const store = await EmbeddedRegistryStore.open({});
  stores.push(store);
  const out: AclAuthorizer[] = [];
  for (let i = 0; i < n; i++) {
    const a = new AclAuthorizer(store.connect(), { superUsers: parseSuperUsers(opts.superUsers), allowEveryoneIfNoAclFound: opts.allowEveryone ?? false }, silentLogger);
    await a.start();
    out.push(a);
  }
  return out;
}

const alice = userPrincipal('alice');
const bob = userPrincipal('bob');
const HOST = '10.0.0.7';

function acl(over: Partial<AclBinding>): AclBinding {
  return { resourceType: R.TOPIC, name: 'orders', patternType: PatternType.LITERAL, principal: 'User:alice', host: '*', operation: Op.READ, permissionType: PermissionType.ALLOW, ...over };
}

describe('AclAuthorizer', () => {
  it('refuses without ACLs, allows super users, and allows everyone on resources without ACLs only when configured', async () => {
    const [a] = await authorizers(1, { superUsers: 'User:admin; User:broker' });
    expect(a!.authorize(alice, HOST, Op.READ, R.TOPIC, 'orders')).toBe(false);
    expect(a!.authorize(userPrincipal('admin'), HOST, Op.ALTER, R.CLUSTER, 'kafka-cluster')).toBe(true);
    expect(a!.authorize(userPrincipal('broker'), HOST, Op.CLUSTER_ACTION, R.CLUSTER, 'kafka-cluster')).toBe(true);
    const [open] = await authorizers(1, { allowEveryone: true });
    expect(open!.authorize(alice, HOST, Op.WRITE, R.TOPIC, 'orders')).toBe(true);
    await open!.create([acl({ principal: 'User:bob' })]);
    // the topic now has an ACL: nobody else may
    expect(open!.authorize(alice, HOST, Op.READ, R.TOPIC, 'orders')).toBe(false);
    expect(open!.authorize(alice, HOST, Op.READ, R.TOPIC, 'other')).toBe(true);
  });

  it('applies literal, wildcard and prefixed patterns; implied operations; hosts; deny over allow', async () => {
    const [a] = await authorizers(1);
    await a!.create([
      acl({ operation: Op.WRITE }),
      acl({ name: '*', principal: 'User:bob', operation: Op.READ }),
      acl({ name: 'app-', patternType: PatternType.PREFIXED, operation: Op.ALL }),
      acl({ name: 'app-secret', operation: Op.READ, permissionType: PermissionType.DENY }),
      acl({ name: 'near', host: '10.0.0.7', operation: Op.READ }),
      acl({ resourceType: R.TOPIC, name: 'cfg', operation: Op.ALTER_CONFIGS }),
    ]);
    expect(a!.authorize(alice, HOST, Op.WRITE, R.TOPIC, 'orders')).toBe(true);
    expect(a!.authorize(alice, HOST, Op.DESCRIBE, R.TOPIC, 'orders')).toBe(true); // Write implies Describe
    expect(a!.authorize(alice, HOST, Op.READ, R.TOPIC, 'orders')).toBe(false);
    expect(a!.authorize(bob, HOST, Op.READ, R.TOPIC, 'anything')).toBe(true); // literal '*'
    expect(a!.authorize(alice, HOST, Op.DELETE, R.TOPIC, 'app-1')).toBe(true); // prefix, All
    expect(a!.authorize(alice, HOST, Op.DELETE, R.TOPIC, 'ap')).toBe(false);
    expect(a!.authorize(alice, HOST, Op.READ, R.TOPIC, 'app-secret')).toBe(false); // deny wins over the prefixed All
    expect(a!.authorize(alice, HOST, Op.WRITE, R.TOPIC, 'app-secret')).toBe(true);
    expect(a!.authorize(alice, '10.0.0.7', Op.READ, R.TOPIC, 'near')).toBe(true);
    expect(a!.authorize(alice, '10.0.0.8', Op.READ, R.TOPIC, 'near')).toBe(false);
    expect(a!.authorize(alice, HOST, Op.DESCRIBE_CONFIGS, R.TOPIC, 'cfg')).toBe(true); // AlterConfigs implies DescribeConfigs
    expect(a!.authorize(alice, HOST, Op.READ, R.GROUP, 'orders')).toBe(false); // another resource type
    expect(a!.authorizedOperations(alice, HOST, R.TOPIC, 'orders')).toBe((1 << Op.WRITE) | (1 << Op.DESCRIBE));
    expect(a!.authorizeByResourceType(alice, HOST, Op.WRITE, R.TOPIC)).toBe(true);
    expect(a!.authorizeByResourceType(bob, HOST, Op.WRITE, R.TOPIC)).toBe(false);
  });

  it('stores ACLs in Kafka\'s znodes with change notifications, which another broker\'s authorizer follows', async () => {
    const [a, b] = await authorizers(2);
    await a!.create([acl({}), acl({ name: 'app-', patternType: PatternType.PREFIXED, principal: 'User:bob', operation: Op.WRITE })]);
    await waitFor(() => b!.authorize(alice, HOST, Op.READ, R.TOPIC, 'orders') && b!.authorize(bob, HOST, Op.WRITE, R.TOPIC, 'app-x'), { message: 'the second authorizer to see the new ACLs' });
    const registry = stores[0]!.connect();
    const literal = await registry.get('/kafka-acl/Topic/orders');
    expect(JSON.parse(literal!.data!.toString())).toEqual({ version: 1, acls: [{ principal: 'User:alice', permissionType: 'Allow', operation: 'Read', host: '*' }] });
    const prefixed = await registry.get('/kafka-acl-extended/prefixed/Topic/app-');
    expect(JSON.parse(prefixed!.data!.toString()).acls[0]).toEqual({ principal: 'User:bob', permissionType: 'Allow', operation: 'Write', host: '*' });
    const literalChanges = (await registry.children('/kafka-acl-changes'))!;
    expect((await registry.get(`/kafka-acl-changes/${literalChanges[0]}`))!.data!.toString()).toBe('TOPIC:orders');
    const extendedChanges = (await registry.children('/kafka-acl-extended-changes'))!;
    expect(JSON.parse((await registry.get(`/kafka-acl-extended-changes/${extendedChanges[0]}`))!.data!.toString())).toEqual({ version: 1, resourceType: 'TOPIC', name: 'app-', patternType: 'PREFIXED' });

    const removed = await a!.delete([{ resourceType: R.ANY, name: null, patternType: PatternType.ANY, principal: 'User:alice', host: null, operation: Op.ANY, permissionType: PermissionType.ANY }]);
    expect(removed).toEqual([{ removed: [acl({})] }]);
    expect(await registry.get('/kafka-acl/Topic/orders')).toBeNull(); // the last ACL took its node along
    await waitFor(() => !b!.authorize(alice, HOST, Op.READ, R.TOPIC, 'orders'), { message: 'the second authorizer to see the removal' });
    await registry.close();
  });

  it('describes with filters: ANY, MATCH (what applies to a name), exact', async () => {
    const [a] = await authorizers(1);
    await a!.create([acl({}), acl({ name: '*', operation: Op.WRITE }), acl({ name: 'ord', patternType: PatternType.PREFIXED, operation: Op.DELETE }), acl({ name: 'x' })]);
    const f = { resourceType: R.TOPIC, principal: null, host: null, operation: Op.ANY, permissionType: PermissionType.ANY };
    expect(a!.describe({ ...f, name: 'orders', patternType: PatternType.MATCH }).map((b) => b.name).sort()).toEqual(['*', 'ord', 'orders']);
    expect(a!.describe({ ...f, name: 'orders', patternType: PatternType.LITERAL }).map((b) => b.name)).toEqual(['orders']);
    expect(a!.describe({ ...f, name: null, patternType: PatternType.ANY })).toHaveLength(4);
  });
});

describe('API authorization table', () => {
  it('has a rule for every API the broker serves', async () => {
    const store = await EmbeddedRegistryStore.open({});
    stores.push(store);
    const config = brokerConfigFromProperties({ 'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer' });
    const broker = new Broker({
      brokerId: 0,
      listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 0, securityProtocol: 'PLAINTEXT' }],
      logDirs: [],
      registry: store.connect(),
      numPartitions: 1,
      defaultReplicationFactor: 1,
      autoCreateTopicsEnable: true,
      deleteTopicEnable: true,
      socketRequestMaxBytes: 1 << 20,
      logDefaults: {},
      brokerConfig: config,
      logger: silentLogger,
    });
    expect(broker.authorizer).not.toBeNull();
    const missing = [...broker.apiHandlers.keys()].filter((k) => !API_AUTHORIZATION.has(k));
    expect(missing).toEqual([]);
    for (const [key, rule] of API_AUTHORIZATION) expect(rule.checks.length, `API ${key}`).toBeGreaterThan(0);
  });
});
