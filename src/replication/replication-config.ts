import type { ClientSecurity } from '../security/client-security.js';

/** The broker settings replication runs on, with Kafka's defaults (replica.*, num.replica.fetchers, min.insync.replicas). */

export interface ReplicationConfig {
  /** replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR (checked every half of it). */
  replicaLagTimeMaxMs: number;
  /** replica.fetch.max.bytes: per-partition bytes of a follower fetch. */
  replicaFetchMaxBytes: number;
  /** replica.fetch.response.max.bytes: bytes of a whole follower fetch response. */
  replicaFetchResponseMaxBytes: number;
  /** replica.fetch.min.bytes */
  replicaFetchMinBytes: number;
  /** replica.fetch.wait.max.ms */
  replicaFetchWaitMaxMs: number;
  /** replica.fetch.backoff.ms: pause of a partition (or a whole fetcher) after an error. */
  replicaFetchBackoffMs: number;
  /** replica.socket.timeout.ms: connect and request timeout of follower connections (on top of the fetch wait). */
  replicaSocketTimeoutMs: number;
  /** num.replica.fetchers: fetchers per source broker, partitions spread by hash. */
  numReplicaFetchers: number;
  /** min.insync.replicas: the broker default (a topic override wins). */
  minInsyncReplicas: number;
  /** TLS and SASL of connections to other brokers (the inter-broker listener's); absent: PLAINTEXT. */
  interBrokerSecurity?: ClientSecurity;
}

export const DEFAULT_REPLICATION_CONFIG: ReplicationConfig = {
  replicaLagTimeMaxMs: 30000,
  replicaFetchMaxBytes: 1048576,
  replicaFetchResponseMaxBytes: 10485760,
  replicaFetchMinBytes: 1,
  replicaFetchWaitMaxMs: 500,
  replicaFetchBackoffMs: 1000,
  replicaSocketTimeoutMs: 30000,
  numReplicaFetchers: 1,
  minInsyncReplicas: 1,
};

export function replicationConfigFromBroker(c: {
  replicaLagTimeMaxMs: number;
  replicaFetchMaxBytes: number;
  replicaFetchResponseMaxBytes: number;
  replicaFetchMinBytes: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchBackoffMs: number;
  replicaSocketTimeoutMs: number;
  numReplicaFetchers: number;
  minInsyncReplicas: number;
}): ReplicationConfig {
  return {
    replicaLagTimeMaxMs: c.replicaLagTimeMaxMs,
    replicaFetchMaxBytes: c.replicaFetchMaxBytes,
    replicaFetchResponseMaxBytes: c.replicaFetchResponseMaxBytes,
    replicaFetchMinBytes: c.replicaFetchMinBytes,
    replicaFetchWaitMaxMs: c.replicaFetchWaitMaxMs,
    replicaFetchBackoffMs: c.replicaFetchBackoffMs,
    replicaSocketTimeoutMs: c.replicaSocketTimeoutMs,
    numReplicaFetchers: Math.max(1, c.numReplicaFetchers),
    minInsyncReplicas: Math.max(1, c.minInsyncReplicas),
  };
}

/** A topic's min.insync.replicas: its override when valid, else the broker default. */
export function minInsyncReplicasFor(topicConfig: Record<string, string>, brokerDefault: number): number {
  const v = topicConfig['min.insync.replicas'];
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 1 ? n : brokerDefault;
}
