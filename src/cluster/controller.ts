/**
 * The controller (Kafka's ZooKeeper-era KafkaController): the one broker holding the ephemeral
 * /controller znode. It alone writes partition states: it creates topics and partitions, deletes
 * topics, elects leaders when brokers die or come back, moves leadership away from a broker in a
 * controlled shutdown and back to preferred replicas, and takes brokers out of ISRs. Partition
 * leaders change only their own ISR (compare-and-set on the state znode) and announce it under
 * /isr_change_notification; every broker reconciles its replicas from the state znodes.
 *
 * How it works:
 *  - Election and fencing (controller-epoch.ts): winning bumps /controller_epoch; every write checks
 *    its znode version, so a deposed controller's write fails and it resigns.
 *  - Events (controller-events.ts): watches, timers and API calls become events processed one at a
 *    time; each re-reads what it covers. A watch armed by an earlier term is ignored.
 *  - Decisions are pure functions (leader-election.ts, topic-changes.ts, broker-change.ts); writes
 *    go through partition-state-writer.ts (epoch-fenced, re-read on a version conflict).
 */
import { ErrorCode } from '../protocol/errors.js';
import { isRegistryError, type MultiOp, type MultiResult, type Registry, type WatchEvent, type Watcher } from '../registry/registry.js';
import {
  configChangesPath,
  decodeReassignPartitions,
  encodeReassignPartitions,
  encodeTopicAssignment,
  reassignPartitionsPath,
  controllerPath,
  decodeIsrChangeNotification,
  decodePartitionState,
  encodePartitionState,
  type PartitionState,
  decodePreferredReplicaElection,
  decodeTopicAssignment,
  decodeTopicConfig,
  deleteTopicsPath,
  isrChangeNotificationPath,
  logDirEventNotificationPath,
  decodeLogDirEventNotification,
  decodeOfflineReplicas,
  offlineReplicasBrokerPath,
  partitionStatePath,
  preferredReplicaElectionPath,
  topicConfigPath,
  topicPartitionsPath,
  topicPath,
  topicsPath,
} from '../registry/paths.js';
import { createLogger, type Logger } from '../server/logger.js';
import { diffBrokers, readBrokerEpochs } from './broker-change.js';
import { ControllerContext, tpName, type ControllerTopic, type TopicPartitionRef } from './controller-context.js';
import { ControllerMovedError, deleteController, fencedMulti, getControllerId, registerControllerAndIncrementEpoch } from './controller-epoch.js';
import { ControllerEventQueue, type ControllerEvent } from './controller-events.js';
import {
  electForControlledShutdown,
  electForOfflinePartition,
  electPreferredReplica,
  leaderAndIsrForBrokerChange,
  NO_LEADER,
  partitionsToRebalance,
  removeReplicaFromIsr,
} from './leader-election.js';
import type { TopicInfo } from './metadata-cache.js';
import { refreshPartitionState, writeLeaderAndIsr, type LeaderAndIsrDecision, type LeaderAndIsrOutcome } from './partition-state-writer.js';
import {
  firstState,
  newPartitionOps,
  partitionAdditionOps,
  planPartitionAddition,
  planTopicCreation,
  topicCreationOps,
  topicDeletionOps,
  type CreatePartitionsRequest,
  type CreateTopicRequest,
  type TopicCreationPlan,
} from './topic-changes.js';
import { invalidTopicNameReason, isInternalTopic } from './topic-names.js';
import {
  invalidReassignment,
  isBeingReassigned,
  originReplicas,
  reassignTo,
  sameReplicas,
  targetReplicas,
  type ReplicaAssignment,
} from './reassignment.js';
import { electForReassignment } from './leader-election.js';
import { tpKey } from './controller-context.js';

export type { CreatePartitionsRequest, CreateTopicRequest } from './topic-changes.js';

export interface ControllerResult {
  errorCode: number;
  errorMessage?: string;
  topic?: TopicInfo;
}

/** The broker settings the controller acts on (Kafka's names in the comments). */
export interface ControllerSettings {
  /** unclean.leader.election.enable (a topic's override wins). */
  uncleanLeaderElectionEnable: boolean;
  /** auto.leader.rebalance.enable */
  autoLeaderRebalanceEnable: boolean;
  /** leader.imbalance.check.interval.seconds */
  leaderImbalanceCheckIntervalSeconds: number;
  /** leader.imbalance.per.broker.percentage */
  leaderImbalancePerBrokerPercentage: number;
  /** delete.topic.enable */
  deleteTopicEnable: boolean;
}

export const DEFAULT_CONTROLLER_SETTINGS: ControllerSettings = {
  uncleanLeaderElectionEnable: false,
  autoLeaderRebalanceEnable: true,
  leaderImbalanceCheckIntervalSeconds: 300,
  leaderImbalancePerBrokerPercentage: 10,
  deleteTopicEnable: true,
};

export interface ControllerOptions {
  registry: Registry;
  brokerId: number;
  settings?: Partial<ControllerSettings>;
  /** Validates topic config overrides; returns an error message or null. */
  validateTopicConfig: (configs: Record<string, string>) => string | null;
  /**
   * Brings the local broker up to date with one topic (after creating, growing or deleting it, before answering
   * the client). Only that topic: a controller write dirties the topics it touches and nothing else.
   */
  reconcileTopic: (topic: string) => Promise<void>;
  logger?: Logger;
}

export type ElectionType = 'preferred' | 'unclean';
export const ELECTION_TYPE_PREFERRED = 0;
export const ELECTION_TYPE_UNCLEAN = 1;

export interface ElectionOutcome {
  topic: string;
  partition: number;
  errorCode: number;
  errorMessage: string | null;
}

export interface ReassignmentRequest {
  topic: string;
  partition: number;
  /** The target replicas; null cancels an ongoing reassignment. */
  replicas: number[] | null;
}

export interface ReassignmentOutcome {
  topic: string;
  partition: number;
  errorCode: number;
  errorMessage: string | null;
}

export interface OngoingReassignment {
  topic: string;
  partition: number;
  replicas: number[];
  adding: number[];
  removing: number[];
}

export interface ControlledShutdownResult {
  errorCode: number;
  errorMessage?: string;
  /** Partitions (with more than one replica) the broker still leads. */
  remaining: TopicPartitionRef[];
}

/** Kafka waits 5 s after becoming controller before its first leader balance check. */
const FIRST_REBALANCE_CHECK_MS = 5000;
/** A watch-driven event that failed (e.g. a lost ZooKeeper connection) is retried after this long. */
const RETRY_BACKOFF_MS = 1000;

export class Controller {
  private readonly ctx = new ControllerContext();
  private readonly events: ControllerEventQueue;
  private readonly registry: Registry;
  private readonly brokerId: number;
  private readonly logger: Logger;
  private readonly settings: ControllerSettings;
  /** The controller as last read from /controller (-1: none). */
  private activeControllerId = -1;
  /** Bumped on every failover and resignation: watches armed in an earlier term are ignored. */
  private term = 0;
  private watchers = new Map<string, Watcher>();
  private rebalanceTimer: NodeJS.Timeout | null = null;
  private retryTimers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Reassignments that came from /admin/reassign_partitions (removed from it when they complete). */
  private zkReassignments = new Set<string>();

  constructor(private readonly opts: ControllerOptions) {
    this.registry = opts.registry;
    this.brokerId = opts.brokerId;
    this.logger = opts.logger ?? createLogger('info');
    this.settings = { ...DEFAULT_CONTROLLER_SETTINGS, ...opts.settings };
    this.events = new ControllerEventQueue(this.logger, (event, err) => this.onEventError(event, err));
  }

  /** True while this broker is the controller. */
  /** Leader elections written by this broker as controller (ControllerStats; src/metrics). */
  readonly electionCounts = { leaderElections: 0, uncleanLeaderElections: 0 };

