import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { EmbeddedRegistryStore, REGISTRY_FILE_NAME } from '../../src/registry/embedded.js';
import {
  brokerIdPath,
  clusterIdPath,
  controllerEpochPath,
  controllerPath,
  decodeBrokerRegistration,
  decodeClusterId,
  decodeController,
  decodeControllerEpoch,
  decodeEntityConfig,
  decodePartitionState,
  decodeProducerIdBlock,
  decodeTopicAssignment,
  deleteTopicPath,
  encodeBrokerRegistration,
  encodeClusterId,
  encodeConfigChangeNotification,
  encodeController,
  encodeControllerEpoch,
  encodeEntityConfig,
  encodePartitionState,
  encodeProducerIdBlock,
  encodeTopicAssignment,
  ensureBasePaths,
  getOrCreateClusterId,
  isKafkaUuid,
  parseEndpoint,
  partitionStatePath,
  persistentPaths,
  randomKafkaUuid,
  topicConfigPath,
  topicPath,
} from '../../src/registry/paths.js';
import { RegistryError, type SessionEvent } from '../../src/registry/registry.js';
import { registryConformance } from '../registry-conformance.js';
import { cleanupTempDirs, makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

afterAll(async () => {
  await cleanupTempDirs();
});

registryConformance('EmbeddedRegistry (in memory)', async () => {
  const store = EmbeddedRegistryStore.inMemory();
  return { a: store.connect(), b: store.connect(), close: () => store.close() };
});

registryConformance('EmbeddedRegistry (durable, on disk)', async () => {
  const store = await EmbeddedRegistryStore.open({ dir: makeTempDir('kfk-test-registry-'), durable: true });
  return { a: store.connect(), b: store.connect(), close: () => store.close() };
});

registryConformance('EmbeddedRegistry (debounced, on disk)', async () => {
  const store = await EmbeddedRegistryStore.open({ dir: makeTempDir('kfk-test-registry-'), durable: false, flushDelayMs: 5 });
  return { a: store.connect(), b: store.connect(), close: () => store.close() };
});

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('EmbeddedRegistry persistence', () => {
  it('keeps persistent nodes across reopen, drops ephemeral ones, keeps zxids increasing', async () => {
    const dir = makeTempDir('kfk-test-registry-');
    const store1 = await EmbeddedRegistryStore.open({ dir });
    const r1 = store1.connect();
    await ensureBasePaths(r1);
    await r1.create('/brokers/topics/t', buf('{"version":3}'));
    await r1.create('/bin', Buffer.from([0xff, 0x00, 0xfe]));
    await r1.create(brokerIdPath(0), buf('{"broker":0}'), 'ephemeral');
    await r1.create('/config/changes/config_change_', buf('c'), 'persistent_sequential');
    const s = await r1.set('/brokers/topics/t', buf('{"version":3,"x":1}'));
    const eph = (await r1.exists(brokerIdPath(0)))!;
    const lastZxid = store1.lastZxid;
    const firstSession = r1.session.id;
    await store1.close();

    const file = path.join(dir, REGISTRY_FILE_NAME);
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('/brokers/topics/t');
    expect(text).not.toContain(brokerIdPath(0) + '"');

    const store2 = await EmbeddedRegistryStore.open({ dir });
    const r2 = store2.connect();
    expect(r2.session.id).toBeGreaterThan(firstSession);
    const t = await r2.get('/brokers/topics/t');
    expect(t?.data?.toString()).toBe('{"version":3,"x":1}');
    expect(t?.stat.version).toBe(1);
    expect(t?.stat.mzxid).toBe(s.mzxid);
    expect((await r2.get('/bin'))?.data).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
    expect(await r2.exists(brokerIdPath(0))).toBeNull();
    expect(await r2.children('/brokers/ids')).toEqual([]);
    for (const p of persistentPaths) expect(await r2.exists(p)).not.toBeNull();
    // Sequence numbers continue where they were.
    expect(await r2.create('/config/changes/config_change_', null, 'persistent_sequential')).toBe(
      '/config/changes/config_change_0000000001',
    );
    // The broker epoch (czxid) of a new registration is larger than any before the restart.
    await r2.create(brokerIdPath(0), null, 'ephemeral');
    const eph2 = (await r2.exists(brokerIdPath(0)))!;
    expect(eph2.czxid).toBeGreaterThan(eph.czxid);
    expect(eph2.czxid).toBeGreaterThan(lastZxid);
    await store2.close();
  });

  it('durable stores have each change on disk when the call resolves', async () => {
    const dir = makeTempDir('kfk-test-registry-');
    const store = await EmbeddedRegistryStore.open({ dir, durable: true });
    const r = store.connect();
    await Promise.all([r.create('/a', buf('1')), r.create('/b', buf('2')), r.create('/c', buf('3'))]);
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, REGISTRY_FILE_NAME), 'utf8')) as {
      nodes: { path: string; text?: string }[];
    };
    expect(onDisk.nodes.map((n) => n.path)).toEqual(['/', '/a', '/b', '/c']);
    expect(onDisk.nodes.find((n) => n.path === '/b')?.text).toBe('2');
    // Simulate a crash: no close(); a fresh store sees everything.
    const again = await EmbeddedRegistryStore.open({ dir });
    expect(await again.connect().children('/')).toEqual(['a', 'b', 'c']);
    await again.close();
    await store.close();
  });

  it('debounced stores flush on close', async () => {
    const dir = makeTempDir('kfk-test-registry-');
    const store = await EmbeddedRegistryStore.open({ dir, durable: false, flushDelayMs: 60_000 });
    const r = store.connect();
    await r.create('/late', buf('x'));
    expect(fs.existsSync(path.join(dir, REGISTRY_FILE_NAME))).toBe(false);
    await r.close();
    expect(fs.existsSync(path.join(dir, REGISTRY_FILE_NAME))).toBe(true);
    await store.close();
    const again = EmbeddedRegistryStore.openSync({ dir });
    expect((await again.connect().get('/late'))?.data?.toString()).toBe('x');
    await again.close();
  });

  it('rejects a corrupt registry file with a clear error', async () => {
    const dir = makeTempDir('kfk-test-registry-');
    fs.writeFileSync(path.join(dir, REGISTRY_FILE_NAME), '{not json');
    await expect(EmbeddedRegistryStore.open({ dir })).rejects.toThrow(/corrupt registry file/);
  });
});

