/**
 * The broker's metrics, named as the Prometheus JMX exporter names Kafka's MBeans (docs/metrics.md), in a
 * prom-client registry of the broker's own (several brokers may share one process).
 *
 * Cost on the hot path: a counter increment per request and per partition of a produce or fetch, never per
 * record (a record batch's header tells how many records it holds). Everything that is a state rather than an
 * event (partition counts, log sizes, purgatory sizes, consumer lag, connections) is a gauge computed when
 * /metrics is scraped, from the broker's own structures.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the scrape-time gauges read: the broker's state (src/metrics/broker-state.ts builds it from a Broker). */
export interface BrokerStateSource {
  /** Partitions hosted here (leader or follower). */
  partitions(): Iterable<HostedPartitionState>;
  /** Whether this broker is the active controller. */
  isActiveController(): boolean;
  /** Every partition of the cluster as the metadata cache knows it (for the controller's gauges). */
  clusterPartitions(): Iterable<{ topic: string; partition: number; leader: number; replicas: readonly number[] }>;
  liveBrokerIds(): ReadonlySet<number>;
  topicCount(): number;
  /** The topics of the cluster (the series of a deleted topic are dropped, as Kafka removes its metrics). */
  topicNames(): ReadonlySet<string>;
  purgatorySizes(): { produce: number; fetch: number; deleteRecords: number };
  /** Open connections by listener name. */
  connectionCounts(): Iterable<[listener: string, count: number]>;
  /**
   * Committed offsets of the groups this broker coordinates, with each partition's high watermark: read here when it
   * is led here, asked of its leader otherwise (null when that leader did not answer).
   */
  groupOffsets(): Promise<Iterable<{ group: string; topic: string; partition: number; committed: number; highWatermark: number | null }>>;
  /** The largest lag, in records, of a partition this broker follows (0 when it follows none). */
  replicaMaxLag(): number;
  /** Each partition this broker follows: its lag in records at the last fetch response, and its fetcher's name. */
  replicaPartitionLags(): Array<{ clientId: string; topic: string; partition: number; lag: number }>;
  /** ISR changes this broker made as a leader, and elections it made as controller (monotonic counts). */
  eventCounts(): { isrShrinks: number; isrExpands: number; leaderElections: number; uncleanLeaderElections: number };
}

export interface HostedPartitionState {
  topic: string;
  partition: number;
  isLeader: boolean;
  replicas: readonly number[];
  isr: readonly number[];
  minInsyncReplicas: number;
  offline: boolean;
  size: number;
  segments: number;
  logStartOffset: number;
  logEndOffset: number;
}

