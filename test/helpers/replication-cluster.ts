/**
 * Several real brokers in this test process sharing one EmbeddedRegistryStore (each with its own registry
 * session, listener on 127.0.0.1 and temp log dir), for replication tests; a fault injection that stalls a
 * broker's replication; and the registry writes a controller makes (leader epoch + 1, fenced by
 * /controller_epoch), for tests of one broker's reconciliation without a cluster around it.
 */
import path from 'node:path';
import { vi } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import { brokerConfigFromProperties } from '../../src/config/broker-config.js';
import { launchBroker, type RunningBroker } from '../../src/broker/launch.js';
import { EmbeddedRegistryStore } from '../../src/registry/embedded.js';
import type { Registry } from '../../src/registry/registry.js';
import {
  controllerEpochPath,
  decodePartitionState,
  encodePartitionState,
  partitionStatePath,
  type PartitionState,
} from '../../src/registry/paths.js';
import { createLogger, silentLogger } from '../../src/server/logger.js';
import { makeTempDir } from './tmp.js';

export interface InProcessCluster {
  readonly store: EmbeddedRegistryStore;
  /** Running brokers by id. */
  readonly running: Map<number, RunningBroker>;
  /** The broker's (first) log dir; more, with `logDirs`, are `<dataDir>-1`, `<dataDir>-2`, ... */
  dataDir(id: number): string;
  port(id: number): number;
  /** host:port of every running broker. */
  bootstrap(): string;
  /** Starts (or restarts, on the same port and data dir) broker `id`. */
  start(id: number): Promise<RunningBroker>;
  /** Stops broker `id` cleanly (its registration goes away, as when a broker shuts down). */
  stop(id: number): Promise<void>;
  /**
   * Kills broker `id` as kill -9 would (Broker.kill: its registry session ends, nothing is flushed, no
   * clean-shutdown marker), so that `start(id)` recovers its logs.
   */
  kill(id: number): Promise<void>;
  /** A registry session of the test's own (the controller's writes). */
  readonly admin: Registry;
  close(): Promise<void>;
}

export async function startInProcessCluster(opts: {
  brokers: number;
  config?: Record<string, string>;
  /** Wraps each broker's registry session (tests that record what a broker reads). */
  wrapRegistry?: (brokerId: number, registry: Registry) => Registry;
  /** Log dirs per broker (default 1): `logs`, `logs-1`, ... under the broker's temp dir. */
  logDirs?: number;
}): Promise<InProcessCluster> {
  const store = EmbeddedRegistryStore.inMemory();
  const admin = store.connect();
  const running = new Map<number, RunningBroker>();
  const dirs = new Map<number, string>();
  const ports = new Map<number, number>();
  const verbose = process.env.KFK_TEST_VERBOSE === '1';
  const start = async (id: number): Promise<RunningBroker> => {
    if (running.has(id)) throw new Error(`broker ${id} is running`);
    let dir = dirs.get(id);
    if (dir === undefined) dirs.set(id, (dir = path.join(makeTempDir(`kfk-repl-${id}-`), 'logs')));
    const config = brokerConfigFromProperties({
      'broker.id': String(id),
      listeners: `PLAINTEXT://127.0.0.1:${ports.get(id) ?? 0}`,
      'log.dirs': Array.from({ length: opts.logDirs ?? 1 }, (_, i) => (i === 0 ? dir : `${dir}-${i}`)).join(','),
      'group.initial.rebalance.delay.ms': '0',
      ...opts.config,
    });
    const logger = verbose ? prefixed(`[broker ${id}] `) : silentLogger;
    const session = store.connect();
    const b = await launchBroker(config, { logger, registry: opts.wrapRegistry ? opts.wrapRegistry(id, session) : session });
    ports.set(id, b.port);
    running.set(id, b);
    return b;
  };
  const cluster: InProcessCluster = {
    store,
    running,
    admin,
    dataDir: (id) => dirs.get(id)!,
    port: (id) => ports.get(id)!,
    bootstrap: () => [...running.values()].map((b) => b.bootstrap).join(','),
    start,
    async stop(id) {
      const b = running.get(id);
      if (!b) return;
      running.delete(id);
      await b.stop();
    },
    async kill(id) {
      const b = running.get(id);
      if (!b) return;
      running.delete(id);
      await b.kill();
    },
    async close() {
      for (const id of [...running.keys()]) await cluster.stop(id);
      await admin.close().catch(() => undefined);
      await store.close();
    },
  };
  try {
    for (let id = 0; id < opts.brokers; id++) await start(id);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/**
 * Fault injection: the broker's followers stop fetching, as if the network to their leaders were cut, while the
 * broker stays registered and serves clients. Its leaders see it fall behind once they have records it lacks
 * (Kafka counts a follower with the leader's whole log as in sync) and shrink their ISRs after
 * replica.lag.time.max.ms; a replica a reassignment adds on it does not catch up; acks=all waits for it while it
 * is in an ISR. `release()` lets it fetch again: it catches up and its leaders take it back into their ISRs.
 */
export async function stallReplication(broker: Broker): Promise<{ release(): Promise<void> }> {
  const fetchers = broker.replicaManager.fetcherManager;
  const adding = vi.spyOn(fetchers, 'addPartition').mockImplementation(async () => undefined);
  await fetchers.shutdown();
  return {
    async release() {
      adding.mockRestore();
      // Level-triggered: a full pass finds every follower without a fetcher and starts one.
      await broker.reconcile();
    },
  };
}

function prefixed(prefix: string) {
  const l = createLogger('debug');
  return {
    debug: (m: string) => l.debug(prefix + m),
    info: (m: string) => l.info(prefix + m),
    warn: (m: string) => l.warn(prefix + m),
    error: (m: string) => l.error(prefix + m),
  };
}

/**
 * Writes a partition's state as the controller does: `change` maps the current state to the new one (the test
 * bumps leader_epoch when it moves leadership), written in one multi-op that checks /controller_epoch's version
 * and the state znode's version.
 */
export async function writePartitionState(
  registry: Registry,
  topic: string,
  partition: number,
  change: (current: PartitionState) => Partial<PartitionState>,
): Promise<PartitionState> {
  const statePath = partitionStatePath(topic, partition);
  for (;;) {
    const node = await registry.get(statePath);
    if (node === null) throw new Error(`no state for ${topic}-${partition}`);
    const epochNode = await registry.exists(controllerEpochPath);
    const current = decodePartitionState(node.data);
    const next: PartitionState = { ...current, ...change(current) };
    try {
      await registry.multi([
        ...(epochNode !== null ? [{ op: 'check' as const, path: controllerEpochPath, version: epochNode.version }] : []),
        { op: 'set', path: statePath, data: encodePartitionState(next), version: node.stat.version },
      ]);
      return next;
    } catch (err) {
      if ((err as { code?: string }).code !== 'BAD_VERSION') throw err;
    }
  }
}

export async function readPartitionState(registry: Registry, topic: string, partition: number): Promise<PartitionState & { version: number }> {
  const node = await registry.get(partitionStatePath(topic, partition));
  if (node === null) throw new Error(`no state for ${topic}-${partition}`);
  return { ...decodePartitionState(node.data), version: node.stat.version };
}
