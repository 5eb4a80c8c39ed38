/**
 * A broker: wires the registry, the log manager, the replica manager, the controller and the
 * per-API handlers behind its listeners. The registry is the source of truth; on every change
 * the broker re-reads it and reconciles (level-triggered), so missed or duplicated events are harmless.
 */
import { hostname } from 'node:os';
import { ErrorCode } from '../protocol/errors.js';
import type { Registry } from '../registry/registry.js';
import { isRegistryError } from '../registry/registry.js';
import { brokerIdPath, brokerIdsPath, encodeBrokerRegistration, ensureBasePaths, getOrCreateClusterId, publishOfflineReplicas, type TopicPartitionRef } from '../registry/paths.js';
import { LogManager, logManagerTimersFromBroker, type LogDirFailure } from '../log/log-manager.js';
import type { LogConfig } from '../log/log-config.js';
import { MetadataCache } from '../cluster/metadata-cache.js';
import { Controller } from '../cluster/controller.js';
import { OFFSETS_TOPIC } from '../cluster/topic-names.js';
import { ControllerChannel } from '../cluster/controller-channel.js';
import { AutoTopicCreator } from '../cluster/auto-topic-creation.js';
import { controlledShutdown } from '../cluster/controlled-shutdown.js';
import { ReplicaManager } from '../replication/replica-manager.js';
import { DEFAULT_REPLICATION_CONFIG, replicationConfigFromBroker, type ReplicationConfig } from '../replication/replication-config.js';
import { Reconciler } from './reconciler.js';
import { SocketServer } from '../server/socket-server.js';
import { ConnectionQuotas, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../server/connection-quotas.js';
import type { ApiHandler } from '../server/request.js';
import { createLogger, type Logger } from '../server/logger.js';
import { RemoteHighWatermarks } from '../metrics/remote-high-watermarks.js';
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
import { deleteRecordsHandler } from './handlers/delete-records.js';
import { describeLogDirsHandler } from './handlers/describe-log-dirs.js';
import { initProducerIdHandler } from './handlers/init-producer-id.js';
import { ProducerIdManager } from '../cluster/producer-ids.js';
import { GroupCoordinator } from '../group/group-coordinator.js';
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
import { offsetForLeaderEpochHandler } from './handlers/offset-for-leader-epoch.js';
import { controlledShutdownHandler } from './handlers/controlled-shutdown.js';
import { electLeadersHandler } from './handlers/elect-leaders.js';
import { alterPartitionReassignmentsHandler, listPartitionReassignmentsHandler } from './handlers/partition-reassignments.js';
import { TransactionCoordinator } from '../transaction/transaction-coordinator.js';
import { TxnMarkerChannel } from '../transaction/txn-marker-channel.js';
import { TRANSACTION_STATE_TOPIC } from '../cluster/topic-names.js';
import { addPartitionsToTxnHandler } from './handlers/add-partitions-to-txn.js';
import { addOffsetsToTxnHandler } from './handlers/add-offsets-to-txn.js';
import { endTxnHandler } from './handlers/end-txn.js';
import { writeTxnMarkersHandler } from './handlers/write-txn-markers.js';
import { txnOffsetCommitHandler } from './handlers/txn-offset-commit.js';
import { describeTransactionsHandler } from './handlers/describe-transactions.js';
import { listTransactionsHandler } from './handlers/list-transactions.js';
import { describeProducersHandler } from './handlers/describe-producers.js';

import { saslAuthenticateHandler, saslHandshakeHandler } from './handlers/sasl.js';
import { alterUserScramCredentialsHandler, describeUserScramCredentialsHandler } from './handlers/scram-credentials.js';
import { alterClientQuotasHandler, describeClientQuotasHandler } from './handlers/client-quotas.js';
import { createAclsHandler, deleteAclsHandler, describeAclsHandler } from './handlers/acls.js';
import { AclAuthorizer, parseSuperUsers } from '../security/authorizer.js';
import { ACL_AUTHORIZER_CLASSES } from '../security/acl.js';
import { authorizingHandler, requestAuthorizer, type RequestAuthorizer } from '../security/authorizing-handler.js';
import { ClientQuotas } from '../security/quotas.js';
import { quotaHook } from '../security/quota-hook.js';
import type { ListenerSecurity } from '../security/listener-security.js';
import type { ClientSecurity } from '../security/client-security.js';
import { EntityConfigCache } from '../security/entity-configs.js';
import { ScramCredentialCache, buildListenerTransport, type BuiltTransport } from '../security/listener-transport.js';
import { BrokerMetrics } from '../metrics/broker-metrics.js';
import { DynamicConfigWatcher } from './dynamic-config-watcher.js';
import type { DynamicBrokerConfigs } from './handlers/config-resources.js';
import { brokerConfigFromProperties } from '../config/broker-config.js';
import { meteredHandler } from '../metrics/metered-handler.js';
import { brokerStateSource } from '../metrics/broker-state.js';
import { gateWhileLoading } from './loading-gate.js';
import { readOpenFileLimit } from '../log/open-file-limit.js';

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
  /**
   * The log defaults of a broker config (launch.ts's logDefaultsFromBroker): with brokerConfig, dynamic broker configs
   * (/config/brokers/<id|<default>>) change logDefaults in place through it and every log is reconciled.
   */
  logDefaultsFromConfig?: (config: BrokerConfig) => Partial<LogConfig>;
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
  /**
   * Test-only fault hook (commands/test-faults.ts): called by the transaction coordinator once a PrepareCommit or
   * PrepareAbort is in __transaction_state, before any marker is sent. Returning true halts the coordinator there
   * (it sends nothing and acts no more), as if its broker died at that moment; the hook then kills the broker.
   */
  beforeSendingTxnMarkers?: (transactionalId: string, commit: boolean) => boolean;

  /** How each listener secures its connections (TLS, SASL), by listener name; absent: PLAINTEXT. */
  listenerSecurity?: readonly ListenerSecurity[];
  /** How this broker connects to the others (the inter-broker listener's TLS and SASL); absent: PLAINTEXT. */
  interBrokerSecurity?: ClientSecurity;
}