/** Buckets of the latency histograms (requests, log flushes, ZooKeeper requests), in ms, as Kafka's timers are. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

export class BrokerMetrics {
  readonly registry = new Registry();
  private source: BrokerStateSource | null = null;
  private readonly topicCounters: Counter<'topic'>[] = [];

  // ---- events, counted as they happen ----
  readonly messagesIn: Counter<'topic'>;
  readonly bytesIn: Counter<'topic'>;
  readonly bytesOut: Counter<'topic'>;
  readonly messagesOut: Counter<'topic'>;
  readonly replicationBytesOut: Counter<string>;
  readonly totalProduceRequests: Counter<'topic'>;
  readonly failedProduceRequests: Counter<'topic'>;
  readonly totalFetchRequests: Counter<'topic'>;
  readonly failedFetchRequests: Counter<'topic'>;
  readonly requests: Counter<'request' | 'version'>;
  readonly requestTime: Histogram<'request'>;
  readonly logFlushTime: Histogram<string>;

  constructor() {
    const registers = [this.registry];
    const topicCounter = (name: string, help: string): Counter<'topic'> => {
      const c = new Counter({ name, help, labelNames: ['topic'] as const, registers });
      this.topicCounters.push(c);
      return c;
    };
    this.messagesIn = topicCounter('kafka_server_brokertopicmetrics_messagesin_total', 'Records appended (MessagesInPerSec); without the topic label: all topics.');
    this.bytesIn = topicCounter('kafka_server_brokertopicmetrics_bytesin_total', 'Record batch bytes appended from producers (BytesInPerSec).');
    this.bytesOut = topicCounter('kafka_server_brokertopicmetrics_bytesout_total', 'Record batch bytes sent to consumers (BytesOutPerSec).');
    this.messagesOut = topicCounter(
      'kafka_server_brokertopicmetrics_messagesout_total',
      'kfk extension: records in the batches sent to consumers (Kafka has no MessagesOutPerSec).',
    );
    this.replicationBytesOut = new Counter({
      name: 'kafka_server_brokertopicmetrics_replicationbytesout_total',
      help: 'Record batch bytes sent to follower replicas (ReplicationBytesOutPerSec).',
      registers,
    });
    this.totalProduceRequests = topicCounter('kafka_server_brokertopicmetrics_totalproducerequests_total', 'Produce requests, counted per topic they write to (TotalProduceRequestsPerSec).');
    this.failedProduceRequests = topicCounter('kafka_server_brokertopicmetrics_failedproducerequests_total', 'Partitions of produce requests that failed (FailedProduceRequestsPerSec).');
    this.totalFetchRequests = topicCounter('kafka_server_brokertopicmetrics_totalfetchrequests_total', 'Fetch requests from consumers, counted per topic they read (TotalFetchRequestsPerSec).');
    this.failedFetchRequests = topicCounter('kafka_server_brokertopicmetrics_failedfetchrequests_total', 'Partitions of consumer fetches that failed (FailedFetchRequestsPerSec).');
    this.requests = new Counter({
      name: 'kafka_network_requestmetrics_requests_total',
      help: 'Requests handled, by API and version (RequestMetrics RequestsPerSec).',
      labelNames: ['request', 'version'] as const,
      registers,
    });
    this.requestTime = new Histogram({
      name: 'kafka_network_requestmetrics_totaltimems',
      help: 'Time from a decoded request to its response, in ms, by API (RequestMetrics TotalTimeMs).',
      labelNames: ['request'] as const,
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
    this.logFlushTime = new Histogram({
      name: 'kafka_log_logflushstats_logflushrateandtimems',
      help: "Time of each flush (fsync) of a partition log's segments up to its log end offset, in ms (LogFlushStats LogFlushRateAndTimeMs).",
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });

    // ---- states and counts read on scrape ----
    const gauge = (name: string, help: string, read: (src: BrokerStateSource) => number): void => {
      const metrics = this;
      new Gauge({
        name,
        help,
        registers,
        collect() {
          if (metrics.source) this.set(read(metrics.source));
        },
      });
    };
    const hosted = (src: BrokerStateSource) => [...src.partitions()];
    const leaders = (src: BrokerStateSource) => hosted(src).filter((p) => p.isLeader && !p.offline);
    gauge('kafka_server_replicamanager_partitioncount', 'Partitions hosted on this broker (PartitionCount).', (s) => hosted(s).length);
    gauge('kafka_server_replicamanager_leadercount', 'Partitions led by this broker (LeaderCount).', (s) => leaders(s).length);
    gauge(
      'kafka_server_replicamanager_underreplicatedpartitions',
      'Partitions led here whose ISR is smaller than their replica set (UnderReplicatedPartitions).',
      (s) => leaders(s).filter((p) => p.isr.length < p.replicas.length).length,
    );
    gauge(
      'kafka_server_replicamanager_underminisrpartitioncount',
      'Partitions led here whose ISR is smaller than min.insync.replicas (UnderMinIsrPartitionCount).',
      (s) => leaders(s).filter((p) => p.isr.length < p.minInsyncReplicas).length,
    );
    gauge(
      'kafka_server_replicamanager_atminisrpartitioncount',
      'Partitions led here whose ISR is exactly min.insync.replicas (AtMinIsrPartitionCount).',
      (s) => leaders(s).filter((p) => p.isr.length === p.minInsyncReplicas).length,
    );
    gauge('kafka_server_replicamanager_offlinereplicacount', 'Replicas hosted here whose log dir failed (OfflineReplicaCount).', (s) => hosted(s).filter((p) => p.offline).length);
    gauge('kafka_controller_kafkacontroller_activecontrollercount', '1 on the active controller, 0 elsewhere (ActiveControllerCount).', (s) => (s.isActiveController() ? 1 : 0));
    gauge(
      'kafka_controller_kafkacontroller_offlinepartitionscount',
      'Partitions without a live leader; reported by the active controller only, 0 elsewhere (OfflinePartitionsCount).',
      (s) => {
        if (!s.isActiveController()) return 0;
        const live = s.liveBrokerIds();
        let n = 0;
        for (const p of s.clusterPartitions()) if (p.leader < 0 || !live.has(p.leader)) n++;
        return n;
      },
    );
    gauge('kafka_controller_kafkacontroller_globalpartitioncount', 'Partitions in the cluster; active controller only (GlobalPartitionCount).', (s) =>
      s.isActiveController() ? [...s.clusterPartitions()].length : 0,
    );
    gauge('kafka_controller_kafkacontroller_globaltopiccount', 'Topics in the cluster; active controller only (GlobalTopicCount).', (s) => (s.isActiveController() ? s.topicCount() : 0));

    const metrics = this;
    new Gauge({
      name: 'kafka_server_replicafetchermanager_maxlag',
      help: "The largest lag, in records, of a partition this broker follows: the leader's high watermark in the last fetch response minus this replica's log end offset (ReplicaFetcherManager MaxLag).",
      labelNames: ['clientId'] as const,
      registers,
      collect() {
        if (metrics.source) this.set({ clientId: 'Replica' }, metrics.source.replicaMaxLag());
      },
    });
    new Gauge({
      name: 'kafka_server_fetcherlagmetrics_consumerlag',
      help: "Per partition this broker follows: the leader's high watermark in the last fetch response minus this replica's log end offset, in records (FetcherLagMetrics ConsumerLag).",
      labelNames: ['clientId', 'topic', 'partition'] as const,
      registers,
      collect() {
        // a partition no longer followed here loses its series, as Kafka removes its fetcher lag metrics
        this.reset();
        if (!metrics.source) return;
        for (const l of metrics.source.replicaPartitionLags()) this.set({ clientId: l.clientId, topic: l.topic, partition: String(l.partition) }, l.lag);
      },
    });
    new Gauge({
      name: 'kafka_server_delayedoperationpurgatory_purgatorysize',
      help: 'Requests waiting in a purgatory: Produce (acks=all), Fetch (long polls), DeleteRecords (PurgatorySize).',
      labelNames: ['delayedOperation'] as const,
      registers,
      collect() {
        if (!metrics.source) return;
        const s = metrics.source.purgatorySizes();
        this.set({ delayedOperation: 'Produce' }, s.produce);
        this.set({ delayedOperation: 'Fetch' }, s.fetch);
        this.set({ delayedOperation: 'DeleteRecords' }, s.deleteRecords);
      },
    });
    // Counts kept by the replica manager and the controller: exposed as counters, set to their value on scrape.
    const eventCounter = (name: string, help: string, read: (c: ReturnType<BrokerStateSource['eventCounts']>) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          if (!metrics.source) return;
          this.reset();
          this.inc(read(metrics.source.eventCounts()));
        },
      });
    };
    eventCounter('kafka_server_replicamanager_isrshrinks_total', 'ISR shrinks this broker made as a leader (IsrShrinksPerSec).', (c) => c.isrShrinks);
    eventCounter('kafka_server_replicamanager_isrexpands_total', 'ISR expansions this broker made as a leader (IsrExpandsPerSec).', (c) => c.isrExpands);
    eventCounter(
      'kafka_controller_controllerstats_leaderelectionrateandtimems_count',
      'Leader elections this broker made as controller (LeaderElectionRateAndTimeMs Count).',
      (c) => c.leaderElections,
    );
    eventCounter('kafka_controller_controllerstats_uncleanleaderelections_total', 'Unclean leader elections this broker made as controller (UncleanLeaderElectionsPerSec).', (c) => c.uncleanLeaderElections);

    const perPartition = (name: string, help: string, read: (p: HostedPartitionState) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'] as const,
        registers,
        collect() {
          this.reset();
          if (!metrics.source) return;
          for (const p of metrics.source.partitions()) if (!p.offline) this.set({ topic: p.topic, partition: String(p.partition) }, read(p));
        },
      });
    };
    perPartition('kafka_log_log_size', 'Bytes of the partition\'s log on disk (Log Size).', (p) => p.size);
    perPartition('kafka_log_log_numlogsegments', 'Segments of the partition\'s log (Log NumLogSegments).', (p) => p.segments);
    perPartition('kafka_log_log_logstartoffset', 'The log start offset (Log LogStartOffset).', (p) => p.logStartOffset);
    perPartition('kafka_log_log_logendoffset', 'The log end offset (Log LogEndOffset).', (p) => p.logEndOffset);
    new Gauge({
      name: 'kafka_cluster_partition_underreplicated',
      help: '1 for a partition led here whose ISR is smaller than its replica set (Partition UnderReplicated).',
      labelNames: ['topic', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        if (!metrics.source) return;
        for (const p of metrics.source.partitions()) {
          if (p.isLeader && !p.offline) this.set({ topic: p.topic, partition: String(p.partition) }, p.isr.length < p.replicas.length ? 1 : 0);
        }
      },
    });

    const groupGauge = (name: string, help: string, read: (o: { committed: number; highWatermark: number }) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['consumergroup', 'topic', 'partition'] as const,
        registers,
        async collect() {
          this.reset();
          if (!metrics.source) return;
          for (const o of await metrics.source.groupOffsets()) {
            if (o.highWatermark === null) continue;
            this.set({ consumergroup: o.group, topic: o.topic, partition: String(o.partition) }, read({ committed: o.committed, highWatermark: o.highWatermark }));
          }
        },
      });
    };
    groupGauge(
      'kafka_consumergroup_lag',
      'High watermark minus the committed offset, per group and partition (the LAG column of consumer-groups --describe; kafka_exporter\'s name).',
      (o) => Math.max(0, o.highWatermark - o.committed),
    );
    groupGauge('kafka_consumergroup_current_offset', 'The group\'s committed offset (kafka_exporter\'s name).', (o) => o.committed);

    new Gauge({
      name: 'kafka_server_socket_server_metrics_connection_count',
      help: 'Open client connections, by listener (socket-server-metrics connection-count).',
      labelNames: ['listener'] as const,
      registers,
      collect() {
        this.reset();
        if (!metrics.source) return;
        for (const [listener, count] of metrics.source.connectionCounts()) this.set({ listener }, count);
      },
    });
  }

  /** Attaches the broker whose state the gauges read (once it has started its components). */
  attach(source: BrokerStateSource): void {
    this.source = source;
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    await this.dropDeletedTopics();
    return this.registry.metrics();
  }

  /** Removes the per-topic series of topics that no longer exist (Kafka's BrokerTopicStats.removeMetrics). */
  private async dropDeletedTopics(): Promise<void> {
    if (!this.source) return;
    const known = this.source.topicNames();
    for (const c of this.topicCounters) {
      for (const v of (await c.get()).values) {
        const topic = v.labels.topic;
        if (topic !== undefined && !known.has(String(topic))) c.remove({ topic: String(topic) });
      }
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
