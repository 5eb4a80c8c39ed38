/**
 * Turns the registry's cluster state into this broker's local state, level-triggered and scoped: a watch never
 * carries the change itself; it marks what it covers as dirty (the broker list, the controller, the topic list,
 * one topic) and a single worker re-reads exactly that from the registry and applies it. Missed or repeated
 * events are harmless, and a change to one topic's partition states costs a re-read of that topic only.
 *
 * For each partition whose replicas include this broker, the state znode {leader, leader_epoch, isr} becomes a
 * role through the ReplicaManager: leader == this broker → leader; another broker → follower of it (fetching
 * while that broker is live); -1 → follower without a leader (keeps its log, serves nothing). A replica no longer
 * assigned here, or of a deleted topic, is stopped and its log deleted. A state older than the one applied (by
 * leader epoch, then znode version) never demotes anything. This broker never writes partition state here; the
 * only write a non-controller makes is a leader's own ISR change (ReplicaManager).
 *
 * Scale (issue 13): a topic's partitions are applied 16 at a time (their log creations' fsyncs overlap), and a
 * partition that cannot be applied (its log cannot be created: out of descriptors, a failed log dir) holds up no
 * other. Its error is kept (`partitionFailure`: CreateTopics and Metadata report it), logged once per round for
 * all such partitions, and its topic is read again, 1 s later, backing off to 30 s while it keeps failing. A
 * partition whose log is still recovering after an unclean shutdown is skipped; once recovered
 * (`partitionRecovered`) it is applied from the state last read for its topic, so that hosting 10,000 recovered
 * logs costs 10,000 applications, not a registry read of its topic for each.
 */
import { uuidFromString, uuidToString, ZERO_UUID } from '../protocol/primitives.js';
import type { Registry, Watcher } from '../registry/registry.js';
import {
  brokerIdPath,
  brokerIdsPath,
  controllerPath,
  decodeBrokerRegistration,
  decodeController,
  decodeOfflineReplicas,
  decodePartitionState,
  decodeTopicAssignment,
  decodeTopicConfig,
  offlineReplicasBrokerPath,
  offlineReplicasPath,
  partitionStatePath,
  topicConfigPath,
  topicPath,
  topicsPath,
  type TopicAssignment,
} from '../registry/paths.js';
import type { LogManager } from '../log/log-manager.js';
import { logConfig as fullLogConfig, type LogConfig } from '../log/log-config.js';
import { isDescriptorExhaustion } from '../log/fd-cache.js';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import type { BrokerEndpoint, MetadataCache, PartitionInfo, TopicInfo } from '../cluster/metadata-cache.js';
import { isInternalTopic, OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC } from '../cluster/topic-names.js';
import type { ReplicaManager } from '../replication/replica-manager.js';
import { minInsyncReplicasFor } from '../replication/replication-config.js';
import type { GroupCoordinator } from '../group/group-coordinator.js';
import type { TransactionCoordinator } from '../transaction/transaction-coordinator.js';
import type { Logger } from '../server/logger.js';

export interface ReconcilerOptions {
  registry: Registry;
  brokerId: number;
  metadata: MetadataCache;
  replicaManager: ReplicaManager;
  logManager: LogManager;
  /** Broker-level defaults for every log (topic overrides win). */
  logDefaults: Partial<LogConfig>;
  /** Maps a topic's config overrides onto log settings. */
  topicLogConfig?: (overrides: Record<string, string>) => Partial<LogConfig>;
  /** min.insync.replicas, the broker default. */
  minInsyncReplicas: number;
  groupCoordinator: () => GroupCoordinator | null;
  transactionCoordinator?: () => TransactionCoordinator | null;
  logger: Logger;
  isStopped: () => boolean;
  /** Pause before a failed pass is tried again, and the first pause before partitions that failed are (default 1000 ms). */
  retryMs?: number;
  /** inter.broker.listener.name: followers fetch from leaders on this listener (default: the first endpoint). */
  interBrokerListenerName?: string;
}