export class Broker implements BrokerServices {
  readonly settings: BrokerSettings;
  readonly metadata = new MetadataCache();
  /** Created in start(), once the log dirs are loaded. */
  replicaManager!: ReplicaManager;
  logManager!: LogManager;
  /** Replicas in log dirs that failed (until the broker restarts), as the controller is told. */
  private readonly offlineReplicas = new Map<string, TopicPartitionRef>();
  /** Created in start(); owns the groups of the __consumer_offsets partitions led here. */
  groupCoordinator: GroupCoordinator | null = null;
  /** Created in start(); owns the transactional ids of the __transaction_state partitions led here. */
  transactionCoordinator: TransactionCoordinator | null = null;
  /** Created in start(); writes transaction markers to partition leaders. */
  private txnMarkerChannel: TxnMarkerChannel | null = null;
  private producerExpiryTimer: NodeJS.Timeout | null = null;
  private readonly producerIds: ProducerIdManager;
  /** Resolved when start() has reconciled once; requests wait for it (see ConnectionOptions.ready). */
  private markReady!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));
  readonly controller: Controller;
  readonly autoTopicCreator: AutoTopicCreator;
  /** Requests this broker sends to the controller (forwarded topic creation, controlled shutdown). */
  private readonly controllerChannel: ControllerChannel;
  /** The czxid of this broker's /brokers/ids registration (Kafka's broker epoch); -1 before registering. */
  brokerEpoch = -1;
  readonly logger: Logger;
  private readonly handlers = new Map<number, ApiHandler>();
  private servers: SocketServer[] = [];
  /** Created in start(): turns the registry's state into local replicas (src/broker/reconciler.ts). */
  private reconciler: Reconciler | null = null;
  /** Logs recovered before the reconciler existed (LogManager.open returns while recovery goes on). */
  private readonly recoveredBeforeStart: [string, number][] = [];
  private stopped = false;
  private advertised: ListenerConfig[] = [];
  /** The registry's user and client configs (SCRAM credentials, quotas), kept current. */
  entityConfigs: EntityConfigCache | null = null;
  /** Applies /config/brokers/<id|<default>> (dynamic broker configs) to the log defaults. */
  private dynamicConfigs: DynamicConfigWatcher | null = null;
  private transports: BuiltTransport[] = [];
  /** The ACL authorizer (authorizer.class.name), or null: every request allowed. */
  readonly authorizer: AclAuthorizer | null;
  /** Checks made on behalf of requests (handlers that filter what they return, e.g. Metadata). */
  readonly requestAuthorizer: RequestAuthorizer | null;
  /** Client quotas (producer_byte_rate, consumer_byte_rate, request_percentage), from the registry's configs. */
  readonly clientQuotas: ClientQuotas;
  /** Request, topic, replication and controller metrics (served by the admin listener's /metrics). */
  readonly metrics = new BrokerMetrics();
  /** Set once start() has registered the broker and reconciled once. */
  private started = false;

  /** High watermarks asked of other leaders for the consumer lag gauges (only on a scrape of /metrics). */
  readonly remoteHighWatermarks: RemoteHighWatermarks;

  constructor(readonly options: BrokerOptions) {
    this.logger = options.logger ?? createLogger('info');
    this.remoteHighWatermarks = new RemoteHighWatermarks({
      brokerId: options.brokerId,
      metadata: this.metadata,
      logger: this.logger,
      ...(options.brokerConfig ? { listenerName: options.brokerConfig.interBrokerListenerName } : {}),
      ...(options.interBrokerSecurity ? { security: options.interBrokerSecurity } : {}),
    });
    this.settings = {
      brokerId: options.brokerId,
      autoCreateTopicsEnable: options.autoCreateTopicsEnable,
      numPartitions: options.numPartitions,
      defaultReplicationFactor: options.defaultReplicationFactor,
      deleteTopicEnable: options.deleteTopicEnable,
      offsetsTopicNumPartitions: options.offsetsTopicNumPartitions ?? 50,
      offsetsTopicReplicationFactor: options.offsetsTopicReplicationFactor ?? 3,
      offsetsTopicSegmentBytes: options.offsetsTopicSegmentBytes ?? 104857600,
      transactionStateLogNumPartitions: options.brokerConfig?.transactionStateLogNumPartitions ?? 50,
      transactionStateLogReplicationFactor: options.brokerConfig?.transactionStateLogReplicationFactor ?? 3,
      transactionStateLogMinIsr: options.brokerConfig?.transactionStateLogMinIsr ?? 2,
      transactionStateLogSegmentBytes: options.brokerConfig?.transactionStateLogSegmentBytes ?? 104857600,
    };
    this.producerIds = new ProducerIdManager(options.registry, options.brokerId);
    const bc = options.brokerConfig;
    this.controller = new Controller({
      registry: options.registry,
      brokerId: options.brokerId,
      settings: {
        deleteTopicEnable: options.deleteTopicEnable,
        ...(bc
          ? {
              uncleanLeaderElectionEnable: bc.uncleanLeaderElectionEnable,
              autoLeaderRebalanceEnable: bc.autoLeaderRebalanceEnable,
              leaderImbalanceCheckIntervalSeconds: bc.leaderImbalanceCheckIntervalSeconds,
              leaderImbalancePerBrokerPercentage: bc.leaderImbalancePerBrokerPercentage,
            }
          : {}),
      },
      validateTopicConfig: options.validateTopicConfig ?? (() => null),
      reconcileTopic: (topic) => this.reconcileTopic(topic),
      logger: this.logger,
    });
    this.controllerChannel = new ControllerChannel(options.registry, {
      brokerId: options.brokerId,
      ...(options.brokerConfig ? { listenerName: options.brokerConfig.interBrokerListenerName } : {}),
      ...(options.interBrokerSecurity ? { security: options.interBrokerSecurity } : {}),
    });
    this.autoTopicCreator = new AutoTopicCreator(this.controller, this.controllerChannel, this.logger);
    const authorizerClass = String(bc?.values['authorizer.class.name'] ?? '').trim();
    this.authorizer =
      bc && (ACL_AUTHORIZER_CLASSES as readonly string[]).includes(authorizerClass)
        ? new AclAuthorizer(
            options.registry,
            { superUsers: parseSuperUsers(bc.values['super.users'] as string | null), allowEveryoneIfNoAclFound: bc.values['allow.everyone.if.no.acl.found'] === true },
            this.logger,
          )
        : null;
    this.requestAuthorizer = this.authorizer ? requestAuthorizer(this.authorizer, this.logger) : null;
    const auth = () => this.requestAuthorizer;
    this.clientQuotas = new ClientQuotas({
      samples: Number(bc?.values['quota.window.num'] ?? 11),
      windowMs: Number(bc?.values['quota.window.size.seconds'] ?? 1) * 1000,
    });
    const topicName = (id: Buffer) => this.metadata.topicById(id)?.name;
    for (const h of [
      apiVersionsHandler(() => this.handlers.values()),
      metadataHandler(this),
      produceHandler(this),
      fetchHandler(this),
      listOffsetsHandler(this),
      offsetForLeaderEpochHandler(this),
      createTopicsHandler(this),
      deleteTopicsHandler(this),
      deleteRecordsHandler(this),
      describeLogDirsHandler(this),
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
      controlledShutdownHandler(this),
      electLeadersHandler(this),
      alterPartitionReassignmentsHandler(this),
      listPartitionReassignmentsHandler(this),
      initProducerIdHandler(this.producerIds, this),
      addPartitionsToTxnHandler(this),
      addOffsetsToTxnHandler(this),
      endTxnHandler(this),
      writeTxnMarkersHandler(this),
      txnOffsetCommitHandler(this),
      describeTransactionsHandler(this),
      listTransactionsHandler(this),
      describeProducersHandler(this),
      createPartitionsHandler(this),
      saslHandshakeHandler(),
      saslAuthenticateHandler(),
      describeUserScramCredentialsHandler(options.registry),
      alterUserScramCredentialsHandler(options.registry, this.logger),
      describeClientQuotasHandler(options.registry),
      alterClientQuotasHandler(options.registry),
      describeAclsHandler(() => this.authorizer),
      createAclsHandler(() => this.authorizer, this.logger),
      deleteAclsHandler(() => this.authorizer, this.logger),
      ...((cs) => [describeConfigsHandler(cs), alterConfigsHandler(cs), incrementalAlterConfigsHandler(cs)])(
        brokerConfigServices(options, this.metadata, (topic) => this.reconcileTopic(topic)),
      ),
    ]) {
      // Requests naming partitions still recovering after an unclean shutdown wait for them (loading-gate.ts).
      const gated = gateWhileLoading(h as ApiHandler, {
        anyLoading: () => this.logManager !== undefined && this.logManager.loadingCount > 0,
        isLoading: (t, p) => this.logManager.isLoading(t, p),
        awaitServed: (t, p) => this.awaitServed(t, p),
        topicNameById: topicName,
      });
      // Every request is authorized (when the broker has an authorizer) before its handler sees it, so a refused
      // request never waits for a recovery; the gate sees what authorization left of it.
      const authorized = this.authorizer ? authorizingHandler(gated, auth, topicName) : gated;
      // Outermost: every request is counted and timed, refused or not (src/metrics).
      const metered = meteredHandler(authorized, this.metrics, topicName);
      this.handlers.set(h.apiKey, options.wrapHandler ? options.wrapHandler(metered) : metered);
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
      onAppend: (log) => this.replicaManager.onLogAppend(log),
      onFlush: (ms) => this.metrics.logFlushTime.observe(ms),
      // replication-offset-checkpoint: every hosted replica's high watermark, leader or follower.
      highWatermark: (log) => (this.replicaManager ? this.replicaManager.highWatermarkOf(log) : (this.logManager.checkpointedHighWatermark(log.topic, log.partition) ?? 0)),
      logger: this.logger,
      onLogDirFailure: (failure) => this.handleLogDirFailure(failure),
      // After an unclean shutdown the logs recover while the broker already serves (loading-gate.ts); each one is
      // hosted as it comes back, from the state reconciliation last read (Reconciler.partitionRecovered).
      recoverInBackground: true,
      onLogLoaded: (log) => this.onLogRecovered(log.topic, log.partition),
      ...(bc0 !== undefined ? { recoveryThreadsPerDataDir: bc0.numRecoveryThreadsPerDataDir } : {}),
      ...(bc0 !== undefined && bc0.logMaxOpenFiles > 0 ? { maxOpenFiles: bc0.logMaxOpenFiles } : {}),
    });
    this.replicaManager = new ReplicaManager({
      brokerId: this.options.brokerId,
      logManager: this.logManager,
      registry: this.options.registry,
      metadata: this.metadata,
      config: this.replicationConfig,
      logger: this.logger,
      onStaleLeadership: (topic) => {
        // The reconciler logs a failed pass and retries it itself; this only asks for one.
        if (!this.stopped) void this.reconciler?.reconcileTopic(topic).catch(() => undefined);
      },
    });
    this.replicaManager.startup();
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
    this.txnMarkerChannel = new TxnMarkerChannel({
      brokerId: this.options.brokerId,
      metadata: this.metadata,
      logger: this.logger,
      ...(this.options.brokerConfig ? { listenerName: this.options.brokerConfig.interBrokerListenerName } : {}),
      ...(this.options.interBrokerSecurity ? { security: this.options.interBrokerSecurity } : {}),
    });
    this.transactionCoordinator = new TransactionCoordinator({
      brokerId: this.options.brokerId,
      log: this.replicaManager,
      numPartitions: () => this.metadata.topic(TRANSACTION_STATE_TOPIC)?.partitions.length ?? this.settings.transactionStateLogNumPartitions,
      producerIds: this.producerIds,
      markers: this.txnMarkerChannel,
      config: bc
        ? {
            transactionMaxTimeoutMs: bc.transactionMaxTimeoutMs,
            transactionalIdExpirationMs: bc.transactionalIdExpirationMs,
            abortTimedOutTransactionsIntervalMs: bc.transactionAbortTimedOutTransactionCleanupIntervalMs,
            removeExpiredTransactionalIdsIntervalMs: bc.transactionRemoveExpiredTransactionCleanupIntervalMs,
            loadBufferSize: bc.transactionStateLogLoadBufferSize,
          }
        : {},
      logger: this.logger,
      ...(this.options.beforeSendingTxnMarkers ? { beforeSendingMarkers: this.options.beforeSendingTxnMarkers } : {}),
    });
    // producer.id.expiration.ms: producers idle that long (without an open transaction) are forgotten (Kafka's
    // producer-expiry-check, every producer.id.expiration.check.interval.ms).
    const producerIdExpirationMs = bc?.producerIdExpirationMs ?? 86400000;
    this.producerExpiryTimer = setInterval(() => {
      const now = Date.now();
      for (const log of this.logManager.allLogs()) if (!log.isClosed) log.removeExpiredProducers(now, producerIdExpirationMs);
    }, bc?.producerIdExpirationCheckIntervalMs ?? 600000);
    this.producerExpiryTimer.unref();
    this.reconciler = new Reconciler({
      registry: this.options.registry,
      brokerId: this.options.brokerId,
      metadata: this.metadata,
      replicaManager: this.replicaManager,
      logManager: this.logManager,
      logDefaults: this.options.logDefaults,
      ...(this.options.topicLogConfig !== undefined ? { topicLogConfig: this.options.topicLogConfig } : {}),
      minInsyncReplicas: this.replicationConfig.minInsyncReplicas,
      groupCoordinator: () => this.groupCoordinator,
      transactionCoordinator: () => this.transactionCoordinator,
      logger: this.logger,
      isStopped: () => this.stopped,
      ...(this.options.brokerConfig ? { interBrokerListenerName: this.options.brokerConfig.interBrokerListenerName } : {}),
    });
    // logs recovered while the broker was still starting: the first full pass hosts them
    for (const [topic, partition] of this.recoveredBeforeStart.splice(0)) this.reconciler.partitionRecovered(topic, partition);

    const bcfg = this.options.brokerConfig;
    const toLogDefaults = this.options.logDefaultsFromConfig;
    if (bcfg !== undefined && toLogDefaults !== undefined) {
      this.dynamicConfigs = new DynamicConfigWatcher(registry, this.options.brokerId, this.logger, (d) => this.applyDynamicConfigs(bcfg, toLogDefaults, d));
      await this.dynamicConfigs.start();
    }
    this.entityConfigs = new EntityConfigCache(registry, this.logger);
    await this.entityConfigs.start();
    this.clientQuotas.follow(this.entityConfigs);
    await this.authorizer?.start();
    const scram = new ScramCredentialCache(this.entityConfigs);

    // One set of connection quotas for all listeners: Kafka's limits are per broker.
    const quotas = new ConnectionQuotas(this.options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS, this.logger);
    for (const l of this.options.listeners) {
      const security = this.options.listenerSecurity?.find((s) => s.name === l.name);
      const built = security ? buildListenerTransport(security, { scram, logger: this.logger }) : null;
      if (built) this.transports.push(built);
      const server = new SocketServer(
        { name: l.name, host: l.host, port: l.port },
        {
          maxRequestBytes: this.options.socketRequestMaxBytes,
          handlers: this.handlers,
          logger: this.logger,
          unsupportedApiVersionsBody: () => unsupportedApiVersionsBody(() => this.handlers.values()) as Record<string, unknown>,
          ready: this.ready,
          quotas,
          ...(built ? { transport: built.transport } : {}),
          clientQuotas: quotaHook(this.clientQuotas),
        },
      );
      await server.start();
      this.servers.push(server);
    }
    this.advertised = this.resolveAdvertisedListeners();

    await this.registerBroker();
    this.options.registry.onSessionEvent((e) => {
      if (this.stopped) return;
      // The session expired: its ephemeral nodes (/controller among them) are gone, so stop acting as controller now.
      if (e.state === 'expired') this.controller.onSessionExpired();
      if (e.state !== 'connected') return;
      // A new registry session: register again, run the election, re-arm watches.
      this.logger.warn('registry session was re-established: registering broker again');
      void (async () => {
        await this.entityConfigs?.reload();
        await this.dynamicConfigs?.reload();
        await this.authorizer?.reload();
        // The old session's record of replicas in failed log dirs went with it: recorded again before the broker
        // registers, so that the controller, seeing the broker come back, never takes those replicas as online.
        await this.publishOfflineReplicas('log dirs that failed before the new session');
        await this.registerBroker();
        await this.controller.reelect();
        await this.reconcile();
      })().catch((err) => this.logger.error(`re-registration failed: ${(err as Error).stack ?? err}`));
    });
    await this.controller.startup();
    await this.reconcile();
    this.logOpenFileBudget();
    this.metrics.attach(brokerStateSource(this));
    this.started = true;
    this.markReady();
  }

  /**
   * Dynamic broker configs changed: the log defaults become those of the static config with the dynamic default and
   * this broker's dynamic configs on top, and every hosted log gets them (where its topic has no override).
   */
  private async applyDynamicConfigs(base: BrokerConfig, toLogDefaults: (c: BrokerConfig) => Partial<LogConfig>, d: DynamicBrokerConfigs): Promise<void> {
    let merged: BrokerConfig;
    try {
      merged = brokerConfigFromProperties({ ...base.originals, ...d.defaults, ...d.broker });
    } catch (err) {
      this.logger.warn(`ignoring invalid dynamic broker configs ${JSON.stringify(d)}: ${(err as Error).message}`);
      return;
    }
    const target = this.options.logDefaults as Record<string, unknown>;
    for (const k of Object.keys(target)) delete target[k];
    Object.assign(target, toLogDefaults(merged));
    this.logger.info(`dynamic broker configs: default ${JSON.stringify(d.defaults)}, broker ${this.options.brokerId} ${JSON.stringify(d.broker)}`);
    if (this.reconciler !== null && !this.stopped) await this.reconcile();
  }

  /** Open client connections by listener name. */
  connectionCounts(): [string, number][] {
    return this.servers.map((s) => [s.listenerName, s.connectionCount]);
  }

  /**
   * Whether the broker should receive traffic (/health/ready): started, registered in the registry, not stopping,
   * and caught up: every replica it follows is in its partition's ISR. The reason says what is missing.
   */
  readiness(): { ready: boolean; reason: string } {
    if (this.stopped || this.stopping !== null) return { ready: false, reason: 'shutting down' };
    if (!this.started) return { ready: false, reason: 'starting' };
    const registered = this.metadata.brokers.has(this.options.brokerId);
    if (!registered) return { ready: false, reason: `broker ${this.options.brokerId} is not registered` };
    const recovering = this.logManager.loadingCount;
    if (recovering > 0) return { ready: false, reason: `${recovering} log(s) still recovering after an unclean shutdown` };
    const behind: string[] = [];
    for (const p of this.replicaManager.hostedPartitions()) {
      if (p.log.isOffline) behind.push(`${p.topic}-${p.partition} (offline)`);
      else if (!p.isLeader && p.leaderId >= 0 && !p.isr.includes(this.options.brokerId)) behind.push(`${p.topic}-${p.partition}`);
    }
    if (behind.length > 0) return { ready: false, reason: `not in the ISR of ${behind.length} partition(s): ${behind.slice(0, 10).join(', ')}` };
    return { ready: true, reason: 'registered and caught up' };
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

  /** A log recovered in the background after an unclean shutdown: reconciliation hosts it (leader or follower). */
  private onLogRecovered(topic: string, partition: number): void {
    if (this.stopped) return;
    if (this.reconciler === null) this.recoveredBeforeStart.push([topic, partition]);
    else this.reconciler.partitionRecovered(topic, partition);
  }

  /**
   * Waits until a partition still recovering is recovered and its replica hosted (a request named it, so its
   * recovery goes first); the gated request then runs (loading-gate.ts).
   */
  private async awaitServed(topic: string, partition: number): Promise<void> {
    const log = await this.logManager.awaitLoad(topic, partition);
    if (log === undefined || this.stopped) return;
    await this.reconciler?.recoveredApplied(topic, partition);
  }

  /** The error a partition assigned here met when its log was created or opened, until that succeeds. */
  partitionFailure(topic: string, partition: number): Error | undefined {
    return this.reconciler?.partitionFailure(topic, partition);
  }

  /**
   * A log dir went offline (Kafka's ReplicaManager.handleLogDirFailure; the LogManager closed its logs and logged
   * it): fetches waiting on its partitions wake up to answer KAFKA_STORAGE_ERROR, a log dir event notification
   * tells the controller (so it can elect other leaders), and with no log dir left the broker must stop.
   */
  private handleLogDirFailure(failure: LogDirFailure): void {
    for (const p of failure.partitions) {
      this.replicaManager?.onLogDirFailure(p.topic, p.partition);
      this.offlineReplicas.set(`${p.topic}\u0000${p.partition}`, { topic: p.topic, partition: p.partition });
    }
    void this.publishOfflineReplicas(`the failure of log dir ${failure.dir}`);
    if (failure.allLogDirsOffline) {
      const err = new Error(`all log dirs in ${this.options.logDirs.join(', ')} have failed (the last: ${failure.dir}: ${failure.cause.message})`);
      // Not from inside the failed write's call stack: the request that met the failure is answered first.
      setImmediate(() => {
        if (this.options.onFatalError) this.options.onFatalError(err);
        else void this.stop().catch((e: unknown) => this.logger.error(`error during shutdown: ${(e as Error).stack ?? e}`));
      });
    }
  }

  /**
   * Tells the controller which replicas are in failed log dirs (an ephemeral registry node, then Kafka's
   * /log_dir_event_notification), so that it elects other leaders for them and takes them out of ISRs.
   * Never rejects: a failure is logged (the next failure or new session records them all again).
   */
  private publishOfflineReplicas(why: string): Promise<void> {
    if (this.offlineReplicas.size === 0) return Promise.resolve();
    return publishOfflineReplicas(this.options.registry, this.options.brokerId, [...this.offlineReplicas.values()]).then(
      (path) => this.logger.info(`wrote ${path} for ${why}: ${this.offlineReplicas.size} replica(s) offline`),
      (err: unknown) => this.logger.error(`could not tell the controller about ${why}: ${(err as Error).message ?? err}`),
    );
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
    const registered = await this.options.registry.get(brokerIdPath(this.options.brokerId));
    if (registered) this.brokerEpoch = registered.stat.czxid;
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

  /** The replication settings (replica.*, num.replica.fetchers, min.insync.replicas) of this broker. */
  get replicationConfig(): ReplicationConfig {
    const bc = this.options.brokerConfig;
    const base = bc ? replicationConfigFromBroker(bc) : DEFAULT_REPLICATION_CONFIG;
    return this.options.interBrokerSecurity ? { ...base, interBrokerSecurity: this.options.interBrokerSecurity } : base;
  }

  /**
   * Re-reads the whole registry and makes this broker match it (brokers, controller, every topic; local
   * replicas led, followed or stopped). Watches re-read only what changed (src/broker/reconciler.ts).
   */
  reconcile(): Promise<void> {
    if (this.reconciler === null) return Promise.resolve();
    return this.reconciler.reconcileAll();
  }

  /** Re-reads one topic's assignment, config and partition states and applies them. */
  reconcileTopic(topic: string): Promise<void> {
    if (this.reconciler === null) return Promise.resolve();
    return this.reconciler.reconcileTopic(topic);
  }

  /**
   * Clean shutdown: a controlled shutdown first when other brokers are alive (leaderships move
   * away while this broker still serves), then stop listening, close connections, flush and
   * checkpoint logs, leave the registry. `cleanShutdown: false` (after a fatal error) skips the
   * controlled shutdown and writes no clean-shutdown marker.
   */
  async stop(opts: { cleanShutdown?: boolean; controlledShutdownMaxRetries?: number } = {}): Promise<void> {
    if (this.stopped || this.stopping) return this.stopping ?? undefined;
    this.stopping = (async () => {
      if (opts.cleanShutdown !== false) await this.maybeControlledShutdown(opts.controlledShutdownMaxRetries);
      await this.shutdownNow(opts.cleanShutdown !== false);
    })();
    return this.stopping;
  }

  private stopping: Promise<void> | null = null;

  private async maybeControlledShutdown(maxRetries?: number): Promise<void> {
    const bc = this.options.brokerConfig;
    if (!this.replicaManager || bc?.controlledShutdownEnable === false) return;
    try {
      const others = ((await this.options.registry.children(brokerIdsPath)) ?? []).filter((id) => Number(id) !== this.options.brokerId);
      if (others.length === 0) return; // alone: nobody to hand leadership to
      // From here on no follower starts fetching at a new leader epoch: the ISRs the controller takes this broker
      // out of stay without it (otherwise leaders would see it catch up again and add it back before it exits).
      this.replicaManager.beginControlledShutdown();
      await controlledShutdown({
        brokerId: this.options.brokerId,
        brokerEpoch: this.brokerEpoch,
        maxRetries: maxRetries ?? bc?.controlledShutdownMaxRetries ?? 3,
        retryBackoffMs: bc?.controlledShutdownRetryBackoffMs ?? 5000,
        controller: this.controller,
        channel: this.controllerChannel,
        logger: this.logger,
      });
    } catch (err) {
      this.logger.warn(`controlled shutdown failed, shutting down anyway: ${(err as Error).message}`);
    }
    // Kafka's StopReplica for a broker whose controlled shutdown is done: it replicates nothing any more.
    if (this.replicaManager) await this.replicaManager.stopFollowing().catch((err: unknown) => this.logger.warn(`stopping the replica fetchers failed: ${(err as Error).message}`));
  }

  private async shutdownNow(cleanShutdownMarker: boolean): Promise<void> {
    this.stopped = true;
    this.markReady(); // let waiting connections run into their (now closed) sockets
    this.controllerChannel.close();
    await this.controller.shutdown();
    await Promise.all(this.servers.map((s) => s.stop()));
    for (const t of this.transports) t.close();
    this.entityConfigs?.close();
    this.dynamicConfigs?.close();
    this.authorizer?.close();
    this.reconciler?.stop();
    this.closeTransactions();
    this.groupCoordinator?.close();
    if (this.replicaManager) await this.replicaManager.close();
    if (this.logManager) await this.logManager.close({ cleanShutdownMarker });
    await this.options.registry.close();
  }

  /**
   * Abrupt stop, the in-process equivalent of kill -9 (startCluster().killBroker): client sockets
   * dropped, the registry session ended (its ephemeral nodes vanish as after a ZooKeeper session
   * timeout) without a controlled shutdown, logs closed without a flush, checkpoint or
   * clean-shutdown marker, so that the next start recovers them.
   */
  async kill(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.markReady();
    this.controllerChannel.close();
    const registry = this.options.registry as Registry & { expire?: () => void };
    if (typeof registry.expire === 'function') registry.expire();
    // kill() is the in-process kill -9: ending the session is all that matters, a failure to close it is logged.
    else await registry.close().catch((err: unknown) => this.logger.warn(`closing the registry session after a kill: ${(err as Error).message ?? err}`));
    await Promise.all(this.servers.map((s) => s.stop()));
    for (const t of this.transports) t.close();
    this.entityConfigs?.close();
    this.dynamicConfigs?.close();
    this.authorizer?.close();
    await this.controller.shutdown();
    this.closeTransactions();
    this.groupCoordinator?.close();
    if (this.replicaManager) await this.replicaManager.close();
    if (this.logManager) this.logManager.closeWithoutFlush();
  }

  private closeTransactions(): void {
    if (this.producerExpiryTimer !== null) clearInterval(this.producerExpiryTimer);
    this.producerExpiryTimer = null;
    this.txnMarkerChannel?.close();
    this.remoteHighWatermarks.close();
    this.transactionCoordinator?.close();
  }
}

export { ErrorCode };
