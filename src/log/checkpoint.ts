/**
 * Kafka's text checkpoint files (CheckpointFile): line 1 the version, line 2 the entry count, then one entry
 * per line, every line ending in '\n'. Written to `<file>.tmp`, fsynced, then renamed over the file.
 *
 * - OffsetCheckpointFile (version 0, `topic partition offset`): recovery-point-offset-checkpoint,
 *   log-start-offset-checkpoint, replication-offset-checkpoint, cleaner-offset-checkpoint.
 * - LeaderEpochCheckpointFile (version 0, `leaderEpoch startOffset`): leader-epoch-checkpoint.
 */
import fs from 'node:fs';
import { writeFileAtomic } from './file-io.js';
import { sharedFdCache, type FileDescriptorCache } from './fd-cache.js';

export const RECOVERY_POINT_CHECKPOINT_FILE = 'recovery-point-offset-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT_FILE = 'log-start-offset-checkpoint';
export const REPLICATION_OFFSET_CHECKPOINT_FILE = 'replication-offset-checkpoint';
export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';

export class CheckpointFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointFormatError';
  }
}

export function formatCheckpoint(version: number, lines: readonly string[]): string {
  let out = `${version}\n${lines.length}\n`;
  for (const line of lines) out += `${line}\n`;
  return out;
}

/** Splits a checkpoint file's text into its version and entry lines, checking the count. */
export function parseCheckpoint(text: string, file = 'checkpoint'): { version: number; lines: string[] } {
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  if (all.length < 2) throw new CheckpointFormatError(`${file}: missing version or count line`);
  const version = parseIntStrict(all[0]!, `${file}: version`);
  const count = parseIntStrict(all[1]!, `${file}: count`);
  const lines = all.slice(2);
  if (lines.length !== count) {
    throw new CheckpointFormatError(`${file}: expected ${count} entries but found ${lines.length}`);
  }
  return { version, lines };
}

function parseIntStrict(s: string, what: string): number {
  const t = s.trim();
  if (!/^-?\d+$/.test(t)) throw new CheckpointFormatError(`${what} is not an integer: ${JSON.stringify(s)}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new CheckpointFormatError(`${what} out of range: ${s}`);
  return n;
}

/**
 * Reads and parses a checkpoint file; null when it does not exist. A synchronous read: these files are a few
 * lines (leader-epoch-checkpoint, one per partition), and at a start with 50,000 partitions the promise
 * machinery of an asynchronous read costs more of the event loop than the read itself.
 */
export async function readCheckpointFile(file: string, cache: FileDescriptorCache = sharedFdCache()): Promise<{ version: number; lines: string[] } | null> {
  let text: string;
  try {
    text = cache.withPermitSync(() => fs.readFileSync(file, 'utf8'), `reading ${file}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseCheckpoint(text, file);
}

/** Serializes writes to one file so two writers never share its .tmp. */
class SerializedWriter {
  private last: Promise<void> = Promise.resolve();
  constructor(
    readonly file: string,
    private readonly cache: FileDescriptorCache,
  ) {}
  write(text: string): Promise<void> {
    // Only orders the writes: the previous write's failure was delivered to its own caller (and handled there).
    const next = this.last.catch(() => undefined).then(() => writeFileAtomic(this.file, text, this.cache));
    this.last = next;
    return next;
  }

  /** Resolves (or rejects) with the last write. */
  whenIdle(): Promise<void> {
    return this.last;
  }
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

export function formatOffsetCheckpoint(entries: Iterable<TopicPartitionOffset>): string {
  const lines: string[] = [];
  for (const e of entries) lines.push(`${e.topic} ${e.partition} ${e.offset}`);
  return formatCheckpoint(OffsetCheckpointFile.VERSION, lines);
}

export function parseOffsetCheckpoint(text: string, file = 'checkpoint'): TopicPartitionOffset[] {
  const { version, lines } = parseCheckpoint(text, file);
  if (version !== OffsetCheckpointFile.VERSION) {
    throw new CheckpointFormatError(`${file}: unrecognized version ${version}`);
  }
  return lines.map((line) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 3 || parts[0] === '') throw new CheckpointFormatError(`${file}: malformed line ${JSON.stringify(line)}`);
    return {
      topic: parts[0]!,
      partition: parseIntStrict(parts[1]!, `${file}: partition`),
      offset: parseIntStrict(parts[2]!, `${file}: offset`),
    };
  });
}

/** A `topic partition offset` checkpoint (version 0). */
export class OffsetCheckpointFile {
  static readonly VERSION = 0;
  private readonly writer: SerializedWriter;
  /** The content last written (or being written): the same content is not written (and fsynced) again. */
  private lastText: string | null = null;

  constructor(
    readonly file: string,
    private readonly cache: FileDescriptorCache = sharedFdCache(),
  ) {
    this.writer = new SerializedWriter(file, cache);
  }

  /**
   * Writes the entries, unless they are what the last write wrote: an idle broker's periodic checkpoints (the high
   * watermarks every 5 s) then cost no write and no fsync, whatever the number of partitions.
   */
  write(entries: Iterable<TopicPartitionOffset>): Promise<void> {
    const text = formatOffsetCheckpoint(entries);
    if (text === this.lastText) return this.writer.whenIdle();
    this.lastText = text;
    return this.writer.write(text).catch((e: unknown) => {
      if (this.lastText === text) this.lastText = null; // not known to be on disk: the next write goes through
      throw e;
    });
  }

  /** The entries; an empty list when the file does not exist. Throws CheckpointFormatError when malformed. */
  async read(): Promise<TopicPartitionOffset[]> {
    let text: string;
    try {
      text = await this.cache.withPermit(() => fs.promises.readFile(this.file, 'utf8'), `reading ${this.file}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return parseOffsetCheckpoint(text, this.file);
  }

  /** The entries keyed by `<topic>-<partition>`. */
  async readMap(): Promise<Map<string, number>> {
    const map = new Map<string, number>();
    for (const e of await this.read()) map.set(`${e.topic}-${e.partition}`, e.offset);
    return map;
  }
}

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

/** `leader-epoch-checkpoint` (version 0, `leaderEpoch startOffset`), one per partition directory. */
export class LeaderEpochCheckpointFile {
  static readonly VERSION = 0;
  private readonly writer: SerializedWriter;

  constructor(
    readonly file: string,
    private readonly cache: FileDescriptorCache = sharedFdCache(),
  ) {
    this.writer = new SerializedWriter(file, cache);
  }

  write(entries: Iterable<EpochEntry>): Promise<void> {
    const lines: string[] = [];
    for (const e of entries) lines.push(`${e.epoch} ${e.startOffset}`);
    return this.writer.write(formatCheckpoint(LeaderEpochCheckpointFile.VERSION, lines));
  }

  async read(): Promise<EpochEntry[]> {
    const parsed = await readCheckpointFile(this.file, this.cache);
    if (parsed === null) return [];
    if (parsed.version !== LeaderEpochCheckpointFile.VERSION) {
      throw new CheckpointFormatError(`${this.file}: unrecognized version ${parsed.version}`);
    }
    return parsed.lines.map((line) => {
      const parts = line.trim().split(/\s+/);
      if (parts.length !== 2) throw new CheckpointFormatError(`${this.file}: malformed line ${JSON.stringify(line)}`);
      return {
        epoch: parseIntStrict(parts[0]!, `${this.file}: epoch`),
        startOffset: parseIntStrict(parts[1]!, `${this.file}: start offset`),
      };
    });
  }
}