type Job = 'brokers' | 'controller' | 'topics' | 'offline' | 'recovered' | `topic:${string}`;

/** Partitions whose logs a topic's application creates or opens at once (their fsyncs overlap; see LogManager.syncDir). */
const APPLY_CONCURRENCY = 16;
/** The longest pause between two attempts at partitions that keep failing. */
const PARTITION_RETRY_MAX_MS = 30_000;

const partitionName = (topic: string, partition: number): string => `${topic}-${partition}`;

/** Partitions recovered after an unclean shutdown, waiting to be applied; `done` once they were. */
class RecoveredBatch {
  readonly byTopic = new Map<string, Set<number>>();
  readonly keys = new Set<string>();
  readonly done: Promise<void>;
  resolve!: () => void;

  constructor() {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  add(topic: string, partition: number): void {
    let parts = this.byTopic.get(topic);
    if (parts === undefined) this.byTopic.set(topic, (parts = new Set()));
    parts.add(partition);
    this.keys.add(partitionName(topic, partition));
  }
}

interface ReadState {
  leader: number;
  leaderEpoch: number;
  isr: number[];
  controllerEpoch: number;
  zkVersion: number;
}

export class Reconciler {
  private full = false;
  private readonly jobs = new Set<Job>();
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Topics this broker has read (their watches are armed). */
  private readonly known = new Set<string>();
  private readonly topicWatchers = new Map<string, Watcher>();
  private readonly watchers: Record<'brokers' | 'controller' | 'topics' | 'offline', Watcher>;
  /** Set by the first reconcileAll (start-up): from then on recovered logs are applied as they come. */
  private started = false;
  /** Each known topic as last read (assignment, config, states): recovered logs are applied from it. */
  private readonly lastRead = new Map<string, { topic: TopicInfo; states: Map<number, ReadState> }>();
  private recovered = new RecoveredBatch();
  private recoveredInFlight: RecoveredBatch | null = null;
  /** Partitions assigned here that could not be applied (their log could not be created), by `<topic>-<partition>`. */
  private readonly failures = new Map<string, { topic: string; partition: number; error: Error }>();
  /** A partition failed since failures were last reported. */
  private failedSinceReport = false;
  private failureRetryTimer: NodeJS.Timeout | null = null;
  private failureRetryMs: number;

  constructor(private readonly opts: ReconcilerOptions) {
    this.failureRetryMs = opts.retryMs ?? 1000;
    this.watchers = {
      brokers: () => this.watchFired('brokers'),
      controller: () => this.watchFired('controller'),
      topics: () => this.watchFired('topics'),
      offline: () => this.watchFired('offline'),
    };
  }

  /** Re-reads everything: brokers, controller, every topic; deletes logs of topics that no longer exist. */
  reconcileAll(): Promise<void> {
    this.started = true;
    this.full = true;
    return this.kick();
  }

  /**
   * A log recovered in the background after an unclean shutdown (it was skipped while it recovered): its partition
   * is applied from the state last read for its topic (the first full pass applies those recovered before it).
   */
  partitionRecovered(topic: string, partition: number): void {
    this.recovered.add(topic, partition);
    if (!this.started || this.opts.isStopped()) return;
    this.jobs.add('recovered');
    this.kick().catch(() => undefined); // logged and retried by the worker
  }

  /** Resolves once a recovered partition (see partitionRecovered) has been applied, at once when none is waiting. */
  recoveredApplied(topic: string, partition: number): Promise<void> {
    const k = partitionName(topic, partition);
    if (this.recovered.keys.has(k)) return this.recovered.done;
    if (this.recoveredInFlight?.keys.has(k) === true) return this.recoveredInFlight.done;
    return Promise.resolve();
  }

  /** Why a partition assigned here could not be applied (its log could not be created), until it is. */
  partitionFailure(topic: string, partition: number): Error | undefined {
    return this.failures.get(partitionName(topic, partition))?.error;
  }

  /** Re-reads one topic (assignment, config, partition states) and applies it. */
  reconcileTopic(topic: string): Promise<void> {
    this.jobs.add(`topic:${topic}`);
    return this.kick();
  }

