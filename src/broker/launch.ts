/**
 * Builds and starts a Broker from a typed BrokerConfig: opens the registry (the embedded one under
 * the first log dir, or ZooKeeper when zookeeper.connect is set) and maps broker settings onto the
 * storage engine's defaults.
 */
import { join } from 'node:path';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { BrokerConfig } from '../config/broker-config.js';
import { ConfigError } from '../config/config-def.js';
import { refuseUnsafeSettings } from '../config/unsafe-settings.js';
import { interBrokerClientSecurity, listenerSecurities } from '../security/listener-security.js';
import type { ConsoleHandler } from '../console/handler.js';
import { DEFAULT_QUEUED_BYTES_PER_CONNECTION, normaliseIp, type ConnectionLimits } from '../server/connection-quotas.js';
import { validateTopicConfig } from '../config/topic-config.js';
import type { LogConfig } from '../log/log-config.js';
import type { Registry } from '../registry/registry.js';
import { EmbeddedRegistryStore } from '../registry/embedded.js';
import { createLogger, type Logger } from '../server/logger.js';
import type { ApiHandler } from '../server/request.js';
import { Broker } from './broker.js';
import { AdminHttpServer, parseAdminListeners, type AdminHandler } from '../admin-http/admin-server.js';
import { processMetrics } from '../metrics/process-metrics.js';
import { ZooKeeperClientMetrics } from '../metrics/zookeeper-client-metrics.js';

/** The embedded registry's file, beside the partition directories of the first log dir. */
export const EMBEDDED_REGISTRY_FILE = 'kfk-registry.json';

export interface RunningBroker {
  readonly broker: Broker;
  /** host:port of the first listener, as advertised. */
  readonly bootstrap: string;
  readonly port: number;
  /** Stops the broker; `cleanShutdown: false` (after a fatal error) writes no clean-shutdown marker. */
  stop(opts?: { cleanShutdown?: boolean }): Promise<void>;
  /**
   * Resolves, with the reason, once the broker has stopped itself because it could not go on (every log dir
   * failed); the CLI then exits non-zero. Never resolves otherwise.
   */
  readonly failed: Promise<Error>;
  /** Abrupt stop, the in-process equivalent of kill -9 (see Broker.kill). */
  kill(): Promise<void>;
  /** The admin listeners (admin.listeners; empty when unset): mount() more handlers on them. */
  readonly admin: readonly AdminHttpServer[];
}

/** A registry opened by the caller (brokers of one process sharing an embedded store). */
export interface ProvidedRegistry {
  registry: Registry;
  /** Called after the broker has stopped (the broker ends its own session). */
  close: () => Promise<void>;
  /** A ZooKeeper registry's client metrics, published with the broker's. */
  zooKeeperMetrics?: ZooKeeperClientMetrics;
}

export function logDefaultsFromBroker(c: BrokerConfig): Partial<LogConfig> {
  return {
    segmentBytes: c.logSegmentBytes,
    segmentMs: c.logRollMs,
    indexIntervalBytes: c.logIndexIntervalBytes,
    segmentIndexBytes: c.logIndexSizeMaxBytes,
    maxMessageBytes: c.messageMaxBytes,
    flushMessages: c.logFlushIntervalMessages > 0 && c.logFlushIntervalMessages < Number.MAX_SAFE_INTEGER ? c.logFlushIntervalMessages : undefined,
    flushMs: c.logFlushIntervalMs >= 0 && c.logFlushIntervalMs < Number.MAX_SAFE_INTEGER ? c.logFlushIntervalMs : undefined,
    messageTimestampType: c.logMessageTimestampType,
    messageTimestampBeforeMaxMs: Number(c.values['log.message.timestamp.before.max.ms']),
    messageTimestampAfterMaxMs: Number(c.values['log.message.timestamp.after.max.ms']),
    messageTimestampDifferenceMaxMs: c.logMessageTimestampDifferenceMaxMs,
    retentionMs: c.logRetentionMs,
    retentionBytes: c.logRetentionBytes,
    fileDeleteDelayMs: c.logSegmentDeleteDelayMs,
    cleanupPolicy: c.logCleanupPolicy,
    minCleanableDirtyRatio: c.logCleanerMinCleanableRatio,
    minCompactionLagMs: c.logCleanerMinCompactionLagMs,
    deleteRetentionMs: c.logCleanerDeleteRetentionMs,
  };
}

