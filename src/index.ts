/**
 * kfk's public API: a real Kafka-compatible broker inside your own process, for test suites that
 * would otherwise wait for Docker, plus the client the CLI uses.
 *
 *   import { startBroker } from 'kfk';
 *   const broker = await startBroker();          // temporary data dir, free port on 127.0.0.1
 *   // ... point kafkajs / any Kafka client at broker.bootstrap ...
 *   await broker.stop();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerConfigFromProperties } from './config/broker-config.js';
import { refuseUnsafeProperties } from './config/unsafe-settings.js';
import { launchBroker } from './broker/launch.js';
import { createLogger, silentLogger, type LogLevel } from './server/logger.js';

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
  const logger = options.logLevel === undefined || options.logLevel === 'silent' ? silentLogger : createLogger(options.logLevel);
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
