/**
 * Follows /config/changes, where every config write leaves a sequential notification naming the entity it changed
 * ({"version":2,"entity_path":"brokers/<default>"}, as Kafka's ZooKeeper mode does), for one reader of those configs:
 * each new notification whose entity the reader cares about makes it read its configs again.
 *
 * Reads never overlap: a notification arriving during a read asks for one more read after it (however many arrive),
 * and a forced read (start, a new registry session that may have missed notifications) re-reads whatever the
 * notifications say. A failed read is retried a second later.
 */
import type { Registry, Watcher } from './registry.js';
import { configChangesPath } from './paths.js';
import type { Logger } from '../server/logger.js';

export interface ConfigChangeReader {
  /** What is read, for the log line of a failed read ("dynamic broker configs"). */
  readonly what: string;
  /** Whether a notification naming `entityPath` ("brokers/1", "users/alice") concerns this reader. */
  concerns(entityPath: string): boolean;
  /** Reads the configs again and applies them. */
  reread(): Promise<void>;
}

export class ConfigChangeFollower {
  /** Notifications already looked at. */
  private seen = new Set<string>();
  private stopped = false;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
    private readonly reader: ConfigChangeReader,
  ) {}

  private readonly watcher: Watcher = () => {
    if (!this.stopped) void this.schedule(false);
  };

  /** Reads once whatever the notifications say, and watches for more. */
  start(): Promise<void> {
    return this.schedule(true);
  }

  /** Reads again whatever the notifications say (a new registry session may have missed some). */
  reload(): Promise<void> {
    return this.schedule(true);
  }

  close(): void {
    this.stopped = true;
  }

  private schedule(force: boolean): Promise<void> {
    if (this.running) {
      this.again = true;
      if (force) this.seen.clear();
      return this.running;
    }
    this.running = this.follow(force).finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.schedule(false);
      }
    });
    return this.running;
  }

  private async follow(force: boolean): Promise<void> {
    try {
      const changes = (await this.registry.children(configChangesPath, this.watcher)) ?? [];
      let relevant = force;
      for (const change of changes) {
        if (relevant || this.seen.has(change)) continue;
        const node = await this.registry.get(`${configChangesPath}/${change}`);
        if (node && this.reader.concerns(entityPathOf(node.data))) relevant = true;
      }
      this.seen = new Set(changes);
      if (relevant) await this.reader.reread();
    } catch (err) {
      if (this.stopped) return;
      this.logger.warn(`reading ${this.reader.what} failed, retrying: ${(err as Error).message}`);
      setTimeout(() => void this.schedule(true), 1000).unref();
    }
  }
}

/** The entity a notification names ('' for one that cannot be read). */
function entityPathOf(data: Buffer | null | undefined): string {
  try {
    return String((JSON.parse(data?.toString('utf8') ?? '{}') as { entity_path?: unknown }).entity_path ?? '');
  } catch {
    return '';
  }
}
