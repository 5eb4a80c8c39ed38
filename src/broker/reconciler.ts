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
 */
import { uuidFromString, uuidToString, ZERO_UUID } from '../protocol/primitives.js';
import type { Registry, Watcher } from '../registry/registry.js';
import {
  brokerIdPath,
  brokerIdsPath,
  controllerPath,
  decodeBrokerRegistration,
  decodeController,
  decodePartitionState,
  decodeTopicAssignment,
  decodeTopicConfig,
  partitionStatePath,
  topicConfigPath,
  topicPath,
  topicsPath,
  type TopicAssignment,
} from '../registry/paths.js';
import type { LogManager } from '../log/log-manager.js';
import { logConfig as fullLogConfig, type LogConfig } from '../log/log-config.js';
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
  /** Pause before a failed pass is tried again (default 1000 ms). */
  retryMs?: number;
  /** inter.broker.listener.name: followers fetch from leaders on this listener (default: the first endpoint). */
  interBrokerListenerName?: string;
}

type Job = 'brokers' | 'controller' | 'topics' | `topic:${string}`;

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
  private readonly watchers: Record<'brokers' | 'controller' | 'topics', Watcher>;

  constructor(private readonly opts: ReconcilerOptions) {
    this.watchers = {
      brokers: () => this.watchFired('brokers'),
      controller: () => this.watchFired('controller'),
      topics: () => this.watchFired('topics'),
    };
  }

  /** Re-reads everything: brokers, controller, every topic; deletes logs of topics that no longer exist. */
  reconcileAll(): Promise<void> {
    this.full = true;
    return this.kick();
  }

  /** Re-reads one topic (assignment, config, partition states) and applies it. */
  reconcileTopic(topic: string): Promise<void> {
    this.jobs.add(`topic:${topic}`);
    return this.kick();
  }

  stop(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
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
            await this.fullPass();
            continue;
          }
          const [job] = this.jobs;
          this.jobs.delete(job!);
          await this.runJob(job!);
        }
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

  /** Reads a topic again after a pause (a partition of it could not be applied). */
  private retryTopic(topic: string): void {
    if (this.opts.isStopped()) return;
    const t = setTimeout(() => this.watchFired(`topic:${topic}`), this.opts.retryMs ?? 1000);
    t.unref();
  }

  private async runJob(job: Job): Promise<void> {
    if (job === 'brokers') await this.readBrokers();
    else if (job === 'controller') await this.readController();
    else if (job === 'topics') await this.readTopicList();
    else await this.readTopic(job.slice('topic:'.length));
  }

  private async fullPass(): Promise<void> {
    await this.readBrokers();
    await this.readController();
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
    await this.applyTopic(topic, states);
    if (updateMetadata && name === OFFSETS_TOPIC) await this.updateGroupCoordinator();
    if (updateMetadata && name === TRANSACTION_STATE_TOPIC) await this.updateTransactionCoordinator();
    return topic;
  }

  private async applyTopic(topic: TopicInfo, states: Map<number, ReadState>): Promise<void> {
    const { brokerId, replicaManager: rm, logManager } = this.opts;
    const logCfg = { ...this.opts.logDefaults, ...(this.opts.topicLogConfig?.(topic.config) ?? {}) };
    const minIsr = minInsyncReplicasFor(topic.config, this.opts.minInsyncReplicas);
    const known = !topic.topicId.equals(ZERO_UUID);
    for (const p of topic.partitions) {
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
        if (hosted !== undefined) await rm.stopReplica(topic.name, p.partition, true);
        else if (logManager.getLog(topic.name, p.partition) !== undefined) await logManager.deleteLog(topic.name, p.partition);
        continue;
      }
      const state = states.get(p.partition);
      if (state === undefined) continue; // written with the assignment by the controller; its watch is armed
      try {
        const partition = await rm.applyLeaderAndIsr(
          topic.name,
          p.partition,
          topic.topicId,
          { ...state, replicas: p.replicas },
          { log: logCfg, minInsyncReplicas: minIsr },
        );
        // Level-triggered topic configs: a hosted log always runs with its topic's current overrides
        // (AlterConfigs); a complete config, so that a deleted override returns to the broker default.
        partition.log.updateConfig(fullLogConfig(logCfg));
      } catch (err) {
        // One partition that cannot be applied (its log dir failed, say) holds up no other: it is tried again.
        this.opts.logger.error(`applying the state of ${topic.name}-${p.partition} failed (retrying): ${(err as Error).message}`);
        this.retryTopic(topic.name);
      }
    }
    for (const h of rm.hostedPartitions()) {
      if (h.topic === topic.name && !topic.partitions.some((p) => p.partition === h.partition)) await rm.stopReplica(h.topic, h.partition, true);
    }
  }

  /** The topic is gone: every local replica of it stops and its logs are deleted. */
  private async removeTopic(name: string): Promise<void> {
    this.known.delete(name);
    this.topicWatchers.delete(name);
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