  stop(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.failureRetryTimer !== null) clearTimeout(this.failureRetryTimer);
    this.failureRetryTimer = null;
    // requests waiting for recovered partitions go on (and find the broker stopping)
    this.recovered.resolve();
    this.recoveredInFlight?.resolve();
  }

  private watchFired(job: Job): void {
    if (this.opts.isStopped()) return;
    this.jobs.add(job);
    this.kick().catch(() => undefined); // logged and retried by the worker
  }

  private topicWatcher(topic: string): Watcher {
    let w = this.topicWatchers.get(topic);
    if (w === undefined) {
      w = () => this.watchFired(`topic:${topic}`);
      this.topicWatchers.set(topic, w);
    }
    return w;
  }

  /** Runs the worker if idle; the running worker takes work added meanwhile before it resolves. */
  private kick(): Promise<void> {
    if (this.running !== null) return this.running;
    const run = (async () => {
      try {
        while (!this.opts.isStopped() && (this.full || this.jobs.size > 0)) {
          if (this.full) {
            this.full = false;
            this.jobs.clear();
            // a full pass applies every log recovered so far (they are no longer loading)
            const batch = this.takeRecovered();
            try {
              await this.fullPass();
            } finally {
              this.recoveredInFlight = null;
              batch.resolve();
            }
            continue;
          }
          const [job] = this.jobs;
          this.jobs.delete(job!);
          await this.runJob(job!);
        }
        this.reportFailures();
      } catch (err) {
        // Level-triggered: whatever failed is read again in full after a pause.
        this.opts.logger.error(`reconciliation failed (retrying): ${(err as Error).stack ?? err}`);
        this.scheduleRetry();
        throw err;
      } finally {
        this.running = null;
      }
    })();
    this.running = run;
    return run;
  }

