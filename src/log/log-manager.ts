/**
 * LogManager: every partition log of this broker across its log dirs (Kafka's LogManager, first cut).
 *
 * Per log dir: `meta.properties` (version=0, broker.id, cluster.id), `recovery-point-offset-checkpoint`,
 * `log-start-offset-checkpoint`, and `.kafka_cleanshutdown` (present only after a clean close; removed once
 * the logs are loaded at start). Per partition dir: `partition.metadata` (`version: 0`, `topic_id: <base64url>`).
 * Deleted logs are renamed to `<topic>-<partition>.<uuid hex>-delete` and then removed.
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
import type { LogConfig } from './log-config.js';
import { Log, parseTopicPartitionDirName, topicPartitionDirName } from './log.js';
import { deleteOldSegments } from './retention.js';
import { LogCleaner } from './log-cleaner.js';
import { KafkaStorageException, isStorageIoError } from './storage-error.js';
import { errorDetail, stderrStorageLogger, type StorageLogger } from './storage-logger.js';

export const CLEAN_SHUTDOWN_FILE = '.kafka_cleanshutdown';
export const META_PROPERTIES_FILE = 'meta.properties';
export const PARTITION_METADATA_FILE = 'partition.metadata';
export const DELETE_DIR_SUFFIX = '-delete';

const MAX_TOPIC_NAME_LENGTH = 249;
const OPEN_CONCURRENCY = 8;

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
export async function readMetaProperties(dir: string): Promise<MetaProperties | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, META_PROPERTIES_FILE), 'utf8');
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

export async function writeMetaProperties(dir: string, meta: MetaProperties): Promise<void> {
  let text = `version=${meta.version}\nbroker.id=${meta.brokerId}\n`;
  if (meta.clusterId !== undefined) text += `cluster.id=${meta.clusterId}\n`;
  await writeFileAtomic(path.join(dir, META_PROPERTIES_FILE), text);
}

/** Reads `<partitionDir>/partition.metadata`'s topic id, or null when the file is missing. */
export async function readPartitionMetadata(partitionDir: string): Promise<Buffer | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(partitionDir, PARTITION_METADATA_FILE), 'utf8');
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

