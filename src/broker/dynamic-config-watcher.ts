/**
 * Applies dynamic broker configs (kafka-configs.sh --entity-type brokers [--entity-name <id> | --entity-default]):
 * reads /config/brokers/<default> and /config/brokers/<id> at start and whenever /config/changes gets a
 * notification naming either, and hands the merged properties (static config, then the dynamic default, then this
 * broker's own, as Kafka's DynamicBrokerConfig orders them) to `apply`.
 */
import type { Registry } from '../registry/registry.js';
import { ConfigChangeFollower } from '../registry/config-change-follower.js';
import type { Logger } from '../server/logger.js';
import { readDynamicBrokerConfigs, type DynamicBrokerConfigs } from './handlers/config-resources.js';

export class DynamicConfigWatcher {
  /** What was applied last: none at start (the static config's log defaults are in force). */
  private last = JSON.stringify({ defaults: {}, broker: {} });
  private readonly changes: ConfigChangeFollower;

  constructor(
    private readonly registry: Registry,
    private readonly brokerId: number,
    logger: Logger,
    private readonly apply: (dynamic: DynamicBrokerConfigs) => Promise<void>,
  ) {
    this.changes = new ConfigChangeFollower(registry, logger, {
      what: 'dynamic broker configs',
      concerns: (entityPath) => entityPath === 'brokers/<default>' || entityPath === `brokers/${brokerId}`,
      reread: () => this.reread(),
    });
  }

  async start(): Promise<void> {
    await this.registry.mkdirp('/config/brokers');
    await this.changes.start();
  }

  /** Reads again (a new registry session may have missed notifications). */
  reload(): Promise<void> {
    return this.changes.reload();
  }

  close(): void {
    this.changes.close();
  }

  private async reread(): Promise<void> {
    const dynamic = await readDynamicBrokerConfigs(this.registry, this.brokerId);
    const key = JSON.stringify(dynamic);
    if (key === this.last) return;
    this.last = key;
    await this.apply(dynamic);
  }
}
