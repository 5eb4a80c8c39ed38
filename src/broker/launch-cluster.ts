/**
 * Several brokers in one process (`kfk server start --brokers N`, startCluster()): brokers 0..N-1,
 * each a complete Broker with its own listener, log dirs and registry session, sharing one
 * embedded registry the way brokers on several machines share a ZooKeeper ensemble (or, when
 * zookeeper.connect is set, each with its own ZooKeeper session). Nothing here is special-cased:
 * controller election, failover and reconciliation are the same code as in a multi-process cluster.
 *
 * Layout, from the one broker config given:
 *  - broker i listens on the listener's port + i (or ports[i]); port 0 gives each a free port;
 *    it advertises the listener's host (or advertised.listeners' host) with its own port;
 *  - its data is in <dir>/broker-<i> for every <dir> of log.dirs;
 *  - the shared embedded registry is <first log dir>/kfk-cluster-registry.json (a different file
 *    from a single broker's kfk-registry.json, so a cluster never adopts a single broker's topics).
 */
import { join } from 'node:path';
import type { BrokerConfig } from '../config/broker-config.js';
import { EmbeddedRegistryStore } from '../registry/embedded.js';
import { createLogger, type Logger } from '../server/logger.js';
import { launchBroker, openRegistry, type ProvidedRegistry, type RunningBroker } from './launch.js';
import type { ApiHandler } from '../server/request.js';

export const CLUSTER_REGISTRY_FILE = 'kfk-cluster-registry.json';

export interface ClusterLaunchOptions {
  /** Number of brokers (ids 0..brokers-1). */
  brokers: number;
  /** One port per broker (instead of consecutive ports from the listener's). */
  ports?: number[];
  logger?: Logger;
  /** A logger per broker (default: the logger, each line prefixed with the broker id). */
  brokerLogger?: (id: number) => Logger;
  /** Wraps every API handler of every broker (the CLI's test-only fault injection, commands/test-faults.ts). */
  wrapHandler?: (handler: ApiHandler) => ApiHandler;
  /**
   * Test-only fault hook (commands/test-faults.ts): broker `brokerId`'s transaction coordinator calls it once a
   * PrepareCommit/PrepareAbort is written, before the markers; true halts that coordinator (see BrokerOptions).
   */
  beforeSendingTxnMarkers?: (brokerId: number, transactionalId: string, commit: boolean) => boolean;
}

export interface ClusterBroker {
  readonly id: number;
  /** The broker while it runs; null after stopBroker/killBroker until restartBroker. */
  readonly running: RunningBroker | null;
  /** Its port (kept across restarts). */
  readonly port: number;
  /** host:port it advertises. */
  readonly bootstrap: string;
}

export interface RunningCluster {
  readonly brokers: readonly ClusterBroker[];
  /** Every broker's host:port, comma separated (a bootstrap list for clients). */
  readonly bootstrap: string;
  /** Controlled shutdown of one broker (leaderships move first), then a clean stop. */
  stopBroker(id: number): Promise<void>;
  /** Abrupt stop of one broker: sockets dropped, registry session ended, no flush (kill -9). */
  killBroker(id: number): Promise<void>;
  /** Starts a stopped or killed broker again on its port and data dirs. */
  restartBroker(id: number): Promise<RunningBroker>;
  /** Stops every broker still running (controller last), then the shared registry. */
  stop(): Promise<void>;
}

/** Each broker's config: its id, port and log dirs. */
export function brokerConfigFor(base: BrokerConfig, id: number, port: number): BrokerConfig {
  if (base.listeners.length !== 1) {
    throw new Error(`--brokers needs exactly one listener (listeners=${base.listeners.map((l) => `${l.name}://${l.host}:${l.port}`).join(',')})`);
  }
  const listener = { ...base.listeners[0]!, port };
  const advertisedBase = base.advertisedListeners?.find((l) => l.name === listener.name) ?? listener;
  return {
    ...base,
    brokerId: id,
    listeners: [listener],
    advertisedListeners: [{ ...advertisedBase, port }],
    logDirs: base.logDirs.map((d) => join(d, `broker-${id}`)),
    values: { ...base.values, 'admin.listeners': adminListenersFor(base.values['admin.listeners'], id) },
  };
}

/** Broker i of --brokers N serves its admin listener on the configured port + i (port 0: a free port each). */
function adminListenersFor(value: unknown, id: number): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  return value.replace(/:(\d+)(\/?)(?=\s*(,|$))/g, (_m, port: string, slash: string) => `:${Number(port) === 0 ? 0 : Number(port) + id}${slash}`);
}

