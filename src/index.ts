/**
 * kfk's public API: a real Kafka-compatible broker (or a whole cluster) inside your own process,
 * for test suites that would otherwise wait for Docker, plus the client the CLI uses.
 *
 *   import { startBroker, startCluster } from 'kfk';
 *   const broker = await startBroker();          // temporary data dir, free port on 127.0.0.1
 *   // ... point kafkajs / any Kafka client at broker.bootstrap ...
 *   await broker.stop();
 *
 *   const cluster = await startCluster({ brokers: 3 });
 *   await cluster.killBroker(1);                 // kill -9 of one broker; leadership moves
 *   await cluster.restartBroker(1);
 *   await cluster.stop();
 *
 * Both come with settings suited to test suites (TEST_SUITE_DEFAULTS); `config` overrides them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerConfigFromProperties } from './config/broker-config.js';
import { refuseUnsafeProperties } from './config/unsafe-settings.js';
import { launchBroker } from './broker/launch.js';
import { launchCluster } from './broker/launch-cluster.js';
import { createLogger, silentLogger, type LogLevel, type Logger } from './server/logger.js';

/**
 * Broker settings startBroker() and startCluster() use unless `config` says otherwise, as Kafka's
 * own integration test harness does: a consumer group's first rebalance does not wait 3 s for more
 * members, and __consumer_offsets and __transaction_state have 5 partitions instead of 50 (created on first
 * use, so fewer files and a faster first FindCoordinator). Their replication factor is min(3, brokers).
 */
export const TEST_SUITE_DEFAULTS: Readonly<Record<string, string>> = {
  'group.initial.rebalance.delay.ms': '0',
  'offsets.topic.num.partitions': '5',
  'transaction.state.log.num.partitions': '5',
};

export interface StartBrokerOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on and advertise; default 127.0.0.1. */
  host?: string;
  /** Data directory; default a new temporary directory, removed by stop(). */
  dataDir?: string;
  /** broker.id; default 0. */
  brokerId?: number;
  /** Any server.properties settings, e.g. { 'num.partitions': '3' }. */
  config?: Record<string, string>;
  /** Log level for the broker's own log lines (to stderr); default silent. */
  logLevel?: LogLevel | 'silent';
}

export interface StartedBroker {
  /** "host:port", ready for a client's bootstrap servers. */
  readonly bootstrap: string;
  readonly port: number;
  readonly brokerId: number;
  readonly dataDir: string;
  /** Stops the broker cleanly (and removes the data dir if it was temporary). */
  stop(): Promise<void>;
  /**
   * Resolves, with the reason, if the broker stopped itself because it could not go on (every log dir failed:
   * disk full, I/O errors; see docs/storage.md). Never resolves otherwise.
   */
  readonly failed: Promise<Error>;
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<StartedBroker> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'kfk-')));
  const host = options.host ?? '127.0.0.1';
  const brokerId = options.brokerId ?? 0;
  const properties = {
    ...TEST_SUITE_DEFAULTS,
    'offsets.topic.replication.factor': '1',
    'broker.id': String(brokerId),
    listeners: `PLAINTEXT://${host}:${options.port ?? 0}`,
    'log.dirs': dataDir,
    ...options.config,
  };
  let config;
  try {
    refuseUnsafeProperties(properties);
    config = brokerConfigFromProperties(properties);
  } catch (err) {
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const logger = loggerFor(options.logLevel);
  let running;
  try {
    running = await launchBroker(config, { logger });
  } catch (err) {
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    bootstrap: running.bootstrap,
    port: running.port,
    brokerId,
    dataDir,
    async stop() {
      await running.stop();
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
    failed: running.failed,
  };
}

export interface StartClusterOptions {
  /** Number of brokers, ids 0..brokers-1; default 3. */
  brokers?: number;
  /** Interface to listen on and advertise; default 127.0.0.1. */
  host?: string;
  /** Broker i listens on port + i; default 0: a free port for each broker. */
  port?: number;
  /** One port per broker instead (0 = a free one). */
  ports?: number[];
  /** Data directory (broker i keeps its logs in <dataDir>/broker-<i>); default a new temporary directory, removed by stop(). */
  dataDir?: string;
  /** Any server.properties settings for every broker, e.g. { 'unclean.leader.election.enable': 'true' }. */
  config?: Record<string, string>;
  /** Log level for the brokers' own log lines (to stderr, prefixed with the broker id); default silent. */
  logLevel?: LogLevel | 'silent';
}

export interface ClusterBrokerInfo {
  readonly id: number;
  readonly port: number;
  /** "host:port" of this broker. */
  readonly bootstrap: string;
  /** False after stopBroker/killBroker, until restartBroker. */
  readonly running: boolean;
}

export interface StartedCluster {
  /** Every broker's "host:port", comma separated: a bootstrap list for clients. */
  readonly bootstrap: string;
  readonly brokers: readonly ClusterBrokerInfo[];
  readonly dataDir: string;
  /** Stops one broker cleanly: its leaderships move to other in-sync replicas first (controlled shutdown). */
  stopBroker(id: number): Promise<void>;
  /**
   * Kills one broker abruptly, as kill -9 would: its connections drop, its registry session ends
   * (the controller elects new leaders at once), nothing is flushed or checkpointed.
   */
  killBroker(id: number): Promise<void>;
  /** Starts a stopped or killed broker again, on the same port and data. */
  restartBroker(id: number): Promise<void>;
  /** Stops every broker (and removes the data dir if it was temporary). */
  stop(): Promise<void>;
}

/**
 * Starts `brokers` brokers in this process, sharing an in-process registry: the same controller,
 * leader election and failover code as a cluster of separate processes on ZooKeeper.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<StartedCluster> {
  const brokers = options.brokers ?? 3;
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'kfk-cluster-')));
  const host = options.host ?? '127.0.0.1';
  let cluster;
  try {
    const config = brokerConfigFromProperties({
      ...TEST_SUITE_DEFAULTS,
      'offsets.topic.replication.factor': String(Math.min(3, brokers)),
      listeners: `PLAINTEXT://${host}:${options.port ?? 0}`,
      'log.dirs': dataDir,
      ...options.config,
    });
    cluster = await launchCluster(config, { brokers, ...(options.ports ? { ports: options.ports } : {}), logger: loggerFor(options.logLevel) });
  } catch (err) {
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const c = cluster;
  return {
    get bootstrap() {
      return c.bootstrap;
    },
    get brokers() {
      return c.brokers.map((b) => ({ id: b.id, port: b.port, bootstrap: b.bootstrap, running: b.running !== null }));
    },
    dataDir,
    stopBroker: (id) => c.stopBroker(id),
    killBroker: (id) => c.killBroker(id),
    async restartBroker(id) {
      await c.restartBroker(id);
    },
    async stop() {
      await c.stop();
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function loggerFor(level: LogLevel | 'silent' | undefined): Logger {
  return level === undefined || level === 'silent' ? silentLogger : createLogger(level);
}

export { createProducer, createConsumer, createGroupConsumer, createAdmin } from './client/index.js';
export type {
  ProducerOptions,
  ProducerRecord,
  RecordMetadata,
  ConsumerOptions,
  ConsumerRecord,
  GroupConsumerOptions,
  AdminOptions,
  NewTopic,
} from './client/index.js';
