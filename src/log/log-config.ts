/**
 * The per-log settings the storage engine needs, as a plain typed object.
 * The full broker/topic config table (src/config) maps topic configs into this shape.
 */

export interface LogConfig {
  /** `segment.bytes`: roll the active segment before it would exceed this size. */
  segmentBytes: number;
  /** `segment.ms`: roll the active segment once it is older than this (by record timestamps, as Kafka). */
  segmentMs: number;
  /** `index.interval.bytes`: bytes between two offset-index entries. */
  indexIntervalBytes: number;
  /** `segment.index.bytes`: maximum size of one index file; a full index rolls the segment. */
  segmentIndexBytes: number;
  /** `flush.messages`: fsync after this many unflushed messages; undefined = leave it to the OS. */
  flushMessages?: number;
  /** `flush.ms`: fsync once the last flush is this old (checked by the LogManager's flush scheduler); undefined = leave it to the OS. */
  flushMs?: number;
  /** `message.timestamp.type`: LogAppendTime stamps every appended batch with the broker's time. Default CreateTime. */
  messageTimestampType?: 'CreateTime' | 'LogAppendTime';
  /** `max.message.bytes`: largest record batch accepted by append. */
  maxMessageBytes: number;
  /**
   * `message.timestamp.before.max.ms` / `after.max.ms` / `difference.max.ms`: how far a CreateTime record
   * timestamp may be from the broker's time (checked by the produce path, record-validator.ts); undefined or
   * ≥ 2^53 = no bound. Before/after take precedence over difference, as in Kafka 3.6+.
   */
  messageTimestampBeforeMaxMs?: number;
  messageTimestampAfterMaxMs?: number;
  messageTimestampDifferenceMaxMs?: number;
  /** `retention.ms`: delete a segment once its largest timestamp is older than this; -1 = keep forever. */
  retentionMs: number;
  /** `retention.bytes`: delete the oldest segments while the log stays at least this big without them; -1 = no limit. */
  retentionBytes: number;
  /** `file.delete.delay.ms`: how long a deleted segment's `.deleted` files stay on disk before removal. */
  fileDeleteDelayMs: number;
  /** `cleanup.policy`: `delete` and/or `compact`; retention by time and size runs only with `delete`. */
  cleanupPolicy: readonly string[];
  /** `min.cleanable.dirty.ratio`: the log cleaner compacts a log once dirty bytes / cleanable bytes reach this. */
  minCleanableDirtyRatio: number;
  /** `min.compaction.lag.ms`: a segment whose largest timestamp is newer than this is not compacted yet. */
  minCompactionLagMs: number;
  /** `delete.retention.ms`: how long a tombstone (null value) stays in a compacted log. */
  deleteRetentionMs: number;
}

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1073741824,
  segmentMs: 604800000,
  indexIntervalBytes: 4096,
  segmentIndexBytes: 10485760,
  flushMessages: undefined,
  flushMs: undefined,
  messageTimestampType: 'CreateTime',
  maxMessageBytes: 1048588,
  retentionMs: 604800000,
  retentionBytes: -1,
  fileDeleteDelayMs: 60000,
  cleanupPolicy: Object.freeze(['delete']),
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  deleteRetentionMs: 86400000,
});

/** The defaults overridden by the given values (undefined values are ignored). */
export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const cfg: LogConfig = { ...DEFAULT_LOG_CONFIG };
  for (const [k, v] of Object.entries(overrides) as [keyof LogConfig, unknown][]) {
    if (v !== undefined) (cfg as unknown as Record<string, unknown>)[k] = v;
  }
  return cfg;
}
