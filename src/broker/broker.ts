/**
 * A broker: wires the registry, the log manager, the replica manager, the controller and the
 * per-API handlers behind its listeners. The registry is the source of truth; on every change
 * the broker re-reads it and reconciles (level-triggered), so missed or duplicated events are harmless.
 */
import { hostname } from 'node:os';
import { ErrorCode } from '../protocol/errors.js';
import { uuidFromString, ZERO_UUID } from '../protocol/primitives.js';
import type { Registry } from '../registry/registry.js';
import { isRegistryError } from '../registry/registry.js';
import {
  brokerIdPath,
  brokerIdsPath,
  controllerPath,
  decodeBrokerRegistration,
  decodeController,
  decodePartitionState,
  decodeTopicAssignment,
  decodeTopicConfig,
  encodeBrokerRegistration,
  ensureBasePaths,
  getOrCreateClusterId,
  partitionStatePath,
  topicConfigPath,
  configChangesPath,
  topicPath,
  topicsPath,
  propagateLogDirEvent,
} from '../registry/paths.js';
import { LogManager, logManagerTimersFromBroker, type LogDirFailure } from '../log/log-manager.js';
import type { Log } from '../log/log.js';
import type { LogConfig } from '../log/log-config.js';
import { MetadataCache, type PartitionInfo, type TopicInfo } from '../cluster/metadata-cache.js';
import { Controller } from '../cluster/controller.js';
import { isInternalTopic } from '../cluster/topic-names.js';
import { ReplicaManager } from '../replication/replica-manager.js';
import { partitionKey } from '../replication/fetch-purgatory.js';
import { SocketServer } from '../server/socket-server.js';
import { ConnectionQuotas, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../server/connection-quotas.js';
import type { ApiHandler } from '../server/request.js';
import { createLogger, type Logger } from '../server/logger.js';
import type { BrokerServices, BrokerSettings } from './handlers/context.js';
import { apiVersionsHandler, unsupportedApiVersionsBody } from './handlers/api-versions.js';
import { metadataHandler } from './handlers/metadata.js';
import { produceHandler } from './handlers/produce.js';
import { fetchHandler } from './handlers/fetch.js';
import { listOffsetsHandler } from './handlers/list-offsets.js';
import { createTopicsHandler } from './handlers/create-topics.js';
import { deleteTopicsHandler } from './handlers/delete-topics.js';
import { findCoordinatorHandler } from './handlers/find-coordinator.js';
import { brokerConfigServices } from './handlers/config-resources.js';
import { describeConfigsHandler } from './handlers/describe-configs.js';
import { alterConfigsHandler } from './handlers/alter-configs.js';
import { incrementalAlterConfigsHandler } from './handlers/incremental-alter-configs.js';
import { createPartitionsHandler } from './handlers/create-partitions.js';
import type { BrokerConfig } from '../config/broker-config.js';
import { logConfig as fullLogConfig } from '../log/log-config.js';
import { deleteRecordsHandler } from './handlers/delete-records.js';
import { initProducerIdHandler } from './handlers/init-producer-id.js';
import { ProducerIdManager } from '../cluster/producer-ids.js';
import { GroupCoordinator } from '../group/group-coordinator.js';
import { OFFSETS_TOPIC } from '../cluster/topic-names.js';
import { joinGroupHandler } from './handlers/join-group.js';
import { syncGroupHandler } from './handlers/sync-group.js';
import { heartbeatHandler } from './handlers/heartbeat.js';
import { leaveGroupHandler } from './handlers/leave-group.js';
import { offsetCommitHandler } from './handlers/offset-commit.js';
import { offsetFetchHandler } from './handlers/offset-fetch.js';
import { listGroupsHandler } from './handlers/list-groups.js';
import { describeGroupsHandler } from './handlers/describe-groups.js';
import { deleteGroupsHandler } from './handlers/delete-groups.js';
import { offsetDeleteHandler } from './handlers/offset-delete.js';
import { gateWhileLoading } from './loading-gate.js';
import { readOpenFileLimit } from '../log/open-file-limit.js';
import { isDescriptorExhaustion } from '../log/fd-cache.js';

export interface ListenerConfig {
  name: string;
  host: string;
  port: number;
  securityProtocol: string;
}

export interface BrokerOptions {
  brokerId: number;
  listeners: ListenerConfig[];
  /** Defaults to listeners (with an empty host replaced by this machine's host name). */
  advertisedListeners?: ListenerConfig[];
  logDirs: string[];
  registry: Registry;
  rack?: string | null;
  numPartitions: number;
  defaultReplicationFactor: number;
  autoCreateTopicsEnable: boolean;
  deleteTopicEnable: boolean;
  /** __consumer_offsets layout (offsets.topic.*); Kafka's defaults when left out. */
  offsetsTopicNumPartitions?: number;
  offsetsTopicReplicationFactor?: number;
  offsetsTopicSegmentBytes?: number;
  socketRequestMaxBytes: number;
  /** max.connections, max.connections.per.ip(.overrides), connections.max.idle.ms, queued.max.requests; Kafka's defaults when left out. */
  connectionLimits?: ConnectionLimits;
  /** Broker-level defaults for every log (topic overrides win). */
  logDefaults: Partial<LogConfig>;
  /** log.retention.check.interval.ms (default 300000). */
  logRetentionCheckIntervalMs?: number;
  /** Maps a topic's config overrides onto log settings (on top of logDefaults). */
  topicLogConfig?: (overrides: Record<string, string>) => Partial<LogConfig>;
  /** Validates topic config overrides at creation; returns an error message or null. */
  validateTopicConfig?: (configs: Record<string, string>) => string | null;
  /** The static broker config, as DescribeConfigs reports it (default: Kafka's defaults). */
  brokerConfig?: BrokerConfig;
  logger?: Logger;
  /**
   * Called when the broker cannot go on and must be shut down (every log dir failed; Kafka halts then). The
   * owner stops it (launchBroker does) and exits non-zero. Must not throw.
   */
  onFatalError?: (err: Error) => void;
  /** Wraps every API handler (the CLI's test-only fault injection, commands/test-faults.ts). */
  wrapHandler?: (handler: ApiHandler) => ApiHandler;
}

export class Broker implements BrokerServices {
  readonly settings: BrokerSettings;
  readonly metadata = new MetadataCache();
  /** Created in start(), once the log dirs are loaded. */
  replicaManager!: ReplicaManager;
  logManager!: LogManager;
  /** Created in start(); owns the groups of the __consumer_offsets partitions led here. */
  groupCoordinator: GroupCoordinator | null = null;
  /** Resolved when start() has reconciled once; requests wait for it (see ConnectionOptions.ready). */
  private markReady!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));
  readonly controller: Controller;
  readonly logger: Logger;
  private readonly handlers = new Map<number, ApiHandler>();
  private servers: SocketServer[] = [];
  private reconciling: Promise<void> | null = null;
  private reconcileAgain = false;
  /**
   * Partitions led here whose log could not be created or opened in the last reconciliation, with the error:
   * reported (CreateTopics, Metadata, the log) and tried again by `retryReconcile` until they succeed.
   */
  private readonly partitionFailures = new Map<string, Error>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = RECONCILE_RETRY_MIN_MS;
  /** Logs recovered in the background since they were last hosted (see hostRecoveredLogs). */
  private readonly recoveredLogs: Log[] = [];
  private hostingRecovered: Promise<void> | null = null;
  private stopped = false;
  private advertised: ListenerConfig[] = [];

  constructor(readonly options: BrokerOptions) {
    this.logger = options.logger ?? createLogger('info');
    this.settings = {
      brokerId: options.brokerId,
      autoCreateTopicsEnable: options.autoCreateTopicsEnable,
      numPartitions: options.numPartitions,
      defaultReplicationFactor: options.defaultReplicationFactor,
      deleteTopicEnable: options.deleteTopicEnable,
      offsetsTopicNumPartitions: options.offsetsTopicNumPartitions ?? 50,
      offsetsTopicReplicationFactor: options.offsetsTopicReplicationFactor ?? 3,
      offsetsTopicSegmentBytes: options.offsetsTopicSegmentBytes ?? 104857600,
    };
    this.controller = new Controller({
      registry: options.registry,
      brokerId: options.brokerId,
      metadata: this.metadata,
      validateTopicConfig: options.validateTopicConfig ?? (() => null),
      reconcile: () => this.reconcile(),
    });
    for (const h of [
      apiVersionsHandler(() => this.handlers.values()),
      metadataHandler(this),
      produceHandler(this),
      fetchHandler(this),
      listOffsetsHandler(this),
      createTopicsHandler(this),
      deleteTopicsHandler(this),
      deleteRecordsHandler(this),
      findCoordinatorHandler(this),
      joinGroupHandler(this),
      syncGroupHandler(this),
      heartbeatHandler(this),
      leaveGroupHandler(this),
      offsetCommitHandler(this),
      offsetFetchHandler(this),
      listGroupsHandler(this),
      describeGroupsHandler(this),
      deleteGroupsHandler(this),
      offsetDeleteHandler(this),
      initProducerIdHandler(new ProducerIdManager(options.registry, options.brokerId)),
      createPartitionsHandler(this),
      ...((cs) => [describeConfigsHandler(cs), alterConfigsHandler(cs), incrementalAlterConfigsHandler(cs)])(
        brokerConfigServices(options, this.metadata, () => this.reconcile()),
      ),
    ]) {
      // Requests naming partitions still recovering after an unclean shutdown wait for them (loading-gate.ts).
      const gated = gateWhileLoading(h as ApiHandler, {
        anyLoading: () => this.logManager !== undefined && this.logManager.loadingCount > 0,
        isLoading: (t, p) => this.logManager.isLoading(t, p),
        awaitServed: (t, p) => this.awaitServed(t, p),
        topicNameById: (id) => this.metadata.topicById(id)?.name,
      });
      this.handlers.set(h.apiKey, options.wrapHandler ? options.wrapHandler(gated) : gated);
    }
  }

  /** The handlers by API key; ApiVersions advertises exactly these ranges. */
  get apiHandlers(): ReadonlyMap<number, ApiHandler> {
    return this.handlers;
  }

  /** Bound listeners as advertised (ports resolved when a listener asked for port 0). */
  get endpoints(): ListenerConfig[] {
    return this.advertised;
  }

  async start(): Promise<void> {
    const { registry } = this.options;
    await ensureBasePaths(registry);
    const clusterId = await getOrCreateClusterId(registry);
    this.metadata.clusterId = clusterId;
    const bc0 = this.options.brokerConfig;
    this.logManager = await LogManager.open({
      logDirs: this.options.logDirs,
      brokerId: this.options.brokerId,
      clusterId,
      defaultConfig: this.options.logDefaults,
      ...(this.options.logRetentionCheckIntervalMs !== undefined ? { retentionCheckIntervalMs: this.options.logRetentionCheckIntervalMs } : {}),
      ...(this.options.brokerConfig !== undefined
        ? { cleaner: { enable: this.options.brokerConfig.logCleanerEnable, backoffMs: this.options.brokerConfig.logCleanerBackoffMs } }
        : {}),
      ...(this.options.brokerConfig !== undefined ? logManagerTimersFromBroker(this.options.brokerConfig) : {}),
      onAppend: (log) => this.replicaManager.purgatory.notify(partitionKey(log.topic, log.partition)),
      logger: this.logger,
      onLogDirFailure: (failure) => this.handleLogDirFailure(failure),
      // after an unclean shutdown the logs recover while the broker already serves (loading-gate.ts)
      recoverInBackground: true,
      onLogLoaded: (log) => this.onLogRecovered(log),
      ...(bc0 !== undefined ? { recoveryThreadsPerDataDir: bc0.numRecoveryThreadsPerDataDir } : {}),
      ...(bc0 !== undefined && bc0.logMaxOpenFiles > 0 ? { maxOpenFiles: bc0.logMaxOpenFiles } : {}),
    });
    this.replicaManager = new ReplicaManager(this.logManager);
    const bc = this.options.brokerConfig;
    this.groupCoordinator = new GroupCoordinator({
      log: this.replicaManager,
      numPartitions: () => this.metadata.topic(OFFSETS_TOPIC)?.partitions.length ?? this.settings.offsetsTopicNumPartitions,
      group: bc
        ? {
            initialRebalanceDelayMs: bc.groupInitialRebalanceDelayMs,
            minSessionTimeoutMs: bc.groupMinSessionTimeoutMs,
            maxSessionTimeoutMs: bc.groupMaxSessionTimeoutMs,
            maxSize: bc.groupMaxSize,
          }
        : {},
      offsetsRetentionMs: bc ? bc.offsetsRetentionMinutes * 60000 : undefined,
      offsetsRetentionCheckIntervalMs: bc?.offsetsRetentionCheckIntervalMs,
      offsetsCommitTimeoutMs: bc?.offsetsCommitTimeoutMs,
      logger: this.logger,
    });

    // One set of connection quotas for all listeners: Kafka's limits are per broker.
    const quotas = new ConnectionQuotas(this.options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS, this.logger);
    for (const l of this.options.listeners) {
      const server = new SocketServer(
        { name: l.name, host: l.host, port: l.port },
        {
          maxRequestBytes: this.options.socketRequestMaxBytes,
          handlers: this.handlers,
          logger: this.logger,
          unsupportedApiVersionsBody: () => unsupportedApiVersionsBody(() => this.handlers.values()) as Record<string, unknown>,
          ready: this.ready,
          quotas,
        },
      );
      await server.start();
      this.servers.push(server);
    }
    this.advertised = this.resolveAdvertisedListeners();

    await this.registerBroker();
    // A new registry session (the old one expired): register again, run the election, re-arm watches.
    this.options.registry.onSessionEvent((e) => {
      if (e.state !== 'connected' || this.stopped) return;
      this.logger.warn('registry session was re-established: registering broker again');
      void (async () => {
        await this.registerBroker();
        await this.controller.elect();
        await this.reconcile();
      })().catch((err) => this.logger.error(`re-registration failed: ${(err as Error).stack ?? err}`));
    });
    await this.controller.elect();
    await this.reconcile();
    this.logOpenFileBudget();
    this.markReady();
  }

  /** One line at start: the process's open-file limit and the log's share of it (docs/storage.md, "File descriptors"). */
  private logOpenFileBudget(): void {
    const limit = readOpenFileLimit();
    const budget = this.logManager.fdCache.maxOpen;
    const recovering = this.logManager.loadingCount;
    this.logger.info(
      `open file limit ${limit.soft ?? 'unknown'} (hard ${limit.hard ?? 'unknown'}, from ${limit.source}); the log keeps at most ${budget} files open (log.max.open.files)` +
        (recovering > 0 ? `; ${recovering} log(s) to recover after an unclean shutdown, served as they are recovered` : ''),
    );
  }

  /** Waits until a partition still recovering is recovered and hosted (a request named it: it goes first). */
  private async awaitServed(topic: string, partition: number): Promise<void> {
    const log = await this.logManager.awaitLoad(topic, partition);
    if (log === undefined || this.stopped) return;
    if (this.replicaManager.getPartition(topic, partition) === undefined) await this.hostingRecovered;
    if (this.replicaManager.getPartition(topic, partition) === undefined && !this.stopped) await this.reconcile();
  }

  /** A log recovered in the background (after an unclean shutdown): hosted soon, in a batch with the others. */
  private onLogRecovered(log: Log): void {
    this.recoveredLogs.push(log);
    this.hostingRecovered ??= this.hostRecoveredLogs().finally(() => {
      this.hostingRecovered = null;
    });
  }

  /**
   * Hosts recovered logs from the metadata cache, without a reconciliation pass over the registry for each: the
   * cost is proportional to the logs recovered, not to the partitions of the cluster (with 10,000 recovering
   * logs, a full pass per recovered log made the recovery quadratic). A log whose partition the cache does not
   * show as led here is left to a full pass (the topic may be gone, or led elsewhere now).
   */
  private async hostRecoveredLogs(): Promise<void> {
    while (this.recoveredLogs.length > 0 && !this.stopped) {
      if (this.reconciling !== null) {
        await this.reconciling.catch(() => undefined); // that pass may be replacing the metadata cache
        continue;
      }
      let needFullPass = false;
      let offsetsHosted = false;
      const tasks: (() => Promise<void>)[] = [];
      for (const log of this.recoveredLogs.splice(0)) {
        const t = this.metadata.topic(log.topic);
        const p = t?.partitions[log.partition];
        if (t === undefined || p === undefined || p.partition !== log.partition || p.leader !== this.options.brokerId) {
          needFullPass = true;
          continue;
        }
        if (log.topic === OFFSETS_TOPIC) offsetsHosted = true;
        const logConfig = { ...this.options.logDefaults, ...(this.options.topicLogConfig?.(t.config) ?? {}) };
        tasks.push(async () => {
          const k = partitionKey(log.topic, log.partition);
          try {
            const hosted = await this.replicaManager.becomeLeader(t.name, p.partition, t.topicId, p.leaderEpoch, logConfig);
            hosted.log.updateConfig(fullLogConfig(logConfig));
            this.partitionFailures.delete(k);
          } catch (err) {
            this.partitionFailures.set(k, err instanceof Error ? err : new Error(String(err)));
            needFullPass = true;
          }
        });
      }
      await runConcurrently(tasks, RECONCILE_CONCURRENCY);
      if (offsetsHosted || needFullPass) this.watch();
    }
  }

  /** The error a partition led here met when its log was created or opened, until that succeeds. */
  partitionFailure(topic: string, partition: number): Error | undefined {
    return this.partitionFailures.get(partitionKey(topic, partition));
  }

  /**
   * A log dir went offline (Kafka's ReplicaManager.handleLogDirFailure; the LogManager closed its logs and logged
   * it): fetches waiting on its partitions wake up to answer KAFKA_STORAGE_ERROR, a log dir event notification
   * tells the controller (so it can elect other leaders), and with no log dir left the broker must stop.
   */
  private handleLogDirFailure(failure: LogDirFailure): void {
    for (const p of failure.partitions) this.replicaManager?.purgatory.notify(partitionKey(p.topic, p.partition));
    propagateLogDirEvent(this.options.registry, this.options.brokerId).then(
      (path) => this.logger.info(`wrote ${path} for the failure of log dir ${failure.dir}`),
      (err: unknown) => this.logger.error(`could not write the log dir event notification for ${failure.dir}: ${(err as Error).message ?? err}`),
    );
    if (failure.allLogDirsOffline) {
      const err = new Error(`all log dirs in ${this.options.logDirs.join(', ')} have failed (the last: ${failure.dir}: ${failure.cause.message})`);
      // Not from inside the failed write's call stack: the request that met the failure is answered first.
      setImmediate(() => {
        if (this.options.onFatalError) this.options.onFatalError(err);
        else void this.stop().catch((e: unknown) => this.logger.error(`error during shutdown: ${(e as Error).stack ?? e}`));
      });
    }
  }

  /** Registers this broker as the ephemeral /brokers/ids/<id> node (Kafka's v5 JSON). */
  private async registerBroker(): Promise<void> {
    await this.options.registry.create(
      brokerIdPath(this.options.brokerId),
      encodeBrokerRegistration({
        id: this.options.brokerId,
        endpoints: this.advertised.map((l) => ({ listenerName: l.name, host: l.host, port: l.port, securityProtocol: l.securityProtocol })),
        rack: this.options.rack ?? null,
        timestamp: Date.now(),
        jmxPort: -1,
        features: {},
      }),
      'ephemeral',
    ).catch((err) => {
      if (isRegistryError(err, 'NODE_EXISTS')) {
        throw new Error(`broker.id ${this.options.brokerId} is already registered by another live broker`);
      }
      throw err;
    });
  }

  private resolveAdvertisedListeners(): ListenerConfig[] {
    const bound = new Map(this.options.listeners.map((l, i) => [l.name, this.servers[i]!.boundPort]));
    const source = this.options.advertisedListeners ?? this.options.listeners;
    return source.map((l) => ({
      ...l,
      host: l.host === '' || l.host === '0.0.0.0' || l.host === '::' ? hostname() : l.host,
      port: l.port === 0 ? (bound.get(l.name) ?? 0) : l.port,
    }));
  }

  /**
   * Re-reads the registry and makes this broker match it: metadata cache, partitions led here
   * opened, partitions gone from the registry stopped and their logs deleted. Calls made while a
   * reconciliation runs are folded into one more pass.
   */
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      try {
        do {
          this.reconcileAgain = false;
          await this.reconcileOnce();
        } while (this.reconcileAgain && !this.stopped);
      } finally {
        this.reconciling = null;
      }
    })();
    return this.reconciling;
  }

  private watch = (): void => {
    if (!this.stopped) void this.reconcile().catch((err) => this.logger.error(`reconciliation failed: ${(err as Error).stack}`));
  };

  private async reconcileOnce(): Promise<void> {
    if (this.stopped) return;
    const { registry } = this.options;
    // Brokers and controller
    const ids = (await registry.children(brokerIdsPath, this.watch)) ?? [];
    const brokers = new Map<number, { id: number; host: string; port: number; rack: string | null }>();
    for (const idText of ids) {
      const node = await registry.get(brokerIdPath(Number(idText)));
      if (!node) continue;
      const reg = decodeBrokerRegistration(Number(idText), node.data);
      // Clients are answered with the endpoint of the listener they connected to; kfk has one
      // listener name per broker in practice, so the first endpoint is used.
      const ep = reg.endpoints[0];
      if (ep) brokers.set(reg.id, { id: reg.id, host: ep.host, port: ep.port, rack: reg.rack });
    }
    this.metadata.brokers = brokers;
    const controller = await registry.get(controllerPath, this.watch);
    this.metadata.controllerId = controller ? decodeController(controller.data).brokerId : -1;

    // Topics. Config changes also announce themselves under /config/changes (as Kafka's do), which
    // covers a /config/topics/<t> node created after this broker last looked.
    await registry.children(configChangesPath, this.watch);
    const names = (await registry.children(topicsPath, this.watch)) ?? [];
    const topics: TopicInfo[] = [];
    for (const name of names) {
      const node = await registry.get(topicPath(name), this.watch);
      if (!node) continue;
      const assignment = decodeTopicAssignment(name, node.data);
      const cfgNode = await registry.get(topicConfigPath(name), this.watch);
      const config = cfgNode ? decodeTopicConfig(cfgNode.data) : {};
      const partitions: PartitionInfo[] = [];
      for (const [partition, replicas] of [...assignment.partitions.entries()].sort((a, b) => a[0] - b[0])) {
        const st = await registry.get(partitionStatePath(name, partition), this.watch);
        const state = st ? decodePartitionState(st.data) : null;
        partitions.push({
          partition,
          replicas,
          leader: state?.leader ?? -1,
          leaderEpoch: state?.leaderEpoch ?? -1,
          isr: state?.isr ?? [],
        });
      }
      topics.push({
        name,
        topicId: assignment.topicId ? uuidFromString(assignment.topicId) : ZERO_UUID,
        partitions,
        config,
        internal: isInternalTopic(name),
      });
    }

    // Make local replicas match.
    const wanted = new Set<string>();
    const tasks: (() => Promise<void>)[] = [];
    for (const t of topics) {
      const logConfig = { ...this.options.logDefaults, ...(this.options.topicLogConfig?.(t.config) ?? {}) };
      let complete: ReturnType<typeof fullLogConfig> | undefined;
      for (const p of t.partitions) {
        if (p.leader !== this.options.brokerId) continue;
        const k = partitionKey(t.name, p.partition);
        wanted.add(k);
        // still recovering after an unclean shutdown: hosted by the pass that follows its recovery
        if (this.logManager.isLoading(t.name, p.partition)) continue;
        tasks.push(async () => {
          try {
            const hosted = await this.replicaManager.becomeLeader(t.name, p.partition, t.topicId, p.leaderEpoch, logConfig);
            // Level-triggered topic configs: a hosted log always runs with its topic's current overrides
            // (AlterConfigs); a complete config, so that a deleted override returns to the broker default.
            hosted.log.updateConfig((complete ??= fullLogConfig(logConfig)));
            this.partitionFailures.delete(k);
          } catch (err) {
            // One partition's log that cannot be created (out of descriptors, its dir offline) must not keep the
            // others from being served: it is reported and tried again (retryReconcile).
            this.partitionFailures.set(k, err instanceof Error ? err : new Error(String(err)));
          }
        });
      }
    }
    await runConcurrently(tasks, RECONCILE_CONCURRENCY);
    for (const k of [...this.partitionFailures.keys()]) if (!wanted.has(k)) this.partitionFailures.delete(k);
    this.reportPartitionFailures();
    const existingTopics = new Set(topics.map((t) => t.name));
    for (const p of this.replicaManager.hostedPartitions()) {
      if (!wanted.has(partitionKey(p.topic, p.partition))) {
        await this.replicaManager.stopReplica(p.topic, p.partition, !existingTopics.has(p.topic));
      }
    }
    // Logs left on disk for topics deleted while this broker was down.
    for (const log of this.logManager.allLogs()) {
      if (!existingTopics.has(log.topic)) await this.logManager.deleteLog(log.topic, log.partition);
    }
    this.metadata.replaceTopics(topics);
    // The group coordinator serves exactly the __consumer_offsets partitions led and hosted here (loading new ones).
    const offsetsTopic = topics.find((t) => t.name === OFFSETS_TOPIC);
    await this.groupCoordinator?.setOwnedPartitions(
      (offsetsTopic?.partitions ?? [])
        .filter((p) => p.leader === this.options.brokerId && this.replicaManager.getPartition(OFFSETS_TOPIC, p.partition) !== undefined)
        .map((p) => p.partition),
    );
  }

  /**
   * Logs the partitions whose logs could not be created (one line per pass, not one per partition) and schedules
   * another pass, backing off from 1 s to 30 s while they keep failing.
   */
  private reportPartitionFailures(): void {
    if (this.partitionFailures.size === 0) {
      this.retryDelayMs = RECONCILE_RETRY_MIN_MS;
      return;
    }
    const names = [...this.partitionFailures.keys()].map((k) => k.replace('\u0000', '-')); // partitionKey's separator
    const [first] = this.partitionFailures.values();
    const shown = names.slice(0, 10).join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '');
    const line = `cannot serve ${names.length} partition(s) led here yet (${shown}), trying again in ${this.retryDelayMs / 1000} s: ${first!.message}`;
    // running out of descriptors is a condition that passes; anything else is an error
    if (isDescriptorExhaustion(first!.cause) || (first as { code?: number }).code === ErrorCode.REQUEST_TIMED_OUT) this.logger.warn(line);
    else this.logger.error(line);
    if (this.retryTimer === null && !this.stopped) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.watch();
      }, this.retryDelayMs);
      this.retryTimer.unref();
      this.retryDelayMs = Math.min(RECONCILE_RETRY_MAX_MS, this.retryDelayMs * 2);
    }
  }

  /**
   * Clean shutdown: stop listening, close connections, flush and checkpoint logs, leave the registry.
   * `cleanShutdown: false` (after a fatal error) does all of that but writes no clean-shutdown marker.
   */
  async stop(opts: { cleanShutdown?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.markReady(); // let waiting connections run into their (now closed) sockets
    await Promise.all(this.servers.map((s) => s.stop()));
    this.groupCoordinator?.close();
    if (this.replicaManager) await this.replicaManager.close();
    if (this.logManager) await this.logManager.close({ cleanShutdownMarker: opts.cleanShutdown !== false });
    await this.options.registry.close();
  }
}

/** Partitions whose logs a reconciliation creates or opens at once (their fsyncs overlap; see LogManager.syncDir). */
const RECONCILE_CONCURRENCY = 16;
const RECONCILE_RETRY_MIN_MS = 1000;
const RECONCILE_RETRY_MAX_MS = 30_000;

/** Runs the tasks, at most `limit` at a time (each handles its own failure). */
async function runConcurrently(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

export { ErrorCode };