export async function writePartitionMetadata(partitionDir: string, topicId: Buffer): Promise<void> {
  await writeFileAtomic(path.join(partitionDir, PARTITION_METADATA_FILE), formatPartitionMetadata(topicId));
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

  /** Call `startup()` before use (or use `LogManager.open`). */
  constructor(opts: LogManagerOptions) {
    if (opts.logDirs.length === 0) throw new Error('at least one log dir is required');
    this.opts = opts;
    this.logDirs = opts.logDirs.map((d) => path.resolve(d));
    this.brokerId = opts.brokerId;
    this.clusterId = opts.clusterId;
    this.logger = opts.logger ?? stderrStorageLogger;
    for (const dir of this.logDirs) {
      this.checkpointFiles.set(dir, {
        recovery: new OffsetCheckpointFile(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE)),
        logStart: new OffsetCheckpointFile(path.join(dir, LOG_START_OFFSET_CHECKPOINT_FILE)),
        highWatermark: new OffsetCheckpointFile(path.join(dir, REPLICATION_OFFSET_CHECKPOINT_FILE)),
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
      for (const log of this.logs.values()) log.closeWithoutFlush();
      this.logs.clear();
      throw e;
    }
  }

  private async loadDir(dir: string): Promise<void> {
    await fs.promises.mkdir(dir, { recursive: true });
    await this.checkMetaProperties(dir);
    const marker = path.join(dir, CLEAN_SHUTDOWN_FILE);
    const hadCleanShutdown = fs.existsSync(marker);
    const files = this.checkpointFiles.get(dir)!;
    const recoveryPoints = await readCheckpointMapOrEmpty(files.recovery, this.logger);
    const logStartOffsets = await readCheckpointMapOrEmpty(files.logStart, this.logger);
    for (const [k, hw] of await readCheckpointMapOrEmpty(files.highWatermark, this.logger)) this.loadedHighWatermarks.set(k, hw);

    const toOpen: { name: string; topic: string; partition: number }[] = [];
    for (const ent of await fs.promises.readdir(dir, { withFileTypes: true })) {
      if (!ent.isDirectory()) continue;
      if (ent.name.endsWith(DELETE_DIR_SUFFIX)) {
        await fs.promises.rm(path.join(dir, ent.name), { recursive: true, force: true });
        continue;
      }
      const tp = parseTopicPartitionDirName(ent.name);
      if (tp === null) continue;
      const k = key(tp.topic, tp.partition);
      if (this.logs.has(k) || toOpen.some((t) => t.name === ent.name)) {
        throw new Error(`duplicate log directories for ${k}: found another one in ${dir}`);
      }
      toOpen.push({ name: ent.name, ...tp });
    }

    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < toOpen.length) {
        const { name, topic, partition } = toOpen[next++]!;
        const k = key(topic, partition);
        const partitionDir = path.join(dir, name);
        const topicId = await readPartitionMetadata(partitionDir).catch((e: unknown) => {
          if (isStorageIoError(e)) throw e;
          // malformed: the registry's topic id is written again when the broker leads the partition
          this.logger.warn(`ignoring ${path.join(partitionDir, PARTITION_METADATA_FILE)}: ${errorDetail(e)}`);
          return null;
        });
        const log = await Log.open(partitionDir, {
          config: { ...this.opts.defaultConfig, ...this.opts.topicConfig?.(topic) },
          recoveryPoint: recoveryPoints.get(k) ?? 0,
          logStartOffset: logStartOffsets.get(k) ?? 0,
          hadCleanShutdown,
          ...(topicId !== null ? { topicId } : {}),
          ...(this.opts.time !== undefined ? { time: this.opts.time } : {}),
        });
        this.logs.set(k, log);
        // a background write started while it opened (the epoch checkpoint) may already have failed
        const cause = log.failureCause;
        if (cause !== null) throw new KafkaStorageException(`cannot open ${k} in dir ${dir}: ${cause.message}`, cause);
        this.wire(log);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, toOpen.length) }, worker));
    // Loaded: from here on the logs change, so the next start must not trust them without a clean close.
    await fs.promises.rm(marker, { force: true });
    await fsyncDir(dir);
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
    const flushes: Promise<void>[] = [];
    for (const log of this.logs.values()) {
      const f = log.flushIfDue(now);
      // one log's failure must not hide another's: each is reported on its own (I/O errors take its dir offline)
      if (f !== null) flushes.push(f.catch((e: unknown) => log.reportBackgroundError('flushing the log (flush.ms)', e)));
    }
    await Promise.all(flushes);
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
      this.logs.delete(k);
      this.offlineLogs.set(k, dir);
      partitions.push({ topic: log.topic, partition: log.partition });
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

  /** A log creation that failed in `dir`: on a storage failure the partition stays offline here (see offlineLogs). */
  private creationFailure(dir: string, k: string, e: unknown): unknown {
    const err = this.dirFailure(dir, `creating the log for ${k}`, e);
    if (this.offlineDirs.has(dir)) this.offlineLogs.set(k, dir);
    return err;
  }

  /** A background task failed: storage failures were logged by the dir failure path already; anything else is logged here. */
  private backgroundFailure(what: string, e: unknown): void {
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
    const entries: TopicPartitionOffset[] = [];
    for (const log of this.logs.values()) {
      if (path.dirname(log.dir) !== dir) continue;
      entries.push({ topic: log.topic, partition: log.partition, offset: hwOf(log) });
    }
    entries.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    try {
      await files.highWatermark.write(entries);
    } catch (e) {
      throw this.dirFailure(dir, `writing ${REPLICATION_OFFSET_CHECKPOINT_FILE}`, e);
    }
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
    const meta = await readMetaProperties(dir);
    const { brokerId, clusterId } = this;
    if (meta === null) {
      await writeMetaProperties(dir, { version: 0, brokerId, ...(clusterId !== undefined ? { clusterId } : {}) });
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
      await writeMetaProperties(dir, { version: meta.version, brokerId, clusterId });
    }
  }

  private wire(log: Log): void {
    const cb = this.opts.onAppend;
    if (cb !== undefined) log.onAppend = () => cb(log);
    log.onLogStartOffsetChange = () => this.scheduleCheckpoint(path.dirname(log.dir));
    log.onStorageFailure = (what, cause) => this.handleLogDirFailure(log.parentDir, `${what} for ${log.topic}-${log.partition}`, cause);
    log.onBackgroundError = (what, err) => this.logger.error(`${what} failed: ${errorDetail(err)}`);
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

  /** Resolves once the checkpoints scheduled by log start offset changes are written. */
  async awaitCheckpoints(): Promise<void> {
    while (this.checkpointing !== null) await this.checkpointing;
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
   * writes partition.metadata. An existing log with a different topic id is INCONSISTENT_TOPIC_ID.
   */
  async createLog(topic: string, partition: number, topicId: Buffer, config: Partial<LogConfig> = {}): Promise<Log> {
    if (this.closed) throw new KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, 'log manager is closed');
    validateTopicName(topic);
    if (!Number.isInteger(partition) || partition < 0) {
      throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `invalid partition ${partition}`);
    }
    const k = key(topic, partition);
    const pending = this.creating.get(k);
    if (pending !== undefined) {
      const log = await pending;
      this.checkTopicId(log, topicId);
      return log;
    }
    const offlineDir = this.offlineLogs.get(k);
    if (offlineDir !== undefined) {
      // Its files are in a failed dir: a new log elsewhere would serve the partition without its records (and
      // leave two directories for it at the next start).
      throw new KafkaStorageException(`Can not create log for ${k} because its log dir ${offlineDir} is offline`);
    }
    const existing = this.logs.get(k);
    if (existing !== undefined) {
      if (existing.topicId === undefined) {
        try {
          await writePartitionMetadata(existing.dir, topicId);
        } catch (e) {
          throw existing.handleIoError(e, `writing ${PARTITION_METADATA_FILE}`);
        }
        existing.topicId = topicId;
      }
      this.checkTopicId(existing, topicId);
      return existing;
    }
    const create = (async (): Promise<Log> => {
      const dir = this.pickLogDir(k);
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
        });
      } catch (e) {
        throw this.creationFailure(dir, k, e);
      }
      try {
        await writePartitionMetadata(partitionDir, topicId);
        await fsyncDir(dir);
        // the dir may have failed while this log was being created (another log's write)
        if (this.offlineDirs.has(dir)) throw new KafkaStorageException(`Can not create log for ${k}: log dir ${dir} went offline`);
        const cause = log.failureCause;
        if (cause !== null) throw cause;
      } catch (e) {
        log.closeWithoutFlush();
        throw this.creationFailure(dir, k, e);
      }
      this.wire(log);
      this.logs.set(k, log);
      return log;
    })();
    this.creating.set(k, create);
    try {
      return await create;
    } finally {
      this.creating.delete(k);
    }
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
    const counts = new Map<string, number>(live.map((d) => [d, 0]));
    for (const log of this.logs.values()) {
      const d = path.dirname(log.dir);
      if (counts.has(d)) counts.set(d, counts.get(d)! + 1);
    }
    let best = live[0]!;
    for (const d of live) if (counts.get(d)! < counts.get(best)!) best = d;
    return best;
  }

  /**
   * Removes a partition's log: closes it, renames its directory to `<topic>-<partition>.<uuid>-delete`,
   * rewrites that dir's checkpoints without it, then deletes the renamed directory. False when there is no such log.
   */
  async deleteLog(topic: string, partition: number): Promise<boolean> {
    const k = key(topic, partition);
    const pending = this.creating.get(k);
    // only waits for a creation in flight to settle; its failure is its own caller's
    if (pending !== undefined) await pending.catch(() => undefined);
    if (this.offlineLogs.delete(k)) {
      // In an offline dir nothing is written; its directory goes when the broker next starts and finds the
      // topic gone (Broker.reconcile deletes logs of topics that no longer exist).
      return true;
    }
    const log = this.logs.get(k);
    if (log === undefined) return false;
    this.logs.delete(k);
    log.closeWithoutFlush();
    const dir = path.dirname(log.dir);
    const renamed = path.join(dir, logDeleteDirName(topic, partition));
    try {
      await fs.promises.rename(log.dir, renamed);
      await fsyncDir(dir);
    } catch (e) {
      throw this.dirFailure(dir, `deleting the log of ${k}`, e);
    }
    await this.checkpointDir(dir);
    try {
      await fs.promises.rm(renamed, { recursive: true, force: true });
    } catch (e) {
      throw this.dirFailure(dir, `removing ${renamed}`, e);
    }
    return true;
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
    const recovery: TopicPartitionOffset[] = [];
    const logStart: TopicPartitionOffset[] = [];
    for (const log of this.logs.values()) {
      if (path.dirname(log.dir) !== dir) continue;
      recovery.push({ topic: log.topic, partition: log.partition, offset: log.recoveryPoint });
      // as Kafka: only logs whose start offset moved past their first segment
      if (log.logStartOffset > log.segments[0]!.baseOffset) {
        logStart.push({ topic: log.topic, partition: log.partition, offset: log.logStartOffset });
      }
    }
    const byName = (a: TopicPartitionOffset, b: TopicPartitionOffset): number =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
    recovery.sort(byName);
    logStart.sort(byName);
    try {
      await files.recovery.write(recovery);
      await files.logStart.write(logStart);
    } catch (e) {
      throw this.dirFailure(dir, 'writing the offset checkpoints', e);
    }
    await this.checkpointHighWatermarksDir(dir);
  }

  /** Writes the checkpoints in every online log dir; one dir's failure does not stop the others. */
  async checkpointAll(): Promise<void> {
    await this.forEachDir((dir) => this.checkpointDir(dir));
  }

  /** fsyncs every log (moving their recovery points), then checkpoints. */
  async flushAll(): Promise<void> {
    await Promise.all(this.allLogs().map((log) => log.flush()));
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
    await Promise.all([...this.creating.values()].map((p) => p.catch(() => undefined)));
    const uncleanDirs = new Set<string>();
    let bug: { error: unknown } | null = null;
    const fail = (dir: string, what: string, e: unknown): void => {
      uncleanDirs.add(dir);
      if (e instanceof KafkaStorageException) return; // the dir went offline and that was logged
      this.logger.error(`${what} failed during shutdown: ${errorDetail(e)}`);
      bug ??= { error: e };
    };
    await Promise.all(
      this.allLogs().map(async (log) => {
        try {
          await log.close();
        } catch (e) {
          fail(log.parentDir, `closing ${log.topic}-${log.partition}`, e);
        }
      }),
    );
    for (const dir of this.logDirs) {
      try {
        await this.checkpointDir(dir);
        if (this.offlineDirs.has(dir) || uncleanDirs.has(dir) || opts.cleanShutdownMarker === false) continue;
        try {
          await writeFileAtomic(path.join(dir, CLEAN_SHUTDOWN_FILE), '');
        } catch (e) {
          throw this.dirFailure(dir, `writing ${CLEAN_SHUTDOWN_FILE}`, e);
        }
      } catch (e) {
        fail(dir, `writing the checkpoints of ${dir}`, e);
      }
    }
    this.logs.clear();
    this.offlineLogs.clear();
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
    for (const log of this.allLogs()) log.closeWithoutFlush();
    this.logs.clear();
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