/** Topic-level overrides that the storage engine honours today (the rest are stored and described). */
export function logConfigFromTopic(overrides: Record<string, string>): Partial<LogConfig> {
  const out: Partial<LogConfig> = {};
  const num = (k: string): number | undefined => (overrides[k] !== undefined ? Number(overrides[k]) : undefined);
  if (num('segment.bytes') !== undefined) out.segmentBytes = num('segment.bytes');
  if (num('segment.ms') !== undefined) out.segmentMs = num('segment.ms');
  if (num('index.interval.bytes') !== undefined) out.indexIntervalBytes = num('index.interval.bytes');
  if (num('segment.index.bytes') !== undefined) out.segmentIndexBytes = num('segment.index.bytes');
  if (num('max.message.bytes') !== undefined) out.maxMessageBytes = num('max.message.bytes');
  if (num('flush.messages') !== undefined) out.flushMessages = num('flush.messages');
  if (num('flush.ms') !== undefined) out.flushMs = num('flush.ms')! < Number.MAX_SAFE_INTEGER ? num('flush.ms') : undefined;
  if (overrides['message.timestamp.type'] === 'CreateTime' || overrides['message.timestamp.type'] === 'LogAppendTime') {
    out.messageTimestampType = overrides['message.timestamp.type'];
  }
  if (num('message.timestamp.before.max.ms') !== undefined) out.messageTimestampBeforeMaxMs = num('message.timestamp.before.max.ms');
  if (num('message.timestamp.after.max.ms') !== undefined) out.messageTimestampAfterMaxMs = num('message.timestamp.after.max.ms');
  if (num('message.timestamp.difference.max.ms') !== undefined) {
    out.messageTimestampDifferenceMaxMs = num('message.timestamp.difference.max.ms');
  }
  if (num('retention.ms') !== undefined) out.retentionMs = num('retention.ms');
  if (num('retention.bytes') !== undefined) out.retentionBytes = num('retention.bytes');
  if (num('file.delete.delay.ms') !== undefined) out.fileDeleteDelayMs = num('file.delete.delay.ms');
  if (num('min.cleanable.dirty.ratio') !== undefined) out.minCleanableDirtyRatio = num('min.cleanable.dirty.ratio');
  if (num('min.compaction.lag.ms') !== undefined) out.minCompactionLagMs = num('min.compaction.lag.ms');
  if (num('delete.retention.ms') !== undefined) out.deleteRetentionMs = num('delete.retention.ms');
  if (overrides['cleanup.policy'] !== undefined) {
    out.cleanupPolicy = overrides['cleanup.policy'].split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
  }
  return out;
}

/**
 * The broker's connection limits. Host names in max.connections.per.ip.overrides are resolved once, at
 * start-up, as Kafka resolves them (InetAddress.getByName); every address of a name gets its count.
 */