  private scheduleRetry(): void {
    if (this.opts.isStopped() || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.reconcileAll().catch(() => undefined);
    }, this.opts.retryMs ?? 1000);
    this.retryTimer.unref();
  }

  /**
   * Logs the partitions that could not be applied (one line for all of them, not one per partition) and reads
   * their topics again after a pause, which doubles (up to 30 s) while they keep failing.
   */
  private reportFailures(): void {
    if (this.failures.size === 0) {
      this.failureRetryMs = this.opts.retryMs ?? 1000;
      this.failedSinceReport = false;
      return;
    }
    if (!this.failedSinceReport || this.failureRetryTimer !== null || this.opts.isStopped()) return;
    this.failedSinceReport = false;
    const all = [...this.failures.values()];
    const names = all.map((f) => partitionName(f.topic, f.partition));
    const first = all[0]!.error;
    const shown = names.slice(0, 10).join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '');
    const line = `cannot serve ${names.length} partition(s) assigned here yet (${shown}), trying again in ${this.failureRetryMs / 1000} s: ${first.message}`;
    // running out of descriptors is a condition that passes; anything else is an error
    const passing = isDescriptorExhaustion(first.cause) || (first instanceof KafkaError && first.code === ErrorCode.REQUEST_TIMED_OUT);
    if (passing) this.opts.logger.warn(line);
    else this.opts.logger.error(line);
    this.failureRetryTimer = setTimeout(() => {
      this.failureRetryTimer = null;
      if (this.opts.isStopped()) return;
      for (const topic of new Set([...this.failures.values()].map((f) => f.topic))) this.jobs.add(`topic:${topic}`);
      this.kick().catch(() => undefined); // logged and retried by the worker
    }, this.failureRetryMs);
    this.failureRetryTimer.unref();
    this.failureRetryMs = Math.min(PARTITION_RETRY_MAX_MS, this.failureRetryMs * 2);
  }

  private recordFailure(topic: string, partition: number, err: unknown): void {
    this.failures.set(partitionName(topic, partition), { topic, partition, error: err instanceof Error ? err : new Error(String(err)) });
    this.failedSinceReport = true;
  }

  private forgetFailure(topic: string, partition: number): void {
    this.failures.delete(partitionName(topic, partition));
  }

  private async runJob(job: Job): Promise<void> {
    if (job === 'brokers') await this.readBrokers();
    else if (job === 'controller') await this.readController();
    else if (job === 'topics') await this.readTopicList();
    else if (job === 'offline') await this.readOfflineReplicas();
    else if (job === 'recovered') await this.applyRecovered();
    else await this.readTopic(job.slice('topic:'.length));
  }

  /** Takes the recovered partitions waiting so far; later ones go to a new batch. */
  private takeRecovered(): RecoveredBatch {
    const batch = this.recovered;
    this.recovered = new RecoveredBatch();
    this.recoveredInFlight = batch;
    return batch;
  }

  /**
   * Applies recovered partitions from the state last read for their topics. That state is current: a change
   * since its read fired the topic's watch, and that topic is read again after this (and a state older than the
   * one applied is ignored anyway). A topic not read yet is read now.
   */
  private async applyRecovered(): Promise<void> {
    const batch = this.takeRecovered();
    try {
      let offsets = false;
      let transactions = false;
      for (const [name, partitions] of batch.byTopic) {
        if (this.opts.isStopped()) return;
        const read = this.lastRead.get(name);
        if (read === undefined) {
          await this.readTopic(name); // unknown (deleted while this broker was down, say): that read removes its logs
          continue;
        }
        await this.applyTopic(read.topic, read.states, partitions);
        if (name === OFFSETS_TOPIC) offsets = true;
        if (name === TRANSACTION_STATE_TOPIC) transactions = true;
      }
      // the coordinators own the partitions of their topics led here, recovered ones included
      if (offsets) await this.updateGroupCoordinator();
      if (transactions) await this.updateTransactionCoordinator();
    } finally {
      this.recoveredInFlight = null;
      batch.resolve();
    }
  }

  private async fullPass(): Promise<void> {
    await this.readBrokers();
    await this.readController();
    await this.readOfflineReplicas();
    const names = (await this.opts.registry.children(topicsPath, this.watchers.topics)) ?? [];
    const topics: TopicInfo[] = [];
    for (const name of names) {
      const t = await this.readTopic(name, false);
      if (t !== null) topics.push(t);
    }
    this.opts.metadata.replaceTopics(topics);
    for (const gone of [...this.known].filter((n) => !names.includes(n))) await this.removeTopic(gone);
    // Logs left on disk for topics deleted while this broker was down (or partitions no longer assigned here).
    const existing = new Map(topics.map((t) => [t.name, t]));
    for (const log of this.opts.logManager.allLogs()) {
      const t = existing.get(log.topic);
      if (t === undefined || !t.partitions.some((p) => p.partition === log.partition && p.replicas.includes(this.opts.brokerId))) {
        if (this.opts.replicaManager.getPartition(log.topic, log.partition) !== undefined) {
          await this.opts.replicaManager.stopReplica(log.topic, log.partition, true);
        } else {
          await this.opts.logManager.deleteLog(log.topic, log.partition);
        }
      }
    }
    await this.updateGroupCoordinator();
    await this.updateTransactionCoordinator();
  }

  private async readBrokers(): Promise<void> {
    const { registry } = this.opts;
    const ids = (await registry.children(brokerIdsPath, this.watchers.brokers)) ?? [];
    const brokers = new Map<number, BrokerEndpoint>();
    for (const idText of ids) {
      const node = await registry.get(brokerIdPath(Number(idText)));
      if (!node) continue;
      const reg = decodeBrokerRegistration(Number(idText), node.data);
      // Clients are answered with the endpoints of the listener they connected to; brokers talk to each other on
      // the inter-broker listener.
      const listeners = new Map(reg.endpoints.map((e) => [e.listenerName, { host: e.host, port: e.port }]));
      const ib = this.opts.interBrokerListenerName;
      const ep = (ib !== undefined ? reg.endpoints.find((e) => e.listenerName === ib) : undefined) ?? reg.endpoints[0];
      if (ep) brokers.set(reg.id, { id: reg.id, host: ep.host, port: ep.port, rack: reg.rack, listeners });
    }
    this.opts.metadata.brokers = brokers;
    await this.opts.replicaManager.onBrokersChanged();
  }

  /**
   * The replicas in failed log dirs of every broker (/kfk/offline_replicas/<id>, written by a broker whose log dir
   * failed, ephemeral: gone when it restarts), for Metadata's offline_replicas. Watches the list and each record.
   */
  private async readOfflineReplicas(): Promise<void> {
    const { registry } = this.opts;
    let ids: string[] | null;
    for (;;) {
      ids = await registry.children(offlineReplicasPath, this.watchers.offline);
      if (ids !== null) break;
      // no broker has recorded any yet: watch for the parent's creation (reading a missing node sets no watch)
      if ((await registry.exists(offlineReplicasPath, this.watchers.offline)) === null) break;
    }
    const offline = new Map<number, Set<string>>();
    for (const idText of ids ?? []) {
      const id = Number(idText);
      const node = await registry.get(offlineReplicasBrokerPath(id), this.watchers.offline);
      if (node === null) continue;
      try {
        offline.set(id, new Set(decodeOfflineReplicas(node.data).map((tp) => partitionName(tp.topic, tp.partition))));
      } catch (err) {
        this.opts.logger.warn(`ignoring unreadable ${offlineReplicasBrokerPath(id)}: ${(err as Error).message}`);
      }
    }
    this.opts.metadata.offlineReplicas = offline;
  }

  private async readController(): Promise<void> {
    for (;;) {
      const node = await this.opts.registry.get(controllerPath, this.watchers.controller);
      if (node !== null) {
        this.opts.metadata.controllerId = decodeController(node.data).brokerId;
        return;
      }
      // No controller right now: watch for the next one. A reading of a missing node sets no watch, so a
      // controller elected between the two calls is found by exists(), and read again; taking it for "none" would
      // leave Metadata without a controller until /controller changes again.
      if ((await this.opts.registry.exists(controllerPath, this.watchers.controller)) === null) {
        this.opts.metadata.controllerId = -1;
        return;
      }
    }
  }

  private async readTopicList(): Promise<void> {
    const names = (await this.opts.registry.children(topicsPath, this.watchers.topics)) ?? [];
    for (const name of names) if (!this.known.has(name)) this.jobs.add(`topic:${name}`);
    for (const gone of [...this.known].filter((n) => !names.includes(n))) await this.removeTopic(gone);
  }

  /**
   * Reads one topic (arming its watches) and applies it to the local replicas; also updates the metadata cache
   * unless `updateMetadata` is false (a full pass replaces it at once). Null when the topic does not exist.
   */
  private async readTopic(name: string, updateMetadata = true): Promise<TopicInfo | null> {
    const { registry } = this.opts;
    const watch = this.topicWatcher(name);
    let assignment: TopicAssignment;
    let config: Record<string, string>;
    let partitions: PartitionInfo[];
    let states: Map<number, ReadState>;
    // The assignment and the states are separate znodes. A reassignment's controller writes them so that a state
    // with a new leader epoch is never current before its assignment is; read them as one consistent pair (the
    // assignment unchanged while the states were read), or a leader could pair a new epoch with replicas the
    // controller already removed and take one of them back into the ISR.
    for (;;) {
      const node = await registry.get(topicPath(name), watch);
      if (node === null) {
        await this.removeTopic(name);
        return null;
      }
      this.known.add(name);
      assignment = decodeTopicAssignment(name, node.data);
      const cfgPath = topicConfigPath(name);
      // exists() also fires when the config node is created later (AlterConfigs on a topic without overrides).
      const cfgNode = (await registry.exists(cfgPath, watch)) ? await registry.get(cfgPath, watch) : null;
      config = cfgNode ? decodeTopicConfig(cfgNode.data) : {};
      partitions = [];
      states = new Map<number, ReadState>();
      for (const [partition, replicas] of [...assignment.partitions.entries()].sort((a, b) => a[0] - b[0])) {
        const path = partitionStatePath(name, partition);
        const st = await registry.get(path, watch);
        if (st === null) await registry.exists(path, watch);
        const state = st ? decodePartitionState(st.data) : null;
        if (state !== null && st !== null) {
          states.set(partition, { ...state, zkVersion: st.stat.version });
        }
        partitions.push({ partition, replicas, leader: state?.leader ?? -1, leaderEpoch: state?.leaderEpoch ?? -1, isr: state?.isr ?? [] });
      }
      const after = await registry.exists(topicPath(name));
      if (after !== null && after.version === node.stat.version) break;
    }
    const topic: TopicInfo = {
      name,
      topicId: assignment.topicId ? uuidFromString(assignment.topicId) : ZERO_UUID,
      partitions,
      config,
      internal: isInternalTopic(name),
    };
    if (updateMetadata) this.opts.metadata.upsertTopic(topic);
    this.lastRead.set(name, { topic, states });
    await this.applyTopic(topic, states);
    if (updateMetadata && name === OFFSETS_TOPIC) await this.updateGroupCoordinator();
    if (updateMetadata && name === TRANSACTION_STATE_TOPIC) await this.updateTransactionCoordinator();
    return topic;
  }

  /**
   * Applies a topic's assignment and states to the local replicas, APPLY_CONCURRENCY partitions at a time; only
   * the partitions in `only` when given (recovered logs). Partitions still recovering are skipped.
   */
  private async applyTopic(topic: TopicInfo, states: Map<number, ReadState>, only?: ReadonlySet<number>): Promise<void> {
    const { brokerId, replicaManager: rm, logManager } = this.opts;
    const logCfg = { ...this.opts.logDefaults, ...(this.opts.topicLogConfig?.(topic.config) ?? {}) };
    const minIsr = minInsyncReplicasFor(topic.config, this.opts.minInsyncReplicas);
    let complete: LogConfig | undefined;
    const completeConfig = (): LogConfig => (complete ??= fullLogConfig(logCfg));
    const tasks: (() => Promise<void>)[] = [];
    for (const p of topic.partitions) {
      if (only !== undefined && !only.has(p.partition)) continue;
      // Still recovering after an unclean shutdown: applied once recovered (partitionRecovered), so that neither a
      // leader serves it nor a follower fetches for it before its log is whole. (A log no longer assigned here is
      // deleted at once, without being recovered.)
      if (p.replicas.includes(brokerId) && logManager.isLoading(topic.name, p.partition)) continue;
      tasks.push(async () => {
        try {
          await this.applyPartition(topic, p, states.get(p.partition), { log: logCfg, minInsyncReplicas: minIsr }, completeConfig);
        } catch (err) {
          // One partition that cannot be applied (its log cannot be created: out of descriptors, its log dir
          // failed) holds up no other: it is reported and tried again (reportFailures).
          this.recordFailure(topic.name, p.partition, err);
        }
      });
    }
    await runConcurrently(tasks, APPLY_CONCURRENCY);
    if (only !== undefined) {
      // recovered logs of partitions the topic no longer has
      for (const n of only) {
        if (topic.partitions.some((p) => p.partition === n)) continue;
        if (rm.getPartition(topic.name, n) !== undefined) await rm.stopReplica(topic.name, n, true);
        else await logManager.deleteLog(topic.name, n);
      }
      return;
    }
    for (const h of rm.hostedPartitions()) {
      if (h.topic === topic.name && !topic.partitions.some((p) => p.partition === h.partition)) await rm.stopReplica(h.topic, h.partition, true);
    }
    for (const f of [...this.failures.values()]) {
      if (f.topic === topic.name && !topic.partitions.some((p) => p.partition === f.partition)) this.forgetFailure(f.topic, f.partition);
    }
  }

  /** One partition: become leader or follower as its state says, or stop and delete a replica no longer assigned here. */
  private async applyPartition(
    topic: TopicInfo,
    p: PartitionInfo,
    state: ReadState | undefined,
    config: { log: Partial<LogConfig>; minInsyncReplicas: number },
    completeConfig: () => LogConfig,
  ): Promise<void> {
    const { brokerId, replicaManager: rm, logManager } = this.opts;
    const known = !topic.topicId.equals(ZERO_UUID);
    let hosted = rm.getPartition(topic.name, p.partition);
    // A log of an older topic of the same name (deleted and created again while this broker was away).
    if (known && hosted !== undefined && !hosted.topicId.equals(topic.topicId)) {
      await rm.stopReplica(topic.name, p.partition, true);
      hosted = undefined;
    }
    const stale = logManager.getLog(topic.name, p.partition);
    if (known && hosted === undefined && stale?.topicId !== undefined && !stale.topicId.equals(topic.topicId)) {
      this.opts.logger.info(`deleting ${topic.name}-${p.partition}: its log belongs to topic id ${uuidToString(stale.topicId)}, not ${uuidToString(topic.topicId)}`);
      await logManager.deleteLog(topic.name, p.partition);
    }
    if (!p.replicas.includes(brokerId)) {
      this.forgetFailure(topic.name, p.partition);
      if (hosted !== undefined) await rm.stopReplica(topic.name, p.partition, true);
      else if (logManager.getLog(topic.name, p.partition) !== undefined || logManager.isLoading(topic.name, p.partition)) {
        await logManager.deleteLog(topic.name, p.partition);
      }
      return;
    }
    if (state === undefined) return; // written with the assignment by the controller; its watch is armed
    const partition = await rm.applyLeaderAndIsr(topic.name, p.partition, topic.topicId, { ...state, replicas: p.replicas }, config);
    // Level-triggered topic configs: a hosted log always runs with its topic's current overrides
    // (AlterConfigs); a complete config, so that a deleted override returns to the broker default.
    partition.log.updateConfig(completeConfig());
    this.forgetFailure(topic.name, p.partition);
  }

  /** The topic is gone: every local replica of it stops and its logs are deleted. */
  private async removeTopic(name: string): Promise<void> {
    this.known.delete(name);
    this.topicWatchers.delete(name);
    this.lastRead.delete(name);
    for (const f of [...this.failures.values()]) if (f.topic === name) this.forgetFailure(f.topic, f.partition);
    this.opts.metadata.removeTopic(name);
    for (const p of this.opts.replicaManager.hostedPartitions()) {
      if (p.topic === name) await this.opts.replicaManager.stopReplica(p.topic, p.partition, true);
    }
    for (const log of this.opts.logManager.allLogs()) {
      if (log.topic === name) await this.opts.logManager.deleteLog(log.topic, log.partition);
    }
    if (name === OFFSETS_TOPIC) await this.updateGroupCoordinator();
    if (name === TRANSACTION_STATE_TOPIC) await this.updateTransactionCoordinator();
  }

  /**
   * The transaction coordinator serves exactly the __transaction_state partitions led here, each at its leader epoch
   * (the coordinator epoch its markers carry). This waits for new partitions to load; the markers a load resumes
   * (transactions in PrepareCommit/PrepareAbort) are written in the background.
   */
  private async updateTransactionCoordinator(): Promise<void> {
    const tc = this.opts.transactionCoordinator?.();
    if (tc === undefined || tc === null) return;
    const led = new Map<number, number>();
    for (const p of this.opts.replicaManager.hostedPartitions()) if (p.topic === TRANSACTION_STATE_TOPIC && p.isLeader) led.set(p.partition, p.leaderEpoch);
    await tc.setOwnedPartitions(led);
  }

  /** The group coordinator serves exactly the __consumer_offsets partitions led here (loading new ones). */
  private async updateGroupCoordinator(): Promise<void> {
    const gc = this.opts.groupCoordinator();
    if (gc === null) return;
    const led = this.opts.replicaManager
      .hostedPartitions()
      .filter((p) => p.topic === OFFSETS_TOPIC && p.isLeader)
      .map((p) => p.partition);
    await gc.setOwnedPartitions(led);
  }
}

/** Runs the tasks, at most `limit` at a time (each handles its own failure). */
async function runConcurrently(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