  get isActive(): boolean {
    return this.activeControllerId === this.brokerId;
  }

  /** The epoch of this controller's term (0 when it is not the controller). */
  get controllerEpoch(): number {
    return this.ctx.epoch;
  }

  /** Joins the election (Kafka's Startup event): resolves once this broker has won or seen another controller. */
  startup(): Promise<void> {
    return this.run('Startup', async () => {
      await this.registry.exists(controllerPath, this.controllerWatcher);
      await this.elect();
    });
  }

  /** The registry session expired (its ephemeral nodes are gone): stop acting as controller at once. */
  onSessionExpired(): void {
    this.events.clearAndPut({
      name: 'Expire',
      process: async () => {
        this.activeControllerId = -1;
        this.onControllerResignation();
      },
    });
  }

  /** A new registry session is up and the broker has registered again: run the election again. */
  reelect(): Promise<void> {
    return this.run('RegisterBrokerAndReelect', async () => {
      await this.maybeResign();
      await this.elect();
    });
  }

  /**
   * Stops the controller: no more events, and it resigns. A controller that stops cleanly also deletes
   * /controller (fenced by its epoch), so that another broker takes over at once instead of when this
   * broker's registry session ends after its logs are closed.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.events.close();
    const wasActive = this.isActive;
    const epochZkVersion = this.ctx.epochZkVersion;
    this.activeControllerId = -1;
    this.onControllerResignation();
    if (wasActive && epochZkVersion >= 0) {
      try {
        await deleteController(this.registry, epochZkVersion);
      } catch (err) {
        // Deposed meanwhile, or the session is already gone (a killed broker): /controller is not ours to delete.
        this.logger.debug(`controller: not deleting /controller on shutdown: ${(err as Error).message}`);
      }
    }
  }

  /** Resolves when every queued event has been processed (tests). */
  idle(): Promise<void> {
    return this.events.idle();
  }

  // ---- API: topics ---------------------------------------------------------------------------

  async createTopic(req: CreateTopicRequest): Promise<ControllerResult> {
    const result = await this.call<ControllerResult>('CreateTopic', notController(), () => this.doCreateTopic(req));
    if (result.errorCode === ErrorCode.NONE && !req.validateOnly) await this.opts.reconcileTopic(req.name);
    return result;
  }

  async createPartitions(req: CreatePartitionsRequest): Promise<ControllerResult> {
    const result = await this.call<ControllerResult>('CreatePartitions', notController(), () => this.doCreatePartitions(req));
    if (result.errorCode === ErrorCode.NONE && !req.validateOnly) await this.opts.reconcileTopic(req.name);
    return result;
  }

  async deleteTopic(name: string): Promise<ControllerResult> {
    const result = await this.call<ControllerResult>('DeleteTopic', notController(), async () => {
      if (!this.ctx.topics.has(name) && !(await this.registry.exists(topicPath(name)))) {
        return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${name}' does not exist.` };
      }
      if (!this.settings.deleteTopicEnable) return { errorCode: ErrorCode.TOPIC_DELETION_DISABLED, errorMessage: 'Topic deletion is disabled.' };
      await this.deleteTopicNow(name);
      return { errorCode: ErrorCode.NONE };
    });
    if (result.errorCode === ErrorCode.NONE) await this.opts.reconcileTopic(name);
    return result;
  }

  // ---- API: leadership -----------------------------------------------------------------------

  /**
   * Controlled shutdown of broker `id` (ControlledShutdown, key 7): moves leadership of each
   * partition it leads to another ISR member that is not shutting down, takes it out of the ISRs
   * of partitions it follows, and answers the replicated partitions it still leads.
   */
  controlledShutdown(id: number, brokerEpoch: number): Promise<ControlledShutdownResult> {
    return this.call<ControlledShutdownResult>(
      `ControlledShutdown(${id})`,
      { errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: 'This is not the correct controller for this cluster.', remaining: [] },
      () => this.doControlledShutdown(id, brokerEpoch),
    );
  }

  /** ElectLeaders (key 43): `partitions` null means every partition. */
  electLeaders(type: ElectionType, partitions: TopicPartitionRef[] | null): Promise<ElectionOutcome[]> {
    const preempted = (partitions ?? []).map((tp) => ({ ...tp, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: null }));
    return this.call<ElectionOutcome[]>(`ElectLeaders(${type})`, preempted, () => this.doElectLeaders(type, partitions, 'admin'));
  }

  // ---- Election and resignation ----------------------------------------------------------------

  private readonly controllerWatcher: Watcher = (e: WatchEvent) => {
    if (this.closed) return;
    if (e.type === 'deleted') this.put('Reelect', async () => {
      await this.maybeResign();
      await this.elect();
    });
    else this.put('ControllerChange', () => this.maybeResign());
  };

  private async elect(): Promise<void> {
    if (this.closed) return;
    this.activeControllerId = await getControllerId(this.registry);
    if (this.activeControllerId !== -1) {
      this.logger.debug(`controller: broker ${this.activeControllerId} is the controller`);
      return;
    }
    try {
      const { epoch, epochZkVersion } = await registerControllerAndIncrementEpoch(this.registry, this.brokerId);
      this.ctx.reset();
      this.ctx.epoch = epoch;
      this.ctx.epochZkVersion = epochZkVersion;
      this.activeControllerId = this.brokerId;
      this.logger.info(`controller: broker ${this.brokerId} elected controller, epoch ${epoch} (epoch znode version ${epochZkVersion})`);
      await this.onControllerFailover();
    } catch (err) {
      if (err instanceof ControllerMovedError) {
        await this.maybeResign();
        this.logger.debug(`controller: lost the election: ${err.message}`);
        return;
      }
      this.logger.error(`controller: error while becoming controller, giving the role up: ${(err as Error).stack ?? String(err)}`);
      await this.triggerControllerMove();
    }
  }

  /** Re-reads /controller (re-arming its watch) and resigns if this broker no longer holds it. */
  private async maybeResign(): Promise<void> {
    const wasActive = this.isActive;
    await this.registry.exists(controllerPath, this.controllerWatcher);
    this.activeControllerId = await getControllerId(this.registry);
    if (wasActive && !this.isActive) this.onControllerResignation();
  }

  /** Gives up the role after an unexpected failure, deleting /controller so that another broker takes over. */
  private async triggerControllerMove(): Promise<void> {
    this.activeControllerId = await getControllerId(this.registry);
    if (!this.isActive) return;
    const epochZkVersion = this.ctx.epochZkVersion;
    this.activeControllerId = -1;
    this.onControllerResignation();
    try {
      await deleteController(this.registry, epochZkVersion);
    } catch (err) {
      if (!(err instanceof ControllerMovedError)) throw err;
    }
  }

  private onControllerResignation(): void {
    const wasController = this.ctx.epochZkVersion >= 0;
    this.term++;
    this.watchers = new Map();
    if (this.rebalanceTimer) clearTimeout(this.rebalanceTimer);
    this.rebalanceTimer = null;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.ctx.reset();
    this.zkReassignments.clear();
    if (wasController) this.logger.info(`controller: broker ${this.brokerId} resigned as controller`);
  }

