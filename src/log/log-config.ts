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
  /** `max.message.bytes`: largest record batch accepted by append. */
  maxMessageBytes: number;
  /** `retention.ms`: delete a segment once its largest timestamp is older than this; -1 = keep forever. */
  retentionMs: number;
  /** `retention.bytes`: delete the oldest segments while the log stays at least this big without them; -1 = no limit. */
  retentionBytes: number;
  /** `file.delete.delay.ms`: how long a deleted segment's `.deleted` files stay on disk before removal. */
  fileDeleteDelayMs: number;
  /** `cleanup.policy`: `delete` and/or `compact`; retention by time and size runs only with `delete`. */
  cleanupPolicy: readonly string[];
}

export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1073741824,
  segmentMs: 604800000,
  indexIntervalBytes: 4096,
  segmentIndexBytes: 10485760,
  flushMessages: undefined,
  maxMessageBytes: 1048588,
  retentionMs: 604800000,
  retentionBytes: -1,
  fileDeleteDelayMs: 60000,
  cleanupPolicy: Object.freeze(['delete']),
});

/** The defaults overridden by the given values (undefined values are ignored). */
export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const cfg: LogConfig = { ...DEFAULT_LOG_CONFIG };
  for (const [k, v] of Object.entries(overrides) as [keyof LogConfig, unknown][]) {
    if (v !== undefined) (cfg as unknown as Record<string, unknown>)[k] = v;
  }
  return cfg;
}