export async function connectionLimitsFromConfig(c: BrokerConfig): Promise<ConnectionLimits> {
  const overrides = new Map<string, number>();
  for (const [host, count] of Object.entries(c.maxConnectionsPerIpOverrides)) {
    if (isIP(host)) {
      overrides.set(normaliseIp(host), count);
      continue;
    }
    let addresses: { address: string }[];
    try {
      addresses = await lookup(host, { all: true });
    } catch (err) {
      throw ConfigError.invalid('max.connections.per.ip.overrides', host, `cannot resolve host ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const a of addresses) overrides.set(normaliseIp(a.address), count);
  }
  return {
    maxConnections: c.maxConnections,
    maxConnectionsPerIp: c.maxConnectionsPerIp,
    maxConnectionsPerIpOverrides: overrides,
    connectionsMaxIdleMs: c.connectionsMaxIdleMs,
    queuedMaxRequests: c.queuedMaxRequests,
    queuedMaxBytesPerConnection: DEFAULT_QUEUED_BYTES_PER_CONNECTION,
  };
}

export async function openRegistry(config: BrokerConfig, embeddedFile?: string): Promise<ProvidedRegistry> {
  if (config.zookeeperConnect) {
    const { ZooKeeperRegistry } = await import('../registry/zookeeper.js');
    const { ReconnectingRegistry } = await import('../registry/reconnecting.js');
    const connectString = config.zookeeperConnect;
    const zooKeeperMetrics = new ZooKeeperClientMetrics();
    // A broker outlives its ZooKeeper sessions: on expiry it opens a new one and registers again.
    const registry = await ReconnectingRegistry.open(() =>
      ZooKeeperRegistry.connect(connectString, {
        sessionTimeoutMs: config.zookeeperSessionTimeoutMs,
        connectionTimeoutMs: config.zookeeperConnectionTimeoutMs,
        observer: zooKeeperMetrics,
      }),
    );
    return { registry, close: async () => {}, zooKeeperMetrics };
  }
  const store = await EmbeddedRegistryStore.open({ file: embeddedFile ?? join(config.logDirs[0]!, EMBEDDED_REGISTRY_FILE) });
  return { registry: store.connect(), close: () => store.close() };
}

export async function launchBroker(
  config: BrokerConfig,
  opts: {
    logger?: Logger;
    validateTopicConfig?: (c: Record<string, string>) => string | null;
    wrapHandler?: (h: ApiHandler) => ApiHandler;
    /** Test-only fault hook of the transaction coordinator (BrokerOptions.beforeSendingTxnMarkers). */
    beforeSendingTxnMarkers?: (transactionalId: string, commit: boolean) => boolean;
    /**
     * A registry session of the caller's (several brokers in one process sharing one store), ended by the broker's
     * stop(); or a ProvidedRegistry whose close() also runs after the stop.
     */
    registry?: Registry | ProvidedRegistry;
    /** Handlers mounted on the admin listeners for the paths they do not serve themselves (the web console). */
    adminHandlers?: readonly AdminHandler[];
  } = {},
): Promise<RunningBroker> {
  // Before anything is opened or created: settings kfk cannot honour and must not silently ignore.
  refuseUnsafeSettings(config);
  const adminListeners = parseAdminListeners(config.values['admin.listeners'] as string | null);
  // TLS and SASL of every listener, validated (keystores read, JAAS lines parsed) before anything is opened
  const listenerSecurity = listenerSecurities(config);
  const interBrokerSecurity = interBrokerClientSecurity(config);
  const connectionLimits = await connectionLimitsFromConfig(config);
  const provided = opts.registry;
  const { registry, close, zooKeeperMetrics } =
    provided === undefined ? await openRegistry(config) : 'registry' in provided ? provided : ({ registry: provided, close: async () => {} } as ProvidedRegistry);
  const logger = opts.logger ?? createLogger('info');
  // A fatal error before start() returns (every log dir failed during the first reconciliation) fails the start.
  let fatalDuringStart: Error | null = null;
  let onFatal: (err: Error) => void = (err) => {
    fatalDuringStart ??= err;
  };
  const broker = new Broker({
    brokerId: config.brokerId,
    listeners: config.listeners,
    advertisedListeners: config.advertisedListeners,
    logDirs: config.logDirs,
    registry,
    rack: config.brokerRack,
    numPartitions: config.numPartitions,
    defaultReplicationFactor: config.defaultReplicationFactor,
    autoCreateTopicsEnable: config.autoCreateTopicsEnable,
    deleteTopicEnable: config.deleteTopicEnable,
    offsetsTopicNumPartitions: config.offsetsTopicNumPartitions,
    offsetsTopicReplicationFactor: config.offsetsTopicReplicationFactor,
    offsetsTopicSegmentBytes: config.offsetsTopicSegmentBytes,
    socketRequestMaxBytes: config.socketRequestMaxBytes,
    connectionLimits,
    logDefaults: logDefaultsFromBroker(config),
    logDefaultsFromConfig: logDefaultsFromBroker,
    logRetentionCheckIntervalMs: config.logRetentionCheckIntervalMs,
    brokerConfig: config,
    topicLogConfig: logConfigFromTopic,
    validateTopicConfig:
      opts.validateTopicConfig ??
      ((overrides) => {
        try {
          validateTopicConfig(overrides, config);
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      }),
    logger,
    listenerSecurity,
    interBrokerSecurity,
    onFatalError: (err) => onFatal(err),
    ...(opts.wrapHandler ? { wrapHandler: opts.wrapHandler } : {}),
    ...(opts.beforeSendingTxnMarkers ? { beforeSendingTxnMarkers: opts.beforeSendingTxnMarkers } : {}),
  });
  zooKeeperMetrics?.registerIn(broker.metrics.registry);
  // The admin listener is up before the broker starts: /health/live answers (and /health/ready says "starting")
  // while logs load.
  const admin = adminListeners.map(
    (l) =>
      new AdminHttpServer({
        ...l,
        // the broker's metrics, then the process's (one set per process, however many brokers it runs)
        metrics: async () => ({ contentType: broker.metrics.contentType, body: `${await broker.metrics.text()}\n${await processMetrics().metrics()}` }),
        readiness: () => broker.readiness(),
        handlers: opts.adminHandlers ?? [],
        onError: (err) => logger.error(`admin listener: ${(err as Error)?.stack ?? err}`),
      }),
  );
  // The web console at the admin listener's `/` (after the broker is up: it is a client of the broker's own listener).
  let webConsole: ConsoleHandler | null = null;
  const stopAdmin = async (): Promise<void> => {
    await Promise.all(admin.map((a) => a.stop()));
    await webConsole?.close();
  };
  try {
    for (const a of admin) {
      await a.start();
      logger.info(`admin listener on ${a.url} (/metrics, /health/live, /health/ready)`);
    }
    await broker.start();
    if (fatalDuringStart !== null) throw fatalDuringStart;
    if (admin.length > 0) webConsole = await mountWebConsole(broker, admin, logger);
  } catch (err) {
    // the start's own error is the one to report; failures cleaning up after it are logged beside it
    const cleanupFailed = (what: string) => (e: unknown) => logger.error(`${what} after a failed start: ${(e as Error).stack ?? e}`);
    await stopAdmin().catch(cleanupFailed('stopping the admin listener'));
    await broker.stop().catch(cleanupFailed('stopping the broker'));
    await close().catch(cleanupFailed('closing the registry'));
    throw err;
  }
  const first = broker.endpoints[0]!;
  let stopping: Promise<void> | null = null;
  let markFailed!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => (markFailed = resolve));
  const running: RunningBroker = {
    broker,
    bootstrap: `${first.host}:${first.port}`,
    port: first.port,
    admin,
    stop(opts) {
      stopping ??= (async () => {
        await broker.stop(opts);
        await stopAdmin();
        await close();
      })();
      return stopping;
    },
    failed,
    kill() {
      stopping ??= (async () => {
        await stopAdmin();
        await broker.kill();
        await close();
      })();
      return stopping;
    },
  };
  onFatal = (err) => {
    logger.error(`shutting down: ${err.message}`);
    running.stop().then(
      () => markFailed(err),
      (stopError: unknown) => {
        logger.error(`error during shutdown: ${(stopError as Error).stack ?? stopError}`);
        markFailed(err);
      },
    );
  };
  return running;
}

/**
 * Mounts the web console (src/console) on the admin listeners, as a client of the broker's first PLAINTEXT listener
 * (loopback when it listens on every address). A broker with only secured listeners has no credentials of its own to
 * give the console: it says so, and `kfk console --command-config` serves the console against it instead.
 */
async function mountWebConsole(broker: Broker, admin: readonly AdminHttpServer[], logger: Logger): Promise<ConsoleHandler | null> {
  const plain = broker.endpoints.find((l) => l.securityProtocol === 'PLAINTEXT');
  if (plain === undefined) {
    logger.info('admin listener: no web console at / (no PLAINTEXT listener to reach the broker by; use kfk console --command-config)');
    return null;
  }
  const host = plain.host === '' || plain.host === '0.0.0.0' ? '127.0.0.1' : plain.host === '::' ? '::1' : plain.host;
  const { createConsoleHandler } = await import('../console/handler.js');
  const handler = createConsoleHandler({
    bootstrapServers: `${host.includes(':') ? `[${host}]` : host}:${plain.port}`,
    clientConfig: { 'client.id': `broker-${broker.options.brokerId}-console` },
    logger,
  });
  for (const a of admin) a.mount((req, res) => handler.handle(req, res));
  return handler;
}