  /**
   * Becoming controller (onControllerFailover): arm the watches, load every broker, topic and
   * partition state, then make the partitions match the live brokers (elect leaders for those
   * whose leader is gone, take dead brokers out of ISRs, give new partitions their first state),
   * and carry on with pending deletions and preferred elections.
   */
  private async onControllerFailover(): Promise<void> {
    this.term++;
    this.watchers = new Map();
    await this.processIsrChangeNotifications();
    this.ctx.liveBrokerEpochs = await readBrokerEpochs(this.registry, this.watcher(`children:/brokers/ids`, 'BrokerChange', () => this.processBrokerChange()));
    const names = (await this.registry.children(topicsPath, this.watcher(`children:${topicsPath}`, 'TopicChange', () => this.processTopicChange()))) ?? [];
    for (const name of names) await this.loadTopic(name);
    await this.registry.children(configChangesPath, this.configChangeWatcher());
    // Replicas in failed log dirs count as dead for their partitions: what every live broker recorded is read
    // (the notifications are only the trigger, and the previous controller may have deleted them already).
    await this.processLogDirEventNotifications(true);
    await this.onlinePartitionStateChange(this.ctx.allPartitions(), 'controller failover');
    await this.processTopicDeletion();
    await this.processPreferredReplicaElectionZnode();
    // Reassignments in progress carry on (the assignment znodes hold them), then the legacy znode's.
    for (const tp of this.ctx.partitionsBeingReassigned()) await this.onPartitionReassignment(tp, targetReplicas(this.assignmentOf(tp)!));
    await this.processZkReassignment();
    if (this.settings.autoLeaderRebalanceEnable) this.scheduleRebalance(FIRST_REBALANCE_CHECK_MS);
    this.logger.info(
      `controller: ready with epoch ${this.ctx.epoch}: brokers [${[...this.ctx.liveBrokerEpochs.keys()].sort((a, b) => a - b).join(',')}], ` +
        `${this.ctx.topics.size} topics, ${this.ctx.offlinePartitionCount()} offline partitions`,
    );
  }

  // ---- Events ----------------------------------------------------------------------------------

  /** A watcher for `key` in this term that queues `name` (one function per key, so the registry de-duplicates it). */
  private watcher(key: string, name: string, process: () => Promise<void>): Watcher {
    const term = this.term;
    let w = this.watchers.get(key);
    if (!w) {
      w = () => {
        if (term !== this.term || !this.isActive || this.closed) return;
        this.put(name, process, true);
      };
      this.watchers.set(key, w);
    }
    return w;
  }

  private configChangeWatcher(): Watcher {
    return this.watcher(`children:${configChangesPath}`, 'ConfigChange', async () => {
      if (!this.isActive) return;
      await this.registry.children(configChangesPath, this.configChangeWatcher());
      // unclean.leader.election.enable may have been turned on for a topic: retry offline partitions.
      const eligible = this.ctx.eligibleBrokers();
      const offline = this.ctx.allPartitions().filter((tp) => !this.ctx.forPartition(eligible, tp).has(this.ctx.partitionState(tp.topic, tp.partition)?.state.leader ?? NO_LEADER));
      if (offline.length > 0) await this.onlinePartitionStateChange(offline, 'config change');
    });
  }