describe('EmbeddedRegistry sessions', () => {
  it('expire() removes ephemerals, notifies listeners and fails later calls', async () => {
    const store = EmbeddedRegistryStore.inMemory();
    const a = store.connect();
    const b = store.connect();
    const events: SessionEvent[] = [];
    a.onSessionEvent((e) => events.push(e));
    await a.create('/controller', buf('{}'), 'ephemeral');
    let deleted = false;
    await b.exists('/controller', () => (deleted = true));
    a.expire();
    await waitFor(() => deleted && events.length > 0, { message: "the expired session's ephemeral deletion and session event" });
    expect(deleted).toBe(true);
    expect(events).toEqual([{ state: 'expired' }]);
    await expect(a.get('/controller')).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(await b.exists('/controller')).toBeNull();
    await a.close();
    await b.close();
    await expect(b.get('/')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(store.sessionCount).toBe(0);
    await store.close();
  });

  it('validates paths and data size', async () => {
    const store = EmbeddedRegistryStore.inMemory();
    const r = store.connect();
    for (const bad of ['', 'x', '/a/', '/a//b', '/a/./b', '/a/../b']) {
      await expect(r.create(bad, null)).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    }
    await expect(r.create('/big', Buffer.alloc(1024 * 1024))).rejects.toBeInstanceOf(RegistryError);
    await expect(r.delete('/')).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await store.close();
  });

  it('deleteRecursive of a subtree fires watches across it', async () => {
    const store = EmbeddedRegistryStore.inMemory();
    const a = store.connect();
    const b = store.connect();
    await a.mkdirp('/t/partitions/0');
    await a.create('/t/partitions/0/state', buf('{}'));
    const seen: string[] = [];
    await b.get('/t/partitions/0/state', (e) => seen.push(`${e.type} ${e.path}`));
    await b.children('/t', (e) => seen.push(`${e.type} ${e.path}`));
    await a.deleteRecursive('/t');
    await waitFor(() => seen.length >= 2, { message: 'the watches on the deleted subtree to fire' });
    // The child watch on /t is one-shot: the deletion of /t/partitions fires it first.
    expect(seen.sort()).toEqual(['children /t', 'deleted /t/partitions/0/state']);
    await store.close();
  });
});

describe('znode layout and JSON shapes (paths.ts)', () => {
  const json = (b: Buffer): unknown => JSON.parse(b.toString('utf8'));

  it('paths', () => {
    expect(brokerIdPath(3)).toBe('/brokers/ids/3');
    expect(topicPath('t')).toBe('/brokers/topics/t');
    expect(partitionStatePath('t', 2)).toBe('/brokers/topics/t/partitions/2/state');
    expect(controllerPath).toBe('/controller');
    expect(controllerEpochPath).toBe('/controller_epoch');
    expect(topicConfigPath('t')).toBe('/config/topics/t');
    expect(deleteTopicPath('t')).toBe('/admin/delete_topics/t');
    expect(clusterIdPath).toBe('/cluster/id');
    expect([...persistentPaths].sort()).toEqual(
      [
        '/consumers',
        '/brokers/ids',
        '/brokers/topics',
        '/config/changes',
        '/admin/delete_topics',
        '/brokers/seqid',
        '/isr_change_notification',
        '/latest_producer_id_block',
        '/log_dir_event_notification',
        '/config/topics',
        '/config/clients',
        '/config/users',
        '/config/brokers',
        '/config/ips',
      ].sort(),
    );
  });

  it('broker registration v5', () => {
    const data = encodeBrokerRegistration({
      id: 1,
      endpoints: [
        { listenerName: 'INTERNAL', host: 'h1', port: 9093, securityProtocol: 'SASL_PLAINTEXT' },
        { listenerName: 'EXTERNAL', host: '::1', port: 9092, securityProtocol: 'PLAINTEXT' },
      ],
      rack: 'r1',
      timestamp: 1700000000000,
      jmxPort: -1,
      features: {},
    });
    expect(json(data)).toEqual({
      version: 5,
      host: '::1',
      port: 9092,
      jmx_port: -1,
      timestamp: '1700000000000',
      endpoints: ['INTERNAL://h1:9093', 'EXTERNAL://[::1]:9092'],
      listener_security_protocol_map: { INTERNAL: 'SASL_PLAINTEXT', EXTERNAL: 'PLAINTEXT' },
      rack: 'r1',
      features: {},
    });
    const back = decodeBrokerRegistration(1, data);
    expect(back.endpoints[1]).toEqual({ listenerName: 'EXTERNAL', host: '::1', port: 9092, securityProtocol: 'PLAINTEXT' });
    expect(back.timestamp).toBe(1700000000000);
    expect(back.rack).toBe('r1');

    const noPlain = json(
      encodeBrokerRegistration({
        id: 2,
        endpoints: [{ listenerName: 'SSL', host: 'h', port: 9094, securityProtocol: 'SSL' }],
        rack: null,
        timestamp: 1,
        jmxPort: -1,
        features: {},
      }),
    ) as Record<string, unknown>;
    expect(noPlain.host).toBeNull();
    expect(noPlain.port).toBe(-1);
    expect('rack' in noPlain).toBe(false);

    // Kafka 0.11 (v4) and 0.9 (v1) registrations decode too.
    const v4 = decodeBrokerRegistration(
      0,
      buf(
        '{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://localhost:9092"],"jmx_port":-1,"host":"localhost","timestamp":"1500000000000","port":9092,"version":4}',
      ),
    );
    expect(v4.endpoints).toEqual([{ listenerName: 'PLAINTEXT', host: 'localhost', port: 9092, securityProtocol: 'PLAINTEXT' }]);
    const v1 = decodeBrokerRegistration(0, buf('{"jmx_port":-1,"timestamp":"1","host":"h","version":1,"port":9092}'));
    expect(v1.endpoints[0]).toMatchObject({ host: 'h', port: 9092, securityProtocol: 'PLAINTEXT' });
    expect(parseEndpoint('PLAINTEXT://:9092')).toEqual({ listenerName: 'PLAINTEXT', host: '', port: 9092 });
  });

  it('topic assignment v3', () => {
    const id = randomKafkaUuid();
    const data = encodeTopicAssignment({ partitions: new Map([[1, [1, 2]], [0, [0, 1]]]), topicId: id });
    expect(json(data)).toEqual({
      version: 3,
      topic_id: id,
      partitions: { '0': [0, 1], '1': [1, 2] },
      adding_replicas: {},
      removing_replicas: {},
    });
    const back = decodeTopicAssignment('t', data);
    expect([...back.partitions]).toEqual([
      [0, [0, 1]],
      [1, [1, 2]],
    ]);
    expect(back.topicId).toBe(id);
    const old = decodeTopicAssignment('t', buf('{"version":1,"partitions":{"0":[0]}}'));
    expect(old.topicId).toBeNull();
    expect(old.addingReplicas.size).toBe(0);
    expect(() => decodeTopicAssignment('t', buf('nope'))).toThrow(/topic t assignment/);
  });

  it('partition state, controller, controller epoch, cluster id, configs', () => {
    const ps = encodePartitionState({ controllerEpoch: 1, leader: 0, leaderEpoch: 0, isr: [0] });
    expect(ps.toString()).toBe('{"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}');
    expect(decodePartitionState(ps)).toEqual({ controllerEpoch: 1, leader: 0, leaderEpoch: 0, isr: [0] });
    expect(json(encodePartitionState({ controllerEpoch: 2, leader: -1, leaderEpoch: 3, isr: [], leaderRecoveryState: 1 }))).toEqual({
      controller_epoch: 2,
      leader: -1,
      version: 1,
      leader_epoch: 3,
      isr: [],
      leader_recovery_state: 1,
    });

    expect(json(encodeController({ brokerId: 2, timestamp: 1700000000000 }))).toEqual({
      version: 1,
      brokerid: 2,
      timestamp: '1700000000000',
    });
    expect(decodeController(buf('{"version":2,"brokerid":0,"timestamp":"5","kraftControllerEpoch":-1}'))).toEqual({
      brokerId: 0,
      timestamp: 5,
      kraftControllerEpoch: -1,
    });

    expect(encodeControllerEpoch(7).toString()).toBe('7');
    expect(decodeControllerEpoch(buf('12'))).toBe(12);

    const cid = randomKafkaUuid();
    expect(isKafkaUuid(cid)).toBe(true);
    expect(cid.startsWith('-')).toBe(false);
    expect(json(encodeClusterId(cid))).toEqual({ version: '1', id: cid });
    expect(decodeClusterId(encodeClusterId(cid))).toBe(cid);

    expect(json(encodeEntityConfig({ 'retention.ms': '86400000', 'cleanup.policy': 'compact' }))).toEqual({
      version: 1,
      config: { 'cleanup.policy': 'compact', 'retention.ms': '86400000' },
    });
    expect(decodeEntityConfig(buf('{"version":1,"config":{"segment.bytes":"1024"}}'))).toEqual({ 'segment.bytes': '1024' });
    expect(decodeEntityConfig(null)).toEqual({});
    expect(json(encodeConfigChangeNotification('topics', 't'))).toEqual({ version: 2, entity_path: 'topics/t' });

    const pib = encodeProducerIdBlock({ brokerId: 0, blockStart: 0, blockEnd: 999 });
    expect(json(pib)).toEqual({ version: 1, broker: 0, block_start: '0', block_end: '999' });
    expect(decodeProducerIdBlock(pib)).toEqual({ brokerId: 0, blockStart: 0, blockEnd: 999 });
  });

  it('ensureBasePaths and getOrCreateClusterId', async () => {
    const store = EmbeddedRegistryStore.inMemory();
    const a = store.connect();
    const b = store.connect();
    await ensureBasePaths(a);
    await ensureBasePaths(b);
    expect(await a.children('/config')).toEqual(['brokers', 'changes', 'clients', 'ips', 'topics', 'users']);
    const [x, y] = await Promise.all([getOrCreateClusterId(a), getOrCreateClusterId(b)]);
    expect(x).toBe(y);
    expect(isKafkaUuid(x)).toBe(true);
    expect(await getOrCreateClusterId(a, 'ignored-because-set')).toBe(x);
    await store.close();
  });
});
