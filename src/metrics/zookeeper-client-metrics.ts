/**
 * The ZooKeeper client's metrics, as Kafka publishes them for its ZooKeeperClient: request latency
 * (kafka.server:type=ZooKeeperClientMetrics,name=ZooKeeperRequestLatencyMs) and the session's connection events
 * (kafka.server:type=SessionExpireListener, ZooKeeperSyncConnectsPerSec, ZooKeeperDisconnectsPerSec,
 * ZooKeeperExpiresPerSec). Created when the registry is opened, before the broker and its metrics registry exist:
 * the metrics are registered there by registerIn().
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ZooKeeperClientObserver } from '../registry/zookeeper.js';
import { LATENCY_BUCKETS_MS } from './broker-metrics.js';

export class ZooKeeperClientMetrics implements ZooKeeperClientObserver {
  private readonly latency = new Histogram({
    name: 'kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms',
    help: 'Time from sending a request to ZooKeeper to its answer, in ms (ZooKeeperClientMetrics ZooKeeperRequestLatencyMs).',
    buckets: LATENCY_BUCKETS_MS,
    registers: [],
  });
  private readonly syncConnects = new Counter({
    name: 'kafka_server_sessionexpirelistener_zookeepersyncconnects_total',
    help: 'Connections of the ZooKeeper client: a new session, or the same session again after a disconnection (ZooKeeperSyncConnectsPerSec).',
    registers: [],
  });
  private readonly disconnects = new Counter({
    name: 'kafka_server_sessionexpirelistener_zookeeperdisconnects_total',
    help: 'Disconnections of the ZooKeeper client from the ensemble (ZooKeeperDisconnectsPerSec).',
    registers: [],
  });
  private readonly expires = new Counter({
    name: 'kafka_server_sessionexpirelistener_zookeeperexpires_total',
    help: 'ZooKeeper sessions expired (ZooKeeperExpiresPerSec); the broker then opens a new one and registers again.',
    registers: [],
  });

  requestLatency(ms: number): void {
    this.latency.observe(ms);
  }

  sessionEvent(state: 'connected' | 'disconnected' | 'expired'): void {
    if (state === 'connected') this.syncConnects.inc();
    else if (state === 'disconnected') this.disconnects.inc();
    else this.expires.inc();
  }

  registerIn(registry: Registry): void {
    for (const m of [this.latency, this.syncConnects, this.disconnects, this.expires]) registry.registerMetric(m);
  }
}