  private put(name: string, process: () => Promise<void>, retryOnFailure = false): void {
    const term = this.term;
    const event: ControllerEvent & { retry?: () => void } = { name, process };
    if (retryOnFailure) {
      event.retry = () => {
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (term === this.term && this.isActive && !this.closed) this.put(name, process, true);
        }, RETRY_BACKOFF_MS);
        t.unref();
        this.retryTimers.add(t);
      };
    }
    this.events.put(event);
  }

  /** Queues an event and resolves when it has run (rejects with its failure). */
  private run(name: string, process: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.events.put({
        name,
        process: async () => {
          try {
            await process();
            resolve();
          } catch (err) {
            reject(err as Error);
            throw err;
          }
        },
        preempt: () => resolve(),
      });
    });
  }

  /** Queues an API call: NOT_CONTROLLER-style `ifNotController` when this broker is not (or stops being) the controller. */
  private call<T>(name: string, ifNotController: T, fn: () => Promise<T>): Promise<T> {
    if (!this.isActive || this.closed) return Promise.resolve(ifNotController);
    return new Promise<T>((resolve, reject) => {
      this.events.put({
        name,
        process: async () => {
          if (!this.isActive) {
            resolve(ifNotController);
            return;
          }
          try {
            resolve(await fn());
          } catch (err) {
            if (err instanceof ControllerMovedError) resolve(ifNotController);
            else reject(err as Error);
            throw err;
          }
        },
        preempt: () => resolve(ifNotController),
      });
    });
  }

  private async onEventError(event: ControllerEvent & { retry?: () => void }, err: unknown): Promise<void> {
    if (err instanceof ControllerMovedError) {
      this.logger.info(`controller: controller moved to another broker while processing ${event.name}: ${err.message}`);
      await this.maybeResign();
      return;
    }
    this.logger.error(`controller: error processing ${event.name}: ${(err as Error).stack ?? String(err)}`);
    if (event.retry && this.isActive && !this.closed) event.retry();
  }

  // ---- Broker changes --------------------------------------------------------------------------

  private async processBrokerChange(): Promise<void> {
    if (!this.isActive) return;
    const current = await readBrokerEpochs(this.registry, this.watcher(`children:/brokers/ids`, 'BrokerChange', () => this.processBrokerChange()));
    const previous = this.ctx.liveBrokerEpochs;
    const { added, dead, bounced } = diffBrokers(previous, current);
    if (added.length === 0 && dead.length === 0 && bounced.length === 0) return;
    this.logger.info(
      `controller: broker change: new [${added.join(',')}], dead [${dead.join(',')}], bounced [${bounced.join(',')}]; live [${[...current.keys()].sort((a, b) => a - b).join(',')}]`,
    );
    for (const id of [...dead, ...bounced]) this.ctx.shuttingDownBrokerIds.delete(id);
    for (const id of dead) this.ctx.offlineReplicas.delete(id);
    // A restarted broker recovered its log dirs; one whose dir failed again at once has recorded it already.
    for (const id of [...added, ...bounced]) this.ctx.offlineReplicas.delete(id);
    await this.loadOfflineReplicas([...added, ...bounced], current);
    if (bounced.length > 0) {
      // Kafka handles a bounced broker as a failure, then a start: first without it...
      const without = new Map(current);
      for (const id of bounced) without.delete(id);
      this.ctx.liveBrokerEpochs = without;
      await this.onlinePartitionStateChange(this.ctx.allPartitions(), `broker(s) ${bounced.join(',')} restarted unseen`);
    }
    this.ctx.liveBrokerEpochs = current;
    const why = [dead.length ? `broker(s) ${dead.join(',')} died` : '', added.length || bounced.length ? `broker(s) ${[...added, ...bounced].join(',')} started` : '']
      .filter(Boolean)
      .join(', ');
    await this.onlinePartitionStateChange(this.ctx.allPartitions(), why);
  }

  /**
   * Makes the given partitions match the brokers (Kafka's OfflineReplica transitions for dead
   * replicas plus triggerOnlinePartitionStateChange, in one write per partition): partitions
   * without a state get their first one; dead brokers leave ISRs; partitions whose leader is
   * gone get a new one from the live ISR (or, where unclean.leader.election.enable allows, any live
   * replica), else go offline with leader -1.
   */
  private async onlinePartitionStateChange(partitions: TopicPartitionRef[], why: string): Promise<void> {
    const eligible = this.ctx.eligibleBrokers();
    const alive = this.ctx.aliveBrokers();
    await this.initializeNewPartitions(partitions.filter((tp) => !this.ctx.partitionState(tp.topic, tp.partition)));
    const unclean = await this.uncleanElectionSettings(
      partitions.filter((tp) => {
        const s = this.ctx.partitionState(tp.topic, tp.partition);
        return s !== undefined && !this.ctx.forPartition(eligible, tp).has(s.state.leader);
      }),
    );
    const results = await writeLeaderAndIsr(this.registry, this.ctx, partitions, (tp, current, replicas) => {
      // A replica in a failed log dir counts as dead for its partition.
      const next = leaderAndIsrForBrokerChange(
        replicas,
        current.state,
        this.ctx.forPartition(alive, tp),
        this.ctx.forPartition(eligible, tp),
        unclean.get(tp.topic) ?? this.settings.uncleanLeaderElectionEnable,
      );
      return next ? { change: next.value, unclean: next.unclean } : null;
    });
    this.logOutcomes(results, why);
  }

  /** Reads unclean.leader.election.enable for the topics of these partitions (topic override, else the broker default). */
  private async uncleanElectionSettings(partitions: TopicPartitionRef[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (const topic of new Set(partitions.map((tp) => tp.topic))) {
      const node = await this.registry.get(topicConfigPath(topic));
      const value = node ? decodeTopicConfig(node.data)['unclean.leader.election.enable'] : undefined;
      out.set(topic, value === undefined ? this.settings.uncleanLeaderElectionEnable : value.trim().toLowerCase() === 'true');
    }
    return out;
  }

  /** NewPartition → OnlinePartition for partitions that have no state znode (written directly into the registry, or whose replicas were all down). */
  private async initializeNewPartitions(partitions: TopicPartitionRef[]): Promise<void> {
    const eligible = this.ctx.eligibleBrokers();
    for (const tp of partitions) {
      const replicas = this.ctx.replicas(tp.topic, tp.partition);
      if (!replicas) continue;
      const state = firstState(replicas, eligible, this.ctx.epoch);
      if (!state) {
        this.logger.warn(`controller: partition ${tpName(tp)} has no live replica among [${replicas.join(',')}]; it stays offline until one starts`);
        continue;
      }
      const ops = newPartitionOps(tp.topic, { partition: tp.partition, replicas, state });
      if (await this.registry.exists(ops[0]!.path)) ops.shift();
      try {
        await fencedMulti(this.registry, this.ctx.epochZkVersion, ops);
        this.ctx.setPartitionState(tp.topic, tp.partition, { state, version: 0 });
        this.logger.info(`controller: partition ${tpName(tp)} online: leader ${state.leader}, ISR [${state.isr.join(',')}], leader epoch 0`);
      } catch (err) {
        if (isRegistryError(err, 'NODE_EXISTS')) {
          // Someone created it meanwhile: take it as it is.
          const node = await this.registry.get(partitionStatePath(tp.topic, tp.partition));
          if (node) this.ctx.setPartitionState(tp.topic, tp.partition, { state: decodePartitionState(node.data), version: node.stat.version });
          continue;
        }
        if (isRegistryError(err, 'NO_NODE')) continue; // the topic was deleted
        throw err;
      }
    }
  }

  private logOutcomes(results: Map<TopicPartitionRef, LeaderAndIsrOutcome>, why: string): void {
    for (const [tp, r] of results) {
      if (r.status !== 'updated') continue;
      const s = r.state;
      if (s.leader !== NO_LEADER) this.electionCounts.leaderElections++;
      if (r.unclean) this.electionCounts.uncleanLeaderElections++;
      const leader = s.leader === NO_LEADER ? 'none (offline)' : String(s.leader);
      if (r.unclean) {
        this.logger.warn(`controller: unclean leader election for ${tpName(tp)}: leader ${leader} was not in the ISR; records acknowledged by the old ISR may be lost`);
      }
      this.logger.info(`controller: ${tpName(tp)}: leader ${leader}, ISR [${s.isr.join(',')}], leader epoch ${s.leaderEpoch} (${why})`);
    }
  }

  // ---- Topic changes ---------------------------------------------------------------------------

  /** Reads a topic's assignment (watching it for partition additions) and its partition states into the context. */
  private async loadTopic(name: string): Promise<ControllerTopic | undefined> {
    const node = await this.registry.get(topicPath(name), this.watcher(`data:${topicPath(name)}`, `PartitionModifications(${name})`, () => this.processPartitionModifications(name)));
    if (!node) {
      this.ctx.removeTopic(name);
      return undefined;
    }
    const a = decodeTopicAssignment(name, node.data);
    const topic: ControllerTopic = {
      name,
      topicId: a.topicId,
      assignment: a.partitions,
      addingReplicas: a.addingReplicas,
      removingReplicas: a.removingReplicas,
      assignmentVersion: node.stat.version,
    };
    const previous = this.ctx.topics.get(name);
    if (previous) for (const p of previous.assignment.keys()) if (!a.partitions.has(p)) this.ctx.removePartitionState(name, p);
    this.ctx.topics.set(name, topic);
    for (const p of a.partitions.keys()) {
      const st = await this.registry.get(partitionStatePath(name, p));
      if (st) this.ctx.setPartitionState(name, p, { state: decodePartitionState(st.data), version: st.stat.version });
      else this.ctx.removePartitionState(name, p);
    }
    return topic;
  }

  private async processTopicChange(): Promise<void> {
    if (!this.isActive) return;
    const names = new Set((await this.registry.children(topicsPath, this.watcher(`children:${topicsPath}`, 'TopicChange', () => this.processTopicChange()))) ?? []);
    for (const name of [...this.ctx.topics.keys()]) {
      if (!names.has(name)) {
        this.ctx.removeTopic(name);
        this.logger.info(`controller: topic ${name} is gone`);
      }
    }
    const added = [...names].filter((n) => !this.ctx.topics.has(n)).sort();
    for (const name of added) {
      const topic = await this.loadTopic(name);
      if (!topic) continue;
      const missing = [...topic.assignment.keys()].filter((p) => !this.ctx.partitionState(name, p)).map((partition) => ({ topic: name, partition }));
      await this.initializeNewPartitions(missing);
    }
  }

  private async processPartitionModifications(name: string): Promise<void> {
    if (!this.isActive) return;
    const topic = await this.loadTopic(name);
    if (!topic) return;
    const missing = [...topic.assignment.keys()].filter((p) => !this.ctx.partitionState(name, p)).map((partition) => ({ topic: name, partition }));
    if (missing.length > 0) await this.initializeNewPartitions(missing);
  }

  private async doCreateTopic(req: CreateTopicRequest): Promise<ControllerResult> {
    // Before any registry path is built from the name ("" or "a/b" are not valid znode paths).
    const invalid = invalidTopicNameReason(req.name);
    if (invalid) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: invalid };
    const exists = this.ctx.topics.has(req.name) || (await this.registry.exists(topicPath(req.name))) !== null;
    const plan = planTopicCreation(req, {
      exists,
      brokers: [...this.ctx.liveBrokerEpochs.keys()],
      eligible: this.ctx.eligibleBrokers(),
      controllerEpoch: this.ctx.epoch,
      validateTopicConfig: this.opts.validateTopicConfig,
    });
    if ('errorCode' in plan) return plan;
    const info = topicInfoOf(plan);
    if (req.validateOnly) return { errorCode: ErrorCode.NONE, topic: info };
    const configExists = (await this.registry.exists(topicConfigPath(req.name))) !== null;
    try {
      await fencedMulti(this.registry, this.ctx.epochZkVersion, topicCreationOps(plan, configExists));
    } catch (err) {
      if (isRegistryError(err, 'NODE_EXISTS')) return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${req.name}' already exists.` };
      throw err;
    }
    await this.loadTopic(req.name);
    const offline = plan.partitions.filter((p) => !p.state).map((p) => p.partition);
    this.logger.info(
      `controller: created topic ${req.name} with ${plan.partitions.length} partition(s), replication factor ${plan.partitions[0]?.replicas.length ?? 0}` +
        (offline.length ? `; partitions ${offline.join(',')} wait for a live replica` : ''),
    );
    return { errorCode: ErrorCode.NONE, topic: info };
  }

  private async doCreatePartitions(req: CreatePartitionsRequest, attempt = 0): Promise<ControllerResult> {
    // A topic with an invalid name cannot exist, and its name is no valid registry path.
    if (invalidTopicNameReason(req.name)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `The topic '${req.name}' does not exist.` };
    const topic = this.ctx.topics.get(req.name) ?? (await this.loadTopic(req.name));
    const plan = planPartitionAddition(req, topic, {
      brokers: [...this.ctx.liveBrokerEpochs.keys()],
      eligible: this.ctx.eligibleBrokers(),
      controllerEpoch: this.ctx.epoch,
    });
    if ('errorCode' in plan) return plan;
    if (req.validateOnly) return { errorCode: ErrorCode.NONE };
    const partitionsNodeExists = (await this.registry.exists(topicPartitionsPath(req.name))) !== null;
    try {
      await fencedMulti(this.registry, this.ctx.epochZkVersion, partitionAdditionOps(plan, topic!, partitionsNodeExists));
    } catch (err) {
      // The assignment changed in between (another writer): start again from the new one.
      if ((isRegistryError(err, 'BAD_VERSION') || isRegistryError(err, 'NODE_EXISTS')) && attempt < 3) {
        await this.loadTopic(req.name);
        return this.doCreatePartitions(req, attempt + 1);
      }
      if (isRegistryError(err, 'NO_NODE')) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `The topic '${req.name}' does not exist.` };
      throw err;
    }
    await this.loadTopic(req.name);
    this.logger.info(`controller: topic ${req.name} now has ${plan.assignment.size} partitions`);
    return { errorCode: ErrorCode.NONE };
  }

  /** Deletes a topic's znodes in one fenced multi-op; brokers stop the replicas and delete the logs. */
  private async deleteTopicNow(name: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const ops = await topicDeletionOps(this.registry, name);
      if (ops.length === 0) break;
      try {
        await fencedMulti(this.registry, this.ctx.epochZkVersion, ops);
        break;
      } catch (err) {
        // A node appeared or vanished while we listed them (a leader's notification, a racing delete): list again.
        if ((isRegistryError(err, 'NO_NODE') || isRegistryError(err, 'NOT_EMPTY')) && attempt < 5) continue;
        throw err;
      }
    }
    this.ctx.removeTopic(name);
    this.logger.info(`controller: deleted topic ${name}`);
  }

  /** /admin/delete_topics/<t> (Kafka's ZooKeeper-mode deletion requests): delete each topic, then its marker. */
  private async processTopicDeletion(): Promise<void> {
    if (!this.isActive) return;
    const names = (await this.registry.children(deleteTopicsPath, this.watcher(`children:${deleteTopicsPath}`, 'TopicDeletion', () => this.processTopicDeletion()))) ?? [];
    for (const name of names) {
      if (this.settings.deleteTopicEnable && (this.ctx.topics.has(name) || (await this.registry.exists(topicPath(name))))) {
        await this.deleteTopicNow(name);
      } else {
        if (!this.settings.deleteTopicEnable) this.logger.warn(`controller: not deleting topic ${name}: delete.topic.enable is false`);
        try {
          await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'delete', path: `${deleteTopicsPath}/${name}`, version: -1 }]);
        } catch (err) {
          if (!isRegistryError(err, 'NO_NODE')) throw err;
        }
      }
    }
  }

  // ---- ISR changes made by leaders ---------------------------------------------------------------

  /**
   * /isr_change_notification (Kafka's IsrChangeNotificationHandler): a partition leader changed its
   * ISR by compare-and-set and left a sequential node naming the partitions. Read them into the
   * context, then delete the processed nodes.
   */
  private async processIsrChangeNotifications(): Promise<void> {
    if (!this.isActive) return;
    const children =
      (await this.registry.children(isrChangeNotificationPath, this.watcher(`children:${isrChangeNotificationPath}`, 'IsrChangeNotification', () => this.processIsrChangeNotifications()))) ??
      [];
    if (children.length === 0) return;
    const partitions = new Map<string, TopicPartitionRef>();
    for (const child of children) {
      const node = await this.registry.get(`${isrChangeNotificationPath}/${child}`);
      if (!node) continue;
      try {
        for (const tp of decodeIsrChangeNotification(node.data)) partitions.set(`${tp.topic}\u0000${tp.partition}`, tp);
      } catch (err) {
        this.logger.warn(`controller: ignoring unreadable ISR change notification ${child}: ${(err as Error).message}`);
      }
    }
    for (const tp of partitions.values()) {
      if (!this.ctx.topics.has(tp.topic)) continue;
      const node = await this.registry.get(partitionStatePath(tp.topic, tp.partition));
      if (node) this.ctx.setPartitionState(tp.topic, tp.partition, { state: decodePartitionState(node.data), version: node.stat.version });
    }
    for (const child of children) {
      try {
        await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'delete', path: `${isrChangeNotificationPath}/${child}`, version: -1 }]);
      } catch (err) {
        if (!isRegistryError(err, 'NO_NODE')) throw err;
      }
    }
  }

  // ---- Log dir failures ----------------------------------------------------------------------------

  /**
   * /log_dir_event_notification (Kafka's LogDirEventNotificationHandler): a log dir of a broker failed. Its replicas
   * there, which it recorded under /kfk/offline_replicas/<id>, are read into the context and treated as dead for
   * their partitions: a leader among them is replaced by another live in-sync replica (or the partition goes
   * offline), and they leave the ISRs. Then the notifications are deleted.
   *
   * At failover the records of every live broker are read, not only of those with a notification pending: the
   * previous controller acted on (and deleted) the earlier notifications, and the new controller's context starts
   * empty. The partition states are then left to the failover's own pass over every partition. The watch is armed
   * before anything is read, so a failure recorded meanwhile brings a notification this controller sees.
   */
  private async processLogDirEventNotifications(atFailover = false): Promise<void> {
    if (!this.isActive) return;
    const children =
      (await this.registry.children(
        logDirEventNotificationPath,
        this.watcher(`children:${logDirEventNotificationPath}`, 'LogDirEventNotification', () => this.processLogDirEventNotifications()),
      )) ?? [];
    if (children.length === 0 && !atFailover) return;
    const brokers = new Set<number>();
    for (const child of children) {
      const node = await this.registry.get(`${logDirEventNotificationPath}/${child}`);
      if (!node) continue;
      try {
        brokers.add(decodeLogDirEventNotification(node.data).brokerId);
      } catch (err) {
        this.logger.warn(`controller: ignoring unreadable log dir event notification ${child}: ${(err as Error).message}`);
      }
    }
    await this.loadOfflineReplicas(atFailover ? [...this.ctx.liveBrokerEpochs.keys()] : [...brokers]);
    for (const child of children) {
      try {
        await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'delete', path: `${logDirEventNotificationPath}/${child}`, version: -1 }]);
      } catch (err) {
        if (!isRegistryError(err, 'NO_NODE')) throw err;
      }
    }
    if (atFailover) return;
    const affected = this.ctx.allPartitions().filter((tp) => [...brokers].some((b) => this.ctx.isReplicaOffline(b, tp.topic, tp.partition)));
    if (affected.length > 0) await this.onlinePartitionStateChange(affected, `log dir failure on broker(s) ${[...brokers].join(',')}`);
  }

  /** Reads the replicas in failed log dirs of these (registered) brokers. */
  private async loadOfflineReplicas(brokers: number[], live: ReadonlyMap<number, number> = this.ctx.liveBrokerEpochs): Promise<void> {
    for (const id of brokers) {
      const node = live.has(id) ? await this.registry.get(offlineReplicasBrokerPath(id)) : null;
      if (!node) {
        this.ctx.offlineReplicas.delete(id);
        continue;
      }
      try {
        const replicas = decodeOfflineReplicas(node.data);
        this.ctx.offlineReplicas.set(id, new Set(replicas.map((tp) => tpKey(tp.topic, tp.partition))));
        this.logger.info(`controller: broker ${id} has ${replicas.length} replica(s) in failed log dirs: ${replicas.map(tpName).join(', ')}`);
      } catch (err) {
        this.logger.warn(`controller: ignoring unreadable ${offlineReplicasBrokerPath(id)}: ${(err as Error).message}`);
      }
    }
  }

  // ---- Controlled shutdown -------------------------------------------------------------------------

  private async doControlledShutdown(id: number, brokerEpoch: number): Promise<ControlledShutdownResult> {
    const cached = this.ctx.liveBrokerEpochs.get(id);
    if (brokerEpoch !== -1 && cached !== undefined && brokerEpoch < cached) {
      return {
        errorCode: ErrorCode.STALE_BROKER_EPOCH,
        errorMessage: `Received controlled shutdown request from an old broker epoch ${brokerEpoch} for broker ${id}. Current broker epoch is ${cached}.`,
        remaining: [],
      };
    }
    if (cached === undefined) return { errorCode: ErrorCode.BROKER_NOT_AVAILABLE, errorMessage: `Broker id ${id} does not exist.`, remaining: [] };
    this.logger.info(`controller: shutting down broker ${id}`);
    this.ctx.shuttingDownBrokerIds.add(id);
    const onBroker = this.ctx.partitionsOnBroker(id).filter((tp) => this.ctx.replicas(tp.topic, tp.partition)!.length > 1 && this.ctx.partitionState(tp.topic, tp.partition));
    const led = onBroker.filter((tp) => this.ctx.partitionState(tp.topic, tp.partition)!.state.leader === id);
    const followed = onBroker.filter((tp) => this.ctx.partitionState(tp.topic, tp.partition)!.state.leader !== id);
    const eligible = this.ctx.eligibleBrokers();
    const shuttingDown = new Set(this.ctx.shuttingDownBrokerIds);
    const moved = await writeLeaderAndIsr(this.registry, this.ctx, led, (tp, current, replicas) => {
      if (current.state.leader !== id) return null;
      const r = electForControlledShutdown(replicas, current.state, this.ctx.forPartition(eligible, tp), shuttingDown);
      return r.ok ? { change: r.value } : { failure: r.reason, message: `no other in-sync replica can lead` };
    });
    this.logOutcomes(moved, `controlled shutdown of broker ${id}`);
    const left = await writeLeaderAndIsr(this.registry, this.ctx, followed, (_tp, current) => {
      if (current.state.leader === id) return null;
      const next = removeReplicaFromIsr(current.state, id);
      return next ? { change: next } : null;
    });
    this.logOutcomes(left, `controlled shutdown of broker ${id}`);
    const remaining = this.ctx.partitionsLedBy(id).filter((tp) => this.ctx.replicas(tp.topic, tp.partition)!.length > 1);
    if (remaining.length > 0) this.logger.info(`controller: broker ${id} still leads ${remaining.map(tpName).join(', ')}`);
    return { errorCode: ErrorCode.NONE, remaining };
  }

  // ---- Partition reassignment (KIP-455) ------------------------------------------------------------

  /** AlterPartitionReassignments (key 45): starts (or, with replicas null, cancels) reassignments. */
  alterPartitionReassignments(requests: ReassignmentRequest[]): Promise<ReassignmentOutcome[]> {
    const preempted = requests.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: null }));
    return this.call('AlterPartitionReassignments', preempted, async () => {
      const out: ReassignmentOutcome[] = [];
      for (const r of requests) {
        const tp = { topic: r.topic, partition: r.partition };
        const fail = (errorCode: number, errorMessage: string) => out.push({ ...tp, errorCode, errorMessage });
        const current = this.assignmentOf(tp);
        if (!current || !this.ctx.partitionState(tp.topic, tp.partition)) {
          fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'The partition does not exist.');
          continue;
        }
        let target: number[];
        if (r.replicas === null) {
          if (!isBeingReassigned(current)) {
            fail(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, `No ongoing reassignment for partition ${tpName(tp)}.`);
            continue;
          }
          target = originReplicas(current);
        } else {
          const invalid = invalidReassignment(r.replicas, current, this.ctx.eligibleBrokers());
          if (invalid) {
            fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, invalid);
            continue;
          }
          target = r.replicas;
        }
        await this.removeFromZkReassignment([tp]);
        await this.onPartitionReassignment(tp, target);
        out.push({ ...tp, errorCode: ErrorCode.NONE, errorMessage: null });
      }
      return out;
    });
  }

  /** ListPartitionReassignments (key 46): the ongoing ones among `partitions` (null: all). Null when this broker is not the controller. */
  listPartitionReassignments(partitions: TopicPartitionRef[] | null): Promise<OngoingReassignment[] | null> {
    return this.call<OngoingReassignment[] | null>('ListPartitionReassignments', null, async () => {
      const wanted = partitions ? new Set(partitions.map((tp) => tpKey(tp.topic, tp.partition))) : null;
      return this.ctx
        .partitionsBeingReassigned()
        .filter((tp) => !wanted || wanted.has(tpKey(tp.topic, tp.partition)))
        .map((tp) => {
          const a = this.assignmentOf(tp)!;
          return { ...tp, replicas: a.replicas, adding: a.adding, removing: a.removing };
        });
    });
  }

  private assignmentOf(tp: TopicPartitionRef): ReplicaAssignment | undefined {
    const t = this.ctx.topics.get(tp.topic);
    const replicas = t?.assignment.get(tp.partition);
    if (!t || !replicas) return undefined;
    return { replicas, adding: t.addingReplicas.get(tp.partition) ?? [], removing: t.removingReplicas.get(tp.partition) ?? [] };
  }

  /** Writes one partition's replica assignment (RS, AR, RR) into its topic's znode, compare-and-set on the znode version. */
  private async writeAssignment(tp: TopicPartitionRef, next: ReplicaAssignment): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const write = this.assignmentWrite(tp, next);
      try {
        const [result] = await fencedMulti(this.registry, this.ctx.epochZkVersion, [write.op]);
        write.apply(result);
        return;
      } catch (err) {
        if (!isRegistryError(err, 'BAD_VERSION') || attempt >= 5) throw err;
        await this.loadTopic(tp.topic);
      }
    }
  }

  /**
   * The set-op writing one partition's RS, AR and RR into its topic's assignment znode (compare-and-set on the
   * version in the context), and what to record in the context once it is written.
   */
  private assignmentWrite(tp: TopicPartitionRef, next: ReplicaAssignment): { op: MultiOp; apply: (result: MultiResult | undefined) => void } {
    const topic = this.ctx.topics.get(tp.topic);
    if (!topic) throw new Error(`topic ${tp.topic} is gone`);
    const partitions = new Map(topic.assignment);
    const adding = new Map(topic.addingReplicas);
    const removing = new Map(topic.removingReplicas);
    partitions.set(tp.partition, next.replicas);
    if (next.adding.length > 0) adding.set(tp.partition, next.adding);
    else adding.delete(tp.partition);
    if (next.removing.length > 0) removing.set(tp.partition, next.removing);
    else removing.delete(tp.partition);
    return {
      op: {
        op: 'set',
        path: topicPath(tp.topic),
        data: encodeTopicAssignment({ partitions, addingReplicas: adding, removingReplicas: removing, topicId: topic.topicId }),
        version: topic.assignmentVersion,
      },
      apply: (result) => {
        topic.assignment = partitions;
        topic.addingReplicas = adding;
        topic.removingReplicas = removing;
        if (result && result.op === 'set') topic.assignmentVersion = result.stat.version;
      },
    };
  }

  /**
   * Kafka's onPartitionReassignment. Phase A (a target replica is not in the ISR yet): write
   * RS = TRS + ORS with AR and RR, bump the leader epoch so that every replica sees it, and watch the
   * partition's state for the ISR to grow. Phase B (every target replica in the ISR): move the
   * leadership into TRS if needed (leader epoch + 1 in any case), take RR out of the ISR, write RS = TRS.
   */
  private async onPartitionReassignment(tp: TopicPartitionRef, target: number[]): Promise<void> {
    const current = this.assignmentOf(tp);
    const state = this.ctx.partitionState(tp.topic, tp.partition);
    if (!current || !state) return;
    const next = reassignTo(current, target);
    // Replicas of an ongoing reassignment that the new one drops (a cancellation or an override).
    const dropped = current.replicas.filter((r) => !next.replicas.includes(r));
    if (!isBeingReassigned(next) && dropped.length === 0 && sameReplicas(next.replicas, current.replicas) && !isBeingReassigned(current)) {
      this.logger.info(`controller: partition ${tpName(tp)} is already assigned to [${target.join(',')}]`);
      return;
    }
    const trs = targetReplicas(next);
    if (trs.every((r) => state.state.isr.includes(r))) {
      await this.completeReassignment(tp, next, dropped);
      return;
    }
    if (!sameReplicas(next.replicas, current.replicas) || !sameReplicas(next.adding, current.adding) || !sameReplicas(next.removing, current.removing)) {
      await this.writeAssignment(tp, next);
    }
    const results = await writeLeaderAndIsr(this.registry, this.ctx, [tp], (_tp, cur) => {
      const isr = cur.state.isr.filter((r) => !dropped.includes(r));
      return { change: { leader: cur.state.leader, isr: isr.length > 0 ? isr : cur.state.isr } };
    });
    this.logOutcomes(results, 'reassignment started');
    this.logger.info(
      `controller: reassigning ${tpName(tp)} to [${trs.join(',')}]: replicas [${next.replicas.join(',')}], adding [${next.adding.join(',')}], removing [${next.removing.join(',')}]; waiting for the new replicas to join the ISR`,
    );
    await this.watchReassignmentIsr(tp);
  }

  private async watchReassignmentIsr(tp: TopicPartitionRef): Promise<void> {
    const key = tpKey(tp.topic, tp.partition);
    const node = await this.registry.get(
      partitionStatePath(tp.topic, tp.partition),
      this.watcher(`reassign-isr:${key}`, `PartitionReassignmentIsrChange(${tpName(tp)})`, () => this.processReassignmentIsrChange(tp)),
    );
    if (node) this.ctx.setPartitionState(tp.topic, tp.partition, { state: decodePartitionState(node.data), version: node.stat.version });
  }

  /** The state of a partition being reassigned changed: complete it when the target replicas have joined the ISR. */
  private async processReassignmentIsrChange(tp: TopicPartitionRef): Promise<void> {
    if (!this.isActive) return;
    const a = this.assignmentOf(tp);
    if (!a || !isBeingReassigned(a)) return;
    await this.watchReassignmentIsr(tp);
    const state = this.ctx.partitionState(tp.topic, tp.partition);
    if (state && targetReplicas(a).every((r) => state.state.isr.includes(r))) await this.completeReassignment(tp, a, []);
  }

  /**
   * Phase B. The new leader and ISR (leader epoch + 1) and RS = TRS are written in one fenced multi-op, as
   * Kafka's LeaderAndIsr request carries the new replicas with the new epoch: a broker never applies the new
   * epoch with the old replicas, so a leader cannot take a removed replica that is still fetching back into the
   * ISR. The removed replicas' brokers then stop them and delete their logs (reconciliation).
   */
  private async completeReassignment(tp: TopicPartitionRef, next: ReplicaAssignment, dropped: number[]): Promise<void> {
    const trs = targetReplicas(next);
    const leaving = [...new Set([...next.removing, ...dropped])];
    const eligible = this.ctx.eligibleBrokers();
    let written: PartitionState | null = null;
    for (let attempt = 0; written === null; attempt++) {
      const cur = this.ctx.partitionState(tp.topic, tp.partition);
      if (!cur || !this.ctx.topics.has(tp.topic)) {
        this.logger.warn(`controller: reassignment of ${tpName(tp)} cannot complete: the partition is gone`);
        return;
      }
      if (!trs.every((r) => cur.state.isr.includes(r))) {
        this.logger.warn(`controller: reassignment of ${tpName(tp)} cannot complete yet: target replicas are not all in the ISR`);
        return;
      }
      let leader = cur.state.leader;
      const eligibleHere = this.ctx.forPartition(eligible, tp);
      if (!trs.includes(leader) || !eligibleHere.has(leader)) {
        const r = electForReassignment(trs, cur.state, eligibleHere);
        if (!r.ok) {
          this.logger.warn(`controller: reassignment of ${tpName(tp)} cannot complete yet: no target replica of ${tpName(tp)} can lead`);
          return;
        }
        leader = r.value.leader;
      }
      const state: PartitionState = {
        controllerEpoch: this.ctx.epoch,
        leader,
        leaderEpoch: cur.state.leaderEpoch + 1,
        isr: cur.state.isr.filter((r) => !leaving.includes(r)),
      };
      const assignment = this.assignmentWrite(tp, { replicas: trs, adding: [], removing: [] });
      try {
        const [assigned, set] = await fencedMulti(this.registry, this.ctx.epochZkVersion, [
          assignment.op,
          { op: 'set', path: partitionStatePath(tp.topic, tp.partition), data: encodePartitionState(state), version: cur.version },
        ]);
        assignment.apply(assigned);
        this.ctx.setPartitionState(tp.topic, tp.partition, { state, version: set && set.op === 'set' ? set.stat.version : cur.version + 1 });
        written = state;
      } catch (err) {
        if (isRegistryError(err, 'NO_NODE')) {
          await this.loadTopic(tp.topic);
          return;
        }
        // A leader changed the ISR, or the assignment changed, since the context read them: read both again.
        if (!isRegistryError(err, 'BAD_VERSION') || attempt >= 10) throw err;
        await this.loadTopic(tp.topic);
      }
    }
    this.logOutcomes(new Map([[tp, { status: 'updated', state: written, unclean: false }]]), 'reassignment completing');
    this.logger.info(`controller: reassignment of ${tpName(tp)} completed: replicas [${trs.join(',')}]`);
    await this.removeFromZkReassignment([tp]);
  }

  /** /admin/reassign_partitions (ZooKeeper-mode tools): start each reassignment it lists; completed ones are removed from it. */
  private async processZkReassignment(): Promise<void> {
    if (!this.isActive) return;
    const watch = this.watcher(`exists:${reassignPartitionsPath}`, 'ZkPartitionReassignment', () => this.processZkReassignment());
    if (!(await this.registry.exists(reassignPartitionsPath, watch))) return;
    const node = await this.registry.get(reassignPartitionsPath);
    if (!node) return;
    let entries: Array<TopicPartitionRef & { replicas: number[] }> = [];
    try {
      entries = decodeReassignPartitions(node.data);
    } catch (err) {
      this.logger.warn(`controller: ignoring unreadable ${reassignPartitionsPath}: ${(err as Error).message}`);
    }
    const finished: TopicPartitionRef[] = [];
    for (const e of entries) {
      const tp = { topic: e.topic, partition: e.partition };
      const current = this.assignmentOf(tp);
      const invalid = current ? invalidReassignment(e.replicas, current, this.ctx.eligibleBrokers()) : 'The partition does not exist.';
      if (invalid) {
        this.logger.warn(`controller: ignoring the reassignment of ${tpName(tp)} in ${reassignPartitionsPath}: ${invalid}`);
        finished.push(tp);
        continue;
      }
      this.zkReassignments.add(tpKey(tp.topic, tp.partition));
      await this.onPartitionReassignment(tp, e.replicas);
      if (!isBeingReassigned(this.assignmentOf(tp) ?? { replicas: [], adding: [], removing: [] })) finished.push(tp);
    }
    await this.removeFromZkReassignment(finished, true);
  }

  /** Takes partitions out of /admin/reassign_partitions, deleting it when none is left. */
  private async removeFromZkReassignment(partitions: TopicPartitionRef[], force = false): Promise<void> {
    const keys = new Set(partitions.map((tp) => tpKey(tp.topic, tp.partition)).filter((k) => force || this.zkReassignments.has(k)));
    if (keys.size === 0) return;
    for (const k of keys) this.zkReassignments.delete(k);
    for (let attempt = 0; attempt < 5; attempt++) {
      const node = await this.registry.get(reassignPartitionsPath);
      if (!node) return;
      let entries: Array<TopicPartitionRef & { replicas: number[] }>;
      try {
        entries = decodeReassignPartitions(node.data);
      } catch (err) {
        // Unreadable: nothing in it can be carried out either, so it goes.
        this.logger.warn(`controller: deleting unreadable ${reassignPartitionsPath}: ${(err as Error).message}`);
        entries = [];
      }
      const left = entries.filter((e) => !keys.has(tpKey(e.topic, e.partition)));
      try {
        if (left.length === 0) await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'delete', path: reassignPartitionsPath, version: node.stat.version }]);
        else await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'set', path: reassignPartitionsPath, data: encodeReassignPartitions(left), version: node.stat.version }]);
        return;
      } catch (err) {
        if (isRegistryError(err, 'NO_NODE')) return;
        if (!isRegistryError(err, 'BAD_VERSION')) throw err;
        // Rewritten meanwhile (a tool added partitions): read it again.
      }
    }
  }

  // ---- Preferred and unclean elections -------------------------------------------------------------

  /** Kafka's processReplicaLeaderElection, for ElectLeaders, /admin/preferred_replica_election and the leader balance task. */
  private async doElectLeaders(type: ElectionType, requested: TopicPartitionRef[] | null, trigger: 'admin' | 'zookeeper' | 'auto'): Promise<ElectionOutcome[]> {
    const partitions = requested ?? this.ctx.allPartitions();
    const known: TopicPartitionRef[] = [];
    const out: ElectionOutcome[] = [];
    const eligible = this.ctx.eligibleBrokers();
    for (const tp of partitions) {
      const replicas = this.ctx.replicas(tp.topic, tp.partition);
      const state = this.ctx.partitionState(tp.topic, tp.partition);
      if (!replicas || !state) {
        out.push({ ...tp, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'The partition does not exist.' });
        continue;
      }
      const needed = type === 'preferred' ? state.state.leader !== replicas[0] : state.state.leader === NO_LEADER || !this.ctx.forPartition(eligible, tp).has(state.state.leader);
      if (!needed) out.push({ ...tp, errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: 'Leader election not needed for topic partition.' });
      else known.push(tp);
    }
    // Decide on the current ISRs: a leader's expansion reaches this view through /isr_change_notification, a step
    // behind the state znode, and a preferred replica that has just rejoined must not be refused for that.
    for (const tp of known) await refreshPartitionState(this.registry, this.ctx, tp);
    if (known.length > 0) {
      const alive = this.ctx.aliveBrokers();
      const results = await writeLeaderAndIsr(this.registry, this.ctx, known, (tp, current, replicas): LeaderAndIsrDecision => {
        if (type === 'preferred') {
          if (current.state.leader === replicas[0]) return null;
          const r = electPreferredReplica(replicas, current.state, this.ctx.forPartition(eligible, tp));
          return r.ok
            ? { change: r.value }
            : { failure: r.reason, message: `Failed to elect leader for partition ${tpName(tp)} under strategy PreferredReplicaPartitionLeaderElectionStrategy` };
        }
        const eligibleHere = this.ctx.forPartition(eligible, tp);
        if (current.state.leader !== NO_LEADER && eligibleHere.has(current.state.leader)) return null;
        const r = electForOfflinePartition(replicas, current.state, this.ctx.forPartition(alive, tp), eligibleHere, true);
        return r.ok
          ? { change: r.value, unclean: r.unclean === true }
          : { failure: r.reason, message: `Failed to elect leader for partition ${tpName(tp)} under strategy OfflinePartitionLeaderElectionStrategy(true)` };
      });
      this.logOutcomes(results, `${type} leader election (${trigger})`);
      for (const [tp, r] of results) {
        if (r.status === 'updated') out.push({ ...tp, errorCode: ErrorCode.NONE, errorMessage: null });
        else if (r.status === 'unchanged') out.push({ ...tp, errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: 'Leader election not needed for topic partition.' });
        else if (r.status === 'missing') out.push({ ...tp, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'The partition does not exist.' });
        else {
          out.push({
            ...tp,
            errorCode: type === 'preferred' ? ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE : ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
            errorMessage: r.message,
          });
        }
      }
    }
    return out;
  }

  /** /admin/preferred_replica_election (ZooKeeper-mode tools): elect the preferred replicas it names, then delete it. */
  private async processPreferredReplicaElectionZnode(): Promise<void> {
    if (!this.isActive) return;
    const watch = this.watcher(`exists:${preferredReplicaElectionPath}`, 'PreferredReplicaElection', () => this.processPreferredReplicaElectionZnode());
    if (!(await this.registry.exists(preferredReplicaElectionPath, watch))) return;
    const node = await this.registry.get(preferredReplicaElectionPath);
    if (!node) return;
    let partitions: TopicPartitionRef[] = [];
    try {
      partitions = decodePreferredReplicaElection(node.data);
    } catch (err) {
      this.logger.warn(`controller: ignoring unreadable ${preferredReplicaElectionPath}: ${(err as Error).message}`);
    }
    if (partitions.length > 0) await this.doElectLeaders('preferred', partitions, 'zookeeper');
    try {
      await fencedMulti(this.registry, this.ctx.epochZkVersion, [{ op: 'delete', path: preferredReplicaElectionPath, version: -1 }]);
    } catch (err) {
      if (!isRegistryError(err, 'NO_NODE')) throw err;
    }
    await this.registry.exists(preferredReplicaElectionPath, watch);
  }

  private scheduleRebalance(delayMs: number): void {
    if (this.rebalanceTimer) clearTimeout(this.rebalanceTimer);
    const term = this.term;
    this.rebalanceTimer = setTimeout(() => {
      this.rebalanceTimer = null;
      if (term !== this.term || !this.isActive || this.closed) return;
      this.put('AutoPreferredReplicaLeaderElection', async () => {
        try {
          await this.checkAndTriggerAutoLeaderRebalance();
        } finally {
          if (term === this.term && this.isActive && !this.closed) this.scheduleRebalance(this.settings.leaderImbalanceCheckIntervalSeconds * 1000);
        }
      });
    }, delayMs);
    this.rebalanceTimer.unref();
  }

  private async checkAndTriggerAutoLeaderRebalance(): Promise<void> {
    if (!this.isActive) return;
    if (this.ctx.partitionsBeingReassigned().length > 0) return;
    const eligible = this.ctx.eligibleBrokers();
    // A preferred replica in a failed log dir cannot lead (Kafka's isReplicaOnline): not tried at every check.
    const candidates = partitionsToRebalance(
      this.ctx.allPartitions().map((tp) => ({ partition: tp, replicas: this.ctx.replicas(tp.topic, tp.partition)!, leader: this.ctx.partitionState(tp.topic, tp.partition)?.state.leader })),
      eligible,
      this.settings.leaderImbalancePerBrokerPercentage,
    ).filter((tp) => this.ctx.forPartition(eligible, tp).has(this.ctx.replicas(tp.topic, tp.partition)![0]!));
    if (candidates.length > 0) await this.doElectLeaders('preferred', candidates, 'auto');
  }
}

function notController(): ControllerResult {
  return { errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: 'This is not the correct controller for this cluster.' };
}

function topicInfoOf(plan: TopicCreationPlan): TopicInfo {
  return {
    name: plan.name,
    topicId: plan.topicId,
    partitions: plan.partitions.map((p) => ({
      partition: p.partition,
      replicas: p.replicas,
      isr: p.state?.isr ?? [],
      leader: p.state?.leader ?? NO_LEADER,
      leaderEpoch: p.state?.leaderEpoch ?? -1,
    })),
    config: plan.configs,
    internal: isInternalTopic(plan.name),
  };
}