/** The ports of the N brokers: the given list, or consecutive from the listener's port (0 stays 0: a free port each). */
export function clusterPorts(base: BrokerConfig, brokers: number, ports?: number[]): number[] {
  if (ports) {
    if (ports.length !== brokers) throw new Error(`--ports lists ${ports.length} port(s) for ${brokers} brokers`);
    if (new Set(ports.filter((p) => p !== 0)).size !== ports.filter((p) => p !== 0).length) throw new Error(`--ports lists a port twice: ${ports.join(',')}`);
    return ports;
  }
  const first = base.listeners[0]?.port ?? 9092;
  return Array.from({ length: brokers }, (_, i) => (first === 0 ? 0 : first + i));
}

export async function launchCluster(base: BrokerConfig, opts: ClusterLaunchOptions): Promise<RunningCluster> {
  if (!Number.isInteger(opts.brokers) || opts.brokers < 1) throw new Error(`--brokers must be a positive integer (got ${opts.brokers})`);
  const logger = opts.logger ?? createLogger('info');
  const brokerLogger = opts.brokerLogger ?? ((id: number) => prefixed(logger, `[broker ${id}] `));
  const ports = clusterPorts(base, opts.brokers, opts.ports);
  // One shared embedded store (sessions per broker), unless the brokers use ZooKeeper.
  const store = base.zookeeperConnect ? null : await EmbeddedRegistryStore.open({ file: join(base.logDirs[0]!, CLUSTER_REGISTRY_FILE) });
  const registryFor = async (config: BrokerConfig): Promise<ProvidedRegistry> =>
    store ? { registry: store.connect(), close: async () => {} } : openRegistry(config);

  interface Slot {
    id: number;
    port: number;
    running: RunningBroker | null;
    bootstrap: string;
  }
  const slots: Slot[] = ports.map((port, id) => ({ id, port, running: null, bootstrap: '' }));

  const start = async (slot: Slot): Promise<RunningBroker> => {
    const config = brokerConfigFor(base, slot.id, slot.port);
    const hook = opts.beforeSendingTxnMarkers;
    const running = await launchBroker(config, {
      logger: brokerLogger(slot.id),
      registry: await registryFor(config),
      ...(opts.wrapHandler ? { wrapHandler: opts.wrapHandler } : {}),
      ...(hook ? { beforeSendingTxnMarkers: (txnId: string, commit: boolean) => hook(slot.id, txnId, commit) } : {}),
    });
    slot.running = running;
    slot.port = running.port; // a free port chosen at the first start is kept for restarts
    slot.bootstrap = running.bootstrap;
    return running;
  };

  const slotOf = (id: number): Slot => {
    const slot = slots[id];
    if (!slot) throw new Error(`no broker ${id} in this cluster (ids 0..${slots.length - 1})`);
    return slot;
  };

  let stopping: Promise<void> | null = null;
  const stopAll = async (): Promise<void> => {
    // Everyone is going down: one controlled shutdown attempt each, the controller last (fewer elections).
    const live = slots.filter((s) => s.running);
    live.sort((a, b) => Number(a.running!.broker.controller.isActive) - Number(b.running!.broker.controller.isActive));
    for (const s of live) {
      const r = s.running!;
      s.running = null;
      try {
        await r.broker.stop({ controlledShutdownMaxRetries: 1 });
        await r.stop();
      } catch (err) {
        logger.error(`broker ${s.id} did not stop cleanly: ${(err as Error).message}`);
      }
    }
    await store?.close();
  };

  try {
    for (const slot of slots) await start(slot);
  } catch (err) {
    // Each broker's failure to stop is logged by stopAll; the start's own error is the one to report.
    await stopAll().catch((e: unknown) => logger.error(`closing the registry after a failed start: ${(e as Error).message ?? e}`));
    throw err;
  }

  return {
    get brokers(): readonly ClusterBroker[] {
      return slots.map((s) => ({ id: s.id, running: s.running, port: s.port, bootstrap: s.bootstrap }));
    },
    get bootstrap(): string {
      return slots.map((s) => s.bootstrap).join(',');
    },
    async stopBroker(id) {
      const slot = slotOf(id);
      const r = slot.running;
      slot.running = null;
      await r?.stop();
    },
    async killBroker(id) {
      const slot = slotOf(id);
      const r = slot.running;
      slot.running = null;
      await r?.kill();
    },
    async restartBroker(id) {
      const slot = slotOf(id);
      if (slot.running) throw new Error(`broker ${id} is running; stop or kill it first`);
      return start(slot);
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

function prefixed(logger: Logger, prefix: string): Logger {
  return {
    debug: (m) => logger.debug(prefix + m),
    info: (m) => logger.info(prefix + m),
    warn: (m) => logger.warn(prefix + m),
    error: (m) => logger.error(prefix + m),
  };
}
