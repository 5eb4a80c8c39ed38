/**
 * LogManager: every partition log of this broker across its log dirs (Kafka's LogManager, first cut).
 *
 * Per log dir: `meta.properties` (version=0, broker.id, cluster.id), `recovery-point-offset-checkpoint`,
 * `log-start-offset-checkpoint`, and `.kafka_cleanshutdown` (present only after a clean close; removed once
 * the logs are loaded at start). Per partition dir: `partition.metadata` (`version: 0`, `topic_id: <base64url>`).
 * Deleted logs are renamed to `<topic>-<partition>.<uuid hex>-delete` and then removed.
 *
 * Start-up does work proportional to what is dirty (issue 13): in a log dir with the clean-shutdown marker every
 * log opens lazily, from the checkpoints (its log end is the recovery point a clean close wrote), without reading
 * a segment; in a dir without it every log is recovered from its recovery point, `num.recovery.threads.per.data.dir`
 * at a time, and with `recoverInBackground` (the broker) that runs after start-up returns: a log still recovering
 * is not in `getLog` yet, `isLoading` says so, and `awaitLoad` moves it to the front of the queue and waits.
 * Descriptors are a cache for every log (fd-cache.ts, `log.max.open.files`).
 *
 * Log dir failures (Kafka's LogDirFailureChannel and LogManager/ReplicaManager.handleLogDirFailure): the first
 * I/O error under a log dir, from any log or from the manager's own checkpoint and file work, takes the whole
 * dir offline until the next start: it is logged once with the dir and the cause, every log in it is closed
 * without further writes (reads and appends answer KAFKA_STORAGE_ERROR), its checkpoints and clean-shutdown
 * marker are no longer written (so the next start recovers it), no new log is placed in it, and
 * `onLogDirFailure` tells the broker, which shuts down when no log dir is left (docs/storage.md).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, KafkaError } from '../protocol/errors.js';
import { uuidFromString, uuidToString } from '../protocol/primitives.js';
import {
  CheckpointFormatError,
  LOG_START_OFFSET_CHECKPOINT_FILE,
  OffsetCheckpointFile,
  RECOVERY_POINT_CHECKPOINT_FILE,
  REPLICATION_OFFSET_CHECKPOINT_FILE,
  type TopicPartitionOffset,
} from './checkpoint.js';
import { fsyncDir, writeFileAtomic } from './file-io.js';
import { FileDescriptorsExhaustedError, isDescriptorExhaustion, sharedFdCache, type FileDescriptorCache } from './fd-cache.js';
import { RecoveryQueue } from './recovery-queue.js';
import type { LogConfig } from './log-config.js';
import { Log, parseTopicPartitionDirName, topicPartitionDirName } from './log.js';
import { deleteOldSegments } from './retention.js';
import { LogCleaner } from './log-cleaner.js';
import { KafkaStorageException, addSuppressed, isStorageIoError } from './storage-error.js';
import { errorDetail, stderrStorageLogger, type StorageLogger } from './storage-logger.js';

export const CLEAN_SHUTDOWN_FILE = '.kafka_cleanshutdown';
export const META_PROPERTIES_FILE = 'meta.properties';
export const PARTITION_METADATA_FILE = 'partition.metadata';
export const DELETE_DIR_SUFFIX = '-delete';

const MAX_TOPIC_NAME_LENGTH = 249;
/** Lazy opens (a listing, a stat, two small reads each) in flight at once while a clean log dir loads. */
const LAZY_OPEN_CONCURRENCY = 32;
/** Logs flushed (or closed) at once: each fsync in flight pins a descriptor; 4 keep libuv's thread pool busy. */
const FLUSH_CONCURRENCY = 4;
/** How long the checkpoint write after a deletion waits for the deletions that follow it (a deleted topic). */
const DELETION_CHECKPOINT_DELAY_MS = 100;
/** How long a recovery that ran out of descriptors waits before it is tried again. */
const RECOVERY_RETRY_MS = 500;

export interface LogManagerOptions {
  logDirs: string[];
  brokerId: number;
  /** Written to meta.properties; an existing different cluster.id is an error. */
  clusterId?: string;
  /** Defaults for every log (the broker-level log.* settings). */
  defaultConfig?: Partial<LogConfig>;
  /** Topic-level overrides for logs found on disk at start. */
  topicConfig?: (topic: string) => Partial<LogConfig> | undefined;
  /** Called after every append to any log (the fetch purgatory's wake-up). Must not throw. */
  onAppend?: (log: Log) => void;
  /** Called after each flush of a log that fsynced something, with its duration in ms. Must not throw. */
  onFlush?: (ms: number) => void;
  time?: () => number;
  /** `log.retention.check.interval.ms`: how often retention runs over every log (default 300000; 0 = never). */
  retentionCheckIntervalMs?: number;
  /** The log cleaner (`log.cleaner.enable`, `log.cleaner.backoff.ms`), for logs with cleanup.policy compact. Off when unset. */
  cleaner?: { enable: boolean; backoffMs: number };
  /**
   * `log.flush.scheduler.interval.ms`: how often logs with `flush.ms` are checked for a due fsync. Unset (or
   * Kafka's Long.MAX default): every 1000 ms, which only does anything for logs that set flush.ms.
   */
  flushSchedulerIntervalMs?: number;
  /** `log.flush.offset.checkpoint.interval.ms`: how often recovery-point-offset-checkpoint is written (default 60000; 0 = never). */
  recoveryPointCheckpointIntervalMs?: number;
  /** `replica.high.watermark.checkpoint.interval.ms`: how often replication-offset-checkpoint is written (default 5000; 0 = never). */
  highWatermarkCheckpointIntervalMs?: number;
  /** A log's high watermark, for replication-offset-checkpoint (default: its log end offset, a single replica's). */
  highWatermark?: (log: Log) => number;
  /** Where failures go: a log dir going offline, a background task that failed (default: stderr). */
  logger?: StorageLogger;
  /** `num.recovery.threads.per.data.dir`: logs of one dir recovered at a time after an unclean shutdown (default 1). */
  recoveryThreadsPerDataDir?: number;
  /**
   * Recover the logs of dirs without a clean shutdown after `startup()` returns (the broker serves the others
   * meanwhile; see `isLoading` / `awaitLoad`). Default false: `startup()` waits for every recovery.
   */
  recoverInBackground?: boolean;
  /** Called for each log a background recovery finished (the broker starts serving it). Must not throw. */
  onLogLoaded?: (log: Log) => void;
  /** `log.max.open.files`: the descriptor budget of the process's cache; unset: derived from the process's limit. */
  maxOpenFiles?: number;
  /** The descriptor cache (default: the process's shared one); for tests. */
  fdCache?: FileDescriptorCache;
  /** Called once per log dir when it goes offline, after its logs were closed. Must not throw. */
  onLogDirFailure?: (failure: LogDirFailure) => void;
}

/** A log dir that went offline (Kafka's LogDirFailureChannel event). */
export interface LogDirFailure {
  /** The log dir, as an absolute path. */
  dir: string;
  /** What failed first, e.g. "appending to the log for t-0". */
  what: string;
  cause: Error;
  /** The partitions whose logs were in it; they answer KAFKA_STORAGE_ERROR until the broker restarts. */
  partitions: { topic: string; partition: number }[];
  /** No log dir is left online: the broker must shut down ("all log dirs have failed"). */
  allLogDirsOffline: boolean;
}

