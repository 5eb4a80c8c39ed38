/**
 * Reconciliation is level-triggered and scoped (src/broker/reconciler.ts): a change to one topic's partition
 * state makes the broker re-read that topic only, a stale (older epoch) state never demotes a replica, and a
 * controller elected while the broker looks for one is not missed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import type { Registry } from '../../src/registry/registry.js';
import { silentLogger } from '../../src/server/logger.js';
import { Reconciler } from '../../src/broker/reconciler.js';
import { MetadataCache } from '../../src/cluster/metadata-cache.js';
import type { ReplicaManager } from '../../src/replication/replica-manager.js';
import type { LogManager } from '../../src/log/log-manager.js';
import { controllerPath, encodeController } from '../../src/registry/paths.js';
import { makeTempDir, registerCleanup, waitFor } from '../helpers/index.js';
import { writePartitionState } from '../helpers/replication-cluster.js';

registerCleanup();

let store: EmbeddedRegistryStore;
let broker: RunningBroker;
let admin: Registry;
const reads: string[] = [];

/** A registry session that records every path it reads. */
function recording(inner: Registry): Registry {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if ((prop === 'get' || prop === 'children' || prop === 'exists') && typeof v === 'function') {
        return (p: string, ...rest: unknown[]) => {
          reads.push(p);
          return (v as (...a: unknown[]) => unknown).call(target, p, ...rest);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

beforeAll(async () => {
  store = EmbeddedRegistryStore.inMemory();
  admin = store.connect();
  const config = brokerConfigFromProperties({ 'broker.id': '0', listeners: 'PLAINTEXT://127.0.0.1:0', 'log.dirs': path.join(makeTempDir('kfk-reconciler-'), 'logs') });
  broker = await launchBroker(config, { logger: silentLogger, registry: recording(store.connect()) });
  for (const name of ['alpha', 'beta', 'gamma', 'delta']) {
    const r = await broker.broker.controller.createTopic({ name, numPartitions: 2, replicationFactor: 1 });
    expect(r.errorCode).toBe(0);
  }
});

afterAll(async () => {
  await broker?.stop();
  await admin?.close();
  await store?.close();
});

describe('scoped reconciliation', () => {
  it("re-reads only the topic whose partition state changed", async () => {
    await broker.broker.reconcile();
    reads.length = 0;
    const next = await writePartitionState(admin, 'gamma', 1, (s) => ({ leaderEpoch: s.leaderEpoch + 1 }));
    await waitFor(() => broker.broker.replicaManager.getPartition('gamma', 1)!.leaderEpoch === next.leaderEpoch, { message: 'gamma-1 at the new epoch' });
    await waitFor(() => broker.broker.metadata.partition('gamma', 1)?.leaderEpoch === next.leaderEpoch);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((p) => !p.includes('/gamma'))).toEqual([]);
    expect(broker.broker.metadata.partition('gamma', 1)?.leaderEpoch).toBe(next.leaderEpoch);
  });

  it('ignores a state with an older leader epoch than the one applied', async () => {
    const p = broker.broker.replicaManager.getPartition('beta', 0)!;
    await writePartitionState(admin, 'beta', 0, (s) => ({ leaderEpoch: s.leaderEpoch + 5 }));
    await waitFor(() => p.leaderEpoch === 5, { message: 'beta-0 at epoch 5' });
    // A stale state (as a lagging read would show) naming no leader at an older epoch changes nothing.
    await writePartitionState(admin, 'beta', 0, () => ({ leader: -1, leaderEpoch: 2 }));
    await broker.broker.reconcileTopic('beta');
    expect(p.isLeader).toBe(true);
    expect(p.leaderEpoch).toBe(5);
  });
});

describe('the controller znode', () => {
  it('a controller elected between reading /controller (none) and watching it is found, not taken for none', async () => {
    const elector = store.connect();
    let elected = false;
    // A session whose first read of /controller finds none, and the controller is elected right after it.
    const racing = new Proxy(store.connect(), {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === 'get' && typeof v === 'function') {
          return async (p: string, ...rest: unknown[]) => {
            const node = await (v as (...a: unknown[]) => Promise<unknown>).call(target, p, ...rest);
            if (p === controllerPath && node === null && !elected) {
              elected = true;
              await elector.create(controllerPath, encodeController({ brokerId: 7, timestamp: Date.now() }), 'ephemeral');
            }
            return node;
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Registry;
    // The broker of this file holds /controller; free it so that the race can happen.
    await broker.stop();
    const metadata = new MetadataCache();
    const reconciler = new Reconciler({
      registry: racing,
      brokerId: 3,
      metadata,
      replicaManager: { onBrokersChanged: async () => {}, hostedPartitions: () => [], getPartition: () => undefined } as unknown as ReplicaManager,
      logManager: { allLogs: () => [], getLog: () => undefined } as unknown as LogManager,
      logDefaults: {},
      minInsyncReplicas: 1,
      groupCoordinator: () => null,
      logger: silentLogger,
      isStopped: () => false,
    });
    try {
      expect(await racing.exists(controllerPath)).toBeNull();
      await reconciler.reconcileAll();
      expect(elected).toBe(true);
      expect(metadata.controllerId).toBe(7);
      // And its watch is armed: the controller's resignation is seen.
      await elector.delete(controllerPath, -1);
      await waitFor(() => metadata.controllerId === -1, { message: 'the resignation seen' });
    } finally {
      reconciler.stop();
      await racing.close();
      await elector.close();
    }
  });
});
