/**
 * Applies dynamic broker configs (kafka-configs.sh --entity-type brokers [--entity-name <id> | --entity-default]):
 * reads /config/brokers/<default> and /config/brokers/<id> at start and whenever /config/changes gets a
 * notification naming either, and hands the merged properties (static config, then the dynamic default, then this
 * broker's own, as Kafka's DynamicBrokerConfig orders them) to `apply`.
 */
import type { Registry, Watcher } from '../registry/registry.js';
import { configChangesPath } from '../registry/paths.js';
import type { Logger } from '../server/logger.js';
import { readDynamicBrokerConfigs, type DynamicBrokerConfigs } from './handlers/config-resources.js';

export class DynamicConfigWatcher {
  private seen = new Set<string>();
  private stopped = false;
  private running: Promise<void> | null = null;
  private again = false;
  /** What was applied last: none at start (the static config's log defaults are in force). */
  private last = JSON.stringify({ defaults: {}, broker: {} });

  constructor(
    private readonly registry: Registry,
    private readonly brokerId: number,
    private readonly logger: Logger,
    private readonly apply: (dynamic: DynamicBrokerConfigs) => Promise<void>,
  ) {}

  private readonly watcher: Watcher = () => {
    if (!this.stopped) void this.schedule(false);
  };

  async start(): Promise<void> {
    await this.registry.mkdirp('/config/brokers');
    await this.schedule(true);
  }

  /** Reads again (a new registry session may have missed notifications). */
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
    this.running = this.refresh(force).finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.schedule(false);
      }
    });
    return this.running;
  }

  private async refresh(force: boolean): Promise<void> {
    try {
      const changes = (await this.registry.children(configChangesPath, this.watcher)) ?? [];
      let relevant = force;
      for (const c of changes) {
        if (force || this.seen.has(c)) continue;
        const node = await this.registry.get(`${configChangesPath}/${c}`);
        try {
          const path = String((JSON.parse(node?.data?.toString('utf8') ?? '{}') as { entity_path?: unknown }).entity_path ?? '');
          if (path === 'brokers/<default>' || path === `brokers/${this.brokerId}`) relevant = true;
        } catch {
          // not a notification this watcher understands
        }
      }
      this.seen = new Set(changes);
      if (!relevant) return;
      const dynamic = await readDynamicBrokerConfigs(this.registry, this.brokerId);
      const key = JSON.stringify(dynamic);
      if (key === this.last) return;
      this.last = key;
      await this.apply(dynamic);
    } catch (err) {
      if (this.stopped) return;
      this.logger.warn(`reading dynamic broker configs failed, retrying: ${(err as Error).message}`);
      setTimeout(() => void this.schedule(true), 1000).unref();
    }
  }
}