/** The LogManager timers of a broker config (log.flush.*, replica.high.watermark.checkpoint.interval.ms). */
export function logManagerTimersFromBroker(c: {
  logFlushSchedulerIntervalMs: number;
  logFlushOffsetCheckpointIntervalMs: number;
  replicaHighWatermarkCheckpointIntervalMs: number;
}): Pick<LogManagerOptions, 'flushSchedulerIntervalMs' | 'recoveryPointCheckpointIntervalMs' | 'highWatermarkCheckpointIntervalMs'> {
  return {
    flushSchedulerIntervalMs: c.logFlushSchedulerIntervalMs,
    recoveryPointCheckpointIntervalMs: c.logFlushOffsetCheckpointIntervalMs,
    highWatermarkCheckpointIntervalMs: c.replicaHighWatermarkCheckpointIntervalMs,
  };
}

/** setInterval's longest period; longer (Kafka's Long.MAX "never") settings fall back to the given default. */
const MAX_TIMER_MS = 0x7fffffff;
function timerPeriod(ms: number | undefined, fallback: number): number {
  return ms === undefined || ms >= MAX_TIMER_MS || ms < 0 ? fallback : ms;
}

export interface MetaProperties {
  version: number;
  brokerId: number;
  clusterId?: string;
}

/** Reads `<dir>/meta.properties` (Java properties), or null when missing. */
export async function readMetaProperties(dir: string, cache: FileDescriptorCache = sharedFdCache()): Promise<MetaProperties | null> {
  let text: string;
  const file = path.join(dir, META_PROPERTIES_FILE);
  try {
    // within the descriptor budget like every file of the log dirs (a restart reads it while other logs are open)
    text = await cache.withPermit(() => fs.promises.readFile(file, 'utf8'), `reading ${file}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const props = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (m) props.set(m[1]!, m[2]!);
  }
  const version = Number(props.get('version') ?? '0');
  const brokerId = Number(props.get('broker.id') ?? props.get('node.id') ?? 'NaN');
  const clusterId = props.get('cluster.id');
  return { version, brokerId, ...(clusterId !== undefined ? { clusterId } : {}) };
}

export async function writeMetaProperties(dir: string, meta: MetaProperties, cache: FileDescriptorCache = sharedFdCache()): Promise<void> {
  let text = `version=${meta.version}\nbroker.id=${meta.brokerId}\n`;
  if (meta.clusterId !== undefined) text += `cluster.id=${meta.clusterId}\n`;
  await writeFileAtomic(path.join(dir, META_PROPERTIES_FILE), text, cache);
}

/** Reads `<partitionDir>/partition.metadata`'s topic id, or null when the file is missing. */
export async function readPartitionMetadata(partitionDir: string, cache: FileDescriptorCache = sharedFdCache()): Promise<Buffer | null> {
  let text: string;
  const file = path.join(partitionDir, PARTITION_METADATA_FILE);
  try {
    // synchronous: a few bytes, read once per partition at start (see readCheckpointFile)
    text = cache.withPermitSync(() => fs.readFileSync(file, 'utf8'), `reading ${file}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const m = /^topic_id:\s*(\S+)\s*$/m.exec(text);
  if (!m) throw new Error(`${partitionDir}/${PARTITION_METADATA_FILE}: no topic_id`);
  return uuidFromString(m[1]!);
}

export function formatPartitionMetadata(topicId: Buffer): string {
  return `version: 0\ntopic_id: ${uuidToString(topicId)}\n`;
}

export async function writePartitionMetadata(partitionDir: string, topicId: Buffer, cache: FileDescriptorCache = sharedFdCache()): Promise<void> {
  await writeFileAtomic(path.join(partitionDir, PARTITION_METADATA_FILE), formatPartitionMetadata(topicId), cache);
}

/** Kafka's rule for topic names: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
export function validateTopicName(topic: string): void {
  if (topic.length === 0 || topic.length > MAX_TOPIC_NAME_LENGTH || topic === '.' || topic === '..' || !/^[a-zA-Z0-9._-]+$/.test(topic)) {
    throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, `invalid topic name ${JSON.stringify(topic)}`);
  }
}

/** `<topic>-<partition>.<uuid hex>-delete`, shortening the topic so the name stays within 255 bytes (as Kafka). */
export function logDeleteDirName(topic: string, partition: number): string {
  const suffix = `-${partition}.${randomUUID().replace(/-/g, '')}${DELETE_DIR_SUFFIX}`;
  return topic.slice(0, Math.max(0, Math.min(topic.length, 255 - suffix.length))) + suffix;
}

const key = (topic: string, partition: number): string => `${topic}-${partition}`;

export class LogManager {
  readonly logDirs: string[];
  readonly brokerId: number;
  private readonly opts: LogManagerOptions;
  private readonly logs = new Map<string, Log>();
  private readonly creating = new Map<string, Promise<Log>>();
  private readonly checkpointFiles = new Map<
    string,
    { recovery: OffsetCheckpointFile; logStart: OffsetCheckpointFile; highWatermark: OffsetCheckpointFile }
  >();
  /** High watermarks read from replication-offset-checkpoint at start, by `<topic>-<partition>`. */
  private readonly loadedHighWatermarks = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private clusterId: string | undefined;
  private started = false;
  private closed = false;
  private retentionTimer: NodeJS.Timeout | null = null;
  /** The log cleaner (src/log/log-cleaner.ts), when enabled. */
  cleaner: LogCleaner | null = null;
  private retentionRun: Promise<number> | null = null;
  private readonly checkpointsDue = new Set<string>();
  private checkpointing: Promise<void> | null = null;
  /** Log dirs taken offline by a storage failure, with the cause; they stay offline until the next start. */
  private readonly offlineDirs = new Map<string, Error>();
  /**
   * Partitions whose log is in an offline dir (or failed to be created in one), by `<topic>-<partition>` → that
   * dir: they are not created again elsewhere (Kafka marks such a partition offline until the restart).
   */
  private readonly offlineLogs = new Map<string, string>();
  private readonly logger: StorageLogger;
  readonly fdCache: FileDescriptorCache;
  /** Logs of dirs without a clean shutdown, waiting for (or in) recovery, by `<topic>-<partition>`. */
  private readonly pending = new Map<string, PendingLog>();
  private readonly recoveryQueues = new Map<string, RecoveryQueue<PendingLog>>();
  /** Dirs holding logs whose recovery never ran (the broker stopped first): no clean-shutdown marker for them. */
  private readonly unrecoveredDirs = new Set<string>();
  /**
   * Logs whose loading failed for a reason other than a dir failure (a bug, a corrupt file the log cannot read):
   * never replaced by a new, empty log, which would serve the partition without its records.
   */
  private readonly failedLoads = new Map<string, Error>();
  /** Partitions whose log could not be created yet (out of descriptors), with the reason; reported until created. */
  private readonly failedCreations = new Map<string, Error>();
  /** Concurrent log creations in a dir share one fsync of it (group commit). */
  private readonly dirSyncs = new GroupCommit();
  /** Checkpoint writes after log deletions, shared by deletions that come together (a topic of 1,000 partitions). */
  private readonly deletionCheckpoints = new GroupCommit();
  private readonly deletionCheckpointsDue = new Set<Promise<void>>();
  /** Logs per dir (placing a new log must not count every log). */
  private readonly logCounts = new Map<string, number>();
  /**
   * Logs being created per dir: counted when placing the next one, so that partitions created together (a new
   * topic's replicas here) spread over the dirs like ones created one by one (Kafka creates them one at a time).
   */
  private readonly creatingCounts = new Map<string, number>();
  /** Bumped whenever a log comes or goes: a checkpoint written at another version is out of date. */
  private logsVersion = 0;
  /** What the last write of each checkpoint of each dir held, to skip building one that would not change. */
  private readonly lastWritten = new Map<string, { version: number; pending: number; values: Float64Array }>();

  /** Call `startup()` before use (or use `LogManager.open`). */
  constructor(opts: LogManagerOptions) {
    if (opts.logDirs.length === 0) throw new Error('at least one log dir is required');
    this.opts = opts;
    this.logDirs = opts.logDirs.map((d) => path.resolve(d));
    this.brokerId = opts.brokerId;
    this.clusterId = opts.clusterId;
    this.logger = opts.logger ?? stderrStorageLogger;
    this.fdCache = opts.fdCache ?? sharedFdCache();
    if (opts.maxOpenFiles !== undefined) this.fdCache.setMaxOpen(opts.maxOpenFiles);
    this.fdCache.logger = this.logger;
    for (const dir of this.logDirs) {
      this.checkpointFiles.set(dir, {
        recovery: new OffsetCheckpointFile(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), this.fdCache),
        logStart: new OffsetCheckpointFile(path.join(dir, LOG_START_OFFSET_CHECKPOINT_FILE), this.fdCache),
        highWatermark: new OffsetCheckpointFile(path.join(dir, REPLICATION_OFFSET_CHECKPOINT_FILE), this.fdCache),
      });
    }
  }

  /** Creates the log dirs if needed, checks/writes meta.properties, and loads every partition log found. */
  static async open(opts: LogManagerOptions): Promise<LogManager> {
    const mgr = new LogManager(opts);
    await mgr.startup();
    return mgr;
  }

  /**
   * Creates the log dirs if needed, checks/writes meta.properties (with clusterId when given, e.g. once read
   * from the registry), loads every partition log found and removes the clean-shutdown markers.
   */
  async startup(clusterId?: string): Promise<void> {
    if (this.started) throw new Error('log manager already started');
    this.started = true;
    if (clusterId !== undefined) this.clusterId = clusterId;
    try {
      for (const dir of this.logDirs) await this.loadDir(dir);
      if (this.opts.recoverInBackground !== true) await this.awaitRecoveries();
      const interval = this.opts.retentionCheckIntervalMs ?? 300000;
      if (interval > 0) {
        this.retentionTimer = setInterval(() => void this.runRetention().catch((e: unknown) => this.backgroundFailure('log retention', e)), interval);
        this.retentionTimer.unref();
      }
      if (this.opts.cleaner?.enable === true) {
        const hw = this.opts.highWatermark;
        this.cleaner = new LogCleaner(this, {
          backoffMs: this.opts.cleaner.backoffMs,
          ...(hw !== undefined ? { highWatermark: hw } : {}),
          onError: (log, err) => {
            if (log !== null) log.reportBackgroundError('cleaning the log', err);
            else this.backgroundFailure('a log cleaner pass', err);
          },
          ...(this.opts.time !== undefined ? { time: this.opts.time } : {}),
        });
        await this.cleaner.start();
      }
      this.startTimers();
    } catch (e) {
      for (const q of this.recoveryQueues.values()) q.stop();
      await Promise.all([...this.recoveryQueues.values()].map((q) => q.idle()));
      for (const log of this.logs.values()) log.closeWithoutFlush();
      this.logs.clear();
      this.logCounts.clear();
      throw e;
    }
  }

  /**
   * Waits for every recovery queued at start-up; rejects with the first failure (a log that could not be
   * loaded, a dir that failed), as a foreground start-up does.
   */
  async awaitRecoveries(): Promise<void> {
    const all = [...this.pending.values()].map((p) => p.done);
    await Promise.all([...this.recoveryQueues.values()].map((q) => q.idle()));
    await Promise.all(all);
    for (const dir of this.logDirs) {
      const cause = this.offlineDirs.get(dir);
      if (cause !== undefined) throw new KafkaStorageException(`log dir ${dir} failed while its logs were recovered: ${cause.message}`, cause);
    }
    for (const [k, e] of this.failedLoads) throw new Error(`loading the log of ${k} failed: ${e.message}`, { cause: e });
  }

  /**
   * Loads a log dir: with the clean-shutdown marker, every log lazily (from the checkpoints, no segment read);
   * without it, every log is queued for recovery. The marker is removed before anything can write.
   */
  private async loadDir(dir: string): Promise<void> {
    await fs.promises.mkdir(dir, { recursive: true });
    await this.checkMetaProperties(dir);
    const marker = path.join(dir, CLEAN_SHUTDOWN_FILE);
    const hadCleanShutdown = fs.existsSync(marker);
    const files = this.checkpointFiles.get(dir)!;
    const recoveryPoints = await readCheckpointMapOrEmpty(files.recovery, this.logger);
    const logStartOffsets = await readCheckpointMapOrEmpty(files.logStart, this.logger);
    for (const [k, hw] of await readCheckpointMapOrEmpty(files.highWatermark, this.logger)) this.loadedHighWatermarks.set(k, hw);

    const toOpen: PendingLog[] = [];
    const names = new Set<string>();
    const entries = await this.fdCache.withPermit(() => fs.promises.readdir(dir, { withFileTypes: true }), `listing ${dir}`);
    for (const ent of entries) {
      if (!ent.isDirectory()) continue;
      if (ent.name.endsWith(DELETE_DIR_SUFFIX)) {
        await fs.promises.rm(path.join(dir, ent.name), { recursive: true, force: true });
        continue;
      }
      const tp = parseTopicPartitionDirName(ent.name);
      if (tp === null) continue;
      const k = key(tp.topic, tp.partition);
      if (this.logs.has(k) || this.pending.has(k) || names.has(k)) {
        throw new Error(`duplicate log directories for ${k}: found another one in ${dir}`);
      }
      names.add(k);
      toOpen.push(new PendingLog(k, dir, ent.name, tp.topic, tp.partition, recoveryPoints.get(k), logStartOffsets.get(k)));
    }

    if (hadCleanShutdown) {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < toOpen.length) await this.openLog(toOpen[next++]!, true);
      };
      await Promise.all(Array.from({ length: Math.min(LAZY_OPEN_CONCURRENCY, toOpen.length) }, worker));
      // Loaded: from here on the logs change, so the next start must not trust them without a clean close.
      await fs.promises.rm(marker, { force: true });
      await fsyncDir(dir, this.fdCache);
      return;
    }
    // Recovery: the internal topics (__consumer_offsets) first, so that groups come back before the rest.
    toOpen.sort((a, b) => Number(b.topic.startsWith('__')) - Number(a.topic.startsWith('__')));
    const queue = new RecoveryQueue<PendingLog>(this.opts.recoveryThreadsPerDataDir ?? 1, (job) => this.recover(job));
    this.recoveryQueues.set(dir, queue);
    for (const job of toOpen) {
      this.pending.set(job.key, job);
      queue.add(job);
    }
  }

  /** Opens one log found on disk (lazily when `clean`), reads its topic id, and makes it available. */
  private async openLog(job: PendingLog, clean: boolean): Promise<Log> {
    const partitionDir = path.join(job.dir, job.name);
    const topicId = await readPartitionMetadata(partitionDir, this.fdCache).catch((e: unknown) => {
      if (isStorageIoError(e) || isDescriptorExhaustion(e) || e instanceof FileDescriptorsExhaustedError) throw e;
      // malformed: the registry's topic id is written again when the broker leads the partition
      this.logger.warn(`ignoring ${path.join(partitionDir, PARTITION_METADATA_FILE)}: ${errorDetail(e)}`);
      return null;
    });
    const log = await Log.open(partitionDir, {
      config: { ...this.opts.defaultConfig, ...this.opts.topicConfig?.(job.topic) },
      recoveryPoint: job.recoveryPoint ?? 0,
      logStartOffset: job.logStartOffset ?? 0,
      hadCleanShutdown: clean,
      ...(clean && job.recoveryPoint !== undefined ? { logEndOffset: job.recoveryPoint } : {}),
      ...(topicId !== null ? { topicId } : {}),
      ...(this.opts.time !== undefined ? { time: this.opts.time } : {}),
      fdCache: this.fdCache,
    });
    this.setLog(job.key, log);
    // a background write started while it opened (the epoch checkpoint) may already have failed
    const cause = log.failureCause;
    if (cause !== null) throw new KafkaStorageException(`cannot open ${job.key} in dir ${job.dir}: ${cause.message}`, cause);
    this.wire(log);
    return log;
  }

  /** A recovery job: recovers the log, or retries later when out of descriptors, or records why it failed. */
  private async recover(job: PendingLog): Promise<void> {
    if (this.pending.get(job.key) !== job) return; // deleted or taken offline meanwhile
    try {
      const log = await this.openLog(job, false);
      if (this.closed && this.pending.get(job.key) !== job) {
        // the manager was closed without a flush (a crash) while this log recovered: nothing more is written
        if (this.logs.get(job.key) === log) this.dropLog(job.key);
        log.closeWithoutFlush();
        return;
      }
      if (this.pending.get(job.key) !== job) {
        // its dir failed while it recovered (handleLogDirFailure settled the job): it must not stay online
        if (this.logs.get(job.key) === log) {
          this.dropLog(job.key);
          log.goOffline(this.offlineDirs.get(job.dir) ?? new Error(`log dir ${job.dir} is offline`));
        }
        return;
      }
      this.pending.delete(job.key);
      job.finish(log);
      try {
        this.opts.onLogLoaded?.(log);
      } catch (e) {
        this.logger.error(`the log-loaded handler failed for ${job.key}: ${errorDetail(e)}`);
      }
    } catch (e) {
      const log = this.logs.get(job.key);
      if (log !== undefined) {
        this.dropLog(job.key);
        log.closeWithoutFlush();
      }
      if (this.pending.get(job.key) !== job) return;
      if (e instanceof FileDescriptorsExhaustedError || isDescriptorExhaustion(e)) {
        // not a failure of the log: try again once descriptors are free (the cache logged it)
        setTimeout(() => {
          const queue = this.recoveryQueues.get(job.dir);
          if (this.pending.get(job.key) === job && queue !== undefined && !this.closed) queue.add(job, job.urgent);
        }, RECOVERY_RETRY_MS).unref();
        return;
      }
      const err = this.dirFailure(job.dir, `recovering the log of ${job.key}`, e);
      if (this.offlineDirs.has(job.dir)) return; // handleLogDirFailure settled every pending log of the dir
      this.pending.delete(job.key);
      const error = err instanceof Error ? err : new Error(String(err));
      this.failedLoads.set(job.key, error);
      this.unrecoveredDirs.add(job.dir);
      this.logger.error(`loading the log of ${job.key} in dir ${job.dir} failed; the partition is not served here until that is fixed: ${errorDetail(error)}`);
      job.finish(undefined);
    }
  }

  /** True while the partition's log waits for (or is in) recovery after an unclean shutdown. */
  isLoading(topic: string, partition: number): boolean {
    return this.pending.has(key(topic, partition));
  }

  /** Logs still waiting for (or in) recovery. */
  get loadingCount(): number {
    return this.pending.size;
  }

  /**
   * The partition's log once it is loaded: a log still waiting for recovery moves to the front of its dir's
   * queue. Undefined when there is no such log (or its loading failed, or its dir went offline).
   */
  async awaitLoad(topic: string, partition: number): Promise<Log | undefined> {
    const k = key(topic, partition);
    const job = this.pending.get(k);
    if (job === undefined) return this.logs.get(k);
    job.urgent = true;
    this.recoveryQueues.get(job.dir)?.promote(k);
    return job.done;
  }

  /** The flush scheduler, the recovery-point checkpoint and the high-watermark checkpoint timers. */
  private startTimers(): void {
    const every = (ms: number, what: string, fn: () => Promise<unknown>): void => {
      let running = false;
      const t = setInterval(() => {
        if (running || this.closed) return;
        running = true;
        fn()
          .catch((e: unknown) => this.backgroundFailure(what, e))
          .finally(() => {
            running = false;
          });
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(timerPeriod(this.opts.flushSchedulerIntervalMs, 1000), 'the flush scheduler', () => this.flushDueLogs());
    const recoveryMs = this.opts.recoveryPointCheckpointIntervalMs ?? 60000;
    if (recoveryMs > 0 && recoveryMs < MAX_TIMER_MS) every(recoveryMs, 'writing the offset checkpoints', () => this.checkpointAll());
    const hwMs = this.opts.highWatermarkCheckpointIntervalMs ?? 5000;
    if (hwMs > 0 && hwMs < MAX_TIMER_MS) every(hwMs, 'writing replication-offset-checkpoint', () => this.checkpointHighWatermarks());
  }

  /** The flush scheduler's pass: fsyncs (in the background of requests) every log whose flush.ms has elapsed. */
  async flushDueLogs(now: number = (this.opts.time ?? Date.now)()): Promise<void> {
    // Only logs with flush.ms set and something unflushed get a flush (a cheap check per log, no allocation);
    // those run a bounded number at a time, as every fsync in flight holds a descriptor.
    const due: Log[] = [];
    for (const log of this.logs.values()) if (log.isFlushDue(now)) due.push(log);
    await forEachConcurrently(due, FLUSH_CONCURRENCY, async (log) => {
      const f = log.flushIfDue(now);
      // one log's failure must not hide another's: each is reported on its own (I/O errors take its dir offline)
      if (f !== null) await f.catch((e: unknown) => log.reportBackgroundError('flushing the log (flush.ms)', e));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Log dir failures

  /** The log dirs still online. */
  get liveLogDirs(): string[] {
    return this.logDirs.filter((d) => !this.offlineDirs.has(d));
  }

  /** The log dirs taken offline by a storage failure since the start. */
  get offlineLogDirs(): string[] {
    return [...this.offlineDirs.keys()];
  }

  isLogDirOnline(dir: string): boolean {
    return !this.offlineDirs.has(path.resolve(dir));
  }

  /**
   * Takes a log dir offline after an I/O error under it (Kafka's handleLogDirFailure): logged once, with what
   * failed and the cause; every log in it closed without further writes (its partitions answer
   * KAFKA_STORAGE_ERROR); no checkpoints, clean-shutdown marker or new logs there any more; then
   * `onLogDirFailure`. Later failures in the same dir are only debug-logged.
   */
  handleLogDirFailure(logDir: string, what: string, cause: Error): void {
    const dir = path.resolve(logDir);
    if (!this.checkpointFiles.has(dir)) {
      this.logger.error(`storage failure outside the log dirs (${dir}) while ${what}: ${errorDetail(cause)}`);
      return;
    }
    if (this.offlineDirs.has(dir)) {
      this.logger.debug(`also failed in offline log dir ${dir}: ${what}: ${cause.message}`);
      return;
    }
    this.offlineDirs.set(dir, cause);
    this.logger.error(`Error while ${what} in dir ${dir}: ${cause.message}`);
    const partitions: { topic: string; partition: number }[] = [];
    for (const [k, log] of this.logs) {
      if (log.parentDir !== dir) continue;
      log.goOffline(cause);
      this.dropLog(k);
      this.offlineLogs.set(k, dir);
      partitions.push({ topic: log.topic, partition: log.partition });
    }
    // logs still waiting for recovery there are not recovered (nor created elsewhere) before the restart
    this.recoveryQueues.get(dir)?.stop();
    for (const [k, job] of this.pending) {
      if (job.dir !== dir) continue;
      this.pending.delete(k);
      this.offlineLogs.set(k, dir);
      partitions.push({ topic: job.topic, partition: job.partition });
      job.finish(undefined);
    }
    this.checkpointsDue.delete(dir);
    const allLogDirsOffline = this.liveLogDirs.length === 0;
    const names = partitions.map((p) => `${p.topic}-${p.partition}`).sort();
    this.logger.error(
      `Log dir ${dir} is offline: stopped serving ${names.length} partition(s) in it` +
        `${names.length > 0 ? ` (${names.join(', ')})` : ''}; they answer KAFKA_STORAGE_ERROR until the broker restarts`,
    );
    if (allLogDirsOffline) this.logger.error(`Shutdown broker because all log dirs in ${this.logDirs.join(', ')} have failed`);
    try {
      this.opts.onLogDirFailure?.({ dir, what, cause, partitions, allLogDirsOffline });
    } catch (e) {
      this.logger.error(`the log dir failure handler failed: ${errorDetail(e)}`);
    }
  }

  /**
   * For the manager's own file work in a log dir: an I/O error takes the dir offline and comes back as a
   * KafkaStorageException (KAFKA_STORAGE_ERROR); any other error comes back unchanged.
   */
  private dirFailure(dir: string, what: string, e: unknown): unknown {
    if (!isStorageIoError(e)) return e;
    this.handleLogDirFailure(dir, what, e);
    return new KafkaStorageException(`Error while ${what} in dir ${dir}: ${e.message}`, e);
  }

  /**
   * A log creation that failed in `dir`: on a storage failure the partition stays offline here (see offlineLogs);
   * otherwise (out of descriptors, a bug) the partition directory made so far is removed, so that nothing half made
   * is left for the next attempt or the next start, and the failure is kept for reporting.
   */
  private async creationFailure(dir: string, k: string, partitionDir: string, e: unknown): Promise<unknown> {
    const err = this.dirFailure(dir, `creating the log for ${k}`, e);
    if (this.offlineDirs.has(dir)) {
      this.offlineLogs.set(k, dir);
      return err;
    }
    const reported = isDescriptorExhaustion(err) ? new FileDescriptorsExhaustedError(`Out of file descriptors while creating the log for ${k}: ${(err as Error).message}`, err) : err;
    try {
      await this.fdCache.withPermit(() => fs.promises.rm(partitionDir, { recursive: true, force: true }), `removing ${partitionDir}`);
    } catch (rmError) {
      if (isStorageIoError(rmError)) this.handleLogDirFailure(dir, `removing the half-created log ${partitionDir}`, rmError);
      else addSuppressed(reported, rmError);
    }
    this.failedCreations.set(k, reported instanceof Error ? reported : new Error(String(reported)));
    return reported;
  }

  /** A background task failed: storage failures were logged by the dir failure path already; anything else is logged here. */
  private backgroundFailure(what: string, e: unknown): void {
    if (e instanceof FileDescriptorsExhaustedError || isDescriptorExhaustion(e)) {
      // logged (rate-limited) where it happened; the task runs again at its next interval
      this.logger.debug(`${what} failed: ${(e as Error).message}`);
      return;
    }
    if (e instanceof KafkaStorageException) {
      this.logger.debug(`${what} failed: ${e.message}`);
      return;
    }
    this.logger.error(`${what} failed: ${errorDetail(e)}`);
  }

  /** The high watermark checkpointed before this start (clamped to the log's range), or undefined. */
  checkpointedHighWatermark(topic: string, partition: number): number | undefined {
    const hw = this.loadedHighWatermarks.get(key(topic, partition));
    const log = this.logs.get(key(topic, partition));
    if (hw === undefined || log === undefined) return hw;
    return Math.min(Math.max(hw, log.logStartOffset), log.logEndOffset);
  }

  /**
   * Writes replication-offset-checkpoint (the high watermark of every log) in one log dir. Offline dirs are
   * skipped; an I/O error takes the dir offline and is thrown as KAFKA_STORAGE_ERROR.
   */
  private async checkpointHighWatermarksDir(dir: string): Promise<void> {
    const files = this.checkpointFiles.get(dir);
    if (files === undefined || this.offlineDirs.has(dir)) return;
    const hwOf = this.opts.highWatermark ?? ((log: Log) => log.logEndOffset);
    if (this.unchangedSinceWritten('highWatermark', dir, hwOf)) return;
    const version = this.logsVersion;
    const pendingNow = this.pending.size;
    const entries: TopicPartitionOffset[] = [];
    for (const log of this.logs.values()) {
      if (log.parentDir !== dir) continue;
      entries.push({ topic: log.topic, partition: log.partition, offset: hwOf(log) });
    }
    for (const job of this.pending.values()) {
      const hw = this.loadedHighWatermarks.get(job.key);
      if (job.dir === dir && hw !== undefined) entries.push({ topic: job.topic, partition: job.partition, offset: hw });
    }
    entries.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    const written = this.currentValues(dir, hwOf);
    try {
      await files.highWatermark.write(entries);
    } catch (e) {
      throw this.dirFailure(dir, `writing ${REPLICATION_OFFSET_CHECKPOINT_FILE}`, e);
    }
    this.noteWritten('highWatermark', dir, version, pendingNow, written);
  }

  /** Writes replication-offset-checkpoint in every online log dir; one dir's failure does not stop the others. */
  async checkpointHighWatermarks(): Promise<void> {
    await this.forEachDir((dir) => this.checkpointHighWatermarksDir(dir));
  }

  /** Runs `fn` for every log dir in turn; throws the first failure once all have run. */
  private async forEachDir(fn: (dir: string) => Promise<void>): Promise<void> {
    let failure: { error: unknown } | null = null;
    for (const dir of this.logDirs) {
      try {
        await fn(dir);
      } catch (e) {
        failure ??= { error: e };
      }
    }
    if (failure !== null) throw failure.error;
  }

  private async checkMetaProperties(dir: string): Promise<void> {
    const meta = await readMetaProperties(dir, this.fdCache);
    const { brokerId, clusterId } = this;
    if (meta === null) {
      await writeMetaProperties(dir, { version: 0, brokerId, ...(clusterId !== undefined ? { clusterId } : {}) }, this.fdCache);
      return;
    }
    if (meta.brokerId !== brokerId) {
      throw new Error(
        `${dir}/${META_PROPERTIES_FILE} has broker.id ${meta.brokerId}, which does not match the configured broker.id ${brokerId}`,
      );
    }
    if (clusterId !== undefined && meta.clusterId !== undefined && meta.clusterId !== clusterId) {
      throw new Error(`${dir}/${META_PROPERTIES_FILE} has cluster.id ${meta.clusterId}, but this cluster's id is ${clusterId}`);
    }
    if (clusterId !== undefined && meta.clusterId === undefined) {
      await writeMetaProperties(dir, { version: meta.version, brokerId, clusterId }, this.fdCache);
    }
  }

  private wire(log: Log): void {
    const cb = this.opts.onAppend;
    if (cb !== undefined) log.onAppend = () => cb(log);
    log.onFlush = this.opts.onFlush;
    log.onLogStartOffsetChange = () => this.scheduleCheckpoint(path.dirname(log.dir));
    log.onStorageFailure = (what, cause) => this.handleLogDirFailure(log.parentDir, `${what} for ${log.topic}-${log.partition}`, cause);
    log.onBackgroundError = (what, err) => this.logger.error(`${what} failed: ${errorDetail(err)}`);
    log.onWarning = (msg) => this.logger.warn(msg);
  }

  /**
   * One retention pass over every log (src/log/retention.ts): segments past retention.ms / retention.bytes
   * (cleanup.policy delete) or below the log start offset are deleted; the log start offsets are checkpointed.
   * Returns the number of segments deleted. Runs every `retentionCheckIntervalMs`; overlapping calls share a pass.
   */
  runRetention(): Promise<number> {
    if (this.retentionRun !== null) return this.retentionRun;
    const run = (async (): Promise<number> => {
      let count = 0;
      const now = (this.opts.time ?? Date.now)();
      for (const log of this.allLogs()) {
        if (this.closed) break;
        // a log of one segment has nothing retention may delete (never the active segment): no work per idle log
        if (log.segments.length < 2) continue;
        try {
          count += (await deleteOldSegments(log, now, this.opts.highWatermark?.(log))).count;
        } catch (e) {
          log.reportBackgroundError('applying retention', e); // and on to the next log
        }
      }
      await this.checkpointing;
      return count;
    })().finally(() => {
      this.retentionRun = null;
    });
    this.retentionRun = run;
    return run;
  }

  /** Writes the checkpoints of a log dir soon (coalesced); used when a log start offset moves. */
  private scheduleCheckpoint(dir: string): void {
    if (this.closed) return;
    this.checkpointsDue.add(dir);
    if (this.checkpointing !== null) return;
    this.checkpointing = (async () => {
      await Promise.resolve();
      while (this.checkpointsDue.size > 0 && !this.closed) {
        const [next] = this.checkpointsDue;
        this.checkpointsDue.delete(next!);
        await this.checkpointDir(next!).catch((e: unknown) => this.backgroundFailure(`writing the checkpoints of ${next}`, e));
      }
    })().finally(() => {
      this.checkpointing = null;
    });
  }

  /** Resolves once the checkpoints scheduled by log start offset changes and by log deletions are written. */
  async awaitCheckpoints(): Promise<void> {
    while (this.checkpointing !== null) await this.checkpointing;
    await Promise.all([...this.deletionCheckpointsDue].map((p) => p.catch(() => undefined)));
  }

  // ---------------------------------------------------------------------------------------------

  getLog(topic: string, partition: number): Log | undefined {
    return this.logs.get(key(topic, partition));
  }

  allLogs(): Log[] {
    return [...this.logs.values()];
  }

  /** The log dir (absolute path) holding a log. */
  logDirOf(log: Log): string {
    return path.dirname(log.dir);
  }

  /**
   * Returns the partition's log, creating it (in the log dir with the fewest logs) when it does not exist, and
   * writes partition.metadata. An existing log with a different topic id is INCONSISTENT_TOPIC_ID; a log still
   * recovering is waited for (moved to the front of the recovery queue).
   *
   * A creation is all or nothing: when it fails for a reason other than a storage failure (out of descriptors:
   * FileDescriptorsExhaustedError, REQUEST_TIMED_OUT), the partition directory made so far is removed again and
   * the failure is kept (`creationFailureOf`) until a later call creates the log; the caller (the broker's
   * reconciliation) tries again. A storage failure takes the dir offline, as Kafka does (docs/storage.md).
   */
  async createLog(topic: string, partition: number, topicId: Buffer, config: Partial<LogConfig> = {}): Promise<Log> {
    if (this.closed) throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'log manager is closed');
    validateTopicName(topic);
    if (!Number.isInteger(partition) || partition < 0) {
      throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `invalid partition ${partition}`);
    }
    const k = key(topic, partition);
    if (this.pending.has(k)) await this.awaitLoad(topic, partition);
    const creating = this.creating.get(k);
    if (creating !== undefined) {
      const log = await creating;
      this.checkTopicId(log, topicId);
      return log;
    }
    const offlineDir = this.offlineLogs.get(k);
    if (offlineDir !== undefined) {
      // Its files are in a failed dir: a new log elsewhere would serve the partition without its records (and
      // leave two directories for it at the next start).
      throw new KafkaStorageException(`Can not create log for ${k} because its log dir ${offlineDir} is offline`);
    }
    const failedLoad = this.failedLoads.get(k);
    if (failedLoad !== undefined) {
      throw new KafkaStorageException(`Can not create log for ${k}: its existing log could not be loaded (${failedLoad.message})`, failedLoad);
    }
    const existing = this.logs.get(k);
    if (existing !== undefined) {
      if (existing.topicId === undefined) {
        try {
          await writePartitionMetadata(existing.dir, topicId, this.fdCache);
        } catch (e) {
          throw existing.handleIoError(e, `writing ${PARTITION_METADATA_FILE}`);
        }
        existing.topicId = topicId;
      }
      this.checkTopicId(existing, topicId);
      return existing;
    }
    // a deleted log of the same name is out of the checkpoints before a new one can be written to
    await Promise.all([...this.deletionCheckpointsDue].map((p) => p.catch(() => undefined)));
    const create = (async (): Promise<Log> => {
      const dir = this.pickLogDir(k);
      this.creatingCounts.set(dir, (this.creatingCounts.get(dir) ?? 0) + 1);
      try {
        return await this.createLogIn(dir, k, topic, partition, topicId, config);
      } finally {
        this.creatingCounts.set(dir, (this.creatingCounts.get(dir) ?? 1) - 1);
      }
    })();
    this.creating.set(k, create);
    try {
      return await create;
    } finally {
      this.creating.delete(k);
    }
  }

  /** createLog's work once the dir is chosen. */
  private async createLogIn(dir: string, k: string, topic: string, partition: number, topicId: Buffer, config: Partial<LogConfig>): Promise<Log> {
    const partitionDir = path.join(dir, topicPartitionDirName(topic, partition));
    let log: Log;
    try {
      log = await Log.open(partitionDir, {
        config: { ...this.opts.defaultConfig, ...config },
        recoveryPoint: 0,
        logStartOffset: 0,
        hadCleanShutdown: false,
        topicId,
        ...(this.opts.time !== undefined ? { time: this.opts.time } : {}),
        fdCache: this.fdCache,
      });
    } catch (e) {
      throw await this.creationFailure(dir, k, partitionDir, e);
    }
    try {
      await writePartitionMetadata(partitionDir, topicId, this.fdCache);
      await this.syncDir(dir);
      // the dir may have failed while this log was being created (another log's write)
      if (this.offlineDirs.has(dir)) throw new KafkaStorageException(`Can not create log for ${k}: log dir ${dir} went offline`);
      const cause = log.failureCause;
      if (cause !== null) throw cause;
    } catch (e) {
      log.closeWithoutFlush();
      throw await this.creationFailure(dir, k, partitionDir, e);
    }
    this.wire(log);
    this.setLog(k, log);
    this.failedCreations.delete(k);
    return log;
  }

  /** Why the partition's log could not be created the last time it was tried (until it is created), if it could not. */
  creationFailureOf(topic: string, partition: number): Error | undefined {
    return this.failedCreations.get(key(topic, partition));
  }

  /** Forgets a creation failure (the partition is no longer wanted here). */
  forgetCreationFailure(topic: string, partition: number): void {
    this.failedCreations.delete(key(topic, partition));
  }

  /** fsyncs a log dir; calls made while one runs share the next (group commit for many new logs at once). */
  private syncDir(dir: string): Promise<void> {
    return this.dirSyncs.run(dir, () => fsyncDir(dir, this.fdCache));
  }

  private setLog(k: string, log: Log): void {
    const previous = this.logs.get(k);
    if (previous !== undefined) this.logCounts.set(previous.parentDir, (this.logCounts.get(previous.parentDir) ?? 1) - 1);
    this.logs.set(k, log);
    this.logCounts.set(log.parentDir, (this.logCounts.get(log.parentDir) ?? 0) + 1);
    this.logsVersion++;
  }

  private dropLog(k: string): void {
    const log = this.logs.get(k);
    if (log === undefined) return;
    this.logs.delete(k);
    this.logCounts.set(log.parentDir, (this.logCounts.get(log.parentDir) ?? 1) - 1);
    this.logsVersion++;
  }

  /**
   * Whether every log of `dir` still has the value the last write of checkpoint `kind` wrote for it, with no log
   * come or gone since: then the checkpoint is not even built (an idle broker's periodic checkpoints cost nothing
   * per partition).
   */
  private unchangedSinceWritten(kind: string, dir: string, valueOf: (log: Log) => number): boolean {
    const last = this.lastWritten.get(`${kind}\u0000${dir}`);
    if (last === undefined || last.version !== this.logsVersion || last.pending !== this.pending.size) return false;
    // same version: the same logs in the same (insertion) order as when the values were noted
    let i = 0;
    for (const log of this.logs.values()) if (log.parentDir === dir && last.values[i++] !== valueOf(log)) return false;
    return true;
  }

  /**
   * The values of the dir's logs, in insertion order, taken in the same turn as the entries a checkpoint writes: what
   * noteWritten records must be what the file got, not what the logs hold once the write is done (a high watermark
   * that moved during the write would otherwise count as written, and never reach the file while it stays there).
   */
  private currentValues(dir: string, valueOf: (log: Log) => number): Float64Array {
    const values = new Float64Array(this.logCounts.get(dir) ?? 0);
    let i = 0;
    for (const log of this.logs.values()) if (log.parentDir === dir) values[i++] = valueOf(log);
    return values;
  }

  private noteWritten(kind: string, dir: string, version: number, pending: number, values: Float64Array): void {
    if (version !== this.logsVersion) return; // logs came or went while it was written: not known to match
    this.lastWritten.set(`${kind}\u0000${dir}`, { version, pending, values });
  }

  private checkTopicId(log: Log, topicId: Buffer): void {
    if (log.topicId !== undefined && !log.topicId.equals(topicId)) {
      throw new KafkaError(
        ErrorCode.INCONSISTENT_TOPIC_ID,
        `log ${log.topic}-${log.partition} has topic id ${uuidToString(log.topicId)}, not ${uuidToString(topicId)}`,
      );
    }
  }

  /** The online log dir with the fewest logs (the first such in log.dirs order). */
  private pickLogDir(forLog: string): string {
    const live = this.liveLogDirs;
    if (live.length === 0) {
      throw new KafkaStorageException(`Can not create log for ${forLog} because all log dirs in ${this.logDirs.join(', ')} are offline`);
    }
    const count = (d: string): number => (this.logCounts.get(d) ?? 0) + (this.creatingCounts.get(d) ?? 0);
    let best = live[0]!;
    for (const d of live) if (count(d) < count(best)) best = d;
    return best;
  }

  /**
   * Removes a partition's log: closes it, renames its directory to `<topic>-<partition>.<uuid>-delete` (fsynced),
   * then deletes the renamed directory; that dir's checkpoints are rewritten without it in the background, shared
   * with the deletions around it (`awaitCheckpoints`; a new log waits for them). False when there is no such log.
   */
  async deleteLog(topic: string, partition: number): Promise<boolean> {
    const k = key(topic, partition);
    const pending = this.creating.get(k);
    // only waits for a creation in flight to settle; its failure is its own caller's
    if (pending !== undefined) await pending.catch(() => undefined);
    this.failedCreations.delete(k);
    if (this.offlineLogs.delete(k)) {
      // In an offline dir nothing is written; its directory goes when the broker next starts and finds the
      // topic gone (Broker.reconcile deletes logs of topics that no longer exist).
      return true;
    }
    const job = this.pending.get(k);
    if (job !== undefined) {
      if (this.recoveryQueues.get(job.dir)?.remove(k) === true) {
        // not recovered yet: its directory goes without ever being loaded
        this.pending.delete(k);
        job.finish(undefined);
        await this.removeLogDir(job.dir, path.join(job.dir, job.name), topic, partition);
        return true;
      }
      await job.done; // recovering right now: delete it once it is loaded
    }
    if (this.failedLoads.delete(k)) {
      const dir = this.logDirs.find((d) => fs.existsSync(path.join(d, topicPartitionDirName(topic, partition))));
      if (dir !== undefined) await this.removeLogDir(dir, path.join(dir, topicPartitionDirName(topic, partition)), topic, partition);
      return true;
    }
    const log = this.logs.get(k);
    if (log === undefined) return false;
    this.dropLog(k);
    log.closeWithoutFlush();
    await this.removeLogDir(path.dirname(log.dir), log.dir, topic, partition);
    return true;
  }

  /** Renames a partition directory to `<topic>-<partition>.<uuid>-delete`, checkpoints its dir without it, removes it. */
  private async removeLogDir(dir: string, partitionDir: string, topic: string, partition: number): Promise<void> {
    const k = key(topic, partition);
    const renamed = path.join(dir, logDeleteDirName(topic, partition));
    try {
      await fs.promises.rename(partitionDir, renamed);
      await fsyncDir(dir, this.fdCache);
    } catch (e) {
      throw this.dirFailure(dir, `deleting the log of ${k}`, e);
    }
    // The checkpoints without it, so that a later log of the same name does not inherit its offsets: written in
    // the background and shared by the deletions that come together (a deleted topic of 1,000 partitions costs a
    // few checkpoint writes, not 1,000); a creation waits for it (createLog), as does the shutdown.
    const written = this.deletionCheckpoints.run(dir, async () => {
      await new Promise((resolve) => setTimeout(resolve, DELETION_CHECKPOINT_DELAY_MS)); // let the deletions gather
      await this.checkpointDir(dir);
    });
    this.deletionCheckpointsDue.add(written);
    void written
      .catch((e: unknown) => this.backgroundFailure(`writing the checkpoints of ${dir} after a deletion`, e))
      .finally(() => this.deletionCheckpointsDue.delete(written));
    try {
      await this.fdCache.withPermit(() => fs.promises.rm(renamed, { recursive: true, force: true }), `removing ${renamed}`);
    } catch (e) {
      throw this.dirFailure(dir, `removing ${renamed}`, e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Checkpoints, flush, close

  /**
   * Writes both offset checkpoints of one log dir from the logs' current state (and replication-offset-checkpoint).
   * Offline dirs are skipped (Kafka drops their checkpoint files); an I/O error takes the dir offline and is
   * thrown as KAFKA_STORAGE_ERROR.
   */
  private async checkpointDir(dir: string): Promise<void> {
    const files = this.checkpointFiles.get(dir);
    if (files === undefined || this.offlineDirs.has(dir)) return;
    const version = this.logsVersion;
    const pendingNow = this.pending.size;
    const rpOf = (log: Log): number => log.recoveryPoint;
    const lsOf = (log: Log): number => (log.logStartOffset > log.segments[0]!.baseOffset ? log.logStartOffset : -1);
    if (this.unchangedSinceWritten('recovery', dir, rpOf) && this.unchangedSinceWritten('logStart', dir, lsOf)) {
      await this.checkpointHighWatermarksDir(dir);
      return;
    }
    const recovery: TopicPartitionOffset[] = [];
    const logStart: TopicPartitionOffset[] = [];
    for (const log of this.logs.values()) {
      if (log.parentDir !== dir) continue;
      recovery.push({ topic: log.topic, partition: log.partition, offset: log.recoveryPoint });
      // as Kafka: only logs whose start offset moved past their first segment
      if (log.logStartOffset > log.segments[0]!.baseOffset) {
        logStart.push({ topic: log.topic, partition: log.partition, offset: log.logStartOffset });
      }
    }
    // logs not recovered yet keep what the checkpoints said about them
    for (const job of this.pending.values()) {
      if (job.dir !== dir) continue;
      if (job.recoveryPoint !== undefined) recovery.push({ topic: job.topic, partition: job.partition, offset: job.recoveryPoint });
      if (job.logStartOffset !== undefined) logStart.push({ topic: job.topic, partition: job.partition, offset: job.logStartOffset });
    }
    const byName = (a: TopicPartitionOffset, b: TopicPartitionOffset): number =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
    recovery.sort(byName);
    logStart.sort(byName);
    const writtenRecovery = this.currentValues(dir, rpOf);
    const writtenLogStart = this.currentValues(dir, lsOf);
    try {
      await files.recovery.write(recovery);
      await files.logStart.write(logStart);
    } catch (e) {
      throw this.dirFailure(dir, 'writing the offset checkpoints', e);
    }
    this.noteWritten('recovery', dir, version, pendingNow, writtenRecovery);
    this.noteWritten('logStart', dir, version, pendingNow, writtenLogStart);
    await this.checkpointHighWatermarksDir(dir);
  }

  /** Writes the checkpoints in every online log dir; one dir's failure does not stop the others. */
  async checkpointAll(): Promise<void> {
    await this.forEachDir((dir) => this.checkpointDir(dir));
  }

  /** fsyncs every log (moving their recovery points), then checkpoints. */
  async flushAll(): Promise<void> {
    await forEachConcurrently(this.allLogs(), FLUSH_CONCURRENCY, (log) => log.flush());
    await this.checkpointAll();
  }

  /**
   * Clean shutdown: flush and close every log, write the checkpoints, then the clean-shutdown marker in each
   * log dir whose logs all closed cleanly. Offline dirs are left as they are (no checkpoints, no marker: the next
   * start recovers them). A storage failure on the way takes its dir offline like any other and the rest of the
   * shutdown goes on; any other failure is thrown once everything else is done. `cleanShutdownMarker: false` (a
   * shutdown after a fatal error, when memory may not match the files) leaves the marker out, so the next start
   * re-validates the logs' tails.
   */
  async close(opts: { cleanShutdownMarker?: boolean } = {}): Promise<void> {
    if (this.closed || !this.started) {
      this.closed = true;
      return;
    }
    this.closed = true;
    await this.cleaner?.stop();
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    for (const t of this.timers.splice(0)) clearInterval(t);
    // The next two only wait for work in flight: a retention pass reports its own failures (runRetention's
    // handlers and the timer's), and a creation's failure belongs to its createLog caller.
    await this.retentionRun?.catch(() => undefined);
    await this.checkpointing;
    await Promise.all([...this.deletionCheckpointsDue].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.creating.values()].map((p) => p.catch(() => undefined)));
    // Recoveries not started stay undone: their dirs get no clean-shutdown marker (and the checkpoints keep what
    // they said about those logs), so the next start recovers them. Recoveries running finish first.
    for (const queue of this.recoveryQueues.values()) queue.stop();
    await Promise.all([...this.recoveryQueues.values()].map((q) => q.idle()));
    // (also those waiting to be tried again after running out of descriptors)
    for (const job of this.pending.values()) this.unrecoveredDirs.add(job.dir);
    const uncleanDirs = new Set<string>(this.unrecoveredDirs);
    let bug: { error: unknown } | null = null;
    const fail = (dir: string, what: string, e: unknown): void => {
      uncleanDirs.add(dir);
      if (e instanceof KafkaStorageException) return; // the dir went offline and that was logged
      if (e instanceof FileDescriptorsExhaustedError) {
        this.logger.warn(`${what} failed during shutdown: ${e.message}; ${dir} is recovered at the next start`);
        return;
      }
      this.logger.error(`${what} failed during shutdown: ${errorDetail(e)}`);
      bug ??= { error: e };
    };
    // a bounded number at a time: every fsync in flight holds a descriptor (and logs not written since the start
    // cost nothing here)
    await forEachConcurrently(this.allLogs(), FLUSH_CONCURRENCY, async (log) => {
      try {
        await log.close();
      } catch (e) {
        fail(log.parentDir, `closing ${log.topic}-${log.partition}`, e);
      }
    });
    for (const dir of this.logDirs) {
      try {
        await this.checkpointDir(dir);
        if (this.offlineDirs.has(dir) || uncleanDirs.has(dir) || opts.cleanShutdownMarker === false) continue;
        try {
          await writeFileAtomic(path.join(dir, CLEAN_SHUTDOWN_FILE), '', this.fdCache);
        } catch (e) {
          throw this.dirFailure(dir, `writing ${CLEAN_SHUTDOWN_FILE}`, e);
        }
      } catch (e) {
        fail(dir, `writing the checkpoints of ${dir}`, e);
      }
    }
    this.logs.clear();
    this.logCounts.clear();
    this.offlineLogs.clear();
    for (const job of this.pending.values()) job.finish(undefined);
    this.pending.clear();
    if (bug !== null) throw (bug as { error: unknown }).error;
  }

  /**
   * A crash, for in-process failure tests (a killed broker of startCluster()): timers stop and the
   * files are closed, but nothing is flushed or checkpointed and no clean-shutdown marker is written,
   * so the next open recovers every log as after kill -9.
   */
  closeWithoutFlush(): void {
    if (this.closed) return;
    this.closed = true;
    void this.cleaner?.stop().catch((err: unknown) => this.logger.warn(`stopping the log cleaner: ${(err as Error).message ?? err}`));
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    for (const t of this.timers.splice(0)) clearInterval(t);
    // Recoveries not started never start; one under way closes its log when it is done (recover()). Whoever waits
    // for a log still recovering learns there is none.
    for (const queue of this.recoveryQueues.values()) queue.stop();
    for (const job of this.pending.values()) job.finish(undefined);
    this.pending.clear();
    for (const log of this.allLogs()) log.closeWithoutFlush();
    this.logs.clear();
    this.logCounts.clear();
  }

  /** Same as close(). */
  shutdown(): Promise<void> {
    return this.close();
  }
}

async function readCheckpointMapOrEmpty(file: OffsetCheckpointFile, logger: StorageLogger): Promise<Map<string, number>> {
  try {
    return await file.readMap();
  } catch (e) {
    // A malformed checkpoint only costs a longer recovery (everything is re-validated from offset 0).
    if (!(e instanceof CheckpointFormatError)) throw e;
    logger.warn(`ignoring ${file.file}: ${e.message}`);
    return new Map();
  }
}

/** A log found in a dir without a clean shutdown, until its recovery finished. */
class PendingLog {
  urgent = false;
  readonly done: Promise<Log | undefined>;
  private resolve!: (log: Log | undefined) => void;

  constructor(
    readonly key: string,
    readonly dir: string,
    readonly name: string,
    readonly topic: string,
    readonly partition: number,
    /** From the checkpoints: kept in the checkpoint files while the log is not loaded. */
    readonly recoveryPoint: number | undefined,
    readonly logStartOffset: number | undefined,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  finish(log: Log | undefined): void {
    this.resolve(log);
  }
}

/** Runs `fn` over the items, at most `limit` at a time; rejects with the first failure once all have run. */
async function forEachConcurrently<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}

/** Runs shared by the calls that arrive together: a call made while a run is in progress waits for the next run. */
class GroupCommit {
  private readonly state = new Map<string, { running: Promise<void> | null; queued: Promise<void> | null }>();

  run(key: string, fn: () => Promise<void>): Promise<void> {
    let state = this.state.get(key);
    if (state === undefined) this.state.set(key, (state = { running: null, queued: null }));
    const st = state;
    const start = (): Promise<void> => {
      const run = fn().finally(() => {
        if (st.running === run) st.running = null;
      });
      st.running = run;
      return run;
    };
    if (st.queued !== null) return st.queued;
    if (st.running === null) return start();
    const queued = st.running
      .catch(() => undefined) // that run's failure belongs to its own callers
      .then(() => {
        st.queued = null;
        return start();
      });
    st.queued = queued;
    return queued;
  }
}
